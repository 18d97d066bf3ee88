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

use app::ssr::{SESSION_ACCOUNT_VERSION, SESSION_ADMIN, SESSION_SIGNED_IN_AT};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use dcr_audit::{Action, Actor};
use dcr_store::{NewAuditEvent, ThrottlePolicy};
use serde::Deserialize;
use tower_sessions::Session;

use crate::config::Config;
use crate::portal::password;
use crate::portal::PortalCtx;
use crate::tls::ConnectionInfo;

/// Failed sign-ins allowed per account: 5 within 15 minutes, then 15 minutes locked.
pub const ACCOUNT_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window_secs: 15 * 60,
    lockout_secs: 15 * 60,
};

/// Failed sign-ins allowed per client address: 20 within 15 minutes, then 15 minutes locked.
pub const ADDRESS_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 20,
    window_secs: 15 * 60,
    lockout_secs: 15 * 60,
};

/// Shortest new password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password, in bytes (argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A cookie that only says "this browser signed in": when it comes back without a valid
/// session, the session timed out and the sign-in page says so.
pub const SIGNED_IN_MARKER: &str = "dcr_signed_in";

/// The throttle key of a typed username: a digest, so that the throttle table never holds what
/// was typed (a mistyped password, often).
fn account_key(username: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(username.to_lowercase().as_bytes());
    format!(
        "user:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

fn address_key(addr: &str) -> String {
    format!("addr:{addr}")
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

fn marker_cookie(config: &Config, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if crate::portal::cookies_secure(config) {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{SIGNED_IN_MARKER}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
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
pub fn has_marker(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().starts_with(&format!("{SIGNED_IN_MARKER}=1")))
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
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
    let username = form.username.trim().to_string();
    if username.is_empty() || username.len() > 128 || form.password.len() > MAX_PASSWORD_BYTES {
        return Redirect::to("/login?error=1").into_response();
    }
    let (user_key, addr_key) = (account_key(&username), address_key(&addr));
    match store
        .login_locked_until(&[user_key.as_str(), addr_key.as_str()], now)
        .await
    {
        Ok(None) => {}
        Ok(Some(_)) => {
            tracing::warn!(target: "security", peer = %addr, "portal sign-in refused: throttled");
            crate::metrics::sign_in("throttled");
            return Redirect::to("/login?error=throttled").into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in: store failure");
            return Redirect::to("/login?error=unavailable").into_response();
        }
    }
    let user = match store.find_admin(&username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "sign-in: store failure");
            return Redirect::to("/login?error=unavailable").into_response();
        }
    };
    // Same work whether or not the account exists: verify against a dummy hash otherwise.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = password::verify(form.password, hash).await;
    // The audit names an account only when one has this name: what was typed otherwise (a
    // password in the wrong field, often) is not kept.
    let known = match &user {
        Some(u) => Some(u.username.clone()),
        // The throttle counts names case-insensitively: name the account it locks.
        None if username != username.to_lowercase() => store
            .find_admin(&username.to_lowercase())
            .await
            .ok()
            .flatten()
            .map(|u| u.username),
        None => None,
    };
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(target: "security", peer = %addr, "portal sign-in failed");
        crate::metrics::sign_in("failure");
        let locked = count_failure(&ctx, &user_key, &addr_key, known.as_deref(), &addr, now).await;
        let to = if locked {
            "/login?error=throttled"
        } else {
            "/login?error=1"
        };
        return Redirect::to(to).into_response();
    };
    if let Err(e) = store.clear_login_failures(&user_key).await {
        tracing::warn!(error = %e, "sign-in: could not reset the failure count");
    }
    if let Err(e) = session.cycle_id().await {
        tracing::error!(error = %e, "sign-in: session rotation failed");
        return Redirect::to("/login?error=unavailable").into_response();
    }
    let stored = session.insert(SESSION_ADMIN, &user.username).await.is_ok()
        && session.insert(SESSION_SIGNED_IN_AT, now).await.is_ok()
        && session
            .insert(SESSION_ACCOUNT_VERSION, user.updated_at)
            .await
            .is_ok();
    if !stored {
        return Redirect::to("/login?error=unavailable").into_response();
    }
    audit(
        &ctx,
        NewAuditEvent {
            occurred_at: now,
            actor: Actor::Admin(&user.username).into(),
            action: Action::AdminSignIn.into(),
            after_state: Some(serde_json::json!({ "address": addr }).to_string()),
            ..Default::default()
        },
    )
    .await;
    tracing::info!(target: "security", peer = %addr, username = %user.username, "portal sign-in");
    crate::metrics::sign_in("success");
    let mut res = Redirect::to("/").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, marker_cookie(&ctx.config, "1", None));
    res
}

/// Counts a failure against the account and the address; true when either is now locked.
/// `account` is the name of the account the username matched, if any.
async fn count_failure(
    ctx: &PortalCtx,
    user_key: &str,
    addr_key: &str,
    account: Option<&str>,
    addr: &str,
    now: i64,
) -> bool {
    let store = &ctx.state.store;
    let mut locked = false;
    for (key, policy, kind) in [
        (user_key, ACCOUNT_POLICY, "account"),
        (addr_key, ADDRESS_POLICY, "address"),
    ] {
        match store.record_login_failure(key, now, policy).await {
            Ok(Some(until)) => {
                locked = true;
                tracing::warn!(target: "security", peer = %addr, kind, "portal sign-in locked after repeated failures");
                audit(
                    ctx,
                    NewAuditEvent {
                        occurred_at: now,
                        actor: Actor::Portal.into(),
                        action: Action::AdminSignInLocked.into(),
                        reason: Some(format!("{} failed sign-ins", policy.max_failures)),
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
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "sign-in: could not count a failure"),
        }
    }
    // Opportunistic clean-up of entries whose window is over.
    let longest = ACCOUNT_POLICY.window_secs.max(ADDRESS_POLICY.window_secs);
    if let Err(e) = store.purge_login_throttle(now - longest, now).await {
        tracing::warn!(error = %e, "sign-in: throttle purge failed");
    }
    locked
}

async fn audit(ctx: &PortalCtx, ev: NewAuditEvent) {
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
    let (user_key, addr_key) = (account_key(&username), address_key(&addr));
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
    match store
        .login_locked_until(&[user_key.as_str(), addr_key.as_str()], now)
        .await
    {
        Ok(None) => {}
        Ok(Some(_)) => return back("throttled"),
        Err(e) => {
            tracing::error!(error = %e, "password change: store failure");
            return back("unavailable");
        }
    }
    let user = match store.find_admin(&username).await {
        Ok(Some(u)) => u,
        Ok(None) => return Redirect::to("/login?error=expired").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "password change: store failure");
            return back("unavailable");
        }
    };
    if !password::verify(form.current_password, Some(user.password_hash)).await {
        tracing::info!(target: "security", peer = %addr, username = %username, "portal password change: wrong current password");
        let locked =
            count_failure(&ctx, &user_key, &addr_key, Some(&user.username), &addr, now).await;
        return back(if locked { "throttled" } else { "current" });
    }
    let hash = match password::hash(form.new_password).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "password change: hashing failed");
            return back("unavailable");
        }
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
    fn keys_fold_case_of_usernames() {
        assert_eq!(account_key("Alice"), account_key("alice"));
        assert_ne!(account_key("alice"), address_key("alice"));
    }

    #[test]
    fn the_marker_is_found_among_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; dcr_signed_in=1; dcr_session=x"),
        );
        assert!(has_marker(&h));
        h.insert(header::COOKIE, HeaderValue::from_static("dcr_signed_in="));
        assert!(!has_marker(&h));
    }
}
