//! CDR Register status sync (docs/dcr-rules.md §10; CDS "Participant Statuses", Register APIs "Get Data
//! Recipients Statuses" and "Get Software Products Statuses").
//!
//! Every `DCR_REGISTER_POLL_SECS` (and at once when the Register calls the Admin Metadata Update
//! endpoint, [`SyncHandle::refresh`]) one server instance fetches both status lists, with
//! `If-None-Match` so that an unchanged list costs a 304, and applies them to the stored
//! registrations: statuses are recorded on each registration (the token endpoint refuses a
//! product or recipient that is not `ACTIVE`), and a product `REMOVED` (or a recipient `REVOKED`
//! or `SURRENDERED`) has its registration cleaned up (status `removed`). Each change is written
//! with an audit event whose actor is [`ACTOR`]. See `docs/register.md`.
//!
//! Outages: a failed fetch (after retries) keeps the last good list, stored with its ETag, and
//! is never taken for a status change. Values the standard does not define are ignored.
//!
//! One poller among several instances: a lease row in the store ([`LEASE`]), renewed every
//! [`TICK`] by its holder and taken over by another instance once it has lapsed for
//! [`LEASE_TTL_SECS`]. An instance that is asked to refresh while another holds the lease
//! records the request in the lease row; the holder sees it at its next renewal.

pub mod fetch;
pub mod status;

use dcr_audit::{Action, Actor};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dcr_store::{NewAuditEvent, RegisterStatusChange, RegisterSyncState};
use tokio::sync::Notify;
use url::Url;

use self::fetch::{fetch_list, Fetched, ListKind, Retry};
use crate::state::AppState;

/// The lease that elects the poller.
pub const LEASE: &str = "register-sync";
/// The audit actor of every change the sync makes.
pub const ACTOR: Actor<'static> = Actor::RegisterSync;
/// Sync state key of the data recipients list.
pub const DATA_RECIPIENTS: &str = "data_recipients";
/// Sync state key of the software products list.
pub const SOFTWARE_PRODUCTS: &str = "software_products";
/// Get Data Recipients Statuses, relative to `DCR_REGISTER_BASE_URI`.
pub const DATA_RECIPIENTS_STATUS_PATH: &str = "/cdr-register/v1/all/data-recipients/status";
/// Get Software Products Statuses, relative to `DCR_REGISTER_BASE_URI`.
pub const SOFTWARE_PRODUCTS_STATUS_PATH: &str =
    "/cdr-register/v1/all/data-recipients/brands/software-products/status";
/// How long a lease lasts without renewal; another instance takes over after it.
pub const LEASE_TTL_SECS: i64 = 60;
/// How often the lease is renewed (or, by the others, tried).
pub const TICK: Duration = Duration::from_secs(5);

/// Shared between the poller and the Admin Metadata Update endpoint.
pub struct SyncHandle {
    notify: Notify,
    instance_id: String,
    /// `<host>@<API address>/`, the start of this instance's id, when the host is known.
    seat: Option<String>,
    /// Unix time of the last round in which every list was had (0: none yet), for metrics.
    last_success: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for SyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHandle")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl Default for SyncHandle {
    fn default() -> Self {
        Self::new(None)
    }
}

/// This machine's host name (Linux), if it can be read.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

