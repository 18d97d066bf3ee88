//! `POST /register` (RFC 7591) and `GET|PUT|DELETE /register/{client_id}` (RFC 7592), as the
//! Consumer Data Standards profile them (docs/dcr-rules.md §2, §4 to §9).
//!
//! The POST pipeline follows docs/dcr-rules.md §6 in order: mTLS, content type, compact JWS, SSA verified
//! with the Register's keys, request verified with the keys at the SSA's `jwks_uri`, `jti` not
//! replayed, `sector_identifier_uri`, metadata, duplicate `software_id` (guaranteed by the
//! store), then the registration and its audit event are written in one transaction.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dcr_audit::{Action, Actor};
use dcr_core::registration::{
    check_sector_identifier, check_update_allowed, parse_request, registration_response,
    validate_metadata, verify_request, ClientMetadata, RegistrationError, RegistrationErrorCode,
};
use dcr_core::ssa::{verify_ssa, VerifiedSsa};
use dcr_store::{
    Conflict, Metadata, NewAuditEvent, Registration, RegistrationStatus, StoreError, UsedJti,
};

use super::auth::{authorize_management, limited, AuthError, Caller, RateLimit};
use super::{header_kid, ApiError};
use crate::jwks::{JwksError, Verified};
use crate::provisioning::ProvisionError;
use crate::sector::Source;
use crate::state::AppState;

/// Why a registration call is refused. Each variant is one row of the table in
/// `From<RegisterError> for ApiError`, which turns it into the JSON error body at the edge.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The caller: certificate, bearer token, holder of key, scope, client, rate limit.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body is not `application/jwt`: 415.
    #[error("the request body is not application/jwt")]
    NotJwt,
    /// A rule of the standard: 400 with its code and description (docs/dcr-rules.md §6).
    #[error("{}", .0.description)]
    Invalid(#[from] RegistrationError),
    /// The CDR Register's keys could not be loaded: 503 (the cause is logged where it happened).
    #[error("the CDR Register's keys could not be loaded")]
    RegisterKeys,
    /// The store failed: 503.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client could not be created at the downstream authorization server (sync mode):
    /// 503 while it cannot be reached, 400 when it refuses the metadata, else 500.
    #[error(transparent)]
    Provisioning(#[from] ProvisionError),
    /// Our own fault: 500 (the cause is logged where it happened).
    #[error("internal error")]
    Internal,
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Auth(e) => e.into(),
            RegisterError::NotJwt => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "The request body must be a signed JWT with Content-Type application/jwt.",
            ),
            RegisterError::Invalid(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                e.code.as_str(),
                e.description.into_owned(),
            ),
            RegisterError::RegisterKeys => ApiError::unavailable(
                "Could not load the SSA signing keys from the CDR Register; try again shortly.",
            ),
            RegisterError::Store(e) => e.into(),
            RegisterError::Provisioning(ProvisionError::Downstream(e)) if e.is_retryable() => {
                let mut err = ApiError::unavailable(
                    "The Data Holder's authorization server is unavailable; try again shortly.",
                );
                err.retry_after = Some(e.retry_after().unwrap_or(5).clamp(1, 300));
                err
            }
            RegisterError::Provisioning(ProvisionError::Downstream(e)) => {
                match e.metadata_refusal() {
                    Some((code, description)) => ApiError::new(
                        StatusCode::BAD_REQUEST,
                        code,
                        format!(
                            "The Data Holder's authorization server refused the client metadata: {description}"
                        ),
                    ),
                    None => ApiError::internal(),
                }
            }
            RegisterError::Provisioning(_) | RegisterError::Internal => ApiError::internal(),
        }
    }
}

impl IntoResponse for RegisterError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

fn invalid_metadata(description: impl Into<std::borrow::Cow<'static, str>>) -> RegisterError {
    RegistrationError::invalid_client_metadata(description).into()
}

/// Requires `Content-Type: application/jwt` (parameters allowed), else 415.
fn require_jwt_content_type(headers: &HeaderMap) -> Result<(), RegisterError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/jwt"));
    if ok {
        Ok(())
    } else {
        Err(RegisterError::NotJwt)
    }
}

/// A fully validated registration request, ready to store.
struct Validated {
    meta: ClientMetadata,
    ssa: VerifiedSsa,
    jti: UsedJti,
}

