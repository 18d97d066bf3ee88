-- Search words of one or two characters through an index of the search copy's short pieces.
--
-- The trigram index cannot find a word shorter than three characters: `words LIKE '%42%'` read
-- every row of the copy for a rare one, and ten thousand matches' worth to count a common one.
-- `pieces` holds every distinct piece of one and two characters of the row's (lower-cased)
-- text, none with whitespace, computed by the instances when they copy a registration
-- (crates/dcr-store/src/registrations/grams.rs, `copy_pieces`): SQL takes 0.7 ms a row to make
-- them, more than ten minutes at a million. A short word then matches with
-- `pieces @> ARRAY[lower($n)]`, which the GIN index serves.
--
-- The rows copied before this migration have no pieces (NULL), found through a partial index;
-- the instances fill them a chunk at a time in the background. Until none is left, a search
-- matches its short words with LIKE as before: the same answers, slower.
ALTER TABLE registration_search ADD COLUMN pieces TEXT[];

CREATE INDEX registration_search_pieces_idx ON registration_search USING gin (pieces);

CREATE INDEX registration_search_no_pieces_idx ON registration_search (client_id)
    WHERE pieces IS NULL;

-- A search looks a short word up through the index only when the copy's statistics do not
-- count it among the most common pieces (or count it in few rows); a common one is matched with
-- LIKE as the rows are read. The list of most common elements is ten times the target long.
ALTER TABLE registration_search ALTER COLUMN pieces SET STATISTICS 1000;
