//! The portal's second factor (docs/portal.md, "Second factor"): a TOTP authenticator app
//! (RFC 6238) with one-time recovery codes, and passkeys ([`crate::portal::passkey`]). Plain
//! form handlers: the second step of sign-in
//! (`/auth/second-factor`), and enrolment and removal on the account page.
//!
//! # Security
//! - After a right password, an account with a second factor gets a session that is *not*
//!   signed in: it only names the account, for five minutes ([`PENDING_SECS`]). The second step
//!   signs it in with a new session id.
//! - Wrong codes are counted per account (whatever the address) before the code is checked
//!   ([`throttle::reserve_code`]), and audited. A code's time step is recorded in the same
//!   conditional update that accepts it, so a code works once, even for requests racing each
//!   other; a recovery code is marked used the same way.
//! - Enrolment and removal need the current password (counted like a sign-in) and a code
//!   from the app. Secrets and recovery codes are never logged.

use app::ssr::{
    SESSION_ADMIN, SESSION_ENROL_SECRET, SESSION_PENDING_ADMIN, SESSION_PENDING_AT,
    SESSION_PENDING_NEXT, SESSION_RECOVERY_CODES,
};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use dcr_audit::{Action, Actor};
use dcr_core::totp::{self, RecoveryCode, TotpSecret};
use dcr_store::{AdminUser, NewAuditEvent, SecondFactorSecret};
use serde::Deserialize;
use tower_sessions::Session;

use crate::portal::auth::{self, audit, client_address, safe_next, MAX_PASSWORD_BYTES};
use crate::portal::passkey;
use crate::portal::throttle::{self, Refused};
use crate::portal::PortalCtx;
use crate::tls::ConnectionInfo;

/// How long after the password the second step may come.
pub const PENDING_SECS: i64 = 5 * 60;

/// What a second factor given for an account turned out to be.
pub(crate) enum Code {
    /// The app's code of this step (now recorded as used).
    Totp,
    /// One of the recovery codes (now used).
    Recovery,
    /// An assertion of one of its passkeys (its use recorded).
    Passkey,
    /// Neither, or already used.
    Wrong,
    /// The store failed.
    Unavailable,
}

/// A second factor offered in a form.
pub(crate) enum Offered<'a> {
    /// A code from the app, or a recovery code.
    Code(&'a str),
    /// A passkey's assertion (the browser's credential as JSON), answering the challenge kept
    /// in `session`.
    Passkey {
        credential: &'a str,
        session: &'a Session,
    },
}

impl<'a> Offered<'a> {
    /// The passkey when the form carries one, else the code.
    pub(crate) fn from_form(code: &'a str, passkey: &'a str, session: &'a Session) -> Self {
        if passkey.is_empty() {
            Self::Code(code)
        } else {
            Self::Passkey {
                credential: passkey,
                session,
            }
        }
    }

    /// The method, as audited.
    fn method(&self) -> &'static str {
        match self {
            Self::Code(code) if totp::is_recovery_code(code) => "recovery_code",
            Self::Code(_) => "totp",
            Self::Passkey { .. } => "passkey",
        }
    }
}

/// Checks what was offered for `user` at `now` and, when it is right, uses it up.
async fn check_and_use(ctx: &PortalCtx, user: &AdminUser, offered: &Offered<'_>, now: i64) -> Code {
    let code = match offered {
        Offered::Code(code) => *code,
        Offered::Passkey {
            credential,
            session,
        } => return passkey::check(ctx, session, user, credential, now).await,
    };
    let store = &ctx.state.store;
    let Some(secret) = user
        .totp_secret
        .as_ref()
        .and_then(|s| TotpSecret::from_base32(s.expose()).ok())
    else {
        return Code::Wrong;
    };
    if code.len() > 64 {
        return Code::Wrong;
    }
    if totp::is_recovery_code(code) {
        let rows = match store.unused_recovery_codes(&user.username).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "second factor: store failure");
                return Code::Unavailable;
            }
        };
        let digests: Vec<String> = rows.iter().map(|r| r.code_digest.clone()).collect();
        let Some(found) = totp::match_recovery_code(code, &digests) else {
            return Code::Wrong;
        };
        let Some(row) = rows.iter().find(|r| r.code_digest == found) else {
            return Code::Wrong;
        };
        return match store
            .use_recovery_code(&row.admin_recovery_code_id, now)
            .await
        {
            Ok(true) => Code::Recovery,
            Ok(false) => Code::Wrong,
            Err(e) => {
                tracing::error!(error = %e, "second factor: store failure");
                Code::Unavailable
            }
        };
    }
    let Some(step) = secret.check(code, now, user.totp_last_step) else {
        return Code::Wrong;
    };
    match store.use_totp_step(&user.username, step).await {
        Ok(true) => Code::Totp,
        Ok(false) => Code::Wrong,
        Err(e) => {
            tracing::error!(error = %e, "second factor: store failure");
            Code::Unavailable
        }
    }
}

