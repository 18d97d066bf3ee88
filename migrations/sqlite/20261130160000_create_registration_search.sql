-- Substring search for the portal's registration list (issue 5), indexed: an FTS5 table with
-- the trigram tokenizer holds each registration's names and ids, so that a search for part of a
-- name or an id (3 characters or more) is an index lookup instead of a scan of every row.
-- Triggers keep it in step with `registration`. (PostgreSQL searches with ILIKE instead; see its
-- migration of the same version.)
CREATE VIRTUAL TABLE registration_search USING fts5(
    client_id, software_id, org_id, legal_entity_id, client_name, org_name, legal_entity_name,
    tokenize = 'trigram'
);

INSERT INTO registration_search (client_id, software_id, org_id, legal_entity_id, client_name,
    org_name, legal_entity_name)
SELECT client_id, software_id, org_id, coalesce(legal_entity_id, ''), client_name, org_name,
    coalesce(legal_entity_name, '')
FROM registration;

CREATE TRIGGER registration_search_insert AFTER INSERT ON registration BEGIN
    INSERT INTO registration_search (client_id, software_id, org_id, legal_entity_id, client_name,
        org_name, legal_entity_name)
    VALUES (NEW.client_id, NEW.software_id, NEW.org_id, coalesce(NEW.legal_entity_id, ''),
        NEW.client_name, NEW.org_name, coalesce(NEW.legal_entity_name, ''));
END;

-- The old entry is found through the index by its client_id (a trigram phrase needs 3
-- characters; shorter ids, which only tests use, are found by a scan).
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

-- Registrations "inactive at the Register" (active here, but the Register reports the product
-- or its recipient as not active) are few; a partial index finds them without a scan. The
-- condition is the one the list query uses, word for word, so that the planner matches it.
CREATE INDEX registration_inactive_idx ON registration (created_at, client_id)
    WHERE status = 'active' AND (upper(coalesce(register_sp_status, 'ACTIVE')) <> 'ACTIVE' OR upper(coalesce(register_dr_status, 'ACTIVE')) <> 'ACTIVE');

-- The rows a trigram lookup finds are then sorted and filtered from this index (looked up by
-- client_id, covering what the list's orders and status filters read) instead of the wide rows.
CREATE INDEX registration_search_key_idx ON registration (
    client_id, created_at, updated_at, status, client_name, register_sp_status, register_dr_status
);
