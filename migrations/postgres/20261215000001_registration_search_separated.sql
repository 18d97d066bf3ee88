-- The search copy's text sets every character beyond ASCII between two unit separators
-- (crates/dcr-store/src/registrations/search_copy.rs, PG_SEARCH_TEXT and PG_SEPARATE), so that
-- a search word of two ASCII letters or digits always has ASCII beside it and is looked up
-- through the trigrams around it. A search separates its words the same way. Only the rows
-- holding such characters change (measured: 0.4 s to read a copy of 1,000,000 rows).
UPDATE registration_search
    SET words = regexp_replace(words, '([^\x01-\x7f])', E'\x1f\\1\x1f', 'g')
    WHERE words ~ '[^\x01-\x7f]';
