//! The frame around every signed-in page: a skip link, the top bar with the main navigation and
//! the signed-in administrator, and the page content.

use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_location;

use crate::api::whoami;

/// The signed-in pages' frame.
#[component]
pub fn AppLayout() -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <TopBar/>
        <main id="main" class="content" tabindex="-1">
            <Outlet/>
        </main>
    }
}

/// Header bar with the main navigation, the signed-in administrator and a sign-out form (a
/// plain form post, so it works before the WASM arrives).
#[component]
pub fn TopBar() -> impl IntoView {
    let who = Resource::new(|| (), |()| whoami());
    let path = use_location().pathname;
    let current = move |section: &'static str| {
        let p = path.get();
        let here = match section {
            "/" => p == "/" || p.starts_with("/registrations/"),
            other => p == other || p.starts_with(&format!("{other}/")),
        };
        here.then_some("page")
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"DH"</span>
                "DCR Admin"
            </a>
            <nav aria-label="Main">
                <a href="/" aria-current=move || current("/")>"Registrations"</a>
                <a href="/audit" aria-current=move || current("/audit")>"Audit log"</a>
                <a href="/account" aria-current=move || current("/account")>"Account"</a>
            </nav>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    who.await.ok().flatten().map(|m| view! {
                        <form method="post" action="/auth/logout" class="signout">
                            <span class="who" title="Signed in as">{m.username}</span>
                            <button type="submit" class="btn btn-ghost">"Sign out"</button>
                        </form>
                    })
                })}
            </Suspense>
        </header>
    }
}
