//! `dcr-dev register-sim`: a CDR Register simulator, for development, demonstrations and
//! tests. An HTTPS server that holds data recipients (legal entities) and their software
//! products, and serves what a Data Holder and a recipient need from the Register:
//!
//! - `GET /cdr-register/v1/jwks`: the Register's JWKS (one PS256 RSA key, generated on first start
//!   and kept in the data file);
//! - `GET /cdr-register/v1/{industry}/data-recipients/brands/{brandId}/software-products/{softwareProductId}/ssa`:
//!   an SSA signed PS256 as the Register issues it (docs/dcr-rules.md §5: `iss` `cdr-register`, 10 minutes,
//!   `jti` a GUID without dashes, `org_id` the brand id, `software_roles`, `scope` …); 403 when the
//!   product or its recipient is not active;
//! - `GET /cdr-register/v1/{industry}/data-recipients/status` and
//!   `GET /cdr-register/v1/{industry}/data-recipients/brands/software-products/status`: the status
//!   lists (v2/v3 bodies) with an ETag (304 on a matching `If-None-Match`), `page`/`page-size`
//!   paging with `links.next`;
//! - `GET /recipients/{softwareProductId}/jwks`: a recipient JWKS uploaded with the product
//!   (so a whole flow runs on one machine without a recipient web server);
//! - `/admin/...` (JSON): add products, change product and recipient statuses, upload a product's
//!   JWKS, simulate an outage, read counters. Unauthenticated: bind the simulator to loopback.
//!
//! After every status change the simulator can call Data Holders' Admin Metadata Update endpoint
//! (`--notify`), with a self-signed JWT as the Register does, so that they refresh at once.
//!
//! The real Register also requires an access token for the SSA API and cascades brand
//! statuses; the simulator does neither (see `docs/register.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dcr_core::clock::SharedClock;
use dcr_core::jose::{JwkSet, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

mod cli;
mod http;
mod operations;

pub use cli::{run_cli, AddProductArgs, ConnArgs, ServeArgs, SimArgs, SimClient, SimCommand};
pub use http::{router, start, RunningSim, SimOptions};

/// The demo recipient's legal entity id (pre-loaded by `scripts/dev.sh`).
pub const DEMO_LEGAL_ENTITY_ID: &str = "5f1b8e3a-2c4d-4b6e-9a7f-1e2d3c4b5a60";
/// The demo brand id.
pub const DEMO_BRAND_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
/// The demo software product id.
pub const DEMO_SOFTWARE_PRODUCT_ID: &str = "2f6c1a9e-8b3d-4e5f-a1c2-9d8e7f6a5b4c";
/// The scope the simulator puts in SSAs unless a product says otherwise: what an accredited
/// banking and energy recipient gets (the Data Holder keeps the scopes it supports).
pub const DEFAULT_SCOPE: &str = "openid profile cdr:registration bank:accounts.basic:read \
bank:accounts.detail:read bank:transactions:read bank:payees:read bank:regular_payments:read \
common:customer.basic:read common:customer.detail:read energy:accounts.basic:read";
/// Status API versions served (v2 and v3 have the same body).
const STATUS_VERSIONS: std::ops::RangeInclusive<u32> = 2..=3;
/// SSA lifetime (docs/dcr-rules.md §5.1: 10 minutes).
pub const SSA_LIFETIME_SECS: i64 = 600;
/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 256 * 1024;

/// A data recipient (accredited legal entity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Legal entity id (a GUID at the real Register).
    pub legal_entity_id: String,
    /// Legal entity name.
    pub legal_entity_name: String,
    /// `ACTIVE`, `SUSPENDED`, `REVOKED`, `SURRENDERED` (other values are served as they are, for
    /// testing how Data Holders treat them).
    pub status: String,
}

