//! Request authentication for the API: the mTLS client certificate (from the TLS connection or,
//! behind a TLS-terminating gateway, from a configured header sent by a trusted proxy) and the
//! holder-of-key bearer token of the registration management endpoints (RFC 6750, RFC 8705).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine as _;
use dcr_core::jose::{ct_eq, thumbprint_x5t_s256};
use dcr_core::token::{verify_access_token, AccessTokenClaims, AccessTokenError};

use super::ApiError;
use crate::state::AppState;
use crate::tls::ConnectionInfo;

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
/// is an error, and in which words; the rate limit is checked first.
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
        let conn = parts.extensions.get::<ConnectionInfo>().cloned();
        let cert = client_cert(state, conn.as_ref(), &parts.headers);
        Ok(Self { conn, cert })
    }
}

impl Caller {
    /// Takes a token of `endpoint`'s rate limits for this caller.
    ///
    /// # Errors
    /// 429 with `Retry-After` when a limit is exhausted.
    pub fn rate_limit(&self, state: &AppState, endpoint: &'static str) -> Result<(), ApiError> {
        crate::rate_limit::check(state, endpoint, self.conn.as_ref(), self.cert.as_ref())
    }
}

/// The scope that protects registration management.
pub const REGISTRATION_SCOPE: &str = "cdr:registration";

/// Finds the client certificate: the TLS connection's (verified in the handshake), or in
/// gateway mode the configured header, honoured only from a trusted proxy address.
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
    let der = decode_forwarded_cert(raw)?;
    let thumbprint = thumbprint_x5t_s256(&der);
    Some(ClientCert {
        der: Arc::new(der),
        thumbprint,
    })
}

/// Accepts a URL-encoded PEM (nginx `$ssl_client_escaped_cert`), a plain PEM, or base64 DER.
fn decode_forwarded_cert(raw: &str) -> Option<Vec<u8>> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let text = decoded.trim();
    if text.contains("-----BEGIN CERTIFICATE-----") {
        let mut reader = text.as_bytes();
        return rustls_pemfile::certs(&mut reader)
            .next()?
            .ok()
            .map(|c| c.as_ref().to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text.replace([' ', '\n'], ""))
        .ok()
}

/// 403 for a request that needs mutual TLS but carries no client certificate (docs/dcr-rules.md §6 row 0).
#[must_use]
pub fn certificate_required() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "client_certificate_required",
        "A client certificate is required: connect with mutual TLS.",
    )
}

fn invalid_token(description: &str) -> ApiError {
    let d = description.replace('"', "'");
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description).with_www_authenticate(
        format!("Bearer error=\"invalid_token\", error_description=\"{d}\""),
    )
}

/// The checks of docs/dcr-rules.md §9.2 before the handler runs, in order: client certificate, bearer token
/// present, token valid (signature, issuer, exact expiry), holder-of-key binding, scope, and the
/// path's client id equal to the token's. The registration itself is then loaded by the handler
/// (an unknown or no longer active client is also a 401).
///
/// # Errors
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

/// The 401/403 of §9.2 with its `WWW-Authenticate` header.
pub fn authorize_management(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path_client_id: &str,
) -> Result<AccessTokenClaims, ApiError> {
    let cert = caller.cert.as_ref().ok_or_else(certificate_required)?;
    let token = bearer(headers)?;
    let now = state.clock.now();
    let claims = match state.token_cache.get(token, now) {
        Some(c) => (*c).clone(),
        None => {
            let claims = verify_access_token(token, state.keys.load().published(), &state.config.issuer_str(), now).map_err(|e| {
                tracing::info!(target: "security", reason = %e, "management call with an invalid access token");
                match e {
                    AccessTokenError::Expired { exp } => invalid_token(&expired_at(exp)),
                    other => invalid_token(&other.to_string()),
                }
            })?;
            state.token_cache.insert(token, claims.clone(), now);
            claims
        }
    };
    if !ct_eq(&claims.cnf.x5t_s256, &cert.thumbprint) {
        tracing::warn!(target: "security", client_id = %claims.client_id, "holder-of-key check failed");
        // The ACCC reference's words (its tests compare them).
        return Err(invalid_token("ERR-AUTH-001: Holder of Key check failed"));
    }
    if !claims.has_scope(REGISTRATION_SCOPE) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token does not grant the cdr:registration scope.",
        )
        .with_www_authenticate("Bearer error=\"insufficient_scope\", scope=\"cdr:registration\""));
    }
    if !ct_eq(&claims.client_id, path_client_id) {
        return Err(unknown_client());
    }
    tracing::Span::current().record("client_id", claims.client_id.as_str());
    Ok(claims)
}

/// 401 for a token of another client, or an unknown client (project decision, docs/dcr-rules.md §13 A7).
#[must_use]
pub fn unknown_client() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_request",
        "The client is unknown",
    )
    .with_www_authenticate(
        "Bearer error=\"invalid_request\", error_description=\"The client is unknown\"",
    )
}

/// The bearer token, from the `Authorization` header only (never the query or body).
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "A bearer access token is required in the Authorization header.",
        )
        .with_www_authenticate("Bearer")
    };
    let value = headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value
        .to_str()
        .map_err(|_| invalid_token("The Authorization header is malformed"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| invalid_token("The Authorization header is malformed"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 8 * 1024 {
        return Err(invalid_token("The access token is malformed"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_certificates_decode_in_every_form() {
        let pki = dcr_devtools::devcerts::DevPki::new("t").unwrap();
        let c = pki.client("c").unwrap();
        let escaped: String =
            percent_encoding::utf8_percent_encode(&c.cert_pem, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(
            decode_forwarded_cert(&escaped).unwrap(),
            c.cert_der,
            "URL-encoded PEM"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(&c.cert_der);
        assert_eq!(
            decode_forwarded_cert(&b64).unwrap(),
            c.cert_der,
            "base64 DER"
        );
        assert!(decode_forwarded_cert("%%%not a cert").is_none());
    }
}
