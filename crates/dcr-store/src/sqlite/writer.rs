//! Group commit for SQLite's hot writes (registrations, used `jti`s).
//!
//! SQLite has one writer. Committing each registration on its own costs a WAL append of every
//! page it touched (the row, each index, the audit row, the `jti`) and, every thousand pages, a
//! checkpoint with an fsync: measured here, that serialised cost (not CPU) capped registrations
//! at about 1,400/s with the CPU half idle. This task takes the writes that queue up while one
//! batch commits and runs the next batch in one transaction (on a blocking thread with a
//! connection of its own, `batch`), each write inside its own `SAVEPOINT`, so a failing
//! write (a duplicate `software_id`, a replayed `jti`) is rolled back
//! alone and answered with its own error while the others commit. Every caller still gets its
//! answer only after its write is durable in the same sense as before (committed in WAL mode).
//!
//! The same task keeps `registration_list` (the portal's narrow copy with the list and search
//! indexes, see migration `20261201000002_registration_list`) up to date: it copies new
//! registrations there in bulk when no write is waiting (or, under a steady stream of writes,
//! a chunk between two batches from [`MAX_LAG`] on), and at once when a reader asks
//! ([`Job::SyncList`]).

use std::path::PathBuf;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::{NewAuditEvent, Registration, StoreError, UsedJti};

/// Most writes in one transaction.
const MAX_BATCH: usize = 128;

/// How long the queue must stay empty before new registrations are copied to the list.
const IDLE: Duration = Duration::from_millis(50);

/// Under a steady stream of writes, copying starts at the latest this long after the first
/// registration not yet copied, a chunk between two batches. (Until then a flood of
/// registrations pays nothing for the list; a list query never waits for this, it asks.)
const MAX_LAG: Duration = Duration::from_secs(30);

/// Most registrations copied to the list in one transaction between two batches of writes.
const LIST_CHUNK: i64 = 256;

/// Most registrations copied in one transaction when the writer is idle or a reader waits.
const LIST_CHUNK_IDLE: i64 = 2048;

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// WAL frames (4 KiB pages) beyond which the checkpointer makes the WAL rewind: 128 MiB (at
/// 32 MiB the rewinds, a short stall of the writer each, showed in the p99 of registrations).
const RESTART_FRAMES: i64 = 32768;

/// A write to run in a batch.
pub(crate) enum Job {
    /// Create a registration, consuming a `jti`, with its audit event.
    CreateRegistration {
        reg: Box<Registration>,
        jti: Option<UsedJti>,
        audit: Box<NewAuditEvent>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Record a used `jti`; answers whether it was fresh.
    UseJti {
        key: String,
        expires_at: i64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Bring `registration_list` up to date with every committed registration, then answer.
    SyncList {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// Handle on the batching task; cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteWriter {
    tx: mpsc::Sender<Job>,
}

impl SqliteWriter {
    /// Starts the batching task: batches run on a connection of their own to the database file
    /// at `path` (see `batch`), or on the single-connection write pool if that cannot
    /// be opened.
    pub(crate) fn start(pool: SqlitePool, path: PathBuf) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(pool, path, rx));
        Self { tx }
    }

    pub(crate) async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.tx
            .send(job)
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))
    }
}

/// Runs a batch on the batch connection, on a blocking thread that answers every job. The
/// connection is opened again for the next batch if it could not be (every job of this one
/// then gets the error).
async fn write(path: &std::path::Path, conn: &mut Option<rusqlite::Connection>, writes: Vec<Job>) {
    let mut c = match conn.take() {
        Some(c) => c,
        None => match super::batch::open(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "SQLite batch connection could not be opened");
                let msg = e.to_string();
                for job in writes {
                    fail(
                        job,
                        StoreError::Database(sqlx::Error::Protocol(msg.clone())),
                    );
                }
                return;
            }
        },
    };
    match tokio::task::spawn_blocking(move || {
        super::batch::run(&mut c, writes);
        c
    })
    .await
    {
        Ok(c) => *conn = Some(c),
        // The jobs' reply senders were dropped with the thread: their callers get an error.
        Err(e) => tracing::error!(error = %e, "SQLite write batch panicked"),
    }
}