/// Audits a wrong second factor (`method`: `totp`, `recovery_code` or `passkey`).
pub(crate) async fn audit_wrong(
    ctx: &PortalCtx,
    username: &str,
    addr: &str,
    method: &str,
    during: &str,
    now: i64,
) {
    audit(
        ctx,
        NewAuditEvent {
            occurred_at: now,
            actor: Actor::Admin(username).into(),
            action: Action::AdminSecondFactorFailed.into(),
            reason: Some(if method == "passkey" {
                format!("passkey refused at {during}")
            } else {
                format!("wrong or used code at {during}")
            }),
            after_state: Some(serde_json::json!({ "address": addr, "method": method }).to_string()),
            ..Default::default()
        },
    )
    .await;
}

/// Reserves a try (codes and passkeys share the count), checks and uses what was offered, and
/// settles the try; audits a wrong one. `Err` carries the error word for the page.
pub(crate) async fn judge(
    ctx: &PortalCtx,
    user: &AdminUser,
    offered: Offered<'_>,
    addr: &str,
    during: &str,
    now: i64,
) -> Result<Code, &'static str> {
    let store = &ctx.state.store;
    let reservation = match throttle::reserve_code(store, &user.username, now).await {
        Ok(r) => r,
        Err(Refused::Locked) => {
            tracing::warn!(target: "security", peer = %addr, username = %user.username, "second factor refused: throttled");
            return Err("throttled");
        }
        Err(Refused::Store(e)) => {
            tracing::error!(error = %e, "second factor: store failure");
            return Err("unavailable");
        }
    };
    match check_and_use(ctx, user, &offered, now).await {
        Code::Unavailable => {
            reservation.abandon(store).await;
            Err("unavailable")
        }
        Code::Wrong => {
            let locked = reservation.locked_until;
            let method = offered.method();
            tracing::info!(target: "security", peer = %addr, username = %user.username, during, method, "second factor refused");
            audit_wrong(ctx, &user.username, addr, method, during, now).await;
            if let Some(until) = locked {
                tracing::warn!(target: "security", peer = %addr, username = %user.username, "second factor locked after repeated failures");
                audit(
                    ctx,
                    NewAuditEvent {
                        occurred_at: now,
                        actor: Actor::Portal.into(),
                        action: Action::AdminSignInLocked.into(),
                        reason: Some(format!(
                            "{} wrong second-factor codes",
                            throttle::CODE_POLICY.max_failures
                        )),
                        after_state: Some(
                            serde_json::json!({
                                "locked": "second_factor",
                                "username": user.username,
                                "address": addr,
                                "until": until,
                            })
                            .to_string(),
                        ),
                        ..Default::default()
                    },
                )
                .await;
                return Err("throttled");
            }
            Err("code")
        }
        right => {
            reservation.succeeded(store).await;
            Ok(right)
        }
    }
}

/// The second step's form: a code, or a passkey's assertion put there by the script.
#[derive(Deserialize)]
pub struct SecondStepForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    passkey: String,
}

