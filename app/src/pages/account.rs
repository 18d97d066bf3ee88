//! The administrator's own account (`/account`): change the password. A plain form post to
//! `/account/password`, which answers with a redirect back here and a message.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::whoami;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The account page.
#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    let who = Resource::new(|| (), |()| whoami());
    let message = move || {
        query.with(|q| match (q.get_str("changed"), q.get_str("error")) {
            (Some(_), _) => Some((
                true,
                "Your password is changed. Other sessions of this account have been signed out.",
            )),
            (_, Some("current")) => Some((false, "The current password is not correct.")),
            (_, Some("mismatch")) => Some((false, "The new password and its confirmation differ.")),
            (_, Some("short")) => Some((
                false,
                "The new password must be at least 12 characters (and at most 1024 bytes).",
            )),
            (_, Some("same")) => Some((
                false,
                "The new password must differ from the current one and from your username.",
            )),
            (_, Some("throttled")) => Some((
                false,
                "Too many failed attempts. Wait a few minutes and try again.",
            )),
            (_, Some(_)) => Some((
                false,
                "The password could not be changed. Try again in a moment.",
            )),
            _ => None,
        })
    };
    view! {
        <Title text="Account · DCR Admin"/>
        <div class="page-head">
            <h1>"Account"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    who.await.ok().flatten().map(|m| view! {
                        <p class="muted">"Signed in as " <strong>{m.username}</strong></p>
                    })
                })}
            </Suspense>
        </div>
        <section class="card narrow" aria-labelledby="h-password">
            <h2 id="h-password">"Change password"</h2>
            {move || message().map(|(ok, text)| view! {
                <p class=if ok { "alert alert-ok" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>{text}</p>
            })}
            <form method="post" action="/account/password" class="stack">
                <label for="current_password">"Current password"</label>
                <input id="current_password" name="current_password" type="password" autocomplete="current-password" required/>
                <label for="new_password">"New password"</label>
                <p class="hint" id="new-password-hint">"At least 12 characters. A passphrase of several words is easy to type and hard to guess."</p>
                <input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="12" aria-describedby="new-password-hint"/>
                <label for="confirm_password">"Confirm new password"</label>
                <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required minlength="12"/>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary">"Change password"</button>
                </div>
            </form>
        </section>
    }
}
