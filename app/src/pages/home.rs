//! The landing page after sign-in.

use leptos::prelude::*;

use crate::api::whoami;

/// Header bar with the signed-in administrator and a sign-out form.
#[component]
pub fn TopBar() -> impl IntoView {
    let who = Resource::new(|| (), |()| whoami());
    view! {
        <header class="topbar">
            <a class="brand" href="/">"DCR Admin"</a>
            <nav aria-label="Main">
                <a href="/">"Registrations"</a>
            </nav>
            <Suspense fallback=|| ()>
                {move || who.get().and_then(Result::ok).flatten().map(|m| view! {
                    <form method="post" action="/auth/logout" class="signout">
                        <span class="muted">{m.username}</span>
                        <button type="submit" class="btn btn-ghost">"Sign out"</button>
                    </form>
                })}
            </Suspense>
        </header>
    }
}

/// Home.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <TopBar/>
        <main class="content">
            <h1>"Registrations"</h1>
            <p class="muted">"Registered software products appear here."</p>
        </main>
    }
}
