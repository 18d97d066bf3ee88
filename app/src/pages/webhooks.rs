//! Event notifications (`/webhooks`, docs/webhooks.md): the webhooks every registration change
//! is posted to, how many events wait, and the dead letters (events given up after their last
//! attempt), each of which an operator can send again.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::webhooks_overview;
use crate::components::{ErrorPanel, Id, Loading, Time};
use crate::dto::{format_count, registration_href, WebhooksOverview};

/// The webhooks page.
#[component]
pub fn WebhooksPage() -> impl IntoView {
    let data = Resource::new(|| (), |()| webhooks_overview());
    let query = use_query_map();
    let notice = move || {
        query.with(|q| match (q.get_str("done"), q.get_str("error")) {
            (Some("retried"), _) => Some((
                true,
                "The event is in line again; it is sent within a few seconds.",
            )),
            (_, Some("retry_nothing")) => Some((
                true,
                "That event is no longer a dead letter; nothing changed.",
            )),
            (_, Some(_)) => Some((
                false,
                "The event could not be put in line again. Try again in a moment.",
            )),
            _ => None,
        })
    };
    view! {
        <Title text="Webhooks · DCR Admin"/>
        <div class="page-head">
            <h1>"Webhooks"</h1>
            <p class="muted">"Every registration change is posted to these addresses as a JWS signed with the Data Holder's key, at least once and in order per registration."</p>
        </div>
        {move || notice().map(|(ok, text)| view! {
            <p class=if ok { "alert alert-ok" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>{text}</p>
        })}
        <Transition fallback=|| view! { <Loading what="the webhooks"/> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => content(o).into_any(),
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn content(o: WebhooksOverview) -> impl IntoView {
    if o.webhooks.is_empty() && o.waiting == 0 && o.dead == 0 {
        return view! {
            <div class="empty card">
                <h2>"No webhook is configured"</h2>
                <p>"Events are posted once webhooks are listed under [webhooks] endpoints (DCR_WEBHOOKS); see docs/webhooks.md."</p>
            </div>
        }
        .into_any();
    }
    let dead_class = if o.dead > 0 { "stat-bad" } else { "" };
    let can_act = o.can_act;
    view! {
        <section class="card" aria-labelledby="h-hooks">
            <h2 id="h-hooks">"Where events go"</h2>
            <ul class="plain">
                {o.webhooks.into_iter().map(|(name, url)| view! {
                    <li><strong>{name}</strong>" " <code>{url}</code></li>
                }).collect_view()}
            </ul>
            <dl class="stats">
                <div><dt>"Waiting"</dt><dd>{format_count(o.waiting.unsigned_abs())}</dd></div>
                <div class=dead_class><dt>"Given up (dead letters)"</dt><dd>{format_count(o.dead.unsigned_abs())}</dd></div>
            </dl>
            {o.oldest.map(|t| view! { <p class="muted">"The oldest waiting event happened " <Time secs=t/> "."</p> })}
        </section>
        <section class="card" aria-labelledby="h-dead">
            <h2 id="h-dead">"Dead letters"</h2>
            {if o.dead_letters.is_empty() {
                view! { <p class="muted">"No event was given up."</p> }.into_any()
            } else {
                view! {
                    <p class="muted">"These events were tried until the last attempt and not accepted. The registration's later events were sent. Once the webhook works again, send them again: the receiver orders events by their id."</p>
                    <div class="table-wrap">
                        <table class="data dead-letters">
                            <caption class="sr-only">"Events given up, newest first"</caption>
                            <thead><tr>
                                <th scope="col">"Event"</th>
                                <th scope="col">"Webhook"</th>
                                <th scope="col">"Registration"</th>
                                <th scope="col">"Happened"</th>
                                <th scope="col">"Attempts"</th>
                                <th scope="col">"Last error"</th>
                                <th scope="col">"Given up"</th>
                                {can_act.then(|| view! { <th scope="col"><span class="sr-only">"Action"</span></th> })}
                            </tr></thead>
                            <tbody>
                                {o.dead_letters.into_iter().map(|d| {
                                    let retry = format!("/webhooks/{}/retry", d.event_id);
                                    let label = format!("Send event {} again", d.event_id);
                                    view! {
                                        <tr>
                                            <td data-label="Event"><code>{d.event.clone()}</code>" #"{d.event_id}</td>
                                            <td data-label="Webhook">{d.webhook.clone()}</td>
                                            <td data-label="Registration"><a href=registration_href(&d.client_id)><Id value=d.client_id.clone()/></a></td>
                                            <td data-label="Happened" class="nowrap"><Time secs=d.occurred_at/></td>
                                            <td data-label="Attempts">{d.attempts}</td>
                                            <td data-label="Last error">{d.last_error.clone().unwrap_or_default()}</td>
                                            <td data-label="Given up" class="nowrap"><Time secs=d.dead_at/></td>
                                            {can_act.then(|| view! {
                                                <td data-label="Action">
                                                    <form method="post" action=retry>
                                                        <button type="submit" class="btn" aria-label=label>"Send again"</button>
                                                    </form>
                                                </td>
                                            })}
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
    .into_any()
}
