//! Bulk inserts of registrations for development seeds and tests.

use super::NEW_REGISTRATION;
use crate::sql;
use crate::{in_tx, NewAuditEvent, Registration, Store, StoreError};

/// Registrations, or audit events, in one seeding transaction.
const SEED_CHUNK: usize = 5_000;

/// A registration with its Register statuses, for [`Store::insert_registrations_bulk`].
#[derive(Debug, Clone)]
pub struct SeedRegistration {
    /// The registration (its `register_*` fields are written too).
    pub registration: Registration,
    /// Its creation audit event.
    pub audit: Option<NewAuditEvent>,
}

impl Store {
    /// Inserts registrations (with their Register statuses and audit events) in transactions of
    /// [`SEED_CHUNK`] rows: on SQLite run whole on the writer's thread with its prepared
    /// statements, on PostgreSQL one statement for the registrations and one for their events.
    /// For development and tests only: nothing is validated.
    ///
    /// # Errors
    /// Database failures, or a conflict with an existing registration.
    pub async fn insert_registrations_bulk(
        &self,
        regs: &[SeedRegistration],
    ) -> Result<(), StoreError> {
        for chunk in regs.chunks(SEED_CHUNK) {
            match self {
                Self::Sqlite(_, _, writer, _) => {
                    seed_sqlite(writer, chunk.to_vec(), Vec::new()).await?;
                }
                Self::Postgres(pool, _) => seed_postgres(pool, chunk).await?,
            }
        }
        // The seeded registrations' searched text, copied now rather than by the first search.
        self.sync_search_grams().await?;
        self.sync_search_copy().await?;
        Ok(())
    }
}

/// The registrations of a seed with their Register statuses: one array per column of
/// [`NEW_REGISTRATION`], then one for each status column.
static INSERT_REGISTRATIONS_UNNEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    sql::insert_unnest(
        "registration",
        &NEW_REGISTRATION,
        &[
            ("status_reason", "text"),
            ("register_sp_status", "text"),
            ("register_dr_status", "text"),
            ("register_synced_at", "bigint"),
        ],
    )
});

/// Seeds registrations and their audit events, then `events`, in one transaction on the SQLite
/// writer's thread.
async fn seed_sqlite(
    writer: &crate::sqlite::SqliteWriter,
    seeds: Vec<SeedRegistration>,
    events: Vec<NewAuditEvent>,
) -> Result<(), StoreError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    writer
        .submit(crate::sqlite::Job::Seed {
            seeds,
            events,
            reply,
        })
        .await?;
    answer
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
}

