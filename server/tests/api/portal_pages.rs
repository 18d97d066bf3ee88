//! The portal's pages as HTTP: compressed for browsers that take it, and 404 with the signed-in
//! frame for an unknown path or registration.

use std::io::Read as _;

use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, COOKIE};
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};
use crate::portal::{add_admin, real_time, Browser, PASSWORD};

/// GET with the session and an `Accept-Encoding`: the status, `Content-Encoding` and raw body.
async fn get_encoded(
    browser: &Browser,
    path: &str,
    accept: &str,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let res = browser
        .http
        .get(format!("{}{path}", browser.base))
        .header(COOKIE, browser.cookie_header())
        .header(ACCEPT_ENCODING, accept)
        .send()
        .await
        .unwrap();
    let encoding = res
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap().to_string());
    (res.status(), encoding, res.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

async fn pages_are_compressed_for_browsers_that_take_it(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;

    let (status, encoding, plain) = get_encoded(&browser, "/audit", "identity").await;
    assert_eq!((status, encoding), (StatusCode::OK, None));
    let plain = String::from_utf8(plain).unwrap();
    assert!(plain.contains("Audit log"), "{plain}");

    let (status, encoding, gzipped) = get_encoded(&browser, "/audit", "gzip").await;
    assert_eq!(
        (status, encoding.as_deref()),
        (StatusCode::OK, Some("gzip"))
    );
    let page = gunzip(&gzipped);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("Audit log"));
    assert!(
        gzipped.len() * 2 < page.len(),
        "{} of {}",
        gzipped.len(),
        page.len()
    );

    let (status, encoding, brotli) = get_encoded(&browser, "/audit", "br;q=1, gzip;q=0.5").await;
    assert_eq!((status, encoding.as_deref()), (StatusCode::OK, Some("br")));
    assert!(
        brotli.len() * 2 < plain.len(),
        "{} of {}",
        brotli.len(),
        plain.len()
    );

    // Server functions' JSON too.
    let res = browser
        .http
        .post(format!("{}/api/registrations", browser.base))
        .header(COOKIE, browser.cookie_header())
        .header("sec-fetch-site", "same-origin")
        .header(ACCEPT_ENCODING, "gzip")
        .form(&[("q", ""), ("status", ""), ("sort", ""), ("page", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
    let json: serde_json::Value =
        serde_json::from_str(&gunzip(&res.bytes().await.unwrap())).unwrap();
    assert_eq!(json["total"], 0);
}

async fn unknown_pages_and_registrations_are_404_in_the_signed_in_frame(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    for (path, heading) in [
        ("/registrations/no-such-client", "No such registration"),
        ("/registrations/%00%FF%20", "No such registration"),
        ("/nowhere/at/all", "Page not found"),
        ("/registrations", "Page not found"),
    ] {
        let res = browser.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains(&format!("<h1>{heading}</h1>")),
            "{path}: {page}"
        );
        assert!(
            page.contains(r#"<nav aria-label="Main">"#),
            "{path}: {page}"
        );
    }
    // A page that exists is 200.
    assert_eq!(browser.get("/audit").await.status(), StatusCode::OK);
}

/// An empty list says why: spelling advice for a search, none for a status filter alone.
async fn an_empty_list_advises_on_spelling_only_for_a_search(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let spelling = "Check the spelling";
    let page = browser.get("/?status=released").await.text().await.unwrap();
    assert!(
        page.contains("No registrations with this status."),
        "{page}"
    );
    assert!(!page.contains(spelling), "{page}");
    for path in ["/?q=nowhere", "/?q=nowhere&status=released"] {
        let page = browser.get(path).await.text().await.unwrap();
        assert!(page.contains(spelling), "{path}: {page}");
        assert!(
            !page.contains("No registrations with this status."),
            "{path}"
        );
    }
}

both_backends!(
    an_empty_list_advises_on_spelling_only_for_a_search,
    pages_are_compressed_for_browsers_that_take_it,
    unknown_pages_and_registrations_are_404_in_the_signed_in_frame,
);
