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
