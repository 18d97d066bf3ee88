//! Pages of the portal.

pub mod account;
pub mod audit;
pub mod layout;
pub mod login;
pub mod registration;
pub mod registrations;

use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · DCR Admin"/>
        <main class="centered">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <p><a href="/">"Back to registrations"</a></p>
        </main>
    }
}
