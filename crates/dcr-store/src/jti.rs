//! Replay protection: the JWT ids (`jti`) already used, each kept until its JWT expires.
//!
//! On SQLite a `jti` used on its own goes through the group commit (see `sqlite`); one consumed
//! with a registration change is written in that change's transaction.

use crate::{dispatch_write, Store, StoreError};

/// Records a used `jti`; a replay changes nothing (the caller reads the rows affected).
pub(crate) const USE_JTI: &str =
    "INSERT INTO used_jti (jti_key, expires_at) VALUES ($1, $2) ON CONFLICT (jti_key) DO NOTHING";

/// Consumes a `jti` together with a change: a replay fails the change ([`crate::Conflict::JtiUsed`]).
pub(crate) const CONSUME_JTI: &str = "INSERT INTO used_jti (jti_key, expires_at) VALUES ($1, $2)";

/// A JWT id to consume together with a change.
#[derive(Debug, Clone)]
pub struct UsedJti {
    /// Namespaced key, e.g. `reg:<software_id>:<jti>`.
    pub key: String,
    /// When the JWT expires (after which the entry may be purged).
    pub expires_at: i64,
}

impl Store {
    /// Records a JWT id as used until `expires_at`. Returns `false` when it was already used
    /// (a replay). Expired entries are purged opportunistically by [`Store::purge_expired`].
    ///
    /// # Errors
    /// Database failures.
    pub async fn use_jti(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        if let Self::Sqlite(_, _, batcher, _) = self {
            let (reply, answer) = tokio::sync::oneshot::channel();
            batcher
                .submit(crate::sqlite::Job::UseJti {
                    key: key.to_string(),
                    expires_at,
                    reply,
                })
                .await?;
            return answer
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        }
        let done = dispatch_write!(self, pool => {
            sqlx::query(USE_JTI)
                .bind(key)
                .bind(expires_at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Deletes used `jti`s and sessions that expired before `now`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let n = dispatch_write!(self, pool => {
            let a = sqlx::query("DELETE FROM used_jti WHERE expires_at < $1").bind(now).execute(pool).await?;
            let b = sqlx::query("DELETE FROM session WHERE expires_at < $1").bind(now).execute(pool).await?;
            Ok::<u64, sqlx::Error>(a.rows_affected() + b.rows_affected())
        })?;
        Ok(n)
    }
}
