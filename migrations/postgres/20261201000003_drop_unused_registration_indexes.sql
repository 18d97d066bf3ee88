-- Three indexes on `registration` that no query uses: lookups by software product go through
-- the unique index `registration_software_key_key` (active and revoked registrations), and the
-- portal's search matches org_id, legal_entity_id and software_key with ILIKE '%...%', which a
-- B-tree cannot serve. Each cost a random index insert per registration (scripts/bench.sh).
DROP INDEX IF EXISTS registration_org_id_idx;
DROP INDEX IF EXISTS registration_legal_entity_id_idx;
DROP INDEX IF EXISTS registration_software_key_idx;
