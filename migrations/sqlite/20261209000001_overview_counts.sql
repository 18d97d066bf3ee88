-- The overview page's figures, kept up to date as the data changes so that the page reads a
-- few hundred rows whatever the size of the store (docs/portal.md "Overview").
--
-- `registration_count`: registrations by status. `stat_bucket`: counts by quarter hour
-- (`bucket` = Unix seconds / 900), by what was counted (`name`) and a detail (`label`, for
-- example the error code of a rejection). The page adds the quarter hours up into days of the
-- portal's time zone; a quarter hour is fine enough for every time zone's day boundary.
--
-- On SQLite both follow `registration_list` (the portal's copy, filled off the registration
-- write path): its triggers count what the copy receives, so POST /register pays nothing for
-- them. The server adds the counts it keeps itself (rejected registrations, token requests)
-- with upserts every few seconds.
CREATE TABLE registration_count (
    status  TEXT PRIMARY KEY NOT NULL,
    n       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE stat_bucket (
    bucket  INTEGER NOT NULL,
    name    TEXT NOT NULL,
    label   TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (bucket, name, label)
) WITHOUT ROWID;

INSERT INTO registration_count (status, n)
SELECT status, count(*) FROM registration_list GROUP BY status;

INSERT INTO stat_bucket (bucket, name, label, n)
SELECT created_at / 900, 'registration.created', '', count(*)
FROM registration_list GROUP BY created_at / 900;

CREATE TRIGGER registration_list_count_insert AFTER INSERT ON registration_list BEGIN
    INSERT INTO registration_count (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
    INSERT INTO stat_bucket (bucket, name, label, n)
        VALUES (NEW.created_at / 900, 'registration.created', '', 1)
        ON CONFLICT (bucket, name, label) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER registration_list_count_update AFTER UPDATE OF status ON registration_list
    WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE registration_count SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO registration_count (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER registration_list_count_delete AFTER DELETE ON registration_list BEGIN
    UPDATE registration_count SET n = n - 1 WHERE status = OLD.status;
END;
