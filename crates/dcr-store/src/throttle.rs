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

/// The outcome of [`Store::reserve_login_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt may go ahead; it already counts as a failure. `failures` is the count in the
    /// current window including it; `locked_until` is set when it used the last allowed try.
    Allowed {
        /// Failures in the window, this attempt included.
        failures: i64,
        /// The lock this attempt set, if it was the last allowed one.
        locked_until: Option<i64>,
    },
    /// The key is locked until then: the attempt must not go ahead.
    Refused {
        /// End of the lock.
        until: i64,
    },
}

impl Store {
    /// Reserves one attempt for `key`: counts it as a failure before the password is checked,
    /// and refuses it when the key is locked. One statement, so concurrent attempts on any
    /// number of instances get exactly the policy's number of tries between them. The attempt
    /// that uses the last try locks the key; a success or an abandoned attempt gives its slot
    /// back with [`Store::release_login_attempt`] (or clears the key).
    ///
    /// # Errors
    /// Database failures.
    pub async fn reserve_login_attempt(
        &self,
        key: &str,
        now: i64,
        policy: ThrottlePolicy,
    ) -> Result<Attempt, StoreError> {
        let row: Option<(i64, Option<i64>)> = dispatch_write!(self, pool => {
            sqlx::query_as(
                "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) \
                 VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $2 + $5 ELSE NULL END) \
                 ON CONFLICT (throttle_key) DO UPDATE SET \
                 failures = CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 \
                     ELSE login_throttle.failures + 1 END, \
                 window_start = CASE WHEN login_throttle.window_start <= $2 - $3 THEN $2 \
                     ELSE login_throttle.window_start END, \
                 locked_until = CASE WHEN (CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 \
                     ELSE login_throttle.failures + 1 END) >= $4 THEN $2 + $5 ELSE NULL END \
                 WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2 \
                 RETURNING failures, locked_until",
            )
            .bind(key)
            .bind(now)
            .bind(policy.window_secs)
            .bind(policy.max_failures)
            .bind(policy.lockout_secs)
            .fetch_optional(pool)
            .await
        })?;
        if let Some((failures, locked_until)) = row {
            return Ok(Attempt::Allowed {
                failures,
                locked_until: locked_until.filter(|t| *t > now),
            });
        }
        let until: Option<(Option<i64>,)> = dispatch!(self, pool => {
            sqlx::query_as("SELECT locked_until FROM login_throttle WHERE throttle_key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(Attempt::Refused {
            until: until.and_then(|(t,)| t).unwrap_or(now),
        })
    }

    /// Gives back one attempt reserved for `key` (it succeeded, or it was never judged),
    /// lifting the lock it may have set when that leaves the count under the policy's limit.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release_login_attempt(
        &self,
        key: &str,
        policy: ThrottlePolicy,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE login_throttle SET failures = failures - 1, \
                 locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
                 WHERE throttle_key = $1 AND failures > 0",
            )
            .bind(key)
            .bind(policy.max_failures)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
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
