//! Pages of the portal.

pub mod home;
pub mod login;

use leptos::prelude::*;

/// Shown for unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="centered">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to registrations"</a></p>
        </main>
    }
}
