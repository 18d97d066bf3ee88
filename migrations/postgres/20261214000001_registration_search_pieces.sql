-- Search words of one or two characters through an index of the search copy's short pieces.
--
-- The trigram index cannot find a word shorter than three characters: `words LIKE '%42%'` read
-- every row of the copy for a rare one, and ten thousand matches' worth to count a common one.
-- `pieces` holds every distinct piece of one and two characters of the row's (lower-cased)
-- text, none with whitespace, computed by the instances when they copy a registration
-- (crates/dcr-store/src/registrations/grams.rs, `copy_pieces`): SQL takes 0.7 ms a row to make
-- them, more than ten minutes at a million. A short word then matches with
-- `position(lower($n) in words) > 0 AND pieces @> ARRAY[lower($n)]`, the GIN index serving the
-- array.
--
-- The rows copied before this migration have no pieces (NULL), found through a partial index;
-- the instances fill them a chunk at a time in the background. Until none is left, a search
-- matches its short words with LIKE as before: the same answers, slower.
ALTER TABLE registration_search ADD COLUMN pieces TEXT[];

CREATE INDEX registration_search_pieces_idx ON registration_search USING gin (pieces);

CREATE INDEX registration_search_no_pieces_idx ON registration_search (client_id)
    WHERE pieces IS NULL;

-- The planner's picture of how many rows hold a piece (a common one is read along a scan, a rare
-- one looked up): its list of most common elements is ten times the target long. The sample
-- ANALYZE takes is already this size for `words`.
ALTER TABLE registration_search ALTER COLUMN pieces SET STATISTICS 1000;

-- An instance of the previous release, during a rolling upgrade, rewrites a row's text without
-- its pieces: they are cleared then, so that the row is filled again rather than searched by
-- the pieces of its old text.
CREATE FUNCTION dcr_registration_search_stale_pieces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.words IS DISTINCT FROM OLD.words AND NEW.pieces IS NOT DISTINCT FROM OLD.pieces THEN
        NEW.pieces := NULL;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER registration_search_stale_pieces BEFORE UPDATE ON registration_search
    FOR EACH ROW EXECUTE FUNCTION dcr_registration_search_stale_pieces();
