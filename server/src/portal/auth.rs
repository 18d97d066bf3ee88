//! Portal sign-in, sign-out and password change: plain form handlers (they work before the
//! WASM arrives), behind the portal's CSRF check.
//!
//! # Security
//! - Passwords are argon2id, verified off the async threads; an unknown user is verified
//!   against a dummy hash, and every failure gets the same answer.
//! - Failures are counted in the store (so every instance sees them) per account and per
//!   address ([`ACCOUNT_POLICY`], [`ADDRESS_POLICY`]). While either is locked, sign-in is
//!   refused without looking at the password. Unknown usernames are counted too, so the lock
//!   says nothing about which accounts exist.
//! - The session id is rotated at sign-in and at a password change; the session records the
//!   account's version, so changing a password (here or with the CLI) ends every other session.
//! - The client address is the TCP peer, or the last `X-Forwarded-For` hop added by a proxy
//!   listed in `security.trusted_proxies`.

use std::net::IpAddr;

use app::ssr::{
    SESSION_ACCOUNT_VERSION, SESSION_ADDRESS, SESSION_ADMIN, SESSION_PENDING_ADMIN,
    SESSION_PENDING_AT, SESSION_PENDING_NEXT, SESSION_SIGNED_IN_AT, SESSION_USER_AGENT,
};
use axum::http::StatusCode;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use dcr_audit::{Action, Actor};
use dcr_store::NewAuditEvent;
use serde::Deserialize;
use tower_sessions::Session;

use crate::config::Config;
use crate::portal::password::Busy;
use crate::portal::throttle::{self, Refused, Reservation};
use crate::portal::PortalCtx;
use crate::tls::ConnectionInfo;

/// Shortest new password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password, in bytes (argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A cookie that only says "this browser signed in": when it comes back without a valid
/// session, the session timed out and the sign-in page says so.
const SIGNED_IN_MARKER: &str = "dcr_signed_in";

/// The session cookie's name: with the `__Host-` prefix when cookies are `Secure` (the browser
/// then refuses it from a sub-domain or over plain HTTP).
#[must_use]
pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.cookie_secure {
        "__Host-dcr_session"
    } else {
        "dcr_session"
    }
}

fn marker_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dcr_signed_in"
    } else {
        SIGNED_IN_MARKER
    }
}

/// The address a request came from: the TCP peer, or, when the peer is a trusted proxy, the
/// last `X-Forwarded-For` entry that is not itself a trusted proxy.
#[must_use]
pub fn client_address(
    config: &Config,
    conn: Option<&ConnectionInfo>,
    headers: &HeaderMap,
) -> String {
    let Some(peer) = conn.map(|c| c.peer.ip()) else {
        return "unknown".into();
    };
    if !config.trusted_proxies.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !config.trusted_proxies.contains(ip))
        .unwrap_or(peer)
        .to_string()
}

pub(crate) fn marker_cookie(config: &Config, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}",
        marker_name(config.cookie_secure)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("dcr_signed_in=; Path=/; Max-Age=0"))
}

/// A response that also removes the signed-in marker.
pub fn clear_marker(config: &Config, mut res: Response) -> Response {
    res.headers_mut()
        .append(header::SET_COOKIE, marker_cookie(config, "", Some(0)));
    res
}

/// Whether the request carries the signed-in marker.
#[must_use]
pub fn has_marker(config: &Config, headers: &HeaderMap) -> bool {
    marker_set(config.cookie_secure, headers)
}

fn marker_set(secure: bool, headers: &HeaderMap) -> bool {
    let set = format!("{}=1", marker_name(secure));
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == set)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    /// The portal page to go to once signed in.
    #[serde(default)]
    next: String,
}

/// Where a sign-in lands when no page was asked for: the overview.
pub const LANDING: &str = "/overview";

/// `next` if it is a page of the portal to send a browser to after sign-in: a path on this
/// origin (starting with one `/`, no backslash or control character, at most 2,000 bytes), not
/// the sign-in page or a form handler. Anything else (another site, `//host`, a scheme) is
/// ignored, so the parameter cannot send a signed-in browser elsewhere.
#[must_use]
pub fn safe_next(next: &str) -> Option<&str> {
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2_000
        && !next.chars().any(|c| c == '\\' || c.is_control())
        && path != "/login"
        && !path.starts_with("/login/")
        && !path.starts_with("/auth/")
        && !path.starts_with("/api/");
    ok.then_some(next)
}