impl SyncHandle {
    /// A handle with a fresh instance id, the lease holder's name: `<pid>-<random>`, after
    /// `<host>@<api_addr>/` when the API listener's bound address is given and the host name is
    /// known. That prefix is the instance's *seat*: no other live process can have it, since
    /// this one has bound the address, so a lease held under it at start belongs to an earlier
    /// process of this instance that crashed, and is taken back at once.
    #[must_use]
    pub fn new(api_addr: Option<std::net::SocketAddr>) -> Self {
        let rand = uuid::Uuid::new_v4().simple().to_string();
        let seat = api_addr.and_then(|addr| Some(format!("{}@{addr}/", host_name()?)));
        Self {
            notify: Notify::new(),
            instance_id: format!(
                "{}{}-{}",
                seat.as_deref().unwrap_or_default(),
                std::process::id(),
                &rand[..12]
            ),
            seat,
            last_success: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// This instance's name in the lease.
    #[must_use]
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// `<host>@<API address>/`, the start of this instance's id that no other live process
    /// has (see [`SyncHandle::new`]): a lease held under it at start is an earlier process's.
    #[must_use]
    pub fn seat(&self) -> Option<&str> {
        self.seat.as_deref()
    }

    /// Unix time of this instance's last good sync round, if any.
    #[must_use]
    pub fn last_success(&self) -> Option<i64> {
        let at = self.last_success.load(std::sync::atomic::Ordering::Relaxed);
        (at > 0).then_some(at)
    }

    /// Asks for a refresh as soon as possible (the Register's Admin Metadata Update).
    pub fn refresh(&self) {
        self.notify.notify_one();
    }
}

/// What one sync did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Lists answered 200.
    pub fetched: usize,
    /// Lists answered 304.
    pub not_modified: usize,
    /// Lists that could not be fetched (the last good one was used).
    pub failed: usize,
    /// Registrations whose statuses changed.
    pub changed: usize,
    /// Registrations cleaned up.
    pub removed: usize,
    /// Register entries whose status value the standard does not define (ignored).
    pub unknown: usize,
}

/// Runs the poller until `stopped` resolves, then gives up the lease.
///
/// # Cancel safety
/// Meant to be spawned; `stopped` ends it cleanly (a sync in progress is dropped between two
/// registration transactions, and the next holder redoes it).
pub async fn run(
    state: AppState,
    handle: Arc<SyncHandle>,
    stopped: impl std::future::Future<Output = ()>,
) {
    let me = handle.instance_id().to_string();
    // At start, a lease of this seat is an earlier process's: take it back at once.
    let mut seat = handle.seat.clone();
    let poll = state.config.register_poll;
    let mut next_poll = tokio::time::Instant::now();
    let mut holder = false;
    let mut requested = false;
    tokio::pin!(stopped);
    loop {
        let now = state.clock.now();
        let acquired = state
            .store
            .claim_lease(LEASE, &me, seat.take().as_deref(), now, LEASE_TTL_SECS)
            .await;
        match acquired {
            Ok(Some(lease)) => {
                let took_over = !holder;
                holder = true;
                let remote = lease.refresh_requested_at.is_some();
                if took_over || requested || remote || tokio::time::Instant::now() >= next_poll {
                    if took_over {
                        tracing::info!(instance = %me, "register sync: this instance polls the Register");
                    }
                    if remote {
                        if let Err(e) = state.store.clear_lease_refresh(LEASE, &me).await {
                            tracing::warn!(error = %e, "register sync: clearing the refresh request failed");
                        }
                    }
                    requested = false;
                    tokio::select! {
                        () = &mut stopped => break,
                        report = sync_once(&state, &me) => {
                            record_metrics(&handle, &report, state.clock.now());
                            log_report(&report);
                        }
                    }
                    next_poll = tokio::time::Instant::now() + poll;
                }
            }
            Ok(None) => {
                holder = false;
                if requested {
                    // Another instance polls: hand the request over through the store.
                    match state.store.request_lease_refresh(LEASE, now).await {
                        Ok(()) => requested = false,
                        Err(e) => {
                            tracing::warn!(error = %e, "register sync: passing on a refresh request failed")
                        }
                    }
                }
            }
            Err(e) => {
                // Not knowing, act as a non-holder: wait a tick, and poll at once on recovery.
                holder = false;
                tracing::warn!(error = %e, "register sync: the lease could not be read");
            }
        }
        let wait = wait_before_next_round(holder, next_poll, tokio::time::Instant::now());
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(wait) => {}
            () = handle.notify.notified() => requested = true,
        }
    }
    if let Err(e) = state.store.release_lease(LEASE, &me).await {
        tracing::warn!(error = %e, "register sync: releasing the lease failed");
    }
}

/// How long the loop sleeps: the holder wakes for its next poll or to renew the lease,
/// whichever comes first; the others try the lease once a [`TICK`]. (A refresh request wakes
/// either at once.) Never zero for a non-holder, so that it cannot spin on the lease.
fn wait_before_next_round(
    holder: bool,
    next_poll: tokio::time::Instant,
    now: tokio::time::Instant,
) -> Duration {
    if holder {
        next_poll.saturating_duration_since(now).min(TICK)
    } else {
        TICK
    }
}

fn record_metrics(handle: &SyncHandle, r: &Result<SyncReport, dcr_store::StoreError>, now: i64) {
    use crate::metrics::{REGISTER_SYNC_LAST_SUCCESS, REGISTER_SYNC_LISTS, REGISTER_SYNC_RUNS};
    let outcome = match r {
        Ok(r) => {
            for (result, n) in [
                ("fetched", r.fetched),
                ("not_modified", r.not_modified),
                ("failed", r.failed),
            ] {
                metrics::counter!(REGISTER_SYNC_LISTS, "result" => result).increment(n as u64);
            }
            if r.failed > 0 {
                "degraded"
            } else {
                handle
                    .last_success
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(REGISTER_SYNC_LAST_SUCCESS).set(now as f64);
                "ok"
            }
        }
        Err(_) => "store_error",
    };
    metrics::counter!(REGISTER_SYNC_RUNS, "outcome" => outcome).increment(1);
}

