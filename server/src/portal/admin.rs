//! Changes an administrator makes to registrations from the portal: revocation and release.
//! Plain form handlers behind the portal's session gate and CSRF check; they answer with a
//! redirect back to the registration's page (303), so they work without the WASM.
//!
//! # Revocation
//! The registration moves from `active` to `revoked` in one transaction with its audit event
//! (actor `admin:<username>`, action `registration.revoke`, the reason). The DCR API loads the
//! registration on every token and management request and refuses anything not active, so the
//! revocation takes effect at once, on every instance. Revoking a revoked registration changes
//! nothing. A revoked registration keeps its software_id reserved (see `docs/portal.md`).
//!
//! # Release
//! For a recipient that lost its client_id (CDS standards-maintenance#581), or to let a revoked
//! software product register again: an active or revoked registration becomes `released`, in one
//! transaction with its audit event (actor `admin:<username>`, action `registration.release`,
//! the status before, the reason). Its tokens are refused at once, like a revoked one's, and its
//! software_id is free: `POST /register` gives the product a new client_id. Releasing a
//! registration that holds no software_id (released, deleted, removed) changes nothing and says
//! so. The runbook is `docs/runbook-lost-client-id.md`.

use app::dto::Role;
use app::ssr::Principal;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Html;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use dcr_audit::{Action, Actor};
use dcr_store::{NewAuditEvent, RegistrationStatus, ReleaseOutcome, Store, StoreError};
use serde::Deserialize;

use crate::portal::PortalCtx;

/// Shortest and longest revocation or release reason, in characters (spaces around it aside).
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = app::dto::REASON_CHARS;

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The registration was active and is now revoked.
    Revoked,
    /// It was already revoked; nothing changed.
    AlreadyRevoked,
    /// It is released, deleted or removed (the status it has): only an active registration,
    /// including one the Register reports inactive, can be revoked.
    NotActive(RegistrationStatus),
    /// No such registration.
    NotFound,
}

/// Revokes a registration on behalf of `admin`, recording `reason`.
///
/// # Errors
/// Store failures.
pub async fn revoke(
    store: &Store,
    client_id: &str,
    admin: &str,
    reason: &str,
    now: i64,
) -> Result<RevokeOutcome, StoreError> {
    let Some(reg) = store.get_registration(client_id).await? else {
        return Ok(RevokeOutcome::NotFound);
    };
    let event = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(admin).into(),
        action: Action::RegistrationRevoke.into(),
        client_id: Some(reg.client_id.clone()),
        software_id: Some(reg.software_id.clone()),
        reason: Some(reason.to_string()),
        before_state: Some(serde_json::json!({ "status": "active" }).to_string()),
        after_state: Some(serde_json::json!({ "status": "revoked" }).to_string()),
    };
    let changed = store
        .set_registration_status(
            client_id,
            &[RegistrationStatus::Active],
            RegistrationStatus::Revoked,
            Some(reason),
            now,
            &event,
        )
        .await?;
    if changed {
        return Ok(RevokeOutcome::Revoked);
    }
    // Not active when the update ran: read the status it has now.
    Ok(
        match store.get_registration(client_id).await?.map(|r| r.status) {
            Some(RegistrationStatus::Revoked) => RevokeOutcome::AlreadyRevoked,
            Some(status) => RevokeOutcome::NotActive(status),
            None => RevokeOutcome::NotFound,
        },
    )
}

/// The revoke and release forms: a reason and a confirmation tick.
#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

impl ReasonForm {
    /// The trimmed reason, or which field is wrong (`reason`, `confirm`).
    fn checked(&self) -> Result<&str, &'static str> {
        let reason = self.reason.trim();
        if !REASON_CHARS.contains(&reason.chars().count()) {
            return Err("reason");
        }
        if self.confirm != "yes" {
            return Err("confirm");
        }
        Ok(reason)
    }
}

/// Back to a registration's page with a query (`done=...` or `error=...`).
fn back_to(page: &str, query: &str) -> Response {
    Redirect::to(&format!("{page}?{query}")).into_response()
}

