-- The portal's search reads a narrow copy of the searched names and ids, brought up to date
-- after the registrations commit, instead of the registration table (docs/decisions.md,
-- "PostgreSQL's search copy"). Measured on the registration table (docs/benchmarks.md): its
-- trigram GIN index wrote half of a registration's WAL and made its p99 (an insert that finds
-- the index's pending list full merges it before it returns), and a search word too short for
-- a trigram read the whole row of every candidate, 3.4 kB, most of it the SSA and metadata.
--
-- `registration_search`: the searched text of each registration, its names and ids joined by
-- line feeds and lower-cased (crates/dcr-store/src/registrations/search_copy.rs, PG_SEARCH_TEXT,
-- word for word), with the trigram index on it. A search matches lower-cased words with LIKE:
-- four times faster than ILIKE, which lower-cases every row it reads.
-- `registration_search_pending`: the registrations whose text is not copied yet, appended by
-- row triggers on `registration` (an insert, a change of a searched column, a delete; appending
-- only, so that concurrent writers share no row). `Store::sync_search_copy` moves them into the
-- copy, one instance at a time under an advisory lock, every few seconds and before a search.

CREATE TABLE registration_search (
    client_id  TEXT PRIMARY KEY,
    words      TEXT NOT NULL
);

CREATE TABLE registration_search_pending (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id  TEXT NOT NULL
);

CREATE FUNCTION dcr_registration_search_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO registration_search_pending (client_id) VALUES (NEW.client_id);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO registration_search_pending (client_id) VALUES (OLD.client_id);
    ELSE
        INSERT INTO registration_search_pending (client_id) VALUES (NEW.client_id);
        IF OLD.client_id <> NEW.client_id THEN
            INSERT INTO registration_search_pending (client_id) VALUES (OLD.client_id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER registration_search_pending AFTER INSERT OR DELETE ON registration
    FOR EACH ROW EXECUTE FUNCTION dcr_registration_search_pending();

-- A change of status or of the Register's statuses leaves the searched text as it was.
CREATE TRIGGER registration_search_pending_update AFTER UPDATE ON registration
    FOR EACH ROW
    WHEN (OLD.client_name IS DISTINCT FROM NEW.client_name
        OR OLD.org_name IS DISTINCT FROM NEW.org_name
        OR OLD.legal_entity_name IS DISTINCT FROM NEW.legal_entity_name
        OR OLD.client_id IS DISTINCT FROM NEW.client_id
        OR OLD.software_key IS DISTINCT FROM NEW.software_key
        OR OLD.org_id IS DISTINCT FROM NEW.org_id
        OR OLD.legal_entity_id IS DISTINCT FROM NEW.legal_entity_id)
    EXECUTE FUNCTION dcr_registration_search_pending();

-- Everything registered so far (the triggers above already hold the table's lock, so that no
-- registration commits between this copy and them).
INSERT INTO registration_search (client_id, words)
SELECT client_id, lower(client_name || E'\n' || org_name || E'\n'
    || coalesce(legal_entity_name, '') || E'\n' || client_id || E'\n' || software_key
    || E'\n' || org_id || E'\n' || coalesce(legal_entity_id, ''))
FROM registration;

-- The trigram index moves to the copy. Where pg_trgm cannot be created (not installed, or not
-- allowed), the copy has no index and a search scans it; the answers are the same.
DROP INDEX IF EXISTS registration_search_idx;
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX registration_search_idx ON registration_search USING gin (words gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE WARNING 'pg_trgm is not available (%): the portal search will scan its copy', SQLERRM;
END
$$;

-- The planner's statistics of the searched text: without them it guesses that every word is
-- rare, and a word found in every registration is looked up row by row. A sample ten times the
-- default, so that a rare word (a number, part of an id) is not guessed common: the list's
-- order would then be walked a row at a time in search of matches that are not there.
ALTER TABLE registration_search ALTER COLUMN words SET STATISTICS 1000;
ANALYZE registration_search;
