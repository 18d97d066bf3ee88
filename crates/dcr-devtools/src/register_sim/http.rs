//! The simulator's HTTP surface: the Register APIs (JWKS, SSA, status lists with ETags and
//! paging), the hosted recipient JWKS, and the admin API; and starting it over TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use dcr_core::clock::SharedClock;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest as _;
use url::Url;

use super::{
    etag_matches, lock, NewProduct, NotifyTarget, Paging, Recipient, SimError, Simulator, Stats,
    MAX_ADMIN_BODY, STATUS_VERSIONS,
};

/// Chooses the status API version: the highest of v2..=v3 within `[x-min-v, x-v]`.
fn negotiate(headers: &HeaderMap) -> Result<u32, SimError> {
    let int = |name: &str| -> Result<Option<u32>, SimError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| SimError::Invalid(format!("{name} must be a positive integer")))
            })
            .transpose()
    };
    let max = int("x-v")?.unwrap_or(*STATUS_VERSIONS.end());
    let min = int("x-min-v")?.unwrap_or(max).min(max);
    let v = max.min(*STATUS_VERSIONS.end());
    if v >= min && STATUS_VERSIONS.contains(&v) {
        Ok(v)
    } else {
        Err(SimError::UnsupportedVersion(format!(
            "versions {}..={} are served",
            STATUS_VERSIONS.start(),
            STATUS_VERSIONS.end()
        )))
    }
}

#[derive(Clone, Copy)]
enum StatusList {
    Recipients,
    Products,
}

fn status_response(
    sim: &Simulator,
    list: StatusList,
    path: &str,
    headers: &HeaderMap,
    paging: &Paging,
) -> Result<Response, SimError> {
    sim.outage()?;
    let version = negotiate(headers)?;
    {
        let mut s = lock(&sim.inner.stats);
        s.last_x_v = headers
            .get("x-v")
            .and_then(|v| v.to_str().ok())
            .map(ToString::to_string);
        s.last_x_min_v = headers
            .get("x-min-v")
            .and_then(|v| v.to_str().ok())
            .map(ToString::to_string);
    }
    let (entries, id_field) = match list {
        StatusList::Recipients => (sim.recipient_statuses(), "legalEntityId"),
        StatusList::Products => (sim.product_statuses(), "softwareProductId"),
    };
    // The ETag names the list's content (every page of one version shares it).
    let digest = sha2::Sha256::digest(serde_json::to_vec(&entries).unwrap_or_default());
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
    );
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| etag_matches(inm, &etag));
    {
        let mut s = lock(&sim.inner.stats);
        match (list, not_modified) {
            (StatusList::Recipients, false) => s.dr_status_ok += 1,
            (StatusList::Recipients, true) => s.dr_status_not_modified += 1,
            (StatusList::Products, false) => s.sp_status_ok += 1,
            (StatusList::Products, true) => s.sp_status_not_modified += 1,
        }
    }
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| SimError::Internal(e.to_string()))?;
    if not_modified {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(header::ETAG, etag_value);
        res.headers_mut().insert("x-v", HeaderValue::from(version));
        return Ok(res);
    }
    let size = paging
        .page_size
        .unwrap_or(sim.inner.page_size)
        .clamp(1, 1000);
    let total_pages = entries.len().div_ceil(size).max(1);
    let page = paging.page.unwrap_or(1);
    if page == 0 || page > total_pages {
        return Err(SimError::Invalid(format!(
            "page must be between 1 and {total_pages}"
        )));
    }
    let base = format!(
        "{}{path}",
        sim.inner.public_url.as_str().trim_end_matches('/')
    );
    let link = |p: usize| format!("{base}?page={p}&page-size={size}");
    let data: Vec<Value> = entries
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|(id, status)| json!({ id_field: id, "status": status }))
        .collect();
    let mut links = json!({ "self": link(page) });
    if total_pages > 1 {
        links["first"] = json!(link(1));
        links["last"] = json!(link(total_pages));
        if page > 1 {
            links["prev"] = json!(link(page - 1));
        }
        if page < total_pages {
            links["next"] = json!(link(page + 1));
        }
    }
    let body = json!({
        "data": data,
        "links": links,
        "meta": { "totalRecords": entries.len(), "totalPages": total_pages },
    });
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::ETAG, etag_value);
    res.headers_mut().insert("x-v", HeaderValue::from(version));
    Ok(res)
}