/// The signed-in person of a form post, if their role is at least `least`; otherwise where to
/// send the browser: to sign in again, or a 403 page (the attempt, `what`, audited).
pub async fn allowed(
    ctx: &PortalCtx,
    principal: Option<Extension<Principal>>,
    least: Role,
    what: &str,
) -> Result<Principal, Response> {
    let Some(Extension(p)) = principal else {
        return Err(Redirect::to("/login?error=expired").into_response());
    };
    if p.role >= least {
        return Ok(p);
    }
    app::ssr::audit_forbidden(&ctx.state.store, ctx.state.clock.now(), &p, what).await;
    Err((
        StatusCode::FORBIDDEN,
        Html(format!(
            "<!DOCTYPE html><html lang=\"en\"><title>Not allowed · DCR Admin</title>\
             <link rel=\"stylesheet\" href=\"/pkg/dcr-portal.css\">\
             <main class=\"login\"><div class=\"card login-card\"><h1>Not allowed</h1>\
             <p>Your role ({}) does not allow this, so nothing was changed. The attempt is in \
             the audit log. Ask an administrator if you need it.</p>\
             <p><a class=\"btn btn-ghost\" href=\"/\">Back to registrations</a></p></div></main></html>",
            p.role.label()
        )),
    )
        .into_response())
}

/// The signed-in operator and the checked reason of a reason form posted from a
/// registration's `page`; otherwise where to send the browser: to sign in again, a 403 page,
/// or back to the page naming the wrong field (`error=<prefix><field>`).
async fn reason_form<'f>(
    ctx: &PortalCtx,
    principal: Option<Extension<Principal>>,
    page: &str,
    form: &'f ReasonForm,
    prefix: &str,
    what: &str,
) -> Result<(String, &'f str), Response> {
    let p = allowed(ctx, principal, Role::Operator, what).await?;
    match form.checked() {
        Ok(reason) => Ok((p.username, reason)),
        // The typed reason goes back with the error, so that the form shows it again (without
        // the WASM the browser forgets it with the page); the page then focuses the field to
        // fix, which scrolls to it. (No fragment: a browser skips `autofocus` on a page whose
        // URL targets an element.)
        Err(field) => {
            let typed: String = form.reason.chars().take(*REASON_CHARS.end()).collect();
            Err(back_to(
                page,
                &format!("error={prefix}{field}&reason={}", app::dto::encode(&typed)),
            ))
        }
    }
}

