//! Group commit for SQLite's hot writes (registrations, used `jti`s).
//!
//! SQLite has one writer. Committing each registration on its own costs a WAL append of every
//! page it touched (the row, each index, the audit row, the `jti`) and, every thousand pages, a
//! checkpoint with an fsync: measured here, that serialised cost (not CPU) capped registrations
//! at about 1,400/s with the CPU half idle. This thread takes the writes that queue up while one
//! batch commits and runs the next batch in one transaction (on a connection of its own,
//! `batch`), each write inside its own `SAVEPOINT`, so a failing
//! write (a duplicate `software_id`, a replayed `jti`) is rolled back
//! alone and answered with its own error while the others commit. Every caller still gets its
//! answer only after its write is durable in the same sense as before (committed in WAL mode).
//!
//! The same thread keeps `registration_list` (the portal's narrow copy with the list and search
//! indexes, see migration `20261201000002_registration_list`) up to date: it copies new
//! registrations there in bulk when no write is waiting (or, under a steady stream of writes,
//! a chunk between two batches from [`MAX_LAG`] on), and at once when a reader asks
//! ([`Job::SyncList`]). After each copy it writes the short pieces of the rows that wait for
//! them into `registration_grams` (module `registrations::grams`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::SqlitePool;

use crate::{NewAuditEvent, Registration, StoreError, UsedJti};

/// The name of the writer's thread ([`wal_bytes`] finds it by this name).
const WRITER_THREAD: &str = "sqlite-writer";

/// The bytes the writer's thread has written so far, from Linux's count of the bytes its system
/// calls wrote (`/proc/self/task/<tid>/io`, `wchar`): the WAL frames of every batch and list
/// copy, and nothing else (the checkpoints run on other threads). With several SQLite stores
/// open in one process (tests), their writers' bytes are added up. `None` where there is no
/// such count or no writer.
pub(crate) fn wal_bytes() -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = None;
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.trim_end() != WRITER_THREAD {
            continue;
        }
        // A writer that ended since the directory was read (another store closed) has no
        // count left to add.
        let Ok(io) = std::fs::read_to_string(dir.join("io")) else {
            continue;
        };
        let Some(wchar) = io
            .lines()
            .find_map(|l| l.strip_prefix("wchar:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            continue;
        };
        *total.get_or_insert(0) += wchar;
    }
    total
}

/// Most writes in one transaction.
const MAX_BATCH: usize = 128;

/// Writes that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

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

/// Most rows of the list whose short pieces a reader waits for before it is answered: a search
/// after a large copy (the first after an upgrade that indexes a million rows) does not wait for
/// all of them; it matches its short words without the index until the writer has caught up.
const GRAMS_SYNC: i64 = 20_000;

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
        reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    },
    /// Record a used `jti`; answers whether it was fresh.
    UseJti {
        key: String,
        expires_at: i64,
        reply: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Development seeds: registrations with their Register statuses and audit events, then
    /// more audit events, in one transaction of their own.
    Seed {
        seeds: Vec<crate::SeedRegistration>,
        events: Vec<NewAuditEvent>,
        reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    },
    /// Bring `registration_list` up to date with every committed registration, and
    /// `registration_grams` with at most [`GRAMS_SYNC`] rows of the list (with `all_grams`, every
    /// row), then answer.
    SyncList {
        all_grams: bool,
        reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    },
}

/// Handle on the writer's thread; cheap to clone. The thread stops when the last handle is
/// dropped.
#[derive(Debug, Clone)]
pub struct SqliteWriter {
    tx: flume::Sender<Job>,
}

impl SqliteWriter {
    /// Starts the writer's thread: batches run on a connection of its own to the database file
    /// at `path` (see `batch`).
    pub(crate) fn start(path: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = flume::bounded(QUEUE);
        let (started, has_started) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || {
                let _ = started.send(());
                run(&path, &rx);
            })?;
        // The thread takes its name before it runs anything: once it has said so, `wal_bytes`
        // finds it (a count read just after the store opened found no writer yet).
        let _ = has_started.recv();
        Ok(Self { tx })
    }

    pub(crate) async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.tx
            .send_async(job)
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))
    }
}

/// The batch connection, opened again if it could not be (every job of a batch then gets the
/// error).
fn connection<'c>(
    path: &Path,
    conn: &'c mut Option<rusqlite::Connection>,
) -> Result<&'c mut rusqlite::Connection, rusqlite::Error> {
    if conn.is_none() {
        *conn = Some(super::batch::open(path).inspect_err(|e| {
            tracing::error!(error = %e, "SQLite batch connection could not be opened");
        })?);
    }
    conn.as_mut().ok_or(rusqlite::Error::InvalidQuery)
}

