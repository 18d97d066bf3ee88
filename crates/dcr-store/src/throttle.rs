//! Sign-in throttling shared by every instance: failures counted per key (an account, an
//! address) in a window, and a lock once they reach the policy's limit.

use crate::{dispatch, dispatch_write, Store, StoreError};

/// Limits of sign-in throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed within the window before the key is locked.
    pub max_failures: i64,
    /// Length of the counting window, seconds.
    pub window_secs: i64,
    /// How long a lock lasts, seconds.
    pub lockout_secs: i64,
}

impl Store {
    /// The latest time until which any of `keys` is locked, if one is locked at `now`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn login_locked_until(
        &self,
        keys: &[&str],
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut until = None;
        for key in keys {
            let row: Option<(Option<i64>,)> = dispatch!(self, pool => {
                sqlx::query_as(
                    "SELECT locked_until FROM login_throttle WHERE throttle_key = $1 AND locked_until > $2",
                )
                .bind(*key)
                .bind(now)
                .fetch_optional(pool)
                .await
            })?;
            if let Some((Some(t),)) = row {
                until = until.max(Some(t));
            }
        }
        Ok(until)
    }

    /// Counts a failed sign-in against `key`, starting a new window when the last one is over,
    /// and locks the key when the count reaches the policy's limit. Atomic (one statement), so
    /// concurrent failures on several instances are all counted. Returns the lock's end when
    /// the key is locked after this failure.
    ///
    /// # Errors
    /// Database failures.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: i64,
        policy: ThrottlePolicy,
    ) -> Result<Option<i64>, StoreError> {
        let row: (i64, Option<i64>) = dispatch_write!(self, pool => {
            sqlx::query_as(
                "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) \
                 VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $2 + $5 ELSE NULL END) \
                 ON CONFLICT (throttle_key) DO UPDATE SET \
                 failures = CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 \
                     ELSE login_throttle.failures + 1 END, \
                 window_start = CASE WHEN login_throttle.window_start <= $2 - $3 THEN $2 \
                     ELSE login_throttle.window_start END, \
                 locked_until = CASE WHEN (CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 \
                     ELSE login_throttle.failures + 1 END) >= $4 THEN $2 + $5 \
                     ELSE login_throttle.locked_until END \
                 RETURNING failures, locked_until",
            )
            .bind(key)
            .bind(now)
            .bind(policy.window_secs)
            .bind(policy.max_failures)
            .bind(policy.lockout_secs)
            .fetch_one(pool)
            .await
        })?;
        Ok(row.1.filter(|t| *t > now))
    }

    /// Forgets the failures counted against `key` (after a successful sign-in).
    ///
    /// # Errors
    /// Database failures.
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes throttle entries whose window started before `window_before` and that are not
    /// locked at `now`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn purge_login_throttle(
        &self,
        window_before: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query(
                "DELETE FROM login_throttle WHERE window_start < $1 \
                 AND (locked_until IS NULL OR locked_until <= $2)",
            )
            .bind(window_before)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
