//! The outbox deliverer: carries each registration change to the downstream, at least once, in
//! the order the changes were made per registration.
//!
//! One deliverer among the instances sharing a store: the lease [`LEASE`] (the store's lease
//! row, as the CDR Register sync uses), renewed every [`TICK`] by its holder and taken over once
//! it has lapsed for [`LEASE_TTL_SECS`]; an instance restarted after a crash takes its own lease
//! back at once. The holder delivers the head of each registration's queue that is due (a later
//! change of a registration waits for the earlier one), one change at a time; a failed attempt
//! is tried again after a backoff ([`backoff`]) that doubles from 1 s to 5 minutes, and a
//! refusal (4xx) marks the registration `failed` and is tried again at the longest backoff, so
//! an operator can fix the cause (or retry from the portal) without losing the change.
//!
//! At least once: a change is removed from the outbox only after the downstream accepted it;
//! a crash in between sends it again. Update and disable replace the whole client (RFC 7592
//! §2.2) and delete treats an already deleted client as deleted, so sending one twice is
//! harmless. A create sent twice is refused by a downstream that keeps our client_id
//! (it exists already); the registration then shows `failed` with that refusal, for
//! reconciliation.

use std::time::Duration;

use dcr_audit::{Action, Actor};
use dcr_store::{
    NewAuditEvent, OutboxEntry, OutboxOperation, Provisioning, ProvisioningState,
    RegistrationStatus, StoreError,
};

use super::connector::DownstreamError;
use super::{metadata, Provisioner};
use crate::state::AppState;

/// The lease that elects the deliverer.
pub const LEASE: &str = "provisioning";
/// How long the lease lasts without renewal.
pub const LEASE_TTL_SECS: i64 = 60;
/// How often the holder looks for due changes and renews the lease (a change written by this
/// instance wakes it at once).
pub const TICK: Duration = Duration::from_secs(1);
/// The longest wait between two attempts, seconds.
pub const MAX_BACKOFF_SECS: i64 = 300;
/// Changes read per round.
const BATCH: i64 = 32;

/// Seconds to wait after the attempt numbered `attempts` (0 for the first) failed:
/// 1, 2, 4, ... up to [`MAX_BACKOFF_SECS`].
#[must_use]
pub fn backoff(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    2_i64.saturating_pow(exp).min(MAX_BACKOFF_SECS)
}

/// Why a change was not delivered.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// The downstream failed or refused.
    #[error(transparent)]
    Downstream(#[from] DownstreamError),
    /// The change cannot be carried out as things stand here (no record, no client
    /// downstream to change, metadata unreadable).
    #[error("{0}")]
    Impossible(String),
}

impl DeliveryError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Downstream(e) => e.is_retryable(),
            Self::Impossible(_) => false,
        }
    }
}

/// Runs the deliverer until `stopped` resolves, then gives up the lease.
///
/// # Cancel safety
/// Meant to be spawned; `stopped` ends it between two changes or during one (a change whose
/// answer was not recorded is sent again by the next holder).
pub async fn run(
    state: AppState,
    provisioner: std::sync::Arc<Provisioner>,
    stopped: impl std::future::Future<Output = ()>,
) {
    let me = state.register_sync.instance_id().to_string();
    let mut seat = state.register_sync.seat().map(str::to_string);
    let mut holder = false;
    tokio::pin!(stopped);
    loop {
        let now = state.clock.now();
        let acquired = state
            .store
            .claim_lease(LEASE, &me, seat.take().as_deref(), now, LEASE_TTL_SECS)
            .await;
        match acquired {
            Ok(Some(_)) => {
                if !holder {
                    tracing::info!(instance = %me, "provisioning: this instance delivers the outbox");
                }
                holder = true;
                tokio::select! {
                    () = &mut stopped => break,
                    delivered = deliver_due(&state, &provisioner) => {
                        if let Err(e) = delivered {
                            tracing::warn!(error = %e, "provisioning: the outbox could not be read");
                        }
                        record_queue(&state).await;
                    }
                }
            }
            Ok(None) => holder = false,
            Err(e) => {
                holder = false;
                tracing::warn!(error = %e, "provisioning: the lease could not be read");
            }
        }
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(TICK) => {}
            () = provisioner.wake.notified() => {}
        }
    }
    if let Err(e) = state.store.release_lease(LEASE, &me).await {
        tracing::warn!(error = %e, "provisioning: releasing the lease failed");
    }
}

