//! Server functions of the portal (`/api/...`). Each one that touches data starts with
//! `require_admin()`, and answers with an [`AdminError`] whose text is safe to show: causes
//! are logged on the server, never sent.
//!
//! They only read. Changes (revoke, release, password) are plain form posts to the server's own
//! handlers, which work without the WASM and sit behind the same CSRF check.

use leptos::prelude::*;

use crate::dto::{AuditPage, ChainReport, KeysReport, Me, RegistrationDetail, RegistrationPage};
use crate::error::AdminError;

/// The signed-in administrator, if any.
#[server(prefix = "/api", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Me>, AdminError> {
    use crate::ssr::current_admin;
    Ok(current_admin().await.map(|username| Me { username }))
}

/// One page of registrations: `q` searches names and ids, `status` and `sort` are the URL
/// forms of [`crate::dto::Status`] and [`crate::dto::SortKey`] (empty or unknown: none and the
/// default), `page` is 1-based.
#[server(prefix = "/api", endpoint = "registrations")]
pub async fn list_registrations(
    q: String,
    status: String,
    sort: String,
    page: u32,
) -> Result<RegistrationPage, AdminError> {
    use crate::dto::{clean_text, SortKey, Status, PER_PAGE};
    use crate::ssr::{filter_of, require_admin, state, summary, unavailable};
    require_admin().await?;
    let st = state()?;
    let q = clean_text(&q);
    let sort = match SortKey::parse(&sort).unwrap_or_default() {
        SortKey::CreatedDesc => dcr_store::Sort::CreatedDesc,
        SortKey::CreatedAsc => dcr_store::Sort::CreatedAsc,
        SortKey::UpdatedDesc => dcr_store::Sort::UpdatedDesc,
        SortKey::NameAsc => dcr_store::Sort::NameAsc,
        SortKey::NameDesc => dcr_store::Sort::NameDesc,
    };
    let page = page.clamp(1, 1_000_000);
    let result = st
        .store
        .search_registrations(&dcr_store::AdminListQuery {
            search: (!q.is_empty()).then_some(q),
            status: Status::parse(&status).map(filter_of),
            sort,
            page,
            per_page: PER_PAGE,
        })
        .await
        .map_err(unavailable("listing registrations"))?;
    Ok(RegistrationPage {
        items: result.items.iter().map(summary).collect(),
        total: result.total,
        page,
        per_page: PER_PAGE,
    })
}

/// Everything about one registration, with its recent history.
#[server(prefix = "/api", endpoint = "registration")]
pub async fn get_registration(client_id: String) -> Result<RegistrationDetail, AdminError> {
    use crate::ssr::{audit_item, fields, require_admin, state, summary, unavailable};
    require_admin().await?;
    if !crate::dto::could_be_client_id(&client_id) {
        return Err(AdminError::NotFound);
    }
    let st = state()?;
    let reg = st
        .store
        .get_registration(&client_id)
        .await
        .map_err(unavailable("reading a registration"))?
        .ok_or(AdminError::NotFound)?;
    let metadata = reg.metadata.object();
    let redirect_uris = metadata
        .get("redirect_uris")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let (ssa_header, ssa_claims, ssa_problem) = match (
        dcr_core::jose::decode_header(&reg.ssa),
        dcr_core::jose::decode_claims_unverified(&reg.ssa),
    ) {
        (Ok(h), Ok(c)) => {
            let header = serde_json::to_value(&h)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            (fields(&header), fields(&c), None)
        }
        _ => (
            Vec::new(),
            Vec::new(),
            Some("The stored software statement could not be decoded.".to_string()),
        ),
    };
    let history = st
        .store
        .list_audit(&dcr_store::AuditQuery {
            client_id: Some(reg.client_id.clone()),
            page: 1,
            per_page: 20,
            ..Default::default()
        })
        .await
        .map_err(unavailable("reading a registration's history"))?;
    Ok(RegistrationDetail {
        summary: summary(&reg),
        status_reason: reg.status_reason,
        jwks_uri: reg.jwks_uri,
        scope: reg.scope,
        redirect_uris,
        client_id_issued_at: reg.client_id_issued_at,
        register_sp_status: reg.register_sp_status,
        register_dr_status: reg.register_dr_status,
        register_synced_at: reg.register_synced_at,
        metadata: fields(metadata),
        ssa_header,
        ssa_claims,
        ssa_problem,
        history_total: history.total,
        history: history.items.into_iter().map(audit_item).collect(),
    })
}

