//! The OpenAPI 3.1 document of the API listener's protocol endpoints (discovery, `/register`,
//! the token endpoint, CDR arrangement revocation, and the Admin Metadata Update endpoint the
//! CDR Register calls), generated from the handlers' `#[utoipa::path]` annotations and the DTOs
//! below, and served at `GET {issuer}/openapi.json`. `scripts/openapi-check.sh` runs schemathesis
//! against the live server with it.
//!
//! The DTOs describe the wire format only; the handlers build their bodies from `dcr-core`.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::{Modify, OpenApi, ToSchema};

use crate::state::AppState;

/// Every 4xx and 5xx of the API (RFC 6749 §5.2, RFC 7591 §3.2.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error code, e.g. `invalid_client_metadata`, `invalid_client`, `invalid_token`,
    /// `temporarily_unavailable`.
    pub error: String,
    /// A human-readable description.
    pub error_description: String,
}

/// A registration (RFC 7591 §3.2.1 as profiled by the CDS): the client metadata as accepted,
/// with the `client_id` issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationResponse {
    /// The issued client identifier.
    pub client_id: String,
    /// When it was issued, seconds since the epoch.
    pub client_id_issued_at: i64,
    /// From the SSA.
    pub client_name: String,
    /// From the SSA.
    pub client_description: String,
    /// From the SSA.
    pub client_uri: String,
    /// The recipient's organisation id, from the SSA.
    pub org_id: String,
    /// From the SSA.
    pub org_name: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// From the SSA.
    pub logo_uri: String,
    /// The recipient's JWKS.
    pub jwks_uri: String,
    /// `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// `PS256` or `ES256`.
    pub token_endpoint_auth_signing_alg: String,
    /// Granted grant types.
    pub grant_types: Vec<String>,
    /// Granted response types.
    pub response_types: Vec<String>,
    /// `web`.
    pub application_type: String,
    /// ID token signing algorithm.
    pub id_token_signed_response_alg: String,
    /// Request object signing algorithm.
    pub request_object_signing_alg: String,
    /// The SSA, as sent.
    pub software_statement: String,
    /// From the SSA.
    pub software_id: String,
    /// From the SSA.
    pub software_roles: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Optional metadata echoed when registered.
    pub legal_entity_id: Option<String>,
    /// Optional metadata echoed when registered.
    pub legal_entity_name: Option<String>,
    /// Optional metadata echoed when registered.
    pub sector_identifier_uri: Option<String>,
    /// Optional metadata echoed when registered.
    pub tos_uri: Option<String>,
    /// Optional metadata echoed when registered.
    pub policy_uri: Option<String>,
    /// Optional metadata echoed when registered.
    pub recipient_base_uri: Option<String>,
    /// Optional metadata echoed when registered.
    pub revocation_uri: Option<String>,
    /// Optional metadata echoed when registered.
    pub id_token_encrypted_response_alg: Option<String>,
    /// Optional metadata echoed when registered.
    pub id_token_encrypted_response_enc: Option<String>,
    /// Optional metadata echoed when registered.
    pub authorization_signed_response_alg: Option<String>,
    /// Optional metadata echoed when registered.
    pub authorization_encrypted_response_alg: Option<String>,
    /// Optional metadata echoed when registered.
    pub authorization_encrypted_response_enc: Option<String>,
}

/// A compact JWS (`header.payload.signature`, base64url), as a registration request body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
pub struct CompactJws(pub String);

/// The only grant type.
#[derive(Debug, Serialize, ToSchema)]
pub enum GrantType {
    /// RFC 6749 §4.4.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
}

/// The only client assertion type (RFC 7523).
#[derive(Debug, Serialize, ToSchema)]
pub enum ClientAssertionType {
    /// A JWT bearer assertion.
    #[serde(rename = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")]
    JwtBearer,
}

/// The only scope the token endpoint grants.
#[derive(Debug, Serialize, ToSchema)]
pub enum RegistrationScope {
    /// Registration management.
    #[serde(rename = "cdr:registration")]
    CdrRegistration,
}

/// A token request (RFC 6749 §4.4 with RFC 7523 client authentication).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenRequestForm {
    /// `client_credentials`.
    pub grant_type: GrantType,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: ClientAssertionType,
    /// The client assertion, signed with a key at the client's `jwks_uri`.
    pub client_assertion: CompactJws,
    /// `cdr:registration` (the default).
    pub scope: Option<RegistrationScope>,
    /// Must match the assertion's `iss`/`sub` when sent.
    pub client_id: Option<String>,
}

/// An access token (RFC 6749 §5.1), bound to the client certificate (RFC 8705).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
}

/// A CDR arrangement revocation request (CDS "CDR Arrangement Revocation End Point"): the
/// arrangement, and the client authenticated as at the token endpoint (RFC 7523).
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationForm {
    /// The arrangement to revoke.
    pub cdr_arrangement_id: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: ClientAssertionType,
    /// The client assertion, signed with a key at the client's `jwks_uri`; its `aud` the issuer
    /// or this endpoint's URL.
    pub client_assertion: CompactJws,
    /// Must match the assertion's `iss`/`sub` when sent.
    pub client_id: Option<String>,
}

