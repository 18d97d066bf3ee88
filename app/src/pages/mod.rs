//! Pages of the portal.

pub mod account;
pub mod admins;
pub mod audit;
pub mod layout;
pub mod login;
pub mod overview;
pub mod provisioning;
pub mod registration;
pub mod registrations;
pub mod second_factor;
pub mod webhooks;

use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for unknown paths, in the signed-in frame (header and navigation), answered with 404.
#[component]
pub fn NotFound() -> impl IntoView {
    not_found_status();
    view! {
        <Title text="Not found · DCR Admin"/>
        <div class="empty card">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <p><a class="btn btn-ghost" href="/">"Back to registrations"</a></p>
        </div>
    }
}

/// Answers the page being rendered with 403 Forbidden (on the server).
pub fn forbidden_status() {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::FORBIDDEN);
    }
}

/// Answers the page being rendered with 404 Not Found. (On the server; a page rendered in the
/// browser has no status.)
pub fn not_found_status() {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
}
