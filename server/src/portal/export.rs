//! `GET /export/registrations.csv|jsonl?q=&status=&sort=` and `GET
//! /export/audit.csv|jsonl?client_id=&actor=&action=`: the filtered registration list and audit
//! log as a download, streamed (see [`crate::export`] for the formats).
//!
//! # Security
//! Behind the portal's session gate like every page: any signed-in role may export, as every
//! role reads registrations and the audit log. Each export is an audit event naming the person,
//! the format and the filters, written before the body starts. A GET changes nothing else, so
//! the CSRF check (non-GET only) does not apply; the response is `no-store` and an attachment.
//!
//! At most [`EXPORTS_AT_ONCE`] exports run at once on an instance (each holds a store
//! connection while it streams); another is answered 503 with `Retry-After`. An export has no
//! row cap: it streams with flat memory, and ends when the browser stops reading.

use std::sync::Arc;

use app::dto::Role;
use app::ssr::Principal;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use dcr_audit::Actor;
use futures::StreamExt as _;
use tokio::sync::Semaphore;

use crate::export::{AuditFilters, Format, Kind, RegistrationFilters};
use crate::portal::PortalCtx;

/// Most exports streaming at once on one instance.
pub const EXPORTS_AT_ONCE: usize = 2;

/// The permits of running exports, shared by the portal's handlers.
#[derive(Clone)]
pub struct ExportSlots(Arc<Semaphore>);

impl Default for ExportSlots {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(EXPORTS_AT_ONCE)))
    }
}

/// `GET /export/{file}`: `registrations.csv`, `registrations.jsonl`, `audit.csv` or
/// `audit.jsonl`; anything else is 404.
pub async fn download(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (kind, format) = match file.as_str() {
        "registrations.csv" => (Kind::Registrations, Format::Csv),
        "registrations.jsonl" => (Kind::Registrations, Format::Jsonl),
        "audit.csv" => (Kind::Audit, Format::Csv),
        "audit.jsonl" => (Kind::Audit, Format::Jsonl),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let p = match crate::portal::admin::allowed(&ctx, principal, Role::Viewer, "export").await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let Ok(permit) = ctx.export_slots.0.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            "Other exports are running; try again in a moment.",
        )
            .into_response();
    };
    let param = |name: &str| first_param(query.as_deref().unwrap_or_default(), name);
    let store = &ctx.state.store;
    let now = ctx.state.clock.now();
    let actor = Actor::Admin(&p.username);
    let body = match kind {
        Kind::Registrations => {
            let filters =
                RegistrationFilters::from_params(&param("q"), &param("status"), &param("sort"));
            crate::export::registrations(store, actor, &filters, format, now).await
        }
        Kind::Audit => {
            let filters = AuditFilters::from_params([
                &param("client_id"),
                &param("actor"),
                &param("action"),
                &param("from"),
                &param("to"),
            ]);
            crate::export::audit(store, actor, &filters, format, now).await
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, export = kind.as_str(), "portal: could not start an export");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The portal cannot reach its data store right now. Try again in a moment.",
            )
                .into_response();
        }
    };
    tracing::info!(username = %p.username, export = kind.as_str(), format = format.as_str(), "portal: export started");
    // The permit is released when the body ends or the download is dropped.
    let body = body.map(move |chunk| {
        let _held = &permit;
        chunk.inspect_err(|e| tracing::error!(error = %e, "portal: an export failed midway"))
    });
    let filename = format!(
        "attachment; filename=\"{}-{}.{}\"",
        kind.as_str(),
        app::dto::rfc3339(now).replace([':', '-'], ""),
        format.as_str()
    );
    let mut res = Body::from_stream(body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&filename) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The first value of `name` in a URL query, decoded (empty when absent).
fn first_param(query: &str, name: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
