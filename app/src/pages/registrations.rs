//! The registration list (`/`): search, status filter, sort and paging, all held in the URL
//! (`?q=&status=&sort=&page=`) so that a view can be bookmarked and the back button works.
//!
//! The filter is a GET form: before the WASM arrives the browser submits it and the server
//! renders the result; after, the router navigates without a reload.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::list_registrations;
use crate::components::{pager, ErrorPanel, Id, Results, StatusBadge, Time};
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
    view! {
        <div class="card filters">
            <Form method="GET" action="/">
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
            </Form>
        </div>
    }
}

fn results(page: RegistrationPage, params: &ListParams) -> impl IntoView {
    let href = {
        let params = params.clone();
        move |n: u32| params.href(n)
    };
    if page.total == 0 {
        return if params.is_filtered() {
            view! {
                <div class="empty card">
                    <h2>"No registrations match"</h2>
                    <p>"Nothing matches this search and filter. Check the spelling, or search by part of a name or an id."</p>
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
        let last = u32::try_from(page.total.div_ceil(u64::from(page.per_page))).unwrap_or(1);
        return view! {
            <div class="empty card">
                <h2>"This page is past the end"</h2>
                <p>{format!("There are {} matching registrations, on {} pages.", format_count(page.total), last)}</p>
                <p><a class="btn btn-ghost" href=href(last)>"Go to the last page"</a></p>
            </div>
        }
        .into_any();
    }
    let heading = format!(
        "{} registration{}",
        format_count(page.total),
        if page.total == 1 { "" } else { "s" }
    );
    view! {
        <div class="table-wrap">
            <table class="data reg-table">
                <caption class="sr-only">{heading}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Software product"</th>
                        <th scope="col">"Software product ID"</th>
                        <th scope="col">"Brand"</th>
                        <th scope="col">"Legal entity"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Registered"</th>
                        <th scope="col">"Updated"</th>
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
        {pager(page.page, page.per_page, page.total, &href)}
    }
    .into_any()
}
