//! Passkeys as a second factor of local accounts (docs/portal.md, "Passkeys"), with
//! `webauthn-rs`: W3C Web Authentication Level 2, §7.1 (registering a credential) and §7.2
//! (verifying an assertion). The browser's part is `passkey.js`, served at [`SCRIPT_PATH`].
//!
//! The ceremonies are plain form posts, like the rest of the portal: the script asks a JSON
//! endpoint here for the options (a challenge, kept in the session), lets the browser make or
//! use the passkey, puts the result in the form's `passkey` field and sends the form.
//!
//! # Security
//! - The relying party is the portal's configured origin (`portal.public_origin`): the browser
//!   binds each passkey to its host name, and every response is checked against that origin, so
//!   a passkey cannot be phished by another site. Without that setting there are no passkeys,
//!   except on `http://localhost` in local development (`portal.cookie_secure` off).
//! - A challenge is kept in the session, for one account, for five minutes, and is taken out
//!   before the answer is checked: it is used once, whatever the outcome.
//! - Adding a passkey needs the current password (counted like a sign-in); removing one needs
//!   the password and a second factor, as removing the authenticator app does. Assertions are
//!   counted with the codes' throttle ([`crate::portal::second_factor`]), and a failed one is
//!   audited as `admin.second_factor_failed` with `method: passkey`.
//! - User verification (a PIN or biometric on the authenticator) is required at registration
//!   and at each use. The stored passkey holds a public key and a counter, nothing secret.

use std::sync::Arc;

use app::ssr::{SESSION_ADMIN, SESSION_PENDING_ADMIN, SESSION_PENDING_AT};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use dcr_audit::{Action, Actor};
use dcr_store::{AdminUser, Conflict, NewAuditEvent, NewPasskey, PasskeyRow, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::Session;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::config::Config;
use crate::portal::auth::client_address;
use crate::portal::second_factor::{self, Code, Offered, PENDING_SECS};
use crate::portal::PortalCtx;
use crate::tls::ConnectionInfo;

/// Where the portal serves the browser's part of the ceremonies.
pub const SCRIPT_PATH: &str = "/passkey.js";
/// The browser's part: options from the server, `navigator.credentials`, the form sent.
pub const SCRIPT: &str = include_str!("passkey.js");

/// Session key: the authentication challenge under way ([`Challenge`]).
const SESSION_CHALLENGE: &str = "passkey_challenge";
/// Session key: the registration under way ([`Registration`]).
const SESSION_REGISTRATION: &str = "passkey_registration";
/// How long a challenge may be answered.
const CHALLENGE_SECS: i64 = 5 * 60;
/// The largest credential (JSON) accepted from a browser; real ones are a few kilobytes.
pub(crate) const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;
/// The longest name a passkey may be given.
const MAX_NAME_CHARS: usize = 64;

/// An authentication challenge kept in the session.
#[derive(Serialize, Deserialize)]
struct Challenge {
    username: String,
    at: i64,
    state: PasskeyAuthentication,
}

/// A registration kept in the session.
#[derive(Serialize, Deserialize)]
struct Registration {
    username: String,
    at: i64,
    state: PasskeyRegistration,
}

/// The relying party of `config`: the configured public origin when it has a host name, or,
/// in local development (cookies not `Secure`: plain HTTP on loopback), `http://localhost` on
/// any port. None otherwise: passkeys are then not offered.
#[must_use]
pub fn relying_party(config: &Config) -> Option<Arc<Webauthn>> {
    // Browsers refuse passkeys on an IP address (W3C WebAuthn Level 2 §5.1.3: the relying
    // party id is a domain), so an origin without a host name is as none.
    let named = config
        .public_origin
        .as_ref()
        .filter(|o| o.domain().is_some());
    let (origin, any_port) = match named {
        Some(origin) => (origin.clone(), false),
        None if !config.cookie_secure => (Url::parse("http://localhost").ok()?, true),
        None => {
            if config.public_origin.is_some() {
                tracing::warn!("passkeys are off: portal.public_origin has no host name");
            }
            return None;
        }
    };
    let rp_id = origin.domain()?.to_string();
    let built = WebauthnBuilder::new(&rp_id, &origin)
        .map(|b| b.rp_name("DCR Admin").allow_any_port(any_port))
        .and_then(WebauthnBuilder::build);
    match built {
        Ok(w) => Some(Arc::new(w)),
        Err(e) => {
            tracing::error!(error = %e, origin = %origin, "passkeys: the relying party could not be set up; passkeys are off");
            None
        }
    }
}

/// The WebAuthn user handle of an account: derived from its id, stable, revealing nothing.
fn user_handle(user: &AdminUser) -> Uuid {
    let digest = Sha256::digest(format!("dcr-admin-passkey:{}", user.admin_user_id));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// An account's stored passkeys with their parsed form (rows that do not parse are logged and
/// left out).
async fn stored(ctx: &PortalCtx, username: &str) -> Result<Vec<(PasskeyRow, Passkey)>, StoreError> {
    let rows = ctx.state.store.passkeys(username).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match serde_json::from_str::<Passkey>(&row.passkey) {
            Ok(p) => Some((row, p)),
            Err(e) => {
                tracing::error!(error = %e, passkey = %row.admin_passkey_id, "passkeys: a stored passkey does not parse");
                None
            }
        })
        .collect())
}

