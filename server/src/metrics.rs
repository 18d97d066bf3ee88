//! Prometheus metrics: the names recorded across the server, the process-wide recorder, and the
//! scrape endpoint served on its own plain-HTTP listener (`[server] metrics_addr`, off unless
//! set). docs/metrics.md lists every name with a sample scrape.
//!
//! The `metrics` recorder is global to the process: it is installed once, by the first
//! [`Application`](crate::startup::Application) built with a metrics address, and every later
//! one shares it. Without a recorder the `metrics` macros are no-ops, so an instance with
//! metrics off pays nothing.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use std::sync::Arc;

/// Registrations (POST /register) by `outcome` (`created`/`rejected`) and `error` code.
pub const REGISTRATIONS: &str = "dcr_registrations_total";
/// Token requests by `outcome` (`issued`/`refused`) and `error` code.
pub const TOKENS: &str = "dcr_tokens_total";
/// JWKS fetches by `source` (`register`/`recipient`) and `outcome` (`ok`/`error`).
pub const JWKS_FETCHES: &str = "dcr_jwks_fetches_total";
/// JWKS fetch latency by `source`, seconds.
pub const JWKS_FETCH_SECONDS: &str = "dcr_jwks_fetch_duration_seconds";
/// JWKS cache lookups by `source` and `result` (`hit`/`miss`).
pub const JWKS_CACHE: &str = "dcr_jwks_cache_total";
/// Register sync rounds by `outcome` (`ok`/`degraded`/`store_error`).
pub const REGISTER_SYNC_RUNS: &str = "dcr_register_sync_runs_total";
/// Register status lists by `result` (`fetched`/`not_modified`/`failed`); the 304 ratio is
/// `not_modified / (fetched + not_modified)`.
pub const REGISTER_SYNC_LISTS: &str = "dcr_register_sync_lists_total";
/// Unix time of the last sync round in which every list was had (200 or 304).
pub const REGISTER_SYNC_LAST_SUCCESS: &str = "dcr_register_sync_last_success_timestamp_seconds";
/// Seconds since that round, computed at scrape time.
pub const REGISTER_SYNC_AGE: &str = "dcr_register_sync_age_seconds";
/// API request latency by `method`, `route` (the matched path) and `status`, seconds.
pub const HTTP_SECONDS: &str = "dcr_http_request_duration_seconds";
/// Requests refused by the rate limiter, by `endpoint` and `key` (`certificate`/`address`).
pub const RATE_LIMITED: &str = "dcr_rate_limited_total";
/// Portal sign-ins by `outcome` (`success`/`failure`/`throttled`).
pub const PORTAL_SIGN_INS: &str = "dcr_portal_sign_ins_total";
/// Sector identifier documents by `source` (`kept`: our copy; `fetched`).
pub const SECTOR_DOCUMENTS: &str = "dcr_sector_identifier_documents_total";
/// Changes delivered to the downstream authorization server, by `operation` and `outcome`
/// (`delivered`, `failed`: to be retried, `refused`: the downstream refused it).
pub const PROVISIONING_DELIVERIES: &str = "dcr_provisioning_deliveries_total";
/// Changes waiting in the provisioning outbox (set by the instance that delivers).
pub const PROVISIONING_QUEUE_DEPTH: &str = "dcr_provisioning_outbox_depth";
/// Age of the oldest waiting change, seconds (0 when none waits).
pub const PROVISIONING_QUEUE_AGE: &str = "dcr_provisioning_outbox_oldest_age_seconds";
/// Registrations whose client differs at the downstream, as the last reconciliation this
/// instance ran found them.
pub const PROVISIONING_DRIFT: &str = "dcr_provisioning_drift";
/// When this instance last finished a reconciliation, Unix seconds.
pub const PROVISIONING_RECONCILED_AT: &str = "dcr_provisioning_reconciled_at_seconds";
/// Webhook delivery attempts, by `webhook` and `outcome` (`delivered`, `failed`: to be
/// retried, `dead`: given up and kept as a dead letter).
pub const WEBHOOK_DELIVERIES: &str = "dcr_webhook_deliveries_total";
/// Events waiting for a webhook (set by the instance that delivers).
pub const WEBHOOK_QUEUE_DEPTH: &str = "dcr_webhook_outbox_depth";
/// Age of the oldest waiting event, seconds (0 when none waits).
pub const WEBHOOK_QUEUE_AGE: &str = "dcr_webhook_outbox_oldest_age_seconds";
/// Events given up (dead letters) waiting for an operator.
pub const WEBHOOK_DEAD_LETTERS: &str = "dcr_webhook_dead_letters";

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once) and returns its handle; `None` when
/// another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        REGISTRATIONS,
        "Registration requests by outcome and error code."
    );
    describe_counter!(TOKENS, "Token requests by outcome and error code.");
    describe_counter!(JWKS_FETCHES, "Remote JWKS fetches by source and outcome.");
    describe_histogram!(
        JWKS_FETCH_SECONDS,
        Unit::Seconds,
        "Remote JWKS fetch latency."
    );
    describe_counter!(JWKS_CACHE, "JWKS cache lookups by source and result.");
    describe_counter!(REGISTER_SYNC_RUNS, "Register sync rounds by outcome.");
    describe_counter!(
        REGISTER_SYNC_LISTS,
        "Register status lists by result (304 = not_modified)."
    );
    describe_gauge!(
        REGISTER_SYNC_LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the last good sync."
    );
    describe_gauge!(
        REGISTER_SYNC_AGE,
        Unit::Seconds,
        "Age of the last good sync."
    );
    describe_histogram!(HTTP_SECONDS, Unit::Seconds, "API request latency by route.");
    describe_counter!(RATE_LIMITED, "Requests refused by the rate limiter.");
    describe_counter!(PORTAL_SIGN_INS, "Portal sign-ins by outcome.");
    describe_counter!(
        SECTOR_DOCUMENTS,
        "Sector identifier documents used, by source (kept or fetched)."
    );
    describe_counter!(
        PROVISIONING_DELIVERIES,
        "Changes delivered to the downstream authorization server, by operation and outcome."
    );
    describe_gauge!(
        PROVISIONING_QUEUE_DEPTH,
        "Changes waiting in the provisioning outbox."
    );
    describe_gauge!(
        PROVISIONING_QUEUE_AGE,
        Unit::Seconds,
        "Age of the oldest change waiting in the provisioning outbox."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts, by webhook and outcome."
    );
    describe_gauge!(WEBHOOK_QUEUE_DEPTH, "Events waiting for a webhook.");
    describe_gauge!(
        WEBHOOK_QUEUE_AGE,
        Unit::Seconds,
        "Age of the oldest event waiting for a webhook."
    );
    describe_gauge!(
        WEBHOOK_DEAD_LETTERS,
        "Webhook events given up (dead letters), waiting for an operator."
    );
    describe_gauge!(
        PROVISIONING_DRIFT,
        "Registrations whose client differs at the downstream, as last reconciled."
    );
    describe_gauge!(
        PROVISIONING_RECONCILED_AT,
        Unit::Seconds,
        "When this instance last finished a reconciliation, Unix seconds."
    );
}

