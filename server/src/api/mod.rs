//! The API listener's routes: discovery, JWKS, registration (RFC 7591/7592 as profiled by the
//! CDS), the token endpoint, health and readiness.

pub mod admin;
pub mod arrangement;
pub mod auth;
pub mod client_auth;
pub mod error;
pub mod middleware;
pub mod openapi;
pub mod register;
pub mod routes;
pub mod token;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub use error::ApiError;

/// The raw request body, read up to the configured cap; rejections are JSON [`ApiError`]s.
///
/// An oversized body is still read (and discarded) up to [`DRAIN_LIMIT`] before the 413 is sent,
/// so that a well-behaved client can read the answer instead of seeing a reset connection.
pub struct CappedBody(pub bytes::Bytes);

/// How much of an oversized body is drained before answering 413.
pub const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

impl axum::extract::FromRequest<AppState> for CappedBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, ApiError> {
        use http_body_util::BodyExt as _;
        let max = state.config.max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "The request body is too large.",
            )
        };
        let mut body = req.into_body();
        let mut buf = bytes::BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request body could not be read.",
                )
            })?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= max {
                    buf.extend_from_slice(&data);
                } else if seen > DRAIN_LIMIT {
                    return Err(too_large());
                }
            }
        }
        if seen > max {
            return Err(too_large());
        }
        Ok(Self(buf.freeze()))
    }
}

use crate::state::AppState;

/// Builds the API router (mounted under the issuer's path).
pub fn router(state: AppState) -> Router {
    let prefix = state.path_prefix();
    let api = Router::new()
        .route(routes::HEALTHZ, get(healthz).fallback(method_not_allowed))
        .route(routes::READYZ, get(readyz).fallback(method_not_allowed))
        .route(
            routes::DISCOVERY,
            get(discovery).fallback(method_not_allowed),
        )
        .route(routes::JWKS, get(jwks).fallback(method_not_allowed))
        .route(
            routes::OPENAPI,
            get(openapi::serve).fallback(method_not_allowed),
        )
        .route(
            routes::REGISTER,
            post(register::post).fallback(method_not_allowed),
        )
        .route(
            routes::REGISTER_CLIENT,
            get(register::get)
                .put(register::put)
                .delete(register::delete)
                .fallback(method_not_allowed),
        )
        .route(
            routes::TOKEN,
            post(token::post).fallback(method_not_allowed),
        )
        .route(
            routes::ARRANGEMENT_REVOKE,
            post(arrangement::revoke).fallback(method_not_allowed),
        )
        .route(
            routes::ADMIN_REGISTER_METADATA,
            post(admin::metadata_update).fallback(method_not_allowed),
        )
        .fallback(not_found);
    let api = if prefix.is_empty() {
        api
    } else {
        Router::new().nest(&prefix, api).fallback(not_found)
    };
    middleware::apply(api, &state).with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            Json(serde_json::json!({ "status": "ready", "store": state.store.backend().as_str() }))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            ApiError::unavailable("The registration store is unreachable.").into_response()
        }
    }
}

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "discovery",
    tag = "discovery",
    responses((status = 200, description = "OpenID Provider metadata", body = openapi::DiscoveryDocument))
)]
async fn discovery(State(state): State<AppState>) -> Response {
    let mut res = Json(state.discovery_document()).into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    res
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = Json(state.keys.load().public_jwks()).into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// Unknown path: a JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is no resource at this path.",
    )
}

/// Known path, other method: 405 (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This method is not supported on this resource.",
    )
}

/// The `kid` of a compact JWS's header (empty when there is none), for the one refetch of a
/// JWK set on an unknown key.
pub(crate) fn header_kid(jws: &str) -> String {
    dcr_core::jose::decode_header(jws)
        .ok()
        .and_then(|h| h.kid)
        .unwrap_or_default()
}
