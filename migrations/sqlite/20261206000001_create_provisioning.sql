-- Provisioning into the downstream authorization server (docs/provisioning.md). Times are Unix
-- seconds.

-- What the downstream knows of a registration: the client_id it knows the client by, where and
-- with which registration access token (RFC 7592) the client is managed there, and whether the
-- last change reached it: 'provisioned', 'pending' (a change waits in the outbox; `last_error`
-- says why an attempt failed) or 'failed' (the downstream refused the change). A registration
-- made while provisioning was off has no row. The registration access token is a credential
-- for that one client at the downstream: it is never logged or shown.
CREATE TABLE provisioning (
    client_id                  TEXT PRIMARY KEY NOT NULL,
    downstream_client_id       TEXT,
    registration_client_uri    TEXT,
    registration_access_token  TEXT,
    state                      TEXT NOT NULL
        CONSTRAINT provisioning_state_check CHECK (state IN ('provisioned', 'pending', 'failed')),
    last_error                 TEXT,
    attempts                   INTEGER NOT NULL DEFAULT 0,
    updated_at                 INTEGER NOT NULL
);
-- One software product per downstream client, as per registration here.
CREATE UNIQUE INDEX provisioning_downstream_client_id_key
    ON provisioning (downstream_client_id);

-- Changes to deliver to the downstream, written in the transaction of the registration change
-- they follow, delivered at least once, in `outbox_id` order per registration (one deliverer
-- at a time, under the lease 'provisioning'), and deleted once delivered. `payload` is the
-- change's context as JSON (the registration's status and reason); what is sent is built from
-- the registration as stored when the change is delivered (RFC 7592 updates replace the whole
-- client, so the latest state is always right to send). AUTOINCREMENT: ids never go back, so
-- a row written later always sorts later.
CREATE TABLE provisioning_outbox (
    outbox_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id        TEXT NOT NULL,
    operation        TEXT NOT NULL
        CONSTRAINT provisioning_outbox_operation_check
        CHECK (operation IN ('create', 'update', 'delete', 'disable')),
    payload          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX provisioning_outbox_client_id_idx ON provisioning_outbox (client_id, outbox_id);
CREATE INDEX provisioning_outbox_next_attempt_at_idx ON provisioning_outbox (next_attempt_at);