/// Counts a registration request's outcome (`error` is `""` on success).
pub fn registration(outcome: &'static str, error: &str) {
    metrics::counter!(REGISTRATIONS, "outcome" => outcome, "error" => error.to_string())
        .increment(1);
}

/// Counts a token request's outcome (`error` is `""` on success).
pub fn token(outcome: &'static str, error: &str) {
    metrics::counter!(TOKENS, "outcome" => outcome, "error" => error.to_string()).increment(1);
}

/// Counts a sign-in outcome.
pub fn sign_in(outcome: &'static str) {
    metrics::counter!(PORTAL_SIGN_INS, "outcome" => outcome).increment(1);
}

/// Counts a sector identifier document used, by where it came from.
pub fn sector_document(source: &'static str) {
    metrics::counter!(SECTOR_DOCUMENTS, "source" => source).increment(1);
}

/// Counts one delivery attempt to the downstream authorization server.
pub fn provisioning_delivery(operation: &'static str, outcome: &'static str) {
    metrics::counter!(PROVISIONING_DELIVERIES, "operation" => operation, "outcome" => outcome)
        .increment(1);
}

/// Records the provisioning outbox's depth and the age of its oldest change.
#[expect(clippy::cast_precision_loss, reason = "counts and ages far below 2^52")]
pub fn provisioning_queue(depth: i64, oldest_age_secs: i64) {
    metrics::gauge!(PROVISIONING_QUEUE_DEPTH).set(depth as f64);
    metrics::gauge!(PROVISIONING_QUEUE_AGE).set(oldest_age_secs as f64);
}

/// Counts one webhook delivery attempt.
pub fn webhook_delivery(webhook: &str, outcome: &'static str) {
    metrics::counter!(WEBHOOK_DELIVERIES, "webhook" => webhook.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Records the webhook outbox: waiting events, the age of the oldest, dead letters.
#[expect(clippy::cast_precision_loss, reason = "counts and ages far below 2^52")]
pub fn webhook_queue(waiting: i64, oldest_age_secs: i64, dead: i64) {
    metrics::gauge!(WEBHOOK_QUEUE_DEPTH).set(waiting as f64);
    metrics::gauge!(WEBHOOK_QUEUE_AGE).set(oldest_age_secs as f64);
    metrics::gauge!(WEBHOOK_DEAD_LETTERS).set(dead as f64);
}

/// Records a finished reconciliation.
#[expect(
    clippy::cast_precision_loss,
    reason = "counts and times far below 2^52"
)]
pub fn provisioning_reconciliation(run: &dcr_store::Reconciliation) {
    metrics::gauge!(PROVISIONING_DRIFT).set(run.drifted as f64);
    metrics::gauge!(PROVISIONING_RECONCILED_AT).set(run.finished_at as f64);
}

/// Seconds since the last successful Register sync, if there was one (read at each scrape).
pub type SyncAge = Arc<dyn Fn() -> Option<i64> + Send + Sync>;

/// The router of the metrics listener: `GET /metrics`.
pub fn router(handle: PrometheusHandle, sync_age: SyncAge) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((handle, sync_age))
}

async fn scrape(State((handle, sync_age)): State<(PrometheusHandle, SyncAge)>) -> Response {
    if let Some(age) = sync_age() {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(REGISTER_SYNC_AGE).set(age as f64);
    }
    handle.run_upkeep();
    let mut res = (StatusCode::OK, handle.render()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
