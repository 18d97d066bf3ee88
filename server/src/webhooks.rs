//! Event notifications to the Data Holder's webhooks (docs/webhooks.md): every registration
//! change (created, updated, deleted, revoked, released, removed, and the Register's status of
//! its product or recipient) is posted to each configured webhook as a JWS signed with the Data
//! Holder's signing key, which a receiver verifies with the JWKS the server publishes.
//!
//! The events are written by the store in the transaction of the change (`webhook_outbox`), so a
//! crash loses none. One deliverer among the instances sharing a store, elected by the lease
//! [`LEASE`] as the provisioning deliverer is, posts the head of each webhook's queue of each
//! registration (a later event of a registration waits for the earlier one), one at a time.
//! A failed attempt (no answer, or an answer other than 2xx) is tried again after a backoff
//! that doubles from 1 s to 5 minutes; after `webhooks.max_attempts` the event is kept as a
//! dead letter, shown in the portal until an operator sends it again, and the registration's
//! later events go on. At least once: an event leaves the outbox only once the webhook accepted
//! it, so a crash in between sends it again; receivers drop repeats by the event's `id`
//! (`jti`), which grows in the order the changes were made.

use std::time::Duration;

use dcr_store::{StoreError, WebhookEvent};
use serde_json::{json, Value};

use crate::provisioning::deliver::backoff;
use crate::state::AppState;

/// The lease that elects the deliverer.
pub const LEASE: &str = "webhooks";
/// How long the lease lasts without renewal.
pub const LEASE_TTL_SECS: i64 = 60;
/// How often the holder looks for due events and renews the lease.
pub const TICK: Duration = Duration::from_secs(1);
/// Events read per round.
const BATCH: i64 = 32;
/// The media type of what is posted: a signed JWT.
pub const CONTENT_TYPE: &str = "application/jwt";

/// Writes the configured webhooks into the store (each instance at start-up), so that a
/// registration change queues an event for each in its own transaction.
///
/// # Errors
/// The store's.
pub async fn publish_configuration(state: &AppState) -> Result<(), StoreError> {
    let hooks: Vec<(String, String)> = state
        .config
        .webhooks
        .iter()
        .map(|w| (w.name.clone(), w.url.to_string()))
        .collect();
    state.store.set_webhooks(&hooks, state.clock.now()).await
}

/// Runs the deliverer until `stopped` resolves, then gives up the lease. Not started when no
/// webhook is configured.
pub async fn run(state: AppState, stopped: impl std::future::Future<Output = ()>) {
    let me = state.register_sync.instance_id().to_string();
    // In the first round, a lease held under this instance's seat is an earlier process's
    // (a crash): taken back at once.
    let mut seat = state.register_sync.seat().map(str::to_string);
    tokio::pin!(stopped);
    let mut holder = false;
    loop {
        let now = state.clock.now();
        match state
            .store
            .claim_lease(LEASE, &me, seat.take().as_deref(), now, LEASE_TTL_SECS)
            .await
        {
            Ok(Some(_)) => {
                if !holder {
                    tracing::info!(instance = %me, "webhooks: this instance delivers the events");
                }
                holder = true;
                tokio::select! {
                    () = &mut stopped => break,
                    delivered = deliver_due(&state) => {
                        if let Err(e) = delivered {
                            tracing::warn!(error = %e, "webhooks: the outbox could not be read");
                        }
                        record_queue(&state).await;
                    }
                }
            }
            Ok(None) => holder = false,
            Err(e) => {
                holder = false;
                tracing::warn!(error = %e, "webhooks: the lease could not be read");
            }
        }
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(TICK) => {}
        }
    }
    if let Err(e) = state.store.release_lease(LEASE, &me).await {
        tracing::warn!(error = %e, "webhooks: releasing the lease failed");
    }
}

async fn record_queue(state: &AppState) {
    match state.store.webhook_queue().await {
        Ok(q) => {
            let age = q.oldest.map_or(0, |at| (state.clock.now() - at).max(0));
            crate::metrics::webhook_queue(q.waiting, age, q.dead);
        }
        Err(e) => tracing::warn!(error = %e, "webhooks: the outbox could not be measured"),
    }
}

