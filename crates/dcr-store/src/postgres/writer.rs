//! Group commit for PostgreSQL's registrations.
//!
//! Every registration appends to the one audit hash chain, under a lock that every instance
//! takes ([`crate::audit::CHAIN_LOCK`]). Committed one by one, each registration held that
//! lock across its own commit (a WAL flush): measured here, that capped registrations at about
//! 850/s with the CPU mostly idle. This task takes the registrations that queue up while one
//! batch commits and stores the next batch in one transaction: first the rows, by one call of
//! `dcr_insert_registrations` (migration
//! `20261212000001_insert_registrations_before_the_chain_lock`, which undoes a failing
//! registration alone and stops there; the rest go in another call), without the chain's lock,
//! so that instances sharing the database insert at the same time; then, under the lock, the
//! stored registrations' audit events in one statement, chained onto the head; then one commit
//! makes the batch durable. Each caller gets its answer after that commit.
//!
//! A batch holds only the keys of its new rows (registration ids, software products, used
//! `jti`s) when it asks for the chain's lock, and no path inserts such a key after it has
//! appended to the chain, so a holder of the lock never waits for a batch: no deadlock.

use std::sync::LazyLock;

use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use crate::audit::append_pg_batch;
use crate::registrations::NEW_REGISTRATION;
use crate::sql::{self, Column, Get};
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
///
/// One call of `dcr_insert_registrations` stores the registrations from the first not yet
/// tried on, until one fails; the rest are sent in the next call. Without a failure (the common
/// case) that is one round trip, then one for the lock, one for the head and one for the events.
async fn run_batch(
    pool: &PgPool,
    batch: &[Job],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    while outcomes.len() < batch.len() {
        let rest = &batch[outcomes.len()..];
        let (failed_at, failure): (Option<i32>, Option<String>) =
            batch_query(rest).fetch_one(&mut *tx).await?;
        // The registrations before the failing one (or all of them) are stored.
        let stored = failed_at.map_or(rest.len(), |i| {
            usize::try_from(i).map_or(0, |i| i.saturating_sub(1).min(rest.len()))
        });
        outcomes.extend((0..stored).map(|_| Ok(())));
        if stored < rest.len() {
            let failure = failure.unwrap_or_else(|| "error:unknown".into());
            outcomes.push(Err(failure_to_error(&failure)));
        }
    }
    let events: Vec<&NewAuditEvent> = batch
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(job, _)| &*job.audit)
        .collect();
    append_pg_batch(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// The call of `dcr_insert_registrations`: its arguments are arrays whose element i belongs to
/// registration i: the used `jti` (key and expiry), then the registration's columns in the order
/// of [`NEW_REGISTRATION`].
static CALL: LazyLock<String> = LazyLock::new(|| {
    let arguments = 2 + NEW_REGISTRATION.len();
    format!(
        "SELECT failed_at, failure FROM dcr_insert_registrations({})",
        sql::placeholders(arguments)
    )
});

/// The call of `dcr_insert_registrations` for `jobs`.
fn batch_query(jobs: &[Job]) -> QueryAs<'_, Postgres, (Option<i32>, Option<String>), PgArguments> {
    let query = sqlx::query_as(CALL.as_str())
        .bind(
            jobs.iter()
                .map(|j| j.jti.as_ref().map(|t| t.key.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.jti.as_ref().map_or(0, |t| t.expires_at))
                .collect::<Vec<_>>(),
        );
    bind_arrays(query, &NEW_REGISTRATION, jobs.iter().map(|j| &*j.reg))
}

/// Binds one array per column, element i being the column's value for row i.
pub(crate) fn bind_arrays<'q, T: 'q, O>(
    mut query: QueryAs<'q, Postgres, O, PgArguments>,
    columns: &[Column<T>],
    rows: impl Iterator<Item = &'q T> + Clone,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    for column in columns {
        query = match column.get {
            Get::Text(get) => query.bind(rows.clone().map(get).collect::<Vec<_>>()),
            Get::Int(get) => query.bind(rows.clone().map(get).collect::<Vec<_>>()),
        };
    }
    query
}

