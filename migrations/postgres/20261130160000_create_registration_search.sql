-- Substring search for the portal's registration list (issue 5). SQLite gets an FTS5 trigram
-- index in its migration of this version. PostgreSQL matches with ILIKE over the names and ids,
-- a parallel sequential scan that stays well under a second at 100,000 registrations; where the
-- pg_trgm extension is allowed, a trigram GIN index would make it an index lookup, but creating
-- an extension needs privileges a deployment may not grant, so this migration does not.


-- Registrations "inactive at the Register" (active here, but the Register reports the product
-- or its recipient as not active) are few; a partial index finds them without a scan. The
-- condition is the one the list query uses, word for word, so that the planner matches it.
CREATE INDEX registration_inactive_idx ON registration (created_at, client_id)
    WHERE status = 'active' AND (upper(coalesce(register_sp_status, 'ACTIVE')) <> 'ACTIVE' OR upper(coalesce(register_dr_status, 'ACTIVE')) <> 'ACTIVE');
