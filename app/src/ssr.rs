//! Server-side helpers for the portal's server functions: the shared state and the session.

use tower_sessions::Session;

/// Session key holding the signed-in administrator's username.
pub const SESSION_ADMIN: &str = "admin";
/// Session key holding when the session was signed in (Unix seconds), for the absolute timeout.
pub const SESSION_SIGNED_IN_AT: &str = "signed_in_at";

/// State the portal's server functions need, provided as Leptos context by the server.
#[derive(Clone)]
pub struct PortalState {
    /// The store.
    pub store: dcr_store::Store,
    /// Injected time.
    pub clock: dcr_core::clock::SharedClock,
}

/// The signed-in administrator's username, if the request carries a valid session.
pub async fn current_admin() -> Option<String> {
    let session: Session = leptos_axum::extract().await.ok()?;
    session.get::<String>(SESSION_ADMIN).await.ok().flatten()
}

/// Sets the Content-Security-Policy of the page being rendered, allowing Leptos' inline
/// hydration script through its per-response nonce and the WASM through `'wasm-unsafe-eval'`.
pub fn content_security_policy() {
    use leptos::prelude::use_context;
    let Some(res) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{nonce}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'; object-src 'none'"
    );
    if let Ok(v) = http::HeaderValue::from_str(&csp) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}
