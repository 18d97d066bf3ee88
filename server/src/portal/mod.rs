//! The admin portal's listener: Leptos pages rendered on the server, the WASM bundle and styles,
//! server functions under `/api`, and the form handlers for sign-in, sign-out, password change
//! ([`crate::portal::auth`]), revocation and release ([`crate::portal::admin`]): plain HTML forms,
//! so they work before the WASM arrives.
//!
//! # Security
//! Sessions live in the store (tower-sessions) under a digest of their id; the cookie is
//! `HttpOnly`, `SameSite=Strict`, and `Secure` with the `__Host-` prefix unless
//! `portal.cookie_secure` is off (allowed only for plain HTTP on a loopback address, for local
//! development). Over TLS the portal sends `Strict-Transport-Security`. Every
//! state-changing request must come from our own origin (`Sec-Fetch-Site` / `Origin` check), which
//! covers server functions too. Responses carry a CSP with a per-response nonce for Leptos'
//! inline hydration script. Pages need a signed-in session that is within the idle and absolute
//! timeouts and was signed in with the account's current password.

pub mod admin;
pub mod auth;
pub mod export;
pub mod passkey;
pub mod password;
pub mod people;
pub mod second_factor;
pub mod sessions;
pub mod sso;
pub mod throttle;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::ssr::{
    ChainCheck, KeyFetchError, KeyFetcher, PortalState, SESSION_ACCOUNT_VERSION, SESSION_ADMIN,
    SESSION_SIGNED_IN_AT,
};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::services::{ServeDir, ServeFile};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::config::Config;
use crate::outbound::{FetchError, Outbound};
use crate::portal::auth::{
    change_password, clear_marker, has_marker, login, logout, session_cookie_name,
};
use crate::portal::password::PasswordChecks;
use crate::portal::sessions::StoreSessions;

/// How long the portal waits for a recipient's `jwks_uri` when an administrator asks for its
/// key ids.
const KEY_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared by the portal's own handlers.
#[derive(Clone)]
pub struct PortalCtx {
    pub(crate) state: PortalState,
    pub(crate) config: Arc<Config>,
    pub(crate) password_checks: PasswordChecks,
    /// The passkeys' relying party; none when passkeys are off (no `portal.public_origin`).
    pub(crate) passkeys: Option<Arc<webauthn_rs::Webauthn>>,
    /// Single sign-on, when configured.
    pub(crate) sso: Option<Arc<sso::Sso>>,
    /// The exports running now (at most [`export::EXPORTS_AT_ONCE`]).
    pub(crate) export_slots: export::ExportSlots,
}

/// The key fetcher the inspect page uses: the server's outbound rules (https only, no
/// redirects, size cap) with a short timeout.
fn key_fetcher(config: &Config) -> KeyFetcher {
    let outbound = Outbound::new(
        config.outbound_ca.as_deref(),
        KEY_FETCH_TIMEOUT,
        config.max_response_bytes,
        crate::outbound::AddressGuard::new(config.outbound_allowed.clone()),
    );
    KeyFetcher(Arc::new(move |uri: String| {
        let outbound = outbound.as_ref().ok().cloned();
        Box::pin(async move {
            let Some(outbound) = outbound else {
                return Err(KeyFetchError::Unreachable);
            };
            outbound
                .get_untrusted(&uri)
                .await
                .map(|b| b.to_vec())
                .map_err(|e| match e {
                    FetchError::BadUrl(_) => KeyFetchError::NotHttps,
                    FetchError::Transport(_) | FetchError::Forbidden(_) => {
                        KeyFetchError::Unreachable
                    }
                    FetchError::Status(code) => KeyFetchError::Status(code),
                    FetchError::TooLarge(_) => KeyFetchError::TooLarge,
                })
        })
    }))
}

