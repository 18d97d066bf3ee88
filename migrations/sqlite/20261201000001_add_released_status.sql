-- Release (issue 6): an administrator releases a registration whose recipient lost its
-- client_id (CDS standards-maintenance#581), or a revoked one, so that the software product can
-- register again. The row stays, for the audit trail, with the new status 'released'. The
-- unique index on the software product covers 'active' and 'revoked' only, so a released
-- registration no longer holds its software_id.
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (SQLite's documented
-- procedure: create the new table, copy, drop the old one, rename) and everything attached to
-- it is created again word for word as the earlier migrations wrote it: the indexes (the list
-- query names some of them with INDEXED BY) and the triggers that keep `registration_search` in
-- step. `registration_search` is a table of its own and keeps its rows. No foreign key refers to
-- `registration`. The triggers are dropped first so that the rename rewrites nothing.

DROP TRIGGER registration_search_insert;
DROP TRIGGER registration_search_update;
DROP TRIGGER registration_search_delete;

CREATE TABLE registration_new (
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
    -- active | revoked | released | deleted | removed
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
    CONSTRAINT registration_status_check
        CHECK (status IN ('active', 'revoked', 'released', 'deleted', 'removed'))
);

-- The rowids are kept, so that anything keyed by a registration's rowid stays valid.
INSERT INTO registration_new (rowid, client_id, software_id, software_key, org_id, org_name,
    client_name, legal_entity_id, legal_entity_name, jwks_uri, scope, status, status_reason,
    register_sp_status, register_dr_status, register_synced_at, ssa, metadata,
    client_id_issued_at, created_at, updated_at)
SELECT rowid, client_id, software_id, software_key, org_id, org_name, client_name,
    legal_entity_id, legal_entity_name, jwks_uri, scope, status, status_reason,
    register_sp_status, register_dr_status, register_synced_at, ssa, metadata,
    client_id_issued_at, created_at, updated_at
FROM registration ORDER BY rowid;

DROP TABLE registration;
ALTER TABLE registration_new RENAME TO registration;

-- "Data Holders MUST NOT allow multiple active registrations for the same software_id": the
-- store guarantees it. A revoked registration keeps its software_id until released.
CREATE UNIQUE INDEX registration_software_key_key ON registration (software_key)
    WHERE status IN ('active', 'revoked');
CREATE INDEX registration_org_id_idx ON registration (org_id);
CREATE INDEX registration_legal_entity_id_idx ON registration (legal_entity_id);
CREATE INDEX registration_software_key_idx ON registration (software_key);
CREATE INDEX registration_updated_at_idx ON registration (updated_at, client_id);
CREATE INDEX registration_client_name_idx ON registration (client_name, client_id);
CREATE INDEX registration_status_created_at_idx ON registration (status, created_at, client_id);
CREATE INDEX registration_status_updated_at_idx ON registration (status, updated_at, client_id);
CREATE INDEX registration_status_client_name_idx ON registration (status, client_name, client_id);
CREATE INDEX registration_list_idx ON registration (
    created_at, client_id, updated_at, status, client_name, software_key, org_id, org_name,
    legal_entity_id, legal_entity_name, register_sp_status, register_dr_status
);
CREATE INDEX registration_inactive_idx ON registration (created_at, client_id)
    WHERE status = 'active' AND (upper(coalesce(register_sp_status, 'ACTIVE')) <> 'ACTIVE' OR upper(coalesce(register_dr_status, 'ACTIVE')) <> 'ACTIVE');
CREATE INDEX registration_search_key_idx ON registration (
    client_id, created_at, updated_at, status, client_name, register_sp_status, register_dr_status
);

CREATE TRIGGER registration_search_insert AFTER INSERT ON registration BEGIN
    INSERT INTO registration_search (client_id, software_id, org_id, legal_entity_id, client_name,
        org_name, legal_entity_name)
    VALUES (NEW.client_id, NEW.software_id, NEW.org_id, coalesce(NEW.legal_entity_id, ''),
        NEW.client_name, NEW.org_name, coalesce(NEW.legal_entity_name, ''));
END;

CREATE TRIGGER registration_search_update AFTER UPDATE OF client_id, software_id, org_id,
    legal_entity_id, client_name, org_name, legal_entity_name ON registration BEGIN
    DELETE FROM registration_search
        WHERE length(OLD.client_id) >= 3
          AND registration_search MATCH ('client_id : "' || replace(OLD.client_id, '"', '""') || '"')
          AND client_id = OLD.client_id;
    DELETE FROM registration_search
        WHERE length(OLD.client_id) < 3 AND client_id = OLD.client_id;
    INSERT INTO registration_search (client_id, software_id, org_id, legal_entity_id, client_name,
        org_name, legal_entity_name)
    VALUES (NEW.client_id, NEW.software_id, NEW.org_id, coalesce(NEW.legal_entity_id, ''),
        NEW.client_name, NEW.org_name, coalesce(NEW.legal_entity_name, ''));
END;

CREATE TRIGGER registration_search_delete AFTER DELETE ON registration BEGIN
    DELETE FROM registration_search
        WHERE length(OLD.client_id) >= 3
          AND registration_search MATCH ('client_id : "' || replace(OLD.client_id, '"', '""') || '"')
          AND client_id = OLD.client_id;
    DELETE FROM registration_search
        WHERE length(OLD.client_id) < 3 AND client_id = OLD.client_id;
END;
