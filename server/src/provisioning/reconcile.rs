//! Reconciliation: compares each provisioned registration with its client at the downstream
//! (RFC 7592 read with the registration access token) and reports the drift; with repair, it
//! queues the change that puts the client right (docs/provisioning.md, "Reconciliation").
//!
//! | here | there | drift | repair |
//! |---|---|---|---|
//! | active | gone (404, or 401 for the token) | missing | create again (policy `ours`) |
//! | deleted, released or removed | still there | extra | delete |
//! | revoked | enabled (has grant types) | disabled | disable |
//! | active | disabled (no grant types) | disabled | update |
//! | active or revoked | other fields differ | metadata | update (or disable) |
//! | any | cannot be asked | unchecked | none |
//!
//! A registration with a change still waiting in the outbox is not compared: the deliverer is
//! on it. A revoked registration whose client is gone is not drift (a revoked client obtains no
//! token either way).
//!
//! Repairs go through the outbox, in one transaction with their audit event: the deliverer
//! carries them out in order with the registration's other changes, built from the
//! registration as it is then, so a registration changed while the check ran is never put
//! back to what the check saw.
//!
//! Clients that exist at the downstream without a record here cannot be found: RFC 7592 has
//! no way to list clients.

use std::collections::BTreeSet;
use std::time::Duration;

use dcr_audit::{Action, Actor};
use dcr_store::{
    Drift, DriftKind, NewAuditEvent, OutboxOperation, Provisioning, Reconciliation, Registration,
    RegistrationStatus, Store, StoreError,
};
use serde_json::Value;

use super::connector::DownstreamError;
use super::{metadata, Provisioner};
use crate::config::ClientIdPolicy;

/// The lease that elects the instance running the periodic check.
pub const LEASE: &str = "provisioning-reconcile";
/// How long that lease lasts without renewal (it is renewed after each page).
pub const LEASE_TTL_SECS: i64 = 120;
/// Registrations read per page.
const PAGE: i64 = 100;
/// How often an instance looks whether a periodic check is due.
const TICK: Duration = Duration::from_secs(5);

/// What one comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How the client differs.
    pub kind: DriftKind,
    /// In words.
    pub detail: String,
    /// The change that repairs it, if one can.
    pub repair: Option<Repair>,
}

/// A change that repairs a drifted client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// What the deliverer is asked to do.
    pub operation: OutboxOperation,
    /// Whether the record's handle on the client (gone there) is dropped first.
    pub forget_client: bool,
}

/// A finished run, with what it found (already recorded in the store).
#[derive(Debug, Clone)]
pub struct Report {
    /// The run.
    pub run: Reconciliation,
    /// Each drifted registration.
    pub drift: Vec<Drift>,
}

/// Who runs a check and whether it repairs.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// `cli` or `provisioning`.
    pub actor: Actor<'a>,
    /// Queue the repairs.
    pub repair: bool,
    /// The instance holding [`LEASE`], renewed after each page (the periodic check); a run
    /// that loses it stops.
    pub lease_holder: Option<&'a str>,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another instance took over the periodic check.
    #[error("another instance took over the reconciliation")]
    LeaseLost,
}

