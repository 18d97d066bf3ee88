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
    use crate::ssr::current_principal;
    Ok(current_principal().await.map(|p| Me {
        username: p.username,
        role: p.role,
    }))
}

/// The path of [`sign_in_options`], open before sign-in.
pub const SIGN_IN_OPTIONS_PATH: &str = "/api/sign_in_options";

/// How people sign in here (for the sign-in page, before anyone is signed in).
#[server(prefix = "/api", endpoint = "sign_in_options")]
pub async fn sign_in_options() -> Result<crate::dto::SignInOptions, AdminError> {
    Ok(use_context::<crate::dto::SignInOptions>().unwrap_or_default())
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
        more: result.more,
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
    let provisioning = provisioning_detail(&st.store, &reg.client_id)
        .await
        .map_err(unavailable("reading a registration's provisioning"))?;
    let can_act = crate::ssr::current_principal()
        .await
        .is_some_and(|p| p.role >= crate::dto::Role::Operator);
    // Counted for those who may revoke them (indexed lookups).
    let (brand_active, legal_entity_active) = if can_act {
        let brand = st
            .store
            .active_in_group(dcr_store::Group::Brand(&reg.org_id))
            .await
            .map_err(unavailable("counting a brand's registrations"))?;
        let entity = match reg.legal_entity_id.as_deref() {
            Some(id) => Some(
                st.store
                    .active_in_group(dcr_store::Group::LegalEntity(id))
                    .await
                    .map_err(unavailable("counting a legal entity's registrations"))?,
            ),
            None => None,
        };
        (brand, entity)
    } else {
        (0, None)
    };
    Ok(RegistrationDetail {
        can_act,
        brand_active,
        legal_entity_active,
        provisioning,
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

/// A registration's client at the authorization server, if it has a provisioning record.
#[cfg(feature = "ssr")]
async fn provisioning_detail(
    store: &dcr_store::Store,
    client_id: &str,
) -> Result<Option<crate::dto::ProvisioningDetail>, dcr_store::StoreError> {
    use crate::dto::{ProvisioningDetail, WaitingChange};
    let Some(record) = store.provisioning(client_id).await? else {
        return Ok(None);
    };
    let waiting = store
        .outbox_of(client_id)
        .await?
        .into_iter()
        .map(|o| WaitingChange {
            operation: o.operation.as_str().to_string(),
            attempts: o.attempts,
            next_attempt_at: o.next_attempt_at,
            created_at: o.created_at,
        })
        .collect();
    let drift = store.drift_of(client_id).await?.map(crate::ssr::drift_item);
    Ok(Some(ProvisioningDetail {
        state: record.state.as_str().to_string(),
        downstream_client_id: record.downstream_client_id,
        last_error: record.last_error,
        attempts: record.attempts,
        updated_at: record.updated_at,
        waiting,
        drift,
    }))
}

/// How the registrations stand at the bank's authorization server: counts by state, those
/// needing attention, and the last reconciliation with what it found.
#[server(prefix = "/api", endpoint = "provisioning")]
pub async fn provisioning_overview() -> Result<crate::dto::ProvisioningOverview, AdminError> {
    use crate::dto::{
        AttentionItem, ProvisioningOverview, ReconciliationRun, ATTENTION_SHOWN, DRIFT_SHOWN,
    };
    use crate::ssr::{drift_item, require_admin, state, unavailable};
    require_admin().await?;
    let st = state()?;
    let (attention, counts) = st
        .store
        .provisioning_attention(ATTENTION_SHOWN)
        .await
        .map_err(unavailable("reading the provisioning state"))?;
    let last_run = st
        .store
        .last_reconciliation()
        .await
        .map_err(unavailable("reading the last reconciliation"))?;
    let drift = st
        .store
        .list_drift(1, DRIFT_SHOWN)
        .await
        .map_err(unavailable("reading the drift"))?;
    Ok(ProvisioningOverview {
        enabled: st.provisioning_enabled,
        provisioned: counts.provisioned,
        pending: counts.pending,
        failed: counts.failed,
        attention: attention
            .into_iter()
            .map(|p| AttentionItem {
                client_id: p.client_id,
                state: p.state.as_str().to_string(),
                last_error: p.last_error,
                attempts: p.attempts,
                updated_at: p.updated_at,
            })
            .collect(),
        last_run: last_run.map(|r| ReconciliationRun {
            finished_at: r.finished_at,
            actor: r.actor,
            repair: r.repair,
            checked: r.checked,
            drifted: r.drifted,
            repaired: r.repaired,
        }),
        drift: drift.items.into_iter().map(drift_item).collect(),
        drift_total: drift.total,
    })
}

/// Every account of the portal (administrators only).
#[server(prefix = "/api", endpoint = "accounts")]
pub async fn list_accounts() -> Result<Vec<crate::dto::Account>, AdminError> {
    use crate::dto::{Account, Role};
    use crate::ssr::{require_role, state, unavailable};
    let me = require_role(Role::Administrator, "list the accounts").await?;
    let st = state()?;
    let now = st.clock.now();
    let admins = st
        .store
        .list_admins()
        .await
        .map_err(unavailable("listing accounts"))?;
    let mut out = Vec::with_capacity(admins.len());
    for a in admins {
        let sessions = st
            .store
            .sessions_of(&a.username, now)
            .await
            .map_err(unavailable("listing sessions"))?
            .len();
        out.push(Account {
            is_me: a.username == me.username,
            role: Role::parse(&a.role).unwrap_or(Role::Viewer),
            source: if a.sso_subject.is_some() {
                "single sign-on".into()
            } else {
                "local".into()
            },
            second_factors: [
                (a.totp_secret.is_some(), "authenticator app"),
                (a.passkeys > 0, "passkey"),
            ]
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, name)| name.to_string())
            .collect(),
            username: a.username,
            disabled_at: a.disabled_at,
            must_change_password: a.must_change_password,
            created_at: a.created_at,
            last_sign_in_at: a.last_sign_in_at,
            last_sign_in_address: a.last_sign_in_address,
            sessions,
        });
    }
    Ok(out)
}

/// The signed-in person's sessions, the most recently used first.
#[server(prefix = "/api", endpoint = "my-sessions")]
pub async fn my_sessions() -> Result<Vec<crate::dto::SessionItem>, AdminError> {
    use crate::dto::{Role, SessionItem};
    use crate::ssr::{require_role, state, unavailable};
    let me = require_role(Role::Viewer, "list sessions").await?;
    let st = state()?;
    let sessions = st
        .store
        .sessions_of(&me.username, st.clock.now())
        .await
        .map_err(unavailable("listing sessions"))?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionItem {
            current: s.key == me.session_key,
            key: s.key,
            signed_in_at: s.signed_in_at,
            last_seen_at: s.last_seen_at,
            address: s.address,
            user_agent: s.user_agent,
        })
        .collect())
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
    from: String,
    to: String,
    page: u32,
) -> Result<AuditPage, AdminError> {
    use crate::dto::{clean_text, AUDIT_PER_PAGE};
    use crate::ssr::{audit_item, day_start, require_admin, state, unavailable};
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
            from: day_start(&from),
            // The last day given is included: up to the start of the next.
            until: day_start(&to).map(|t| t + 86_400),
            page,
            per_page: AUDIT_PER_PAGE,
        })
        .await
        .map_err(unavailable("listing audit events"))?;
    Ok(AuditPage {
        items: result.items.into_iter().map(audit_item).collect(),
        total: result.total,
        more: result.more,
        page,
        per_page: AUDIT_PER_PAGE,
    })
}

