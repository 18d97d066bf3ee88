-- The portal's list indexes and trigram search move off the registration write path.
--
-- Measured with scripts/bench.sh: every registration used to update twelve B-trees and the
-- FTS5 trigram index in the same transaction as the row, which took more than half the writer's
-- time (POST /register 1,500/s; 3,600 to 4,100/s without them). Now `registration` keeps only
-- what the API needs (its primary key and the unique software product index), and the list
-- columns live in `registration_list`, a narrow copy that carries the list indexes and the
-- search index:
--   * inserts are copied in bulk, in rowid order, by the store's SQLite writer when it is idle
--     (under a steady stream of writes, a chunk between batches after a few seconds), and at
--     once before every portal list query, so that an administrator always sees every
--     committed registration;
--   * updates and physical deletes of `registration` are applied at once by triggers (they are
--     rare: PUT, revocation, release, Register sync), so a row already copied never goes stale.
-- `reg_rowid` is the registration's rowid: the copy's high-water mark is max(reg_rowid).

DROP TRIGGER IF EXISTS registration_search_insert;
DROP TRIGGER IF EXISTS registration_search_update;
DROP TRIGGER IF EXISTS registration_search_delete;
DROP TABLE IF EXISTS registration_search;

DROP INDEX IF EXISTS registration_org_id_idx;
DROP INDEX IF EXISTS registration_legal_entity_id_idx;
DROP INDEX IF EXISTS registration_software_key_idx;
DROP INDEX IF EXISTS registration_updated_at_idx;
DROP INDEX IF EXISTS registration_client_name_idx;
DROP INDEX IF EXISTS registration_status_created_at_idx;
DROP INDEX IF EXISTS registration_status_updated_at_idx;
DROP INDEX IF EXISTS registration_status_client_name_idx;
DROP INDEX IF EXISTS registration_list_idx;
DROP INDEX IF EXISTS registration_inactive_idx;
DROP INDEX IF EXISTS registration_search_key_idx;

