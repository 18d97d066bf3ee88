//! The people who sign in to the portal: administrators manage the accounts (add with a first
//! password, change role, disable and enable, end someone's sessions), and everyone manages
//! their own sessions. Plain form posts behind the portal's CSRF check, each answered with a
//! redirect back to its page and a message; each change is audited in the transaction that
//! makes it.
//!
//! Nobody can remove the last enabled administrator (the store refuses it in the transaction),
//! nor change their own role or disable themselves (an administrator who wants to step down asks
//! another).

use app::dto::Role;
use app::ssr::Principal;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use dcr_audit::{Action, Actor};
use dcr_store::{AdminChange, EndSessions, NewAuditEvent};
use serde::Deserialize;
use tower_sessions::Session;

use crate::portal::admin::allowed;
use crate::portal::auth::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::portal::PortalCtx;

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Whether `name` can be a username: 1 to 64 of lower-case letters, digits, `.`, `_`, `-`, `@`.
#[must_use]
pub fn valid_username(name: &str) -> bool {
    (1..=MAX_USERNAME_CHARS).contains(&name.chars().count())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        })
}

fn to_people(query: &str) -> Response {
    Redirect::to(&format!("/admins?{query}")).into_response()
}

fn event(actor: &str, action: Action, now: i64, after: serde_json::Value) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(actor).into(),
        action: action.into(),
        after_state: Some(after.to_string()),
        ..Default::default()
    }
}

/// The add-an-account form.
#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /admins/add`: a new account with a role and a first password, which its owner must
/// replace at the first sign-in.
pub async fn add(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Form(form): Form<AddForm>,
) -> Response {
    let me = match allowed(&ctx, principal, Role::Administrator, "add an account").await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let username = form.username.trim().to_lowercase();
    if !valid_username(&username) {
        return to_people("error=username");
    }
    let Some(role) = Role::parse(&form.role) else {
        return to_people("error=role");
    };
    if form.password.chars().count() < MIN_PASSWORD_CHARS
        || form.password.len() > MAX_PASSWORD_BYTES
        || form.password == username
    {
        return to_people("error=password");
    }
    let hash = match ctx.password_checks.hash(form.password).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "add account: hashing failed");
            return to_people("error=unavailable");
        }
        Err(_) => return to_people("error=busy"),
    };
    let now = ctx.state.clock.now();
    let audit = event(
        &me.username,
        Action::AdminCreate,
        now,
        serde_json::json!({ "username": username, "role": role.as_str() }),
    );
    match ctx
        .state
        .store
        .create_admin(
            &uuid::Uuid::new_v4().to_string(),
            &username,
            &hash,
            role.as_str(),
            &audit,
        )
        .await
    {
        Ok(true) => {
            tracing::info!(target: "security", admin = %me.username, %username, role = role.as_str(), "portal account added");
            to_people(&format!("done=added&who={}", app::dto::encode(&username)))
        }
        Ok(false) => to_people("error=taken"),
        Err(e) => {
            tracing::error!(error = %e, "add account: store failure");
            to_people("error=unavailable")
        }
    }
}

/// The change-role form.
#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /admins/{username}/role`.
pub async fn set_role(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(username): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let what = format!("change the role of {username}");
    let me = match allowed(&ctx, principal, Role::Administrator, &what).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let Some(role) = Role::parse(&form.role) else {
        return to_people("error=role");
    };
    if username == me.username {
        return to_people("error=own_role");
    }
    let now = ctx.state.clock.now();
    let audit = event(
        &me.username,
        Action::AdminRoleChange,
        now,
        serde_json::json!({ "username": username, "role": role.as_str() }),
    );
    let outcome = ctx
        .state
        .store
        .set_admin_role(&username, role.as_str(), &audit)
        .await;
    changed(outcome, "role", &username)
}

/// `POST /admins/{username}/disable` and `/enable`.
pub async fn set_disabled(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path((username, to)): Path<(String, String)>,
) -> Response {
    let disable = match to.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return to_people("error=unknown"),
    };
    let what = format!("{to} the account {username}");
    let me = match allowed(&ctx, principal, Role::Administrator, &what).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    if username == me.username {
        return to_people("error=self");
    }
    let now = ctx.state.clock.now();
    let action = if disable {
        Action::AdminDisable
    } else {
        Action::AdminEnable
    };
    let audit = event(
        &me.username,
        action,
        now,
        serde_json::json!({ "username": username }),
    );
    let outcome = ctx
        .state
        .store
        .set_admin_disabled(&username, disable, &audit)
        .await;
    changed(
        outcome,
        if disable { "disabled" } else { "enabled" },
        &username,
    )
}

