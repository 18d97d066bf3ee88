//! `POST {issuer}/cds-au/v1/admin/register/metadata`: the Admin Metadata Update endpoint the CDR
//! Register calls to tell a Data Holder that participant metadata changed (CDS "Admin APIs" →
//! Metadata Update; docs/dcr-rules.md §10.2). It triggers an immediate Register status sync.
//!
//! # Security
//! The Register authenticates with a self-signed JWT bearer (CDS "Client Authentication" →
//! self-signed JWT): `iss` = `sub` = `cdr-register`, `aud` this endpoint's URL (or the issuer),
//! `exp`, a single-use `jti`, signed with a key from the Register's JWKS
//! (`DCR_REGISTER_JWKS_URI`, the keys that sign SSAs). No client certificate is required.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dcr_core::jose::{verify_with_set, Claims, JoseError};
use serde_json::Value;

use super::auth::{limited, RateLimit};
use super::ApiError;
use crate::jwks::Verified;
use crate::state::AppState;

/// The version of the Admin Metadata Update endpoint implemented.
pub const METADATA_UPDATE_VERSION: u32 = 1;

/// Why a metadata update call is refused; turned into the JSON error body at the edge.
#[derive(Debug, thiserror::Error)]
pub enum MetadataUpdateError {
    /// The bearer token is missing, malformed, not the Register's, or not valid now: 401.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// `x-v` or `x-min-v` is not a positive integer: 400.
    #[error("{0} must be a positive integer")]
    InvalidVersion(&'static str),
    /// `x-min-v` asks for a version above the one served: 406.
    #[error("unsupported version")]
    UnsupportedVersion,
    /// The body is not JSON: 415.
    #[error("not application/json")]
    NotJson,
    /// The body is not `{"data":{"action":"REFRESH"}}`: 400.
    #[error("not a REFRESH")]
    NotRefresh,
    /// The Register's keys could not be loaded: 503.
    #[error("the CDR Register's keys could not be loaded")]
    RegisterKeys,
    /// The store failed: 503.
    #[error(transparent)]
    Store(#[from] dcr_store::StoreError),
}

impl From<MetadataUpdateError> for ApiError {
    fn from(e: MetadataUpdateError) -> Self {
        match e {
            MetadataUpdateError::Unauthorized(description) => {
                let d = description.replace('"', "'");
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
                    .with_www_authenticate(format!(
                        "Bearer error=\"invalid_token\", error_description=\"{d}\""
                    ))
            }
            MetadataUpdateError::InvalidVersion(name) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "urn:au-cds:error:cds-all:Header/InvalidVersion",
                format!("{name} must be a positive integer."),
            ),
            MetadataUpdateError::UnsupportedVersion => ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "urn:au-cds:error:cds-all:Header/UnsupportedVersion",
                "Only version 1 of the Metadata Update endpoint is supported.",
            ),
            MetadataUpdateError::NotJson => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "The request body must be application/json.",
            ),
            MetadataUpdateError::NotRefresh => ApiError::new(
                StatusCode::BAD_REQUEST,
                "urn:au-cds:error:cds-all:Field/Invalid",
                "The body must be {\"data\":{\"action\":\"REFRESH\"}}.",
            ),
            MetadataUpdateError::RegisterKeys => {
                ApiError::unavailable("Could not load the CDR Register's keys; try again shortly.")
            }
            MetadataUpdateError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for MetadataUpdateError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

fn unauthorized(description: &'static str) -> MetadataUpdateError {
    tracing::info!(target: "security", reason = description, "admin metadata update refused");
    MetadataUpdateError::Unauthorized(description)
}

/// `x-v` / `x-min-v` as the CDS header rules have them: version 1 only.
fn check_version(headers: &HeaderMap) -> Result<(), MetadataUpdateError> {
    let int = |name: &'static str| -> Result<Option<u32>, MetadataUpdateError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or(MetadataUpdateError::InvalidVersion(name)),
        }
    };
    let v = int("x-v")?;
    let min = int("x-min-v")?;
    let supported = match (v, min) {
        (None, _) => true,
        (Some(v), None) => v >= METADATA_UPDATE_VERSION,
        (Some(v), Some(min)) => min <= METADATA_UPDATE_VERSION && v >= METADATA_UPDATE_VERSION,
    };
    if supported {
        Ok(())
    } else {
        Err(MetadataUpdateError::UnsupportedVersion)
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, MetadataUpdateError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("A bearer token from the CDR Register is required."))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer")
                && !token.trim().is_empty()
                && token.len() <= dcr_core::jose::MAX_JWS_LEN =>
        {
            Ok(token.trim())
        }
        _ => Err(unauthorized("The Authorization header is malformed.")),
    }
}