CREATE TABLE registration_list (
    reg_rowid            INTEGER PRIMARY KEY,
    client_id            TEXT NOT NULL,
    software_id          TEXT NOT NULL,
    software_key         TEXT NOT NULL,
    org_id               TEXT NOT NULL,
    org_name             TEXT NOT NULL,
    client_name          TEXT NOT NULL,
    legal_entity_id      TEXT,
    legal_entity_name    TEXT,
    status               TEXT NOT NULL,
    register_sp_status   TEXT,
    register_dr_status   TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- The same indexes (and names: the list query picks some with INDEXED BY) as the registration
-- table had, now on the copy.
CREATE UNIQUE INDEX registration_list_client_id_key ON registration_list (client_id);
CREATE INDEX registration_software_key_idx ON registration_list (software_key);
CREATE INDEX registration_updated_at_idx ON registration_list (updated_at, client_id);
CREATE INDEX registration_client_name_idx ON registration_list (client_name, client_id);
CREATE INDEX registration_status_created_at_idx ON registration_list (status, created_at, client_id);
CREATE INDEX registration_status_updated_at_idx ON registration_list (status, updated_at, client_id);
CREATE INDEX registration_status_client_name_idx ON registration_list (status, client_name, client_id);
CREATE INDEX registration_list_idx ON registration_list (
    created_at, client_id, updated_at, status, client_name, software_key, org_id, org_name,
    legal_entity_id, legal_entity_name, register_sp_status, register_dr_status
);
CREATE INDEX registration_inactive_idx ON registration_list (created_at, client_id)
    WHERE status = 'active' AND (upper(coalesce(register_sp_status, 'ACTIVE')) <> 'ACTIVE' OR upper(coalesce(register_dr_status, 'ACTIVE')) <> 'ACTIVE');
CREATE INDEX registration_search_key_idx ON registration_list (
    client_id, created_at, updated_at, status, client_name, register_sp_status, register_dr_status
);

-- Substring search (3 characters or more): an FTS5 trigram index over the copy (external
-- content: the text is read from `registration_list`, not stored twice).
CREATE VIRTUAL TABLE registration_search USING fts5(
    client_id, software_id, org_id, legal_entity_id, client_name, org_name, legal_entity_name,
    content = 'registration_list', content_rowid = 'reg_rowid', tokenize = 'trigram'
);

CREATE TRIGGER registration_list_search_insert AFTER INSERT ON registration_list BEGIN
    INSERT INTO registration_search (rowid, client_id, software_id, org_id, legal_entity_id,
        client_name, org_name, legal_entity_name)
    VALUES (NEW.reg_rowid, NEW.client_id, NEW.software_id, NEW.org_id, NEW.legal_entity_id,
        NEW.client_name, NEW.org_name, NEW.legal_entity_name);
END;

CREATE TRIGGER registration_list_search_update AFTER UPDATE OF client_id, software_id, org_id,
    legal_entity_id, client_name, org_name, legal_entity_name ON registration_list BEGIN
    INSERT INTO registration_search (registration_search, rowid, client_id, software_id, org_id,
        legal_entity_id, client_name, org_name, legal_entity_name)
    VALUES ('delete', OLD.reg_rowid, OLD.client_id, OLD.software_id, OLD.org_id,
        OLD.legal_entity_id, OLD.client_name, OLD.org_name, OLD.legal_entity_name);
    INSERT INTO registration_search (rowid, client_id, software_id, org_id, legal_entity_id,
        client_name, org_name, legal_entity_name)
    VALUES (NEW.reg_rowid, NEW.client_id, NEW.software_id, NEW.org_id, NEW.legal_entity_id,
        NEW.client_name, NEW.org_name, NEW.legal_entity_name);
END;

CREATE TRIGGER registration_list_search_delete AFTER DELETE ON registration_list BEGIN
    INSERT INTO registration_search (registration_search, rowid, client_id, software_id, org_id,
        legal_entity_id, client_name, org_name, legal_entity_name)
    VALUES ('delete', OLD.reg_rowid, OLD.client_id, OLD.software_id, OLD.org_id,
        OLD.legal_entity_id, OLD.client_name, OLD.org_name, OLD.legal_entity_name);
END;

-- A row already copied follows every change of its registration at once (the searchable
-- columns only when one of them changed, so that a status change leaves the search index be).
CREATE TRIGGER registration_list_follow_update AFTER UPDATE ON registration BEGIN
    UPDATE registration_list SET software_key = NEW.software_key, status = NEW.status,
        register_sp_status = NEW.register_sp_status, register_dr_status = NEW.register_dr_status,
        created_at = NEW.created_at, updated_at = NEW.updated_at
    WHERE reg_rowid = NEW.rowid;
END;

CREATE TRIGGER registration_list_follow_search_update AFTER UPDATE ON registration
    WHEN OLD.client_id IS NOT NEW.client_id OR OLD.software_id IS NOT NEW.software_id
      OR OLD.org_id IS NOT NEW.org_id OR OLD.org_name IS NOT NEW.org_name
      OR OLD.client_name IS NOT NEW.client_name OR OLD.legal_entity_id IS NOT NEW.legal_entity_id
      OR OLD.legal_entity_name IS NOT NEW.legal_entity_name
BEGIN
    UPDATE registration_list SET client_id = NEW.client_id, software_id = NEW.software_id,
        org_id = NEW.org_id, org_name = NEW.org_name, client_name = NEW.client_name,
        legal_entity_id = NEW.legal_entity_id, legal_entity_name = NEW.legal_entity_name
    WHERE reg_rowid = NEW.rowid;
END;

CREATE TRIGGER registration_list_follow_delete AFTER DELETE ON registration BEGIN
    DELETE FROM registration_list WHERE reg_rowid = OLD.rowid;
END;

-- Everything registered so far.
INSERT INTO registration_list (reg_rowid, client_id, software_id, software_key, org_id, org_name,
    client_name, legal_entity_id, legal_entity_name, status, register_sp_status,
    register_dr_status, created_at, updated_at)
SELECT rowid, client_id, software_id, software_key, org_id, org_name, client_name,
    legal_entity_id, legal_entity_name, status, register_sp_status, register_dr_status,
    created_at, updated_at
FROM registration ORDER BY rowid;
