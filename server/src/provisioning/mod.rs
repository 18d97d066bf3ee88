//! Provisioning: each registration made here becomes a client of the Data Holder's own
//! authorization server (the downstream), which issues the tokens for its CDR APIs, and every
//! later change of the registration follows it there (docs/provisioning.md).
//!
//! - [`connector`]: RFC 7591 create (authorized by an initial access token, or by a token of
//!   the client credentials grant), RFC 7592 read, update and delete with the registration
//!   access token.
//! - [`metadata`]: the client metadata sent, built from the stored registration.
//! - [`deliver`]: the outbox deliverer (retries with backoff, in order per registration, one
//!   deliverer among instances under a lease).
//! - [`reconcile`]: compares the registrations with their clients there, reports the drift and
//!   queues repairs (the command `dcr-server provisioning reconcile` and a periodic check).
//!
//! `POST /register` creates the client before it answers (sync mode) or writes the outbox row
//! that creates it with the registration (async mode); every later change (PUT, DELETE, an
//! administrator's revocation or release, removal at the CDR Register) writes its outbox row in
//! its own transaction, in the store.

pub mod connector;
pub mod deliver;
pub mod metadata;
pub mod reconcile;

use std::sync::Arc;

use dcr_audit::{Action, Actor};
use dcr_store::{
    NewAuditEvent, NewOutboxEntry, NewProvisioning, OutboxOperation, Provisioning,
    ProvisioningState, Registration,
};
use tokio::sync::Notify;

use self::connector::{Connector, DownstreamClient, DownstreamError};
use crate::config::{ClientIdPolicy, ProvisioningConfig, ProvisioningMode};

/// The provisioning of this instance: the configuration, the connector, and the deliverer's
/// wake-up.
#[derive(Debug)]
pub struct Provisioner {
    /// `[provisioning]`.
    pub config: ProvisioningConfig,
    /// The downstream's client.
    pub connector: Connector,
    /// Wakes the deliverer when this instance wrote an outbox row (others find it at their
    /// next round).
    pub wake: Notify,
}

/// Shared handle.
pub type SharedProvisioner = Arc<Provisioner>;

/// Why a registration could not be provisioned before it was answered (sync mode).
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The downstream failed or refused.
    #[error(transparent)]
    Downstream(#[from] DownstreamError),
    /// The downstream kept another client_id than ours (policy `ours`); the client it made
    /// was deleted again.
    #[error("the authorization server assigned the client_id {0:?} instead of ours")]
    ClientIdNotKept(String),
    /// The downstream assigned a client_id that cannot be a registration's (policy
    /// `downstream`: it must be 1 to 128 URL-safe characters, as it goes into
    /// `/register/{client_id}`); the client it made was deleted again.
    #[error("the authorization server assigned an unusable client_id")]
    UnusableClientId,
    /// The stored metadata could not be read.
    #[error("the registration's metadata could not be read: {0}")]
    Metadata(String),
}

impl Provisioner {
    /// The provisioning of `[provisioning]`.
    ///
    /// # Errors
    /// The connector could not be built (CA file, TLS).
    pub fn new(config: ProvisioningConfig) -> anyhow::Result<Self> {
        Ok(Self {
            connector: Connector::new(&config)?,
            config,
            wake: Notify::new(),
        })
    }

    /// Whether the client is created before `POST /register` answers.
    #[must_use]
    pub fn is_sync(&self) -> bool {
        self.config.mode == ProvisioningMode::Sync
    }

    /// Sync mode: creates the client of a registration about to be stored. The metadata
    /// carries `reg.client_id` under the policy `ours` (a downstream that keeps another one is
    /// refused, and what it made deleted) and none under `downstream`, whose answer names the
    /// client_id the registration is then stored and answered with.
    ///
    /// # Errors
    /// See [`ProvisionError`].
    pub async fn create_now(&self, reg: &Registration) -> Result<DownstreamClient, ProvisionError> {
        let ours = self.config.client_ids == ClientIdPolicy::Ours;
        let body = metadata::client_metadata(reg, ours.then_some(reg.client_id.as_str()), false)
            .map_err(ProvisionError::Metadata)?;
        let client = self.connector.create(&body).await?;
        if ours && client.client_id != reg.client_id {
            self.undo_create(&client).await;
            return Err(ProvisionError::ClientIdNotKept(client.client_id));
        }
        if !usable_client_id(&client.client_id) {
            self.undo_create(&client).await;
            return Err(ProvisionError::UnusableClientId);
        }
        Ok(client)
    }

    /// Deletes a client created for a registration that was then not stored, so that nothing
    /// half-made stays downstream. A failure is logged (the client then waits for
    /// reconciliation).
    pub async fn undo_create(&self, client: &DownstreamClient) {
        match self
            .connector
            .delete(
                &client.registration_client_uri,
                &client.registration_access_token,
            )
            .await
        {
            Ok(()) => tracing::info!(downstream_client_id = %client.client_id,
                "provisioning: deleted the downstream client of a registration not stored"),
            Err(e) => tracing::error!(downstream_client_id = %client.client_id, error = %e,
                "provisioning: the downstream client of a registration not stored could not be deleted"),
        }
    }

    /// What a new registration writes with it: in sync mode the record of the client just
    /// created and its audit event; in async mode a pending record and the outbox row that
    /// creates the client.
    #[must_use]
    pub fn new_provisioning(
        &self,
        client_id: &str,
        software_id: &str,
        created: Option<&DownstreamClient>,
        now: i64,
    ) -> NewProvisioning {
        let record = Provisioning {
            client_id: client_id.to_string(),
            downstream_client_id: created.map(|c| c.client_id.clone()),
            registration_client_uri: created.map(|c| c.registration_client_uri.clone()),
            registration_access_token: created.map(|c| c.registration_access_token.clone()),
            state: if created.is_some() {
                ProvisioningState::Provisioned
            } else {
                ProvisioningState::Pending
            },
            last_error: None,
            attempts: 0,
            updated_at: now,
        };
        NewProvisioning {
            record,
            create: created.is_none().then(|| NewOutboxEntry {
                client_id: client_id.to_string(),
                operation: OutboxOperation::Create,
                payload: serde_json::json!({ "status": "active", "reason": null }).to_string(),
                created_at: now,
            }),
            audit: created.map(|c| NewAuditEvent {
                occurred_at: now,
                actor: Actor::Provisioning.into(),
                action: Action::ProvisioningCreate.into(),
                client_id: Some(client_id.to_string()),
                software_id: Some(software_id.to_string()),
                after_state: Some(
                    serde_json::json!({
                        "downstream_client_id": c.client_id,
                        "outcome": "changed",
                    })
                    .to_string(),
                ),
                ..Default::default()
            }),
        }
    }
}

/// Whether a client_id can be a registration's: 1 to 128 of RFC 3986's unreserved characters.
#[must_use]
pub fn usable_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::usable_client_id;

    #[test]
    fn a_registration_takes_only_url_safe_client_ids() {
        for ok in ["3f2a9c1e-1b2c-4d5e-8f90-123456789abc", "a", "A.b_c~d-1"] {
            assert!(usable_client_id(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in ["", "a b", "a/b", "caf\u{e9}", "a%20", long.as_str()] {
            assert!(!usable_client_id(bad), "{bad:?}");
        }
    }
}
