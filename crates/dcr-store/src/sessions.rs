//! The portal's sign-in sessions: an opaque JSON record per session id, with its expiry.
//! Expired sessions are purged with the used `jti`s ([`Store::purge_expired`]).

use crate::{dispatch, dispatch_write, Store, StoreError};

impl Store {
    /// Loads a session record's JSON if it has not expired.
    ///
    /// # Errors
    /// Database failures.
    pub async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = dispatch!(self, pool => {
            sqlx::query_as("SELECT data FROM session WHERE session_id = $1 AND expires_at > $2")
                .bind(id)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|r| r.0))
    }

    /// Inserts a session if its id is free; returns false on an id collision.
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_session(
        &self,
        id: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query("INSERT INTO session (session_id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (session_id) DO NOTHING")
                .bind(id).bind(data).bind(expires_at).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Updates an existing session; returns false when there is none. Never creates one, so a
    /// request that was in flight when its session was deleted (sign-out, revocation) cannot
    /// bring it back by saving.
    ///
    /// # Errors
    /// Database failures.
    pub async fn save_session(
        &self,
        id: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query("UPDATE session SET data = $2, expires_at = $3 WHERE session_id = $1")
                .bind(id).bind(data).bind(expires_at).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Deletes a session.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query("DELETE FROM session WHERE session_id = $1").bind(id).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }
}