/// `POST /auth/second-factor`: the code (or a recovery code) after a right password.
pub async fn second_step(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<SecondStepForm>,
) -> Response {
    let store = &ctx.state.store;
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    let pending = session
        .get::<String>(SESSION_PENDING_ADMIN)
        .await
        .ok()
        .flatten();
    let at = session
        .get::<i64>(SESSION_PENDING_AT)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    let next = session
        .get::<String>(SESSION_PENDING_NEXT)
        .await
        .ok()
        .flatten()
        .filter(|n| safe_next(n).is_some());
    let Some(username) = pending.filter(|_| now - at < PENDING_SECS && now >= at) else {
        let _ = session.flush().await;
        return auth::back_to_login("expired", next.as_deref());
    };
    let user = match store.find_admin(&username).await {
        Ok(Some(u)) if u.disabled_at.is_none() && u.has_second_factor() => u,
        Ok(_) => {
            let _ = session.flush().await;
            return auth::back_to_login("expired", next.as_deref());
        }
        Err(e) => {
            tracing::error!(error = %e, "second factor: store failure");
            return Redirect::to("/login/second-factor?error=unavailable").into_response();
        }
    };
    let offered = Offered::from_form(&form.code, &form.passkey, &session);
    let code = match judge(&ctx, &user, offered, &addr, "sign-in", now).await {
        Ok(code) => code,
        Err(error) => {
            let error = if error == "code" && !form.passkey.is_empty() {
                "passkey"
            } else {
                error
            };
            return Redirect::to(&format!("/login/second-factor?error={error}")).into_response();
        }
    };
    if matches!(code, Code::Recovery) {
        let left = store
            .unused_recovery_codes(&user.username)
            .await
            .map(|r| r.len())
            .ok();
        audit(
            &ctx,
            NewAuditEvent {
                occurred_at: now,
                actor: Actor::Admin(&user.username).into(),
                action: Action::AdminRecoveryCodeUsed.into(),
                after_state: Some(
                    serde_json::json!({ "address": addr, "recovery_codes_left": left }).to_string(),
                ),
                ..Default::default()
            },
        )
        .await;
    }
    let cleared = session
        .remove::<String>(SESSION_PENDING_ADMIN)
        .await
        .is_ok()
        && session.remove::<i64>(SESSION_PENDING_AT).await.is_ok()
        && session.remove::<String>(SESSION_PENDING_NEXT).await.is_ok();
    if !cleared {
        return auth::back_to_login("unavailable", next.as_deref());
    }
    if let Err(e) = session.cycle_id().await {
        tracing::error!(error = %e, "sign-in: session rotation failed");
        return auth::back_to_login("unavailable", next.as_deref());
    }
    let method = match code {
        Code::Recovery => "password and recovery code",
        Code::Passkey => "password and passkey",
        _ => "password and authenticator code",
    };
    auth::finish_sign_in(
        &ctx,
        &session,
        &user,
        &addr,
        &headers,
        next.as_deref(),
        now,
        (method, auth::Landing::Redirect),
    )
    .await
}

/// The signed-in account of a form post, or where to send the browser instead.
async fn signed_in(ctx: &PortalCtx, session: &Session) -> Result<AdminUser, Response> {
    let Ok(Some(username)) = session.get::<String>(SESSION_ADMIN).await else {
        return Err(Redirect::to("/login?error=expired").into_response());
    };
    match ctx.state.store.find_admin(&username).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(Redirect::to("/login?error=expired").into_response()),
        Err(e) => {
            tracing::error!(error = %e, "second factor: store failure");
            Err(back("unavailable"))
        }
    }
}

fn back(error: &str) -> Response {
    Redirect::to(&format!("/account?sf_error={error}#second-factor")).into_response()
}

/// Checks the signed-in person's current password, counted like a sign-in. `Err` carries the
/// answer: back to the account page at `anchor`.
pub(crate) async fn check_password(
    ctx: &PortalCtx,
    user: &AdminUser,
    password: String,
    addr: &str,
    now: i64,
    anchor: &str,
) -> Result<(), Response> {
    let back =
        |error: &str| Redirect::to(&format!("/account?sf_error={error}{anchor}")).into_response();
    let store = &ctx.state.store;
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(back("current"));
    }
    let reservation = match throttle::reserve(store, &user.username, addr, now).await {
        Ok(r) => r,
        Err(Refused::Locked) => return Err(back("throttled")),
        Err(Refused::Store(e)) => {
            tracing::error!(error = %e, "second factor: store failure");
            return Err(back("unavailable"));
        }
    };
    let Ok(ok) = ctx
        .password_checks
        .verify(password, Some(user.password_hash.clone()))
        .await
    else {
        reservation.abandon(store).await;
        return Err(back("unavailable"));
    };
    if !ok {
        let locked = auth::failed(ctx, reservation, &user.username, addr, now).await;
        return Err(back(if locked { "throttled" } else { "current" }));
    }
    reservation.succeeded(store).await;
    Ok(())
}

/// `POST /account/second-factor/begin`: makes a secret for the signed-in person and keeps it in
/// the session until a code from it is entered; the account page then shows it.
pub async fn begin_enrolment(Extension(ctx): Extension<PortalCtx>, session: Session) -> Response {
    let user = match signed_in(&ctx, &session).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    if user.totp_secret.is_some() {
        return back("enrolled");
    }
    let Ok(secret) = TotpSecret::generate() else {
        tracing::error!("second factor: no randomness for a secret");
        return back("unavailable");
    };
    if session
        .insert(SESSION_ENROL_SECRET, secret.to_base32())
        .await
        .is_err()
    {
        return back("unavailable");
    }
    Redirect::to("/account?enrol=1#second-factor").into_response()
}

