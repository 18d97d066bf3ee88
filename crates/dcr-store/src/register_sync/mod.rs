//! CDR Register status sync (docs/dcr-rules.md §10): the poller's lease, the last good Register status lists
//! with their ETags, and the per-registration status changes with their audit events.
//!
//! The lease is one row taken or renewed with a single conditional upsert (free, expired, or
//! already held by the caller), which both backends execute atomically, so that exactly one of
//! several server instances sharing the store polls the Register. Every instance still sees the
//! result: the statuses are written to the registrations.

use serde::{Deserialize, Serialize};

use crate::{dispatch, dispatch_write, Backend, NewAuditEvent, Store, StoreError};

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Lease {
    /// The lease's name (e.g. `register-sync`).
    pub name: String,
    /// The instance holding it.
    pub holder: String,
    /// When it lapses unless renewed (Unix seconds).
    pub expires_at: i64,
    /// Set when an instance that is not the holder asked for an immediate refresh.
    pub refresh_requested_at: Option<i64>,
}

/// The sync state of one Register status list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RegisterSyncState {
    /// `data_recipients` or `software_products`.
    pub resource: String,
    /// The ETag of the last 200, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The last good list: a JSON object of lower-cased id to status, as the Register wrote it.
    pub statuses: String,
    /// Last good answer (200 or 304).
    pub synced_at: Option<i64>,
    /// Last 200.
    pub fetched_at: Option<i64>,
    /// Last attempt.
    pub attempted_at: i64,
    /// Attempts so far (grows by one per attempt, good or not).
    pub attempts: i64,
    /// Failed attempts since the last good answer.
    pub failures: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// The instance that made the last attempt.
    pub synced_by: Option<String>,
}

/// What the sync needs to know of a registration.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegisterSyncTarget {
    /// Client id.
    pub client_id: String,
    /// Software product id (matched case-insensitively with the Register's).
    pub software_id: String,
    /// Recipient legal entity id.
    pub legal_entity_id: Option<String>,
    /// The registration's status (`active` or `revoked`; the others are not synced).
    pub status: String,
    /// Stored software product status.
    pub register_sp_status: Option<String>,
    /// Stored recipient status.
    pub register_dr_status: Option<String>,
}

/// A change of the Register statuses recorded on one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterStatusChange {
    /// The registration.
    pub client_id: String,
    /// The statuses the change was computed from (the write is skipped if they changed since).
    pub previous_sp_status: Option<String>,
    /// See `previous_sp_status`.
    pub previous_dr_status: Option<String>,
    /// New software product status.
    pub sp_status: Option<String>,
    /// New recipient status.
    pub dr_status: Option<String>,
    /// Also move an `active` registration to `removed` (docs/dcr-rules.md §10.2 "cleanup registration").
    pub remove: bool,
    /// The status reason recorded with a removal.
    pub reason: Option<String>,
    /// Now (Unix seconds).
    pub now: i64,
}