async fn verify_register_jwt(state: &AppState, token: &str) -> Result<Claims, MetadataUpdateError> {
    let uri = state.config.register_jwks_uri.as_str();
    let unavailable = |e: crate::jwks::JwksError| {
        tracing::error!(error = %e, "the CDR Register's JWKS could not be loaded");
        MetadataUpdateError::RegisterKeys
    };
    let claims = state
        .jwks
        .verify_refetching(
            uri,
            || super::header_kid(token),
            |keys| verify_with_set(token, keys),
            |e| matches!(e, JoseError::UnknownKid(_)),
        )
        .await
        .map(|(_, claims)| claims)
        .map_err(|e| match e {
            Verified::Keys(e) => unavailable(e),
            Verified::Invalid(e) => {
                let kid = super::header_kid(token);
                tracing::info!(target: "security", kid = %dcr_core::jose::printable(&kid), error = %e, "admin token signature");
                unauthorized("The token is not signed by the CDR Register.")
            }
        })?;
    let now = state.clock.now();
    let skew = state.config.clock_skew_secs;
    let issuer = state.config.issuer_str();
    let endpoint = format!("{issuer}{}", super::routes::ADMIN_REGISTER_METADATA);
    let register = state.config.ssa_issuer.as_str();
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if str_claim("iss") != Some(register) || str_claim("sub") != Some(register) {
        return Err(unauthorized("'iss' and 'sub' must be the CDR Register."));
    }
    let aud_ok = |a: &str| a == endpoint || a == issuer;
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => aud_ok(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(aud_ok),
        _ => false,
    };
    if !aud {
        return Err(unauthorized(
            "'aud' must be this endpoint's URL or the issuer.",
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| unauthorized("'exp' is required."))?;
    if exp.saturating_add(skew) <= now {
        return Err(unauthorized("The token has expired."));
    }
    // Its `jti` is remembered until `exp`: a far `exp` would keep it for years.
    let max_lifetime = state.config.max_assertion_lifetime_secs;
    if exp.saturating_sub(now) > max_lifetime.saturating_add(skew) {
        return Err(unauthorized("The token's 'exp' is too far in the future."));
    }
    for name in ["iat", "nbf"] {
        if let Some(t) = claims.get(name) {
            if t.as_i64().is_none_or(|t| t > now.saturating_add(skew)) {
                return Err(unauthorized("The token is not valid yet."));
            }
        }
    }
    let jti = str_claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| unauthorized("'jti' is required."))?;
    let fresh = state
        .store
        .use_jti(&format!("adm:{jti}"), exp.max(now).saturating_add(skew))
        .await?;
    if !fresh {
        return Err(unauthorized("The token has already been used."));
    }
    Ok(claims)
}

/// `POST /cds-au/v1/admin/register/metadata` with `{"data":{"action":"REFRESH"}}`: 200 and an
/// immediate Register status refresh.
#[utoipa::path(
    post,
    path = "/cds-au/v1/admin/register/metadata",
    operation_id = "adminMetadataUpdate",
    tag = "admin",
    params(
        ("x-v" = Option<i64>, Header, nullable = false, minimum = 1, maximum = 4_294_967_295.0, description = "The version requested; 1 is served"),
        ("x-min-v" = Option<i64>, Header, nullable = false, minimum = 1, maximum = 4_294_967_295.0, description = "The lowest version accepted, with x-v"),
    ),
    request_body(
        content = super::openapi::MetadataUpdateRequest,
        content_type = "application/json"
    ),
    responses(
        (status = 200, description = "A Register status refresh is under way (no body)", headers(("x-v" = String, description = "The version served: 1"))),
        (status = 400, description = "x-v or x-min-v is not a positive integer (urn:au-cds:error:cds-all:Header/InvalidVersion), or the body is not {\"data\":{\"action\":\"REFRESH\"}} (urn:au-cds:error:cds-all:Field/Invalid)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or malformed bearer token, or one not signed by the CDR Register, with the wrong iss, sub or aud, expired, not yet valid, without jti, or already used (invalid_token)", body = super::openapi::ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 406, description = "x-min-v above 1 with x-v (urn:au-cds:error:cds-all:Header/UnsupportedVersion)", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 415, description = "Content type is not application/json", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store or the CDR Register's keys are unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("register" = []))
)]
#[tracing::instrument(name = "dcr.admin.metadata_update", skip_all)]
pub async fn metadata_update(
    State(state): State<AppState>,
    _: RateLimit<limited::AdminMetadata>,
    headers: HeaderMap,
    super::CappedBody(body): super::CappedBody,
) -> Result<Response, MetadataUpdateError> {
    let token = bearer(&headers)?;
    verify_register_jwt(&state, token).await?;
    check_version(&headers)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(MetadataUpdateError::NotJson);
    }
    let action = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        v.pointer("/data/action")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if action.as_deref() != Some("REFRESH") {
        return Err(MetadataUpdateError::NotRefresh);
    }
    state.register_sync.refresh();
    tracing::info!("the CDR Register asked for a metadata refresh");
    let mut res = StatusCode::OK.into_response();
    res.headers_mut()
        .insert("x-v", HeaderValue::from(METADATA_UPDATE_VERSION));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