/// `POST /registrations/{client_id}/revoke`.
pub async fn revoke_form(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(client_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let page = app::dto::registration_href(&client_id);
    let back = |q: &str| back_to(&page, q);
    let what = format!("revoke {client_id}");
    let (admin, reason) = match reason_form(&ctx, principal, &page, &form, "", &what).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let now = ctx.state.clock.now();
    match revoke(&ctx.state.store, &client_id, &admin, reason, now).await {
        Ok(RevokeOutcome::Revoked) => {
            tracing::info!(target: "security", %client_id, admin = %admin, "registration revoked by an administrator");
            back("done=revoked")
        }
        Ok(RevokeOutcome::AlreadyRevoked) => back("done=already_revoked"),
        Ok(RevokeOutcome::NotActive(status)) => {
            back(&format!("error=state&status={}", status.as_str()))
        }
        Ok(RevokeOutcome::NotFound) => Redirect::to(&page).into_response(),
        Err(e) => {
            tracing::error!(error = %e, %client_id, "revocation: store failure");
            back("error=unavailable")
        }
    }
}

/// `POST /registrations/{client_id}/revoke-brand`: revokes every active registration of this
/// registration's brand.
pub async fn revoke_brand_form(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(client_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    revoke_group_form(ctx, principal, client_id, form, GroupKind::Brand).await
}

/// `POST /registrations/{client_id}/revoke-legal-entity`: revokes every active registration of
/// this registration's legal entity.
pub async fn revoke_legal_entity_form(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(client_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    revoke_group_form(ctx, principal, client_id, form, GroupKind::LegalEntity).await
}

#[derive(Clone, Copy)]
enum GroupKind {
    Brand,
    LegalEntity,
}

/// One confirmed step with one reason: every active registration of the group revoked (each
/// audited as a revocation and queued for the downstream), and one `registration.group_revoke`
/// event naming the group and the registrations, all in one transaction.
async fn revoke_group_form(
    ctx: PortalCtx,
    principal: Option<Extension<Principal>>,
    client_id: String,
    form: ReasonForm,
    kind: GroupKind,
) -> Response {
    let page = app::dto::registration_href(&client_id);
    let back = |q: &str| back_to(&page, q);
    let (prefix, noun) = match kind {
        GroupKind::Brand => ("brand_", "brand"),
        GroupKind::LegalEntity => ("legal_entity_", "legal entity"),
    };
    let what = format!("revoke every registration of the {noun} of {client_id}");
    let (admin, reason) = match reason_form(&ctx, principal, &page, &form, prefix, &what).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let store = &ctx.state.store;
    let reg = match store.get_registration(&client_id).await {
        Ok(Some(reg)) => reg,
        Ok(None) => return Redirect::to(&page).into_response(),
        Err(e) => {
            tracing::error!(error = %e, %client_id, "group revocation: store failure");
            return back(&format!("error={prefix}unavailable"));
        }
    };
    let (group, id, name) = match kind {
        GroupKind::Brand => (
            dcr_store::Group::Brand(&reg.org_id),
            reg.org_id.as_str(),
            Some(reg.org_name.as_str()),
        ),
        GroupKind::LegalEntity => match reg.legal_entity_id.as_deref() {
            Some(id) => (
                dcr_store::Group::LegalEntity(id),
                id,
                reg.legal_entity_name.as_deref(),
            ),
            None => return back(&format!("error={prefix}none")),
        },
    };
    let now = ctx.state.clock.now();
    let group_id = uuid::Uuid::new_v4().to_string();
    let scope = match kind {
        GroupKind::Brand => "brand",
        GroupKind::LegalEntity => "legal_entity",
    };
    let each = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&admin).into(),
        action: Action::RegistrationRevoke.into(),
        reason: Some(reason.to_string()),
        before_state: Some(serde_json::json!({ "status": "active" }).to_string()),
        after_state: Some(
            serde_json::json!({ "status": "revoked", "group": group_id }).to_string(),
        ),
        ..Default::default()
    };
    let summary = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&admin).into(),
        action: Action::RegistrationGroupRevoke.into(),
        reason: Some(reason.to_string()),
        after_state: Some(
            serde_json::json!({ "group": group_id, scope: id, "name": name }).to_string(),
        ),
        ..Default::default()
    };
    match store.revoke_group(group, reason, &each, &summary).await {
        Ok(dcr_store::GroupRevocation::Revoked(ids)) if ids.is_empty() => {
            back(&format!("done={prefix}none"))
        }
        Ok(dcr_store::GroupRevocation::Revoked(ids)) => {
            tracing::info!(target: "security", group = %id, kind = noun, count = ids.len(), admin = %admin, "registrations revoked as a group by an administrator");
            back(&format!("done={prefix}revoked&count={}", ids.len()))
        }
        Ok(dcr_store::GroupRevocation::TooMany) => back(&format!("error={prefix}too_many")),
        Err(e) => {
            tracing::error!(error = %e, %client_id, "group revocation: store failure");
            back(&format!("error={prefix}unavailable"))
        }
    }
}

