//! Bulk inserts of registrations for development seeds and tests.

use super::{INSERT_REGISTRATION, NEW_REGISTRATION};
use crate::sql;
use crate::{in_tx, NewAuditEvent, Registration, Store, StoreError};

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
    /// a thousand rows. For development and tests only: nothing is validated.
    ///
    /// # Errors
    /// Database failures, or a conflict with an existing registration.
    pub async fn insert_registrations_bulk(
        &self,
        regs: &[SeedRegistration],
    ) -> Result<(), StoreError> {
        for chunk in regs.chunks(1000) {
            in_tx!(self, tx => {
                for seed in chunk {
                    let r = &seed.registration;
                    sql::bind_row(sqlx::query(INSERT_REGISTRATION.as_str()), &NEW_REGISTRATION, r)
                        .execute(&mut *tx)
                        .await?;
                    let extra = r.status_reason.is_some()
                        || r.register_sp_status.is_some()
                        || r.register_dr_status.is_some()
                        || r.register_synced_at.is_some();
                    if extra {
                        sqlx::query(
                            "UPDATE registration SET status_reason = $2, register_sp_status = $3, \
                             register_dr_status = $4, register_synced_at = $5 WHERE client_id = $1",
                        )
                        .bind(&r.client_id)
                        .bind(&r.status_reason)
                        .bind(&r.register_sp_status)
                        .bind(&r.register_dr_status)
                        .bind(r.register_synced_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(a) = &seed.audit {
                        crate::audit::insert_audit(&mut *tx, a).await?;
                    }
                }
                Ok::<(), StoreError>(())
            })?;
        }
        self.sync_registration_list().await
    }
}
