-- The overview page's figures, kept up to date as the data changes so that the page reads a
-- few hundred rows whatever the size of the store (docs/portal.md "Overview").
--
-- `registration_count`: registrations by status. `stat_bucket`: counts by quarter hour
-- (`bucket` = Unix seconds / 900), by what was counted (`name`) and a detail (`label`, for
-- example the error code of a rejection). The page adds the quarter hours up into days of the
-- portal's time zone; a quarter hour is fine enough for every time zone's day boundary.
--
-- Every change of `registration` appends its effect to `registration_count_delta` (a row
-- trigger, appending only: no row is shared between writers, so registrations, revocations and
-- deletions made at the same time never wait on a counter or lock counters in two orders), and
-- the store folds the deltas into the two tables (`Store::fold_counts`, one instance at a time
-- under an advisory lock, every few seconds and before the overview reads them). The server adds
-- the counts it keeps itself (rejected registrations, token requests) with upserts every few
-- seconds.
CREATE TABLE registration_count (
    status  TEXT PRIMARY KEY,
    n       BIGINT NOT NULL
);

CREATE TABLE stat_bucket (
    bucket  BIGINT NOT NULL,
    name    TEXT NOT NULL,
    label   TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (bucket, name, label)
);

INSERT INTO registration_count (status, n)
SELECT status, count(*) FROM registration GROUP BY status;

INSERT INTO stat_bucket (bucket, name, label, n)
SELECT created_at / 900, 'registration.created', '', count(*)
FROM registration GROUP BY created_at / 900;

-- What each change did to the counts, not yet folded in: `n` registrations (+1, -1) of
-- `status`; `bucket` is the quarter hour of a registration created (it counts toward
-- `registration.created` there), NULL for a status change.
CREATE TABLE registration_count_delta (
    status  TEXT NOT NULL,
    n       BIGINT NOT NULL,
    bucket  BIGINT
);

CREATE FUNCTION dcr_count_registration() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO registration_count_delta (status, n, bucket)
            VALUES (NEW.status, 1, NEW.created_at / 900);
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            INSERT INTO registration_count_delta (status, n, bucket)
                VALUES (OLD.status, -1, NULL), (NEW.status, 1, NULL);
        END IF;
    ELSE
        INSERT INTO registration_count_delta (status, n, bucket) VALUES (OLD.status, -1, NULL);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER registration_count AFTER INSERT OR UPDATE OF status OR DELETE ON registration
    FOR EACH ROW EXECUTE FUNCTION dcr_count_registration();
