//! The frame around every signed-in page: a skip link, the top bar with the main navigation and
//! the signed-in administrator, and the page content.

use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_location;

use crate::api::whoami;
use crate::dto::Role;

/// The signed-in pages' frame.
#[component]
pub fn AppLayout() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    focus_content_after_navigation();
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <TopBar/>
        <main id="main" class="content" tabindex="-1">
            <Outlet/>
        </main>
    }
}

/// After an in-app navigation to another page, focus moves to the page's content, as after a
/// page load, so that a screen reader reads the new page instead of staying on the link that was
/// followed. (A new search or page of the same list keeps the focus where it is.)
#[cfg(feature = "hydrate")]
fn focus_content_after_navigation() {
    use wasm_bindgen::JsCast as _;
    let path = use_location().pathname;
    Effect::new(move |previous: Option<String>| {
        let now = path.get();
        if previous.is_some_and(|p| p != now) {
            let main = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("main"))
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(main) = main {
                let _ = main.focus();
            }
        }
        now
    });
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
            <a class="brand" href="/overview">
                <span class="brand-mark" aria-hidden="true">"DH"</span>
                "DCR Admin"
            </a>
            <nav aria-label="Main">
                <a href="/overview" aria-current=move || current("/overview")>"Overview"</a>
                <a href="/" aria-current=move || current("/")>"Registrations"</a>
                <a href="/audit" aria-current=move || current("/audit")>"Audit log"</a>
                <a href="/provisioning" aria-current=move || current("/provisioning")>"Provisioning"</a>
                <a href="/webhooks" aria-current=move || current("/webhooks")>"Webhooks"</a>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        who.await.ok().flatten().filter(|m| m.role == Role::Administrator).map(|_| view! {
                            <a href="/admins" aria-current=move || current("/admins")>"People"</a>
                        })
                    })}
                </Suspense>
                <a href="/account" aria-current=move || current("/account")>"Account"</a>
            </nav>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    who.await.ok().flatten().map(|m| view! {
                        <form method="post" action="/auth/logout" class="signout">
                            <span class="who" title="Signed in as">{m.username}<span class="muted">{format!(" · {}", m.role.label())}</span></span>
                            <button type="submit" class="btn btn-ghost">"Sign out"</button>
                        </form>
                    })
                })}
            </Suspense>
        </header>
    }
}
