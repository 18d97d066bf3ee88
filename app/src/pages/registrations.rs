//! The registration list (`/`): search, status filter, sort and paging, all held in the URL
//! (`?q=&status=&sort=&page=`) so that a view can be bookmarked and the back button works.
//!
//! The filter is a GET form: before the WASM arrives the browser submits it and the server
//! renders the result; after, the router navigates without a reload to the URL the page's links
//! use ([`ListParams::href`]). Links under the form download the filtered list as CSV or JSON
//! lines ([`ListParams::export_href`]).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::list_registrations;
use crate::components::{
    filter_submit, pager, past_the_end, ErrorPanel, Exports, Id, Results, StatusBadge, Time,
};
use crate::dto::{format_count, registration_href, ListParams, RegistrationPage, SortKey, Status};

/// The registration list.
#[component]
pub fn RegistrationsPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| query.with(ListParams::from_query));
    let data = Resource::new(
        move || params.get(),
        |p| {
            list_registrations(
                p.q,
                p.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                p.sort.as_str().to_string(),
                p.page,
            )
        },
    );
    view! {
        <Title text="Registrations · DCR Admin"/>
        <div class="page-head">
            <h1>"Registrations"</h1>
            <p class="muted">"Software products registered with this Data Holder through Dynamic Client Registration."</p>
        </div>
        <Filters params/>
        <Results what="registrations">
            {move || Suspend::new(async move {
                let p = params.get();
                match data.await {
                    Ok(page) => results(page, &p).into_any(),
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Results>
    }
}

/// The search form.
#[component]
fn Filters(params: Memo<ListParams>) -> impl IntoView {
    let q = move || params.with(|p| p.q.clone());
    let status = move || params.with(|p| p.status.map_or("", Status::as_str));
    let sort = move || params.with(|p| p.sort.as_str());
    let on_submit = filter_submit(&["q", "status", "sort"], |q| {
        ListParams::from_query(q).href(1)
    });
    view! {
        <div class="card filters">
            <form method="GET" action="/" on:submit=on_submit>
                <div class="toolbar" role="search">
                    <div class="field grow">
                        <label for="q">"Search"</label>
                        <input
                            id="q"
                            name="q"
                            type="search"
                            maxlength="200"
                            placeholder="Name, client ID, software product ID, brand or legal entity"
                            value=q
                            prop:value=q
                        />
                    </div>
                    <div class="field">
                        <label for="status">"Status"</label>
                        <select id="status" name="status" prop:value=status>
                            <option value="" selected=move || status().is_empty()>"Any status"</option>
                            {Status::ALL
                                .into_iter()
                                .map(|s| view! {
                                    <option value=s.as_str() selected=move || status() == s.as_str()>{s.label()}</option>
                                })
                                .collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="sort">"Sort by"</label>
                        <select id="sort" name="sort" prop:value=sort>
                            {SortKey::ALL
                                .into_iter()
                                .map(|s| view! {
                                    <option value=s.as_str() selected=move || sort() == s.as_str()>{s.label()}</option>
                                })
                                .collect_view()}
                        </select>
                    </div>
                    <div class="field actions">
                        <button type="submit" class="btn btn-primary">"Search"</button>
                        {move || params.with(ListParams::is_filtered).then(|| view! {
                            <a class="btn btn-ghost" href="/">"Clear"</a>
                        })}
                    </div>
                </div>
            </form>
            <Exports
                csv=Signal::derive(move || params.with(|p| p.export_href("csv")))
                jsonl=Signal::derive(move || params.with(|p| p.export_href("jsonl")))
                what="registrations"
            />
        </div>
    }
}

fn results(page: RegistrationPage, params: &ListParams) -> impl IntoView {
    let href = {
        let params = params.clone();
        move |n: u32| params.href(n)
    };
    if page.total == 0 {
        // Spelling advice only for a search: a status filter alone has nothing to misspell.
        let advice = match (params.q.is_empty(), params.status) {
            (false, None) => "Nothing matches this search. Check the spelling, or search by part of a name or an id.",
            (false, Some(_)) => "Nothing with this status matches this search. Check the spelling, or search by part of a name or an id.",
            (true, _) => "No registrations with this status.",
        };
        return if params.is_filtered() {
            view! {
                <div class="empty card">
                    <h2>"No registrations match"</h2>
                    <p>{advice}</p>
                    <p><a class="btn btn-ghost" href="/">"Show all registrations"</a></p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty card">
                    <h2>"No registrations yet"</h2>
                    <p>"When an accredited data recipient registers a software product (POST /register), it appears here."</p>
                </div>
            }
            .into_any()
        };
    }
    if page.items.is_empty() {
        return past_the_end(
            "registrations",
            page.total,
            page.more,
            page.per_page,
            ("the first", "Narrow the search to find the others."),
            &href,
        )
        .into_any();
    }
    let heading = if page.more {
        format!("More than {} registrations", format_count(page.total))
    } else {
        format!(
            "{} registration{}",
            format_count(page.total),
            if page.total == 1 { "" } else { "s" }
        )
    };
    view! {
        <div class="table-wrap">
            <table class="data reg-table">
                <caption class="sr-only">{heading}</caption>
                <thead>
                    <tr>
                        {sort_header("Software product", params, (SortKey::NameAsc, Some(SortKey::NameDesc)))}
                        <th scope="col">"Software product ID"</th>
                        <th scope="col">"Brand"</th>
                        <th scope="col">"Legal entity"</th>
                        <th scope="col">"Status"</th>
                        {sort_header("Registered", params, (SortKey::CreatedDesc, Some(SortKey::CreatedAsc)))}
                        {sort_header("Updated", params, (SortKey::UpdatedDesc, None))}
                    </tr>
                </thead>
                <tbody>
                    {page.items.into_iter().map(|r| {
                        let name_missing = r.client_name.trim().is_empty();
                        view! {
                            <tr>
                                <td data-label="Software product">
                                    <a class="strong" href=registration_href(&r.client_id)>
                                        {if name_missing { "(no name)".to_string() } else { r.client_name }}
                                    </a>
                                    <div class="sub"><Id value=r.client_id/></div>
                                </td>
                                <td data-label="Software product ID"><Id value=r.software_id/></td>
                                <td data-label="Brand">
                                    {r.org_name}
                                    <div class="sub"><Id value=r.org_id/></div>
                                </td>
                                <td data-label="Legal entity">
                                    {r.legal_entity_name.unwrap_or_default()}
                                    <div class="sub"><Id value=r.legal_entity_id.unwrap_or_default()/></div>
                                </td>
                                <td data-label="Status"><StatusBadge status=r.status/></td>
                                <td data-label="Registered" class="nowrap"><Time secs=r.created_at/></td>
                                <td data-label="Updated" class="nowrap"><Time secs=r.updated_at/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {pager(page.page, page.per_page, page.total, page.more, &href)}
    }
    .into_any()
}

/// A column header that sorts the list by its column: `orders` is the order a first click gives
/// and the reverse one, if the column has it; a click on the sorted column reverses it. The
/// header says how the list is sorted (`aria-sort`).
fn sort_header(
    label: &'static str,
    params: &ListParams,
    (first, reverse): (SortKey, Option<SortKey>),
) -> impl IntoView {
    let current = params.sort;
    let descending = |k: SortKey| {
        matches!(
            k,
            SortKey::CreatedDesc | SortKey::UpdatedDesc | SortKey::NameDesc
        )
    };
    let (sorted, next) = if current == first {
        (Some(current), reverse.unwrap_or(first))
    } else if Some(current) == reverse {
        (Some(current), first)
    } else {
        (None, first)
    };
    let aria = sorted.map(|k| {
        if descending(k) {
            "descending"
        } else {
            "ascending"
        }
    });
    let arrow = sorted.map(|k| if descending(k) { " ▼" } else { " ▲" });
    let href = ListParams {
        sort: next,
        ..params.clone()
    }
    .href(1);
    let title = format!("Sort: {}", next.label());
    view! {
        <th scope="col" aria-sort=aria>
            <a class="sort" href=href title=title>{label}<span aria-hidden="true">{arrow}</span></a>
        </th>
    }
}
