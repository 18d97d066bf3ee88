-- The administrators' portal (issue 5), PostgreSQL flavour: sign-in throttling shared by every
-- instance, and the indexes behind the registration list (sort, status filter and search over 100,000 rows).

-- Failed portal sign-ins, counted per account ('user:<lower-cased username>') and per address
-- ('addr:<ip>') within a window. Reaching the limit sets locked_until; while it is in the
-- future, sign-in is refused without checking the password. A row exists for unknown
-- usernames too, so throttling reveals nothing about which accounts exist.
CREATE TABLE login_throttle (
    throttle_key  TEXT PRIMARY KEY NOT NULL,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT
);
-- Stale rows are purged by age.
CREATE INDEX login_throttle_window_start_idx ON login_throttle (window_start);

-- Sort orders of the list, each with client_id as the tie-breaker so that paging is stable
-- without a temporary sort. These supersede the single-column indexes of the first migration.
DROP INDEX registration_created_at_idx;
DROP INDEX registration_updated_at_idx;
DROP INDEX registration_client_name_idx;
DROP INDEX registration_status_idx;
CREATE INDEX registration_updated_at_idx ON registration (updated_at, client_id);
CREATE INDEX registration_client_name_idx ON registration (client_name, client_id);
CREATE INDEX registration_status_created_at_idx ON registration (status, created_at, client_id);
CREATE INDEX registration_status_updated_at_idx ON registration (status, updated_at, client_id);
CREATE INDEX registration_status_client_name_idx ON registration (status, client_name, client_id);
-- Serves the newest/oldest-first order and is a covering index for free-text search: a
-- substring search cannot use a B-tree, but scanning this narrow index reads a small fraction
-- of the table (the SSA and metadata make registration rows wide).
CREATE INDEX registration_list_idx ON registration (
    created_at, client_id, updated_at, status, client_name, software_key, org_id, org_name,
    legal_entity_id, legal_entity_name, register_sp_status, register_dr_status
);
