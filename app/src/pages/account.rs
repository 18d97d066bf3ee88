//! The signed-in person's own account (`/account`): change the password, enrol or remove a
//! second factor, and see and end their sessions. Plain form posts (`/account/password`,
//! `/account/second-factor/...`, `/account/sessions/...`), each answered with a redirect back
//! here and a message.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{my_second_factor, my_sessions, whoami};
use crate::components::{ErrorPanel, Loading, Time};
use crate::dto::{PasskeyItem, SecondFactorState, SessionItem};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The account page.
#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    let who = Resource::new(|| (), |()| whoami());
    let sessions = Resource::new(|| (), |()| my_sessions());
    let factor = Resource::new(|| (), |()| my_second_factor());
    let factor_message = move || {
        query.with(|q| match (q.get_str("sf_done"), q.get_str("sf_error")) {
            (Some("enrolled"), _) => Some((
                true,
                "Your authenticator app is enrolled: sign-in now asks for a code from it.",
            )),
            (Some("removed"), _) => Some((true, "Your second factor is removed.")),
            (Some("passkey_added"), _) => Some((
                true,
                "Your passkey is added: sign-in can now use it as your second factor.",
            )),
            (Some("passkey_removed"), _) => Some((true, "The passkey is removed.")),
            (_, Some("passkey")) => Some((
                false,
                "The passkey was not accepted: the browser's answer did not verify. Try again.",
            )),
            (_, Some("passkey_name")) => {
                Some((false, "Give the passkey a name of at most 64 characters."))
            }
            (_, Some("passkey_taken")) => Some((false, "That passkey is registered already.")),
            (_, Some("no_passkey")) => Some((false, "There is no such passkey.")),
            (_, Some("passkeys_off")) => Some((false, "This portal does not offer passkeys.")),
            (_, Some("current")) => Some((false, "The current password is not correct.")),
            (_, Some("code")) => Some((false, "That code is not correct, or was used already.")),
            (_, Some("throttled")) => Some((
                false,
                "Too many failed attempts. Wait a few minutes and try again.",
            )),
            (_, Some("no_enrolment")) => {
                Some((false, "Start the enrolment again: no secret was waiting."))
            }
            (_, Some("enrolled")) => Some((false, "A second factor is enrolled already.")),
            (_, Some("not_enrolled")) => Some((false, "There is no second factor to remove.")),
            (_, Some(_)) => Some((
                false,
                "The change could not be made. Try again in a moment.",
            )),
            _ => None,
        })
    };
    let must_change = move || query.with(|q| q.get_str("must_change").is_some());
    let session_message = move || {
        query.with(|q| match (q.get_str("done"), q.get_str("error")) {
            (Some("session_ended"), _) => Some((true, "That session has ended.".to_string())),
            (Some("others_ended"), _) => Some((
                true,
                format!(
                    "Your other sessions have ended ({}).",
                    q.get("n").unwrap_or_else(|| "0".into())
                ),
            )),
            (_, Some("session")) => Some((false, "That session had already ended.".to_string())),
            _ => None,
        })
    };
    let message = move || {
        query.with(|q| match (q.get_str("changed"), q.get_str("error")) {
            (Some(_), _) => Some((
                true,
                "Your password is changed. Other sessions of this account have been signed out.",
            )),
            (_, Some("current")) => Some((false, "The current password is not correct.")),
            (_, Some("mismatch")) => Some((false, "The new password and its confirmation differ.")),
            (_, Some("sso")) => Some((
                false,
                "You sign in through single sign-on: your password is kept by the sign-in provider.",
            )),
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
        {move || must_change().then(|| view! {
            <p class="alert alert-info" role="status">"Your password was set by an administrator. Choose your own to continue: the rest of the portal opens once it is changed."</p>
        })}
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
        <section class="card narrow" id="second-factor" aria-labelledby="h-second-factor">
            <h2 id="h-second-factor">"Second factor"</h2>
            {move || factor_message().map(|(ok, text)| view! {
                <p class=if ok { "alert alert-ok" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>{text}</p>
            })}
            <Transition fallback=|| view! { <Loading what="your second factor"/> }>
                {move || Suspend::new(async move {
                    match factor.await {
                        Ok(state) => second_factor_card(state).into_any(),
                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card" id="sessions" aria-labelledby="h-sessions">
            <h2 id="h-sessions">"Sessions"</h2>
            <p class="muted">"Where you are signed in. End a session you do not recognise, then change your password."</p>
            {move || session_message().map(|(ok, text)| view! {
                <p class=if ok { "alert alert-ok" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>{text}</p>
            })}
            <Transition fallback=|| view! { <Loading what="your sessions"/> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => sessions_table(list).into_any(),
                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn sessions_table(list: Vec<SessionItem>) -> impl IntoView {
    let others = list.iter().filter(|s| !s.current).count();
    view! {
        <div class="table-wrap">
            <table class="data sessions-table">
                <caption class="sr-only">"Your sessions, the most recently used first"</caption>
                <thead><tr>
                    <th scope="col">"Browser"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Signed in"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col"><span class="sr-only">"Action"</span></th>
                </tr></thead>
                <tbody>
                    {list.into_iter().map(|s| view! {
                        <tr>
                            <td data-label="Browser">{s.user_agent.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| "Unknown browser".into())}
                                {s.current.then(|| view! { <div class="sub"><strong>"This browser"</strong></div> })}</td>
                            <td data-label="Address" class="mono">{s.address.clone().unwrap_or_default()}</td>
                            <td data-label="Signed in">{s.signed_in_at.map(|t| view! { <Time secs=t/> })}</td>
                            <td data-label="Last used">{s.last_seen_at.map(|t| view! { <Time secs=t/> })}</td>
                            <td data-label="Action">
                                <form method="post" action="/account/sessions/end">
                                    <input type="hidden" name="session" value=s.key.clone()/>
                                    <button type="submit" class="btn btn-ghost">{if s.current { "End this session" } else { "End session" }}</button>
                                </form>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="form-actions">
            {(others > 0).then(|| view! {
                <form method="post" action="/account/sessions/end-others">
                    <button type="submit" class="btn btn-danger">"End all other sessions"</button>
                </form>
            })}
            <form method="post" action="/account/sessions/end-others">
                <input type="hidden" name="everywhere" value="yes"/>
                <button type="submit" class="btn btn-ghost">"End every session, this one too"</button>
            </form>
        </div>
    }
}

fn second_factor_card(state: SecondFactorState) -> impl IntoView {
    let codes = (!state.new_recovery_codes.is_empty()).then(|| {
        let list = state.new_recovery_codes.clone();
        view! {
            <div class="alert alert-info" role="status">
                <p><strong>"Your recovery codes"</strong>" (shown only now): each signs in once in place of a code from the app. Keep them somewhere safe, apart from your device."</p>
                <ul class="mono recovery-codes">
                    {list.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                </ul>
            </div>
        }
    });
    let needs = state.required && state.passkeys.is_empty();
    let body = match (state.enrolled_at, state.pending) {
        (Some(at), _) => view! {
            <p>"Sign-in asks for a code from your authenticator app, enrolled " <Time secs=at/> ". "
                {format!("{} unused recovery codes left.", state.recovery_codes_left)}</p>
            <form method="post" action="/account/second-factor/remove" class="stack">
                <label for="sf_remove_password">"Current password"</label>
                <input id="sf_remove_password" name="current_password" type="password" autocomplete="current-password" required/>
                <label for="sf_remove_code">"Code from the app (or a recovery code)"</label>
                <input id="sf_remove_code" name="code" type="text" autocomplete="one-time-code" required maxlength="32"/>
                <div class="form-actions"><button type="submit" class="btn btn-danger">"Remove second factor"</button></div>
            </form>
        }.into_any(),
        (None, Some((uri, secret))) => view! {
            <p>"Add this account to your authenticator app: open the link on the device, or type the key in by hand (time-based, SHA-1, 6 digits, 30 seconds). Then enter the code the app shows."</p>
            <p><a class="mono" href=uri.clone()>{uri.clone()}</a></p>
            <p>"Key: "<code class="mono" id="totp-secret">{secret}</code></p>
            <form method="post" action="/account/second-factor/confirm" class="stack">
                <label for="sf_password">"Current password"</label>
                <input id="sf_password" name="current_password" type="password" autocomplete="current-password" required/>
                <label for="sf_code">"Code from the app"</label>
                <input id="sf_code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required maxlength="10"/>
                <div class="form-actions"><button type="submit" class="btn btn-primary">"Enrol"</button></div>
            </form>
        }.into_any(),
        (None, None) => view! {
            {needs.then(|| view! {
                <p class="alert alert-info" role="status">"This portal requires a second factor: the rest of it opens once you have enrolled one."</p>
            })}
            <p>"Sign-in can ask for a code from an authenticator app on your phone as well as your password."</p>
            <form method="post" action="/account/second-factor/begin">
                <div class="form-actions"><button type="submit" class="btn btn-primary">"Set up an authenticator app"</button></div>
            </form>
        }.into_any(),
    };
    let passkeys = passkeys_block(
        state.passkeys,
        state.passkeys_offered,
        state.enrolled_at.is_some(),
    );
    view! { {codes} <h3>"Authenticator app"</h3> {body} {passkeys} }
}

/// The account's passkeys, each with its removal form, and the form adding one. Both need the
/// script (`/passkey.js`); without it the page says so (the `passkey-js` parts stay hidden).
fn passkeys_block(list: Vec<PasskeyItem>, offered: bool, has_totp: bool) -> AnyView {
    if !offered {
        return view! {
            <div id="passkeys">
                <h3>"Passkeys"</h3>
                <p class="muted">"This portal does not offer passkeys: its public address (portal.public_origin) is not configured."</p>
            </div>
        }
        .into_any();
    }
    let items = list
        .into_iter()
        .map(|p| passkey_item(p, has_totp))
        .collect_view();
    view! {
        <div id="passkeys">
            <h3>"Passkeys"</h3>
            <p>"A passkey on this device (or your phone, or a security key) can be your second factor at sign-in, in place of a code."</p>
            <p class="alert alert-info passkey-nojs" role="note">"Passkeys need JavaScript and a browser that supports them. Without them, use an authenticator app: it works without JavaScript."</p>
            <ul class="passkey-list">{items}</ul>
            <form method="post" action="/account/second-factor/passkey/add" class="stack passkey-js" data-passkey="create" data-passkey-options="/account/second-factor/passkey/options">
                <label for="pk_name">"Name of the new passkey"</label>
                <input id="pk_name" name="name" type="text" required maxlength="64" autocomplete="off"/>
                <label for="pk_password">"Confirm with your password"</label>
                <input id="pk_password" name="current_password" type="password" autocomplete="current-password" required/>
                <input type="hidden" name="passkey" value=""/>
                <p class="field-error" role="alert" data-passkey-status=""></p>
                <div class="form-actions"><button type="submit" class="btn btn-primary">"Add a passkey"</button></div>
            </form>
        </div>
    }
    .into_any()
}

fn passkey_item(p: PasskeyItem, has_totp: bool) -> AnyView {
    let id = format!("pk_remove_{}", p.id);
    let code_id = format!("pk_remove_code_{}", p.id);
    view! {
        <li>
            <strong>{p.name.clone()}</strong>" · added " <Time secs=p.created_at/>
            {p.last_used_at.map(|t| view! { " · last used " <Time secs=t/> })}
            <details>
                <summary>{format!("Remove {}", p.name)}</summary>
                <form method="post" action="/account/second-factor/passkey/remove" class="stack" data-passkey="get" data-passkey-options="/account/second-factor/passkey/challenge">
                    <input type="hidden" name="id" value=p.id.clone()/>
                    <label for=id.clone()>"Confirm with your password"</label>
                    <input id=id name="current_password" type="password" autocomplete="current-password" required/>
                    {has_totp.then(|| view! {
                        <label for=code_id.clone()>"Code from the app or a recovery code (or leave empty to confirm with a passkey)"</label>
                        <input id=code_id.clone() name="code" type="text" autocomplete="one-time-code" maxlength="32"/>
                    })}
                    <input type="hidden" name="passkey" value=""/>
                    <p class="field-error" role="alert" data-passkey-status=""></p>
                    <div class="form-actions"><button type="submit" class="btn btn-danger">"Remove this passkey"</button></div>
                </form>
            </details>
        </li>
    }
    .into_any()
}
