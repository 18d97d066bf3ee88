-- The whole initial schema of the Data Holder's DCR store (SQLite flavour).
-- Times are Unix seconds (INTEGER) so that both backends share one representation.

-- One row per software product registration (RFC 7591 client). A row is never deleted:
-- deletion by the recipient, revocation by an administrator and removal at the Register
-- change `status`, so that the audit trail keeps its subject.
CREATE TABLE registration (
    client_id            TEXT PRIMARY KEY NOT NULL,
    software_id          TEXT NOT NULL,
    -- lower-cased software_id: Register GUIDs compare case-insensitively (spec §13 A12)
    software_key         TEXT NOT NULL,
    org_id               TEXT NOT NULL,
    org_name             TEXT NOT NULL,
    client_name          TEXT NOT NULL,
    legal_entity_id      TEXT,
    legal_entity_name    TEXT,
    jwks_uri             TEXT NOT NULL,
    scope                TEXT NOT NULL,
    -- active | revoked | deleted | removed
    status               TEXT NOT NULL,
    status_reason        TEXT,
    -- the Register's view: software product and recipient status (ACTIVE, INACTIVE, REMOVED, ...)
    register_sp_status   TEXT,
    register_dr_status   TEXT,
    register_synced_at   INTEGER,
    ssa                  TEXT NOT NULL,
    metadata             TEXT NOT NULL,
    client_id_issued_at  INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CONSTRAINT registration_status_check CHECK (status IN ('active', 'revoked', 'deleted', 'removed'))
);
-- "Data Holders MUST NOT allow multiple active registrations for the same software_id":
-- the store guarantees it. A revoked registration keeps its software_id until released.
CREATE UNIQUE INDEX registration_software_key_key ON registration (software_key)
    WHERE status IN ('active', 'revoked');
CREATE INDEX registration_updated_at_idx ON registration (updated_at);
CREATE INDEX registration_created_at_idx ON registration (created_at);
CREATE INDEX registration_client_name_idx ON registration (client_name);
CREATE INDEX registration_status_idx ON registration (status, created_at);
CREATE INDEX registration_org_id_idx ON registration (org_id);
CREATE INDEX registration_legal_entity_id_idx ON registration (legal_entity_id);
CREATE INDEX registration_software_key_idx ON registration (software_key);

CREATE TABLE admin_user (
    admin_user_id  TEXT PRIMARY KEY NOT NULL,
    username       TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CONSTRAINT admin_user_username_key UNIQUE (username)
);

-- tower-sessions records for the portal (data is JSON).
CREATE TABLE session (
    session_id  TEXT PRIMARY KEY NOT NULL,
    data        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX session_expires_at_idx ON session (expires_at);

CREATE TABLE audit_event (
    audit_event_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at     INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    client_id       TEXT,
    software_id     TEXT,
    reason          TEXT,
    before_state    TEXT,
    after_state     TEXT
);
CREATE INDEX audit_event_client_id_idx ON audit_event (client_id, audit_event_id);
CREATE INDEX audit_event_actor_idx ON audit_event (actor, audit_event_id);
CREATE INDEX audit_event_action_idx ON audit_event (action, audit_event_id);

-- Used JWT ids (registration requests, client assertions) until they expire, so that
-- replay is refused across every server instance sharing the store.
CREATE TABLE used_jti (
    jti_key     TEXT PRIMARY KEY NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX used_jti_expires_at_idx ON used_jti (expires_at);

-- The Data Holder's own signing keys (PKCS#8 PEM), shared by all instances.
CREATE TABLE signing_key (
    kid          TEXT PRIMARY KEY NOT NULL,
    alg          TEXT NOT NULL,
    private_pem  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER
);