/// Back to the sign-in page with `error`, keeping where to go after it.
pub(crate) fn back_to_login(error: &str, next: Option<&str>) -> Response {
    let next = next
        .map(|n| format!("&next={}", app::dto::encode(n)))
        .unwrap_or_default();
    Redirect::to(&format!("/login?error={error}{next}")).into_response()
}

/// `POST /auth/login`.
pub async fn login(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let store = &ctx.state.store;
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    let next = safe_next(&form.next).map(str::to_string);
    let back = |error: &str| back_to_login(error, next.as_deref());
    if !ctx.config.local_passwords {
        // Single sign-on only: no password is looked at.
        crate::metrics::sign_in("local_off");
        return back("local_off");
    }
    let username = form.username.trim().to_string();
    if username.is_empty() || username.len() > 128 || form.password.len() > MAX_PASSWORD_BYTES {
        return back("1");
    }
    let reservation = match throttle::reserve(store, &username, &addr, now).await {
        Ok(r) => r,
        Err(Refused::Locked) => {
            tracing::warn!(target: "security", peer = %addr, "portal sign-in refused: throttled");
            crate::metrics::sign_in("throttled");
            return back("throttled");
        }
        Err(Refused::Store(e)) => {
            tracing::error!(error = %e, "sign-in: store failure");
            return back("unavailable");
        }
    };
    if !reservation.delay.is_zero() {
        tokio::time::sleep(reservation.delay).await;
    }
    let user = match store.find_admin(&username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "sign-in: store failure");
            reservation.abandon(store).await;
            return back("unavailable");
        }
    };
    // Same work whether or not the account exists: verify against a dummy hash otherwise.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let Ok(ok) = ctx.password_checks.verify(form.password, hash).await else {
        reservation.abandon(store).await;
        crate::metrics::sign_in("busy");
        return busy();
    };
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(target: "security", peer = %addr, "portal sign-in failed");
        crate::metrics::sign_in("failure");
        let locked = failed(&ctx, reservation, &username, &addr, now).await;
        let mut res = back(if locked { "throttled" } else { "1" });
        res.headers_mut().append(
            header::SET_COOKIE,
            username_cookie(&ctx.config, &username, USERNAME_COOKIE_SECS),
        );
        return res;
    };
    reservation.succeeded(store).await;
    if user.disabled_at.is_some() {
        // The right password of a disabled account: said plainly (only to whoever knows it).
        tracing::info!(target: "security", peer = %addr, username = %user.username, "portal sign-in refused: account disabled");
        crate::metrics::sign_in("disabled");
        audit(
            &ctx,
            NewAuditEvent {
                occurred_at: now,
                actor: Actor::Admin(&user.username).into(),
                action: Action::AdminSignInFailed.into(),
                reason: Some("account disabled".into()),
                after_state: Some(serde_json::json!({ "address": addr }).to_string()),
                ..Default::default()
            },
        )
        .await;
        return back("disabled");
    }
    if let Err(e) = session.cycle_id().await {
        tracing::error!(error = %e, "sign-in: session rotation failed");
        return back("unavailable");
    }
    if user.has_second_factor() {
        // Not signed in yet: the second step (`/login/second-factor`) finishes it. Whatever
        // this browser's session held before (another account's sign-in) goes.
        session.clear().await;
        let pending = session
            .insert(SESSION_PENDING_ADMIN, &user.username)
            .await
            .is_ok()
            && session.insert(SESSION_PENDING_AT, now).await.is_ok()
            && session
                .insert(SESSION_PENDING_NEXT, next.as_deref().unwrap_or_default())
                .await
                .is_ok();
        if !pending {
            return back("unavailable");
        }
        tracing::info!(target: "security", peer = %addr, username = %user.username, "portal sign-in: password right, second factor asked");
        return Redirect::to("/login/second-factor").into_response();
    }
    finish_sign_in(
        &ctx,
        &session,
        &user,
        &addr,
        &headers,
        next.as_deref(),
        now,
        ("password", Landing::Redirect),
    )
    .await
}

/// How a finished sign-in moves on to the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Landing {
    /// A redirect (the sign-in was a form of the portal).
    Redirect,
    /// A page that moves on by itself (the sign-in came back from another site, whose redirect
    /// would not carry the `SameSite=Strict` session cookie).
    Page,
}

