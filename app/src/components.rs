//! Small pieces shared by the pages: status badges, times, field lists, the pager, export
//! links and the loading, empty and error states. Every value is rendered as text.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::params::ParamsMap;

use crate::dto::{
    format_count, format_utc_seconds, rfc3339, DisplayZone, Field, FieldValue, Status,
};
use crate::error::AdminError;

/// A registration's status as a coloured badge with its meaning as a tooltip.
#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    view! {
        <span class=format!("badge badge-{}", status.as_str()) title=status.meaning()>
            {status.label()}
        </span>
    }
}

/// An identifier, cut with an ellipsis in tables; the full value is its title.
#[component]
pub fn Id(#[prop(into)] value: String) -> impl IntoView {
    let title = value.clone();
    view! { <span class="id mono" title=title>{value}</span> }
}

/// A button that copies `value` to the clipboard. It needs the WASM, so it is hidden until the
/// page is hydrated; "Copied" is announced to screen readers.
#[component]
pub fn CopyButton(#[prop(into)] value: String, label: &'static str) -> impl IntoView {
    let (ready, set_ready) = signal(false);
    // Effects run in the browser only, after hydration.
    Effect::new(move |_| set_ready.set(true));
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&value);
            set_copied.set(true);
            set_timeout(
                move || set_copied.set(false),
                std::time::Duration::from_secs(2),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&value, set_copied);
    };
    view! {
        <button type="button" class="btn-copy" hidden=move || !ready.get()
            aria-label=format!("Copy the {label}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
        <span class="sr-only" role="status">{move || copied.get().then_some("Copied")}</span>
    }
}

/// A time in the portal's zone ([`DisplayZone`]), to the minute or, with `seconds`, to the
/// second; in UTC to the second on hover, and machine-readable.
#[component]
pub fn Time(secs: i64, #[prop(optional)] seconds: bool) -> impl IntoView {
    let zone = use_context::<DisplayZone>().unwrap_or_default();
    view! { <time datetime=rfc3339(secs) title=format_utc_seconds(secs)>{zone.format(secs, seconds)}</time> }
}

/// Shown while data loads for the first time.
#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <div class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            {format!("Loading {what}…")}
        </div>
    }
}

