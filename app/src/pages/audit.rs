//! The audit log (`/audit`): every audit event, newest first, filtered by registration, actor
//! and action, paged, with the query in the URL, with links to export the filtered events; and
//! whether the audit hash chain verifies.
//!
//! Verifying the chain reads every audit event, so it runs when an administrator asks for it
//! (`?verify=1`, the "Verify now" link), not on every view; the server keeps the last result
//! with its time and the page shows it (see [`crate::ssr::ChainCheck`]).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{audit_chain, list_audit};
use crate::components::{
    filter_submit, pager, past_the_end, ErrorPanel, Exports, Loading, Results, Time,
};
use crate::dto::{AuditParams, ChainReport, KNOWN_ACTIONS};
use crate::pages::registration::history;

/// The audit log.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| query.with(AuditParams::from_query));
    let data = Resource::new(
        move || params.get(),
        |p| list_audit(p.client_id, p.actor, p.action, p.from, p.to, p.page),
    );
    let verify = Memo::new(move |_| query.with(|q| q.get_str("verify") == Some("1")));
    let chain = Resource::new(move || verify.get(), audit_chain);
    let client_id = move || params.with(|p| p.client_id.clone());
    let actor = move || params.with(|p| p.actor.clone());
    let action = move || params.with(|p| p.action.clone());
    let from = move || params.with(|p| p.from.clone());
    let to = move || params.with(|p| p.to.clone());
    let on_submit = filter_submit(&["client_id", "actor", "action", "from", "to"], |q| {
        AuditParams::from_query(q).href(1)
    });
    view! {
        <Title text="Audit log · DCR Admin"/>
        <div class="page-head">
            <h1>"Audit log"</h1>
            <p class="muted">"Every change to a registration and every administrator action, newest first."</p>
        </div>
        <section class="card chain" aria-labelledby="h-chain">
            <h2 id="h-chain">"Tamper check"</h2>
            <Transition fallback=|| view! { <Loading what="the audit chain's state"/> }>
                {move || Suspend::new(async move {
                    let href = params.with(AuditParams::verify_href);
                    match chain.await {
                        Ok(report) => chain_status(report, href).into_any(),
                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <div class="card filters">
            <form method="GET" action="/audit" on:submit=on_submit>
                <div class="toolbar" role="search">
                    <div class="field grow">
                        <label for="client_id">"Registration (client ID)"</label>
                        <input id="client_id" name="client_id" type="search" maxlength="200" value=client_id prop:value=client_id/>
                    </div>
                    <div class="field">
                        <label for="actor">"Actor"</label>
                        <input id="actor" name="actor" type="search" maxlength="200" placeholder="admin:alice" value=actor prop:value=actor/>
                    </div>
                    <div class="field">
                        <label for="action">"Action"</label>
                        <input id="action" name="action" type="search" maxlength="200" list="known-actions" placeholder="registration.revoke" value=action prop:value=action/>
                        <datalist id="known-actions">
                            {KNOWN_ACTIONS.iter().map(|a| view! { <option value=a.as_str()></option> }).collect_view()}
                        </datalist>
                    </div>
                    <div class="field">
                        <label for="from">"From (UTC)"</label>
                        <input id="from" name="from" type="date" value=from prop:value=from/>
                    </div>
                    <div class="field">
                        <label for="to">"To (UTC)"</label>
                        <input id="to" name="to" type="date" value=to prop:value=to/>
                    </div>
                    <div class="field actions">
                        <button type="submit" class="btn btn-primary">"Filter"</button>
                        {move || params.with(AuditParams::is_filtered).then(|| view! {
                            <a class="btn btn-ghost" href="/audit">"Clear"</a>
                        })}
                    </div>
                </div>
            </form>
            <p class="hint">"Filters match whole values, in any case. Actors look like admin:<username>, recipient:<software_id> or register-sync. The dates include both days."</p>
            <Exports
                csv=Signal::derive(move || params.with(|p| p.export_href("csv")))
                jsonl=Signal::derive(move || params.with(|p| p.export_href("jsonl")))
                what="events"
            />
        </div>
        <Results what="audit events">
            {move || Suspend::new(async move {
                let p = params.get();
                match data.await {
                    Ok(page) if page.total == 0 => view! {
                        <div class="empty card">
                            <h2>"No events"</h2>
                            <p>{if p.is_filtered() { "No audit event matches these filters." } else { "Nothing has been recorded yet." }}</p>
                        </div>
                    }.into_any(),
                    Ok(page) if page.items.is_empty() => past_the_end(
                        "events",
                        page.total,
                        page.more,
                        page.per_page,
                        ("the newest", "Narrow the filters, for example to a date range, to see older events."),
                        &move |n: u32| p.href(n),
                    )
                    .into_any(),
                    Ok(page) => {
                        let href = move |n: u32| p.href(n);
                        view! {
                            {history(page.items)}
                            {pager(page.page, page.per_page, page.total, page.more, &href)}
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Results>
    }
}

/// The chain's state: the status line, when it was computed, and a link to verify it now.
fn chain_status(report: Option<ChainReport>, verify_href: String) -> impl IntoView {
    let Some(r) = report else {
        return view! {
            <p class="alert alert-info chain-status" role="status">"The audit chain has not been verified since this server started."</p>
            <p class="hint">"Verifying recomputes the hash of every audit event and checks each event's link to the one before, so that an edited, deleted or inserted event is found."</p>
            <p><a class="btn btn-ghost" href=verify_href>"Verify now"</a></p>
        }
        .into_any();
    };
    let ok = r.broken.is_none();
    view! {
        <p class=if ok { "alert alert-ok chain-status" } else { "alert alert-error chain-status" } role=if ok { "status" } else { "alert" }>
            {r.status_line()}
        </p>
        <p class="hint">"Checked " <Time secs=r.checked_at/> " by this server. "
            {(!ok).then_some("Change nothing in the database: keep a copy of it as it is, run dcr-server audit verify on a server, and follow docs/deploy.md (section 9, the audit trail).")}
        </p>
        <p><a class="btn btn-ghost" href=verify_href>"Verify again"</a></p>
    }
    .into_any()
}
