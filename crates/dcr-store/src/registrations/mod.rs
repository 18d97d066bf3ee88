//! Registrations: the recipient's lifecycle (create, read, update, status changes), an
//! administrator's release, the portal's search (`search`, and PostgreSQL's `search_copy`) and
//! development seeds (`seed`).
//!
//! Creating a registration is the hot write: both backends batch it into group commits (see
//! `sqlite` and `postgres`). The other changes run in a transaction of their own, each with its
//! audit event and, for a provisioned registration, the outbox row that carries the change to
//! the downstream authorization server (`provisioning`).

mod export;
mod grams;
mod metadata;
mod model;
mod search;
mod search_copy;
mod seed;

pub use export::{ExportedRegistration, EXPORT_BATCH};
pub(crate) use grams::{index_text, GRAM_COLUMNS};
pub use metadata::Metadata;
pub use model::{Registration, RegistrationStatus};
pub(crate) use model::{
    RegistrationRow, INSERT_REGISTRATION, NEW_REGISTRATION, REGISTRATION_COLUMNS,
    SELECT_REGISTRATION,
};
pub use search::{search_words, AdminListQuery, Sort, StatusFilter, MAX_SEARCH_WORDS};
pub use seed::SeedRegistration;

/// Most registrations one group revocation takes ([`Store::revoke_group`]).
pub const MAX_GROUP_REVOCATION: usize = 1_000;

/// What a group revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRevocation {
    /// These registrations (client ids) were revoked; none when the group had no active one.
    Revoked(Vec<String>),
    /// The group has more than [`MAX_GROUP_REVOCATION`] active registrations: nothing done.
    TooMany,
}

/// The registrations of one brand or of one legal entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group<'a> {
    /// Of this brand (`org_id`).
    Brand(&'a str),
    /// Of this legal entity (`legal_entity_id`).
    LegalEntity(&'a str),
}

use crate::provisioning::enqueue_change;
use crate::{dispatch, in_tx, Backend, NewAuditEvent, NewProvisioning, Store, StoreError, UsedJti};

/// What [`Store::release_registration`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The registration had status `from` (active or revoked) and is now released, with its
    /// audit event.
    Released {
        /// The status it had.
        from: RegistrationStatus,
        /// Its software product id, which is free again.
        software_id: String,
    },
    /// The registration holds no software product id already (it is released, deleted or
    /// removed, as given): nothing changed and nothing was audited.
    Unchanged(RegistrationStatus),
    /// No registration has this client id.
    NotFound,
}

impl Store {
    /// Creates a registration, consuming the request's `jti` and writing its audit event, all in
    /// one transaction.
    ///
    /// # Errors
    /// `Conflict(Conflict::SoftwareIdTaken)` when the software product already
    /// has an active (or revoked) registration; `Conflict(Conflict::JtiUsed)` on a
    /// replayed `jti`.
    pub async fn create_registration(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        self.create_registration_provisioned(reg, jti, audit, None)
            .await
    }

    /// [`Store::create_registration`], also writing the registration's provisioning record
    /// and, when its client is still to be created downstream, the outbox row that creates it,
    /// in the same transaction (docs/provisioning.md).
    ///
    /// Without `provisioning` this is the group commit of [`Store::create_registration`]. With
    /// it, the registration is written in a transaction of its own, on the path of the other
    /// registration changes (SQLite's write pool, which queues with the group commit on
    /// SQLite's lock; PostgreSQL's chain lock orders it with the batches): such registrations
    /// wait for the downstream anyway, and the group commit's batch function stays as it is.
    ///
    /// # Errors
    /// As [`Store::create_registration`]; `Conflict` when the downstream client id is recorded
    /// for another registration.
    pub async fn create_registration_provisioned(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
        provisioning: Option<&NewProvisioning>,
    ) -> Result<(), StoreError> {
        self.create_registration_with(reg, jti, audit, provisioning, false)
            .await
    }

