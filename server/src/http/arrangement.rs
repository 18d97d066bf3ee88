//! CDR arrangement revocation (CDS "CDR Arrangement Revocation End Point"), the endpoint that
//! discovery's `cdr_arrangement_revocation_endpoint` names.
//!
//! A recipient revokes a consent arrangement with a form carrying `cdr_arrangement_id`, over
//! mutual TLS, authenticated by `private_key_jwt` as at the token endpoint. Arrangements are
//! made by the authorisation server's consent flows, which this server does not run: it holds
//! none, so every authenticated request names an arrangement that is not the client's and is
//! answered 422 `urn:au-cds:error:cds-all:Authorisation/InvalidArrangement`, as CDS requires
//! for an unknown arrangement. A Data Holder whose authorisation server holds arrangements routes
//! this path of the issuer to that server (docs/deploy.md).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use dcr_core::token::{TokenError, TokenRequest};

use super::token::{authenticate_client, client_form};
use super::ApiError;
use crate::state::AppState;
use crate::tls::ConnectionInfo;

/// The CDS error code for an arrangement that does not exist or is not the client's.
pub const INVALID_ARRANGEMENT: &str = "urn:au-cds:error:cds-all:Authorisation/InvalidArrangement";

/// `POST /arrangements/revoke`.
#[tracing::instrument(name = "dcr.arrangement.revoke", skip_all, fields(client_id = tracing::field::Empty))]
pub async fn revoke(
    State(state): State<AppState>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    super::CappedBody(body): super::CappedBody,
) -> Response {
    match refuse(&state, conn.as_deref(), &headers, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn refuse(
    state: &AppState,
    conn: Option<&ConnectionInfo>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Response> {
    let fail = |e: ApiError| e.into_response();
    let (_, pairs) = client_form(state, "arrangement", conn, headers, body).map_err(fail)?;
    let arrangement_ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "cdr_arrangement_id")
        .map(|(_, v)| v.as_str())
        .collect();
    let req =
        TokenRequest::parse_client_authentication(pairs.clone()).map_err(|e| fail(e.into()))?;
    let endpoint = format!(
        "{}{}",
        state.config.issuer_str(),
        super::routes::ARRANGEMENT_REVOKE
    );
    let (client_id, _) = authenticate_client(state, &req, &endpoint)
        .await
        .map_err(fail)?;
    tracing::Span::current().record("client_id", client_id.as_str());
    match arrangement_ids.as_slice() {
        [id] if !id.is_empty() => {
            tracing::info!(target: "security", "arrangement revocation for an arrangement this server does not hold");
            let description = "The cdr_arrangement_id is not a valid arrangement of this client.";
            let mut res = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                INVALID_ARRANGEMENT,
                description,
            )
            .into_response();
            // The CDS error list beside the house body, for clients that read either.
            *res.body_mut() = axum::body::Body::from(
                serde_json::json!({
                    "error": INVALID_ARRANGEMENT,
                    "error_description": description,
                    "errors": [{
                        "code": INVALID_ARRANGEMENT,
                        "title": "Invalid Consent Arrangement",
                        "detail": description,
                    }],
                })
                .to_string(),
            );
            Err(res)
        }
        [] | [_] => Err(fail(
            TokenError::invalid_request("cdr_arrangement_id not provided").into(),
        )),
        _ => Err(fail(
            TokenError::invalid_request("The 'cdr_arrangement_id' parameter is repeated").into(),
        )),
    }
}
