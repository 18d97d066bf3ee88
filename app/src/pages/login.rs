//! Sign-in. A plain HTML form posting to `/auth/login`, so it works before (or without) the
//! WASM; once hydrated, the "show password" control works too.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|q| match q.get("error").as_deref() {
            Some("throttled") => {
                Some("Too many failed attempts. Wait a few minutes and try again.")
            }
            Some("expired") => Some("Your session has ended. Please sign in again."),
            Some("csrf") => Some("The form was not accepted. Reload the page and try again."),
            Some("unavailable") => Some("Sign-in is unavailable right now. Try again in a moment."),
            Some(_) => Some("The username or password is not correct."),
            None => None,
        })
    };
    let signed_out = move || query.with(|q| q.get("signed_out").is_some());
    let (show, set_show) = signal(false);
    view! {
        <Title text="Sign in · DCR Admin"/>
        <main class="login">
            <form class="card login-card" method="post" action="/auth/login">
                <h1>"Data Holder DCR"</h1>
                <p class="muted">"Administrators sign in to manage registered software products."</p>
                {move || message().map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
                {move || signed_out().then(|| view! { <p class="alert alert-info" role="status">"You have signed out."</p> })}
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required autofocus/>
                <label for="password">"Password"</label>
                <div class="password-row">
                    <input
                        id="password"
                        name="password"
                        type=move || if show.get() { "text" } else { "password" }
                        autocomplete="current-password"
                        required
                    />
                    <button
                        type="button"
                        class="btn btn-ghost"
                        aria-controls="password"
                        aria-pressed=move || show.get().to_string()
                        on:click=move |_| set_show.update(|s| *s = !*s)
                    >
                        {move || if show.get() { "Hide" } else { "Show" }}
                    </button>
                </div>
                <button type="submit" class="btn btn-primary">"Sign in"</button>
            </form>
        </main>
    }
}