/// `POST /registrations/{client_id}/release`.
pub async fn release_form(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(client_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let page = app::dto::registration_href(&client_id);
    let back = |q: &str| back_to(&page, q);
    let what = format!("release {client_id}");
    let (admin, reason) = match reason_form(&ctx, principal, &page, &form, "release_", &what).await
    {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let now = ctx.state.clock.now();
    let actor = Actor::Admin(&admin).to_string();
    match ctx
        .state
        .store
        .release_registration(&client_id, &actor, reason, now)
        .await
    {
        Ok(ReleaseOutcome::Released { from, software_id }) => {
            tracing::info!(target: "security", %client_id, %software_id, from = from.as_str(), admin = %admin, "registration released by an administrator");
            back("done=released")
        }
        Ok(ReleaseOutcome::Unchanged(RegistrationStatus::Released)) => {
            back("done=already_released")
        }
        Ok(ReleaseOutcome::Unchanged(
            RegistrationStatus::Deleted | RegistrationStatus::Removed,
        )) => back("done=already_free"),
        // Active or revoked, yet not released: it changed under the update; let them retry.
        Ok(ReleaseOutcome::Unchanged(RegistrationStatus::Active | RegistrationStatus::Revoked)) => {
            back("error=release_state")
        }
        Ok(ReleaseOutcome::NotFound) => Redirect::to(&page).into_response(),
        Err(e) => {
            tracing::error!(error = %e, %client_id, "release: store failure");
            back("error=release_unavailable")
        }
    }
}

/// `POST /registrations/{client_id}/provisioning/retry`: makes the registration's waiting
/// changes due now (the deliverer, on whichever instance holds its lease, picks them up within
/// a second), audited with the administrator's name when anything waited.
pub async fn retry_provisioning_form(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(client_id): Path<String>,
) -> Response {
    let page = app::dto::registration_href(&client_id);
    let what = format!("deliver the provisioning changes of {client_id}");
    let admin = match allowed(&ctx, principal, Role::Operator, &what).await {
        Ok(p) => p.username,
        Err(response) => return response,
    };
    if !app::dto::could_be_client_id(&client_id) {
        return Redirect::to(&page).into_response();
    }
    let audit = NewAuditEvent {
        occurred_at: ctx.state.clock.now(),
        actor: Actor::Admin(&admin).into(),
        action: Action::ProvisioningRetry.into(),
        client_id: Some(client_id.clone()),
        ..Default::default()
    };
    match ctx.state.store.retry_outbox(&client_id, &audit).await {
        Ok(0) => back_to(&page, "error=retry_nothing"),
        Ok(n) => {
            tracing::info!(%client_id, admin = %admin, changes = n, "provisioning: delivery asked for by an administrator");
            back_to(&page, "done=retried")
        }
        Err(e) => {
            tracing::error!(error = %e, %client_id, "provisioning retry: store failure");
            back_to(&page, "error=retry_unavailable")
        }
    }
}

/// `POST /webhooks/{event_id}/retry` (operator and up): puts a dead letter back in line, due
/// now, audited with the operator's name in the same transaction.
pub async fn retry_webhook_form(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(event_id): Path<String>,
) -> Response {
    const PAGE: &str = "/webhooks";
    let what = format!("send webhook event {event_id} again");
    let admin = match allowed(&ctx, principal, Role::Operator, &what).await {
        Ok(p) => p.username,
        Err(response) => return response,
    };
    let Ok(event_id) = event_id.parse::<i64>() else {
        return back_to(PAGE, "error=retry_nothing");
    };
    let now = ctx.state.clock.now();
    let audit = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&admin).into(),
        action: Action::WebhookRetry.into(),
        after_state: Some(serde_json::json!({ "event_id": event_id }).to_string()),
        ..Default::default()
    };
    match ctx
        .state
        .store
        .retry_webhook_event(event_id, now, &audit)
        .await
    {
        Ok(Some(event)) => {
            tracing::info!(event_id, webhook = %event.webhook, admin = %admin, "webhooks: a dead letter sent again by an operator");
            back_to(PAGE, "done=retried")
        }
        Ok(None) => back_to(PAGE, "error=retry_nothing"),
        Err(e) => {
            tracing::error!(error = %e, event_id, "webhook retry: store failure");
            back_to(PAGE, "error=retry_unavailable")
        }
    }
}