async fn run(pool: SqlitePool, path: PathBuf, mut rx: mpsc::Receiver<Job>) {
    let mut conn: Option<rusqlite::Connection> = None;
    // Registrations may have been committed but not copied when the process last stopped.
    let mut behind = true;
    let mut behind_since = Instant::now();
    loop {
        let first = if behind {
            match tokio::time::timeout(IDLE, rx.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(_) => {
                    // Idle: copy everything, a chunk at a time, yielding to new writes.
                    match copy_to_list(&pool, LIST_CHUNK_IDLE).await {
                        Ok(more) => behind = more,
                        Err(e) => {
                            tracing::warn!(error = %e, "registration list: copying new registrations failed");
                            behind_since = Instant::now();
                        }
                    }
                    continue;
                }
            }
        } else {
            match rx.recv().await {
                Some(job) => job,
                None => break,
            }
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut waiters = Vec::new();
        let mut writes = Vec::with_capacity(batch.len());
        for job in batch {
            match job {
                Job::SyncList { reply } => waiters.push(reply),
                other => writes.push(other),
            }
        }
        if !writes.is_empty() {
            let creates = writes
                .iter()
                .any(|j| matches!(j, Job::CreateRegistration { .. }));
            write(&path, &mut conn, writes).await;
            if creates && !behind {
                behind = true;
                behind_since = Instant::now();
            }
        }
        if !waiters.is_empty() {
            let result = copy_all_to_list(&pool).await;
            if result.is_ok() {
                behind = false;
            }
            for w in waiters {
                let _ = w.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(StoreError::Database(sqlx::Error::Protocol(e.to_string()))),
                });
            }
        } else if behind && behind_since.elapsed() >= MAX_LAG {
            // Writes keep coming: copy a chunk between two batches.
            match copy_to_list(&pool, LIST_CHUNK).await {
                Ok(false) => behind = false,
                Ok(true) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "registration list: copying new registrations failed");
                    behind_since = Instant::now();
                }
            }
        }
    }
}

/// Checkpoints the WAL into the database file beside the writer, until the pool closes.
///
/// SQLite's automatic checkpoint (turned off on every connection of the store) runs inside the
/// commit that crosses the threshold, on the one writer: copying the pages and syncing the file
/// there stalled every registration queued behind it (measured: the p99 of `POST /register`).
/// A PASSIVE checkpoint from a reader connection does that work on another thread while the
/// writer goes on appending. SQLite rewinds the WAL only when a writer starts after a checkpoint
/// that caught up, which a steady stream of writes never lets happen: once the WAL holds
/// [`RESTART_FRAMES`] frames, a RESTART checkpoint makes the next write rewind it (a short wait
/// for the writer), so the WAL stays bounded.
pub(crate) async fn checkpointer(reader: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if reader.is_closed() {
            break;
        }
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&reader)
            .await;
        let result = match passive {
            Ok((_, frames, _)) if frames >= RESTART_FRAMES => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&reader)
                    .await
                    .map(|_| ())
            }
            other => other.map(|_| ()),
        };
        if let Err(e) = result {
            if reader.is_closed() {
                break;
            }
            tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
        }
    }
}

/// Copies up to `limit` registrations not yet in `registration_list`, in rowid order; answers
/// whether more may be waiting.
async fn copy_to_list(pool: &SqlitePool, limit: i64) -> Result<bool, sqlx::Error> {
    let copied = sqlx::query(
        "INSERT INTO registration_list (reg_rowid, client_id, software_id, software_key, org_id, \
           org_name, client_name, legal_entity_id, legal_entity_name, status, register_sp_status, \
           register_dr_status, created_at, updated_at) \
         SELECT rowid, client_id, software_id, software_key, org_id, org_name, client_name, \
           legal_entity_id, legal_entity_name, status, register_sp_status, register_dr_status, \
           created_at, updated_at \
         FROM registration \
         WHERE rowid > coalesce((SELECT max(reg_rowid) FROM registration_list), 0) \
         ORDER BY rowid LIMIT $1",
    )
    .bind(limit)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(i64::try_from(copied).unwrap_or(i64::MAX) >= limit)
}

/// Copies every registration not yet in `registration_list`.
async fn copy_all_to_list(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    while copy_to_list(pool, LIST_CHUNK_IDLE).await? {}
    Ok(())
}

/// Answers a job with an error.
pub(crate) fn fail(job: Job, e: StoreError) {
    match job {
        Job::CreateRegistration { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Job::UseJti { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Job::SyncList { reply } => {
            let _ = reply.send(Err(e));
        }
    }
}
