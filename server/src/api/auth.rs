//! Request authentication for the API, as axum extractors: who is calling ([`Caller`]: the
//! connection and the mTLS client certificate, from the TLS connection or, behind a
//! TLS-terminating gateway, from a configured header sent by a trusted proxy), the rate limit of
//! an endpoint ([`RateLimit`]), and the holder-of-key bearer token of the registration management
//! endpoints ([`authorize_management`], RFC 6750, RFC 8705). Refusals are [`AuthError`]s.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dcr_core::forwarded_cert::decode_forwarded_chain;
use dcr_core::jose::{ct_eq, thumbprint_x5t_s256};
use dcr_core::token::{verify_access_token, AccessTokenClaims, AccessTokenError};
use rustls::pki_types::UnixTime;

use super::ApiError;
use crate::state::AppState;
use crate::tls::ConnectionInfo;

/// Why a caller is refused before an endpoint's own rules run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No client certificate where mutual TLS is required (docs/dcr-rules.md §6 row 0): 403.
    #[error("no client certificate")]
    CertificateRequired,
    /// No bearer token in the `Authorization` header: 401.
    #[error("no bearer token")]
    BearerMissing,
    /// The token is malformed, invalid, expired or not bound to the certificate: 401 with this
    /// description, which `WWW-Authenticate` repeats.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token does not grant `cdr:registration`: 403.
    #[error("insufficient scope")]
    InsufficientScope,
    /// A token of another client, or an unknown or no longer active client (project decision,
    /// docs/dcr-rules.md §13 A7): 401.
    #[error("unknown client")]
    UnknownClient,
    /// A rate limit of the endpoint is exhausted: 429 with `Retry-After`.
    #[error("rate limited for {retry_after} s")]
    RateLimited {
        /// Seconds until a request would be accepted.
        retry_after: u64,
    },
}

fn invalid_token(description: &str) -> ApiError {
    let d = description.replace('"', "'");
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description).with_www_authenticate(
        format!("Bearer error=\"invalid_token\", error_description=\"{d}\""),
    )
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::CertificateRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "client_certificate_required",
                "A client certificate is required: connect with mutual TLS.",
            ),
            AuthError::BearerMissing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "A bearer access token is required in the Authorization header.",
            )
            .with_www_authenticate("Bearer"),
            AuthError::InvalidToken(description) => invalid_token(&description),
            AuthError::InsufficientScope => ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "The access token does not grant the cdr:registration scope.",
            )
            .with_www_authenticate(
                "Bearer error=\"insufficient_scope\", scope=\"cdr:registration\"",
            ),
            AuthError::UnknownClient => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "The client is unknown",
            )
            .with_www_authenticate(
                "Bearer error=\"invalid_request\", error_description=\"The client is unknown\"",
            ),
            AuthError::RateLimited { retry_after } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    format!("Too many requests; retry after {retry_after} seconds."),
                );
                e.retry_after = Some(retry_after);
                e
            }
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// The client certificate of the request, with its RFC 8705 thumbprint.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// DER of the leaf certificate.
    pub der: Arc<Vec<u8>>,
    /// base64url SHA-256 of the DER (`x5t#S256`).
    pub thumbprint: String,
}

/// Who is calling, as an axum extractor: the connection (its peer address counts against the
/// address rate limit) and the client certificate, if one was presented on the connection or
/// forwarded by a trusted proxy ([`client_cert`]). Handlers decide whether a missing certificate
/// is an error, and in which words. Worked out once per request and kept in its extensions, so
/// that [`RateLimit`] and the handler share it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The connection the request arrived on.
    pub conn: Option<ConnectionInfo>,
    /// The client certificate, when there is one.
    pub cert: Option<ClientCert>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Self>() {
            return Ok(caller.clone());
        }
        let conn = parts.extensions.get::<ConnectionInfo>().cloned();
        let cert = client_cert(state, conn.as_ref(), &parts.headers);
        let caller = Self { conn, cert };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// An endpoint whose requests count against the rate limits, under its own name in the metrics.
pub trait Limited: Send + Sync + 'static {
    /// The `endpoint` label of the rate-limit metric and log line.
    const NAME: &'static str;
}

/// The endpoints with rate limits.
pub mod limited {
    /// `POST /register`.
    pub struct Register;
    /// `POST /token`.
    pub struct Token;
    /// `POST /arrangements/revoke`.
    pub struct Arrangement;
    /// `GET`, `PUT` and `DELETE /register/{client_id}`.
    pub struct Manage;
    /// The Register's Admin Metadata Update endpoint.
    pub struct AdminMetadata;

    impl super::Limited for Register {
        const NAME: &'static str = "register";
    }
    impl super::Limited for Token {
        const NAME: &'static str = "token";
    }
    impl super::Limited for Arrangement {
        const NAME: &'static str = "arrangement";
    }
    impl super::Limited for Manage {
        const NAME: &'static str = "manage";
    }
    impl super::Limited for AdminMetadata {
        const NAME: &'static str = "admin_metadata";
    }
}

/// The rate limits of endpoint `E`, as an axum extractor: a token is taken for the caller's
/// address (skipped for a trusted proxy, whose address stands for every recipient behind it) and
/// its certificate before the body is read; an exhausted limit is [`AuthError::RateLimited`].
pub struct RateLimit<E>(PhantomData<E>);