/// Reads the build id the front-end build wrote, which names the hashed asset directory.
fn pkg_dir(site_root: &Path) -> String {
    match std::fs::read_to_string(site_root.join("pkg").join("BUILD_ID")) {
        Ok(id) if !id.trim().is_empty() && id.trim().chars().all(|c| c.is_ascii_alphanumeric()) => {
            format!("pkg/{}", id.trim())
        }
        _ => {
            tracing::warn!(
                site_root = %site_root.display(),
                "no front-end build found (run scripts/build-front.sh): pages render but will not hydrate"
            );
            "pkg".to_string()
        }
    }
}

/// The portal's routes, generated once per process.
///
/// Generating them renders the app with resource loading suppressed through a process-wide flag
/// of `leptos_server`: a resource first polled by a page being rendered meanwhile (another
/// server in the same process, as in the tests) waits forever. Generated once, before any router
/// of this process serves a page, that window never meets a render.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// Builds the portal router; `keys` check the audit chain's checkpoints.
///
/// # Errors
/// Single sign-on that cannot be set up (its CA file unreadable).
pub fn router(
    state: PortalState,
    config: Arc<Config>,
    keys: Arc<crate::keys::LiveKeys>,
) -> anyhow::Result<Router> {
    let site_root: PathBuf = config.site_root.clone();
    let pkg = pkg_dir(&site_root);
    let options = LeptosOptions::builder()
        .output_name("dcr-portal")
        .site_root(site_root.display().to_string())
        .site_pkg_dir(pkg.clone())
        .build();
    let routes = route_list();

    // The idle timeout is the session record's expiry, so the record is saved (its expiry
    // pushed back) on every request, not only when the session changes.
    let store_sessions = StoreSessions::new(
        state.store.clone(),
        state.clock.clone(),
        config.session_idle_secs,
    );
    let sessions = SessionManagerLayer::new(store_sessions)
        .with_name(session_cookie_name(&config))
        .with_secure(config.cookie_secure)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_always_save(true)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            config.session_idle_secs,
        )));

    let ctx = PortalCtx {
        state: state.clone(),
        config: config.clone(),
        password_checks: PasswordChecks::new(
            config.password_check_slots,
            config.password_check_queue,
        ),
        passkeys: passkey::relying_party(&config),
        sso: config
            .sso
            .clone()
            .map(sso::Sso::new)
            .transpose()?
            .map(Arc::new),
        export_slots: export::ExportSlots::default(),
    };
    let passkeys_offered = ctx.passkeys.is_some();
    let ctx_state = state.clone();
    let required = config.require_second_factor;
    let time_zone = config.time_zone.clone();
    let sign_in_options = app::dto::SignInOptions {
        single_sign_on: ctx.sso.as_ref().map(|s| s.label().to_string()),
        local_passwords: config.local_passwords,
    };
    let fetcher = key_fetcher(&config);
    let chain_check = ChainCheck::with_verifier(crate::checkpoints::portal_verifier(
        keys,
        config.signing_key.is_some(),
    ));
    let leptos_ctx = move || {
        provide_context(ctx_state.clone());
        provide_context(fetcher.clone());
        provide_context(chain_check.clone());
        provide_context(app::ssr::SecondFactorRequired(required));
        provide_context(app::ssr::PasskeysOffered(passkeys_offered));
        provide_context(sign_in_options.clone());
        provide_context(time_zone.clone());
    };

    // Static assets: no session, long-lived caching (the directory name is a content hash), and
    // the brotli or gzip copy the front-end build made when the browser takes it.
    let assets = Router::new()
        .nest_service(
            &format!("/{pkg}"),
            ServeDir::new(site_root.join(&pkg))
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(axum::middleware::from_fn(immutable_cache))
        .route_service(
            "/favicon.ico",
            ServeFile::new(site_root.join("favicon.ico")),
        )
        // The passkey script is compiled in; compressed as it is sent, like the pages.
        .route(
            passkey::SCRIPT_PATH,
            axum::routing::get(passkey::script).layer(compression()),
        );

    // Pages, server functions and form handlers: sessions and the session gate.
    let pages = Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/sso/start", get(sso::start))
        .route("/auth/sso/callback", get(sso::callback))
        .route("/account/password", post(change_password))
        .route("/auth/second-factor", post(second_factor::second_step))
        .route(
            "/account/second-factor/begin",
            post(second_factor::begin_enrolment),
        )
        .route(
            "/account/second-factor/confirm",
            post(second_factor::confirm_enrolment),
        )
        .route("/account/second-factor/remove", post(second_factor::remove))
        .route(
            "/auth/second-factor/passkey",
            post(passkey::sign_in_options),
        )
        .route(
            "/account/second-factor/passkey/options",
            post(passkey::registration_options),
        )
        .route(
            "/account/second-factor/passkey/challenge",
            post(passkey::account_options),
        )
        .route("/account/second-factor/passkey/add", post(passkey::add))
        .route(
            "/account/second-factor/passkey/remove",
            post(passkey::remove),
        )
        .route(
            "/admins/{username}/second-factor/reset",
            post(people::reset_second_factor),
        )
        .route(
            "/registrations/{client_id}/revoke",
            post(crate::portal::admin::revoke_form),
        )
        .route(
            "/registrations/{client_id}/release",
            post(crate::portal::admin::release_form),
        )
        .route(
            "/registrations/{client_id}/revoke-brand",
            post(crate::portal::admin::revoke_brand_form),
        )
        .route(
            "/registrations/{client_id}/revoke-legal-entity",
            post(crate::portal::admin::revoke_legal_entity_form),
        )
        .route(
            "/registrations/{client_id}/provisioning/retry",
            post(crate::portal::admin::retry_provisioning_form),
        )
        .route(
            "/webhooks/{event_id}/retry",
            post(crate::portal::admin::retry_webhook_form),
        )
        .route("/export/{file}", get(export::download))
        .route("/admins/add", post(people::add))
        .route("/admins/{username}/role", post(people::set_role))
        .route(
            "/admins/{username}/sessions/end",
            post(people::end_sessions_of),
        )
        .route("/admins/{username}/{to}", post(people::set_disabled))
        .route("/account/sessions/end", post(people::end_my_session))
        .route(
            "/account/sessions/end-others",
            post(people::end_my_other_sessions),
        )
        .route(
            "/api/{*fn_name}",
            post({
                let c = leptos_ctx.clone();
                move |req: Request| leptos_axum::handle_server_fns_with_context(c.clone(), req)
            })
            .get({
                let c = leptos_ctx.clone();
                move |req: Request| leptos_axum::handle_server_fns_with_context(c.clone(), req)
            }),
        )
        .leptos_routes_with_context(&options, routes, leptos_ctx.clone(), {
            let options = options.clone();
            move || app::shell(options.clone())
        })
        // Unknown paths get the app's own "not found" page (status 404).
        .fallback(leptos_axum::render_app_to_stream_with_context(
            leptos_ctx,
            {
                let options = options.clone();
                move || app::shell(options.clone())
            },
        ))
        .layer(axum::middleware::from_fn(server_fn_status))
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), gate))
        .layer(sessions)
        // Pages and server functions compressed as they stream, at a level that costs less
        // than rendering them. (The pages hold no secret an attacker could learn from the
        // compressed length beside text they reflect: no CSRF token, the session only in a
        // cookie.)
        .layer(compression())
        .with_state(options);

    Ok(Router::new()
        .merge(assets)
        .merge(pages)
        .layer(axum::middleware::from_fn(csrf))
        .layer(axum::middleware::from_fn_with_state(
            config.portal_tls,
            security_headers,
        ))
        .layer(Extension(ctx)))
}