/// Signs the session in as `user` (its id already cycled): the session keys, the audit event
/// (naming the `method`), the sign-in record and the signed-in marker, then on to `next` (or
/// the password change).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish_sign_in(
    ctx: &PortalCtx,
    session: &Session,
    user: &dcr_store::AdminUser,
    addr: &str,
    headers: &HeaderMap,
    next: Option<&str>,
    now: i64,
    (method, landing): (&str, Landing),
) -> Response {
    let store = &ctx.state.store;
    let back = |error: &str| back_to_login(error, next);
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect();
    let stored = session.insert(SESSION_ADMIN, &user.username).await.is_ok()
        && session.insert(SESSION_SIGNED_IN_AT, now).await.is_ok()
        && session.insert(SESSION_ADDRESS, addr).await.is_ok()
        && session
            .insert(SESSION_USER_AGENT, &user_agent)
            .await
            .is_ok()
        && session
            .insert(SESSION_ACCOUNT_VERSION, user.updated_at)
            .await
            .is_ok();
    if !stored {
        return back("unavailable");
    }
    audit(
        ctx,
        NewAuditEvent {
            occurred_at: now,
            actor: Actor::Admin(&user.username).into(),
            action: Action::AdminSignIn.into(),
            after_state: Some(serde_json::json!({ "address": addr, "method": method }).to_string()),
            ..Default::default()
        },
    )
    .await;
    if let Err(e) = store.record_sign_in(&user.username, now, addr).await {
        tracing::warn!(error = %e, "sign-in: the time of the sign-in could not be recorded");
    }
    tracing::info!(target: "security", peer = %addr, username = %user.username, "portal sign-in");
    crate::metrics::sign_in("success");
    let to = if user.must_change_password {
        "/account?must_change=1"
    } else {
        next.unwrap_or(LANDING)
    };
    let mut res = match landing {
        Landing::Redirect => Redirect::to(to).into_response(),
        Landing::Page => crate::portal::sso::continue_page(to),
    };
    res.headers_mut()
        .append(header::SET_COOKIE, marker_cookie(&ctx.config, "1", None));
    res.headers_mut()
        .append(header::SET_COOKIE, username_cookie(&ctx.config, "", 0));
    res
}

/// How long the username of a failed sign-in is kept for the sign-in form, in seconds.
const USERNAME_COOKIE_SECS: i64 = 300;

/// The cookie that brings the username of a failed sign-in back to the form
/// ([`app::ssr::SIGN_IN_USERNAME_COOKIE`]), percent-encoded, for the sign-in page only; an
/// empty value with `max_age` 0 removes it. Never the password.
fn username_cookie(config: &Config, username: &str, max_age: i64) -> HeaderValue {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        app::ssr::SIGN_IN_USERNAME_COOKIE,
        app::dto::encode(username)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("dcr_sign_in_username=; Path=/login; Max-Age=0"))
}

/// Settles a reserved try whose password was wrong, and audits it and the locks it set; true
/// when it locked the account (for this address) or the address.
pub(crate) async fn failed(
    ctx: &PortalCtx,
    reservation: Reservation,
    username: &str,
    addr: &str,
    now: i64,
) -> bool {
    let store = &ctx.state.store;
    let locks = reservation.locks.clone();
    reservation.failed(store, now).await;
    // The audit names an account only when one has this name (case-insensitively, as the
    // throttle counts them): what was typed otherwise (a password in the wrong field, often)
    // is not kept.
    let account = match store.find_admin(&username.to_lowercase()).await {
        Ok(Some(u)) => Some(u.username),
        _ => match store.find_admin(username).await {
            Ok(found) => found.map(|u| u.username),
            Err(_) => None,
        },
    };
    audit(
        ctx,
        NewAuditEvent {
            occurred_at: now,
            actor: Actor::Portal.into(),
            action: Action::AdminSignInFailed.into(),
            after_state: Some(
                serde_json::json!({ "username": account, "address": addr }).to_string(),
            ),
            ..Default::default()
        },
    )
    .await;
    let locked = !locks.is_empty();
    for (kind, until) in locks {
        tracing::warn!(target: "security", peer = %addr, kind, "portal sign-in locked after repeated failures");
        let limit = if kind == "address" {
            throttle::ADDRESS_POLICY.max_failures
        } else {
            throttle::PAIR_POLICY.max_failures
        };
        audit(
            ctx,
            NewAuditEvent {
                occurred_at: now,
                actor: Actor::Portal.into(),
                action: Action::AdminSignInLocked.into(),
                reason: Some(format!("{limit} failed sign-ins")),
                after_state: Some(
                    serde_json::json!({
                        "locked": kind,
                        "username": account,
                        "address": addr,
                        "until": until,
                    })
                    .to_string(),
                ),
                ..Default::default()
            },
        )
        .await;
    }
    locked
}

