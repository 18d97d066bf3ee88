-- The portal's search at a million registrations (docs/portal.md "Searching"): a trigram GIN
-- index on the searched names and ids joined by line feeds, the expression the list query
-- matches each word against with ILIKE (crates/dcr-store/src/registrations/search.rs,
-- PG_SEARCH_TEXT, word for word). pg_trgm ships with PostgreSQL and is a trusted extension:
-- the owner of the database may create it without superuser rights. Where it cannot be
-- created (not installed, or not allowed), the migration leaves the index out and says so;
-- the search gives the same answers, by a scan.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX registration_search_idx ON registration USING gin ((
        client_name || E'\n' || org_name || E'\n' || coalesce(legal_entity_name, '') || E'\n'
        || client_id || E'\n' || software_key || E'\n' || org_id || E'\n'
        || coalesce(legal_entity_id, '')
    ) gin_trgm_ops);
    -- The planner's statistics of the indexed expression: without them it guesses that every
    -- word is rare, and a word found in every registration is looked up row by row.
    ANALYZE registration;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE WARNING 'pg_trgm is not available (%): the portal search will scan the registrations', SQLERRM;
END
$$;
