-- Signed checkpoints of the audit chain (docs/deploy.md, section 9, "Signed checkpoints"): the
-- chain's head at an event, with the number of events up to it, signed by the Data Holder's key.
-- A routine verification checks the newest checkpoint's signature and walks only the events
-- after it; `dcr-server audit verify --full` still walks the whole chain and matches every
-- trusted checkpoint on the way. Times are Unix seconds.
CREATE TABLE audit_checkpoint (
    checkpoint_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The last event the checkpoint covers, its hash, and how many events there are up to it.
    audit_event_id  BIGINT NOT NULL,
    head_hash       TEXT NOT NULL,
    event_count     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- A compact JWS over {"purpose": "audit-checkpoint", "audit_event_id", "head_hash",
    -- "event_count", "created_at"}.
    signature       TEXT NOT NULL
);

CREATE INDEX audit_checkpoint_event ON audit_checkpoint (audit_event_id);
