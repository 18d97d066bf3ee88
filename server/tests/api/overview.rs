//! The portal's overview: the landing page after sign-in, its figures from the counts the store
//! keeps (registrations by status and created per day, kept by the store itself; refused
//! registrations and token requests, counted by each instance and added to the store every few
//! seconds and when it stops), the Register sync's health and the recent administrator actions.

use serde_json::json;

use crate::both_backends;
use dcr_core::testutil::LEGAL_ENTITY_ID;

use crate::helpers::{error_of, spawn_app, spawn_app_with, Backend, TestApp};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};
use crate::register_sync::{refresh, synced, use_sim, Sim};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn sw(n: u32) -> String {
    format!("0e1f2a3b-0000-4000-8000-0000000c{n:04}")
}

/// Posts a token request to `base` with a client assertion for `client_id`.
async fn token_at(app: &TestApp, base: &str, client_id: &str) -> reqwest::Response {
    let assertion = app.assertion(client_id, json!({}));
    app.client
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
            ("scope", "cdr:registration"),
        ])
        .send()
        .await
        .unwrap()
}

/// The sum of the store's counts of `name` (and `label`, if given) from `from` on.
async fn stored(app: &TestApp, from: i64, name: &str, label: Option<&str>) -> i64 {
    app.store
        .stat_counts(from / 900, i64::MAX / 900)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.name == name && label.is_none_or(|l| c.label == l))
        .map(|c| c.n)
        .sum()
}

async fn the_overview_shows_what_happened(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let start = app.now();
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(
            app.register(&sw(n)).await["client_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Another instance answers the token requests and refused registrations, then stops: the
    // counts it kept reach the store on its way out. (This instance answers none of them, so
    // nothing is left waiting in its memory.)
    let peer = app.spawn_peer().await;
    // The recipient deletes one.
    let res = token_at(&app, &peer.base, &ids[2]).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .client
        .delete(app.client_url(&ids[2]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let post = |body: String| {
        app.client
            .post(format!("{}/register", peer.base))
            .header("content-type", "application/jwt")
            .body(body)
            .send()
    };
    let (status, garbled, _) = error_of(post("not-a-jwt".into()).await.unwrap()).await;
    assert_eq!(status, 400);
    let unsigned_ssa = app.request_claims(&sw(4), "not.a.statement");
    let (status, bad_ssa, _) = error_of(post(app.sign_request(&unsigned_ssa)).await.unwrap()).await;
    assert_eq!(status, 400);
    assert_ne!(garbled, bad_ssa, "two different error codes");
    assert_eq!(token_at(&app, &peer.base, &ids[0]).await.status(), 200);
    assert_eq!(token_at(&app, &peer.base, &ids[1]).await.status(), 200);
    let refused = token_at(&app, &peer.base, "no-such-client").await;
    let (status, refused_code, _) = error_of(refused).await;
    assert_eq!(status, 400);
    drop(peer);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while stored(&app, start, "token.issued", None).await < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stopped instance's counts never reached the store"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Exactly what was answered: nothing counted twice, nothing by the other instance.
    assert_eq!(stored(&app, start, "token.issued", None).await, 3);
    assert_eq!(
        stored(&app, start, "token.refused", Some(&refused_code)).await,
        1
    );
    assert_eq!(
        stored(&app, start, "registration.rejected", Some(&garbled)).await,
        1
    );
    assert_eq!(
        stored(&app, start, "registration.rejected", Some(&bad_ssa)).await,
        1
    );
    // The store's own count of registrations created (PostgreSQL folds its deltas in first,
    // as the overview does).
    app.store.fold_counts().await.unwrap();
    assert_eq!(stored(&app, start, "registration.created", None).await, 3);

    // An administrator lands on the overview, and revokes one registration.
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
    let res = browser
        .post(
            &format!("/registrations/{}/revoke", ids[1]),
            &[("reason", "Key compromise reported"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert!(
        location(&res).contains("done=revoked"),
        "{}",
        location(&res)
    );

    let res = browser.get("/overview?days=7").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let has = |s: &str| assert!(html.contains(s), "{s:?} missing from the overview: {html}");
    // By status, each linked to the list filtered so.
    has(r#"href="/?status=active">Active</a></dt><dd>1</dd>"#);
    has(r#"href="/?status=revoked">Revoked</a></dt><dd>1</dd>"#);
    has(r#"href="/?status=deleted">Deleted by the recipient</a></dt><dd>1</dd>"#);
    has("<dt>In all</dt><dd>3</dd>");
    // The charts, each summed in words (the SVG's label) and by day in a table.
    has("Registrations created over the last 7 days: 3 in all");
    let mut codes = [garbled.as_str(), bad_ssa.as_str()];
    codes.sort_unstable();
    has(&format!(
        "Registration requests refused, by error code over the last 7 days: 2 in all, 1 {}, 1 {}",
        codes[0], codes[1]
    ));
    has("Token requests over the last 7 days: 4 in all, 3 issued, 1 refused");
    assert_eq!(html.matches("<svg").count(), 3, "one chart each");
    assert_eq!(
        html.matches(r#"<table class="data chart-table""#).count(),
        3
    );
    // The administrator's revocation, with its reason, among the recent actions.
    let recent = &html[html.find("Recent administrator actions").unwrap()..];
    assert!(recent.contains("registration.revoke"), "{recent}");
    assert!(recent.contains("Key compromise reported"), "{recent}");
    // A range that is not offered is the default.
    let html = browser
        .get("/overview?days=100000")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("over the last 90 days"), "{html}");
}

/// A registration the Register reports inactive shows as a disagreement, and a failing
/// Register sync (a real Register simulator, answering 503) shows its failures and error.
async fn the_overview_shows_the_register_sync(backend: Backend) {
    let sim = Sim::start(1000).await;
    let product = sw(10);
    sim.add(&product, LEGAL_ENTITY_ID);
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    app.register(&product).await;
    sim.sim().set_product_status(&product, "INACTIVE").unwrap();
    refresh(&app).await;
    sim.sim().set_outage(Some(503));
    refresh(&app).await;

    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let html = browser.get("/overview").await.text().await.unwrap();
    let has = |s: &str| assert!(html.contains(s), "{s:?} missing from the overview: {html}");
    has(
        r#"<div class="stat-bad"><dt><a href="/?status=inactive">Active here, not at the Register</a></dt><dd>1</dd>"#,
    );
    let sync = &html[html.find("CDR Register sync").unwrap()..];
    assert!(sync.contains(r#"<tr class="row-bad">"#), "{sync}");
    assert!(sync.contains("Software products"), "{sync}");
    assert!(sync.contains("503"), "the last error is shown: {sync}");
}

both_backends!(
    the_overview_shows_what_happened,
    the_overview_shows_the_register_sync
);