/// One entry of a CDS error list (CDS "Error Codes").
#[derive(Debug, Serialize, ToSchema)]
pub struct CdsError {
    /// The CDS error code, e.g. `urn:au-cds:error:cds-all:Authorisation/InvalidArrangement`.
    pub code: String,
    /// The code's title.
    pub title: String,
    /// What was wrong with this request.
    pub detail: String,
}

/// The refusal of an arrangement revocation: the house body with the CDS error list beside it,
/// for clients that read either.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArrangementErrorBody {
    /// The CDS error code.
    pub error: String,
    /// A human-readable description.
    pub error_description: String,
    /// The same error as the CDS list of one.
    pub errors: Vec<CdsError>,
}

/// The only Admin Metadata Update action (CDS Admin APIs, version 1).
#[derive(Debug, Serialize, ToSchema)]
pub enum MetadataAction {
    /// Fetch the CDR Register's metadata again.
    #[serde(rename = "REFRESH")]
    Refresh,
}

/// The `data` of an Admin Metadata Update request.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetadataUpdateData {
    /// `REFRESH`.
    pub action: MetadataAction,
}

/// An Admin Metadata Update request from the CDR Register: `{"data":{"action":"REFRESH"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetadataUpdateRequest {
    /// The requested action.
    pub data: MetadataUpdateData,
}

/// OpenID Provider metadata as the CDS require it (§3).
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryDocument {
    /// The issuer.
    pub issuer: String,
    /// `{issuer}/register`.
    pub registration_endpoint: String,
    /// `{issuer}/token`.
    pub token_endpoint: String,
    /// `{issuer}/jwks`.
    pub jwks_uri: String,
    /// Supported scopes.
    pub scopes_supported: Vec<String>,
    /// Supported response types.
    pub response_types_supported: Vec<String>,
    /// Supported response modes.
    pub response_modes_supported: Vec<String>,
    /// Supported grant types.
    pub grant_types_supported: Vec<String>,
    /// `private_key_jwt`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Algorithms.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Algorithms.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Algorithms.
    pub request_object_signing_alg_values_supported: Vec<String>,
    /// Algorithms.
    pub authorization_signing_alg_values_supported: Vec<String>,
    /// `pairwise`.
    pub subject_types_supported: Vec<String>,
    /// Claims.
    pub claims_supported: Vec<String>,
    /// `true`.
    pub tls_client_certificate_bound_access_tokens: bool,
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate issued under the CDR certificate authority.".into(),
                ),
                extensions: None,
            },
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from the token endpoint, bound to the client certificate.",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "register",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A self-signed JWT of the CDR Register (CDS client authentication): iss and \
                         sub cdr-register, aud the endpoint's URL or the issuer, exp, a jti used \
                         once, signed with a key of the Register's JWKS. No client certificate.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's source: paths and schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CDR Data Holder Dynamic Client Registration",
        description = "Discovery, Dynamic Client Registration (RFC 7591/7592 as profiled by the \
            Consumer Data Standards), the token endpoint, CDR arrangement revocation and the \
            CDR Register's Admin Metadata Update endpoint of a Data Holder.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::discovery,
        super::register::post,
        super::register::get,
        super::register::put,
        super::register::delete,
        super::token::post,
        super::arrangement::revoke,
        super::admin::metadata_update,
    ),
    components(schemas(
        ErrorBody,
        CompactJws,
        RegistrationResponse,
        TokenRequestForm,
        TokenResponse,
        DiscoveryDocument,
        RevocationForm,
        ArrangementErrorBody,
        MetadataUpdateRequest
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "discovery", description = "OpenID Provider metadata"),
        (name = "registration", description = "Dynamic Client Registration"),
        (name = "token", description = "Client credentials token endpoint"),
        (name = "arrangement", description = "CDR arrangement revocation"),
        (name = "admin", description = "CDR Register Admin APIs, called by the Register"),
    ),
)]
pub struct ApiDoc;

/// The document for an issuer (paths are relative to it).
#[must_use]
pub fn document(issuer: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.servers = Some(vec![Server::new(issuer)]);
    doc
}

/// `GET /openapi.json`.
pub async fn serve(State(state): State<AppState>) -> Response {
    match document(&state.config.issuer_str()).to_json() {
        Ok(json) => {
            let mut res = json.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "serialising the OpenAPI document");
            super::ApiError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_protocol_path() {
        let doc = serde_json::to_value(document("https://dh.example")).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for p in [
            "/.well-known/openid-configuration",
            "/register",
            "/register/{client_id}",
            "/token",
            super::super::routes::ARRANGEMENT_REVOKE,
            super::super::routes::ADMIN_REGISTER_METADATA,
        ] {
            assert!(doc["paths"][p].is_object(), "{p} missing");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["mtls"]["type"],
            "mutualTLS"
        );
    }
}