/// The results of a query, in a `<Transition>`: the previous results stay on screen while the
/// next ones load, and the container is `aria-busy` meanwhile.
///
/// Only the browser tracks the pending state. On the server the page is sent complete, and
/// `Transition`'s pending-state effect would run as a task after the render has finished and
/// read the boundary's state already disposed: a panic in a worker thread (Leptos 0.8).
#[component]
pub fn Results<Chil>(what: &'static str, children: TypedChildren<Chil>) -> impl IntoView
where
    Chil: IntoView + Send + 'static,
{
    let fallback = move || view! { <Loading what/> };
    let children = children.into_inner();
    if cfg!(feature = "hydrate") {
        let (pending, set_pending) = signal(false);
        view! {
            <div class="results" aria-busy=move || pending.get().to_string()>
                <Transition fallback set_pending>{children()}</Transition>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="results" aria-busy="false">
                <Transition fallback>{children()}</Transition>
            </div>
        }
        .into_any()
    }
}

/// A failure, in words an administrator can act on.
#[component]
pub fn ErrorPanel(error: AdminError) -> impl IntoView {
    let signed_out = error == AdminError::Unauthenticated;
    view! {
        <div class="alert alert-error" role="alert">
            <p>{error.to_string()}</p>
            {signed_out.then(|| view! { <p><a href="/login?error=expired" rel="external">"Sign in again"</a></p> })}
        </div>
    }
}

/// Name/value pairs, each value as text (lists as lists, other JSON indented).
#[component]
pub fn FieldList(fields: Vec<Field>, #[prop(into)] empty: String) -> impl IntoView {
    if fields.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    view! {
        <dl class="meta">
            {fields
                .into_iter()
                .map(|f| {
                    view! {
                        <dt class="mono">{f.name}</dt>
                        <dd>{field_value(f.value)}</dd>
                    }
                })
                .collect_view()}
        </dl>
    }
    .into_any()
}

/// Text longer than this (an SSA, say) is folded behind a disclosure.
const LONG_TEXT: usize = 240;

fn field_value(v: FieldValue) -> AnyView {
    match v {
        FieldValue::Text(s) if s.chars().count() > LONG_TEXT => {
            let preview: String = s.chars().take(48).collect();
            let count = format!(" ({} characters)", format_count(s.chars().count() as u64));
            view! {
                <details class="long">
                    <summary><span class="preview">{preview}"…"</span>{count}</summary>
                    <pre class="json">{s}</pre>
                </details>
            }
            .into_any()
        }
        FieldValue::Text(s) => view! { <span class="value">{s}</span> }.into_any(),
        FieldValue::Time(t) => view! { <span><Time secs=t/>" "<span class="muted mono">{format!("({t})")}</span></span> }.into_any(),
        FieldValue::List(items) if items.is_empty() => {
            view! { <span class="muted">"(empty list)"</span> }.into_any()
        }
        FieldValue::List(items) => view! {
            <ul class="plain">{items.into_iter().map(|i| view! { <li class="mono">{i}</li> }).collect_view()}</ul>
        }
        .into_any(),
        FieldValue::Json(s) => view! { <pre class="json">{s}</pre> }.into_any(),
    }
}

/// "Showing 26–50 of 1,234" and first / previous / next / last links. `href` builds the URL of
/// a page, so the query stays in the address bar.
pub fn pager(
    page: u32,
    per_page: u32,
    total: u64,
    more: bool,
    href: &dyn Fn(u32) -> String,
) -> impl IntoView {
    let per = u64::from(per_page.max(1));
    let last = u32::try_from(total.div_ceil(per).max(1)).unwrap_or(u32::MAX);
    let from = (u64::from(page) - 1) * per + 1;
    let to = (u64::from(page) * per).min(total);
    let of = if more {
        format!("more than {}", format_count(total))
    } else {
        format_count(total)
    };
    let summary = if total == 0 || from > total {
        format!("{of} in all")
    } else {
        format!(
            "Showing {}–{} of {of}",
            format_count(from),
            format_count(to)
        )
    };
    // With more matches than were counted, the pages end at the count but the list does not:
    // there is no last page to name or to link to.
    let position = if more {
        format!("Page {}", format_count(u64::from(page)))
    } else {
        format!(
            "Page {} of {}",
            format_count(u64::from(page)),
            format_count(u64::from(last))
        )
    };
    let link = |label: &'static str, rel: &'static str, target: Option<u32>| match target {
        Some(p) => view! { <a class="btn btn-ghost" href=href(p) rel=rel>{label}</a> }.into_any(),
        None => {
            view! { <span class="btn btn-ghost" aria-disabled="true">{label}</span> }.into_any()
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            <p class="muted" aria-live="polite">{summary}</p>
            <div class="pager-links">
                {link("« First", "first", (page > 1).then_some(1))}
                {link("‹ Previous", "prev", (page > 1).then(|| (page - 1).min(last)))}
                <span class="pager-page">{position}</span>
                {link("Next ›", "next", (page < last).then_some(page + 1))}
                {link("Last »", "last", (!more && page < last).then_some(last))}
            </div>
        </nav>
    }
}

/// What a page past the end of a list says: how many match, on how many pages, and a link to
/// the last one. `what` names the rows ("registrations"); with `more` (counting stopped at
/// `total`), `listed` says which of them are listed ("the first") and `narrow` how to find the
/// others.
pub fn past_the_end(
    what: &str,
    total: u64,
    more: bool,
    per_page: u32,
    (listed, narrow): (&str, &str),
    href: &dyn Fn(u32) -> String,
) -> impl IntoView {
    let last = u32::try_from(total.div_ceil(u64::from(per_page.max(1)))).unwrap_or(1);
    let pages = format_count(u64::from(last));
    let (said, link) = if more {
        let total = format_count(total);
        (
            format!("More than {total} {what} match: {listed} {total} are listed, on {pages} pages. {narrow}"),
            format!("Go to page {pages}"),
        )
    } else {
        (
            format!(
                "There are {} matching {what}, on {pages} pages.",
                format_count(total)
            ),
            "Go to the last page".to_owned(),
        )
    };
    view! {
        <div class="empty card">
            <h2>"This page is past the end"</h2>
            <p>{said}</p>
            <p><a class="btn btn-ghost" href=href(last)>{link}</a></p>
        </div>
    }
}

/// The submit handler of a GET filter form (`<form method="GET">`), for when the WASM runs: the
/// URL is built by `href` from the form's fields named in `names` (as they would be read from a
/// URL, so empty and default values are left out) and the router navigates to it without a
/// reload. Without the WASM the browser submits the form itself.
///
/// Leptos' `<Form>` would add the submit button to the query as an empty, nameless parameter
/// (`&=`); building the URL here keeps the address the one the page's links use.
pub fn filter_submit(
    names: &'static [&'static str],
    href: fn(&ParamsMap) -> String,
) -> impl Fn(SubmitEvent) + 'static {
    let navigate = leptos_router::hooks::use_navigate();
    move |ev: SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast as _;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            let Ok(data) = web_sys::FormData::new_with_form(&form) else {
                return;
            };
            ev.prevent_default();
            let mut query = ParamsMap::new();
            for name in names {
                if let Some(value) = data.get(name).as_string() {
                    query.insert(*name, value);
                }
            }
            navigate(&href(&query), leptos_router::NavigateOptions::default());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, &navigate, names, href);
    }
}

/// Links to download what the filters select, every page of it: plain links (`download`, so
/// the router leaves them to the browser), which work without the WASM.
#[component]
pub fn Exports(csv: Signal<String>, jsonl: Signal<String>, what: &'static str) -> impl IntoView {
    view! {
        <p class="hint exports">
            {format!("Export these {what} (every page): ")}
            <a href=csv download="" rel="external">"CSV"</a>
            " · "
            <a href=jsonl download="" rel="external">"JSON lines"</a>
        </p>
    }
}
