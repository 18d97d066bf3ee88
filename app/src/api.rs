//! Server functions of the portal. Each one that touches data starts by checking the session.

use leptos::prelude::*;

use crate::dto::Me;

/// The signed-in administrator, if any.
#[server(prefix = "/api", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Me>, ServerFnError> {
    use crate::ssr::current_admin;
    Ok(current_admin().await.map(|username| Me { username }))
}
