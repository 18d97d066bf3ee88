-- Release (issue 6): an administrator releases a registration whose recipient lost its
-- client_id (CDS standards-maintenance#581), or a revoked one, so that the software product can
-- register again. The row stays, for the audit trail, with the new status 'released'. The
-- unique index on the software product covers 'active' and 'revoked' only, so a released
-- registration no longer holds its software_id.
--
-- The CHECK constraint is replaced under its own name (SQLite rebuilds the table instead; see
-- its migration of the same version). Adding it scans the table once to validate every row.
ALTER TABLE registration DROP CONSTRAINT registration_status_check;
ALTER TABLE registration ADD CONSTRAINT registration_status_check
    CHECK (status IN ('active', 'revoked', 'released', 'deleted', 'removed'));
