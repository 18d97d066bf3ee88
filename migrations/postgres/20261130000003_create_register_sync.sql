-- CDR Register status sync (spec §10): which server instance polls the Register, and the last
-- good answers of the Register's status APIs with their ETags. Times are Unix seconds.

-- A named lease, held by one server instance until `expires_at`. An instance takes or renews
-- it with one conditional upsert (the row is free, expired, or already its own), so exactly one
-- of the instances sharing this store polls the Register at a time. `refresh_requested_at` is
-- set by an instance that is not the holder when it is asked for an immediate refresh (the
-- Register's Admin Metadata Update call); the holder sees it at its next renewal.
CREATE TABLE lease (
    name                  TEXT PRIMARY KEY NOT NULL,
    holder                TEXT NOT NULL,
    expires_at            BIGINT NOT NULL,
    refresh_requested_at  BIGINT
);

-- One row per Register status list ('data_recipients', 'software_products'). `statuses` is the
-- last good list as a JSON object (lower-cased id -> status as the Register wrote it); it is
-- kept through Register outages, which are never taken for a status change. `etag` is sent back
-- as If-None-Match so that an unchanged list costs a 304.
CREATE TABLE register_sync (
    resource      TEXT PRIMARY KEY NOT NULL,
    etag          TEXT,
    statuses      TEXT NOT NULL,
    -- last good answer (200 or 304) and last 200
    synced_at     BIGINT,
    fetched_at    BIGINT,
    -- every attempt, and the failures since the last good answer
    attempted_at  BIGINT NOT NULL,
    attempts      BIGINT NOT NULL,
    failures      BIGINT NOT NULL,
    last_error    TEXT,
    -- the instance that made the last attempt
    synced_by     TEXT
);