/// Seeds a chunk of registrations and their audit events on PostgreSQL, in one transaction.
async fn seed_postgres(pool: &sqlx::PgPool, seeds: &[SeedRegistration]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let regs = || seeds.iter().map(|s| &s.registration);
    let query = sqlx::query_as::<_, (i64,)>(INSERT_REGISTRATIONS_UNNEST.as_str());
    crate::postgres::bind_arrays(query, &NEW_REGISTRATION, regs())
        .bind(
            regs()
                .map(|r| r.status_reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            regs()
                .map(|r| r.register_sp_status.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            regs()
                .map(|r| r.register_dr_status.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(regs().map(|r| r.register_synced_at).collect::<Vec<_>>())
        .fetch_one(&mut *tx)
        .await?;
    let events: Vec<NewAuditEvent> = seeds.iter().filter_map(|s| s.audit.clone()).collect();
    crate::audit::append_pg_batch(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(())
}

impl Store {
    /// Appends audit events, chained, in transactions of [`SEED_CHUNK`] (on SQLite on
    /// the writer's thread; on PostgreSQL one statement each, the links computed here). For
    /// development seeds and tests only.
    ///
    /// # Errors
    /// Database failures.
    pub async fn insert_audit_events_bulk(
        &self,
        events: &[NewAuditEvent],
    ) -> Result<(), StoreError> {
        for chunk in events.chunks(SEED_CHUNK) {
            match self {
                Self::Sqlite(_, _, writer, _) => {
                    seed_sqlite(writer, Vec::new(), chunk.to_vec()).await?;
                }
                Self::Postgres(pool, _) => {
                    let mut tx = pool.begin().await?;
                    crate::audit::append_pg_batch(&mut tx, chunk).await?;
                    tx.commit().await?;
                }
            }
        }
        Ok(())
    }

    /// Fills a store for benchmarks, spread evenly over `[from, until)`: `registrations`
    /// minimal registrations (one in 20 of each inactive status, one in 5,000 inactive at the
    /// Register), `events` audit events as a busy Data Holder's log holds them (mostly
    /// recipients' registrations and Register status changes, an administrator's action once in
    /// 100,000), and `stat_bucket` counts of token requests and refused registrations for every
    /// quarter hour. For benchmarks only: one statement each, generated by the database; the
    /// events carry a placeholder hash, so the audit chain of such a store does not verify, and the
    /// registrations' SSAs are empty.
    ///
    /// # Errors
    /// Database failures.
    pub async fn insert_benchmark_filler(
        &self,
        registrations: i64,
        events: i64,
        from: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        let rows = match self {
            Self::Sqlite(..) => {
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1) "
            }
            Self::Postgres(..) => "",
        };
        let source = match self {
            Self::Sqlite(..) => "n",
            Self::Postgres(..) => "generate_series(0, $1 - 1) AS n(i)",
        };
        let step = |count: i64| ((until - from) / count.max(1)).max(1);
        let regs = format!(
            "{rows}INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, \
               client_name, jwks_uri, scope, status, ssa, metadata, client_id_issued_at, created_at, \
               updated_at, register_sp_status, register_dr_status) \
             SELECT 'bench-' || i, 'bench-sw-' || i, 'bench-sw-' || i, 'org-' || (i % 1000), \
               'Brand ' || (i % 1000), 'Product ' || i, 'https://recipient.example/jwks', 'openid', \
               CASE i % 20 WHEN 0 THEN 'revoked' WHEN 1 THEN 'deleted' WHEN 2 THEN 'released' \
                 WHEN 3 THEN 'removed' ELSE 'active' END, '', '{{}}', $2 + i * $3, $2 + i * $3, \
               $2 + i * $3, CASE WHEN i % 5000 = 7 THEN 'INACTIVE' ELSE 'ACTIVE' END, 'ACTIVE' \
             FROM {source}"
        );
        let audit = format!(
            "{rows}INSERT INTO audit_event (occurred_at, actor, action, client_id, after_state, prev_hash, hash) \
             SELECT $2 + i * $3, \
               CASE WHEN i % 100000 = 99999 THEN 'admin:bench' WHEN i % 3 = 0 THEN 'register-sync' ELSE 'recipient:bench' END, \
               CASE WHEN i % 100000 = 99999 THEN 'registration.revoke' WHEN i % 3 = 0 THEN 'registration.register_status' ELSE 'registration.create' END, \
               'bench-' || i, '{{}}', 'bench', 'bench' \
             FROM {source}"
        );
        let buckets = (until - from) / crate::STAT_BUCKET_SECS;
        let stats = format!(
            "{rows}INSERT INTO stat_bucket (bucket, name, label, n) \
             SELECT $2 / 900 + i, s.name, s.label, 1 + i % 7 FROM {source}, \
             (SELECT 'token.issued' AS name, '' AS label UNION ALL SELECT 'token.refused', 'invalid_client' \
              UNION ALL SELECT 'registration.rejected', 'invalid_software_statement' \
              UNION ALL SELECT 'registration.rejected', 'invalid_client_metadata') AS s \
             WHERE true ON CONFLICT (bucket, name, label) DO UPDATE SET n = stat_bucket.n + excluded.n"
        );
        in_tx!(self, tx => {
            if registrations > 0 {
                sqlx::query(&regs).bind(registrations).bind(from).bind(step(registrations))
                    .execute(&mut *tx).await?;
            }
            if events > 0 {
                sqlx::query(&audit).bind(events).bind(from).bind(step(events))
                    .execute(&mut *tx).await?;
            }
            sqlx::query(&stats).bind(buckets).bind(from).execute(&mut *tx).await?;
            Ok::<(), StoreError>(())
        })?;
        match self {
            // The planner's statistics of what was just added, as autovacuum gathers them a
            // minute after such a load.
            Self::Postgres(pool, ..) => {
                self.sync_search_copy().await?;
                sqlx::query("ANALYZE").execute(pool).await?;
            }
            // The load's WAL (gigabytes: one transaction) written back into the database, as
            // the server's checkpointer does within a second: a store is not left with more
            // than its rewind threshold of WAL, which every start would read.
            Self::Sqlite(_, writer, ..) => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(writer)
                    .await?;
            }
        }
        Ok(())
    }
}