/// The writer's loop: takes the writes that queued while the last batch committed, runs them
/// as one batch, and copies new registrations to the list when idle, when lagging or when a
/// reader asks.
fn run(path: &Path, rx: &flume::Receiver<Job>) {
    let mut conn: Option<rusqlite::Connection> = None;
    // Registrations may have been committed but not copied when the process last stopped.
    let mut behind = true;
    let mut behind_since = Instant::now();
    loop {
        let first = if behind {
            match rx.recv_timeout(IDLE) {
                Ok(job) => job,
                Err(flume::RecvTimeoutError::Disconnected) => break,
                Err(flume::RecvTimeoutError::Timeout) => {
                    // Idle: copy everything, a chunk at a time, yielding to new writes.
                    match connection(path, &mut conn).and_then(|c| catch_up(c, LIST_CHUNK_IDLE)) {
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
            match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        };
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(MAX_BATCH - 1));
        let mut waiters = Vec::new();
        let mut all = false;
        let mut writes = Vec::with_capacity(batch.len());
        for job in batch {
            match job {
                Job::SyncList { all_grams, reply } => {
                    all |= all_grams;
                    waiters.push(reply);
                }
                Job::Seed {
                    seeds,
                    events,
                    reply,
                } => {
                    let result = connection(path, &mut conn)
                        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))
                        .and_then(|c| super::batch::seed(c, &seeds, &events));
                    let _ = reply.send(result);
                    if !behind {
                        behind = true;
                        behind_since = Instant::now();
                    }
                }
                other => writes.push(other),
            }
        }
        if !writes.is_empty() {
            let creates = writes
                .iter()
                .any(|j| matches!(j, Job::CreateRegistration { .. }));
            match connection(path, &mut conn) {
                Ok(c) => super::batch::run(c, writes),
                Err(e) => {
                    let msg = e.to_string();
                    for job in writes {
                        fail(
                            job,
                            StoreError::Database(sqlx::Error::Protocol(msg.clone())),
                        );
                    }
                }
            }
            if creates && !behind {
                behind = true;
                behind_since = Instant::now();
            }
        }
        if !waiters.is_empty() {
            let grams = if all { i64::MAX } else { GRAMS_SYNC };
            let result = connection(path, &mut conn).and_then(|c| copy_all_to_list(c, grams));
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
            match connection(path, &mut conn).and_then(|c| catch_up(c, LIST_CHUNK)) {
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
fn copy_to_list(conn: &rusqlite::Connection, limit: i64) -> Result<bool, rusqlite::Error> {
    let copied = conn
        .prepare_cached(
            "INSERT INTO registration_list (reg_rowid, client_id, software_id, software_key, \
               org_id, org_name, client_name, legal_entity_id, legal_entity_name, status, \
               register_sp_status, register_dr_status, created_at, updated_at) \
             SELECT rowid, client_id, software_id, software_key, org_id, org_name, client_name, \
               legal_entity_id, legal_entity_name, status, register_sp_status, register_dr_status, \
               created_at, updated_at \
             FROM registration \
             WHERE rowid > coalesce((SELECT max(reg_rowid) FROM registration_list), 0) \
             ORDER BY rowid LIMIT ?1",
        )?
        .execute([limit])?;
    Ok(i64::try_from(copied).unwrap_or(i64::MAX) >= limit)
}

/// Copies every registration not yet in `registration_list`, then writes the short pieces of up
/// to `grams` rows that wait for them (a chunk at a time).
fn copy_all_to_list(conn: &mut rusqlite::Connection, grams: i64) -> Result<(), rusqlite::Error> {
    while copy_to_list(conn, LIST_CHUNK_IDLE)? {}
    let mut written = 0;
    while written < grams && fill_grams(conn, LIST_CHUNK_IDLE)? {
        written += LIST_CHUNK_IDLE;
    }
    Ok(())
}

/// One step of catching up: a chunk of up to `limit` registrations copied to the list, or when
/// none is left to copy, the short pieces of up to `limit` rows written; answers whether more
/// work may be waiting.
fn catch_up(conn: &mut rusqlite::Connection, limit: i64) -> Result<bool, rusqlite::Error> {
    Ok(copy_to_list(conn, limit)? || fill_grams(conn, limit)?)
}

/// Writes the short pieces (module `registrations::grams`) of up to `limit` rows of
/// `registration_list` queued in `registration_grams_pending`, in one transaction; answers
/// whether more may be waiting.
fn fill_grams(conn: &mut rusqlite::Connection, limit: i64) -> Result<bool, rusqlite::Error> {
    // Most syncs find nothing queued: no transaction for them. The writer thread is the only
    // one that dequeues, so what this sees queued is still queued in the transaction.
    let queued: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM registration_grams_pending)")?
        .query_row([], |row| row.get(0))?;
    if !queued {
        return Ok(false);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut last = None;
    let mut taken = 0;
    {
        // A queued row no longer in the list (none should be: its trigger dequeues it) has
        // nothing to write, and is dequeued all the same.
        let mut pending = tx.prepare_cached(&format!(
            "SELECT p.reg_rowid, l.reg_rowid IS NOT NULL, {} FROM registration_grams_pending AS p \
             LEFT JOIN registration_list AS l ON l.reg_rowid = p.reg_rowid \
             ORDER BY p.reg_rowid LIMIT ?1",
            crate::registrations::GRAM_COLUMNS
        ))?;
        let mut insert =
            tx.prepare_cached("INSERT INTO registration_grams (rowid, grams) VALUES (?1, ?2)")?;
        let mut rows = pending.query([limit])?;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            last = Some(rowid);
            taken += 1;
            if !row.get::<_, bool>(1)? {
                continue;
            }
            let mut columns: Vec<Option<String>> = Vec::with_capacity(7);
            for i in 2..=8 {
                columns.push(row.get(i)?);
            }
            let status: String = row.get(9)?;
            let text = crate::registrations::index_text(
                columns.iter().flatten().map(String::as_str),
                &status,
            );
            insert.execute(rusqlite::params![rowid, text])?;
        }
    }
    if let Some(last) = last {
        tx.execute(
            "DELETE FROM registration_grams_pending WHERE reg_rowid <= ?1",
            [last],
        )?;
    }
    tx.commit()?;
    Ok(taken >= limit)
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
        Job::SyncList { reply, .. } | Job::Seed { reply, .. } => {
            let _ = reply.send(Err(e));
        }
    }
}
