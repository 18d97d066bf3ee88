//! The portal's overview (docs/portal.md "Overview"): counts kept up to date as the data
//! changes, so that the page reads a few hundred rows at any size of store.
//!
//! * `registration_count` holds the registrations by status, and `stat_bucket` the
//!   registrations created per quarter hour; triggers keep both (migration
//!   `20261209000001_overview_counts`: on PostgreSQL through deltas that
//!   [`Store::fold_counts`] folds in, so that concurrent writers share no counter row).
//! * `stat_bucket` also holds what the server counts itself, added with
//!   [`Store::add_stat_counts`]: rejected registrations by error code, token requests by
//!   outcome.
//! * Registrations the Register reports inactive are counted through their partial index, and
//!   the recent administrator actions are read through the audit log's action index, a few rows
//!   per action.

use crate::{dispatch, in_tx, AuditEvent, StatusFilter, Store, StoreError};

/// Seconds in one of `stat_bucket`'s buckets: a quarter hour, fine enough for the day boundary
/// of every time zone.
pub const STAT_BUCKET_SECS: i64 = 900;

/// A count in one quarter hour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatCount {
    /// The quarter hour: Unix seconds / [`STAT_BUCKET_SECS`].
    pub bucket: i64,
    /// What was counted (for example `registration.created`).
    pub name: String,
    /// A detail of it (for example an error code), or empty.
    pub label: String,
    /// How many.
    pub n: i64,
}

/// A day's sum of one count ([`Store::stat_counts_by_day`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayCount {
    /// The day: its index in the range asked for.
    pub day: i64,
    /// What was counted.
    pub name: String,
    /// A detail of it, or empty.
    pub label: String,
    /// The day's sum.
    pub n: i64,
}

/// Most days [`Store::stat_counts_by_day`] adds up at once.
pub const MAX_DAYS: usize = 100;

/// The stored name of what was counted.
pub mod stat {
    /// A registration was stored (counted by the store itself).
    pub const REGISTRATION_CREATED: &str = "registration.created";
    /// `POST /register` was refused; the label is the error code.
    pub const REGISTRATION_REJECTED: &str = "registration.rejected";
    /// The token endpoint issued a token.
    pub const TOKEN_ISSUED: &str = "token.issued";
    /// The token endpoint refused; the label is the error code.
    pub const TOKEN_REFUSED: &str = "token.refused";
}

/// The advisory lock under which PostgreSQL's count deltas are folded ("dcr-fold").
const FOLD_LOCK: i64 = 0x6463_722d_666f_6c64;

/// After folding more deltas than this, [`Store::fold_counts`] vacuums their table.
const FOLD_VACUUM_AFTER: i64 = 10_000;

/// How many recent administrator actions [`Store::recent_admin_actions`] reads at most.
pub const RECENT_ACTIONS_MAX: usize = 50;