/// Whether the audit hash chain verifies. With `verify`, the chain is walked now (or the result
/// of a walk finished seconds ago is reused); without, the last result this server computed is
/// returned, or `None` if it has not verified the chain since it started.
#[server(prefix = "/api", endpoint = "audit-chain")]
pub async fn audit_chain(verify: bool) -> Result<Option<ChainReport>, AdminError> {
    use crate::ssr::{require_admin, state, ChainCheck};
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
        .map_err(|e| {
            tracing::error!(error = %e, "portal: the audit chain could not be verified");
            AdminError::Unavailable
        })
}

/// The signed-in person's second factor: enrolled or not, an enrolment under way (its secret,
/// kept in the session until confirmed), and recovery codes just made (shown this once: they
/// are taken out of the session as they are read).
#[server(prefix = "/api", endpoint = "my-second-factor")]
pub async fn my_second_factor() -> Result<crate::dto::SecondFactorState, AdminError> {
    use crate::dto::{Role, SecondFactorState};
    use crate::ssr::{
        require_role, state, unavailable, SecondFactorRequired, SESSION_ENROL_SECRET,
        SESSION_RECOVERY_CODES,
    };
    let me = require_role(Role::Viewer, "see the second factor").await?;
    let st = state()?;
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|_| AdminError::Unavailable)?;
    let account = st
        .store
        .find_admin(&me.username)
        .await
        .map_err(unavailable("reading the account"))?
        .ok_or(AdminError::Unauthenticated)?;
    let left = if account.totp_secret.is_some() {
        st.store
            .unused_recovery_codes(&me.username)
            .await
            .map_err(unavailable("reading recovery codes"))?
            .len()
    } else {
        0
    };
    let pending = if account.totp_secret.is_none() {
        session
            .get::<String>(SESSION_ENROL_SECRET)
            .await
            .ok()
            .flatten()
            .and_then(|s| dcr_core::totp::TotpSecret::from_base32(&s).ok())
            .map(|s| (s.otpauth_uri("DCR Admin", &me.username), s.to_base32()))
    } else {
        None
    };
    let new_recovery_codes = session
        .remove::<Vec<String>>(SESSION_RECOVERY_CODES)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let required = leptos::prelude::use_context::<SecondFactorRequired>().is_some_and(|r| r.0);
    let passkeys_offered =
        leptos::prelude::use_context::<crate::ssr::PasskeysOffered>().is_some_and(|o| o.0);
    let passkeys = st
        .store
        .passkeys(&me.username)
        .await
        .map_err(unavailable("reading passkeys"))?
        .into_iter()
        .map(|p| crate::dto::PasskeyItem {
            id: p.admin_passkey_id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        })
        .collect();
    Ok(SecondFactorState {
        enrolled_at: account.totp_enrolled_at,
        recovery_codes_left: left,
        pending,
        new_recovery_codes,
        required,
        passkeys,
        passkeys_offered,
    })
}