impl<E: Limited> FromRequestParts<AppState> for RateLimit<E> {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AuthError> {
        let Ok(caller) = Caller::from_request_parts(parts, state).await;
        let addr = caller
            .conn
            .as_ref()
            .map(|c| c.peer.ip())
            .filter(|ip| !state.config.trusted_proxies.contains(ip));
        let thumbprint = caller.cert.as_ref().map(|c| c.thumbprint.as_str());
        state
            .rate_limiter
            .check(addr, thumbprint)
            .map_err(|(key, secs)| {
                metrics::counter!(crate::metrics::RATE_LIMITED, "endpoint" => E::NAME, "key" => key)
                    .increment(1);
                tracing::info!(target: "security", endpoint = E::NAME, key, retry_after = secs, "rate limited");
                AuthError::RateLimited { retry_after: secs }
            })?;
        Ok(Self(PhantomData))
    }
}

/// The scope that protects registration management.
pub const REGISTRATION_SCOPE: &str = "cdr:registration";

/// Finds the client certificate: the TLS connection's (verified in the handshake), or in
/// gateway mode the configured header, honoured only from a trusted proxy address and only when
/// what it carries is a certificate that chains to `DCR_CLIENT_CA` and is valid now. An empty
/// header (HAProxy's way of saying "no certificate"), or one that is not such a certificate,
/// means no certificate.
#[must_use]
pub fn client_cert(
    state: &AppState,
    conn: Option<&ConnectionInfo>,
    headers: &HeaderMap,
) -> Option<ClientCert> {
    if let Some(der) = conn.and_then(|c| c.client_cert.clone()) {
        let thumbprint = thumbprint_x5t_s256(&der);
        return Some(ClientCert { der, thumbprint });
    }
    let name = state.config.client_cert_header.as_deref()?;
    let peer = conn?.peer.ip();
    if !state.config.trusted_proxies.contains(&peer) {
        return None;
    }
    let raw = headers.get(name)?.to_str().ok()?;
    if raw.trim().is_empty() {
        return None;
    }
    let verifier = state.forwarded_cert_verifier.as_ref()?;
    let Some(chain) = decode_forwarded_chain(raw) else {
        tracing::warn!(target: "security", "the forwarded client certificate header holds no certificate");
        return None;
    };
    let (leaf, intermediates) = chain.split_first()?;
    if let Err(e) = verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
        tracing::warn!(target: "security", error = %e, "forwarded client certificate refused");
        return None;
    }
    let der = leaf.to_vec();
    let thumbprint = thumbprint_x5t_s256(&der);
    Some(ClientCert {
        der: Arc::new(der),
        thumbprint,
    })
}

/// The description of an expired access token, in the ACCC reference's words and date format
/// (its tests compare them): `The token expired at '12/01/2026 09:30:00'` (UTC).
fn expired_at(exp: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(exp) {
        Ok(t) => format!(
            "The token expired at '{:02}/{:02}/{:04} {:02}:{:02}:{:02}'",
            u8::from(t.month()),
            t.day(),
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "The token has expired".to_string(),
    }
}

/// The checks of docs/dcr-rules.md §9.2 before the handler runs, in order: client certificate,
/// bearer token present, token valid (signature, issuer, exact expiry), holder-of-key binding,
/// scope, and the path's client id equal to the token's. The registration itself is then loaded
/// by the handler (an unknown or no longer active client is also [`AuthError::UnknownClient`]).
///
/// # Errors
/// The first check that fails, as an [`AuthError`].
pub fn authorize_management(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path_client_id: &str,
) -> Result<AccessTokenClaims, AuthError> {
    let cert = caller.cert.as_ref().ok_or(AuthError::CertificateRequired)?;
    let token = bearer(headers)?;
    let now = state.clock.now();
    let keys = state.keys.load();
    // A remembered token counts only while the key that signed it is still published.
    let cached = state
        .token_cache
        .get(token, now)
        .filter(|hit| keys.published().iter().any(|k| k.kid() == &*hit.kid));
    let claims = match cached {
        Some(hit) => (*hit.claims).clone(),
        None => {
            let verified = verify_access_token(token, keys.published(), &state.config.issuer_str(), now).map_err(|e| {
                tracing::info!(target: "security", reason = %e, "management call with an invalid access token");
                match e {
                    AccessTokenError::Expired { exp } => AuthError::InvalidToken(expired_at(exp)),
                    other => AuthError::InvalidToken(other.to_string()),
                }
            })?;
            state
                .token_cache
                .insert(token, verified.claims.clone(), &verified.kid, now);
            verified.claims
        }
    };
    if !ct_eq(&claims.cnf.x5t_s256, &cert.thumbprint) {
        tracing::warn!(target: "security", client_id = %claims.client_id, "holder-of-key check failed");
        // The ACCC reference's words (its tests compare them).
        return Err(AuthError::InvalidToken(
            "ERR-AUTH-001: Holder of Key check failed".into(),
        ));
    }
    if !claims.has_scope(REGISTRATION_SCOPE) {
        return Err(AuthError::InsufficientScope);
    }
    if !ct_eq(&claims.client_id, path_client_id) {
        return Err(AuthError::UnknownClient);
    }
    tracing::Span::current().record("client_id", claims.client_id.as_str());
    Ok(claims)
}

/// The bearer token, from the `Authorization` header only (never the query or body).
fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let malformed = || AuthError::InvalidToken("The Authorization header is malformed".into());
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::BearerMissing)?;
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::BearerMissing);
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 8 * 1024 {
        return Err(AuthError::InvalidToken(
            "The access token is malformed".into(),
        ));
    }
    Ok(token)
}
