//! tower-sessions records kept in the store, so that portal sessions survive a restart and are
//! shared by every instance on the same database.
//!
//! A record's expiry is computed here from the server's clock (now plus the idle timeout) and
//! checked against the same clock, rather than taken from the wall-clock expiry tower-sessions
//! puts in the record: the idle and absolute timeouts then follow one clock, the one tests
//! drive.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

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
                .create_session(&record.id.to_string(), &data, self.expires_at())
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
        self.store
            .save_session(&record.id.to_string(), &data, self.expires_at())
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = self
            .store
            .load_session(&id.to_string(), self.clock.now())
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
            .delete_session(&id.to_string())
            .await
            .map_err(backend)
    }
}