/// The overview: registrations by status, the daily charts of the last `days` days (one of
/// [`crate::dto::OVERVIEW_RANGES`]), the Register sync's health and the latest administrator
/// actions. Every figure comes from counts the store keeps up to date (docs/portal.md
/// "Overview"), so the work does not grow with the number of registrations or events.
#[server(prefix = "/api", endpoint = "overview")]
pub async fn overview(days: u32) -> Result<crate::dto::Overview, AdminError> {
    use crate::ssr::{overview_of, require_admin, state};
    require_admin().await?;
    let st = state()?;
    let zone = use_context::<crate::dto::DisplayZone>().unwrap_or_default();
    overview_of(&st, &zone, days).await
}

/// The webhooks page: the configured webhooks, the events waiting and the dead letters.
#[server(prefix = "/api", endpoint = "webhooks")]
pub async fn webhooks_overview() -> Result<crate::dto::WebhooksOverview, AdminError> {
    use crate::dto::{DeadLetter, WebhooksOverview, DEAD_LETTERS_SHOWN};
    use crate::ssr::{require_admin, state, unavailable};
    require_admin().await?;
    let st = state()?;
    let (webhooks, queue, dead) = tokio::try_join!(
        st.store.webhooks(),
        st.store.webhook_queue(),
        st.store.webhook_dead_letters(DEAD_LETTERS_SHOWN),
    )
    .map_err(unavailable("reading the webhooks"))?;
    let can_act = crate::ssr::current_principal()
        .await
        .is_some_and(|p| p.role >= crate::dto::Role::Operator);
    Ok(WebhooksOverview {
        can_act,
        webhooks,
        waiting: queue.waiting,
        oldest: queue.oldest,
        dead: queue.dead,
        dead_letters: dead
            .into_iter()
            .map(|e| DeadLetter {
                event_id: e.event_id,
                webhook: e.webhook,
                client_id: e.client_id,
                event: e.event,
                occurred_at: e.occurred_at,
                attempts: e.attempts,
                last_error: e.last_error,
                dead_at: e.dead_at.unwrap_or(e.next_attempt_at),
            })
            .collect(),
    })
}
