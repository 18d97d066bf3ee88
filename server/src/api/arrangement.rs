//! CDR arrangement revocation (CDS "CDR Arrangement Revocation End Point"), the endpoint that
//! discovery's `cdr_arrangement_revocation_endpoint` names.
//!
//! A recipient revokes a consent arrangement with a form carrying `cdr_arrangement_id`, over
//! mutual TLS, authenticated by `private_key_jwt` as at the token endpoint. Arrangements are
//! made by the authorisation server's consent flows, which this server does not run: it holds
//! none, so every authenticated request names an arrangement that is not the client's and is
//! answered 422 `urn:au-cds:error:cds-all:Authorisation/InvalidArrangement`, as CDS requires
//! for an unknown arrangement. A Data Holder whose authorisation server holds arrangements routes
//! this path of the issuer to that server (docs/dcr-rules.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dcr_core::token::{TokenError, TokenRequest};

use super::auth::limited;
use super::client_auth::{ClientAuthError, ClientAuthorization};
use crate::state::AppState;

/// The CDS error code for an arrangement that does not exist or is not the client's.
pub const INVALID_ARRANGEMENT: &str = "urn:au-cds:error:cds-all:Authorisation/InvalidArrangement";

/// `POST /arrangements/revoke`.
#[utoipa::path(
    post,
    path = "/arrangements/revoke",
    operation_id = "revokeArrangement",
    tag = "arrangement",
    request_body(
        content = super::openapi::RevocationForm,
        content_type = "application/x-www-form-urlencoded"
    ),
    responses(
        (status = 400, description = "RFC 6749 §5.2 error: invalid_client (no client certificate, client authentication failed), invalid_request (not a form, a parameter repeated, cdr_arrangement_id missing or empty)", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 422, description = "The client is authenticated and the arrangement is not one of its own: this server holds none (urn:au-cds:error:cds-all:Authorisation/InvalidArrangement)", body = super::openapi::ArrangementErrorBody),
        (status = 429, description = "Rate limited (per certificate or per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("mtls" = []))
)]
#[tracing::instrument(name = "dcr.arrangement.revoke", skip_all, fields(client_id = tracing::field::Empty))]
pub async fn revoke(
    State(state): State<AppState>,
    client: Result<ClientAuthorization<limited::Arrangement>, ClientAuthError>,
) -> Response {
    let result = match client {
        Ok(client) => answer(&state, &client).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn answer(
    state: &AppState,
    client: &ClientAuthorization<limited::Arrangement>,
) -> Result<Response, ClientAuthError> {
    let req = TokenRequest::parse_client_authentication(client.form.iter().cloned())?;
    let authenticated = client.authenticate(state, &req).await?;
    tracing::Span::current().record("client_id", authenticated.client_id.as_str());
    let arrangement_id = client.values("cdr_arrangement_id").next();
    match arrangement_id {
        Some(id) if !id.is_empty() => {
            tracing::info!(target: "security", "arrangement revocation for an arrangement this server does not hold");
            let description = "The cdr_arrangement_id is not a valid arrangement of this client.";
            // The house body with the CDS error list beside it, for clients that read either.
            let body = serde_json::json!({
                "error": INVALID_ARRANGEMENT,
                "error_description": description,
                "errors": [{
                    "code": INVALID_ARRANGEMENT,
                    "title": "Invalid Consent Arrangement",
                    "detail": description,
                }],
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response())
        }
        _ => Err(TokenError::invalid_request("cdr_arrangement_id not provided").into()),
    }
}
