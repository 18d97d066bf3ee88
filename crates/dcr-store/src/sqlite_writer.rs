//! Group commit for SQLite's hot writes (registrations, used `jti`s).
//!
//! SQLite has one writer. Committing each registration on its own costs a WAL append of every
//! page it touched (the row, each index, the audit row, the `jti`) and, every thousand pages, a
//! checkpoint with an fsync: measured here, that serialised cost (not CPU) capped registrations
//! at about 1,400/s with the CPU half idle. This task takes the writes that queue up while one
//! batch commits and runs the next batch in one transaction, each write inside its own
//! `SAVEPOINT`, so a failing write (a duplicate `software_id`, a replayed `jti`) is rolled back
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
    /// at `path` (see `sqlite_batch`), or on the single-connection write pool if that cannot
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

/// Runs a batch on the batch connection (on a blocking thread, which answers every job), or
/// through the pool when there is no such connection.
async fn write(
    pool: &SqlitePool,
    path: &std::path::Path,
    conn: &mut Option<rusqlite::Connection>,
    writes: Vec<Job>,
) {
    let Some(mut c) = conn.take() else {
        run_batch(pool, writes).await;
        *conn = crate::sqlite_batch::open(path).ok();
        return;
    };
    match tokio::task::spawn_blocking(move || {
        crate::sqlite_batch::run(&mut c, writes);
        c
    })
    .await
    {
        Ok(c) => *conn = Some(c),
        Err(e) => {
            // The jobs' reply senders were dropped with the thread: their callers get an error.
            tracing::error!(error = %e, "SQLite write batch panicked");
            *conn = crate::sqlite_batch::open(path).ok();
        }
    }
}

async fn run(pool: SqlitePool, path: PathBuf, mut rx: mpsc::Receiver<Job>) {
    let mut conn = match crate::sqlite_batch::open(&path) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "SQLite batch connection unavailable; writing through the pool");
            None
        }
    };
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
            write(&pool, &path, &mut conn, writes).await;
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
pub(crate) async fn copy_all_to_list(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    while copy_to_list(pool, LIST_CHUNK_IDLE).await? {}
    Ok(())
}

enum Outcome {
    Created(Result<(), StoreError>),
    Jti(Result<bool, StoreError>),
    Synced,
}

async fn run_batch(pool: &SqlitePool, batch: Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            for job in batch {
                reply(
                    job,
                    Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))),
                );
            }
            return;
        }
    };
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
    let begun = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await;
    if let Err(e) = begun {
        let msg = e.to_string();
        for job in batch {
            reply(
                job,
                Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))),
            );
        }
        return;
    }
    // The audit chain's head, read once: the batch holds SQLite's write lock from BEGIN
    // IMMEDIATE to COMMIT, so no other writer (another process included) can append meanwhile,
    // and each savepoint below moves the head only when it is released.
    let mut head: Option<String> = match sqlx::query_as::<_, (Option<String>,)>(
        "SELECT hash FROM audit_event ORDER BY audit_event_id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await
    {
        Ok(row) => row.and_then(|r| r.0),
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            let msg = e.to_string();
            for job in batch {
                reply(
                    job,
                    Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))),
                );
            }
            return;
        }
    };
    for job in &batch {
        let outcome = match job {
            Job::CreateRegistration {
                reg, jti, audit, ..
            } => {
                let r = create_in_savepoint(&mut conn, reg, jti.as_ref(), audit, &mut head).await;
                Outcome::Created(r)
            }
            Job::UseJti {
                key, expires_at, ..
            } => {
                let r = sqlx::query(
                    "INSERT INTO used_jti (jti_key, expires_at) VALUES ($1, $2) ON CONFLICT (jti_key) DO NOTHING",
                )
                .bind(key)
                .bind(expires_at)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::from);
                Outcome::Jti(r)
            }
            // Taken out of the batch by `run`.
            Job::SyncList { .. } => Outcome::Synced,
        };
        outcomes.push(outcome);
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        let msg = e.to_string();
        for job in batch {
            reply(
                job,
                Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))),
            );
        }
        return;
    }
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        match (job, outcome) {
            (Job::CreateRegistration { reply, .. }, Outcome::Created(r)) => {
                let _ = reply.send(r);
            }
            (Job::UseJti { reply, .. }, Outcome::Jti(r)) => {
                let _ = reply.send(r);
            }
            (Job::SyncList { reply }, Outcome::Synced) => {
                let _ = reply.send(Ok(()));
            }
            (job, _) => reply_err(job),
        }
    }
}

fn reply_err(job: Job) {
    reply(
        job,
        Err(StoreError::Database(sqlx::Error::Protocol(
            "batch bookkeeping".into(),
        ))),
    );
}

/// Answers a job with an error.
pub(crate) fn fail(job: Job, e: StoreError) {
    reply(job, Err(e));
}

fn reply(job: Job, err: Result<(), StoreError>) {
    let Err(e) = err else { return };
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

/// One registration inside its own savepoint, in a single call to SQLite (the registration, its
/// `jti`, and its audit event chained onto `head`); on failure only its changes are undone and
/// `head` is left as it was.
async fn create_in_savepoint(
    conn: &mut sqlx::SqliteConnection,
    reg: &Registration,
    jti: Option<&UsedJti>,
    audit: &NewAuditEvent,
    head: &mut Option<String>,
) -> Result<(), StoreError> {
    let (jti_key, jti_exp) = jti.map_or((None, 0), |j| (Some(j.key.as_str()), j.expires_at));
    let hash = crate::audit_chain::event_hash(head.as_deref(), audit);
    let result = sqlx::query(
        "SAVEPOINT reg; \
         INSERT INTO used_jti (jti_key, expires_at) SELECT $1, $2 WHERE $1 IS NOT NULL; \
         INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, client_name, \
           legal_entity_id, legal_entity_name, jwks_uri, scope, status, ssa, metadata, client_id_issued_at, \
           created_at, updated_at) VALUES ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18); \
         INSERT INTO audit_event (occurred_at, actor, action, client_id, software_id, reason, before_state, \
           after_state, prev_hash, hash) VALUES ($19, $20, $21, $22, $23, $24, $25, $26, $27, $28); \
         RELEASE reg;",
    )
    .bind(jti_key)
    .bind(jti_exp)
    .bind(&reg.client_id)
    .bind(&reg.software_id)
    .bind(reg.software_id.to_ascii_lowercase())
    .bind(&reg.org_id)
    .bind(&reg.org_name)
    .bind(&reg.client_name)
    .bind(&reg.legal_entity_id)
    .bind(&reg.legal_entity_name)
    .bind(&reg.jwks_uri)
    .bind(&reg.scope)
    .bind(reg.status.as_str())
    .bind(&reg.ssa)
    .bind(&reg.metadata)
    .bind(reg.client_id_issued_at)
    .bind(reg.created_at)
    .bind(reg.updated_at)
    .bind(audit.occurred_at)
    .bind(&audit.actor)
    .bind(&audit.action)
    .bind(&audit.client_id)
    .bind(&audit.software_id)
    .bind(&audit.reason)
    .bind(&audit.before_state)
    .bind(&audit.after_state)
    .bind(head.as_deref())
    .bind(&hash)
    .execute(&mut *conn)
    .await;
    if let Err(e) = result {
        // Undo this registration's statements only; the batch's transaction stays open.
        let _ = sqlx::query("ROLLBACK TO reg; RELEASE reg;")
            .execute(&mut *conn)
            .await;
        return Err(e.into());
    }
    *head = Some(hash);
    Ok(())
}