/// Delivers every event due now; returns how many were attempted.
///
/// # Errors
/// The store failed (the events stay in the outbox).
pub async fn deliver_due(state: &AppState) -> Result<usize, StoreError> {
    let mut attempted = 0;
    loop {
        let due = state
            .store
            .webhook_events_due(state.clock.now(), BATCH)
            .await?;
        let mut delivered = 0;
        let mut tried = 0;
        for event in &due {
            match deliver_one(state, event).await? {
                Some(true) => {
                    delivered += 1;
                    tried += 1;
                }
                Some(false) => tried += 1,
                None => {}
            }
        }
        attempted += tried;
        // Failed heads are no longer due; stop when nothing moved, so that a failing webhook
        // is not hammered.
        if delivered == 0 {
            return Ok(attempted);
        }
    }
}

/// Posts one event and records the outcome: `Some(delivered)`, or `None` when its webhook is
/// not configured here (it waits, in case the name comes back).
async fn deliver_one(state: &AppState, event: &WebhookEvent) -> Result<Option<bool>, StoreError> {
    let Some(hook) = state
        .config
        .webhooks
        .iter()
        .find(|w| w.name == event.webhook)
    else {
        return Ok(None);
    };
    let now = state.clock.now();
    let jws = match signed(state, event, hook.url.as_str(), now).await {
        Ok(jws) => jws,
        Err(e) => {
            tracing::error!(error = %e, event_id = event.event_id, "webhooks: the event could not be signed");
            return Ok(Some(false));
        }
    };
    let sent = state
        .outbound
        .client()
        .post(hook.url.clone())
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(jws)
        .send()
        .await;
    let error = match sent {
        Ok(res) if res.status().is_success() => {
            state.store.webhook_event_delivered(event.event_id).await?;
            crate::metrics::webhook_delivery(&hook.name, "delivered");
            tracing::debug!(webhook = %hook.name, event_id = event.event_id, kind = %event.event, "webhooks: delivered");
            return Ok(Some(true));
        }
        Ok(res) => format!("the webhook answered {}", res.status()),
        Err(e) if e.is_timeout() => "the webhook did not answer in time".to_string(),
        Err(e) if e.is_connect() => "the webhook could not be reached".to_string(),
        Err(_) => "the request to the webhook failed".to_string(),
    };
    let dead = event.attempts + 1 >= state.config.webhook_max_attempts;
    state
        .store
        .webhook_event_failed(
            event.event_id,
            &error,
            now + backoff(event.attempts),
            dead,
            now,
        )
        .await?;
    if dead {
        crate::metrics::webhook_delivery(&hook.name, "dead");
        tracing::warn!(webhook = %hook.name, event_id = event.event_id, %error, "webhooks: event given up after the last attempt (a dead letter)");
    } else {
        crate::metrics::webhook_delivery(&hook.name, "failed");
        tracing::info!(webhook = %hook.name, event_id = event.event_id, %error, "webhooks: attempt failed; tried again later");
    }
    Ok(Some(false))
}

/// The event as posted: a JWT signed with the Data Holder's active key, whose `event` claim
/// holds the change (as it was made) with the registration's identity (as stored now).
async fn signed(
    state: &AppState,
    event: &WebhookEvent,
    audience: &str,
    now: i64,
) -> anyhow::Result<String> {
    let mut body = serde_json::from_str::<Value>(&event.payload)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(reg) = state.store.get_registration(&event.client_id).await? {
        body["software_id"] = json!(reg.software_id);
        body["org_id"] = json!(reg.org_id);
        body["legal_entity_id"] = json!(reg.legal_entity_id);
        body["client_name"] = json!(reg.client_name);
    }
    body["id"] = json!(event.event_id);
    body["type"] = json!(event.event);
    body["client_id"] = json!(event.client_id);
    body["occurred_at"] = json!(event.occurred_at);
    let claims = json!({
        "iss": state.config.issuer_str(),
        "aud": audience,
        "iat": now,
        "jti": event.event_id.to_string(),
        "event": body,
    });
    Ok(state.keys.load().active().sign(&claims)?)
}
