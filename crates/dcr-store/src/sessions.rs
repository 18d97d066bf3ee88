//! The portal's sign-in sessions: an opaque JSON record per session id, with its expiry, and
//! what the portal shows of it (whose it is, since when, from where, with what browser, last
//! used). Expired sessions are purged with the used `jti`s ([`Store::purge_expired`]).

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
        meta: &SessionMeta,
    ) -> Result<bool, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query(
                "INSERT INTO session (session_id, data, expires_at, admin_username, signed_in_at, \
                 last_seen_at, address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .bind(&meta.admin_username)
            .bind(meta.signed_in_at)
            .bind(meta.last_seen_at)
            .bind(&meta.address)
            .bind(&meta.user_agent)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
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
        meta: &SessionMeta,
    ) -> Result<bool, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE session SET data = $2, expires_at = $3, admin_username = $4, \
                 signed_in_at = $5, last_seen_at = $6, address = $7, user_agent = $8 \
                 WHERE session_id = $1",
            )
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .bind(&meta.admin_username)
            .bind(meta.signed_in_at)
            .bind(meta.last_seen_at)
            .bind(&meta.address)
            .bind(&meta.user_agent)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The unexpired sessions of an administrator, the most recently used first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn sessions_of(
        &self,
        username: &str,
        now: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows: Vec<SessionInfo> = dispatch!(self, pool => {
            sqlx::query_as(
                "SELECT session_id AS key, signed_in_at, last_seen_at, address, user_agent, \
                 expires_at FROM session WHERE admin_username = $1 AND expires_at > $2 \
                 ORDER BY last_seen_at DESC, session_id",
            )
            .bind(username)
            .bind(now)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Ends an administrator's sessions: the one stored under `key`, or all of them but
    /// `except` (the stored keys, as [`SessionInfo::key`]). Answers how many ended.
    ///
    /// # Errors
    /// Database failures.
    pub async fn end_sessions_of(
        &self,
        username: &str,
        which: EndSessions<'_>,
    ) -> Result<u64, StoreError> {
        let n = dispatch_write!(self, pool => {
            match which {
                EndSessions::One(key) => sqlx::query(
                    "DELETE FROM session WHERE admin_username = $1 AND session_id = $2",
                )
                .bind(username)
                .bind(key),
                EndSessions::AllBut(except) => sqlx::query(
                    "DELETE FROM session WHERE admin_username = $1 \
                     AND ($2 IS NULL OR session_id <> $2)",
                )
                .bind(username)
                .bind(except),
            }
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
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

/// What the portal shows of a session, written with its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMeta {
    /// The signed-in administrator, if any.
    pub admin_username: Option<String>,
    /// When they signed in.
    pub signed_in_at: Option<i64>,
    /// When the session was last used (saved).
    pub last_seen_at: i64,
    /// The address they signed in from.
    pub address: Option<String>,
    /// The browser's `User-Agent` at sign-in (at most 256 characters).
    pub user_agent: Option<String>,
}

/// A signed-in session, as its administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionInfo {
    /// The key it is stored under (a hash of its id, which is never stored): names it to end
    /// it, and cannot be turned back into the cookie.
    pub key: String,
    /// Signed in.
    pub signed_in_at: Option<i64>,
    /// Last used.
    pub last_seen_at: Option<i64>,
    /// From where.
    pub address: Option<String>,
    /// With what browser.
    pub user_agent: Option<String>,
    /// Ends (idle timeout) unless used.
    pub expires_at: i64,
}

/// Which of an administrator's sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum EndSessions<'a> {
    /// The one stored under this key.
    One(&'a str),
    /// Every one but this key (none: every one).
    AllBut(Option<&'a str>),
}
