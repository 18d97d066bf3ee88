//! The overview (`/overview`, the landing page after sign-in): registrations by status, daily
//! charts over a chosen range (registrations created, registration requests refused by error
//! code, token requests), the Register sync's health, and the latest administrator actions.
//!
//! The charts are SVG drawn by the server with the page (they need no JavaScript), each with
//! its numbers in a table beside it for screen readers and for copying. The days are the
//! portal's time zone's.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::overview;
use crate::components::{ErrorPanel, Loading, Time};
use crate::dto::{format_count, overview_days, Overview, RegisterHealth, Series, OVERVIEW_RANGES};
use crate::pages::registration::history;

/// The overview page.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let query = use_query_map();
    let days = Memo::new(move |_| query.with(|q| overview_days(q.get_str("days"))));
    let data = Resource::new(move || days.get(), overview);
    view! {
        <Title text="Overview · DCR Admin"/>
        <div class="page-head">
            <h1>"Overview"</h1>
            <p class="muted">"Registrations, requests and the Register sync at a glance."</p>
        </div>
        <nav class="ranges" aria-label="Range of the charts">
            <span class="muted">"Charts over the last "</span>
            {OVERVIEW_RANGES.into_iter().map(|d| view! {
                <a href=format!("/overview?days={d}") aria-current=move || (days.get() == d).then_some("page")>
                    {format!("{d} days")}
                </a>
            }).collect_view()}
        </nav>
        <Transition fallback=|| view! { <Loading what="the overview"/> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => content(o).into_any(),
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The statuses in the order shown, with their words and the list's filter.
const STATUSES: [(&str, &str); 5] = [
    ("active", "Active"),
    ("revoked", "Revoked"),
    ("released", "Released"),
    ("deleted", "Deleted by the recipient"),
    ("removed", "Removed at the Register"),
];

fn content(o: Overview) -> impl IntoView {
    let count = |s: &str| {
        o.statuses
            .iter()
            .find(|(k, _)| k == s)
            .map_or(0, |(_, n)| *n)
    };
    let total: i64 = o.statuses.iter().map(|(_, n)| n).sum();
    let statuses = STATUSES
        .into_iter()
        .map(|(key, words)| (key, words, count(key)))
        .collect::<Vec<_>>();
    let range = format!("the last {} days", o.days);
    let disagree_class = if o.disagreements > 0 { "stat-bad" } else { "" };
    let created = vec![Series {
        label: "created".into(),
        values: o.created,
    }];
    view! {
        <section class="card" aria-labelledby="h-statuses">
            <h2 id="h-statuses">"Registrations"</h2>
            <dl class="stats">
                <div><dt>"In all"</dt><dd>{format_count(total.unsigned_abs())}</dd></div>
                {statuses.into_iter().map(|(key, words, n)| view! {
                    <div><dt><a href=format!("/?status={key}")>{words}</a></dt><dd>{format_count(n.unsigned_abs())}</dd></div>
                }).collect_view()}
                <div class=disagree_class>
                    <dt><a href="/?status=inactive">"Active here, not at the Register"</a></dt>
                    <dd>{format_count(o.disagreements.unsigned_abs())}</dd>
                </div>
            </dl>
        </section>
        <div class="grid-charts">
            {chart("h-created", "Registrations created", &range, &o.dates, created, false, "No registration was created in this range.")}
            {chart("h-rejected", "Registration requests refused, by error code", &range, &o.dates, o.rejected, true, "No registration request was refused in this range.")}
            {chart("h-tokens", "Token requests", &range, &o.dates, o.tokens, true, "No token was asked for in this range.")}
        </div>
        <section class="card" aria-labelledby="h-register">
            <h2 id="h-register">"CDR Register sync"</h2>
            {register_health(o.register)}
        </section>
        <section class="card" aria-labelledby="h-recent">
            <h2 id="h-recent">"Recent administrator actions"</h2>
            {if o.recent.is_empty() {
                view! { <p class="muted">"No administrator has revoked, released, exported or changed an account yet."</p> }.into_any()
            } else {
                view! {
                    {history(o.recent)}
                    <p><a href="/audit">"The whole audit log"</a></p>
                }.into_any()
            }}
        </section>
    }
}

fn register_health(lists: Vec<RegisterHealth>) -> impl IntoView {
    if lists.is_empty() {
        return view! { <p class="muted">"The Register has not been polled yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data register-health">
                <caption class="sr-only">"The Register's status lists as last polled"</caption>
                <thead><tr>
                    <th scope="col">"Status list"</th>
                    <th scope="col">"Last success"</th>
                    <th scope="col">"Failures in a row"</th>
                    <th scope="col">"Last attempt"</th>
                </tr></thead>
                <tbody>
                    {lists.into_iter().map(|l| {
                        let name = match l.resource.as_str() {
                            "data_recipients" => "Data recipients".to_string(),
                            "software_products" => "Software products".to_string(),
                            other => other.to_string(),
                        };
                        let failing = l.failures > 0;
                        view! {
                            <tr class=failing.then_some("row-bad")>
                                <th scope="row" data-label="Status list">{name}</th>
                                <td data-label="Last success">{match l.synced_at {
                                    Some(t) => view! { <Time secs=t/> }.into_any(),
                                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                                }}</td>
                                <td data-label="Failures in a row">
                                    {format_count(l.failures.unsigned_abs())}
                                    {l.last_error.filter(|_| failing).map(|e| view! { <div class="muted small">{e}</div> })}
                                </td>
                                <td data-label="Last attempt"><Time secs=l.attempted_at/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Drawing size of a chart (the SVG scales to its box).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
/// Room on the left for the scale, and below for the dates.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;

/// A stacked bar chart of `series` by day, with a legend when the series are `labelled` (each
/// then summed in the chart's name too), and the same numbers as a table.
fn chart(
    id: &'static str,
    title: &'static str,
    range: &str,
    dates: &[String],
    series: Vec<Series>,
    labelled: bool,
    empty: &'static str,
) -> impl IntoView {
    let totals: Vec<i64> = (0..dates.len())
        .map(|d| {
            series
                .iter()
                .map(|s| s.values.get(d).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let sum: i64 = totals.iter().sum();
    let top = nice_ceiling(totals.iter().copied().max().unwrap_or(0));
    let summary = format!(
        "{title} over {range}: {} in all{}",
        format_count(sum.unsigned_abs()),
        series
            .iter()
            .filter(|_| labelled)
            .map(|s| format!(", {} {}", format_count(s.total().unsigned_abs()), s.label))
            .collect::<String>()
    );
    view! {
        <section class="card chart" aria-labelledby=id>
            <h2 id=id>{title}</h2>
            <p class="muted">{summary.clone()}</p>
            {if sum == 0 {
                view! { <p class="muted">{empty}</p> }.into_any()
            } else {
                view! {
                    {bars(&summary, dates, &series, top)}
                    {labelled.then(|| legend(&series))}
                    <details class="chart-data">
                        <summary>"The numbers by day"</summary>
                        {numbers(title, dates, &series, &totals, labelled)}
                    </details>
                }.into_any()
            }}
        </section>
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `n` (at least 1): the top of the scale.
fn nice_ceiling(n: i64) -> i64 {
    let mut step = 1_i64;
    loop {
        for m in [1, 2, 5] {
            let v = step.saturating_mul(m);
            if v >= n {
                return v;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn bars(summary: &str, dates: &[String], series: &[Series], top: i64) -> impl IntoView {
    let n = dates.len().max(1) as f64;
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let slot = plot_w / n;
    let bar_w = (slot * 0.8).max(1.0);
    let scale = plot_h / top as f64;
    let mut rects = Vec::new();
    for (d, date) in dates.iter().enumerate() {
        let x = LEFT + slot * d as f64 + (slot - bar_w) / 2.0;
        let mut y = plot_h;
        for (i, s) in series.iter().enumerate() {
            let v = s.values.get(d).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let h = v as f64 * scale;
            y -= h;
            let tip = format!("{date}: {} {}", format_count(v.unsigned_abs()), s.label);
            rects.push(view! {
                <rect class=format!("series-{}", i % 6) x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar_w:.1}") height=format!("{h:.1}")>
                    <title>{tip}</title>
                </rect>
            });
        }
    }
    // Dates under the first, middle and last bars.
    let marks: Vec<usize> = {
        let mut m = vec![0, dates.len() / 2, dates.len().saturating_sub(1)];
        m.dedup();
        m
    };
    let labels = marks
        .into_iter()
        .filter_map(|d| dates.get(d).map(|date| (d, date.clone())))
        .map(|(d, date)| {
            let x = LEFT + slot * d as f64 + slot / 2.0;
            let anchor = if d == 0 && dates.len() > 1 {
                "start"
            } else if d + 1 == dates.len() && dates.len() > 1 {
                "end"
            } else {
                "middle"
            };
            view! { <text class="axis" x=format!("{x:.1}") y=format!("{:.1}", HEIGHT - 6.0) text-anchor=anchor>{date}</text> }
        })
        .collect_view();
    view! {
        <svg class="bars" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=summary.to_string() preserveAspectRatio="none">
            <line class="grid" x1=LEFT.to_string() x2=WIDTH.to_string() y1="0.5" y2="0.5"/>
            <line class="grid" x1=LEFT.to_string() x2=WIDTH.to_string() y1=format!("{:.1}", plot_h / 2.0) y2=format!("{:.1}", plot_h / 2.0)/>
            <line class="base" x1=LEFT.to_string() x2=WIDTH.to_string() y1=plot_h.to_string() y2=plot_h.to_string()/>
            <text class="axis" x=(LEFT - 6.0).to_string() y="12" text-anchor="end">{format_count(top.unsigned_abs())}</text>
            <text class="axis" x=(LEFT - 6.0).to_string() y=format!("{:.1}", plot_h / 2.0 + 4.0) text-anchor="end">{format_count((top / 2).unsigned_abs())}</text>
            <text class="axis" x=(LEFT - 6.0).to_string() y=plot_h.to_string() text-anchor="end">"0"</text>
            {rects}
            {labels}
        </svg>
    }
}

fn legend(series: &[Series]) -> impl IntoView {
    view! {
        <ul class="legend" aria-hidden="true">
            {series.iter().enumerate().map(|(i, s)| view! {
                <li><span class=format!("swatch series-{}", i % 6)></span>{s.label.clone()}</li>
            }).collect_view()}
        </ul>
    }
}

fn numbers(
    title: &str,
    dates: &[String],
    series: &[Series],
    totals: &[i64],
    labelled: bool,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data chart-table">
                <caption class="sr-only">{format!("{title}, by day")}</caption>
                <thead><tr>
                    <th scope="col">"Day"</th>
                    {series.iter().filter(|_| labelled).map(|s| view! { <th scope="col" class="num">{s.label.clone()}</th> }).collect_view()}
                    <th scope="col" class="num">{if labelled { "In all" } else { "Count" }}</th>
                </tr></thead>
                <tbody>
                    {dates.iter().enumerate().rev().map(|(d, date)| view! {
                        <tr>
                            <th scope="row">{date.clone()}</th>
                            {series.iter().filter(|_| labelled).map(|s| view! {
                                <td class="num">{format_count(s.values.get(d).copied().unwrap_or(0).unsigned_abs())}</td>
                            }).collect_view()}
                            <td class="num">{format_count(totals.get(d).copied().unwrap_or(0).unsigned_abs())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::nice_ceiling;

    #[test]
    fn the_scale_ends_at_a_round_number() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(2_000), 2_000);
        assert_eq!(nice_ceiling(2_001), 5_000);
        assert_eq!(nice_ceiling(i64::MAX), i64::MAX);
    }
}