fn log_report(r: &Result<SyncReport, dcr_store::StoreError>) {
    match r {
        Ok(r) if r.failed > 0 => tracing::warn!(
            failed = r.failed,
            changed = r.changed,
            removed = r.removed,
            "register sync: the Register could not be reached; last good statuses kept"
        ),
        // A poll that changed nothing (the usual one, every few seconds) is logged at debug.
        Ok(r) if r.changed == 0 && r.removed == 0 && r.unknown == 0 => tracing::debug!(
            fetched = r.fetched,
            not_modified = r.not_modified,
            "register sync done: nothing changed"
        ),
        Ok(r) => tracing::info!(
            fetched = r.fetched,
            not_modified = r.not_modified,
            changed = r.changed,
            removed = r.removed,
            unknown = r.unknown,
            "register sync done"
        ),
        Err(e) => tracing::warn!(error = %e, "register sync: store failure"),
    }
}

fn status_url(base: &Url, path: &str) -> Option<Url> {
    Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/'))).ok()
}

/// The list to apply (the fresh one, or the last good one) and the sync state to save once it
/// has been applied.
type Refreshed = (Option<BTreeMap<String, String>>, RegisterSyncState);

/// Refreshes one list.
async fn refresh_list(
    state: &AppState,
    me: &str,
    resource: &str,
    path: &str,
    kind: ListKind,
    report: &mut SyncReport,
) -> Result<Refreshed, dcr_store::StoreError> {
    let prev = state.store.register_sync_state(resource).await?;
    let last_good: Option<BTreeMap<String, String>> = prev
        .as_ref()
        .filter(|p| p.synced_at.is_some())
        .and_then(|p| serde_json::from_str(&p.statuses).ok());
    let now = state.clock.now();
    let mut next = prev.unwrap_or_else(|| RegisterSyncState {
        resource: resource.to_string(),
        etag: None,
        statuses: "{}".into(),
        synced_at: None,
        fetched_at: None,
        attempted_at: now,
        attempts: 0,
        failures: 0,
        last_error: None,
        synced_by: None,
    });
    next.attempted_at = now;
    next.attempts += 1;
    next.synced_by = Some(me.to_string());
    // Without a last good list there is nothing a 304 could confirm.
    let etag = last_good.as_ref().and(next.etag.as_deref());
    let result = match status_url(&state.config.register_base_uri, path) {
        Some(url) => fetch_list(state.outbound.client(), &url, kind, etag, Retry::default()).await,
        None => Err(fetch::RegisterFetchError::Invalid(
            "DCR_REGISTER_BASE_URI does not make a URL".into(),
        )),
    };
    let list = match result {
        Ok(Fetched::NotModified) => {
            report.not_modified += 1;
            next.synced_at = Some(now);
            next.failures = 0;
            next.last_error = None;
            last_good
        }
        Ok(Fetched::Fresh(list)) => {
            report.fetched += 1;
            report.unknown += list
                .statuses
                .values()
                .filter(|s| match kind {
                    ListKind::DataRecipients => status::DataRecipientStatus::parse(s).is_none(),
                    ListKind::SoftwareProducts => status::SoftwareProductStatus::parse(s).is_none(),
                })
                .count();
            if list.skipped > 0 {
                tracing::warn!(
                    resource,
                    skipped = list.skipped,
                    "register sync: entries without id or status ignored"
                );
            }
            next.etag = list.etag;
            next.statuses =
                serde_json::to_string(&list.statuses).unwrap_or_else(|_| "{}".to_string());
            next.synced_at = Some(now);
            next.fetched_at = Some(now);
            next.failures = 0;
            next.last_error = None;
            Some(list.statuses)
        }
        Err(e) => {
            report.failed += 1;
            tracing::warn!(resource, error = %e, failures = next.failures + 1, "register sync: fetch failed");
            next.failures += 1;
            next.last_error = Some(e.to_string());
            last_good
        }
    };
    Ok((list, next))
}

