-- Search words of one or two characters through an index (`registration_grams`) instead of a
-- `LIKE` over the list copy, which at a million registrations read every row for a rare word.
--
-- Each row of the list copy has one entry: the distinct pieces of one and two characters of its
-- searched names and ids, case-folded, as tokens (`g` and the piece's UTF-8 bytes in hex), and
-- its status as the portal filters it (`sactive`, `sinactive`, `srevoked`, ...), computed by the
-- store's writer thread (module `registrations::grams`). Contentless (the
-- tokens are not stored twice), rowids only (`detail = none`), and deletable by rowid.
-- `registration_grams_pending` queues the rows whose tokens are to be written: every row the
-- copy receives, every row whose searched columns or statuses change (its old entry is deleted
-- at once),
-- and here every row already copied. Until the queue is empty a search matches its short words
-- with `LIKE` as before.
CREATE VIRTUAL TABLE registration_grams USING fts5(
    grams, content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
);

CREATE TABLE registration_grams_pending (reg_rowid INTEGER PRIMARY KEY);

INSERT INTO registration_grams_pending (reg_rowid) SELECT reg_rowid FROM registration_list;

CREATE TRIGGER registration_list_grams_insert AFTER INSERT ON registration_list BEGIN
    INSERT OR IGNORE INTO registration_grams_pending (reg_rowid) VALUES (NEW.reg_rowid);
END;

-- The list copy follows every update of a registration by setting its statuses whether or not
-- they changed: only a change of value requeues the row.
CREATE TRIGGER registration_list_grams_update AFTER UPDATE OF client_id, software_key, org_id,
    legal_entity_id, client_name, org_name, legal_entity_name, status, register_sp_status,
    register_dr_status ON registration_list
    WHEN OLD.client_id IS NOT NEW.client_id OR OLD.software_key IS NOT NEW.software_key
      OR OLD.org_id IS NOT NEW.org_id OR OLD.legal_entity_id IS NOT NEW.legal_entity_id
      OR OLD.client_name IS NOT NEW.client_name OR OLD.org_name IS NOT NEW.org_name
      OR OLD.legal_entity_name IS NOT NEW.legal_entity_name OR OLD.status IS NOT NEW.status
      OR OLD.register_sp_status IS NOT NEW.register_sp_status
      OR OLD.register_dr_status IS NOT NEW.register_dr_status
BEGIN
    DELETE FROM registration_grams WHERE rowid = OLD.reg_rowid;
    INSERT OR IGNORE INTO registration_grams_pending (reg_rowid) VALUES (NEW.reg_rowid);
END;

CREATE TRIGGER registration_list_grams_delete AFTER DELETE ON registration_list BEGIN
    DELETE FROM registration_grams WHERE rowid = OLD.reg_rowid;
    DELETE FROM registration_grams_pending WHERE reg_rowid = OLD.reg_rowid;
END;
