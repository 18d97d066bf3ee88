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

use app::ssr::SESSION_ADMIN;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use dcr_audit::{Action, Actor};
use dcr_store::{NewAuditEvent, RegistrationStatus, ReleaseOutcome, Store, StoreError};
use serde::Deserialize;
use tower_sessions::Session;

use crate::portal::PortalCtx;

/// Shortest and longest revocation or release reason, in characters.
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 4..=500;

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The registration was active and is now revoked.
    Revoked,
    /// It was already revoked; nothing changed.
    AlreadyRevoked,
    /// It is deleted or removed: there is nothing to revoke.
    NotActive,
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
            Some(_) => RevokeOutcome::NotActive,
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

/// The signed-in administrator and the checked reason of a reason form posted from a
/// registration's `page`; otherwise where to send the browser: to sign in again, or back to the
/// page naming the wrong field (`error=<prefix><field>`).
async fn reason_form<'f>(
    session: &Session,
    page: &str,
    form: &'f ReasonForm,
    prefix: &str,
) -> Result<(String, &'f str), Response> {
    let Ok(Some(admin)) = session.get::<String>(SESSION_ADMIN).await else {
        return Err(Redirect::to("/login?error=expired").into_response());
    };
    match form.checked() {
        Ok(reason) => Ok((admin, reason)),
        Err(field) => Err(back_to(page, &format!("error={prefix}{field}"))),
    }
}

/// `POST /registrations/{client_id}/revoke`.
pub async fn revoke_form(
    Extension(ctx): Extension<PortalCtx>,
    session: Session,
    Path(client_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let page = app::dto::registration_href(&client_id);
    let back = |q: &str| back_to(&page, q);
    let (admin, reason) = match reason_form(&session, &page, &form, "").await {
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
        Ok(RevokeOutcome::NotActive) => back("error=state"),
        Ok(RevokeOutcome::NotFound) => Redirect::to(&page).into_response(),
        Err(e) => {
            tracing::error!(error = %e, %client_id, "revocation: store failure");
            back("error=unavailable")
        }
    }
}

/// `POST /registrations/{client_id}/release`.
pub async fn release_form(
    Extension(ctx): Extension<PortalCtx>,
    session: Session,
    Path(client_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let page = app::dto::registration_href(&client_id);
    let back = |q: &str| back_to(&page, q);
    let (admin, reason) = match reason_form(&session, &page, &form, "release_").await {
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