/// Records the outbox's depth and the age of its oldest change (the holder's view).
async fn record_queue(state: &AppState) {
    match state.store.outbox_depth().await {
        Ok((depth, oldest)) => {
            let age = oldest.map_or(0, |at| (state.clock.now() - at).max(0));
            crate::metrics::provisioning_queue(depth, age);
        }
        Err(e) => tracing::warn!(error = %e, "provisioning: the outbox depth could not be read"),
    }
}

/// Delivers every change that is due now, a round of [`BATCH`] at a time; returns how many
/// were attempted.
///
/// # Errors
/// The store failed (the change stays in the outbox).
pub async fn deliver_due(state: &AppState, provisioner: &Provisioner) -> Result<usize, StoreError> {
    let mut attempted = 0;
    loop {
        let due = state.store.outbox_due(state.clock.now(), BATCH).await?;
        if due.is_empty() {
            return Ok(attempted);
        }
        let round = due.len();
        let mut delivered = 0;
        for entry in due {
            if deliver_one(state, provisioner, &entry).await? {
                delivered += 1;
            }
        }
        attempted += round;
        // Failed heads are no longer due: the next round only has the changes behind the
        // delivered ones. Stop when nothing moved, so a failing downstream is not hammered.
        if delivered == 0 {
            return Ok(attempted);
        }
    }
}

/// Delivers one change and records the outcome; returns whether it was delivered.
async fn deliver_one(
    state: &AppState,
    provisioner: &Provisioner,
    entry: &OutboxEntry,
) -> Result<bool, StoreError> {
    let record = state.store.provisioning(&entry.client_id).await?;
    let was_failed = record
        .as_ref()
        .is_some_and(|r| r.state == ProvisioningState::Failed);
    let reg = state.store.get_registration(&entry.client_id).await?;
    let software_id = reg.as_ref().map(|r| r.software_id.clone());
    let outcome = match (record, reg) {
        (Some(record), Some(reg)) => attempt(provisioner, entry, record, &reg).await,
        _ => Err(DeliveryError::Impossible(
            "the registration or its provisioning record is missing".into(),
        )),
    };
    let now = state.clock.now();
    let event = |action: Action, reason: Option<String>, after: Option<String>| NewAuditEvent {
        occurred_at: now,
        actor: Actor::Provisioning.into(),
        action: action.into(),
        client_id: Some(entry.client_id.clone()),
        software_id: software_id.clone(),
        reason,
        after_state: after,
        ..Default::default()
    };
    match outcome {
        Ok((record, done)) => {
            let after = serde_json::json!({
                "downstream_client_id": record.downstream_client_id,
                "outcome": done.as_str(),
            });
            let action = match entry.operation {
                OutboxOperation::Create => Action::ProvisioningCreate,
                OutboxOperation::Update => Action::ProvisioningUpdate,
                OutboxOperation::Disable => Action::ProvisioningDisable,
                OutboxOperation::Delete => Action::ProvisioningDelete,
            };
            let audit = event(action, None, Some(after.to_string()));
            state
                .store
                .complete_outbox(
                    entry.outbox_id,
                    &Provisioning {
                        updated_at: now,
                        ..record
                    },
                    &audit,
                )
                .await?;
            tracing::info!(client_id = %entry.client_id, operation = entry.operation.as_str(),
                "provisioning: change delivered");
            crate::metrics::provisioning_delivery(entry.operation.as_str(), "delivered");
            Ok(true)
        }
        Err(e) => {
            let retryable = e.is_retryable();
            let wait = if retryable {
                backoff(entry.attempts)
            } else {
                MAX_BACKOFF_SECS
            };
            let state_now = if retryable {
                ProvisioningState::Pending
            } else {
                ProvisioningState::Failed
            };
            crate::metrics::provisioning_delivery(
                entry.operation.as_str(),
                if retryable { "failed" } else { "refused" },
            );
            let message = e.to_string();
            tracing::warn!(client_id = %entry.client_id, operation = entry.operation.as_str(),
                attempts = entry.attempts + 1, retry_in_secs = wait, error = %message,
                "provisioning: change not delivered");
            // A refusal is recorded when it happens, not at each retry of it.
            let audit = (!retryable && !was_failed)
                .then(|| event(Action::ProvisioningRefused, Some(message.clone()), None));
            state
                .store
                .fail_outbox(entry, &message, now + wait, state_now, now, audit.as_ref())
                .await?;
            Ok(false)
        }
    }
}