/// Runs docs/dcr-rules.md §6 rows 2 to 23 on a request body.
async fn validate(state: &AppState, body: &Bytes) -> Result<Validated, RegisterError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| invalid_metadata("The registration request is not a UTF-8 JWT."))?;
    if text.trim().is_empty() {
        return Err(invalid_metadata(
            "ERR-DCR-002: Registration request is empty",
        ));
    }
    let req = parse_request(text)?;
    let now = state.clock.now();
    let policy = &state.registration_policy;

    // The SSA, with the Register's keys; one refetch on an unknown kid.
    let ssa = state
        .jwks
        .verify_refetching(
            state.config.register_jwks_uri.as_str(),
            || header_kid(&req.software_statement),
            |keys| verify_ssa(&req.software_statement, keys, now, &policy.ssa),
            RegistrationError::is_unknown_kid,
        )
        .await
        .map_err(|e| match e {
            Verified::Keys(e) => register_unavailable(e),
            Verified::Invalid(e) => {
                tracing::info!(reason = %e.description, "software statement refused");
                dcr_core::ssa::public_error(&e).into()
            }
        })?;
    tracing::Span::current().record("software_id", ssa.software_id.as_str());

    // The request, with the recipient's keys from the SSA's jwks_uri.
    let verified = state
        .jwks
        .verify_refetching(
            &ssa.jwks_uri,
            || req.header.kid.clone().unwrap_or_default(),
            |keys| verify_request(&req, &ssa, keys, now, policy),
            RegistrationError::is_unknown_kid,
        )
        .await
        .map_err(|e| match e {
            Verified::Keys(e) => adr_jwks_error(&ssa.jwks_uri, &e),
            Verified::Invalid(e) => e.into(),
        })?;

    // jti replay (row 10): the store consumes the jti atomically with the registration write, so
    // a replay is refused across every instance; it surfaces as a conflict on `used_jti_pkey`.
    // Rows 10 and 13 to 23 share status and code, so checking at write time changes nothing a
    // client can act on, and saves a database round trip per registration.
    let jti = UsedJti {
        key: format!(
            "reg:{}:{}",
            ssa.software_id.to_ascii_lowercase(),
            verified.jti()
        ),
        expires_at: verified.exp().saturating_add(state.config.clock_skew_secs),
    };

    if let Some(uri) = &ssa.sector_identifier_uri {
        // Row 11 before the metadata rules of rows 13 to 22.
        let uris = dcr_core::registration::requested_redirect_uris(&verified, &ssa)?;
        check_sector_document(state, uri, &uris).await?;
    }
    let meta = validate_metadata(&verified, &ssa, policy)?;
    Ok(Validated { meta, ssa, jti })
}

/// Row 11: the sector identifier document at `uri` lists every redirect URI. A kept copy that
/// does not is fetched again before the request is refused: the recipient may just have added
/// the URI (see [`crate::sector`]).
async fn check_sector_document(
    state: &AppState,
    uri: &str,
    redirect_uris: &[String],
) -> Result<(), RegisterError> {
    let now = state.clock.now();
    let unreadable = |e: crate::outbound::FetchError| {
        tracing::info!(target: "security", error = %e, "sector_identifier_uri could not be fetched");
        invalid_metadata("ERR-DCR-007: Invalid sector_identifier_uri")
    };
    let (doc, source) = state
        .sector_documents
        .get(uri, now)
        .await
        .map_err(unreadable)?;
    match check_sector_identifier(&doc, redirect_uris) {
        Err(_) if source == Source::Kept => {
            let doc = state
                .sector_documents
                .fetch(uri, now)
                .await
                .map_err(unreadable)?;
            Ok(check_sector_identifier(&doc, redirect_uris)?)
        }
        checked => Ok(checked?),
    }
}

/// A PUT must carry a current SSA: one without the claim is 400 `invalid_client_metadata` (spec
/// §7 "PUT semantics", WSO2 OB-1167), where a POST's missing or unreadable SSA, and a PUT's
/// unreadable one, stay `invalid_software_statement` (§6 row 3).
fn put_without_ssa(e: RegisterError, body: &Bytes) -> RegisterError {
    if !matches!(&e, RegisterError::Invalid(r) if r.code == RegistrationErrorCode::InvalidSoftwareStatement)
    {
        return e;
    }
    let lacks_ssa = std::str::from_utf8(body)
        .ok()
        .and_then(|t| dcr_core::jose::decode_claims_unverified(t.trim()).ok())
        .is_some_and(|claims| claims.get("software_statement").is_none_or(|v| v.is_null()));
    if lacks_ssa {
        invalid_metadata("The 'software_statement' claim is missing.")
    } else {
        e
    }
}