/// A software product as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Software product id (SSA `software_id`).
    pub software_product_id: String,
    /// SSA `client_name`.
    pub software_product_name: String,
    /// SSA `client_description`.
    pub software_product_description: String,
    /// The recipient that owns it.
    pub legal_entity_id: String,
    /// Brand id (SSA `org_id`).
    pub brand_id: String,
    /// Brand name (SSA `org_name`).
    pub brand_name: String,
    /// SSA `redirect_uris`.
    pub redirect_uris: Vec<String>,
    /// SSA `jwks_uri`; when `None`, the simulator's own `/recipients/{id}/jwks`.
    pub jwks_uri: Option<String>,
    /// A public JWKS the simulator serves at `/recipients/{id}/jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// SSA `scope`.
    pub scope: String,
    /// SSA `client_uri`.
    pub client_uri: String,
    /// SSA `logo_uri`.
    pub logo_uri: String,
    /// SSA `tos_uri`.
    pub tos_uri: Option<String>,
    /// SSA `policy_uri`.
    pub policy_uri: Option<String>,
    /// SSA `recipient_base_uri`.
    pub recipient_base_uri: Option<String>,
    /// SSA `sector_identifier_uri`.
    pub sector_identifier_uri: Option<String>,
    /// SSA `revocation_uri` (legacy).
    pub revocation_uri: Option<String>,
    /// `ACTIVE`, `INACTIVE`, `REMOVED` (other values are served as they are).
    pub status: String,
}

/// A product to add (`POST /admin/products`). Missing ids are generated; a new legal entity id
/// creates an `ACTIVE` recipient.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// Software product id (a new GUID when absent).
    pub software_product_id: Option<String>,
    /// Name.
    pub software_product_name: String,
    /// Description.
    pub software_product_description: Option<String>,
    /// Recipient legal entity id (a new GUID when absent).
    pub legal_entity_id: Option<String>,
    /// Recipient legal entity name (for a new recipient).
    pub legal_entity_name: Option<String>,
    /// Brand id (a new GUID when absent).
    pub brand_id: Option<String>,
    /// Brand name.
    pub brand_name: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// The recipient's JWKS URL (else the simulator hosts `jwks`).
    pub jwks_uri: Option<String>,
    /// A public JWKS to host.
    pub jwks: Option<Value>,
    /// Scope (space separated).
    pub scope: Option<String>,
    /// Product web page.
    pub client_uri: Option<String>,
    /// Logo.
    pub logo_uri: Option<String>,
    /// Terms.
    pub tos_uri: Option<String>,
    /// Policy.
    pub policy_uri: Option<String>,
    /// Recipient base URI.
    pub recipient_base_uri: Option<String>,
    /// Sector identifier URI.
    pub sector_identifier_uri: Option<String>,
    /// Initial status (`ACTIVE`).
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    private_pem: String,
}

/// The persisted state (the `--data` file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimData {
    #[serde(default)]
    signing_key: Option<StoredKey>,
    #[serde(default)]
    recipients: BTreeMap<String, Recipient>,
    #[serde(default)]
    products: BTreeMap<String, Product>,
}

/// Counters, for tests and curiosity (`GET /admin/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Data recipients status answered 200.
    pub dr_status_ok: u64,
    /// Data recipients status answered 304.
    pub dr_status_not_modified: u64,
    /// Software products status answered 200.
    pub sp_status_ok: u64,
    /// Software products status answered 304.
    pub sp_status_not_modified: u64,
    /// Status or SSA requests refused by a simulated outage.
    pub outage_refusals: u64,
    /// SSAs issued.
    pub ssa_issued: u64,
    /// SSAs refused (not active).
    pub ssa_refused: u64,
    /// Metadata Update calls made to Data Holders that answered 2xx.
    pub notifications_sent: u64,
    /// Metadata Update calls that failed.
    pub notifications_failed: u64,
    /// `x-v` of the last status request.
    pub last_x_v: Option<String>,
    /// `x-min-v` of the last status request.
    pub last_x_min_v: Option<String>,
}

/// Why an operation was refused (answered as a CDS `ResponseErrorListV2`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Unknown product, recipient or brand.
    #[error("{0}")]
    NotFound(String),
    /// The id is taken.
    #[error("{0}")]
    Conflict(String),
    /// A field is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The product or its recipient is not active (SSA).
    #[error("{0}")]
    NotActive(String),
    /// A simulated outage.
    #[error("the Register is unavailable (simulated outage)")]
    Outage(u16),
    /// The version asked for is not served.
    #[error("{0}")]
    UnsupportedVersion(String),
    /// Persisting or signing failed.
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let (status, code, title) = match &self {
            Self::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "urn:au-cds:error:cds-all:Resource/NotFound",
                "Resource Not Found",
            ),
            Self::Conflict(_) => (
                StatusCode::CONFLICT,
                "urn:au-cds:error:cds-all:Field/Invalid",
                "Conflict",
            ),
            Self::Invalid(_) => (
                StatusCode::BAD_REQUEST,
                "urn:au-cds:error:cds-all:Field/Invalid",
                "Invalid Field",
            ),
            Self::NotActive(_) => (
                StatusCode::FORBIDDEN,
                "urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive",
                "ADR Status Is Not Active",
            ),
            Self::Outage(s) => (
                StatusCode::from_u16(*s).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "urn:au-cds:error:cds-all:Service/Unavailable",
                "Service Unavailable",
            ),
            Self::UnsupportedVersion(_) => (
                StatusCode::NOT_ACCEPTABLE,
                "urn:au-cds:error:cds-all:Header/UnsupportedVersion",
                "Unsupported Version",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "urn:au-cds:error:cds-all:GeneralError/Unexpected",
                "Unexpected Error Encountered",
            ),
        };
        let body = json!({"errors": [{"code": code, "title": title, "detail": self.to_string()}]});
        (status, Json(body)).into_response()
    }
}

