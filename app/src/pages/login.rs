//! Sign-in. A plain HTML form posting to `/auth/login`, so it works before (or without) the
//! WASM; once hydrated, the "show password" control works too. With single sign-on configured,
//! a link to `/auth/sso/start` comes first (and, when local passwords are off, alone).

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
            Some("disabled") => {
                Some("This account is disabled. Ask an administrator to enable it.")
            }
            Some("sso_unavailable") => Some("The sign-in provider cannot be reached right now. Try again in a moment."),
            Some("sso_failed") => Some("Single sign-on did not complete: the sign-in provider's answer was not accepted. Try again."),
            Some("sso_expired") => Some("That single sign-on took too long or began in another browser. Try again."),
            Some("sso_denied") => Some("The sign-in provider did not sign you in."),
            Some("sso_no_role") => Some("Your account at the sign-in provider has no role in this portal. Ask an administrator for access."),
            Some("sso_taken") => Some("A local account already has the username your sign-in provider gives. Ask an administrator."),
            Some("local_off") => Some("Passwords are turned off here: sign in with single sign-on."),
            Some(_) => Some("The username or password is not correct."),
            None => None,
        })
    };
    let signed_out = move || query.with(|q| q.get("signed_out").is_some());
    // Where to go once signed in (the server checks it is a page of the portal).
    let next = move || query.with(|q| q.get("next").unwrap_or_default());
    // After a failed sign-in the server sends the username typed back (a cookie the browser
    // keeps for this page only), and the form shows it again; the password never comes back.
    // Only the server reads it: the value is in the rendered HTML, which hydration keeps.
    #[cfg(feature = "ssr")]
    let username = query
        .with_untracked(|q| q.get_str("error").is_some())
        .then(crate::ssr::sign_in_username)
        .flatten()
        .unwrap_or_default();
    #[cfg(not(feature = "ssr"))]
    let username = String::new();
    let focus_password = !username.is_empty();
    let (show, set_show) = signal(false);
    let options = Resource::new(|| (), |()| crate::api::sign_in_options());
    let sso_link = move |label: String| {
        let next = next();
        let href = if next.is_empty() {
            "/auth/sso/start".to_string()
        } else {
            format!("/auth/sso/start?next={}", crate::dto::encode(&next))
        };
        view! { <a class="btn btn-primary sso" href=href rel="external">{label}</a> }
    };
    view! {
        <Title text="Sign in · DCR Admin"/>
        <main class="login">
            <form class="card login-card" method="post" action="/auth/login">
                <h1>"Data Holder DCR"</h1>
                <p class="muted">"Administrators sign in to manage registered software products."</p>
                {move || message().map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
                {move || signed_out().then(|| view! { <p class="alert alert-info" role="status">"You have signed out."</p> })}
                <Suspense fallback=|| ()>
                    {move || options.get().map(|o| {
                        let o = o.unwrap_or_default();
                        let local = o.local_passwords;
                        view! {
                            {o.single_sign_on.map(sso_link)}
                            {(!local).then(|| view! { <p class="muted">"Local passwords are turned off: people sign in through the Data Holder's sign-in provider."</p> })}
                            {local.then(|| view! { <LocalFields username=username.clone() focus_password show set_show next/> })}
                        }
                    })}
                </Suspense>
            </form>
        </main>
    }
}

/// The username and password fields of a local account.
#[component]
fn LocalFields(
    username: String,
    focus_password: bool,
    show: ReadSignal<bool>,
    set_show: WriteSignal<bool>,
    next: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    view! {
                <input type="hidden" name="next" value=next/>
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required value=username autofocus=!focus_password/>
                <label for="password">"Password"</label>
                <div class="password-row">
                    <input
                        id="password"
                        name="password"
                        type=move || if show.get() { "text" } else { "password" }
                        autocomplete="current-password"
                        required
                        autofocus=focus_password
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
    }
}
