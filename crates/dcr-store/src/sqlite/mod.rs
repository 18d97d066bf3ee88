//! The SQLite backend's own machinery: the connection settings, the group commit of the hot
//! writes (`writer` hands batches to `batch`, which runs them on a rusqlite connection), the WAL
//! checkpointer, and reads of one registration on the calling thread (`fast_read`).

mod batch;
mod fast_read;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub(crate) use fast_read::FastReader;
pub(crate) use writer::wal_bytes;
pub(crate) use writer::{Job, SqliteWriter};

use crate::{Store, StoreError};

/// The memory map of the writer's connections and of the API's point reads (`fast_read`): the
/// whole file up to 64 GiB (`PRAGMA mmap_size`). A store of a million registrations is about
/// 11 GB, and its newest rows, the ones read most, sit at the end of the file: past a smaller map
/// each page of a read is a `pread` into the connection's page cache instead of a load from the
/// map (measured in docs/benchmarks.md, "At scale"). SQLite caps the map at
/// `SQLITE_MAX_MMAP_SIZE`, a compile-time limit of 2 GiB by default, which `.cargo/config.toml`
/// raises to the same 64 GiB for the bundled SQLite. The map's pages are the file's own page
/// cache, shared by every connection and given back by the kernel under memory pressure; they
/// count as the process's `RssFile`, not its heap.
///
/// The read pool maps nothing: SQLite drops a connection's whole map when it begins a read after
/// another connection committed, so a read that touched many pages (a portal search) made the
/// next statement on its connection unmap them and the reads after it fault them in again
/// (docs/decisions.md "SQLite: the portal reads through `pread`").
pub(crate) const MMAP_SIZE: i64 = 64 << 30;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The database holds registrations, administrators' password hashes and session ids, so only
/// its owner may read it: a new file is created with mode 0600 (SQLite gives its `-wal` and
/// `-shm` files the database file's permissions), and an existing database, WAL or shared-memory
/// file that others can read or write is set to 0600, with a warning.
#[cfg(unix)]
fn owner_only(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if !path.exists() {
        return std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map(drop);
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "the SQLite file could be read by others; its mode is now 600");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

/// Opens the read pool and the single-connection write pool on the file `url` names, runs the
/// migrations and starts the writer and the checkpointer.
pub(crate) async fn connect(url: &str) -> Result<Store, StoreError> {
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Memory-mapped reads. (A large `cache_size` was tried and measured slower:
        // SQLite walks the page cache's hash table at every commit.)
        .pragma("mmap_size", MMAP_SIZE.to_string())
        .pragma("temp_store", "memory")
        // No checkpoint on the writer's commit path: `checkpointer` runs them beside it.
        .pragma("wal_autocheckpoint", "0")
        // A rewound WAL keeps up to this much of its file, reused without reallocation.
        .pragma("journal_size_limit", "67108864");
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::BadUrl(
            "an in-memory SQLite database cannot be shared by the read and write pools; use a file"
                .into(),
        ));
    }
    let opts_path = opts.get_filename().to_path_buf();
    owner_only(&opts_path).map_err(sqlx::Error::Io)?;
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts.clone())
        .await?;
    MIGRATOR.run(&writer).await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        // The pool's reads go through `pread` (see `MMAP_SIZE`).
        .connect_with(opts.pragma("mmap_size", "0"))
        .await?;
    let batcher = SqliteWriter::start(opts_path.clone()).map_err(sqlx::Error::Io)?;
    tokio::spawn(writer::checkpointer(reader.clone()));
    let fast = FastReader::new(opts_path);
    Ok(Store::Sqlite(reader, writer, batcher, fast))
}
