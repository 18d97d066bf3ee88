//! The second step of sign-in (`/login/second-factor`): after a right password, an account with
//! a second factor uses one of its passkeys, or gives a code from its authenticator app or one
//! of its recovery codes. Plain HTML forms posting to `/auth/second-factor`; the passkey's form
//! needs the portal's script (`/passkey.js`), and without it the page says so.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The second-step page.
#[component]
pub fn SecondFactorPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|q| match q.get("error").as_deref() {
            Some("throttled") => Some("Too many wrong codes. Wait a few minutes and try again."),
            Some("unavailable") => Some("Sign-in is unavailable right now. Try again in a moment."),
            Some("passkey") => Some("The passkey was not accepted. Try again, or use a code."),
            Some(_) => Some("That code is not correct, or was used already."),
            None => None,
        })
    };
    view! {
        <Title text="Second factor · DCR Admin"/>
        <main class="login">
            <form class="card login-card" method="post" action="/auth/second-factor">
                <h1>"Data Holder DCR"</h1>
                {move || message().map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
                <p class="muted">"Enter the 6-digit code your authenticator app shows for this portal, or one of your recovery codes."</p>
                <label for="code">"Code"</label>
                <input id="code" name="code" type="text" inputmode="text" autocomplete="one-time-code" required autofocus maxlength="32"/>
                <button type="submit" class="btn btn-primary">"Continue"</button>
                <p class="muted"><a href="/login">"Back to sign-in"</a></p>
            </form>
            <form class="card login-card passkey-js" method="post" action="/auth/second-factor" data-passkey="get" data-passkey-options="/auth/second-factor/passkey">
                <p class="muted">"Or use a passkey of this account."</p>
                <input type="hidden" name="passkey" value=""/>
                <p class="field-error" role="alert" data-passkey-status=""></p>
                <button type="submit" class="btn btn-primary">"Use a passkey"</button>
            </form>
            <p class="card login-card muted passkey-nojs">"Passkeys need JavaScript and a browser that supports them; a code from your authenticator app or a recovery code works without."</p>
        </main>
    }
}
