//! tower-sessions records kept in the store, so that portal sessions survive a restart and are
//! shared by every instance on the same database.
//!
//! A record's expiry is computed here from the server's clock (now plus the idle timeout) and
//! checked against the same clock, rather than taken from the wall-clock expiry tower-sessions
//! puts in the record: the idle and absolute timeouts then follow one clock, the one tests
//! drive.
//!
//! Sessions are stored under the SHA-256 of their id, never the id itself, and a save only
//! updates an existing row: a request still in flight when its session is deleted (sign-out,
//! revocation by a password change) cannot bring the session back.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use app::ssr::{SESSION_ADDRESS, SESSION_ADMIN, SESSION_SIGNED_IN_AT, SESSION_USER_AGENT};
use dcr_core::clock::SharedClock;

/// A [`SessionStore`] over [`dcr_store::Store`].
#[derive(Clone)]
pub struct StoreSessions {
    store: dcr_store::Store,
    clock: SharedClock,
    idle_secs: i64,
}

impl std::fmt::Debug for StoreSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSessions")
    }
}

impl StoreSessions {
    /// Wraps the store; a session not used for `idle_secs` expires.
    #[must_use]
    pub fn new(store: dcr_store::Store, clock: SharedClock, idle_secs: i64) -> Self {
        Self {
            store,
            clock,
            idle_secs,
        }
    }

    /// When a record saved now expires.
    fn expires_at(&self) -> i64 {
        self.clock.now().saturating_add(self.idle_secs)
    }
}

/// The key a session is stored under: the SHA-256 of its id (base64url), so that whoever reads
/// the session table cannot use what they read as a cookie.
pub fn stored_key(id: &Id) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(id.to_string().as_bytes()))
}

/// What the portal shows of the session in `record` (the values sign-in put in it), used now.
fn meta(record: &Record, now: i64) -> dcr_store::SessionMeta {
    let text = |key: &str| {
        record
            .data
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    dcr_store::SessionMeta {
        admin_username: text(SESSION_ADMIN),
        signed_in_at: record
            .data
            .get(SESSION_SIGNED_IN_AT)
            .and_then(serde_json::Value::as_i64),
        last_seen_at: now,
        address: text(SESSION_ADDRESS),
        user_agent: text(SESSION_USER_AGENT),
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for StoreSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data = serde_json::to_string(&record)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?;
            let created = self
                .store
                .create_session(
                    &stored_key(&record.id),
                    &data,
                    self.expires_at(),
                    &meta(record, self.clock.now()),
                )
                .await
                .map_err(backend)?;
            if created {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let saved = self
            .store
            .save_session(
                &stored_key(&record.id),
                &data,
                self.expires_at(),
                &meta(record, self.clock.now()),
            )
            .await
            .map_err(backend)?;
        if !saved {
            tracing::debug!("a session deleted while a request was using it stays deleted");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = self
            .store
            .load_session(&stored_key(id), self.clock.now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        serde_json::from_str(&data)
            .map(Some)
            .map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .delete_session(&stored_key(id))
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dcr_core::clock::MockClock;

    use super::*;

    async fn sessions() -> (StoreSessions, dcr_store::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = dcr_store::Store::connect(&url).await.unwrap();
        let clock: SharedClock = Arc::new(MockClock::new(1_000));
        (StoreSessions::new(store.clone(), clock, 600), store, dir)
    }

    fn record() -> Record {
        Record {
            id: Id::default(),
            data: std::collections::HashMap::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    }

    #[tokio::test]
    async fn a_session_is_stored_under_the_hash_of_its_id() {
        let (sessions, store, _dir) = sessions().await;
        let mut r = record();
        sessions.create(&mut r).await.unwrap();
        assert!(sessions.load(&r.id).await.unwrap().is_some());
        assert_eq!(
            store.load_session(&r.id.to_string(), 1_000).await.unwrap(),
            None,
            "the id itself is not a key of the table"
        );
        assert!(store
            .load_session(&stored_key(&r.id), 1_000)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn a_deleted_session_stays_deleted_when_a_late_request_saves_it() {
        let (sessions, _store, _dir) = sessions().await;
        let mut r = record();
        sessions.create(&mut r).await.unwrap();
        // Sign-out deletes the session while another request of the same session is running;
        // that request ends by saving the record it loaded.
        sessions.delete(&r.id).await.unwrap();
        sessions.save(&r).await.unwrap();
        assert!(
            sessions.load(&r.id).await.unwrap().is_none(),
            "the save did not bring the session back"
        );
    }
}
