//! The people who sign in to the portal (`/admins`, administrators only): each account with its
//! role, source, second factors, state, last sign-in and sessions; forms to add an account (with
//! a first password its owner replaces at the first sign-in), change a role, disable or enable
//! an account, and end someone's sessions. The forms post to the server's handlers
//! (`server/src/portal/people.rs`), which check the role again and audit each change.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::list_accounts;
use crate::components::{ErrorPanel, Loading, Time};
use crate::dto::{encode, Account, Role};
use crate::error::AdminError;

/// The administrators page.
#[component]
pub fn AdminsPage() -> impl IntoView {
    let query = use_query_map();
    let accounts = Resource::new(|| (), |()| list_accounts());
    let flash = move || {
        query.with(|q| {
            let who = q.get("who").unwrap_or_default();
            message(q.get_str("done"), q.get_str("error"), &who)
        })
    };
    view! {
        <Title text="People · DCR Admin"/>
        <div class="page-head">
            <h1>"People"</h1>
            <p class="muted">"Everyone who signs in to this portal, and what they may do."</p>
        </div>
        {move || flash().map(|(ok, text)| view! {
            <p class=if ok { "alert alert-ok" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>{text}</p>
        })}
        <Transition fallback=|| view! { <Loading what="the accounts"/> }>
            {move || Suspend::new(async move {
                match accounts.await {
                    Ok(list) => accounts_table(list).into_any(),
                    Err(AdminError::Forbidden) => {
                        super::forbidden_status();
                        view! { <ErrorPanel error=AdminError::Forbidden/> }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
        <section class="card narrow" aria-labelledby="h-add">
            <h2 id="h-add">"Add a person"</h2>
            <form method="post" action="/admins/add" class="stack add-account">
                <label for="new-username">"Username"</label>
                <p class="hint" id="new-username-hint">"Lower-case letters, digits, dots, dashes, underscores or @; at most 64."</p>
                <input id="new-username" name="username" type="text" required maxlength="64" pattern="[\\-a-z0-9._@]+" autocomplete="off" aria-describedby="new-username-hint"/>
                <label for="new-role">"Role"</label>
                <select id="new-role" name="role">
                    {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == Role::Viewer>{r.label()}" — "{r.meaning()}</option> }).collect_view()}
                </select>
                <label for="new-password">"First password"</label>
                <p class="hint" id="new-password-hint">"At least 12 characters. Give it to them in person or by a separate channel; they must replace it when they first sign in."</p>
                <input id="new-password" name="password" type="password" required minlength="12" autocomplete="new-password" aria-describedby="new-password-hint"/>
                <div class="form-actions"><button type="submit" class="btn btn-primary">"Add"</button></div>
            </form>
        </section>
    }
}

fn message(done: Option<&str>, error: Option<&str>, who: &str) -> Option<(bool, String)> {
    Some(match (done, error) {
        (Some("added"), _) => (true, format!("{who} is added. They sign in with the first password you chose and must replace it at once.")),
        (Some("role"), _) => (true, format!("{who}'s role is changed; it applies to their next page.")),
        (Some("disabled"), _) => (true, format!("{who} is disabled: they cannot sign in, and their sessions have ended.")),
        (Some("enabled"), _) => (true, format!("{who} can sign in again.")),
        (Some("sessions_ended"), _) => (true, format!("{who}'s sessions have ended; they must sign in again.")),
        (Some("second_factor_reset"), _) => (true, format!("{who}'s second factor is removed: they sign in with their password and enrol a new one.")),
        (_, Some("unconfirmed")) => (false, "Tick the box to confirm the reset.".into()),
        (_, Some("username")) => (false, "The username must be 1 to 64 lower-case letters, digits, dots, dashes, underscores or @.".into()),
        (_, Some("taken")) => (false, "That username is taken.".into()),
        (_, Some("password")) => (false, "The first password must be at least 12 characters (at most 1024 bytes) and differ from the username.".into()),
        (_, Some("role")) => (false, "Choose one of the roles.".into()),
        (_, Some("own_role")) => (false, "You cannot change your own role: ask another administrator.".into()),
        (_, Some("self")) => (false, "You cannot do this to your own account: ask another administrator.".into()),
        (_, Some("from_provider")) => (false, "This person signs in through single sign-on: their role follows the identity provider's groups.".into()),
        (_, Some("last")) => (false, "This is the last enabled administrator: make someone else an administrator first.".into()),
        (_, Some("unknown")) => (false, "There is no such account.".into()),
        (_, Some("busy")) => (false, "The server is busy checking passwords. Try again in a moment.".into()),
        (_, Some(_)) => (false, "The change could not be made. Try again in a moment.".into()),
        _ => return None,
    })
}

fn accounts_table(list: Vec<Account>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="h-accounts">
            <h2 id="h-accounts">"Accounts"</h2>
            <div class="table-wrap">
                <table class="data accounts-table">
                    <caption class="sr-only">"Accounts of the portal"</caption>
                    <thead><tr>
                        <th scope="col">"Username"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Sign-in"</th>
                        <th scope="col">"Last sign-in"</th>
                        <th scope="col">"Sessions"</th>
                        <th scope="col">"Actions"</th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(row).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

fn row(a: Account) -> impl IntoView {
    let base = format!("/admins/{}", encode(&a.username));
    let state = match (a.disabled_at, a.must_change_password) {
        (Some(_), _) => Some("Disabled"),
        (None, true) => Some("Must change the first password"),
        _ => None,
    };
    let factors = if a.second_factors.is_empty() {
        "password only".to_string()
    } else {
        format!("password and {}", a.second_factors.join(", "))
    };
    let label = format!("Role of {}", a.username);
    view! {
        <tr class:disabled=a.disabled_at.is_some()>
            <td data-label="Username"><strong>{a.username.clone()}</strong>
                {a.is_me.then(|| view! { " " <span class="muted">"(you)"</span> })}
                {state.map(|s| view! { <div class="sub">{s}</div> })}
            </td>
            <td data-label="Role">
                {if a.is_me {
                    view! { {a.role.label()} }.into_any()
                } else {
                    view! {
                        <form method="post" action=format!("{base}/role") class="inline-form">
                            <select name="role" aria-label=label>
                                {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == a.role>{r.label()}</option> }).collect_view()}
                            </select>
                            " "<button type="submit" class="btn btn-ghost">"Change"</button>
                        </form>
                    }.into_any()
                }}
            </td>
            <td data-label="Sign-in">{format!("{} · {factors}", a.source)}</td>
            <td data-label="Last sign-in">{match a.last_sign_in_at {
                Some(t) => view! { <Time secs=t/><div class="sub mono">{a.last_sign_in_address.clone().unwrap_or_default()}</div> }.into_any(),
                None => view! { <span class="muted">"Never"</span> }.into_any(),
            }}</td>
            <td data-label="Sessions">{a.sessions}</td>
            <td data-label="Actions">
                {(!a.is_me).then(|| view! {
                    <div class="row-actions">
                        {if a.disabled_at.is_some() {
                            view! { <form method="post" action=format!("{base}/enable")><button type="submit" class="btn btn-ghost">"Enable"</button></form> }.into_any()
                        } else {
                            view! { <form method="post" action=format!("{base}/disable")><button type="submit" class="btn btn-danger">"Disable"</button></form> }.into_any()
                        }}
                        {(!a.second_factors.is_empty()).then(|| view! {
                            <form method="post" action=format!("{base}/second-factor/reset") class="inline-form">
                                <label><input type="checkbox" name="confirm" value="yes" required/>" I checked who asks"</label>
                                " "<button type="submit" class="btn btn-danger">"Reset second factor"</button>
                            </form>
                        })}
                        {(a.sessions > 0).then(|| view! {
                            <form method="post" action=format!("{base}/sessions/end")><button type="submit" class="btn btn-ghost">"End sessions"</button></form>
                        })}
                    </div>
                })}
            </td>
        </tr>
    }
}