impl Store {
    /// Folds the changes not yet counted into the counts (PostgreSQL: its trigger appends
    /// deltas, see migration `20261209000001_overview_counts`; SQLite counts at once). One
    /// instance folds at a time (a transaction-scoped advisory lock; another that finds it
    /// taken leaves the work to it). Answers how many deltas were folded.
    ///
    /// # Errors
    /// Database failures.
    pub async fn fold_counts(&self) -> Result<u64, StoreError> {
        let Self::Postgres(pool, ..) = self else {
            return Ok(0);
        };
        let mut tx = pool.begin().await?;
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
            .bind(FOLD_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(0);
        }
        let (folded,): (i64,) = sqlx::query_as(
            "WITH moved AS (DELETE FROM registration_count_delta RETURNING status, n, bucket), \
             by_status AS (INSERT INTO registration_count (status, n) \
               SELECT status, sum(n) FROM moved GROUP BY status ORDER BY status \
               ON CONFLICT (status) DO UPDATE SET n = registration_count.n + excluded.n), \
             created AS (INSERT INTO stat_bucket (bucket, name, label, n) \
               SELECT bucket, 'registration.created', '', sum(n) FROM moved \
               WHERE bucket IS NOT NULL GROUP BY bucket ORDER BY bucket \
               ON CONFLICT (bucket, name, label) DO UPDATE SET n = stat_bucket.n + excluded.n) \
             SELECT count(*) FROM moved",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if folded > FOLD_VACUUM_AFTER {
            // The rows just deleted stay in the table's pages until a vacuum; every list count
            // reads the deltas (module `registrations::search`), so that a burst of writes would
            // slow the list until autovacuum came by.
            sqlx::query("VACUUM registration_count_delta")
                .execute(pool)
                .await?;
        }
        Ok(u64::try_from(folded).unwrap_or(0))
    }

    /// Registrations by status (`active`, `revoked`, ...), as kept by the store's triggers.
    /// Statuses with none are left out.
    ///
    /// # Errors
    /// Database failures.
    pub async fn registration_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        // SQLite counts what its list copy holds: bring the copy up to date first.
        self.sync_registration_list().await?;
        let rows: Vec<(String, i64)> = dispatch!(self, pool => {
            sqlx::query_as("SELECT status, n FROM registration_count WHERE n <> 0 ORDER BY status")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// How many registrations are active here while the Register reports their software
    /// product or recipient as not active (the list's "inactive at the Register" filter),
    /// counted through that filter's partial index.
    ///
    /// # Errors
    /// Database failures.
    pub async fn register_disagreements(&self) -> Result<i64, StoreError> {
        let table = match self {
            Self::Sqlite(..) => "registration_list INDEXED BY registration_inactive_idx",
            Self::Postgres(..) => "registration",
        };
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE {}",
            StatusFilter::Inactive.sql()
        );
        let (n,): (i64,) = dispatch!(self, pool => {
            sqlx::query_as(&sql).fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// The counts of the quarter hours from `from` (inclusive) to `until` (exclusive), both
    /// bucket numbers, in no particular order.
    ///
    /// # Errors
    /// Database failures.
    pub async fn stat_counts(&self, from: i64, until: i64) -> Result<Vec<StatCount>, StoreError> {
        let rows: Vec<StatCount> = dispatch!(self, pool => {
            sqlx::query_as(
                "SELECT bucket, name, label, n FROM stat_bucket WHERE bucket >= $1 AND bucket < $2",
            )
            .bind(from)
            .bind(until)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The counts of each day of a range, added up by the database: `bounds` are the buckets
    /// where the days begin, then the end of the last one (so `n + 1` bounds for `n` days; at
    /// most [`MAX_DAYS`] days). Each row is (day index into the range, name, label, sum).
    /// The days need not be 96 quarter hours long (a day of a daylight saving change is not).
    ///
    /// # Errors
    /// Database failures.
    pub async fn stat_counts_by_day(&self, bounds: &[i64]) -> Result<Vec<DayCount>, StoreError> {
        if bounds.len() < 2 {
            return Ok(Vec::new());
        }
        let bounds = &bounds[..bounds.len().min(MAX_DAYS + 1)];
        // The bounds are integers computed by the caller: written into the statement as
        // numbers (no text from outside reaches it), one row per day.
        let days: Vec<String> = bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| format!("({i}, {}, {})", w[0], w[1]))
            .collect();
        let sql = format!(
            "WITH d(i, lo, hi) AS (VALUES {}) \
             SELECT CAST(d.i AS BIGINT) AS day, s.name, s.label, CAST(sum(s.n) AS BIGINT) AS n FROM d \
             JOIN stat_bucket s ON s.bucket >= d.lo AND s.bucket < d.hi \
             GROUP BY d.i, s.name, s.label",
            days.join(", ")
        );
        let rows: Vec<DayCount> = dispatch!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Adds counts to the quarter hours' (several server instances each add their own).
    ///
    /// # Errors
    /// Database failures: nothing is added then.
    pub async fn add_stat_counts(&self, counts: &[StatCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        in_tx!(self, tx => {
            for c in counts {
                sqlx::query(
                    "INSERT INTO stat_bucket (bucket, name, label, n) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (bucket, name, label) DO UPDATE SET n = stat_bucket.n + excluded.n",
                )
                .bind(c.bucket)
                .bind(&c.name)
                .bind(&c.label)
                .bind(c.n)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<(), StoreError>(())
        })
    }

    /// The latest `limit` (at most [`RECENT_ACTIONS_MAX`]) audit events of the actions that
    /// administrators take (`dcr_audit::Action::ADMINISTRATION`), newest first: a few rows read
    /// from each action's index, whatever the size of the log.
    ///
    /// # Errors
    /// Database failures.
    pub async fn recent_admin_actions(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = limit.clamp(1, RECENT_ACTIONS_MAX);
        const COLUMNS: &str =
            "audit_event_id, occurred_at, actor, action, client_id, software_id, \
                               reason, before_state, after_state";
        // One index range per action (each `$n` is an action name, bound below), merged.
        let parts: Vec<String> = (1..=dcr_audit::Action::ADMINISTRATION.len())
            .map(|i| {
                format!(
                    "SELECT * FROM (SELECT {COLUMNS} FROM audit_event WHERE action = ${i} \
                     ORDER BY audit_event_id DESC LIMIT {limit}) AS a{i}"
                )
            })
            .collect();
        let sql = format!(
            "SELECT * FROM ({}) AS recent ORDER BY audit_event_id DESC LIMIT {limit}",
            parts.join(" UNION ALL ")
        );
        let rows: Vec<AuditEvent> = dispatch!(self, pool => {
            // Planned with its action names each time (an unnamed statement): PostgreSQL's
            // generic plan of a prepared statement, made after five runs, guesses that every
            // action is common and walks the whole log backwards for the rare ones (14 s at ten
            // million events, measured).
            let mut q = sqlx::query_as(&sql).persistent(false);
            for a in dcr_audit::Action::ADMINISTRATION {
                q = q.bind(a.as_str());
            }
            q.fetch_all(pool).await
        })?;
        Ok(rows)
    }
}
