//! SQLite's index of short pieces: the search words of one or two characters.
//!
//! The trigram index (`registration_search`) finds words of three characters or more. A shorter
//! word used to be matched with `LIKE` row by row, which at a million registrations read the
//! whole list for a rare one (`qx`: 0.59 s) and 10,000 matches' worth of rows to count a common
//! one (`42`: 85 ms). `registration_grams` (migration `20261214000001`) indexes, for every row of
//! the list copy, each distinct piece of one and two characters of its searched names and ids,
//! case-folded, as a token that FTS5's `ascii` tokenizer keeps whole: `g` and the piece's UTF-8
//! bytes in hex (`42` is `g3432`). A piece that holds a space is left out (no search word
//! does). The piece of a word of one or two characters is in a row's tokens exactly when the
//! word is part of one of its names or ids, so the index answers such a word without looking
//! at the row.
//!
//! The tokens are computed here rather than in SQL, by the store's writer thread, for every row
//! the list copy receives and every row whose searched columns change (both queued in
//! `registration_grams_pending` by triggers): SQL would take 0.59 ms a row (`json_each` over the
//! characters), ten minutes at a million. The bigrams of a longer word are in every row that
//! holds it, so they narrow a lookup of the short words before the long ones are checked.

use std::fmt::Write as _;

/// The searched columns of `registration_list`, in the order [`index_text`] takes them.
pub(crate) const GRAM_COLUMNS: &str =
    "client_id, software_key, org_id, legal_entity_id, client_name, org_name, legal_entity_name";

/// A character folded as the index folds it: its lower case when that is one character, else
/// itself (so that a word and a row are folded character by character alike).
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The token of one piece of one or two characters.
fn token(piece: &[char], out: &mut String) {
    out.push('g');
    let mut buf = [0u8; 4];
    for c in piece {
        for b in c.encode_utf8(&mut buf).bytes() {
            let _ = write!(out, "{b:02x}");
        }
    }
}

/// The text `registration_grams` indexes for one row: the distinct tokens of every piece of one
/// and two characters of each column, space-separated.
pub(crate) fn index_text<'a>(columns: impl IntoIterator<Item = &'a str>) -> String {
    let mut pieces: Vec<[char; 2]> = Vec::new();
    for column in columns {
        let chars: Vec<char> = column.chars().map(fold).collect();
        for (i, &c) in chars.iter().enumerate() {
            if c.is_whitespace() {
                continue;
            }
            // A one-character piece is kept as [c, '\0'] to sort and dedupe with the others.
            pieces.push([c, '\0']);
            if let Some(&next) = chars.get(i + 1) {
                if !next.is_whitespace() {
                    pieces.push([c, next]);
                }
            }
        }
    }
    pieces.sort_unstable();
    pieces.dedup();
    let mut out = String::with_capacity(pieces.len() * 6);
    for piece in &pieces {
        if !out.is_empty() {
            out.push(' ');
        }
        let len = if piece[1] == '\0' { 1 } else { 2 };
        token(&piece[..len], &mut out);
    }
    out
}

/// The `MATCH` expression that finds the rows holding every one of `short` (words of one or two
/// characters) and every bigram of `long` (longer words; a necessary condition only, their
/// rows still to be checked). `None` when there is nothing to look up.
pub(crate) fn lookup(short: &[&str], long: &[&str]) -> Option<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut add = |piece: &[char]| {
        let mut t = String::new();
        token(piece, &mut t);
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    };
    for word in short {
        let chars: Vec<char> = word.chars().map(fold).collect();
        add(&chars);
    }
    for word in long {
        let chars: Vec<char> = word.chars().map(fold).collect();
        for pair in chars.windows(2) {
            add(pair);
        }
    }
    (!tokens.is_empty()).then(|| tokens.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_holds_the_token_of_every_piece_of_its_columns_and_no_other() {
        let text = index_text(["Ab 42", "é"]);
        let tokens: Vec<&str> = text.split(' ').collect();
        // a, b, ab, 4, 2, 42, é (UTF-8 c3 a9); "b " and " 4" hold a space.
        let mut want = vec!["g61", "g62", "g6162", "g34", "g32", "g3432", "gc3a9"];
        want.sort_unstable();
        let mut got = tokens.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        // Pieces do not run from one column into the next.
        assert!(!index_text(["a", "b"]).contains("g6162"));
    }

    #[test]
    fn a_short_word_is_looked_up_by_its_own_token_folded_as_the_rows_are() {
        assert_eq!(lookup(&["42"], &[]).as_deref(), Some("g3432"));
        assert_eq!(lookup(&["QX"], &[]), lookup(&["qx"], &[]));
        assert!(index_text(["ÉTÉ"]).contains("gc3a9"));
        assert_eq!(lookup(&["É"], &[]).as_deref(), Some("gc3a9"));
        // A longer word adds its bigrams, each once.
        assert_eq!(
            lookup(&["x"], &["abab"]).as_deref(),
            Some("g78 AND g6162 AND g6261")
        );
        assert_eq!(lookup(&[], &[]), None);
    }
}
