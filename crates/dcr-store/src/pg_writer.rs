//! Group commit for PostgreSQL's registrations.
//!
//! Every registration appends to the one audit hash chain, under a lock that every instance
//! takes ([`crate::audit_chain::CHAIN_LOCK`]). Committed one by one, each registration held that
//! lock across its own commit (a WAL flush): measured here, that capped registrations at about
//! 850/s with the CPU mostly idle. This task takes the registrations that queue up while one
//! batch commits and stores the next batch in one transaction: the lock and the chain head are
//! taken once, each registration is one call of `dcr_create_registration` (migration
//! `20261201000002_create_registration_function`, which undoes a failing registration alone),
//! and one commit makes the batch durable. Each caller gets its answer after that commit.

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::{NewAuditEvent, Registration, StoreError, UsedJti};

/// Most registrations in one transaction.
const MAX_BATCH: usize = 128;

/// A registration to store in a batch.
pub(crate) struct Job {
    pub(crate) reg: Box<Registration>,
    pub(crate) jti: Option<UsedJti>,
    pub(crate) audit: Box<NewAuditEvent>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Handle on the batching task; cheap to clone.
#[derive(Debug, Clone)]
pub struct PgWriter {
    tx: mpsc::Sender<Job>,
}

impl PgWriter {
    /// Starts the batching task over the pool.
    pub(crate) fn start(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    pub(crate) async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.tx
            .send(job)
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))
    }
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match run_batch(&pool, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!(error = %msg, registrations = batch.len(), "registration batch failed");
                for job in batch {
                    let _ = job
                        .reply
                        .send(Err(StoreError::Database(sqlx::Error::Protocol(
                            msg.clone(),
                        ))));
                }
            }
        }
    }
}

/// Stores a batch; `Err` when the transaction itself failed (nothing of it is stored).
async fn run_batch(
    pool: &PgPool,
    batch: &[Job],
) -> Result<Vec<Result<(), StoreError>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::audit_chain::CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut head: Option<String> = sqlx::query_as::<_, (Option<String>,)>(
        "SELECT hash FROM audit_event ORDER BY audit_event_id DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?
    .and_then(|r| r.0);
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let (reg, audit) = (&job.reg, &job.audit);
        let (jti_key, jti_exp) = job
            .jti
            .as_ref()
            .map_or((None, 0), |j| (Some(j.key.as_str()), j.expires_at));
        let hash = crate::audit_chain::event_hash(head.as_deref(), audit);
        let (failure,): (Option<String>,) = sqlx::query_as(
            "SELECT dcr_create_registration($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
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
        .fetch_one(&mut *tx)
        .await?;
        outcomes.push(match failure {
            None => {
                head = Some(hash);
                Ok(())
            }
            Some(f) => Err(failure_to_error(&f)),
        });
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Maps the function's failure report to the error the one-by-one path would have given.
fn failure_to_error(failure: &str) -> StoreError {
    match failure.split_once(':') {
        Some(("unique" | "check", constraint)) => StoreError::Conflict {
            constraint: constraint.to_string(),
        },
        _ => StoreError::Database(sqlx::Error::Protocol(failure.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_store_errors() {
        assert!(matches!(
            failure_to_error("unique:registration_software_key_key"),
            StoreError::Conflict { constraint } if constraint == "registration_software_key_key"
        ));
        assert!(matches!(
            failure_to_error("check:registration_status_check"),
            StoreError::Conflict { constraint } if constraint == "registration_status_check"
        ));
        assert!(matches!(
            failure_to_error("error:22001:value too long"),
            StoreError::Database(_)
        ));
    }
}