/// Fetches the registration's `jwks_uri` now (short timeout, no redirects, size cap) and lists
/// the keys found there.
#[server(prefix = "/api", endpoint = "registration-keys")]
pub async fn registration_keys(client_id: String) -> Result<KeysReport, AdminError> {
    use crate::ssr::{keys_in, require_admin, state, unavailable, KeyFetchError, KeyFetcher};
    require_admin().await?;
    if !crate::dto::could_be_client_id(&client_id) {
        return Err(AdminError::NotFound);
    }
    let st = state()?;
    let reg = st
        .store
        .get_registration(&client_id)
        .await
        .map_err(unavailable("reading a registration"))?
        .ok_or(AdminError::NotFound)?;
    let fetcher = use_context::<KeyFetcher>().ok_or_else(|| {
        tracing::error!("key fetcher missing from the server function context");
        AdminError::Unavailable
    })?;
    let invalid = |message: String| AdminError::Invalid { message };
    let doc = (fetcher.0)(reg.jwks_uri.clone()).await.map_err(|e| {
        tracing::info!(client_id = %reg.client_id, error = ?e, "portal: recipient JWKS fetch failed");
        invalid(match e {
            KeyFetchError::NotHttps => "The jwks_uri is not an https address, so it was not fetched.".into(),
            KeyFetchError::Unreachable => "The recipient's jwks_uri could not be reached (no answer within a few seconds, or a TLS failure).".into(),
            KeyFetchError::Status(code) => format!("The recipient's jwks_uri answered with HTTP status {code}."),
            KeyFetchError::TooLarge => "The document at the recipient's jwks_uri is larger than the server accepts.".into(),
        })
    })?;
    let keys = keys_in(&doc).map_err(invalid)?;
    Ok(KeysReport {
        jwks_uri: reg.jwks_uri,
        keys,
    })
}

/// One page of audit events, newest first, filtered by registration, actor and action (exact
/// matches; empty for any).
#[server(prefix = "/api", endpoint = "audit")]
pub async fn list_audit(
    client_id: String,
    actor: String,
    action: String,
    page: u32,
) -> Result<AuditPage, AdminError> {
    use crate::dto::{clean_text, AUDIT_PER_PAGE};
    use crate::ssr::{audit_item, require_admin, state, unavailable};
    require_admin().await?;
    let st = state()?;
    let opt = |s: &str| {
        let s = clean_text(s);
        (!s.is_empty()).then_some(s)
    };
    let page = page.clamp(1, 1_000_000);
    let result = st
        .store
        .list_audit(&dcr_store::AuditQuery {
            client_id: opt(&client_id),
            actor: opt(&actor),
            action: opt(&action),
            page,
            per_page: AUDIT_PER_PAGE,
        })
        .await
        .map_err(unavailable("listing audit events"))?;
    Ok(AuditPage {
        items: result.items.into_iter().map(audit_item).collect(),
        total: result.total,
        page,
        per_page: AUDIT_PER_PAGE,
    })
}

/// Whether the audit hash chain verifies. With `verify`, the chain is walked now (or the result
/// of a walk finished seconds ago is reused); without, the last result this server computed is
/// returned, or `None` if it has not verified the chain since it started.
#[server(prefix = "/api", endpoint = "audit-chain")]
pub async fn audit_chain(verify: bool) -> Result<Option<ChainReport>, AdminError> {
    use crate::ssr::{require_admin, state, unavailable, ChainCheck};
    require_admin().await?;
    let st = state()?;
    let check = use_context::<ChainCheck>().ok_or_else(|| {
        tracing::error!("audit chain check missing from the server function context");
        AdminError::Unavailable
    })?;
    if !verify {
        return Ok(check.last());
    }
    check
        .verify(&st.store, &st.clock)
        .await
        .map(Some)
        .map_err(unavailable("verifying the audit chain"))
}
