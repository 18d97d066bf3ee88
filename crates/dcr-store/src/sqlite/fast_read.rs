//! SQLite reads of one registration by client id, on the calling thread.
//!
//! Every management call and token request reads its registration. Through sqlx each read is a
//! hand-off to a connection's worker thread and back, two thread wake-ups that measured as a
//! fifth of the CPU of `GET /register/{id}` (`finish_task_switch` in a profile). A primary-key
//! lookup in a memory-mapped WAL database takes microseconds, so it is done here, on the tokio
//! worker, through a connection of that thread's own (one per worker thread and database).
//!
//! Such a read never waits long: the connection is `query_only` with a 20 ms busy timeout (WAL
//! readers are only ever kept waiting by a concurrent WAL rewind). Any error, that one included,
//! is answered by the caller falling back to the sqlx pool, so this path can only make a read
//! faster, never wrong.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::registrations::{RegistrationRow, SELECT_REGISTRATION};

thread_local! {
    static CONNECTIONS: RefCell<HashMap<Arc<Path>, Connection>> = RefCell::new(HashMap::new());
}

/// The database file whose registrations are read on the calling thread (see the module).
#[derive(Debug, Clone)]
pub struct FastReader {
    path: Arc<Path>,
}

impl FastReader {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path: path.into() }
    }

    /// The registration row with this client id, or `None`.
    pub(crate) fn registration(
        &self,
        client_id: &str,
    ) -> Result<Option<RegistrationRow>, rusqlite::Error> {
        CONNECTIONS.with(|cell| {
            let mut conns = cell.try_borrow_mut().map_err(|_| {
                rusqlite::Error::InvalidParameterName("fast read re-entered".into())
            })?;
            let conn = match conns.get(&self.path) {
                Some(c) => c,
                None => {
                    let c = open(&self.path)?;
                    conns.entry(self.path.clone()).or_insert(c)
                }
            };
            let mut stmt = conn.prepare_cached(&SELECT_REGISTRATION)?;
            stmt.query_row([client_id], RegistrationRow::from_sqlite_row)
                .optional()
        })
    }

    /// Closes this thread's connection to the database (the others close with their threads).
    pub(crate) fn forget(&self) {
        CONNECTIONS.with(|cell| {
            if let Ok(mut conns) = cell.try_borrow_mut() {
                conns.remove(&self.path);
            }
        });
    }
}

fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_millis(20))?;
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "mmap_size", super::MMAP_SIZE)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewAuditEvent, Registration, RegistrationStatus, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_what_the_pool_reads_and_fails_over_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dcr.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let reg = Registration {
            legal_entity_name: Some("LE".into()),
            updated_at: 8,
            ..Registration::example("fast-1", "SW-FAST", 7)
        };
        let audit = NewAuditEvent {
            occurred_at: 7,
            actor: "test".into(),
            action: "registration.create".into(),
            ..Default::default()
        };
        store.create_registration(&reg, None, &audit).await.unwrap();

        let fast = FastReader::new(path.clone());
        let row = fast.registration("fast-1").unwrap().unwrap();
        // The whole map was granted: SQLite clamps `mmap_size` to its compile-time limit,
        // 2 GiB unless `.cargo/config.toml` raised it.
        let mapped: i64 = open(&path)
            .unwrap()
            .query_row("PRAGMA mmap_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mapped, super::super::MMAP_SIZE);
        // The read pool maps nothing (see `MMAP_SIZE`).
        let Store::Sqlite(reader, ..) = &store else {
            unreachable!("a SQLite store")
        };
        let (pool_mapped,): (i64,) = sqlx::query_as("PRAGMA mmap_size")
            .fetch_one(reader)
            .await
            .unwrap();
        assert_eq!(pool_mapped, 0);
        assert_eq!(Registration::try_from(row).unwrap(), reg);
        assert!(fast.registration("nope").unwrap().is_none());
        // A committed change is seen at once (each read is its own snapshot).
        store
            .set_registration_status(
                "fast-1",
                &[RegistrationStatus::Active],
                RegistrationStatus::Revoked,
                Some("test"),
                9,
                &audit,
            )
            .await
            .unwrap();
        let row = fast.registration("fast-1").unwrap().unwrap();
        assert_eq!(
            Registration::try_from(row).unwrap().status,
            RegistrationStatus::Revoked
        );
        // A missing file is an error (the store then reads through its pool), never created.
        let missing = FastReader::new(dir.path().join("missing.db"));
        assert!(missing.registration("fast-1").is_err());
        assert!(!dir.path().join("missing.db").exists());
        store.close().await;
    }
}