    /// [`Store::create_registration_provisioned`], also queueing the `registration.created`
    /// event for every configured webhook in the same transaction when `notify` (docs/webhooks.md).
    ///
    /// With neither provisioning nor `notify` this is the group commit of
    /// [`Store::create_registration`]; otherwise the registration is written in a transaction of
    /// its own (see [`Store::create_registration_provisioned`]).
    ///
    /// # Errors
    /// As [`Store::create_registration_provisioned`].
    pub async fn create_registration_with(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
        provisioning: Option<&NewProvisioning>,
        notify: bool,
    ) -> Result<(), StoreError> {
        if provisioning.is_none() && !notify {
            return self.create_registration_batched(reg, jti, audit).await;
        }
        in_tx!(self, tx => {
            if let Some(j) = jti {
                sqlx::query(crate::jti::CONSUME_JTI)
                    .bind(&j.key).bind(j.expires_at).execute(&mut *tx).await?;
            }
            crate::sql::bind_row(sqlx::query(INSERT_REGISTRATION.as_str()), &NEW_REGISTRATION, reg)
                .execute(&mut *tx)
                .await?;
            if let Some(provisioning) = provisioning {
                crate::sql::bind_row(
                    sqlx::query(crate::provisioning::UPSERT_PROVISIONING.as_str()),
                    &crate::provisioning::PROVISIONING,
                    &provisioning.record,
                )
                .execute(&mut *tx)
                .await?;
                if let Some(create) = &provisioning.create {
                    crate::sql::bind_row(
                        sqlx::query(crate::provisioning::INSERT_OUTBOX.as_str()),
                        &crate::provisioning::NEW_OUTBOX,
                        create,
                    )
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if notify {
                let payload = crate::provisioning::status_payload(reg.status, None);
                crate::webhooks::enqueue_event!(
                    tx,
                    &reg.client_id,
                    crate::webhooks::event::CREATED,
                    &payload,
                    reg.created_at
                );
            }
            crate::audit::insert_audit(&mut *tx, audit).await?;
            if let Some(done) = provisioning.and_then(|p| p.audit.as_ref()) {
                crate::audit::insert_audit(&mut *tx, done).await?;
            }
            Ok::<(), StoreError>(())
        })
    }

    /// The group commit of a registration without provisioning.
    async fn create_registration_batched(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        // Both backends batch registrations into group commits (`sqlite::writer`, `postgres::writer`).
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (reg, audit) = (Box::new(reg.clone()), Box::new(audit.clone()));
        let jti = jti.cloned();
        match self {
            Self::Sqlite(_, _, batcher, _) => {
                batcher
                    .submit(crate::sqlite::Job::CreateRegistration {
                        reg,
                        jti,
                        audit,
                        reply,
                    })
                    .await?;
            }
            Self::Postgres(_, writer) => {
                writer
                    .submit(crate::postgres::Job {
                        reg,
                        jti,
                        audit,
                        reply,
                    })
                    .await?;
            }
        }
        answer
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
    }

    /// Replaces the stored metadata of a registration (PUT), consuming the request's `jti`, with
    /// its audit event, in one transaction. Only an `active` registration is updated.
    ///
    /// # Errors
    /// `NotFound` when there is no active registration with that client id; `Conflict` on a
    /// replayed `jti`.
    pub async fn update_registration(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            if let Some(j) = jti {
                sqlx::query(crate::jti::CONSUME_JTI)
                    .bind(&j.key).bind(j.expires_at).execute(&mut *tx).await?;
            }
            let done = sqlx::query(
                "UPDATE registration SET org_name = $2, client_name = $3, jwks_uri = $4, scope = $5, \
                 ssa = $6, metadata = $7, updated_at = $8, legal_entity_name = $9, \
                 legal_entity_id = $10, org_id = $11 \
                 WHERE client_id = $1 AND status = 'active'",
            )
            .bind(&reg.client_id)
            .bind(&reg.org_name)
            .bind(&reg.client_name)
            .bind(&reg.jwks_uri)
            .bind(&reg.scope)
            .bind(&reg.ssa)
            .bind(reg.metadata.stored(&reg.ssa))
            .bind(reg.updated_at)
            .bind(&reg.legal_entity_name)
            .bind(&reg.legal_entity_id)
            .bind(&reg.org_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            enqueue_change!(tx, &reg.client_id, RegistrationStatus::Active, None, reg.updated_at);
            crate::audit::insert_audit(&mut *tx, audit).await?;
            Ok::<(), StoreError>(())
        })
    }

    /// Moves a registration from one of `from` statuses to `to`, with its audit event, in one
    /// transaction. Returns whether a row changed (false: it was not in one of `from`).
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_registration_status(
        &self,
        client_id: &str,
        from: &[RegistrationStatus],
        to: RegistrationStatus,
        reason: Option<&str>,
        now: i64,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let from_list = from.join(",");
        in_tx!(self, tx => {
            // `from` is a short closed set of our own status names, passed as one parameter and
            // matched with instr/strpos so the SQL text stays identical on both backends.
            let sql = match self.backend() {
                Backend::Sqlite => "UPDATE registration SET status = $2, status_reason = $3, updated_at = $4 \
                    WHERE client_id = $1 AND instr(',' || $5 || ',', ',' || status || ',') > 0",
                Backend::Postgres => "UPDATE registration SET status = $2, status_reason = $3, updated_at = $4 \
                    WHERE client_id = $1 AND strpos(',' || $5 || ',', ',' || status || ',') > 0",
            };
            let done = sqlx::query(sql)
                .bind(client_id)
                .bind(to.as_str())
                .bind(reason)
                .bind(now)
                .bind(&from_list)
                .execute(&mut *tx)
                .await?;
            let changed = done.rows_affected() > 0;
            if changed {
                enqueue_change!(tx, client_id, to, reason, now);
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(changed)
        })
    }

    /// Revokes every active registration of `group` (a brand or a legal entity) in one
    /// transaction, at most [`MAX_GROUP_REVOCATION`]: each moved to `revoked` with `reason`,
    /// queued for the downstream like a single revocation, with its own audit event (`each`,
    /// completed with its client and software product ids), and then one event for the group
    /// (`summary`, completed with the client ids revoked). With more active registrations
    /// than the limit, nothing is written.
    ///
    /// # Errors
    /// Database failures.
    pub async fn revoke_group(
        &self,
        group: Group<'_>,
        reason: &str,
        each: &NewAuditEvent,
        summary: &NewAuditEvent,
    ) -> Result<GroupRevocation, StoreError> {
        let now = each.occurred_at;
        let select = match group {
            Group::Brand(_) => {
                "SELECT client_id, software_id FROM registration \
                 WHERE org_id = $1 AND status = 'active' ORDER BY client_id LIMIT $2"
            }
            Group::LegalEntity(_) => {
                "SELECT client_id, software_id FROM registration \
                 WHERE legal_entity_id = $1 AND status = 'active' ORDER BY client_id LIMIT $2"
            }
        };
        let id = match group {
            Group::Brand(id) | Group::LegalEntity(id) => id,
        };
        let limit = i64::try_from(MAX_GROUP_REVOCATION).unwrap_or(i64::MAX) + 1;
        in_tx!(self, tx => {
            let members: Vec<(String, String)> = sqlx::query_as(select)
                .bind(id)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            if members.len() > MAX_GROUP_REVOCATION {
                return Ok::<GroupRevocation, StoreError>(GroupRevocation::TooMany);
            }
            let mut revoked = Vec::with_capacity(members.len());
            for (client_id, software_id) in members {
                let done = sqlx::query(
                    "UPDATE registration SET status = 'revoked', status_reason = $2, updated_at = $3 \
                     WHERE client_id = $1 AND status = 'active'",
                )
                .bind(&client_id)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    continue;
                }
                enqueue_change!(tx, &client_id, RegistrationStatus::Revoked, Some(reason), now);
                let mut event = each.clone();
                event.client_id = Some(client_id.clone());
                event.software_id = Some(software_id);
                crate::audit::insert_audit(&mut *tx, &event).await?;
                revoked.push(client_id);
            }
            if !revoked.is_empty() {
                let mut event = summary.clone();
                let mut after: serde_json::Value = event
                    .after_state
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_else(|| serde_json::json!({}));
                after["client_ids"] = serde_json::json!(revoked);
                event.after_state = Some(after.to_string());
                crate::audit::insert_audit(&mut *tx, &event).await?;
            }
            Ok::<GroupRevocation, StoreError>(GroupRevocation::Revoked(revoked))
        })
    }

    /// How many active registrations `group` has.
    ///
    /// # Errors
    /// Database failures.
    pub async fn active_in_group(&self, group: Group<'_>) -> Result<u64, StoreError> {
        let (sql, id) = match group {
            Group::Brand(id) => (
                "SELECT COUNT(*) FROM registration WHERE org_id = $1 AND status = 'active'",
                id,
            ),
            Group::LegalEntity(id) => (
                "SELECT COUNT(*) FROM registration WHERE legal_entity_id = $1 AND status = 'active'",
                id,
            ),
        };
        let (n,): (i64,) = dispatch!(self, pool => {
            sqlx::query_as(sql).bind(id).fetch_one(pool).await
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Reads one registration by client id, whatever its status.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn get_registration(
        &self,
        client_id: &str,
    ) -> Result<Option<Registration>, StoreError> {
        if let Self::Sqlite(.., fast) = self {
            match fast.registration(client_id) {
                Ok(row) => return row.map(Registration::try_from).transpose(),
                Err(e) => {
                    tracing::debug!(error = %e, "fast registration read failed; reading through the pool")
                }
            }
        }
        let row: Option<RegistrationRow> = dispatch!(self, pool => {
            sqlx::query_as(SELECT_REGISTRATION.as_str())
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(Registration::try_from).transpose()
    }

    /// Brings SQLite's `registration_list` (the portal's list copy) up to date with every
    /// committed registration, and the index of its short pieces (`registration_grams`) with up
    /// to 20,000 of its rows; nothing to do on PostgreSQL, whose list reads the registration
    /// table. The store's writer otherwise copies new registrations whenever it is idle.
    ///
    /// # Errors
    /// Database failures, or the writer stopped.
    pub async fn sync_registration_list(&self) -> Result<(), StoreError> {
        self.sync_list_copy(false).await
    }

    /// [`Store::sync_registration_list`], then every row of the list copy in SQLite's index of
    /// short pieces, however many wait (after seeding, so that a benchmark that follows does
    /// not share the machine with the writer catching up).
    ///
    /// # Errors
    /// Database failures, or the writer stopped.
    pub async fn sync_search_grams(&self) -> Result<(), StoreError> {
        self.sync_list_copy(true).await
    }

    async fn sync_list_copy(&self, all_grams: bool) -> Result<(), StoreError> {
        let Self::Sqlite(_, _, batcher, _) = self else {
            return Ok(());
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        batcher
            .submit(crate::sqlite::Job::SyncList { all_grams, reply })
            .await?;
        answer
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
    }

    /// The registration holding a software product id (active or revoked), if any.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn find_registration_by_software_id(
        &self,
        software_id: &str,
    ) -> Result<Option<Registration>, StoreError> {
        let key = software_id.to_ascii_lowercase();
        let row: Option<RegistrationRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {REGISTRATION_COLUMNS} FROM registration WHERE software_key = $1 \
                 AND status IN ('active', 'revoked') LIMIT 1"
            ))
            .bind(&key)
            .fetch_optional(pool)
            .await
        })?;
        row.map(Registration::try_from).transpose()
    }

    /// Releases a registration (CDS standards-maintenance#581): an `active` or
    /// `revoked` registration becomes `released`, with `reason` as its status reason, and an
    /// audit event is appended (action `registration.release` by `actor`, the status before and
    /// after, the reason), in one transaction. From then on its tokens and management calls are
    /// refused (every API path requires `active`), and its software product may register again:
    /// the unique index on the software product covers `active` and `revoked` only.
    ///
    /// Each status that can be released is tried by its own conditional `UPDATE`, so the first
    /// statement takes the write lock (SQLite) or the row lock (PostgreSQL) and the status
    /// recorded as "before" is the one replaced, whatever runs concurrently.
    ///
    /// # Errors
    /// Database failures, or an unreadable status.
    pub async fn release_registration(
        &self,
        client_id: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<ReleaseOutcome, StoreError> {
        in_tx!(self, tx => {
            let mut released = None;
            for from in [RegistrationStatus::Active, RegistrationStatus::Revoked] {
                let row: Option<(String,)> = sqlx::query_as(
                    "UPDATE registration SET status = 'released', status_reason = $3, updated_at = $4 \
                     WHERE client_id = $1 AND status = $2 RETURNING software_id",
                )
                .bind(client_id)
                .bind(from.as_str())
                .bind(reason)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((software_id,)) = row {
                    released = Some((from, software_id));
                    break;
                }
            }
            if released.is_some() {
                enqueue_change!(tx, client_id, RegistrationStatus::Released, Some(reason), now);
            }
            let outcome = if let Some((from, software_id)) = released {
                let event = NewAuditEvent {
                    occurred_at: now,
                    actor: actor.to_string(),
                    action: dcr_audit::Action::RegistrationRelease.into(),
                    client_id: Some(client_id.to_string()),
                    software_id: Some(software_id.clone()),
                    reason: Some(reason.to_string()),
                    before_state: Some(serde_json::json!({ "status": from.as_str() }).to_string()),
                    after_state: Some(serde_json::json!({ "status": "released" }).to_string()),
                };
                crate::audit::insert_audit(&mut *tx, &event).await?;
                ReleaseOutcome::Released { from, software_id }
            } else {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT status FROM registration WHERE client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match row {
                    None => ReleaseOutcome::NotFound,
                    Some((status,)) => ReleaseOutcome::Unchanged(
                        RegistrationStatus::parse(&status).ok_or_else(|| StoreError::Inconsistent {
                            table: "registration",
                            column: "status",
                            message: format!("unknown status {status:?} for {client_id}"),
                        })?,
                    ),
                }
            };
            Ok::<ReleaseOutcome, StoreError>(outcome)
        })
    }
}
