//! The token endpoint: `client_credentials` with `private_key_jwt` (RFC 7523, CDS client
//! authentication), scope `cdr:registration`, access tokens bound to the client certificate
//! (RFC 8705 `cnf.x5t#S256`). Errors are RFC 6749 §5.2 bodies.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dcr_core::token::{
    grant_scope, issue_access_token, AccessTokenClaims, Cnf, TokenError, TokenRequest,
};

use super::auth::limited;
use super::client_auth::{AuthenticatedClient, ClientAuthError, ClientAuthorization};
use super::ApiError;
use crate::state::AppState;

/// The CDS error code for a recipient or software product that is not active at the Register.
pub const ADR_STATUS_NOT_ACTIVE: &str = "urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive";

/// Why a token request is refused; turned into the RFC 6749 §5.2 JSON body at the edge.
#[derive(Debug, thiserror::Error)]
pub enum TokenEndpointError {
    /// Rate limit, certificate, form or client authentication.
    #[error(transparent)]
    Client(#[from] ClientAuthError),
    /// The grant or the scope: 400 with the RFC 6749 §5.2 code.
    #[error("{}", .0.description)]
    Refused(#[from] TokenError),
    /// The authenticated client's software product or recipient is not active at the Register
    /// (docs/dcr-rules.md §10.2): 403, with the status it has there.
    #[error("not active at the CDR Register: {0}")]
    NotActive(String),
    /// Signing failed: 500 (the cause is logged where it happened).
    #[error("internal error")]
    Internal,
}

impl From<TokenEndpointError> for ApiError {
    fn from(e: TokenEndpointError) -> Self {
        match e {
            TokenEndpointError::Client(e) => e.into(),
            TokenEndpointError::Refused(e) => e.into(),
            TokenEndpointError::NotActive(status) => ApiError::new(
                StatusCode::FORBIDDEN,
                ADR_STATUS_NOT_ACTIVE,
                format!(
                    "ERR-GEN-002: Software product status is {}",
                    dcr_core::jose::printable(&status)
                ),
            ),
            TokenEndpointError::Internal => ApiError::internal(),
        }
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
    client: Result<ClientAuthorization<limited::Token>, ClientAuthError>,
) -> Result<Response, ApiError> {
    let result = match client {
        Ok(client) => issue(&state, &client).await,
        Err(e) => Err(e.into()),
    }
    .map_err(ApiError::from)
    .inspect_err(log);
    match &result {
        Ok(_) => crate::metrics::token("issued", ""),
        Err(e) => crate::metrics::token("refused", &e.error),
    }
    let error = result.as_ref().err().map(|e| e.error.as_ref());
    state.stats.token(state.clock.now(), error);
    result
}

async fn issue(
    state: &AppState,
    client: &ClientAuthorization<limited::Token>,
) -> Result<Response, TokenEndpointError> {
    let req = TokenRequest::parse_form(client.form.iter().cloned())?;
    let AuthenticatedClient {
        client_id,
        registration: reg,
    } = client.authenticate(state, &req).await?;
    let issuer = state.config.issuer_str();
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
            return Err(TokenEndpointError::NotActive(status.to_owned()));
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
            x5t_s256: client.cert.thumbprint.clone(),
        },
        aud: issuer,
    };
    let keys = state.keys.load();
    let token = issue_access_token(keys.active(), &claims).map_err(|e| {
        tracing::error!(error = %e, "signing an access token");
        TokenEndpointError::Internal
    })?;
    state
        .token_cache
        .insert(&token, claims, keys.active().kid(), now);
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