/// One sync: both lists refreshed, then applied to every active or revoked registration.
///
/// # Errors
/// Store failures (a Register failure is reported in [`SyncReport::failed`] instead).
pub async fn sync_once(state: &AppState, me: &str) -> Result<SyncReport, dcr_store::StoreError> {
    let mut report = SyncReport::default();
    let (dr, dr_state) = refresh_list(
        state,
        me,
        DATA_RECIPIENTS,
        DATA_RECIPIENTS_STATUS_PATH,
        ListKind::DataRecipients,
        &mut report,
    )
    .await?;
    let (sp, sp_state) = refresh_list(
        state,
        me,
        SOFTWARE_PRODUCTS,
        SOFTWARE_PRODUCTS_STATUS_PATH,
        ListKind::SoftwareProducts,
        &mut report,
    )
    .await?;
    if dr.is_some() || sp.is_some() {
        apply(
            state,
            &dr.unwrap_or_default(),
            &sp.unwrap_or_default(),
            &mut report,
        )
        .await?;
    }
    // Saved after the lists were applied: a new ETag is only kept once its list is in effect,
    // and observers that see the attempt counted see its effects too.
    state.store.save_register_sync_state(&dr_state).await?;
    state.store.save_register_sync_state(&sp_state).await?;
    Ok(report)
}

/// Applies the lists to every active or revoked registration.
async fn apply(
    state: &AppState,
    dr: &BTreeMap<String, String>,
    sp: &BTreeMap<String, String>,
    report: &mut SyncReport,
) -> Result<(), dcr_store::StoreError> {
    for t in state.store.register_sync_targets().await? {
        let active = t.status == dcr_store::RegistrationStatus::Active.as_str();
        let reported_sp = sp.get(&t.software_id.to_ascii_lowercase());
        let reported_dr = t
            .legal_entity_id
            .as_ref()
            .and_then(|le| dr.get(&le.to_ascii_lowercase()));
        let current = status::Current {
            active,
            sp: t.register_sp_status.as_deref(),
            dr: t.register_dr_status.as_deref(),
        };
        let Some(d) = status::decide(
            current,
            reported_sp.map(String::as_str),
            reported_dr.map(String::as_str),
        ) else {
            continue;
        };
        let now = state.clock.now();
        let state_json = |status: &str, sp: Option<&str>, dr: Option<&str>| {
            serde_json::json!({
                "status": status,
                "register_sp_status": sp,
                "register_dr_status": dr,
            })
            .to_string()
        };
        let after_status = if d.remove {
            dcr_store::RegistrationStatus::Removed.as_str()
        } else {
            t.status.as_str()
        };
        let audit = NewAuditEvent {
            occurred_at: now,
            actor: ACTOR.into(),
            action: if d.remove {
                Action::RegistrationRemove
            } else {
                Action::RegistrationRegisterStatus
            }
            .into(),
            client_id: Some(t.client_id.clone()),
            software_id: Some(t.software_id.clone()),
            reason: Some(d.reason.clone()),
            before_state: Some(state_json(
                &t.status,
                t.register_sp_status.as_deref(),
                t.register_dr_status.as_deref(),
            )),
            after_state: Some(state_json(after_status, d.sp.as_deref(), d.dr.as_deref())),
        };
        let change = RegisterStatusChange {
            client_id: t.client_id.clone(),
            previous_sp_status: t.register_sp_status.clone(),
            previous_dr_status: t.register_dr_status.clone(),
            sp_status: d.sp.clone(),
            dr_status: d.dr.clone(),
            remove: d.remove,
            reason: d.remove.then(|| d.reason.clone()),
            now,
        };
        if state.store.apply_register_status(&change, &audit).await? {
            report.changed += 1;
            if d.remove {
                report.removed += 1;
                tracing::warn!(target: "security", client_id = %t.client_id, software_id = %t.software_id,
                    sp = ?d.sp, dr = ?d.dr, "registration removed: the CDR Register reports the product removed");
            } else {
                tracing::info!(client_id = %t.client_id, software_id = %t.software_id,
                    sp = ?d.sp, dr = ?d.dr, "Register status changed");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_holder_wakes_early_and_nobody_spins() {
        let now = tokio::time::Instant::now();
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        assert_eq!(
            wait_before_next_round(false, past, now),
            TICK,
            "non-holder: a tick"
        );
        assert_eq!(
            wait_before_next_round(false, now + Duration::from_secs(1), now),
            TICK
        );
        assert_eq!(
            wait_before_next_round(true, now + Duration::from_secs(2), now),
            Duration::from_secs(2),
            "holder: its next poll"
        );
        assert_eq!(
            wait_before_next_round(true, now + Duration::from_secs(60), now),
            TICK,
            "holder: renews the lease every tick"
        );
    }
}