/// The form confirming an enrolment or a removal.
#[derive(Deserialize)]
pub struct ConfirmForm {
    current_password: String,
    #[serde(default)]
    code: String,
    /// A passkey's assertion in place of the code (removal only), put there by the script.
    #[serde(default)]
    passkey: String,
}

/// `POST /account/second-factor/confirm`: with the current password and a code from the new
/// secret, enrols it and makes the recovery codes, which the account page shows once.
pub async fn confirm_enrolment(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    let user = match signed_in(&ctx, &session).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    if user.totp_secret.is_some() {
        return back("enrolled");
    }
    let Some(secret) = session
        .get::<String>(SESSION_ENROL_SECRET)
        .await
        .ok()
        .flatten()
        .and_then(|s| TotpSecret::from_base32(&s).ok())
    else {
        return back("no_enrolment");
    };
    if let Err(res) = check_password(
        &ctx,
        &user,
        form.current_password,
        &addr,
        now,
        "#second-factor",
    )
    .await
    {
        return res;
    }
    let store = &ctx.state.store;
    let reservation = match throttle::reserve_code(store, &user.username, now).await {
        Ok(r) => r,
        Err(Refused::Locked) => return back("throttled"),
        Err(Refused::Store(e)) => {
            tracing::error!(error = %e, "second factor: store failure");
            return back("unavailable");
        }
    };
    let Some(step) = secret.check(&form.code, now, None) else {
        tracing::info!(target: "security", peer = %addr, username = %user.username, "second factor enrolment: wrong code");
        audit_wrong(&ctx, &user.username, &addr, "totp", "enrolment", now).await;
        return back(if reservation.locked_until.is_some() {
            "throttled"
        } else {
            "code"
        });
    };
    reservation.succeeded(store).await;
    let mut shown = Vec::with_capacity(totp::RECOVERY_CODES);
    let mut stored = Vec::with_capacity(totp::RECOVERY_CODES);
    for _ in 0..totp::RECOVERY_CODES {
        let Ok(code) = RecoveryCode::generate() else {
            tracing::error!("second factor: no randomness for recovery codes");
            return back("unavailable");
        };
        stored.push((uuid::Uuid::new_v4().to_string(), code.digest()));
        shown.push(code.expose().to_string());
    }
    let event = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&user.username).into(),
        action: Action::AdminSecondFactorAdded.into(),
        after_state: Some(
            serde_json::json!({ "kind": "totp", "recovery_codes": totp::RECOVERY_CODES })
                .to_string(),
        ),
        ..Default::default()
    };
    let secret = SecondFactorSecret::new(secret.to_base32());
    match store
        .enrol_second_factor(&user.username, &secret, step, &stored, &event)
        .await
    {
        Ok(true) => {}
        Ok(false) => return back("enrolled"),
        Err(e) => {
            tracing::error!(error = %e, "second factor: store failure");
            return back("unavailable");
        }
    }
    let _ = session.remove::<String>(SESSION_ENROL_SECRET).await;
    if session.insert(SESSION_RECOVERY_CODES, shown).await.is_err() {
        tracing::error!("second factor: the recovery codes could not be kept to show");
    }
    tracing::info!(target: "security", peer = %addr, username = %user.username, "second factor enrolled");
    Redirect::to("/account?sf_done=enrolled#second-factor").into_response()
}

/// `POST /account/second-factor/remove`: with the current password and a code (or a recovery
/// code), removes the signed-in person's second factor and recovery codes.
pub async fn remove(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    let user = match signed_in(&ctx, &session).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    if user.totp_secret.is_none() {
        return back("not_enrolled");
    }
    if let Err(res) = check_password(
        &ctx,
        &user,
        form.current_password,
        &addr,
        now,
        "#second-factor",
    )
    .await
    {
        return res;
    }
    let offered = Offered::from_form(&form.code, &form.passkey, &session);
    if let Err(error) = judge(&ctx, &user, offered, &addr, "removal", now).await {
        return back(error);
    }
    let event = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&user.username).into(),
        action: Action::AdminSecondFactorRemoved.into(),
        after_state: Some(serde_json::json!({ "kind": "totp" }).to_string()),
        ..Default::default()
    };
    match ctx
        .state
        .store
        .remove_second_factor(&user.username, &event)
        .await
    {
        Ok(_) => {
            tracing::info!(target: "security", peer = %addr, username = %user.username, "second factor removed");
            Redirect::to("/account?sf_done=removed#second-factor").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "second factor: store failure");
            back("unavailable")
        }
    }
}
