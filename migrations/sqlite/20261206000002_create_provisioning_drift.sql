-- Reconciliation of the registrations here with their clients at the downstream authorization
-- server (docs/provisioning.md, "Reconciliation"). Times are Unix seconds.

-- Each reconciliation run: when, by whom (`provisioning` for the periodic check, `cli` for the
-- command), how many registrations it checked, found drifted and repaired. Written when the run
-- finishes, with what it found.
CREATE TABLE provisioning_reconciliation (
    reconciliation_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at         INTEGER NOT NULL,
    finished_at        INTEGER NOT NULL,
    actor              TEXT NOT NULL,
    repair             INTEGER NOT NULL DEFAULT 0,
    checked            INTEGER NOT NULL DEFAULT 0,
    drifted            INTEGER NOT NULL DEFAULT 0,
    repaired           INTEGER NOT NULL DEFAULT 0
);

-- What the last finished run found, one row per registration whose client differs from what it
-- should be: 'missing' (gone at the downstream), 'extra' (still there although the
-- registration here is deleted, released or removed), 'disabled' (enabled there while revoked
-- here, or the other way round), 'metadata' (other fields differ; `detail` names them) or
-- 'unchecked' (the downstream could not be asked; `detail` says why). `repaired_at` is set
-- when the run repaired it. Replaced as a whole by each finished run.
CREATE TABLE provisioning_drift (
    client_id     TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL
        CONSTRAINT provisioning_drift_kind_check
        CHECK (kind IN ('missing', 'extra', 'disabled', 'metadata', 'unchecked')),
    detail        TEXT NOT NULL,
    found_at      INTEGER NOT NULL,
    repaired_at   INTEGER
);
