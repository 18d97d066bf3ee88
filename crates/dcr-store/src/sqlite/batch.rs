//! One batch of the SQLite group commit, run synchronously on the writer's thread.
//!
//! Through sqlx every statement of a batch was a hand-off to the connection's worker thread and
//! back to the writer task, which then waited for a tokio worker that was busy with TLS and
//! signatures: measured, the SQLite thread sat idle half the time. Here the whole batch (begin,
//! each registration in its savepoint, commit) runs on one thread with cached prepared
//! statements, and every caller is answered from it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::writer::Job;
use crate::audit::{ChainedEvent, INSERT_EVENT, SELECT_HEAD};
use crate::jti::{CONSUME_JTI, USE_JTI};
use crate::registrations::{INSERT_REGISTRATION, NEW_REGISTRATION};
use crate::{sql, NewAuditEvent, Registration, SeedRegistration, StoreError, UsedJti};

/// Opens the batch connection with the pragmas of the store's sqlx connections.
pub(crate) fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "mmap_size", super::MMAP_SIZE)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

fn store_error(e: &rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            let msg = msg.as_deref().unwrap_or_default();
            return StoreError::Conflict(crate::Conflict::from_sqlite_message(msg));
        }
    }
    StoreError::Database(sqlx::Error::Protocol(e.to_string()))
}

/// Runs the batch in one transaction and answers every job. On a failure of the transaction
/// itself every job gets that error and nothing of the batch is kept.
pub(crate) fn run(conn: &mut Connection, batch: Vec<Job>) {
    let mut answers: Vec<Result<Option<bool>, StoreError>> = Vec::with_capacity(batch.len());
    let outcome = (|| -> Result<(), rusqlite::Error> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        // The chain head, read once: the batch holds the write lock until COMMIT.
        let mut head: Option<String> = conn
            .prepare_cached(SELECT_HEAD)?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        for job in &batch {
            let answer = match job {
                Job::CreateRegistration {
                    reg, jti, audit, ..
                } => create(conn, reg, jti.as_ref(), audit, &mut head).map(|()| None),
                Job::UseJti {
                    key, expires_at, ..
                } => conn
                    .prepare_cached(USE_JTI)
                    .and_then(|mut s| s.execute(params![key, expires_at]))
                    .map(|n| Some(n == 1))
                    .map_err(|e| store_error(&e)),
                // Taken out of the batch by the writer.
                Job::SyncList { .. } | Job::Seed { .. } => Ok(None),
            };
            answers.push(answer);
        }
        conn.execute_batch("COMMIT")
    })();
    if let Err(e) = outcome {
        let _ = conn.execute_batch("ROLLBACK");
        let msg = e.to_string();
        tracing::warn!(error = %msg, jobs = batch.len(), "SQLite write batch failed");
        for job in batch {
            super::writer::fail(
                job,
                StoreError::Database(sqlx::Error::Protocol(msg.clone())),
            );
        }
        return;
    }
    for (job, answer) in batch.into_iter().zip(answers) {
        match job {
            Job::CreateRegistration { reply, .. } => {
                let _ = reply.send(answer.map(|_| ()));
            }
            Job::UseJti { reply, .. } => {
                let _ = reply.send(answer.map(|fresh| fresh.unwrap_or(false)));
            }
            Job::SyncList { reply, .. } | Job::Seed { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
        }
    }
}

/// Development seeds in one transaction: each registration with its Register statuses and
/// its audit event chained onto the log, then `events` chained. Nothing is kept if one fails.
pub(crate) fn seed(
    conn: &mut Connection,
    seeds: &[SeedRegistration],
    events: &[NewAuditEvent],
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| store_error(&e))?;
    (|| -> Result<(), rusqlite::Error> {
        let mut head: Option<String> = tx
            .prepare_cached(SELECT_HEAD)?
            .query_row([], |r| r.get(0))
            .optional()?
            .flatten();
        let mut insert = tx.prepare_cached(&INSERT_REGISTRATION)?;
        // Placeholders in the order they appear (rusqlite numbers them so).
        let mut extra = tx.prepare_cached(
            "UPDATE registration SET status_reason = $1, register_sp_status = $2, \
             register_dr_status = $3, register_synced_at = $4 WHERE client_id = $5",
        )?;
        let mut event = tx.prepare_cached(&INSERT_EVENT)?;
        for s in seeds {
            let r = &s.registration;
            insert.execute(sql::row_params(&NEW_REGISTRATION, r))?;
            if r.status_reason.is_some()
                || r.register_sp_status.is_some()
                || r.register_dr_status.is_some()
                || r.register_synced_at.is_some()
            {
                extra.execute(params![
                    r.status_reason,
                    r.register_sp_status,
                    r.register_dr_status,
                    r.register_synced_at,
                    r.client_id
                ])?;
            }
        }
        for audit in seeds.iter().filter_map(|s| s.audit.as_ref()).chain(events) {
            let hash = crate::audit::event_hash(head.as_deref(), audit);
            let link = ChainedEvent {
                event: audit,
                prev_hash: head.as_deref(),
                hash: &hash,
            };
            event.execute(sql::row_params(&ChainedEvent::COLUMNS, &link))?;
            head = Some(hash);
        }
        Ok(())
    })()
    .map_err(|e| store_error(&e))?;
    tx.commit().map_err(|e| store_error(&e))
}

/// One registration in its own savepoint (its `jti`, the row, its audit event chained onto
/// `head`); on failure only its changes are undone and `head` stays.
fn create(
    conn: &Connection,
    reg: &Registration,
    jti: Option<&UsedJti>,
    audit: &NewAuditEvent,
    head: &mut Option<String>,
) -> Result<(), StoreError> {
    let hash = crate::audit::event_hash(head.as_deref(), audit);
    conn.execute_batch("SAVEPOINT reg")
        .map_err(|e| store_error(&e))?;
    let result = (|| -> Result<(), rusqlite::Error> {
        if let Some(j) = jti {
            conn.prepare_cached(CONSUME_JTI)?
                .execute(params![j.key, j.expires_at])?;
        }
        conn.prepare_cached(&INSERT_REGISTRATION)?
            .execute(sql::row_params(&NEW_REGISTRATION, reg))?;
        let link = ChainedEvent {
            event: audit,
            prev_hash: head.as_deref(),
            hash: &hash,
        };
        conn.prepare_cached(&INSERT_EVENT)?
            .execute(sql::row_params(&ChainedEvent::COLUMNS, &link))?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("RELEASE reg")
                .map_err(|e| store_error(&e))?;
            *head = Some(hash);
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO reg; RELEASE reg;");
            Err(store_error(&e))
        }
    }
}