/// Maps the function's failure report to the error the one-by-one path would have given.
fn failure_to_error(failure: &str) -> StoreError {
    match failure.split_once(':') {
        Some(("unique" | "check", constraint)) => {
            StoreError::Conflict(crate::Conflict::from_constraint(constraint))
        }
        _ => StoreError::Database(sqlx::Error::Protocol(failure.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Conflict, Store};

    fn job(i: usize, software_id: &str, jti: Option<&str>) -> Job {
        let reg = Registration::example(&format!("batch-{i}"), software_id, 5);
        let audit = NewAuditEvent {
            occurred_at: 5,
            actor: "test".into(),
            action: "registration.create".into(),
            client_id: Some(reg.client_id.clone()),
            ..Default::default()
        };
        Job {
            reg: Box::new(reg),
            jti: jti.map(|k| UsedJti {
                key: k.into(),
                expires_at: 99,
            }),
            audit: Box::new(audit),
            reply: oneshot::channel().0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_goes_on_past_each_failure_and_keeps_one_chain() {
        let pg = test_support::TempPostgres::shared();
        let store = Store::connect(&pg.fresh_database()).await.unwrap();
        let Store::Postgres(pool, _) = &store else {
            panic!("a PostgreSQL store")
        };
        let batch = vec![
            job(0, "SW-A", Some("j1")),
            job(1, "SW-A", None), // the product is taken by 0
            job(2, "SW-B", None),
            job(3, "SW-C", Some("j1")), // the jti was used by 0
            job(4, "SW-D", None),
            job(5, "SW-B", None), // taken by 2, last of the batch
        ];
        let outcomes = run_batch(pool, &batch).await.unwrap();
        let ok: Vec<bool> = outcomes.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, false, true, false, true, false]);
        assert!(matches!(
            &outcomes[1],
            Err(StoreError::Conflict(Conflict::SoftwareIdTaken))
        ));
        assert!(matches!(
            &outcomes[3],
            Err(StoreError::Conflict(Conflict::JtiUsed))
        ));
        for (i, stored) in ok.iter().enumerate() {
            let found = store.get_registration(&format!("batch-{i}")).await.unwrap();
            assert_eq!(found.is_some(), *stored, "batch-{i}");
        }
        let chain = store.verify_audit_chain().await.unwrap();
        assert!(chain.ok, "{chain:?}");
        assert_eq!(chain.checked, 3);
        // A batch whose first registration fails stores the rest.
        let outcomes = run_batch(pool, &[job(6, "SW-D", None), job(7, "SW-E", None)])
            .await
            .unwrap();
        assert!(outcomes[0].is_err() && outcomes[1].is_ok());
        let chain = store.verify_audit_chain().await.unwrap();
        assert!(chain.ok && chain.checked == 4, "{chain:?}");
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_function_takes_its_arguments_in_the_order_of_the_column_lists() {
        let pg = test_support::TempPostgres::shared();
        let store = Store::connect(&pg.fresh_database()).await.unwrap();
        let Store::Postgres(pool, _) = &store else {
            panic!("a PostgreSQL store")
        };
        let (names,): (Vec<String>,) = sqlx::query_as(
            "SELECT proargnames FROM pg_proc WHERE proname = 'dcr_insert_registrations'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        // The jti, the registration's columns, then the two OUT arguments; each argument is
        // named `p_` and its column.
        let columns: Vec<&str> = ["jti_key", "jti_expires_at"]
            .into_iter()
            .chain(NEW_REGISTRATION.iter().map(|c| c.name))
            .collect();
        assert_eq!(names.len(), columns.len() + 2, "{names:?}");
        for (name, column) in names.iter().zip(&columns) {
            assert_eq!(
                *name,
                format!("p_{column}"),
                "argument {name} where the list has {column}"
            );
        }
        store.close().await;
    }

    #[test]
    fn failures_map_to_the_store_errors() {
        assert!(matches!(
            failure_to_error("unique:registration_software_key_key"),
            StoreError::Conflict(Conflict::SoftwareIdTaken)
        ));
        assert!(matches!(
            failure_to_error("check:registration_status_check"),
            StoreError::Conflict(Conflict::InvalidStatus)
        ));
        assert!(matches!(
            failure_to_error("error:22001:value too long"),
            StoreError::Database(_)
        ));
    }
}
