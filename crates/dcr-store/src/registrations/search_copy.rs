//! PostgreSQL's search copy: the searched names and ids of every registration, joined, in the
//! narrow table `registration_search` that carries the trigram index (migration
//! `20261213000001_registration_search_copy`).
//!
//! A registration's write does not touch the copy: a row trigger appends its client id to
//! `registration_search_pending`, and [`Store::sync_search_copy`] moves the pending ones into
//! the copy afterwards, in chunks, one instance at a time. The server does so every few seconds
//! and before every search, so that a search sees every committed registration.

use crate::{Store, StoreError};

/// The advisory lock under which the pending registrations are copied ("dcr-srch").
const SEARCH_COPY_LOCK: i64 = 0x6463_722d_7372_6368;

/// Most pending registrations one transaction of [`Store::sync_search_copy`] copies.
const SEARCH_COPY_CHUNK: i64 = 10_000;

/// After copying more than this at once, [`Store::sync_search_copy`] refreshes the copy's
/// statistics and vacuums the pending table.
const SEARCH_COPY_MAINTAIN_AFTER: u64 = 10_000;

/// Whether the copy's statistics are out of date: autovacuum's rule for an analyze (more rows
/// changed since the last one than a tenth of the table, and than 1,000), which
/// [`Store::refresh_search_statistics`] applies every second rather than at autovacuum's next
/// round, up to a minute later. Until then, 20,000 new registrations in a copy last analysed
/// empty are each taken for a rare match, and a search of a word found in every one of them
/// reads them all before it sorts out its first page (measured: 52 ms where walking the list's
/// order took 0.4 ms).
const STATISTICS_STALE: &str = "SELECT coalesce((SELECT n_mod_since_analyze > 1000 \
    AND n_mod_since_analyze > n_live_tup / 10 FROM pg_stat_user_tables \
    WHERE relid = 'registration_search'::regclass), false)";

/// The arguments of `regexp_replace(text, ...)` that set every character beyond ASCII of `text`
/// between two unit separators (`\x1f`): to `pg_trgm` a separator is a word break, so a word of
/// two ASCII letters or digits always has ASCII beside it, which lets its trigrams be looked up
/// (`search::pair_regex`). Separating the text and a search word alike keeps the one a part
/// of the other exactly when it was: each character becomes the same string wherever it
/// stands, and the separator stands only around characters beyond ASCII (a unit separator in a
/// name itself is matched like any other separator). A macro, so that [`PG_SEARCH_TEXT`] is
/// built from the same literal.
macro_rules! pg_separate {
    () => {
        r"'([^\x01-\x7f])', E'\x1f\\1\x1f', 'g'"
    };
}

/// [`pg_separate!`] for the search's patterns.
pub(super) const PG_SEPARATE: &str = pg_separate!();

/// What the words of a search are matched against: the searched names and ids joined by line
/// feeds, lower-cased, and every character beyond ASCII set between two unit separators
/// (`\x1f`, see [`PG_SEPARATE`]), word for word the text of migrations
/// `20261213000001_registration_search_copy` and `20261215000001_registration_search_separated`.
/// A word never holds a line feed (words are split at whitespace), so it matches across the
/// joined text exactly when it is part of one of the fields; a search lower-cases and
/// separates its words the same way.
pub(super) const PG_SEARCH_TEXT: &str = concat!(
    "regexp_replace(lower(client_name || E'\\n' || org_name || E'\\n' || \
     coalesce(legal_entity_name, '') || E'\\n' || client_id || E'\\n' || software_key || \
     E'\\n' || org_id || E'\\n' || coalesce(legal_entity_id, '')), ",
    pg_separate!(),
    ")"
);

impl Store {
    /// Copies the searched text of the registrations written since the last time into
    /// PostgreSQL's search copy (nothing to do on SQLite, whose search index follows its list
    /// copy). Waits for another instance doing the same, then copies whatever is still pending:
    /// once it returns, the copy holds every registration committed before the call.
    /// Answers how many pending changes were copied.
    ///
    /// # Errors
    /// Database failures.
    pub async fn sync_search_copy(&self) -> Result<u64, StoreError> {
        let Self::Postgres(pool, ..) = self else {
            return Ok(0);
        };
        // The common case, nothing pending, costs one round trip.
        let (pending,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM registration_search_pending)")
                .fetch_one(pool)
                .await?;
        if !pending {
            return Ok(0);
        }
        // Each chunk under the lock, read after taking it: a copy made by another instance
        // meanwhile is seen, and two instances never write one registration's text in two
        // orders.
        let copy = format!(
            "WITH moved AS (DELETE FROM registration_search_pending WHERE seq IN \
               (SELECT seq FROM registration_search_pending ORDER BY seq LIMIT $1) \
               RETURNING client_id), \
             ids AS (SELECT DISTINCT client_id FROM moved), \
             gone AS (DELETE FROM registration_search s USING ids \
               WHERE s.client_id = ids.client_id \
               AND NOT EXISTS (SELECT 1 FROM registration r WHERE r.client_id = ids.client_id)), \
             copied AS (INSERT INTO registration_search (client_id, words) \
               SELECT client_id, {PG_SEARCH_TEXT} FROM registration JOIN ids USING (client_id) \
               ORDER BY client_id \
               ON CONFLICT (client_id) DO UPDATE SET words = excluded.words) \
             SELECT count(*) FROM moved"
        );
        let mut copied = 0u64;
        loop {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SEARCH_COPY_LOCK)
                .execute(&mut *tx)
                .await?;
            let (moved,): (i64,) = sqlx::query_as(&copy)
                .bind(SEARCH_COPY_CHUNK)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            copied += u64::try_from(moved).unwrap_or(0);
            if moved < SEARCH_COPY_CHUNK {
                break;
            }
        }
        if copied > SEARCH_COPY_MAINTAIN_AFTER {
            // The planner's picture of the words (a word in every row walks the list's order, a
            // rare one is looked up), and the pending rows just deleted, which the next
            // `EXISTS` would otherwise step over until autovacuum came by.
            sqlx::query("ANALYZE registration_search")
                .execute(pool)
                .await?;
            sqlx::query("VACUUM registration_search_pending")
                .execute(pool)
                .await?;
        }
        Ok(copied)
    }

    /// Refreshes the planner's statistics of PostgreSQL's search copy when a tenth of it
    /// changed since they were taken (see [`STATISTICS_STALE`]; nothing to do on SQLite).
    /// PostgreSQL counts the changes with a delay of up to a second. Answers whether it did.
    ///
    /// # Errors
    /// Database failures.
    pub async fn refresh_search_statistics(&self) -> Result<bool, StoreError> {
        let Self::Postgres(pool, ..) = self else {
            return Ok(false);
        };
        let (stale,): (bool,) = sqlx::query_as(STATISTICS_STALE).fetch_one(pool).await?;
        if stale {
            sqlx::query("ANALYZE registration_search")
                .execute(pool)
                .await?;
        }
        Ok(stale)
    }
}
