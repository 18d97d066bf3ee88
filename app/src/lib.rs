//! The Data Holder administrators' portal: a Leptos app rendered on the server and hydrated by
//! WASM. Pages work as plain HTML before the WASM arrives (links, GET forms for search, POST
//! forms for changes) and get better after (navigation without reloads, a dialog to confirm a
//! revocation).
//!
//! The app owns its DTOs ([`dto`]) and reaches the store only through server functions
//! ([`api`]), which exist on the server side only (`ssr` feature). Every route is rendered with
//! [`SsrMode::Async`]: the server waits for the page's data and sends complete HTML, so nothing
//! depends on script to appear.

// The account and registration pages' views are deep nested types; their layout in the
// browser build goes past the default limit of 128.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod dto;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment, WildcardSegment};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let css = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    #[cfg(feature = "ssr")]
    ssr::content_security_policy();
    // The zone times are shown in, for the browser to write them as the server did.
    let zone = use_context::<dto::DisplayZone>().unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en" data-time-zone=zone.name().to_string()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="stylesheet" href=css/>
                <link rel="icon" href="/favicon.ico"/>
                // Passkeys' browser part (server/src/portal/passkey.js): small, same-origin.
                <script src="/passkey.js" defer></script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The portal's routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // On the server the zone is context already; the browser reads it from the page.
    #[cfg(feature = "hydrate")]
    provide_context(
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|html| html.get_attribute("data-time-zone"))
            .and_then(|name| dto::DisplayZone::named(&name))
            .unwrap_or_default(),
    );
    view! {
        <Title text="DCR Admin"/>
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=StaticSegment("login") view=pages::login::LoginPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("login"), StaticSegment("second-factor")) view=pages::second_factor::SecondFactorPage ssr=SsrMode::Async/>
                <ParentRoute path=StaticSegment("") view=pages::layout::AppLayout ssr=SsrMode::Async>
                    <Route path=StaticSegment("") view=pages::registrations::RegistrationsPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("registrations"), ParamSegment("client_id"))
                        view=pages::registration::RegistrationPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("overview") view=pages::overview::OverviewPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("audit") view=pages::audit::AuditPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("provisioning") view=pages::provisioning::ProvisioningPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("webhooks") view=pages::webhooks::WebhooksPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("account") view=pages::account::AccountPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admins") view=pages::admins::AdminsPage ssr=SsrMode::Async/>
                    <Route path=WildcardSegment("any") view=pages::NotFound ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Hydrates the server-rendered page and marks the document once interactive, so that tests
/// (and people) can tell the WASM has taken over.
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    leptos::mount::hydrate_body(App);
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.dataset().set("hydrated", "true");
    }
}
