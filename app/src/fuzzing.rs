//! The harness of the `portal_query` `cargo fuzz` target (`fuzz/fuzz_targets/`), also run over
//! its stored corpus by `tests/fuzz_corpus.rs`. Not an API: compiled only with the `fuzzing`
//! feature.

use leptos_router::location::RequestUrl;
use leptos_router::params::ParamsMap;

use crate::dto::{AuditParams, ListParams, MAX_SEARCH_CHARS};

/// The query of `href` as the server hands it to a page: `leptos_router`'s request URL, whose
/// `query_pairs` are collected into a `ParamsMap`.
fn query_of(href: &str) -> Option<ParamsMap> {
    let url = RequestUrl::new(href).parse().ok()?;
    Some(url.search_params().clone())
}

/// Whether a link can carry `text` unchanged. `leptos_router` 0.8 decodes query values twice
/// (`query_pairs`, then `ParamsMap::insert`), so a `%` followed by two hex digits does not
/// survive.
fn linkable(text: &str) -> bool {
    !text.contains('%')
}

/// Filter text as `dto::clean_text` promises it: trimmed, no control characters, capped.
fn assert_clean(text: &str) {
    assert_eq!(text.trim(), text, "trimmed: {text:?}");
    assert!(!text.chars().any(char::is_control), "no control character");
    assert!(text.chars().count() <= MAX_SEARCH_CHARS, "capped");
}

/// The input as a query string, read by the registration list and by the audit page.
///
/// # Panics
/// When a parameter breaks its rule (page outside 1 to 1,000,000, filter text not clean), or the
/// link a page makes of its query does not read back as that query (for text without `%`: see
/// `linkable`).
pub fn portal_query(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Some(map) = query_of(&format!("/?{query}")) else {
        return;
    };

    let list = ListParams::from_query(&map);
    assert!((1..=1_000_000).contains(&list.page));
    assert_clean(&list.q);
    assert_eq!(
        list.is_filtered(),
        !list.q.is_empty() || list.status.is_some()
    );
    let href = list.href(list.page);
    if linkable(&list.q) {
        let back = query_of(&href).map(|m| ListParams::from_query(&m));
        assert_eq!(back.as_ref(), Some(&list), "{href}");
    }

    let audit = AuditParams::from_query(&map);
    assert!((1..=1_000_000).contains(&audit.page));
    let texts = [&audit.client_id, &audit.actor, &audit.action];
    for text in texts {
        assert_clean(text);
    }
    let verify = audit.verify_href();
    assert!(verify.ends_with("verify=1"));
    if texts.iter().all(|t| linkable(t)) {
        for href in [audit.href(audit.page), verify] {
            let back = query_of(&href).map(|m| AuditParams::from_query(&m));
            assert_eq!(back.as_ref(), Some(&audit), "{href}");
        }
    }
}