/// A JSON error for the script.
fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

/// A challenge for `user`'s passkeys, kept in the session; the options as JSON.
async fn challenge_for(ctx: &PortalCtx, session: &Session, user: &AdminUser) -> Response {
    let Some(webauthn) = &ctx.passkeys else {
        return json_error(StatusCode::NOT_FOUND, "passkeys_off");
    };
    let passkeys = match stored(ctx, &user.username).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    if passkeys.is_empty() {
        return json_error(StatusCode::CONFLICT, "no_passkey");
    }
    let keys: Vec<Passkey> = passkeys.into_iter().map(|(_, p)| p).collect();
    let (options, state) = match webauthn.start_passkey_authentication(&keys) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "passkeys: no challenge");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    let challenge = Challenge {
        username: user.username.clone(),
        at: ctx.state.clock.now(),
        state,
    };
    if session.insert(SESSION_CHALLENGE, challenge).await.is_err() {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    no_store(Json(options).into_response())
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// `POST /auth/second-factor/passkey`: a challenge for the passkeys of the account whose
/// password was right (the second step of sign-in).
pub async fn sign_in_options(Extension(ctx): Extension<PortalCtx>, session: Session) -> Response {
    let now = ctx.state.clock.now();
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
    let Some(username) = pending.filter(|_| now - at < PENDING_SECS && now >= at) else {
        return json_error(StatusCode::UNAUTHORIZED, "expired");
    };
    match ctx.state.store.find_admin(&username).await {
        Ok(Some(user)) if user.disabled_at.is_none() => challenge_for(&ctx, &session, &user).await,
        Ok(_) => json_error(StatusCode::UNAUTHORIZED, "expired"),
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    }
}

/// The signed-in account of a request to the account's passkey endpoints.
async fn signed_in(ctx: &PortalCtx, session: &Session) -> Option<AdminUser> {
    let username = session.get::<String>(SESSION_ADMIN).await.ok().flatten()?;
    ctx.state.store.find_admin(&username).await.ok().flatten()
}

/// `POST /account/second-factor/passkey/challenge`: a challenge for the signed-in person's
/// passkeys, to confirm a removal with one.
pub async fn account_options(Extension(ctx): Extension<PortalCtx>, session: Session) -> Response {
    match signed_in(&ctx, &session).await {
        Some(user) => challenge_for(&ctx, &session, &user).await,
        None => json_error(StatusCode::UNAUTHORIZED, "expired"),
    }
}

/// Checks a passkey's assertion for `user` against the challenge in the session (taken out
/// first: one answer per challenge) and, when it is right, records its use (conditionally on
/// the stored passkey being as read: two requests racing with answers to one challenge, which
/// both read it before either session was saved, get one success).
pub(crate) async fn check(
    ctx: &PortalCtx,
    session: &Session,
    user: &AdminUser,
    credential: &str,
    now: i64,
) -> Code {
    let Some(webauthn) = &ctx.passkeys else {
        return Code::Wrong;
    };
    let challenge = session
        .remove::<Challenge>(SESSION_CHALLENGE)
        .await
        .ok()
        .flatten()
        .filter(|c| c.username == user.username && now >= c.at && now - c.at < CHALLENGE_SECS);
    let Some(challenge) = challenge else {
        return Code::Wrong;
    };
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Code::Wrong;
    }
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Code::Wrong;
    };
    let result = match webauthn.finish_passkey_authentication(&credential, &challenge.state) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(target: "security", username = %user.username, error = %e, "passkey assertion refused");
            return Code::Wrong;
        }
    };
    let passkeys = match stored(ctx, &user.username).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            return Code::Unavailable;
        }
    };
    // The challenge allowed only this account's passkeys; the one used must still be there.
    let Some((row, mut passkey)) = passkeys
        .into_iter()
        .find(|(_, p)| p.cred_id() == result.cred_id())
    else {
        return Code::Wrong;
    };
    passkey.update_credential(&result);
    let Ok(serialized) = serde_json::to_string(&passkey) else {
        return Code::Unavailable;
    };
    match ctx.state.store.use_passkey(&row, &serialized, now).await {
        Ok(true) => Code::Passkey,
        Ok(false) => Code::Wrong,
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            Code::Unavailable
        }
    }
}