impl Store {
    /// Takes the lease `name` for `holder` until `now + ttl_secs` if it is free, expired or
    /// already held by `holder` (a renewal). Returns the lease when `holder` holds it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<Lease>, StoreError> {
        self.upsert_lease(name, holder, None, now, ttl_secs).await
    }

    /// Like [`Store::acquire_lease`], and also takes the lease from a holder whose name starts
    /// with `seat` — an earlier process of this same instance, which cannot still be running
    /// (the caller's seat names the address it has bound; see `SyncHandle`), so that an
    /// instance restarted after a crash takes its lease back at once instead of waiting for it
    /// to expire. Used once, at start.
    ///
    /// # Errors
    /// Database failures.
    pub async fn take_over_lease(
        &self,
        name: &str,
        holder: &str,
        seat: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<Lease>, StoreError> {
        self.upsert_lease(name, holder, Some(seat), now, ttl_secs)
            .await
    }

    /// A lease loop's round: [`Store::take_over_lease`] with the instance's seat in its first
    /// round (the caller passes it once), [`Store::acquire_lease`] after.
    ///
    /// # Errors
    /// Database failures.
    pub async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        seat: Option<&str>,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<Lease>, StoreError> {
        self.upsert_lease(name, holder, seat, now, ttl_secs).await
    }

    async fn upsert_lease(
        &self,
        name: &str,
        holder: &str,
        seat: Option<&str>,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let row = dispatch_write!(self, pool => {
            sqlx::query_as::<_, Lease>(
                "INSERT INTO lease (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE lease.expires_at < $4 OR lease.holder = excluded.holder \
                    OR ($5 IS NOT NULL AND substr(lease.holder, 1, length($5)) = $5) \
                 RETURNING name, holder, expires_at, refresh_requested_at",
            )
            .bind(name)
            .bind(holder)
            .bind(now.saturating_add(ttl_secs))
            .bind(now)
            .bind(seat)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Gives the lease up if `holder` holds it (on shutdown, so another instance takes over at
    /// once).
    ///
    /// # Errors
    /// Database failures.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query("DELETE FROM lease WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The lease `name` as stored (possibly expired), if any.
    ///
    /// # Errors
    /// Database failures.
    pub async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let row = dispatch!(self, pool => {
            sqlx::query_as::<_, Lease>(
                "SELECT name, holder, expires_at, refresh_requested_at FROM lease WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Asks the holder of lease `name` for an immediate refresh (kept until it clears it).
    ///
    /// # Errors
    /// Database failures.
    pub async fn request_lease_refresh(&self, name: &str, now: i64) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE lease SET refresh_requested_at = $2 WHERE name = $1 AND refresh_requested_at IS NULL",
            )
            .bind(name)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Clears a refresh request on a lease `holder` holds (it is about to refresh).
    ///
    /// # Errors
    /// Database failures.
    pub async fn clear_lease_refresh(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query("UPDATE lease SET refresh_requested_at = NULL WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The sync state of one Register status list.
    ///
    /// # Errors
    /// Database failures.
    pub async fn register_sync_state(
        &self,
        resource: &str,
    ) -> Result<Option<RegisterSyncState>, StoreError> {
        let row = dispatch!(self, pool => {
            sqlx::query_as::<_, RegisterSyncState>(&format!(
                "SELECT {SYNC_STATE_COLUMNS} FROM register_sync WHERE resource = $1"
            ))
            .bind(resource)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// The sync state of every Register status list (for the portal and health views).
    ///
    /// # Errors
    /// Database failures.
    pub async fn register_sync_states(&self) -> Result<Vec<RegisterSyncState>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, RegisterSyncState>(&format!(
                "SELECT {SYNC_STATE_COLUMNS} FROM register_sync ORDER BY resource"
            ))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Writes the sync state of one Register status list.
    ///
    /// # Errors
    /// Database failures.
    pub async fn save_register_sync_state(&self, s: &RegisterSyncState) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "INSERT INTO register_sync (resource, etag, statuses, synced_at, fetched_at, attempted_at, \
                 attempts, failures, last_error, synced_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (resource) DO UPDATE SET etag = excluded.etag, statuses = excluded.statuses, \
                 synced_at = excluded.synced_at, fetched_at = excluded.fetched_at, \
                 attempted_at = excluded.attempted_at, attempts = excluded.attempts, \
                 failures = excluded.failures, last_error = excluded.last_error, synced_by = excluded.synced_by",
            )
            .bind(&s.resource)
            .bind(&s.etag)
            .bind(&s.statuses)
            .bind(s.synced_at)
            .bind(s.fetched_at)
            .bind(s.attempted_at)
            .bind(s.attempts)
            .bind(s.failures)
            .bind(&s.last_error)
            .bind(&s.synced_by)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Records the Register's view of a registration's software product and recipient.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_register_status(
        &self,
        client_id: &str,
        sp_status: Option<&str>,
        dr_status: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE registration SET register_sp_status = $2, register_dr_status = $3, register_synced_at = $4 \
                 WHERE client_id = $1",
            )
            .bind(client_id)
            .bind(sp_status)
            .bind(dr_status)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Every registration whose Register statuses are kept up to date (`active` and `revoked`;
    /// deleted and removed ones are history).
    ///
    /// # Errors
    /// Database failures.
    pub async fn register_sync_targets(&self) -> Result<Vec<RegisterSyncTarget>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, RegisterSyncTarget>(
                "SELECT client_id, software_id, legal_entity_id, status, register_sp_status, register_dr_status \
                 FROM registration WHERE status IN ('active', 'revoked')",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Records new Register statuses on a registration and, when `change.remove`, moves an
    /// active registration to `removed`, with its audit event, in one transaction. The write is
    /// skipped (returns false) when the stored statuses are no longer the ones the change was
    /// computed from.
    ///
    /// # Errors
    /// Database failures.
    pub async fn apply_register_status(
        &self,
        change: &RegisterStatusChange,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        // SQLite spells null-safe equality `IS`; PostgreSQL `IS NOT DISTINCT FROM`.
        let sql = match self.backend() {
            Backend::Sqlite => {
                "UPDATE registration SET register_sp_status = $2, register_dr_status = $3, register_synced_at = $4 \
                 WHERE client_id = $1 AND register_sp_status IS $5 AND register_dr_status IS $6"
            }
            Backend::Postgres => {
                "UPDATE registration SET register_sp_status = $2, register_dr_status = $3, register_synced_at = $4 \
                 WHERE client_id = $1 AND register_sp_status IS NOT DISTINCT FROM $5 \
                 AND register_dr_status IS NOT DISTINCT FROM $6"
            }
        };
        macro_rules! apply {
            ($pool:ident, $begin:expr) => {{
                let mut tx = $pool.begin_with($begin).await?;
                let done = sqlx::query(sql)
                    .bind(&change.client_id)
                    .bind(&change.sp_status)
                    .bind(&change.dr_status)
                    .bind(change.now)
                    .bind(&change.previous_sp_status)
                    .bind(&change.previous_dr_status)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let payload = serde_json::json!({
                    "software_product_status": change.sp_status,
                    "data_recipient_status": change.dr_status,
                    "previous_software_product_status": change.previous_sp_status,
                    "previous_data_recipient_status": change.previous_dr_status,
                })
                .to_string();
                crate::webhooks::enqueue_event!(
                    tx,
                    &change.client_id,
                    crate::webhooks::event::REGISTER_STATUS,
                    &payload,
                    change.now
                );
                if change.remove {
                    let removed = sqlx::query(
                        "UPDATE registration SET status = 'removed', status_reason = $2, updated_at = $3 \
                         WHERE client_id = $1 AND status = 'active'",
                    )
                    .bind(&change.client_id)
                    .bind(&change.reason)
                    .bind(change.now)
                    .execute(&mut *tx)
                    .await?;
                    if removed.rows_affected() > 0 {
                        crate::provisioning::enqueue_change!(
                            tx,
                            &change.client_id,
                            crate::RegistrationStatus::Removed,
                            change.reason.as_deref(),
                            change.now
                        );
                    }
                }
                crate::audit::insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok::<bool, StoreError>(true)
            }};
        }
        match self {
            Store::Sqlite(_, pool, ..) => apply!(pool, "BEGIN IMMEDIATE"),
            Store::Postgres(pool, _) => apply!(pool, "BEGIN"),
        }
    }
}

const SYNC_STATE_COLUMNS: &str = "resource, etag, statuses, synced_at, fetched_at, attempted_at, \
    attempts, failures, last_error, synced_by";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
