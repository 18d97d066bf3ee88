//! The admin portal's listener: Leptos pages rendered on the server, the WASM bundle and styles,
//! server functions under `/api`, and the sign-in / sign-out form handlers (plain HTML forms, so
//! they work before the WASM arrives).
//!
//! # Security
//! Sessions live in the store (tower-sessions); the cookie is `HttpOnly`, `SameSite=Strict` and
//! `Secure` unless the portal is plain HTTP on a loopback address (local development). Every
//! state-changing request must come from our own origin (`Sec-Fetch-Site` / `Origin` check), which
//! covers server functions too. Responses carry a CSP with a per-response nonce for Leptos'
//! inline hydration script.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::ssr::{PortalState, SESSION_ADMIN, SESSION_SIGNED_IN_AT};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde::Deserialize;
use tower_http::services::{ServeDir, ServeFile};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::config::Config;
use crate::password;
use crate::session_store::StoreSessions;
use crate::tls::ConnectionInfo;

/// Shared by the portal's own handlers.
#[derive(Clone)]
pub struct PortalCtx {
    state: PortalState,
    config: Arc<Config>,
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

/// Builds the portal router.
pub fn router(state: PortalState, config: Arc<Config>) -> Router {
    let site_root: PathBuf = config.site_root.clone();
    let pkg = pkg_dir(&site_root);
    let options = LeptosOptions::builder()
        .output_name("dcr-portal")
        .site_root(site_root.display().to_string())
        .site_pkg_dir(pkg.clone())
        .build();
    let routes = generate_route_list(app::App);

    let secure = !config.portal_addr.ip().is_loopback() || config.portal_tls;
    let sessions =
        SessionManagerLayer::new(StoreSessions::new(state.store.clone(), state.clock.clone()))
            .with_name("dcr_session")
            .with_secure(secure)
            .with_http_only(true)
            .with_same_site(SameSite::Strict)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
                config.session_idle_secs,
            )));

    let ctx = PortalCtx {
        state: state.clone(),
        config: config.clone(),
    };
    let ctx_state = state.clone();
    let leptos_ctx = move || {
        provide_context(ctx_state.clone());
    };

    let assets = Router::new()
        .nest_service(&format!("/{pkg}"), ServeDir::new(site_root.join(&pkg)))
        .layer(axum::middleware::from_fn(immutable_cache));

    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
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
        .leptos_routes_with_context(&options, routes, leptos_ctx, {
            let options = options.clone();
            move || app::shell(options.clone())
        })
        .route_service(
            "/favicon.ico",
            ServeFile::new(site_root.join("favicon.ico")),
        )
        .merge(assets)
        .fallback(get(not_found))
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), gate))
        .layer(sessions)
        .layer(axum::middleware::from_fn(csrf))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(Extension(ctx))
        .with_state(options)
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, axum::response::Html("<!DOCTYPE html><title>Not found</title><p>Page not found. <a href=\"/\">Back to registrations</a></p>"))
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
/// (`'wasm-unsafe-eval'`), and Leptos' inline hydration script through its nonce.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
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

/// Pages other than sign-in need a session; sessions past the absolute timeout are ended.
async fn gate(
    State(ctx): State<PortalCtx>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let public = path == "/login"
        || path.starts_with("/auth/")
        || path.starts_with("/pkg/")
        || path == "/favicon.ico";
    let signed_in = session
        .get::<String>(SESSION_ADMIN)
        .await
        .ok()
        .flatten()
        .is_some();
    if signed_in {
        let at = session
            .get::<i64>(SESSION_SIGNED_IN_AT)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        if ctx.state.clock.now() - at >= ctx.config.session_absolute_secs {
            let _ = session.flush().await;
            return expired(&path);
        }
    }
    if public || signed_in {
        return next.run(req).await;
    }
    if path.starts_with("/api/") {
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "unauthenticated", "error_description": "Sign in first."}))).into_response();
    }
    Redirect::to("/login").into_response()
}

fn expired(path: &str) -> Response {
    if path.starts_with("/api/") {
        (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "unauthenticated", "error_description": "Your session has ended."}))).into_response()
    } else {
        Redirect::to("/login?error=expired").into_response()
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(
    Extension(ctx): Extension<PortalCtx>,
    conn: Option<Extension<ConnectionInfo>>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = ctx.state.clock.now();
    let peer = conn.map(|c| c.0.peer.ip().to_string()).unwrap_or_default();
    let username = form.username.trim().to_string();
    if username.is_empty() || username.len() > 128 || form.password.len() > 1024 {
        return Redirect::to("/login?error=1").into_response();
    }
    let user = match ctx.state.store.find_admin(&username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "sign-in: store failure");
            return Redirect::to("/login?error=unavailable").into_response();
        }
    };
    // Same work whether or not the account exists: verify against a dummy hash otherwise.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = password::verify(form.password, hash).await;
    if !(ok && user.is_some()) {
        tracing::info!(target: "security", %peer, "portal sign-in failed");
        return Redirect::to("/login?error=1").into_response();
    }
    if let Err(e) = session.cycle_id().await {
        tracing::error!(error = %e, "sign-in: session rotation failed");
        return Redirect::to("/login?error=unavailable").into_response();
    }
    let stored = session.insert(SESSION_ADMIN, &username).await.is_ok()
        && session.insert(SESSION_SIGNED_IN_AT, now).await.is_ok();
    if !stored {
        return Redirect::to("/login?error=unavailable").into_response();
    }
    let _ = ctx
        .state
        .store
        .append_audit(&dcr_store::NewAuditEvent {
            occurred_at: now,
            actor: format!("admin:{username}"),
            action: "admin.sign_in".into(),
            after_state: Some(serde_json::json!({ "address": peer }).to_string()),
            ..Default::default()
        })
        .await;
    tracing::info!(target: "security", %peer, username = %username, "portal sign-in");
    Redirect::to("/").into_response()
}

async fn logout(session: Session) -> Response {
    let _ = session.flush().await;
    let mut res = Redirect::to("/login?signed_out=1").into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
