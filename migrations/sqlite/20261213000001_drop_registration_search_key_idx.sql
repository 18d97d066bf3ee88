-- The portal's search reads the trigram lookup's matches from `registration_list` by rowid (the
-- lookup's rowids are the copy's), so the copy's index keyed by client_id for those matches is
-- no longer read. Dropping it takes one B-tree off every row the list copy receives.
DROP INDEX IF EXISTS registration_search_key_idx;