fn back(error: &str) -> Response {
    Redirect::to(&format!("/account?sf_error={error}#passkeys")).into_response()
}

/// `POST /account/second-factor/passkey/options`: starts adding a passkey for the signed-in
/// person (the options for `navigator.credentials.create`, its state kept in the session).
pub async fn registration_options(
    Extension(ctx): Extension<PortalCtx>,
    session: Session,
) -> Response {
    let Some(webauthn) = &ctx.passkeys else {
        return json_error(StatusCode::NOT_FOUND, "passkeys_off");
    };
    let Some(user) = signed_in(&ctx, &session).await else {
        return json_error(StatusCode::UNAUTHORIZED, "expired");
    };
    let existing = match stored(&ctx, &user.username).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
    let started = webauthn.start_passkey_registration(
        user_handle(&user),
        &user.username,
        &user.username,
        Some(exclude),
    );
    let (options, state) = match started {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "passkeys: no registration challenge");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    let registration = Registration {
        username: user.username.clone(),
        at: ctx.state.clock.now(),
        state,
    };
    if session
        .insert(SESSION_REGISTRATION, registration)
        .await
        .is_err()
    {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    no_store(Json(options).into_response())
}

/// The form adding a passkey.
#[derive(Deserialize)]
pub struct AddForm {
    current_password: String,
    #[serde(default)]
    name: String,
    /// The browser's new credential (JSON), put here by the script.
    #[serde(default)]
    passkey: String,
}

/// `POST /account/second-factor/passkey/add`: with the current password, checks the browser's
/// new credential against the registration in the session and adds it to the account.
pub async fn add(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<AddForm>,
) -> Response {
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    let Some(webauthn) = &ctx.passkeys else {
        return back("passkeys_off");
    };
    let Some(user) = signed_in(&ctx, &session).await else {
        return Redirect::to("/login?error=expired").into_response();
    };
    let name: String = form
        .name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return back("passkey_name");
    }
    if let Err(res) =
        second_factor::check_password(&ctx, &user, form.current_password, &addr, now, "#passkeys")
            .await
    {
        return res;
    }
    let registration = session
        .remove::<Registration>(SESSION_REGISTRATION)
        .await
        .ok()
        .flatten()
        .filter(|r| r.username == user.username && now >= r.at && now - r.at < CHALLENGE_SECS);
    let Some(registration) = registration else {
        return back("no_enrolment");
    };
    let credential = (form.passkey.len() <= MAX_CREDENTIAL_BYTES)
        .then(|| serde_json::from_str::<RegisterPublicKeyCredential>(&form.passkey).ok())
        .flatten();
    let passkey = credential.and_then(|c| {
        webauthn
            .finish_passkey_registration(&c, &registration.state)
            .map_err(|e| tracing::info!(target: "security", username = %user.username, error = %e, "passkey registration refused"))
            .ok()
    });
    let Some(passkey) = passkey else {
        second_factor::audit_wrong(&ctx, &user.username, &addr, "passkey", "enrolment", now).await;
        return back("passkey");
    };
    let Ok(serialized) = serde_json::to_string(&passkey) else {
        return back("unavailable");
    };
    let credential_id = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref())
    };
    let id = uuid::Uuid::new_v4().to_string();
    let event = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&user.username).into(),
        action: Action::AdminSecondFactorAdded.into(),
        after_state: Some(
            serde_json::json!({ "kind": "passkey", "passkey": id, "name": name }).to_string(),
        ),
        ..Default::default()
    };
    let new = NewPasskey {
        admin_passkey_id: &id,
        admin_username: &user.username,
        credential_id: &credential_id,
        passkey: &serialized,
        name: &name,
        created_at: now,
    };
    match ctx.state.store.add_passkey(&new, &event).await {
        Ok(true) => {
            tracing::info!(target: "security", peer = %addr, username = %user.username, "passkey added");
            Redirect::to("/account?sf_done=passkey_added#passkeys").into_response()
        }
        Ok(false) => Redirect::to("/login?error=expired").into_response(),
        Err(StoreError::Conflict(Conflict::PasskeyTaken)) => back("passkey_taken"),
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            back("unavailable")
        }
    }
}

