//! Middleware of the API listener, outer to inner: `x-fapi-interaction-id` (echo a valid one,
//! else generate), tracing span, request timeout, body size limit.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::trace::TraceLayer;

use super::ApiError;
use crate::state::AppState;

/// The FAPI interaction id header.
pub static INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// Wraps the router in the API middleware stack.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let timeout = state.config.request_timeout;
    let max_body = state.config.max_body_bytes;
    router
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| async move {
            // Size limit before any parsing: refuse a declared oversize body at once.
            let declared = req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > max_body) {
                return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large.").into_response();
            }
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(res) => res,
                Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The request took too long.").into_response(),
            }
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req.headers().get(&INTERACTION_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!(
                    "http",
                    method = %req.method(),
                    path = %req.uri().path(),
                    interaction_id = %id,
                    client_id = tracing::field::Empty,
                    software_id = tracing::field::Empty,
                )
            }),
        )
        .layer(axum::middleware::from_fn(interaction_id))
}

/// Echoes a valid incoming `x-fapi-interaction-id` (a UUID) or generates one, on every response.
async fn interaction_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&INTERACTION_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert(INTERACTION_ID.clone(), value.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(INTERACTION_ID.clone(), value);
    res
}