/// Compares every provisioned registration with its client, records the run and what it found,
/// and (with `run.repair`) queues the repairs.
///
/// # Errors
/// The store failed, or the run lost its lease; nothing is recorded then.
pub async fn reconcile(
    store: &Store,
    provisioner: &Provisioner,
    now: impl Fn() -> i64,
    run: Run<'_>,
) -> Result<Report, ReconcileError> {
    let started_at = now();
    let mut drift = Vec::new();
    let (mut checked, mut repaired) = (0_i64, 0_i64);
    let mut after = String::new();
    loop {
        let page = store.provisioning_after(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.client_id);
        for record in page {
            // Changes waiting: the deliverer is on it.
            if !store.outbox_of(&record.client_id).await?.is_empty() {
                continue;
            }
            let Some(reg) = store.get_registration(&record.client_id).await? else {
                continue;
            };
            checked += 1;
            let Some(found) = compare(provisioner, &record, &reg).await else {
                continue;
            };
            let at = now();
            let mut repaired_at = None;
            if let (true, Some(fix)) = (run.repair, found.repair) {
                let audit = NewAuditEvent {
                    occurred_at: at,
                    actor: run.actor.into(),
                    action: Action::ProvisioningRepair.into(),
                    client_id: Some(reg.client_id.clone()),
                    software_id: Some(reg.software_id.clone()),
                    reason: Some(format!("{}: {}", found.kind.as_str(), found.detail)),
                    after_state: Some(
                        serde_json::json!({ "operation": fix.operation.as_str() }).to_string(),
                    ),
                    ..Default::default()
                };
                if store
                    .enqueue_repair(&reg.client_id, fix.operation, fix.forget_client, &audit)
                    .await?
                {
                    repaired += 1;
                    repaired_at = Some(at);
                }
            }
            tracing::warn!(client_id = %reg.client_id, kind = found.kind.as_str(),
                detail = %found.detail, repair_queued = repaired_at.is_some(),
                "provisioning: the client at the authorization server differs from the registration");
            drift.push(Drift {
                client_id: reg.client_id,
                kind: found.kind,
                detail: found.detail,
                found_at: at,
                repaired_at,
            });
        }
        if let Some(me) = run.lease_holder {
            if store
                .claim_lease(LEASE, me, None, now(), LEASE_TTL_SECS)
                .await?
                .is_none()
            {
                return Err(ReconcileError::LeaseLost);
            }
        }
    }
    let mut report = Report {
        run: Reconciliation {
            reconciliation_id: 0,
            started_at,
            finished_at: now(),
            actor: run.actor.to_string(),
            repair: run.repair,
            checked,
            drifted: i64::try_from(drift.len()).unwrap_or(i64::MAX),
            repaired,
        },
        drift,
    };
    report.run.reconciliation_id = store
        .record_reconciliation(&report.run, &report.drift)
        .await?;
    crate::metrics::provisioning_reconciliation(&report.run);
    Ok(report)
}

/// Compares one registration with its client there; `None` when they agree.
pub async fn compare(
    provisioner: &Provisioner,
    record: &Provisioning,
    reg: &Registration,
) -> Option<Finding> {
    let handle = match (
        &record.downstream_client_id,
        &record.registration_client_uri,
        &record.registration_access_token,
    ) {
        (Some(id), Some(uri), Some(rat)) => Some((id, uri, rat)),
        _ => None,
    };
    let status = reg.status;
    let wanted = matches!(
        status,
        RegistrationStatus::Active | RegistrationStatus::Revoked
    );
    let missing = |detail: String| {
        (status == RegistrationStatus::Active).then(|| Finding {
            kind: DriftKind::Missing,
            detail,
            // A downstream that assigns its own client_ids cannot make the client again under
            // the one the recipient holds.
            repair: (provisioner.config.client_ids == ClientIdPolicy::Ours).then_some(Repair {
                operation: OutboxOperation::Create,
                forget_client: true,
            }),
        })
    };
    let Some((id, uri, rat)) = handle else {
        return if wanted {
            missing("the client was never created at the authorization server".into())
        } else {
            None
        };
    };
    let actual = match provisioner.connector.read(uri, rat).await {
        Ok(actual) => actual,
        Err(e) if e.is_gone() => {
            return missing(format!(
                "the authorization server no longer knows the client {id}"
            ));
        }
        Err(e) => return Some(unchecked(&e)),
    };
    if !wanted {
        return Some(Finding {
            kind: DriftKind::Extra,
            detail: format!(
                "the client {id} is still at the authorization server although the registration \
                 is {}",
                status.as_str()
            ),
            repair: Some(Repair {
                operation: OutboxOperation::Delete,
                forget_client: false,
            }),
        });
    }
    let disable = status == RegistrationStatus::Revoked;
    let fix = Repair {
        operation: if disable {
            OutboxOperation::Disable
        } else {
            OutboxOperation::Update
        },
        forget_client: false,
    };
    let enabled_there = !is_empty_list(actual.get("grant_types"));
    if enabled_there == disable {
        return Some(Finding {
            kind: DriftKind::Disabled,
            detail: if disable {
                "the client can still obtain tokens at the authorization server although the \
                 registration is revoked"
                    .into()
            } else {
                "the client is disabled at the authorization server although the registration \
                 is active"
                    .into()
            },
            repair: Some(fix),
        });
    }
    let expected = match metadata::client_metadata(reg, Some(id), disable) {
        Ok(expected) => expected,
        Err(e) => {
            return Some(Finding {
                kind: DriftKind::Unchecked,
                detail: format!("the registration's metadata could not be read: {e}"),
                repair: None,
            })
        }
    };
    let differing = differing_fields(&expected, &actual);
    (!differing.is_empty()).then(|| Finding {
        kind: DriftKind::Metadata,
        detail: format!("differs there: {}", differing.join(", ")),
        repair: Some(fix),
    })
}