fn register_unavailable(e: JwksError) -> RegisterError {
    tracing::error!(error = %e, "the CDR Register's JWKS could not be loaded");
    RegisterError::RegisterKeys
}

fn adr_jwks_error(uri: &str, e: &JwksError) -> RegisterError {
    tracing::info!(target: "security", uri, error = %e, "recipient JWKS unavailable");
    invalid_metadata(format!(
        "ERR-GEN-021: Could not load JWKS from Data Recipient endpoint: {}",
        dcr_core::jose::printable(uri)
    ))
}

fn registration_row(
    client_id: &str,
    issued_at: i64,
    v: &Validated,
    now: i64,
) -> Result<Registration, RegisterError> {
    let metadata = Metadata::new(&v.meta).map_err(|e| {
        tracing::error!(error = %e, "serialising metadata");
        RegisterError::Internal
    })?;
    Ok(Registration {
        client_id: client_id.to_string(),
        software_id: v.meta.software_id.clone(),
        org_id: v.meta.org_id.clone(),
        org_name: v.meta.org_name.clone(),
        client_name: v.meta.client_name.clone(),
        legal_entity_id: v.meta.legal_entity_id.clone(),
        legal_entity_name: v.meta.legal_entity_name.clone(),
        jwks_uri: v.meta.jwks_uri.clone(),
        scope: v.meta.scope.clone(),
        status: RegistrationStatus::Active,
        status_reason: None,
        register_sp_status: None,
        register_dr_status: None,
        register_synced_at: None,
        ssa: v.ssa.jwt.clone(),
        metadata,
        client_id_issued_at: issued_at,
        created_at: now,
        updated_at: now,
    })
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The `redirect_uris` of stored metadata, read without building the whole object.
#[derive(serde::Deserialize)]
struct RedirectUris {
    redirect_uris: Option<serde_json::Value>,
}

/// A short JSON summary of a registration for the audit trail (no SSA, no keys).
fn audit_state(r: &Registration) -> String {
    serde_json::json!({
        "status": r.status.as_str(),
        "software_id": r.software_id,
        "client_name": r.client_name,
        "org_id": r.org_id,
        "org_name": r.org_name,
        "jwks_uri": r.jwks_uri,
        "scope": r.scope,
        "redirect_uris": r.metadata.to::<RedirectUris>().ok().and_then(|m| m.redirect_uris),
    })
    .to_string()
}

/// `POST /register`.
#[utoipa::path(
    post,
    path = "/register",
    operation_id = "register",
    tag = "registration",
    request_body(
        content = super::openapi::CompactJws,
        content_type = "application/jwt",
        description = "The registration request: a JWT signed with a key from the SSA's jwks_uri"
    ),
    responses(
        (status = 201, description = "Registered", body = super::openapi::RegistrationResponse),
        (status = 400, description = "Invalid request, metadata or software statement", body = super::openapi::ErrorBody),
        (status = 403, description = "No client certificate", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 415, description = "Content type is not application/jwt", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (per certificate or per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store or the CDR Register is unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("mtls" = []))
)]
#[tracing::instrument(name = "dcr.register.post", skip_all, fields(software_id = tracing::field::Empty))]
pub async fn post(
    State(state): State<AppState>,
    _: RateLimit<limited::Register>,
    caller: Caller,
    headers: HeaderMap,
    super::CappedBody(body): super::CappedBody,
) -> Result<Response, ApiError> {
    let result = create(&state, &caller, &headers, &body)
        .await
        .map_err(ApiError::from);
    match &result {
        Ok(_) => crate::metrics::registration("created", ""),
        Err(e) => crate::metrics::registration("rejected", &e.error),
    }
    let error = result.as_ref().err().map(|e| e.error.as_ref());
    state.stats.registration(state.clock.now(), error);
    result
}

async fn create(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, RegisterError> {
    caller.cert.as_ref().ok_or(AuthError::CertificateRequired)?;
    require_jwt_content_type(headers)?;
    let v = validate(state, body).await.inspect_err(log_invalid)?;
    let now = state.clock.now();
    // Time-ordered (version 7, with 74 random bits): a new registration's id sorts after the
    // others, so the indexes keyed by it (the registration's, the audit log's, the list copy's)
    // take it on their last page instead of a random one, a page of WAL less each.
    let mut client_id = uuid::Uuid::now_v7().to_string();
    let mut row = registration_row(&client_id, now, &v, now)?;
    // Sync provisioning: the client exists at the downstream before the registration is
    // stored; a downstream that assigns its own client_id gives the registration its id.
    let mut created = None;
    if let Some(p) = state.provisioning.as_ref().filter(|p| p.is_sync()) {
        // A duplicate is refused before the downstream is asked (the store still decides).
        if state
            .store
            .find_registration_by_software_id(&row.software_id)
            .await?
            .is_some()
        {
            let e = RegistrationError::duplicate_registration();
            log_rejection(&e);
            return Err(e.into());
        }
        let client = p.create_now(&row).await.inspect_err(|e| {
            tracing::warn!(error = %e, "registration not provisioned at the authorization server");
        })?;
        client_id.clone_from(&client.client_id);
        row.client_id.clone_from(&client.client_id);
        created = Some(client);
    }
    let provisioning = state
        .provisioning
        .as_ref()
        .map(|p| p.new_provisioning(&client_id, &row.software_id, created.as_ref(), now));
    let audit = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Recipient(&row.software_id).into(),
        action: Action::RegistrationCreate.into(),
        client_id: Some(client_id.clone()),
        software_id: Some(row.software_id.clone()),
        reason: None,
        before_state: None,
        after_state: Some(audit_state(&row)),
    };
    let stored = state
        .store
        .create_registration_with(
            &row,
            Some(&v.jti),
            &audit,
            provisioning.as_ref(),
            !state.config.webhooks.is_empty(),
        )
        .await;
    if let (Err(_), Some(p), Some(client)) = (&stored, &state.provisioning, &created) {
        // Nothing half-made stays downstream.
        p.undo_create(client).await;
    }
    match stored {
        Ok(()) => {
            if let Some(p) = state.provisioning.as_ref().filter(|p| !p.is_sync()) {
                p.wake.notify_one();
            }
        }
        Err(StoreError::Conflict(Conflict::SoftwareIdTaken)) => {
            let e = RegistrationError::duplicate_registration();
            log_rejection(&e);
            return Err(e.into());
        }
        Err(StoreError::Conflict(Conflict::JtiUsed)) => {
            return Err(RegistrationError::replayed_jti().into());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(client_id = %client_id, "registration created");
    Ok(json_response(
        StatusCode::CREATED,
        &registration_response(&client_id, now, &v.meta),
    ))
}

fn log_rejection(e: &RegistrationError) {
    tracing::info!(target: "security", error = e.code.as_str(), description = %e.description, "registration request rejected");
}

/// Logs a refusal by a rule of the standard (the other refusals are logged where they happen).
fn log_invalid(e: &RegisterError) {
    if let RegisterError::Invalid(e) = e {
        log_rejection(e);
    }
}

/// Loads the registration a valid token points at; a missing or no longer active one is 401.
async fn active_registration(
    state: &AppState,
    client_id: &str,
) -> Result<(Registration, ClientMetadata), RegisterError> {
    let reg = state
        .store
        .get_registration(client_id)
        .await?
        .ok_or(AuthError::UnknownClient)?;
    if reg.status != RegistrationStatus::Active {
        return Err(AuthError::UnknownClient.into());
    }
    let meta: ClientMetadata = reg.metadata.to().map_err(|e| {
        tracing::error!(error = %e, client_id, "stored metadata unreadable");
        RegisterError::Internal
    })?;
    Ok((reg, meta))
}

/// `GET /register/{client_id}`.
#[utoipa::path(
    get,
    path = "/register/{client_id}",
    operation_id = "getRegistration",
    tag = "registration",
    params(("client_id" = String, Path, description = "The client_id issued at registration")),
    responses(
        (status = 200, description = "The registration", body = super::openapi::RegistrationResponse),
        (status = 401, description = "Missing, invalid or unbound access token, or unknown client", body = super::openapi::ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "No client certificate, or the token lacks the cdr:registration scope", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (per certificate or per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store or the CDR Register is unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("mtls" = [], "bearer" = []))
)]
#[tracing::instrument(name = "dcr.register.get", skip_all, fields(client_id = tracing::field::Empty))]
pub async fn get(
    State(state): State<AppState>,
    _: RateLimit<limited::Manage>,
    caller: Caller,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, RegisterError> {
    authorize_management(&state, &caller, &headers, &client_id)?;
    let (reg, meta) = active_registration(&state, &client_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &registration_response(&reg.client_id, reg.client_id_issued_at, &meta),
    ))
}

/// `PUT /register/{client_id}`: re-validates like POST, keeps `client_id` and
/// `client_id_issued_at`, refuses a different `software_id`.
#[utoipa::path(
    put,
    path = "/register/{client_id}",
    operation_id = "updateRegistration",
    tag = "registration",
    params(("client_id" = String, Path, description = "The client_id issued at registration")),
    request_body(
        content = super::openapi::CompactJws,
        content_type = "application/jwt",
        description = "The updated registration request, signed like POST's"
    ),
    responses(
        (status = 200, description = "Updated", body = super::openapi::RegistrationResponse),
        (status = 400, description = "Invalid request, metadata or software statement", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing, invalid or unbound access token, or unknown client", body = super::openapi::ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "No client certificate, or the token lacks the cdr:registration scope", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 415, description = "Content type is not application/jwt", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (per certificate or per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store or the CDR Register is unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("mtls" = [], "bearer" = []))
)]
#[tracing::instrument(name = "dcr.register.put", skip_all, fields(client_id = tracing::field::Empty, software_id = tracing::field::Empty))]
pub async fn put(
    State(state): State<AppState>,
    _: RateLimit<limited::Manage>,
    caller: Caller,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    super::CappedBody(body): super::CappedBody,
) -> Result<Response, RegisterError> {
    authorize_management(&state, &caller, &headers, &client_id)?;
    let (existing, old_meta) = active_registration(&state, &client_id).await?;
    require_jwt_content_type(&headers)?;
    let v = validate(&state, &body)
        .await
        .map_err(|e| put_without_ssa(e, &body))
        .inspect_err(log_invalid)?;
    check_update_allowed(&old_meta, &v.meta).inspect_err(log_rejection)?;
    let now = state.clock.now();
    let mut row = registration_row(&client_id, existing.client_id_issued_at, &v, now)?;
    row.created_at = existing.created_at;
    let audit = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Recipient(&row.software_id).into(),
        action: Action::RegistrationUpdate.into(),
        client_id: Some(client_id.clone()),
        software_id: Some(row.software_id.clone()),
        reason: None,
        before_state: Some(audit_state(&existing)),
        after_state: Some(audit_state(&row)),
    };
    match state
        .store
        .update_registration(&row, Some(&v.jti), &audit)
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(AuthError::UnknownClient.into()),
        Err(StoreError::Conflict(Conflict::JtiUsed)) => {
            return Err(RegistrationError::replayed_jti().into());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!("registration updated");
    Ok(json_response(
        StatusCode::OK,
        &registration_response(&client_id, existing.client_id_issued_at, &v.meta),
    ))
}

/// `DELETE /register/{client_id}`: the registration is marked deleted (kept for the audit
/// trail), its tokens stop working at once, and the software product may register again.
#[utoipa::path(
    delete,
    path = "/register/{client_id}",
    operation_id = "deleteRegistration",
    tag = "registration",
    params(("client_id" = String, Path, description = "The client_id issued at registration")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing, invalid or unbound access token, or unknown client", body = super::openapi::ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "No client certificate, or the token lacks the cdr:registration scope", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (per certificate or per address)", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store or the CDR Register is unavailable", body = super::openapi::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("mtls" = [], "bearer" = []))
)]
#[tracing::instrument(name = "dcr.register.delete", skip_all, fields(client_id = tracing::field::Empty))]
pub async fn delete(
    State(state): State<AppState>,
    _: RateLimit<limited::Manage>,
    caller: Caller,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, RegisterError> {
    authorize_management(&state, &caller, &headers, &client_id)?;
    let (existing, _) = active_registration(&state, &client_id).await?;
    let now = state.clock.now();
    let mut after = existing.clone();
    after.status = RegistrationStatus::Deleted;
    let audit = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Recipient(&existing.software_id).into(),
        action: Action::RegistrationDelete.into(),
        client_id: Some(client_id.clone()),
        software_id: Some(existing.software_id.clone()),
        reason: Some("deleted by the recipient".into()),
        before_state: Some(audit_state(&existing)),
        after_state: Some(audit_state(&after)),
    };
    let changed = state
        .store
        .set_registration_status(
            &client_id,
            &[RegistrationStatus::Active],
            RegistrationStatus::Deleted,
            Some("deleted by the recipient"),
            now,
            &audit,
        )
        .await?;
    if !changed {
        return Err(AuthError::UnknownClient.into());
    }
    tracing::info!("registration deleted");
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
