//! Inspect one registration (`/registrations/{client_id}`): its metadata, the decoded SSA, the
//! redirect URIs, the keys at its `jwks_uri` (fetched on request), the Register's view and its
//! history; and revoke or release it.
//!
//! Everything a recipient supplied is rendered as text. Revocation and release are form posts
//! with a required reason and confirmation; once the WASM is running each opens in a modal
//! dialog.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{get_registration, registration_keys};
use crate::components::{ErrorPanel, FieldList, Loading, StatusBadge, Time};
use crate::dto::{
    encode, registration_href, title_text, AuditItem, KeysReport, RegistrationDetail, Status,
};
use crate::error::AdminError;

/// The inspect page.
#[component]
pub fn RegistrationPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let client_id = Memo::new(move |_| params.with(|p| p.get("client_id").unwrap_or_default()));
    let want_keys = Memo::new(move |_| query.with(|q| q.get_str("keys") == Some("1")));
    let detail = Resource::new(move || client_id.get(), get_registration);
    let keys = Resource::new(
        move || (client_id.get(), want_keys.get()),
        |(id, want)| async move {
            if want {
                registration_keys(id).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let flash = move || query.with(|q| flash_message(q.get_str("done"), q.get_str("error")));
    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/">"Registrations"</a>
            <span aria-hidden="true">" / "</span>
            <span aria-current="page" class="mono">{move || client_id.get()}</span>
        </nav>
        {move || flash().map(|(ok, text)| view! {
            <p class=if ok { "alert alert-ok" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>{text}</p>
        })}
        <Transition fallback=|| view! { <Loading what="the registration"/> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <Detail d keys/> }.into_any(),
                    Err(AdminError::NotFound) => {
                        super::not_found_status();
                        view! {
                            <Title text="Not found · DCR Admin"/>
                            <div class="empty card">
                                <h1>"No such registration"</h1>
                                <p>"There is no registration with this client ID. It may have been mistyped."</p>
                                <p><a class="btn btn-ghost" href="/">"Back to registrations"</a></p>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn flash_message(done: Option<&str>, error: Option<&str>) -> Option<(bool, &'static str)> {
    match (done, error) {
        (Some("revoked"), _) => Some((true, "The registration is revoked. From now on the recipient's tokens and management calls are refused.")),
        (Some("already_revoked"), _) => Some((true, "This registration was already revoked; nothing changed.")),
        (Some("released"), _) => Some((true, "The registration is released. Its client ID no longer works, and the software product may register again: tell the recipient to register (POST /register) to get a new client ID.")),
        (Some("already_released"), _) => Some((true, "This registration was already released; nothing changed.")),
        (Some("already_free"), _) => Some((true, "This registration is deleted or removed, so its software product ID is already free; nothing changed.")),
        (_, Some("release_reason")) => Some((false, "Give a reason for the release (4 to 500 characters); it is kept in the audit trail.")),
        (_, Some("release_confirm")) => Some((false, "Tick the box to confirm the release.")),
        (_, Some(e)) if e.starts_with("release") => Some((false, "The release could not be completed. Try again in a moment.")),
        (_, Some("reason")) => Some((false, "Give a reason for the revocation (4 to 500 characters); it is kept in the audit trail.")),
        (_, Some("confirm")) => Some((false, "Tick the box to confirm the revocation.")),
        (_, Some("state")) => Some((false, "Only an active registration can be revoked; this one's status has changed.")),
        (_, Some(_)) => Some((false, "The revocation could not be completed. Try again in a moment.")),
        _ => None,
    }
}

#[component]
fn Detail(
    d: RegistrationDetail,
    keys: Resource<Result<Option<KeysReport>, AdminError>>,
) -> impl IntoView {
    let s = d.summary.clone();
    let title = if s.client_name.trim().is_empty() {
        "(no name)".to_string()
    } else {
        s.client_name.clone()
    };
    let audit_href = format!("/audit?client_id={}", encode(&s.client_id));
    let product_href = format!("/?q={}", encode(&s.software_id));
    let keys_href = format!("{}?keys=1#keys", registration_href(&s.client_id));
    let history_more = d.history_total > d.history.len() as u64;
    view! {
        <Title text=format!("{} · DCR Admin", title_text(&title))/>
        <div class="page-head detail-head">
            <div>
                <h1>{title.clone()}</h1>
                <p class="muted">
                    {s.org_name.clone()}
                    {s.legal_entity_name.clone().map(|n| format!(" · {n}"))}
                </p>
            </div>
            <StatusBadge status=s.status/>
        </div>
        <p class="status-meaning">{s.status.meaning()}
            {d.status_reason.clone().map(|r| view! { " " <span class="muted">"Reason: "</span><q class="reason">{r}</q> })}
        </p>

        <div class="grid-2">
            <section class="card" aria-labelledby="h-summary">
                <h2 id="h-summary">"Registration"</h2>
                <dl class="meta">
                    <dt>"Client ID"</dt><dd class="mono">{s.client_id.clone()}</dd>
                    <dt>"Software product ID"</dt>
                    <dd><span class="mono">{s.software_id.clone()}</span>
                        <div class="sub"><a href=product_href>"Every registration of this software product"</a></div></dd>
                    <dt>"Brand"</dt><dd>{s.org_name.clone()}<div class="sub mono">{s.org_id.clone()}</div></dd>
                    <dt>"Legal entity"</dt><dd>{s.legal_entity_name.clone().unwrap_or_default()}<div class="sub mono">{s.legal_entity_id.clone().unwrap_or_default()}</div></dd>
                    <dt>"Scope"</dt><dd class="mono">{d.scope.clone()}</dd>
                    <dt>"Registered"</dt><dd><Time secs=s.created_at/></dd>
                    <dt>"Client ID issued"</dt><dd><Time secs=d.client_id_issued_at/></dd>
                    <dt>"Last updated"</dt><dd><Time secs=s.updated_at/></dd>
                </dl>
            </section>
            <section class="card" aria-labelledby="h-register">
                <h2 id="h-register">"CDR Register"</h2>
                <dl class="meta">
                    <dt>"Software product status"</dt>
                    <dd>{register_status(d.register_sp_status.clone())}</dd>
                    <dt>"Recipient status"</dt>
                    <dd>{register_status(d.register_dr_status.clone())}</dd>
                    <dt>"Last synced"</dt>
                    <dd>{match d.register_synced_at {
                        Some(t) => view! { <Time secs=t/> }.into_any(),
                        None => view! { <span class="muted">"Not synced with the Register yet"</span> }.into_any(),
                    }}</dd>
                </dl>
                <h3>"Redirect URIs"</h3>
                {if d.redirect_uris.is_empty() {
                    view! { <p class="muted">"None registered."</p> }.into_any()
                } else {
                    view! { <ul class="plain">{d.redirect_uris.clone().into_iter().map(|u| view! { <li class="mono">{u}</li> }).collect_view()}</ul> }.into_any()
                }}
            </section>
        </div>

        <section class="card" id="keys" aria-labelledby="h-keys">
            <h2 id="h-keys">"Keys"</h2>
            <dl class="meta">
                <dt>"jwks_uri"</dt><dd class="mono">{d.jwks_uri.clone()}</dd>
            </dl>
            <Transition fallback=|| view! { <Loading what="keys from the jwks_uri"/> }>
                {move || {
                    let keys_href = keys_href.clone();
                    Suspend::new(async move {
                        match keys.await {
                            Ok(None) => view! {
                                <p class="muted">"The key ids are read from the jwks_uri when you ask, so this page never waits on the recipient's server."</p>
                                <p><a class="btn btn-ghost" href=keys_href>"Fetch key ids now"</a></p>
                            }.into_any(),
                            Ok(Some(report)) => keys_table(report).into_any(),
                            Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>

        <section class="card" aria-labelledby="h-history">
            <div class="section-head">
                <h2 id="h-history">"History"</h2>
                <a href=audit_href.clone()>{if history_more { "All events in the audit log" } else { "Open in the audit log" }}</a>
            </div>
            {history(d.history.clone())}
        </section>

        <section class="card" aria-labelledby="h-metadata">
            <h2 id="h-metadata">"Registered metadata"</h2>
            <FieldList fields=d.metadata.clone() empty="No metadata stored."/>
        </section>

        <section class="card" aria-labelledby="h-ssa">
            <h2 id="h-ssa">"Software statement (SSA)"</h2>
            <p class="muted">"Decoded from the SSA the recipient presented; its signature was verified against the CDR Register's keys at registration."</p>
            {d.ssa_problem.clone().map(|p| view! { <p class="alert alert-error">{p}</p> })}
            <h3>"Header"</h3>
            <FieldList fields=d.ssa_header.clone() empty="No header."/>
            <h3>"Claims"</h3>
            <FieldList fields=d.ssa_claims.clone() empty="No claims."/>
        </section>

        {(s.status == Status::Active || s.status == Status::Inactive).then(|| view! {
            <DangerAction copy=&REVOKE client_id=s.client_id.clone() name=title.clone()/>
        })}
        {matches!(s.status, Status::Active | Status::Inactive | Status::Revoked).then(|| view! {
            <DangerAction copy=&RELEASE client_id=s.client_id.clone() name=title.clone()/>
        })}
    }
}

fn register_status(s: Option<String>) -> impl IntoView {
    match s {
        Some(s) => {
            let ok = s.eq_ignore_ascii_case("ACTIVE");
            view! { <span class=if ok { "badge badge-active" } else { "badge badge-inactive" }>{s}</span> }.into_any()
        }
        None => view! { <span class="muted">"Unknown"</span> }.into_any(),
    }
}

fn keys_table(report: KeysReport) -> impl IntoView {
    if report.keys.is_empty() {
        return view! { <p class="alert alert-info">"The jwks_uri answered with an empty key set."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data">
                <caption class="sr-only">"Keys at the jwks_uri"</caption>
                <thead><tr><th scope="col">"Key id (kid)"</th><th scope="col">"Type"</th><th scope="col">"Algorithm"</th><th scope="col">"Use"</th></tr></thead>
                <tbody>
                    {report.keys.into_iter().map(|k| view! {
                        <tr>
                            <td data-label="Key id" class="mono">{if k.kid.is_empty() { "(none)".to_string() } else { k.kid }}</td>
                            <td data-label="Type">{k.kty}</td>
                            <td data-label="Algorithm">{k.alg.unwrap_or_default()}</td>
                            <td data-label="Use">{k.key_use.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// An event's before/after state: short ones inline, long ones (a whole registration) folded.
fn details(d: String) -> AnyView {
    if d.chars().count() <= 160 {
        return view! { <code class="details">{d}</code> }.into_any();
    }
    let preview: String = d.chars().take(60).collect();
    view! {
        <details class="long">
            <summary><span class="preview">{preview}"…"</span>" Show all"</summary>
            <code class="details">{d}</code>
        </details>
    }
    .into_any()
}

/// Audit events as a table (shared with the audit page).
pub fn history(items: Vec<AuditItem>) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="muted">"No events recorded."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data audit-table">
                <caption class="sr-only">"Audit events, newest first"</caption>
                <thead><tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"Actor"</th>
                    <th scope="col">"Action"</th>
                    <th scope="col">"Registration"</th>
                    <th scope="col">"Reason and details"</th>
                </tr></thead>
                <tbody>
                    {items.into_iter().map(|e| view! {
                        <tr>
                            <td data-label="When" class="nowrap"><crate::components::Time secs=e.occurred_at/></td>
                            <td data-label="Actor"><crate::components::Id value=e.actor/></td>
                            <td data-label="Action"><span class="action">{e.action}</span></td>
                            <td data-label="Registration">{e.client_id.map(|c| view! {
                                <a href=registration_href(&c)><crate::components::Id value=c.clone()/></a>
                            })}</td>
                            <td data-label="Details">
                                {e.reason.map(|r| view! { <q class="reason">{r}</q> })}
                                {e.details.map(details)}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The words and names of one of the registration page's irreversible actions.
struct ActionCopy {
    /// The path segment the form posts to, and the prefix of its element ids and classes.
    slug: &'static str,
    heading: &'static str,
    intro: &'static str,
    open: &'static str,
    dialog_title: &'static str,
    confirm: &'static str,
    submit: &'static str,
}

const REVOKE: ActionCopy = ActionCopy {
    slug: "revoke",
    heading: "Revoke",
    intro: "Revoking takes effect at once: the recipient's tokens stop working, new tokens and management calls are refused, and the software product cannot register again until an administrator releases it.",
    open: "Revoke…",
    dialog_title: "Revoke this registration?",
    confirm: " I understand the recipient loses access immediately.",
    submit: "Revoke registration",
};

const RELEASE: ActionCopy = ActionCopy {
    slug: "release",
    heading: "Release",
    intro: "Release a registration whose recipient has lost its client ID, or a revoked one, so that the software product can register again. This client ID stops working at once and for good: tokens and management calls are refused. The recipient then registers again (POST /register) and gets a new client ID. Before releasing, confirm out of band that the request comes from the recipient the CDR Register lists for this brand (see the runbook for a lost client ID).",
    open: "Release…",
    dialog_title: "Release this registration?",
    confirm: " I have checked who is asking, and this client ID stops working for good.",
    submit: "Release registration",
};

/// An irreversible action (revoke, release). Without the WASM a disclosure holds the form; with
/// it a button opens the same form in a modal dialog. Either way the browser posts the form and
/// the server answers with a redirect back here.
#[component]
fn DangerAction(copy: &'static ActionCopy, client_id: String, name: String) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    // Effects run in the browser only, after hydration.
    Effect::new(move |_| set_hydrated.set(true));
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let action = format!("{}/{}", registration_href(&client_id), copy.slug);
    let heading_id = format!("h-{}", copy.slug);
    view! {
        <section class="card danger-zone" aria-labelledby=heading_id.clone()>
            <h2 id=heading_id.clone()>{copy.heading}</h2>
            <p>{copy.intro}</p>
            {move || {
                let action = action.clone();
                let name = name.clone();
                if hydrated.get() {
                    let title_id = format!("{}-title", copy.slug);
                    view! {
                        <button type="button" class="btn btn-danger" aria-haspopup="dialog"
                            on:click=move |_| {
                                if let Some(d) = dialog.get() {
                                    let _ = d.show_modal();
                                }
                            }>
                            {copy.open}
                        </button>
                        <dialog node_ref=dialog aria-labelledby=title_id.clone() class=format!("{}-dialog action-dialog", copy.slug)>
                            <h2 id=title_id.clone()>{copy.dialog_title}</h2>
                            <p><strong>{name}</strong></p>
                            {action_form(copy, action, Some(dialog))}
                        </dialog>
                    }
                    .into_any()
                } else {
                    view! {
                        <details class=format!("{}-details action-details", copy.slug)>
                            <summary class="btn btn-danger">{copy.open}</summary>
                            {action_form(copy, action, None)}
                        </details>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

fn action_form(
    copy: &'static ActionCopy,
    action: String,
    dialog: Option<NodeRef<leptos::html::Dialog>>,
) -> impl IntoView {
    let reason_id = format!("{}-reason", copy.slug);
    let hint_id = format!("{}-reason-hint", copy.slug);
    view! {
        <form method="post" action=action class=format!("stack {}-form action-form", copy.slug)>
            <label for=reason_id.clone()>"Reason"</label>
            <p class="hint" id=hint_id.clone()>"Kept in the audit trail with your name and the time. 4 to 500 characters."</p>
            <textarea id=reason_id name="reason" required minlength="4" maxlength="500" aria-describedby=hint_id></textarea>
            <label class="check">
                <input type="checkbox" name="confirm" value="yes" required/>
                {copy.confirm}
            </label>
            <div class="form-actions">
                <button type="submit" class="btn btn-danger">{copy.submit}</button>
                {dialog.map(|d| view! {
                    <button type="button" class="btn btn-ghost" on:click=move |_| {
                        if let Some(el) = d.get() {
                            el.close();
                        }
                    }>"Cancel"</button>
                })}
            </div>
        </form>
    }
}