/// Brotli or gzip, whichever the browser takes, at a level that costs less than rendering.
fn compression() -> CompressionLayer {
    CompressionLayer::new()
        .br(true)
        .gzip(true)
        .quality(CompressionLevel::Precise(4))
}

/// Server functions: `server_fn` answers every error with 500, while the portal's errors say
/// whose they are, so the status follows the error: 401 unauthenticated, 404 not found, 400
/// invalid (arguments that do not decode included), and 500 only when the server could not do
/// its part.
async fn server_fn_status(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if !api || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // An error body is a few hundred bytes of JSON.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<app::error::AdminError>(&bytes) {
        parts.status = match error {
            app::error::AdminError::Unauthenticated => StatusCode::UNAUTHORIZED,
            app::error::AdminError::NotFound => StatusCode::NOT_FOUND,
            app::error::AdminError::Forbidden => StatusCode::FORBIDDEN,
            app::error::AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            app::error::AdminError::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

async fn immutable_cache(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if res.status().is_success() {
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    res
}

/// Security headers on every portal response. The CSP allows our own scripts and the WASM
/// (`'wasm-unsafe-eval'`), and Leptos' inline hydration script through its nonce. A portal
/// served over TLS (`tls`) also tells browsers to use nothing else for a year.
async fn security_headers(State(tls): State<bool>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// CSRF: a state-changing request must come from this origin. Browsers send `Sec-Fetch-Site`;
/// older ones send `Origin`, which must then match `Host`. A request with neither is refused.
async fn csrf(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let same_origin = match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin",
        None => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            match (origin, host) {
                (Some(o), Some(h)) => url::Url::parse(o).ok().is_some_and(|u| {
                    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                    u.host_str().is_some_and(|oh| format!("{oh}{port}") == h)
                }),
                _ => false,
            }
        }
    };
    if same_origin {
        next.run(req).await
    } else {
        tracing::warn!(target: "security", path = %req.uri().path(), "cross-site state-changing request refused");
        (
            StatusCode::FORBIDDEN,
            axum::response::Html("<!DOCTYPE html><title>Refused</title><p>This request did not come from the portal and was refused. <a href=\"/login\">Go to sign-in</a></p>"),
        )
            .into_response()
    }
}

/// Pages other than sign-in need a session. A session ends at the absolute timeout (the idle
/// timeout is the session record's expiry, extended on each request) and when the account
/// changed since sign-in (a new password). A browser that had signed in and comes back
/// without a valid session is told its session ended.
async fn gate(
    State(ctx): State<PortalCtx>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/pkg/") || path == "/favicon.ico" {
        return next.run(req).await;
    }
    let public = path == "/login"
        || path == SECOND_STEP_PAGE
        || path.starts_with("/auth/")
        || path == app::api::SIGN_IN_OPTIONS_PATH;
    // Where to come back to after signing in: the page asked for, with its query.
    let back = (req.method() == Method::GET && !path.starts_with("/api/"))
        .then(|| req.uri().path_and_query().map(|pq| pq.as_str().to_string()))
        .flatten()
        .filter(|p| auth::safe_next(p).is_some());
    let admin = session.get::<String>(SESSION_ADMIN).await.ok().flatten();
    if let Some(username) = &admin {
        match session_check(&ctx, &session, username).await {
            SessionCheck::Valid(account) => {
                let Some(role) = app::dto::Role::parse(&account.role) else {
                    tracing::error!(username = %username, role = %account.role, "portal: an account with an unknown role");
                    return unavailable(&path);
                };
                // A first password set by someone else is replaced before anything else.
                if account.must_change_password
                    && !public
                    && path != "/account"
                    && path != "/account/password"
                    && !path.starts_with("/api/")
                {
                    return Redirect::to("/account?must_change=1").into_response();
                }
                // Without a second factor where one is required, only enrolment is open.
                // (An account of single sign-on has the provider's factors instead.)
                if ctx.config.require_second_factor
                    && !account.has_second_factor()
                    && account.sso_subject.is_none()
                    && !public
                    && !enrolment_path(&path)
                {
                    if path.starts_with("/api/") {
                        return (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({"error": "second_factor_required", "error_description": "Enrol a second factor on the account page first."}))).into_response();
                    }
                    return Redirect::to("/account?sf_required=1#second-factor").into_response();
                }
                let session_key = session
                    .id()
                    .map(|id| crate::portal::sessions::stored_key(&id))
                    .unwrap_or_default();
                req.extensions_mut().insert(app::ssr::Principal {
                    username: username.clone(),
                    role,
                    session_key,
                });
            }
            SessionCheck::Ended(reason) => {
                tracing::info!(target: "security", username = %username, reason, "portal session ended");
                let _ = session.flush().await;
                return if public {
                    next.run(req).await
                } else {
                    clear_marker(&ctx.config, expired(&path, back.as_deref()))
                };
            }
            SessionCheck::Unavailable => return unavailable(&path),
        }
    }
    if public || admin.is_some() {
        return next.run(req).await;
    }
    // A right password waiting for its second step: that step is the only page.
    if !path.starts_with("/api/")
        && session
            .get::<String>(app::ssr::SESSION_PENDING_ADMIN)
            .await
            .ok()
            .flatten()
            .is_some()
    {
        return Redirect::to(SECOND_STEP_PAGE).into_response();
    }
    if has_marker(&ctx.config, req.headers()) {
        return clear_marker(&ctx.config, expired(&path, back.as_deref()));
    }
    if path.starts_with("/api/") {
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "unauthenticated", "error_description": "Sign in first."}))).into_response();
    }
    match back.filter(|b| b != "/") {
        Some(b) => Redirect::to(&format!("/login?next={}", app::dto::encode(&b))).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// The second step of sign-in.
const SECOND_STEP_PAGE: &str = "/login/second-factor";

/// What an account without a required second factor may reach: the account page (to enrol,
/// change the password, see its sessions), its forms, and the server functions it reads.
fn enrolment_path(path: &str) -> bool {
    path == "/account"
        || path == "/account/password"
        || path.starts_with("/account/second-factor/")
        || path.starts_with("/account/sessions/")
        || matches!(
            path,
            "/api/whoami" | "/api/my-second-factor" | "/api/my-sessions"
        )
}

enum SessionCheck {
    /// The account, as it is now.
    Valid(Box<dcr_store::AdminUser>),
    Ended(&'static str),
    /// The store did not answer: refuse this request but keep the session.
    Unavailable,
}

/// Whether a signed-in session may go on.
async fn session_check(ctx: &PortalCtx, session: &Session, username: &str) -> SessionCheck {
    let at = session
        .get::<i64>(SESSION_SIGNED_IN_AT)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    if ctx.state.clock.now() - at >= ctx.config.session_absolute_secs {
        return SessionCheck::Ended("absolute timeout");
    }
    let version = session
        .get::<i64>(SESSION_ACCOUNT_VERSION)
        .await
        .ok()
        .flatten();
    match ctx.state.store.find_admin(username).await {
        Ok(Some(a)) if a.disabled_at.is_some() => SessionCheck::Ended("account disabled"),
        Ok(Some(a)) if Some(a.updated_at) == version => SessionCheck::Valid(Box::new(a)),
        Ok(Some(_)) => SessionCheck::Ended("account changed since sign-in"),
        Ok(None) => SessionCheck::Ended("account no longer exists"),
        Err(e) => {
            tracing::error!(error = %e, "portal: could not check the session's account");
            SessionCheck::Unavailable
        }
    }
}

fn unavailable(path: &str) -> Response {
    if path.starts_with("/api/") {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "unavailable", "error_description": "The portal cannot reach its store."}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::response::Html("<!DOCTYPE html><title>Unavailable</title><p>The portal cannot reach its data store right now. Try again in a moment.</p>"),
        )
            .into_response()
    }
}

/// The answer to a request whose session ended: sign in again, and come back to `back`.
fn expired(path: &str, back: Option<&str>) -> Response {
    if path.starts_with("/api/") {
        (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "unauthenticated", "error_description": "Your session has ended."}))).into_response()
    } else {
        match back.filter(|b| *b != "/") {
            Some(b) => Redirect::to(&format!(
                "/login?error=expired&next={}",
                app::dto::encode(b)
            ))
            .into_response(),
            None => Redirect::to("/login?error=expired").into_response(),
        }
    }
}
