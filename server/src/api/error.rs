//! The API's error type: every 4xx and 5xx carries `{"error", "error_description"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered by the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code.
    pub error: String,
    /// The `error_description`.
    pub description: String,
    /// A `WWW-Authenticate` header, for 401/403 on bearer-protected resources.
    pub www_authenticate: Option<String>,
    /// `Allow` header for 405.
    pub allow: Option<String>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    /// An error with a status, code and description.
    pub fn new(
        status: StatusCode,
        error: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: error.into(),
            description: description.into(),
            www_authenticate: None,
            allow: None,
            retry_after: None,
        }
    }

    /// 500 without detail (the cause is logged where it happened).
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server could not complete the request.",
        )
    }

    /// 503: a dependency (the Register, the database) is unavailable.
    pub fn unavailable(description: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            description,
        );
        e.retry_after = Some(5);
        e
    }

    /// Adds a `WWW-Authenticate` header.
    #[must_use]
    pub fn with_www_authenticate(mut self, v: impl Into<String>) -> Self {
        self.www_authenticate = Some(v.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            error: &self.error,
            error_description: &self.description,
        })
        .unwrap_or_else(|_| b"{\"error\":\"server_error\"}".to_vec());
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(v) = self
            .www_authenticate
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(v) = self.allow.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(header::ALLOW, v);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<dcr_store::StoreError> for ApiError {
    fn from(e: dcr_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::unavailable("The registration store is unavailable.")
    }
}
