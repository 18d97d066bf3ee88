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
//! at the row. One more token names the row's status as the portal filters it (`s` and
//! [`StatusFilter::as_str`], `sinactive` for an active registration the Register reports
//! inactive), so that a filtered search of short words is answered and counted by the index
//! alone too.
//!
//! The tokens are computed here rather than in SQL, by the store's writer thread, for every row
//! the list copy receives and every row whose searched columns or statuses change (both queued
//! in `registration_grams_pending` by triggers): SQL would take 0.59 ms a row (`json_each` over
//! the characters), ten minutes at a million. The first bigram of a longer word is in every row
//! that holds it, so it narrows a lookup of the short words before the long ones are checked.

use std::fmt::Write as _;

use super::StatusFilter;

/// The searched columns of `registration_list` (as `l`), in the order [`index_text`] takes
/// them, then its status as the portal filters it ([`StatusFilter::as_str`]).
pub(crate) const GRAM_COLUMNS: &str =
    "l.client_id, l.software_key, l.org_id, l.legal_entity_id, l.client_name, l.org_name, \
     l.legal_entity_name, CASE WHEN l.status = 'active' \
     AND (upper(coalesce(l.register_sp_status, 'ACTIVE')) <> 'ACTIVE' \
     OR upper(coalesce(l.register_dr_status, 'ACTIVE')) <> 'ACTIVE') \
     THEN 'inactive' ELSE l.status END";

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

/// Every distinct piece of one and two characters of `columns` (each character through `fold`),
/// none holding whitespace and none running from one column into the next; a piece of one
/// character is `[c, '\0']`.
fn pieces<'a>(
    columns: impl IntoIterator<Item = &'a str>,
    fold: fn(char) -> char,
) -> Vec<[char; 2]> {
    let mut pieces: Vec<[char; 2]> = Vec::new();
    for column in columns {
        let chars: Vec<char> = column.chars().map(fold).collect();
        for (i, &c) in chars.iter().enumerate() {
            if c.is_whitespace() {
                continue;
            }
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
    pieces
}

/// A piece's characters.
fn piece_chars(piece: &[char; 2]) -> &[char] {
    if piece[1] == '\0' {
        &piece[..1]
    } else {
        piece
    }
}

/// The text `registration_grams` indexes for one row: the distinct tokens of every piece of one
/// and two characters of each column, space-separated, and the token of its `status` as the
/// portal filters it.
pub(crate) fn index_text<'a>(columns: impl IntoIterator<Item = &'a str>, status: &str) -> String {
    let pieces = pieces(columns, fold);
    let mut out = String::with_capacity(pieces.len() * 6 + status.len() + 2);
    for piece in &pieces {
        token(piece_chars(piece), &mut out);
        out.push(' ');
    }
    // Statuses are lower-case letters: a token as they are.
    out.push('s');
    out.push_str(status);
    out
}

/// The `MATCH` expression that finds the rows holding every one of `short` (words of one or two
/// characters), the first bigram of each of `long` (longer words; a necessary condition only,
/// their rows still to be checked: more of their bigrams cost more than they save, measured at
/// a million registrations) and, with a `status`, that status. `None` without a short word.
pub(crate) fn lookup(
    short: &[&str],
    long: &[&str],
    status: Option<StatusFilter>,
) -> Option<String> {
    if short.is_empty() {
        return None;
    }
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
        if let Some(pair) = chars.get(..2) {
            add(pair);
        }
    }
    if let Some(status) = status {
        tokens.push(format!("s{}", status.as_str()));
    }
    Some(tokens.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_holds_the_token_of_every_piece_of_its_columns_and_no_other() {
        let text = index_text(["Ab 42", "é"], "revoked");
        let tokens: Vec<&str> = text.split(' ').collect();
        // a, b, ab, 4, 2, 42, é (UTF-8 c3 a9) and the status; "b " and " 4" hold a space.
        let mut want = vec![
            "g61", "g62", "g6162", "g34", "g32", "g3432", "gc3a9", "srevoked",
        ];
        want.sort_unstable();
        let mut got = tokens.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        // Pieces do not run from one column into the next.
        assert!(!index_text(["a", "b"], "active").contains("g6162"));
    }

    #[test]
    fn a_short_word_is_looked_up_by_its_own_token_folded_as_the_rows_are() {
        assert_eq!(lookup(&["42"], &[], None).as_deref(), Some("g3432"));
        assert_eq!(lookup(&["QX"], &[], None), lookup(&["qx"], &[], None));
        assert!(index_text(["ÉTÉ"], "active").contains("gc3a9"));
        assert_eq!(lookup(&["É"], &[], None).as_deref(), Some("gc3a9"));
        // A longer word adds its first bigram, once; a status its token.
        assert_eq!(
            lookup(&["x", "ab"], &["abcd"], Some(StatusFilter::Inactive)).as_deref(),
            Some("g78 AND g6162 AND sinactive")
        );
        assert_eq!(lookup(&[], &["abc"], None), None);
    }
}
