//! The audit log (`/audit`): every audit event, newest first, filtered by registration, actor
//! and action, paged, with the query in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::list_audit;
use crate::components::{pager, ErrorPanel, Loading};
use crate::dto::{AuditParams, KNOWN_ACTIONS};
use crate::pages::registration::history;

/// The audit log.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| query.with(AuditParams::from_query));
    let data = Resource::new(
        move || params.get(),
        |p| list_audit(p.client_id, p.actor, p.action, p.page),
    );
    let (pending, set_pending) = signal(false);
    let client_id = move || params.with(|p| p.client_id.clone());
    let actor = move || params.with(|p| p.actor.clone());
    let action = move || params.with(|p| p.action.clone());
    view! {
        <Title text="Audit log · DCR Admin"/>
        <div class="page-head">
            <h1>"Audit log"</h1>
            <p class="muted">"Every change to a registration and every administrator action, newest first."</p>
        </div>
        <div class="card filters">
            <Form method="GET" action="/audit">
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
                            {KNOWN_ACTIONS.iter().map(|a| view! { <option value=*a></option> }).collect_view()}
                        </datalist>
                    </div>
                    <div class="field actions">
                        <button type="submit" class="btn btn-primary">"Filter"</button>
                        {move || params.with(AuditParams::is_filtered).then(|| view! {
                            <a class="btn btn-ghost" href="/audit">"Clear"</a>
                        })}
                    </div>
                </div>
            </Form>
            <p class="hint">"Filters match exactly. Actors look like admin:<username>, recipient:<software_id> or register-sync."</p>
        </div>
        <div class="results" aria-busy=move || pending.get().to_string()>
            <Transition fallback=|| view! { <Loading what="audit events"/> } set_pending>
                {move || Suspend::new(async move {
                    let p = params.get();
                    match data.await {
                        Ok(page) if page.total == 0 => view! {
                            <div class="empty card">
                                <h2>"No events"</h2>
                                <p>{if p.is_filtered() { "No audit event matches these filters." } else { "Nothing has been recorded yet." }}</p>
                            </div>
                        }.into_any(),
                        Ok(page) => {
                            let href = move |n: u32| p.href(n);
                            view! {
                                {history(page.items)}
                                {pager(page.page, page.per_page, page.total, &href)}
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}