/// The form removing a passkey.
#[derive(Deserialize)]
pub struct RemoveForm {
    current_password: String,
    /// Which passkey (its id).
    id: String,
    /// A code from the app or a recovery code, or empty when a passkey confirms.
    #[serde(default)]
    code: String,
    /// An assertion of one of the account's passkeys (JSON), put here by the script.
    #[serde(default)]
    passkey: String,
}

/// `POST /account/second-factor/passkey/remove`: with the current password and a second
/// factor (a code, a recovery code or a passkey), removes one of the signed-in person's
/// passkeys.
pub async fn remove(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<RemoveForm>,
) -> Response {
    let now = ctx.state.clock.now();
    let addr = client_address(&ctx.config, conn.as_deref(), &headers);
    let Some(user) = signed_in(&ctx, &session).await else {
        return Redirect::to("/login?error=expired").into_response();
    };
    let name = match ctx.state.store.passkeys(&user.username).await {
        Ok(rows) => rows
            .into_iter()
            .find(|r| r.admin_passkey_id == form.id)
            .map(|r| r.name),
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            return back("unavailable");
        }
    };
    let Some(name) = name else {
        return back("no_passkey");
    };
    if let Err(res) =
        second_factor::check_password(&ctx, &user, form.current_password, &addr, now, "#passkeys")
            .await
    {
        return res;
    }
    let offered = Offered::from_form(&form.code, &form.passkey, &session);
    if let Err(error) = second_factor::judge(&ctx, &user, offered, &addr, "removal", now).await {
        return back(if error == "code" && !form.passkey.is_empty() {
            "passkey"
        } else {
            error
        });
    }
    let event = NewAuditEvent {
        occurred_at: now,
        actor: Actor::Admin(&user.username).into(),
        action: Action::AdminSecondFactorRemoved.into(),
        after_state: Some(
            serde_json::json!({ "kind": "passkey", "passkey": form.id, "name": name }).to_string(),
        ),
        ..Default::default()
    };
    match ctx
        .state
        .store
        .remove_passkey(&user.username, &form.id, &event)
        .await
    {
        Ok(true) => {
            tracing::info!(target: "security", peer = %addr, username = %user.username, "passkey removed");
            Redirect::to("/account?sf_done=passkey_removed#passkeys").into_response()
        }
        Ok(false) => back("no_passkey"),
        Err(e) => {
            tracing::error!(error = %e, "passkeys: store failure");
            back("unavailable")
        }
    }
}

/// `GET /passkey.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_handle_is_stable_and_distinct() {
        let user = |id: &str| AdminUser {
            admin_user_id: id.into(),
            username: "alice".into(),
            password_hash: String::new(),
            created_at: 0,
            updated_at: 0,
            role: "administrator".into(),
            disabled_at: None,
            must_change_password: false,
            last_sign_in_at: None,
            last_sign_in_address: None,
            totp_secret: None,
            totp_enrolled_at: None,
            totp_last_step: None,
            sso_subject: None,
            passkeys: 0,
        };
        assert_eq!(user_handle(&user("a")), user_handle(&user("a")));
        assert_ne!(user_handle(&user("a")), user_handle(&user("b")));
    }
}
