//! Prometheus metrics: off by default; when on, a scrape shows registrations, tokens, JWKS
//! fetches and HTTP latency with their labels. The recorder is global to the test process, so
//! the checks are on deltas and label presence, never on totals.

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};

const SW: &str = "6f7c1a2e-1d47-4f0e-9b7e-6f43a4b1c0d9";

pub(crate) async fn scrape(app: &TestApp) -> String {
    let url = app.metrics.as_deref().expect("metrics are on");
    // Plain HTTP; the anonymous client carries no certificate.
    let res = app.anon.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    res.text().await.unwrap()
}

/// Sum of the samples of `name` whose labels include every one of `labels`.
pub(crate) fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_registrations_tokens_jwks_and_latency() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.server.metrics_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let before = scrape(&app).await;

    let reg = app.register(SW).await;
    let client_id = reg["client_id"].as_str().unwrap();
    let res = app.post_register("").await;
    assert_eq!(res.status(), 400);
    let _token = app.token(client_id).await;

    let after = scrape(&app).await;
    let delta =
        |name: &str, labels: &[&str]| value(&after, name, labels) - value(&before, name, labels);
    assert!(
        delta(
            "dcr_registrations_total",
            &[r#"outcome="created""#, r#"error="""#]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        delta(
            "dcr_registrations_total",
            &[
                r#"outcome="rejected""#,
                r#"error="invalid_client_metadata""#
            ]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        delta("dcr_tokens_total", &[r#"outcome="issued""#]) >= 1.0,
        "{after}"
    );
    for source in ["register", "recipient"] {
        let s = format!(r#"source="{source}""#);
        assert!(
            after.contains(&format!(
                "dcr_jwks_fetch_duration_seconds_bucket{{source=\"{source}\""
            )),
            "JWKS latency histogram for {source}: {after}"
        );
        assert!(
            value(&after, "dcr_jwks_fetches_total", &[&s, r#"outcome="ok""#]) >= 1.0,
            "{after}"
        );
    }
    assert!(
        value(&after, "dcr_jwks_cache_total", &[r#"result="miss""#]) >= 1.0,
        "{after}"
    );
    assert!(
        value(&after, "dcr_jwks_cache_total", &[r#"result="hit""#]) >= 1.0,
        "the token request reuses the recipient's set: {after}"
    );
    let created = [
        r#"method="POST""#,
        r#"route="/register""#,
        r#"status="201""#,
    ];
    assert!(
        delta("dcr_http_request_duration_seconds_count", &created) >= 1.0,
        "{after}"
    );
    assert!(
        after.lines().any(
            |l| l.starts_with("dcr_http_request_duration_seconds_bucket")
                && created.iter().all(|x| l.contains(x))
                && l.contains("le=\"+Inf\"")
        ),
        "latency is a histogram: {after}"
    );
    assert!(
        after.contains("# TYPE dcr_http_request_duration_seconds histogram"),
        "{after}"
    );
    assert!(
        after.contains("# TYPE dcr_registrations_total counter"),
        "{after}"
    );
    // The path template, not the client_id, labels management routes.
    let _ = app
        .client
        .get(app.client_url(client_id))
        .send()
        .await
        .unwrap();
    let again = scrape(&app).await;
    assert!(
        again.contains(r#"route="/register/{client_id}""#),
        "{again}"
    );
    assert!(!again.contains(client_id), "no client_id in labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_by_default() {
    let app = spawn_app(Backend::Sqlite).await;
    assert!(app.metrics.is_none());
    // And the API listener does not serve them.
    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
