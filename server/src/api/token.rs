//! The token endpoint: `client_credentials` with `private_key_jwt` (RFC 7523, CDS client
//! authentication), scope `cdr:registration`, access tokens bound to the client certificate
//! (RFC 8705 `cnf.x5t#S256`). Errors are RFC 6749 §5.2 bodies.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dcr_core::token::{
    assertion_client_id, grant_scope, issue_access_token, verify_client_assertion,
    AccessTokenClaims, Cnf, TokenError, TokenRequest,
};
use dcr_store::{Registration, RegistrationStatus};

use super::auth::{Caller, ClientCert};
use super::{header_kid, ApiError};
use crate::jwks::Verified;
use crate::state::AppState;

/// The CDS error code for a recipient or software product that is not active at the Register.
pub const ADR_STATUS_NOT_ACTIVE: &str = "urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive";

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        // RFC 6749 §5.2 allows 400 for invalid_client when no Authorization header was used;
        // the ACCC reference answers 400 for every client-assertion failure.
        ApiError::new(
            StatusCode::BAD_REQUEST,
            e.code.as_str(),
            e.description.into_owned(),
        )
    }
}

fn log(e: &ApiError) {
    tracing::info!(target: "security", error = %e.error, description = %e.description, "token request refused");
}

/// `POST /token`.
#[utoipa::path(
    post,
    path = "/token",
    operation_id = "token",
    tag = "token",
    request_body(
        content = super::openapi::TokenRequestForm,
        content_type = "application/x-www-form-urlencoded"
    ),
    responses(
        (status = 200, description = "An access token bound to the client certificate", body = super::openapi::TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error (invalid_request, invalid_client, invalid_grant, unsupported_grant_type, invalid_scope)", body = super::openapi::ErrorBody),
        (status = 403, description = "The software product or recipient is not active at the CDR Register", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (per certificate or per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store or the CDR Register is unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("mtls" = []))
)]
#[tracing::instrument(name = "dcr.token", skip_all, fields(client_id = tracing::field::Empty))]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    super::CappedBody(body): super::CappedBody,
) -> Result<Response, ApiError> {
    let result = issue(&state, &caller, &headers, &body)
        .await
        .inspect_err(log);
    match &result {
        Ok(_) => crate::metrics::token("issued", ""),
        Err(e) => crate::metrics::token("refused", &e.error),
    }
    result
}

async fn issue(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let (cert, pairs) = client_form(state, "token", caller, headers, body)?;
    let req = TokenRequest::parse_form(pairs)?;
    let issuer = state.config.issuer_str();
    let (client_id, reg) = authenticate_client(state, &req, &format!("{issuer}/token")).await?;
    let now = state.clock.now();
    // Register status (docs/dcr-rules.md §10.2): a product or recipient that is not active gets no token.
    // Told only to the authenticated client, so that nobody else learns a product's status.
    for status in [
        reg.register_sp_status.as_deref(),
        reg.register_dr_status.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        if !status.eq_ignore_ascii_case("ACTIVE") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ADR_STATUS_NOT_ACTIVE,
                format!(
                    "ERR-GEN-002: Software product status is {}",
                    dcr_core::jose::printable(status)
                ),
            ));
        }
    }
    let scope = grant_scope(req.scope.as_deref(), &reg.scope)?;
    let lifetime = state.config.token_lifetime_secs;
    let claims = AccessTokenClaims {
        iss: issuer.clone(),
        sub: client_id.clone(),
        client_id: client_id.clone(),
        scope: scope.clone(),
        iat: now,
        exp: now + lifetime,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        cnf: Cnf {
            x5t_s256: cert.thumbprint,
        },
        aud: issuer,
    };
    let token = issue_access_token(state.keys.load().active(), &claims).map_err(|e| {
        tracing::error!(error = %e, "signing an access token");
        ApiError::internal()
    })?;
    state.token_cache.insert(&token, claims, now);
    tracing::info!("access token issued");
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    });
    let mut res = (StatusCode::OK, axum::Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// The mutual-TLS client certificate and the form of a client's POST (token endpoint, CDR
/// arrangement revocation), after the per-client rate limit of `limit`.
pub(super) fn client_form(
    state: &AppState,
    limit: &'static str,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(ClientCert, Vec<(String, String)>), ApiError> {
    caller.rate_limit(state, limit)?;
    let cert = caller.cert.clone().ok_or_else(|| {
        ApiError::from(TokenError::invalid_client(
            "A client certificate is required: connect with mutual TLS.",
        ))
    })?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(TokenError::invalid_request(
            "The request must be application/x-www-form-urlencoded.",
        )
        .into());
    }
    Ok((cert, form_urlencoded_pairs(body)))
}

/// Authenticates the client of a request to `endpoint` by `private_key_jwt` (CDS client
/// authentication): the assertion verified with a key from the client's registered `jwks_uri`,
/// its `aud` the issuer or `endpoint`, its `jti` used once. Answers the client id and its
/// active registration.
pub(super) async fn authenticate_client(
    state: &AppState,
    req: &TokenRequest,
    endpoint: &str,
) -> Result<(String, Registration), ApiError> {
    let client_id = assertion_client_id(req)?;
    tracing::Span::current().record("client_id", client_id.as_str());
    let reg = state
        .store
        .get_registration(&client_id)
        .await?
        .filter(|r| r.status == RegistrationStatus::Active)
        .ok_or_else(TokenError::client_not_found)?;
    let now = state.clock.now();
    let issuer = state.config.issuer_str();
    let audiences = [issuer, endpoint.to_owned()];
    let skew = state.config.clock_skew_secs;
    let assertion = state
        .jwks
        .verify_refetching(
            &reg.jwks_uri,
            || header_kid(&req.client_assertion),
            |keys| verify_client_assertion(req, &client_id, keys, &audiences, now, skew),
            TokenError::is_unknown_kid,
        )
        .await
        .map_err(|e| match e {
            Verified::Keys(e) => {
                tracing::info!(error = %e, "client JWKS unavailable");
                ApiError::from(TokenError::invalid_client(
                    "Could not load the client's JWKS to verify the client assertion.",
                ))
            }
            Verified::Invalid(e) => e.into(),
        })?;
    // The assertion is signed with the algorithm the client registered (OpenID Connect Dynamic
    // Client Registration §2, `token_endpoint_auth_signing_alg`).
    let alg = dcr_core::jose::decode_header(&req.client_assertion)
        .map(|h| h.alg)
        .unwrap_or_default();
    if registered_auth_alg(&reg.metadata).is_some_and(|registered| registered != alg) {
        return Err(TokenError::invalid_client(
            "Invalid client_assertion - not signed with the registered token_endpoint_auth_signing_alg",
        )
        .into());
    }
    let fresh = state
        .store
        .use_jti(
            &format!("ca:{client_id}:{}", assertion.jti),
            assertion.exp.max(now) + skew,
        )
        .await?;
    if !fresh {
        return Err(TokenError::replayed_jti().into());
    }
    Ok((client_id, reg))
}

/// The `token_endpoint_auth_signing_alg` of a stored registration's metadata.
fn registered_auth_alg(metadata: &dcr_store::Metadata) -> Option<&str> {
    metadata
        .get("token_endpoint_auth_signing_alg")
        .and_then(serde_json::Value::as_str)
}

fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