struct Notifier {
    http: reqwest::Client,
    targets: Vec<NotifyTarget>,
}

/// A Data Holder's Admin Metadata Update endpoint the simulator calls after every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyTarget {
    /// Where to POST.
    pub url: Url,
    /// The `aud` of the self-signed JWT: the endpoint's URL under the Data Holder's issuer
    /// (the same as `url` unless the Data Holder is reached at another address).
    pub aud: String,
}

impl From<Url> for NotifyTarget {
    fn from(url: Url) -> Self {
        Self {
            aud: url.as_str().to_string(),
            url,
        }
    }
}

struct Inner {
    data: Mutex<SimData>,
    key: SigningKey,
    path: Option<PathBuf>,
    public_url: Url,
    page_size: usize,
    clock: SharedClock,
    outage: Mutex<Option<u16>>,
    stats: Mutex<Stats>,
    notifier: Mutex<Option<Arc<Notifier>>>,
}

/// The simulator's state and behaviour; cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn valid_id(field: &str, id: &str) -> Result<(), SimError> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(SimError::Invalid(format!(
            "{field} must be 1 to 64 letters, digits, '-' or '_'"
        )))
    }
}

fn valid_status(status: &str) -> Result<String, SimError> {
    let s = status.trim().to_ascii_uppercase();
    if !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        Ok(s)
    } else {
        Err(SimError::Invalid(
            "status must be 1 to 32 letters or '_' (ACTIVE, INACTIVE, REMOVED, SUSPENDED, REVOKED, SURRENDERED)".into(),
        ))
    }
}

fn valid_https(field: &str, uri: &str) -> Result<(), SimError> {
    match Url::parse(uri) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(()),
        _ => Err(SimError::Invalid(format!(
            "{field} must be an absolute https URL"
        ))),
    }
}

fn valid_text(field: &str, s: &str) -> Result<String, SimError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 {
        return Err(SimError::Invalid(format!(
            "{field} must be 1 to 200 characters"
        )));
    }
    Ok(s.to_string())
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The status a product is reported with, after the Register's cascade from its recipient
/// (CDS "Participant Statuses": Suspended → Inactive, Revoked/Surrendered → Removed).
#[must_use]
pub fn effective_product_status(product: &str, recipient: &str) -> String {
    match recipient {
        "SUSPENDED" if product == "ACTIVE" => "INACTIVE".into(),
        "REVOKED" | "SURRENDERED" => "REMOVED".into(),
        _ => product.to_string(),
    }
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, lists, `*`).
#[must_use]
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|c| c.trim() == "*" || strip(c) == strip(etag))
}

/// Paging of a status list request (`page`, `page-size`, CDS pagination).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    /// 1-based page.
    pub page: Option<usize>,
    /// Page size (at most 1000).
    #[serde(rename = "page-size")]
    pub page_size: Option<usize>,
}

fn find_product<'a>(data: &'a SimData, id: &str) -> Result<&'a Product, SimError> {
    data.products
        .values()
        .find(|p| p.software_product_id.eq_ignore_ascii_case(id))
        .ok_or_else(|| SimError::NotFound(format!("no software product {id}")))
}

fn check_jwks(jwks: &Value) -> Result<(), SimError> {
    let bytes = serde_json::to_vec(jwks).map_err(|e| SimError::Invalid(e.to_string()))?;
    let set = JwkSet::parse(&bytes).map_err(|e| SimError::Invalid(format!("jwks: {e}")))?;
    if set.is_empty() {
        return Err(SimError::Invalid("jwks: no usable key".into()));
    }
    if jwks.to_string().contains("\"d\"") {
        return Err(SimError::Invalid(
            "jwks: a private key was sent; upload the public JWKS only".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