/// What a delivered change did at the downstream (recorded in its audit event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    /// Carried out.
    Changed,
    /// Nothing to do: carried out before, or no longer wanted (a later change decides).
    Skipped,
    /// A delete of a client that was gone already.
    Gone,
}

impl Done {
    fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Skipped => "skipped",
            Self::Gone => "already_gone",
        }
    }
}

/// Carries out one change at the downstream; answers the record as it is afterwards, and
/// what was done.
async fn attempt(
    provisioner: &Provisioner,
    entry: &OutboxEntry,
    record: Provisioning,
    reg: &dcr_store::Registration,
) -> Result<(Provisioning, Done), DeliveryError> {
    let connector = &provisioner.connector;
    let managed = match (
        &record.downstream_client_id,
        &record.registration_client_uri,
        &record.registration_access_token,
    ) {
        (Some(id), Some(uri), Some(rat)) => Some((id.clone(), uri.clone(), rat.clone())),
        _ => None,
    };
    match entry.operation {
        OutboxOperation::Create => {
            // Created already (a create recorded earlier), or no longer wanted (a later change
            // deleted or revoked it before it was delivered: the changes behind it see no client).
            if managed.is_some() || reg.status != RegistrationStatus::Active {
                return Ok((record, Done::Skipped));
            }
            let body = metadata::client_metadata(reg, Some(&reg.client_id), false)
                .map_err(DeliveryError::Impossible)?;
            let client = connector.create(&body).await?;
            if client.client_id != reg.client_id {
                provisioner.undo_create(&client).await;
                return Err(DeliveryError::Impossible(format!(
                    "the authorization server assigned the client_id {:?} instead of ours",
                    client.client_id
                )));
            }
            let record = Provisioning {
                downstream_client_id: Some(client.client_id),
                registration_client_uri: Some(client.registration_client_uri),
                registration_access_token: Some(client.registration_access_token),
                ..record
            };
            Ok((record, Done::Changed))
        }
        OutboxOperation::Update | OutboxOperation::Disable => {
            let disabled = entry.operation == OutboxOperation::Disable;
            // An update behind a revocation or deletion: the change after it decides.
            if !disabled && reg.status != RegistrationStatus::Active {
                return Ok((record, Done::Skipped));
            }
            let Some((id, uri, rat)) = managed else {
                return if record.downstream_client_id.is_none() && disabled {
                    Ok((record, Done::Skipped))
                } else {
                    Err(DeliveryError::Impossible(
                        "the client was never created at the authorization server".into(),
                    ))
                };
            };
            let body = metadata::client_metadata(reg, Some(&id), disabled)
                .map_err(DeliveryError::Impossible)?;
            let rotated = connector.update(&uri, &rat, &body).await?;
            let record = Provisioning {
                registration_access_token: Some(rotated.unwrap_or(rat)),
                ..record
            };
            Ok((record, Done::Changed))
        }
        OutboxOperation::Delete => {
            let Some((id, uri, rat)) = managed else {
                // Never created there, or deleted already.
                return Ok((record, Done::Skipped));
            };
            let done = match connector.delete(&uri, &rat).await {
                Ok(()) => Done::Changed,
                Err(e) if e.is_gone() => {
                    tracing::info!(client_id = %reg.client_id, downstream_client_id = %id,
                        "provisioning: the client was already gone at the authorization server");
                    Done::Gone
                }
                Err(e) => return Err(e.into()),
            };
            // The credential died with the client; the id stays for the record.
            let record = Provisioning {
                registration_client_uri: None,
                registration_access_token: None,
                ..record
            };
            Ok((record, done))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let waits: Vec<i64> = (0..11).map(backoff).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(-1), 1);
        assert_eq!(backoff(i64::MAX), MAX_BACKOFF_SECS);
    }
}
