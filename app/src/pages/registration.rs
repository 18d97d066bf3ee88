//! Inspect one registration (`/registrations/{client_id}`): its status and the actions on it
//! (revoke, release) first, then its ids (each with a copy button), the Register's view, the
//! redirect URIs, the keys at its `jwks_uri` (fetched on request), its history as before/after
//! changes, and, folded, the registered metadata and the decoded SSA.
//!
//! Everything a recipient supplied is rendered as text. Revocation and release are form posts
//! with a required reason and confirmation; once the WASM is running each opens in a modal
//! dialog.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{get_registration, registration_keys};
use crate::components::{CopyButton, ErrorPanel, FieldList, Loading, StatusBadge, Time};
use crate::dto::{
    encode, registration_href, title_text, AuditItem, Change, KeysReport, ProvisioningDetail,
    RegistrationDetail, Status,
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
    let flash = move || {
        query.with(|q| {
            flash_message(
                q.get_str("done"),
                q.get_str("error"),
                q.get_str("status"),
                q.get_str("count"),
            )
        })
    };
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

fn flash_message(
    done: Option<&str>,
    error: Option<&str>,
    status: Option<&str>,
    count: Option<&str>,
) -> Option<(bool, String)> {
    // A count is digits only, or not shown.
    let count =
        count.filter(|c| !c.is_empty() && c.len() <= 6 && c.bytes().all(|b| b.is_ascii_digit()));
    let ok = |t: &str| Some((true, t.to_owned()));
    let err = |t: &str| Some((false, t.to_owned()));
    match (done, error) {
        (Some("revoked"), _) => ok("The registration is revoked. From now on the recipient's tokens and management calls are refused."),
        (Some("already_revoked"), _) => ok("This registration was already revoked; nothing changed."),
        (Some("released"), _) => ok("The registration is released. Its client ID no longer works, and the software product may register again: tell the recipient to register (POST /register) to get a new client ID."),
        (Some("already_released"), _) => ok("This registration was already released; nothing changed."),
        (Some("already_free"), _) => ok("This registration is deleted or removed, so its software product ID is already free; nothing changed."),
        (Some("brand_revoked" | "legal_entity_revoked"), _) => ok(&format!(
            "{} registrations are revoked, each with this reason; the audit log shows them with the group's event.",
            count.unwrap_or("The")
        )),
        (Some("brand_none" | "legal_entity_none"), _) => ok("No registration of the group was active any more; nothing changed."),
        (_, Some("brand_too_many" | "legal_entity_too_many")) => err("The group has more than 1,000 active registrations: revoke them from the command line or in parts."),
        (_, Some("legal_entity_none")) => err("This registration names no legal entity."),
        (Some("retried"), _) => ok("The waiting changes are being delivered to the authorization server now. Reload the page in a moment to see the outcome."),
        (_, Some("retry_nothing")) => ok("Nothing was waiting to be delivered for this registration."),
        (_, Some("retry_unavailable")) => err("The delivery could not be requested. Try again in a moment."),
        // Shown beside the form they are about (see `DangerAction`).
        (
            _,
            Some(
                "reason" | "confirm" | "release_reason" | "release_confirm" | "brand_reason"
                | "brand_confirm" | "legal_entity_reason" | "legal_entity_confirm",
            ),
        ) => None,
        (_, Some(e)) if e.starts_with("release") => err("The release could not be completed. Try again in a moment."),
        (_, Some("state")) => Some((false, not_revocable(status.and_then(Status::parse)))),
        (_, Some(_)) => err("The revocation could not be completed. Try again in a moment."),
        _ => None,
    }
}

/// Why a revocation was refused: which statuses can be revoked (those of an active
/// registration, as the revocation's store update requires) and which this one has.
fn not_revocable(status: Option<Status>) -> String {
    let can = format!(
        "Only a registration that is {} or {} can be revoked",
        Status::Active.label(),
        Status::Inactive.label()
    );
    match status {
        Some(s) => format!("{can}; this one is {}.", s.label()),
        None => format!("{can}; this one's status has changed."),
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

        // The actions first: what an operator comes here to do is at the top, not below the SSA.
        {(d.can_act && matches!(s.status, Status::Active | Status::Inactive | Status::Revoked)).then(|| view! {
            <div class="actions-top">
                {matches!(s.status, Status::Active | Status::Inactive).then(|| view! {
                    <DangerAction copy=&REVOKE client_id=s.client_id.clone() name=title.clone()/>
                })}
                <DangerAction copy=&RELEASE client_id=s.client_id.clone() name=title.clone()/>
                // A whole brand or legal entity at once, when it has more than this one.
                {(d.brand_active > 1).then(|| view! {
                    <DangerAction copy=&REVOKE_BRAND client_id=s.client_id.clone()
                        name=format!("{} · {} active registrations", s.org_name, d.brand_active)/>
                })}
                {d.legal_entity_active.filter(|n| *n > 1).map(|n| view! {
                    <DangerAction copy=&REVOKE_LEGAL_ENTITY client_id=s.client_id.clone()
                        name=format!("{} · {n} active registrations", s.legal_entity_name.clone().unwrap_or_default())/>
                })}
            </div>
        })}
        {(!d.can_act && matches!(s.status, Status::Active | Status::Inactive | Status::Revoked)).then(|| view! {
            <p class="muted viewer-note">"Your role lets you read this registration; an operator or administrator can revoke or release it."</p>
        })}

        <div class="grid-2">
            <section class="card" aria-labelledby="h-summary">
                <h2 id="h-summary">"Registration"</h2>
                <dl class="meta">
                    <dt>"Client ID"</dt><dd><span class="mono">{s.client_id.clone()}</span>" "<CopyButton value=s.client_id.clone() label="client ID"/></dd>
                    <dt>"Software product ID"</dt>
                    <dd><span class="mono">{s.software_id.clone()}</span>" "<CopyButton value=s.software_id.clone() label="software product ID"/>
                        <div class="sub"><a href=product_href>"Every registration of this software product"</a></div></dd>
                    <dt>"Brand"</dt><dd>{s.org_name.clone()}<div class="sub"><span class="mono">{s.org_id.clone()}</span>" "<CopyButton value=s.org_id.clone() label="brand ID"/></div></dd>
                    <dt>"Legal entity"</dt><dd>{s.legal_entity_name.clone().unwrap_or_default()}{s.legal_entity_id.clone().map(|id| view! {
                        <div class="sub"><span class="mono">{id.clone()}</span>" "<CopyButton value=id label="legal entity ID"/></div>
                    })}</dd>
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

        {d.provisioning.clone().map(|p| view! { <ProvisioningCard p client_id=s.client_id.clone() can_act=d.can_act/> })}

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

        // What the recipient sent, folded: long, and read less often than the rest.
        <section class="card fold" id="metadata" aria-labelledby="h-metadata">
            <details>
                <summary><h2 id="h-metadata">"Registered metadata"</h2><span class="muted">{format!("{} fields", d.metadata.len())}</span></summary>
                <FieldList fields=d.metadata.clone() empty="No metadata stored."/>
            </details>
        </section>

        <section class="card fold" id="ssa" aria-labelledby="h-ssa">
            <details open=d.ssa_problem.is_some()>
                <summary><h2 id="h-ssa">"Software statement (SSA)"</h2><span class="muted">{format!("{} claims", d.ssa_claims.len())}</span></summary>
                <p class="muted">"Decoded from the SSA the recipient presented; its signature was verified against the CDR Register's keys at registration."</p>
                {d.ssa_problem.clone().map(|p| view! { <p class="alert alert-error">{p}</p> })}
                <h3>"Header"</h3>
                <FieldList fields=d.ssa_header.clone() empty="No header."/>
                <h3>"Claims"</h3>
                <FieldList fields=d.ssa_claims.clone() empty="No claims."/>
            </details>
        </section>

    }
}

/// The registration's client at the bank's authorization server: its state, the changes
/// waiting for delivery with a button to deliver them now, and what the last reconciliation
/// found.
#[component]
fn ProvisioningCard(p: ProvisioningDetail, client_id: String, can_act: bool) -> impl IntoView {
    use crate::pages::provisioning::{drift_kind, state_badge};
    let retry = format!("{}/provisioning/retry", registration_href(&client_id));
    view! {
        <section class="card" id="provisioning" aria-labelledby="h-provisioning">
            <h2 id="h-provisioning">"Bank's authorization server"</h2>
            <dl class="meta">
                <dt>"State"</dt><dd>{state_badge(&p.state)}" "<span class="muted">"since "<Time secs=p.updated_at/></span></dd>
                <dt>"Client ID there"</dt>
                <dd>{match p.downstream_client_id.clone() {
                    Some(id) => view! { <span class="mono">{id}</span> }.into_any(),
                    None => view! { <span class="muted">"Not created yet"</span> }.into_any(),
                }}</dd>
                {p.last_error.clone().map(|e| view! {
                    <dt>"Last error"</dt>
                    <dd><span class="error-text">{e}</span><div class="sub">{format!("{} failed attempts", p.attempts)}</div></dd>
                })}
                {p.drift.clone().map(|d| view! {
                    <dt>"Last reconciliation"</dt>
                    <dd>{drift_kind(&d.kind)}": "{d.detail}<div class="sub">"Found "<Time secs=d.found_at/>
                        {d.repaired_at.map(|_| " · repair queued")}</div></dd>
                })}
            </dl>
            {if p.waiting.is_empty() {
                view! { <p class="muted">"Nothing waits to be delivered."</p> }.into_any()
            } else {
                view! {
                    <h3>"Waiting changes"</h3>
                    <ul class="plain waiting">
                        {p.waiting.into_iter().map(|w| view! {
                            <li><span class="action">{w.operation}</span>
                                {if w.attempts == 0 {
                                    view! { " · not tried yet" }.into_any()
                                } else {
                                    view! { {format!(" · {} failed attempts · next ", w.attempts)}<Time secs=w.next_attempt_at/> }.into_any()
                                }}
                            </li>
                        }).collect_view()}
                    </ul>
                    {can_act.then(|| view! {
                        <form method="post" action=retry class="retry-form">
                            <button type="submit" class="btn">"Deliver now"</button>
                        </form>
                    })}
                }.into_any()
            }}
        </section>
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

/// Most changed fields shown open; more are folded behind their count.
const OPEN_CHANGES: usize = 6;

/// An event's changes as a list of fields, each with its value before (struck out) and after
/// (inserted).
fn changes_view(changes: Vec<Change>) -> AnyView {
    let n = changes.len();
    let side = |v: Option<String>, after: bool| match v {
        None => view! { <span class="muted">"(none)"</span> }.into_any(),
        Some(v) if after => view! { <ins>{v}</ins> }.into_any(),
        Some(v) => view! { <del>{v}</del> }.into_any(),
    };
    let list = view! {
        <dl class="diff">
            {changes.into_iter().map(|c| view! {
                <div>
                    <dt class="mono">{c.field}</dt>
                    <dd>{side(c.before, false)}<span aria-label="became">" → "</span>{side(c.after, true)}</dd>
                </div>
            }).collect_view()}
        </dl>
    };
    if n <= OPEN_CHANGES {
        list.into_any()
    } else {
        view! {
            <details class="long">
                <summary>{format!("{n} fields changed")}</summary>
                {list}
            </details>
        }
        .into_any()
    }
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
                            <td data-label="When" class="nowrap"><crate::components::Time secs=e.occurred_at seconds=true/></td>
                            <td data-label="Actor"><crate::components::Id value=e.actor/></td>
                            <td data-label="Action"><span class="action">{e.action}</span></td>
                            <td data-label="Registration">{e.client_id.map(|c| view! {
                                <a href=registration_href(&c)><crate::components::Id value=c.clone()/></a>
                            })}</td>
                            <td data-label="Details">
                                {e.reason.map(|r| view! { <q class="reason">{r}</q> })}
                                {(!e.changes.is_empty()).then(|| changes_view(e.changes))}
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
    /// The `error=` values the server sends back for this form's reason and confirmation.
    reason_error: &'static str,
    confirm_error: &'static str,
}

const REVOKE: ActionCopy = ActionCopy {
    slug: "revoke",
    heading: "Revoke",
    intro: "Revoking takes effect at once: the recipient's tokens stop working, new tokens and management calls are refused, and the software product cannot register again until an administrator releases it.",
    open: "Revoke…",
    dialog_title: "Revoke this registration?",
    confirm: " I understand the recipient loses access immediately.",
    submit: "Revoke registration",
    reason_error: "reason",
    confirm_error: "confirm",
};

const RELEASE: ActionCopy = ActionCopy {
    slug: "release",
    heading: "Release",
    intro: "Release a registration whose recipient has lost its client ID, or a revoked one, so that the software product can register again. This client ID stops working at once and for good: tokens and management calls are refused. The recipient then registers again (POST /register) and gets a new client ID. Before releasing, confirm out of band that the request comes from the recipient the CDR Register lists for this brand (see the runbook for a lost client ID).",
    open: "Release…",
    dialog_title: "Release this registration?",
    confirm: " I have checked who is asking, and this client ID stops working for good.",
    submit: "Release registration",
    reason_error: "release_reason",
    confirm_error: "release_confirm",
};

const REVOKE_BRAND: ActionCopy = ActionCopy {
    slug: "revoke-brand",
    heading: "Revoke the brand",
    intro: "Revokes every active registration of this brand at once, in one step with one reason: each recipient's tokens stop working and each is audited as a revocation, with one event for the group. Use it when the brand itself must be cut off.",
    open: "Revoke the brand…",
    dialog_title: "Revoke every active registration of this brand?",
    confirm: " I understand every one of these recipients loses access immediately.",
    submit: "Revoke the brand's registrations",
    reason_error: "brand_reason",
    confirm_error: "brand_confirm",
};

const REVOKE_LEGAL_ENTITY: ActionCopy = ActionCopy {
    slug: "revoke-legal-entity",
    heading: "Revoke the legal entity",
    intro: "Revokes every active registration of this legal entity (all its brands) at once, in one step with one reason: each recipient's tokens stop working and each is audited as a revocation, with one event for the group.",
    open: "Revoke the legal entity…",
    dialog_title: "Revoke every active registration of this legal entity?",
    confirm: " I understand every one of these recipients loses access immediately.",
    submit: "Revoke the legal entity's registrations",
    reason_error: "legal_entity_reason",
    confirm_error: "legal_entity_confirm",
};

/// What the server said was wrong with an action's form, read from the URL it redirected to
/// (`error=` and the reason typed, `reason=`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FormError {
    Reason,
    Confirm,
}

impl FormError {
    fn of(copy: &ActionCopy, error: Option<&str>) -> Option<Self> {
        match error {
            Some(e) if e == copy.reason_error => Some(Self::Reason),
            Some(e) if e == copy.confirm_error => Some(Self::Confirm),
            _ => None,
        }
    }

    fn message(self, copy: &ActionCopy) -> &'static str {
        match (self, copy.slug) {
            (Self::Reason, "release") => "Give a reason for the release (4 to 500 characters, spaces aside); it is kept in the audit trail.",
            (Self::Reason, _) => "Give a reason for the revocation (4 to 500 characters, spaces aside); it is kept in the audit trail.",
            (Self::Confirm, "release") => "Tick the box to confirm the release.",
            (Self::Confirm, _) => "Tick the box to confirm the revocation.",
        }
    }
}

/// An irreversible action (revoke, release). Without the WASM a disclosure holds the form; with
/// it a button opens the same form in a modal dialog. Either way the browser posts the form and
/// the server answers with a redirect back here. When the server refused the form, the form is
/// open (the dialog too, once the WASM runs) with the reason typed and the error beside it, and
/// the focus on the field to fix.
#[component]
fn DangerAction(copy: &'static ActionCopy, client_id: String, name: String) -> impl IntoView {
    let query = use_query_map();
    let (error, typed) = query.with_untracked(|q| {
        let error = FormError::of(copy, q.get_str("error"));
        let typed = error
            .and_then(|_| q.get("reason"))
            .map(|r| {
                r.chars()
                    .take(*crate::dto::REASON_CHARS.end())
                    .collect::<String>()
            })
            .unwrap_or_default();
        (error, typed)
    });
    let (hydrated, set_hydrated) = signal(false);
    // Effects run in the browser only, after hydration.
    Effect::new(move |_| set_hydrated.set(true));
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    // The server refused the form: open it again in the dialog once there is one.
    Effect::new(move |_| {
        if let (Some(d), Some(_)) = (dialog.get(), error) {
            let _ = d.show_modal();
        }
    });
    let action = format!("{}/{}", registration_href(&client_id), copy.slug);
    let heading_id = format!("h-{}", copy.slug);
    view! {
        <section class="card danger-zone" id=format!("{}-action", copy.slug) aria-labelledby=heading_id.clone()>
            <h2 id=heading_id.clone()>{copy.heading}</h2>
            <p>{copy.intro}</p>
            {move || {
                let action = action.clone();
                let name = name.clone();
                let typed = typed.clone();
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
                            {action_form(copy, action, Some(dialog), error, typed)}
                        </dialog>
                    }
                    .into_any()
                } else {
                    view! {
                        <details class=format!("{}-details action-details", copy.slug) open=error.is_some()>
                            <summary class="btn btn-danger">{copy.open}</summary>
                            {action_form(copy, action, None, error, typed)}
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
    error: Option<FormError>,
    typed: String,
) -> impl IntoView {
    let reason_id = format!("{}-reason", copy.slug);
    let hint_id = format!("{}-reason-hint", copy.slug);
    let error_id = format!("{}-error", copy.slug);
    let described = if error.is_some() {
        format!("{hint_id} {error_id}")
    } else {
        hint_id.clone()
    };
    let reason = NodeRef::<leptos::html::Textarea>::new();
    // The browser's own checks (required, minlength) take a reason of spaces; the server trims
    // it first. Once the WASM runs, the same rule is the textarea's custom validity, so such a
    // reason is refused before the form is sent.
    let check = move || {
        if let Some(el) = reason.get() {
            el.set_custom_validity(crate::dto::reason_problem(&el.value()).unwrap_or(""));
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        check();
        if let Some(el) = reason.get() {
            if !el.check_validity() {
                ev.prevent_default();
                let _ = el.report_validity();
            }
        }
    };
    view! {
        <form method="post" action=action class=format!("stack {}-form action-form", copy.slug) on:submit=on_submit>
            <label for=reason_id.clone()>"Reason"</label>
            <p class="hint" id=hint_id>"Kept in the audit trail with your name and the time. 4 to 500 characters."</p>
            {error.map(|e| view! {
                <p class="alert alert-error form-error" id=error_id role="alert">{e.message(copy)}</p>
            })}
            <textarea
                id=reason_id
                name="reason"
                node_ref=reason
                required
                minlength="4"
                maxlength="500"
                aria-describedby=described
                aria-invalid=(error == Some(FormError::Reason)).then_some("true")
                autofocus=error == Some(FormError::Reason)
                on:input=move |_| check()
            >{typed}</textarea>
            <label class="check">
                <input type="checkbox" name="confirm" value="yes" required autofocus=error == Some(FormError::Confirm)/>
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
