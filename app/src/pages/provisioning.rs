//! How the registrations stand at the bank's authorization server (`/provisioning`,
//! docs/provisioning.md): how many are in step, waiting or refused; those needing attention
//! with the authorization server's last error; and the last reconciliation with what it found.
//! Each registration's own page shows its waiting changes and a button to deliver them now.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::provisioning_overview;
use crate::components::{ErrorPanel, Id, Loading, Time};
use crate::dto::{format_count, registration_href, DriftItem, ProvisioningOverview};

/// The provisioning page.
#[component]
pub fn ProvisioningPage() -> impl IntoView {
    let data = Resource::new(|| (), |()| provisioning_overview());
    view! {
        <Title text="Provisioning · DCR Admin"/>
        <div class="page-head">
            <h1>"Provisioning"</h1>
            <p class="muted">"Each registration is also a client of the bank's authorization server, which issues the tokens for the CDR APIs. This page shows whether those clients are in step with the registrations."</p>
        </div>
        <Transition fallback=|| view! { <Loading what="the provisioning state"/> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) if !o.enabled && o.provisioned + o.pending + o.failed == 0 => view! {
                        <div class="empty card">
                            <h2>"Provisioning is off"</h2>
                            <p>"This server does not create clients at an authorization server ([provisioning] in the configuration; see docs/provisioning.md)."</p>
                        </div>
                    }.into_any(),
                    Ok(o) => overview(o).into_any(),
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn overview(o: ProvisioningOverview) -> impl IntoView {
    let attention_more = o.pending + o.failed > o.attention.len() as i64;
    let failed_class = if o.failed > 0 { "stat-bad" } else { "" };
    view! {
        {(!o.enabled).then(|| view! {
            <p class="alert alert-info">"Provisioning is turned off in this server's configuration: nothing below changes until it is on again."</p>
        })}
        <section class="card" aria-labelledby="h-states">
            <h2 id="h-states">"Registrations at the authorization server"</h2>
            <dl class="stats">
                <div><dt>"In step"</dt><dd>{format_count(o.provisioned.unsigned_abs())}</dd></div>
                <div><dt>"Change waiting"</dt><dd>{format_count(o.pending.unsigned_abs())}</dd></div>
                <div class=failed_class><dt>"Refused"</dt><dd>{format_count(o.failed.unsigned_abs())}</dd></div>
            </dl>
        </section>
        <section class="card" aria-labelledby="h-attention">
            <h2 id="h-attention">"Needing attention"</h2>
            {if o.attention.is_empty() {
                view! { <p class="muted">"Every registration's last change reached the authorization server."</p> }.into_any()
            } else {
                view! {
                    <p class="muted">"Refused changes are tried again every 5 minutes until the cause is fixed; open a registration to deliver its changes now."</p>
                    <div class="table-wrap">
                        <table class="data attention-table">
                            <caption class="sr-only">"Registrations whose changes have not reached the authorization server"</caption>
                            <thead><tr>
                                <th scope="col">"Registration"</th>
                                <th scope="col">"State"</th>
                                <th scope="col">"Failed attempts"</th>
                                <th scope="col">"Last error"</th>
                                <th scope="col">"Since"</th>
                            </tr></thead>
                            <tbody>
                                {o.attention.into_iter().map(|a| view! {
                                    <tr>
                                        <td data-label="Registration"><a href=registration_href(&a.client_id)><Id value=a.client_id.clone()/></a></td>
                                        <td data-label="State">{state_badge(&a.state)}</td>
                                        <td data-label="Failed attempts">{a.attempts}</td>
                                        <td data-label="Last error">{a.last_error.unwrap_or_default()}</td>
                                        <td data-label="Since" class="nowrap"><Time secs=a.updated_at/></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {attention_more.then(|| view! { <p class="muted">"Only the first 100 are listed."</p> })}
                }.into_any()
            }}
        </section>
        <section class="card" aria-labelledby="h-drift">
            <h2 id="h-drift">"Drift"</h2>
            {match o.last_run {
                None => view! { <p class="muted">"No reconciliation has run yet. The server runs one periodically (provisioning.reconcile_interval_secs); an operator can run dcr-server provisioning reconcile."</p> }.into_any(),
                Some(run) => view! {
                    <p>
                        "Last reconciliation: " <Time secs=run.finished_at/>
                        {format!(" by {}: {} registrations compared, {} differ", run.actor, run.checked, run.drifted)}
                        {run.repair.then(|| format!(", {} repairs queued", run.repaired))}
                        "."
                    </p>
                    {drift_table(o.drift, o.drift_total)}
                }.into_any(),
            }}
        </section>
    }
}

/// A provisioning state as a badge.
pub fn state_badge(state: &str) -> impl IntoView {
    let (class, text) = match state {
        "provisioned" => ("badge badge-active", "In step"),
        "pending" => ("badge badge-inactive", "Change waiting"),
        _ => ("badge badge-revoked", "Refused"),
    };
    view! { <span class=class>{text}</span> }
}

/// What a kind of drift means, in words.
pub fn drift_kind(kind: &str) -> &'static str {
    match kind {
        "missing" => "Missing there",
        "extra" => "Still there",
        "disabled" => "Enabled state differs",
        "metadata" => "Metadata differs",
        _ => "Not checked",
    }
}

fn drift_table(drift: Vec<DriftItem>, total: u64) -> impl IntoView {
    if drift.is_empty() {
        return view! { <p class="muted">"Every registration compared matched its client."</p> }
            .into_any();
    }
    let more = total > drift.len() as u64;
    view! {
        <div class="table-wrap">
            <table class="data drift-table">
                <caption class="sr-only">"Registrations whose client differs at the authorization server"</caption>
                <thead><tr>
                    <th scope="col">"Registration"</th>
                    <th scope="col">"Difference"</th>
                    <th scope="col">"Details"</th>
                    <th scope="col">"Repair"</th>
                </tr></thead>
                <tbody>
                    {drift.into_iter().map(|d| view! {
                        <tr>
                            <td data-label="Registration"><a href=registration_href(&d.client_id)><Id value=d.client_id.clone()/></a></td>
                            <td data-label="Difference">{drift_kind(&d.kind)}</td>
                            <td data-label="Details">{d.detail}</td>
                            <td data-label="Repair">{match d.repaired_at {
                                Some(t) => view! { "Queued " <Time secs=t/> }.into_any(),
                                None => view! { <span class="muted">"Not repaired (dcr-server provisioning reconcile --repair)"</span> }.into_any(),
                            }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {more.then(|| view! { <p class="muted">{format!("{} in all; the first {} are listed.", format_count(total), crate::dto::DRIFT_SHOWN)}</p> })}
    }
    .into_any()
}
