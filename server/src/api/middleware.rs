//! Middleware of the API listener, outer to inner: `x-fapi-interaction-id` (echo a valid one,
//! else generate), latency histogram, tracing span, request timeout, body size limit.

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
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| async move {
                // Size limit before any parsing: refuse a declared oversize body at once.
                let declared = req
                    .headers()
                    .get(axum::http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok());
                if declared.is_some_and(|n| n > max_body.max(super::DRAIN_LIMIT)) {
                    return ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "invalid_request",
                        "The request body is too large.",
                    )
                    .into_response();
                }
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(res) => res,
                    Err(_) => ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "The request took too long.",
                    )
                    .into_response(),
                }
            },
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(&INTERACTION_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                "http",
                method = %req.method(),
                path = %req.uri().path(),
                interaction_id = %id,
                client_id = tracing::field::Empty,
                software_id = tracing::field::Empty,
            )
        }))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(record_latency))
        .layer(axum::middleware::from_fn(interaction_id))
}

/// Records `dcr_http_request_duration_seconds{method, route, status}`, `route` being the matched
/// path template (`/register/{client_id}`), or `unmatched`, so that label values stay bounded.
async fn record_latency(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
        .into_iter()
        .find(|m| *m == req.method().as_str())
        .unwrap_or("OTHER");
    let res = next.run(req).await;
    metrics::histogram!(
        crate::metrics::HTTP_SECONDS,
        "method" => method,
        "route" => route,
        "status" => res.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    res
}

/// Safety net: any 4xx/5xx that is not already JSON (a framework rejection) gets the JSON body
/// `{"error", "error_description"}`, so clients never see plain text.
async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (error, description) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", "The request body is too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("invalid_request", "The content type is not supported.")
        }
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This method is not supported on this resource.",
        ),
        StatusCode::NOT_FOUND => ("not_found", "There is no resource at this path."),
        s if s.is_server_error() => ("server_error", "The server could not complete the request."),
        _ => ("invalid_request", "The request is not valid."),
    };
    let (mut parts, _) = res.into_parts();
    let mut new = ApiError::new(status, error, description).into_response();
    for name in [
        axum::http::header::ALLOW,
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::header::RETRY_AFTER,
    ] {
        if let Some(v) = parts.headers.remove(&name) {
            new.headers_mut().insert(name, v);
        }
    }
    new
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
    req.headers_mut()
        .insert(INTERACTION_ID.clone(), value.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(INTERACTION_ID.clone(), value);
    res
}