fn unchecked(e: &DownstreamError) -> Finding {
    Finding {
        kind: DriftKind::Unchecked,
        detail: e.to_string(),
        repair: None,
    }
}

fn is_empty_list(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The fields sent that the downstream holds otherwise: lists compare as sets (their order
/// means nothing), `scope` as a set of words, an empty list as an absent field.
#[must_use]
pub fn differing_fields(expected: &Value, actual: &Value) -> Vec<String> {
    let Some(expected) = expected.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, want) in expected {
        let have = actual.get(name);
        let same = match (name.as_str(), want) {
            ("scope", Value::String(w)) => {
                have.and_then(Value::as_str).map(words) == Some(words(w))
            }
            (_, Value::Array(w)) if w.is_empty() => is_empty_list(have),
            (_, Value::Array(w)) => have.and_then(Value::as_array).map(|h| set(h)) == Some(set(w)),
            _ => have == Some(want),
        };
        if !same {
            out.push(name.clone());
        }
    }
    out.sort();
    out
}

fn words(s: &str) -> BTreeSet<&str> {
    s.split_whitespace().collect()
}

fn set(values: &[Value]) -> BTreeSet<String> {
    values.iter().map(Value::to_string).collect()
}

/// The periodic check: every `interval` (measured from the last finished run, whoever ran it),
/// one instance among those sharing the store (the lease [`LEASE`]) compares the
/// registrations with their clients and records what it found; with `repair`, it also queues
/// the repairs. Runs until `stopped` resolves.
pub async fn run_periodic(
    state: crate::state::AppState,
    provisioner: std::sync::Arc<Provisioner>,
    interval: Duration,
    repair: bool,
    stopped: impl std::future::Future<Output = ()>,
) {
    let me = state.register_sync.instance_id().to_string();
    let every = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
    tokio::pin!(stopped);
    loop {
        match due(&state.store, state.clock.now(), every).await {
            Ok(true) => {
                let clock = state.clock.clone();
                let acquired = state
                    .store
                    .claim_lease(LEASE, &me, None, clock.now(), LEASE_TTL_SECS)
                    .await;
                if let Ok(Some(_)) = acquired {
                    let run = Run {
                        actor: Actor::Provisioning,
                        repair,
                        lease_holder: Some(&me),
                    };
                    tokio::select! {
                        () = &mut stopped => break,
                        done = reconcile(&state.store, &provisioner, || clock.now(), run) => {
                            match done {
                                Ok(r) => tracing::info!(checked = r.run.checked,
                                    drifted = r.run.drifted, repaired = r.run.repaired,
                                    "provisioning: reconciliation finished"),
                                Err(e) => tracing::warn!(error = %e,
                                    "provisioning: reconciliation stopped"),
                            }
                        }
                    }
                    if let Err(e) = state.store.release_lease(LEASE, &me).await {
                        tracing::warn!(error = %e, "provisioning: releasing the reconciliation lease failed");
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "provisioning: the last reconciliation could not be read")
            }
        }
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Whether a periodic check is due at `now`: none finished within `every` seconds.
async fn due(store: &Store, now: i64, every: i64) -> Result<bool, StoreError> {
    Ok(store
        .last_reconciliation()
        .await?
        .is_none_or(|last| now.saturating_sub(last.finished_at) >= every))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::differing_fields;

    #[test]
    fn lists_compare_as_sets_and_scope_as_words() {
        let expected = json!({
            "redirect_uris": ["https://a/cb", "https://b/cb"],
            "grant_types": [],
            "scope": "openid cdr:registration",
            "jwks_uri": "https://a/jwks",
            "tls_client_certificate_bound_access_tokens": true,
        });
        let same = json!({
            "redirect_uris": ["https://b/cb", "https://a/cb"],
            "scope": "cdr:registration  openid",
            "jwks_uri": "https://a/jwks",
            "tls_client_certificate_bound_access_tokens": true,
            "extra_field_there": 1,
        });
        assert!(differing_fields(&expected, &same).is_empty());
        let other = json!({
            "redirect_uris": ["https://a/cb"],
            "grant_types": ["client_credentials"],
            "scope": "openid",
            "jwks_uri": "https://evil/jwks",
        });
        assert_eq!(
            differing_fields(&expected, &other),
            [
                "grant_types",
                "jwks_uri",
                "redirect_uris",
                "scope",
                "tls_client_certificate_bound_access_tokens"
            ]
        );
    }
}