async fn h_jwks(State(sim): State<Simulator>) -> Response {
    let mut res = Json(sim.jwks()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

async fn h_dr_status(
    State(sim): State<Simulator>,
    UrlPath(industry): UrlPath<String>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Result<Response, SimError> {
    check_industry(&industry)?;
    let path = format!("/cdr-register/v1/{industry}/data-recipients/status");
    status_response(&sim, StatusList::Recipients, &path, &headers, &paging)
}

async fn h_sp_status(
    State(sim): State<Simulator>,
    UrlPath(industry): UrlPath<String>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Result<Response, SimError> {
    check_industry(&industry)?;
    let path =
        format!("/cdr-register/v1/{industry}/data-recipients/brands/software-products/status");
    status_response(&sim, StatusList::Products, &path, &headers, &paging)
}

fn check_industry(industry: &str) -> Result<(), SimError> {
    if matches!(industry, "all" | "banking" | "energy" | "telco") {
        Ok(())
    } else {
        Err(SimError::NotFound(format!("unknown industry {industry}")))
    }
}

async fn h_ssa(
    State(sim): State<Simulator>,
    UrlPath((industry, brand, product)): UrlPath<(String, String, String)>,
) -> Result<Response, SimError> {
    check_industry(&industry)?;
    let ssa = sim.issue_ssa(&brand, &product)?;
    let mut res = ssa.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwt"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert("x-v", HeaderValue::from_static("3"));
    Ok(res)
}

async fn h_recipient_jwks(
    State(sim): State<Simulator>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, SimError> {
    sim.product_jwks(&id).map(Json)
}

/// Reads an admin JSON body (size-capped) without axum's plain-text rejections.
fn json_body<T: serde::de::DeserializeOwned>(body: &axum::body::Bytes) -> Result<T, SimError> {
    if body.len() > MAX_ADMIN_BODY {
        return Err(SimError::Invalid("the body is too large".into()));
    }
    serde_json::from_slice(body).map_err(|e| SimError::Invalid(format!("body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageBody {
    /// Answer the status and SSA APIs with this status (e.g. 503); `null` ends the outage.
    status: Option<u16>,
}

async fn h_list(State(sim): State<Simulator>) -> Json<Value> {
    let recipients: Vec<Recipient> = lock(&sim.inner.data).recipients.values().cloned().collect();
    Json(json!({ "products": sim.products(), "recipients": recipients }))
}

async fn h_add(
    State(sim): State<Simulator>,
    body: axum::body::Bytes,
) -> Result<Response, SimError> {
    let n: NewProduct = json_body(&body)?;
    let v = sim.add_product(n)?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn h_get(
    State(sim): State<Simulator>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, SimError> {
    sim.product(&id).map(Json)
}

async fn h_product_status(
    State(sim): State<Simulator>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, SimError> {
    let b: StatusBody = json_body(&body)?;
    sim.set_product_status(&id, &b.status).map(Json)
}

async fn h_recipient_status(
    State(sim): State<Simulator>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<Recipient>, SimError> {
    let b: StatusBody = json_body(&body)?;
    sim.set_recipient_status(&id, &b.status).map(Json)
}

async fn h_product_jwks(
    State(sim): State<Simulator>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, SimError> {
    let jwks: Value = json_body(&body)?;
    sim.set_product_jwks(&id, jwks).map(Json)
}

async fn h_outage(
    State(sim): State<Simulator>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, SimError> {
    let b: OutageBody = json_body(&body)?;
    sim.set_outage(b.status);
    Ok(Json(json!({ "outage": *lock(&sim.inner.outage) })))
}

async fn h_stats(State(sim): State<Simulator>) -> Json<Stats> {
    Json(sim.stats())
}

async fn h_not_found() -> SimError {
    SimError::NotFound("there is nothing at this path".into())
}

/// The simulator's routes.
pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/cdr-register/v1/jwks", get(h_jwks))
        .route(
            "/cdr-register/v1/{industry}/data-recipients/status",
            get(h_dr_status),
        )
        .route(
            "/cdr-register/v1/{industry}/data-recipients/brands/software-products/status",
            get(h_sp_status),
        )
        .route(
            "/cdr-register/v1/{industry}/data-recipients/brands/{brand_id}/software-products/{software_product_id}/ssa",
            get(h_ssa),
        )
        .route("/recipients/{software_product_id}/jwks", get(h_recipient_jwks))
        .route("/admin/products", get(h_list).post(h_add))
        .route("/admin/products/{id}", get(h_get))
        .route("/admin/products/{id}/status", post(h_product_status))
        .route("/admin/products/{id}/jwks", put(h_product_jwks))
        .route("/admin/recipients/{id}/status", post(h_recipient_status))
        .route("/admin/outage", post(h_outage))
        .route("/admin/stats", get(h_stats))
        .fallback(h_not_found)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(sim)
}

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server key (PEM).
    pub key: PathBuf,
    /// Data file (`None`: in memory).
    pub data: Option<PathBuf>,
    /// Public base URL (default `https://localhost:<port>`).
    pub public_url: Option<Url>,
    /// Default status page size.
    pub page_size: usize,
    /// Data Holders' Admin Metadata Update endpoints to call after every change.
    pub notify: Vec<Url>,
    /// Extra CA trusted for those calls (PEM).
    pub outbound_ca: Option<PathBuf>,
    /// Pre-load the demo product hosting this public JWKS file.
    pub demo_jwks: Option<PathBuf>,
}

/// A running simulator; stops when dropped.
pub struct RunningSim {
    /// Its public base URL.
    pub url: Url,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub sim: Simulator,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// Stops it and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds and starts the simulator.
///
/// # Errors
/// TLS material, data file, bind or key failures.
pub async fn start(opts: SimOptions, clock: SharedClock) -> anyhow::Result<RunningSim> {
    let tls = server::tls::server_config(&opts.cert, &opts.key, None).context("simulator TLS")?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding the simulator on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let url = match opts.public_url {
        Some(u) => u,
        None => Url::parse(&format!("https://localhost:{}", addr.port()))?,
    };
    let sim = Simulator::open(opts.data.as_deref(), url.clone(), opts.page_size, clock)?;
    if !opts.notify.is_empty() {
        let http = server::outbound::Outbound::new(
            opts.outbound_ca.as_deref(),
            Duration::from_secs(5),
            64 * 1024,
            server::outbound::AddressGuard::default(),
        )?;
        sim.set_notify(
            http.client().clone(),
            opts.notify
                .iter()
                .cloned()
                .map(NotifyTarget::from)
                .collect(),
        );
    }
    if let Some(p) = &opts.demo_jwks {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let jwks: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        sim.seed_demo(jwks)
            .map_err(|e| anyhow::anyhow!("loading the demo product: {e}"))?;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::listen::serve(
        listener,
        router(sim.clone()),
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls))),
        server::listen::Gate::new(
            "register-sim",
            server::config::ListenerLimits::default(),
            Vec::new(),
        ),
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(2),
    ));
    Ok(RunningSim {
        url,
        addr,
        sim,
        shutdown: Some(tx),
        task: Some(task),
    })
}