/// The answer when every password-check slot is taken.
pub(crate) fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("2"))],
        axum::response::Html("<!DOCTYPE html><title>Busy</title><p>The portal is busy checking other sign-ins. Try again in a moment. <a href=\"/login\">Back to sign-in</a></p>"),
    )
        .into_response()
}

pub(crate) async fn audit(ctx: &PortalCtx, ev: NewAuditEvent) {
    if let Err(e) = ctx.state.store.append_audit(&ev).await {
        tracing::error!(error = %e, action = %ev.action, "portal: could not write an audit event");
    }
}

/// `POST /auth/logout`.
pub async fn logout(Extension(ctx): Extension<PortalCtx>, session: Session) -> Response {
    if let Ok(Some(username)) = session.get::<String>(SESSION_ADMIN).await {
        audit(
            &ctx,
            NewAuditEvent {
                occurred_at: ctx.state.clock.now(),
                actor: Actor::Admin(&username).into(),
                action: Action::AdminSignOut.into(),
                ..Default::default()
            },
        )
        .await;
    }
    let _ = session.flush().await;
    let res = Redirect::to("/login?signed_out=1").into_response();
    clear_marker(&ctx.config, res)
}

/// The change-password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// `POST /account/password`: the signed-in administrator changes their own password.
pub async fn change_password(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> Response {
    let back = |e: &str| Redirect::to(&format!("/account?error={e}")).into_response();
    let Ok(Some(username)) = session.get::<String>(SESSION_ADMIN).await else {
        return Redirect::to("/login?error=expired").into_response();
    };
    let store = &ctx.state.store;
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    if form.new_password != form.confirm_password {
        return back("mismatch");
    }
    if form.new_password.chars().count() < MIN_PASSWORD_CHARS
        || form.new_password.len() > MAX_PASSWORD_BYTES
        || form.current_password.len() > MAX_PASSWORD_BYTES
    {
        return back("short");
    }
    if form.new_password == form.current_password || form.new_password == username {
        return back("same");
    }
    let reservation = match throttle::reserve(store, &username, &addr, now).await {
        Ok(r) => r,
        Err(Refused::Locked) => return back("throttled"),
        Err(Refused::Store(e)) => {
            tracing::error!(error = %e, "password change: store failure");
            return back("unavailable");
        }
    };
    let user = match store.find_admin(&username).await {
        Ok(Some(u)) => u,
        found => {
            reservation.abandon(store).await;
            if let Err(e) = found {
                tracing::error!(error = %e, "password change: store failure");
                return back("unavailable");
            }
            return Redirect::to("/login?error=expired").into_response();
        }
    };
    if user.sso_subject.is_some() {
        reservation.abandon(store).await;
        return back("sso");
    }
    let checks = &ctx.password_checks;
    let Ok(ok) = checks
        .verify(form.current_password, Some(user.password_hash))
        .await
    else {
        reservation.abandon(store).await;
        return back("unavailable");
    };
    if !ok {
        tracing::info!(target: "security", peer = %addr, username = %username, "portal password change: wrong current password");
        let locked = failed(&ctx, reservation, &username, &addr, now).await;
        return back(if locked { "throttled" } else { "current" });
    }
    reservation.succeeded(store).await;
    let hash = match checks.hash(form.new_password).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "password change: hashing failed");
            return back("unavailable");
        }
        Err(Busy) => return back("unavailable"),
    };
    let event = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&username).into(),
        action: Action::AdminPasswordChange.into(),
        after_state: Some(serde_json::json!({ "username": username }).to_string()),
        ..Default::default()
    };
    match store
        .set_admin_password(&username, &hash, now, &event)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Redirect::to("/login?error=expired").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "password change: store failure");
            return back("unavailable");
        }
    }
    // This session carries on with a new id and the account's new version; every other
    // session of the account ends at its next request.
    let kept = session.cycle_id().await.is_ok()
        && session.insert(SESSION_ACCOUNT_VERSION, now).await.is_ok();
    if !kept {
        let _ = session.flush().await;
        return Redirect::to("/login?error=expired").into_response();
    }
    tracing::info!(target: "security", peer = %addr, username = %username, "portal password changed");
    Redirect::to("/account?changed=1").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_found_among_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; dcr_signed_in=1; dcr_session=x"),
        );
        assert!(marker_set(false, &h));
        assert!(
            !marker_set(true, &h),
            "a secure portal reads only its __Host- cookie"
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-dcr_signed_in=1"),
        );
        assert!(marker_set(true, &h));
        h.insert(header::COOKIE, HeaderValue::from_static("dcr_signed_in="));
        assert!(!marker_set(false, &h));
    }
}