/// The reset-second-factor form: `confirm` must be ticked.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /admins/{username}/second-factor/reset`: removes someone's second factors (the
/// authenticator app, recovery codes and passkeys: they lost their device), confirmed on the form; they enrol again at their next
/// sign-in (where a second factor is required, they can do nothing else until then).
pub async fn reset_second_factor(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(username): Path<String>,
    Form(form): Form<ResetForm>,
) -> Response {
    let what = format!("reset the second factor of {username}");
    let me = match allowed(&ctx, principal, Role::Administrator, &what).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    if username == me.username {
        return to_people("error=self");
    }
    if form.confirm != "yes" {
        return to_people("error=unconfirmed");
    }
    let now = ctx.state.clock.now();
    let audit = event(
        &me.username,
        Action::AdminSecondFactorReset,
        now,
        serde_json::json!({ "username": username }),
    );
    match ctx
        .state
        .store
        .reset_second_factors(&username, &audit)
        .await
    {
        Ok(done) => {
            tracing::info!(target: "security", username = %username, done, "second factor reset by an administrator");
            to_people(&format!(
                "done=second_factor_reset&who={}",
                app::dto::encode(&username)
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "second factor reset: store failure");
            to_people("error=unavailable")
        }
    }
}

fn changed(outcome: Result<AdminChange, dcr_store::StoreError>, done: &str, who: &str) -> Response {
    match outcome {
        Ok(AdminChange::Done | AdminChange::Unchanged) => {
            tracing::info!(target: "security", username = %who, change = done, "portal account changed");
            to_people(&format!("done={done}&who={}", app::dto::encode(who)))
        }
        Ok(AdminChange::NotFound) => to_people("error=unknown"),
        Ok(AdminChange::LastAdministrator) => to_people("error=last"),
        Ok(AdminChange::FromProvider) => to_people("error=from_provider"),
        Err(e) => {
            tracing::error!(error = %e, "account change: store failure");
            to_people("error=unavailable")
        }
    }
}

/// `POST /admins/{username}/sessions/end`: ends every session of someone else.
pub async fn end_sessions_of(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    Path(username): Path<String>,
) -> Response {
    let what = format!("end the sessions of {username}");
    let me = match allowed(&ctx, principal, Role::Administrator, &what).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    if username == me.username {
        return to_people("error=self");
    }
    match end(&ctx, &me.username, &username, EndSessions::AllBut(None)).await {
        Ok(n) => to_people(&format!(
            "done=sessions_ended&who={}&n={n}",
            app::dto::encode(&username)
        )),
        Err(()) => to_people("error=unavailable"),
    }
}

/// Ends sessions of `whose`, auditing it (when any ended) as done by `by`.
async fn end(ctx: &PortalCtx, by: &str, whose: &str, which: EndSessions<'_>) -> Result<u64, ()> {
    match ctx.state.store.end_sessions_of(whose, which).await {
        Ok(0) => Ok(0),
        Ok(n) => {
            tracing::info!(target: "security", by, username = %whose, ended = n, "portal sessions ended");
            let audit = event(
                by,
                Action::AdminSessionsEnded,
                ctx.state.clock.now(),
                serde_json::json!({ "username": whose, "sessions": n }),
            );
            if let Err(e) = ctx.state.store.append_audit(&audit).await {
                tracing::error!(error = %e, "ending sessions: the audit event could not be written");
            }
            Ok(n)
        }
        Err(e) => {
            tracing::error!(error = %e, "ending sessions: store failure");
            Err(())
        }
    }
}

/// The end-one-session form of the account page.
#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    session: String,
}

/// `POST /account/sessions/end`: ends one of my sessions (this one: signs out).
pub async fn end_my_session(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    session: Session,
    Form(form): Form<EndForm>,
) -> Response {
    let me = match allowed(&ctx, principal, Role::Viewer, "end a session").await {
        Ok(p) => p,
        Err(response) => return response,
    };
    if form.session.is_empty() || form.session.len() > 128 {
        return Redirect::to("/account?error=session").into_response();
    }
    match end(
        &ctx,
        &me.username,
        &me.username,
        EndSessions::One(&form.session),
    )
    .await
    {
        Ok(_) if form.session == me.session_key => {
            let _ = session.flush().await;
            crate::portal::auth::clear_marker(
                &ctx.config,
                Redirect::to("/login?signed_out=1").into_response(),
            )
        }
        Ok(0) => Redirect::to("/account?error=session").into_response(),
        Ok(_) => Redirect::to("/account?done=session_ended#sessions").into_response(),
        Err(()) => Redirect::to("/account?error=unavailable").into_response(),
    }
}

/// The end-sessions form of the account page.
#[derive(Deserialize)]
pub struct EndAllForm {
    /// `yes`: this session too (sign out everywhere).
    #[serde(default)]
    everywhere: String,
}

/// `POST /account/sessions/end-others`: ends every session of mine but this one, or, with
/// `everywhere=yes`, every one (signing this browser out too).
pub async fn end_my_other_sessions(
    Extension(ctx): Extension<PortalCtx>,
    principal: Option<Extension<Principal>>,
    session: Session,
    Form(form): Form<EndAllForm>,
) -> Response {
    let me = match allowed(&ctx, principal, Role::Viewer, "end sessions").await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let everywhere = form.everywhere == "yes";
    let which = EndSessions::AllBut((!everywhere).then_some(me.session_key.as_str()));
    match end(&ctx, &me.username, &me.username, which).await {
        Ok(_) if everywhere => {
            let _ = session.flush().await;
            crate::portal::auth::clear_marker(
                &ctx.config,
                Redirect::to("/login?signed_out=1").into_response(),
            )
        }
        Ok(n) => {
            Redirect::to(&format!("/account?done=others_ended&n={n}#sessions")).into_response()
        }
        Err(()) => Redirect::to("/account?error=unavailable").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_username;

    #[test]
    fn usernames_are_short_lower_case_words() {
        for ok in ["alice", "a", "ops.team-1", "j_smith@bank"] {
            assert!(valid_username(ok), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in ["", "Alice", "a b", "al/ice", "caf\u{e9}", long.as_str()] {
            assert!(!valid_username(bad), "{bad:?}");
        }
    }
}
