//! Rate limits of every API endpoint that does work for a caller (registration, management, the
//! token endpoint, arrangement revocation, the Register's admin endpoint): per certificate and
//! per address, 429 with Retry-After and the JSON error body.

use crate::helpers::{error_of, spawn_app_with, Backend, TestApp};

const FORM: &[(&str, &str)] = &[("grant_type", "client_credentials")];

async fn token_status(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    app.token_request(client, FORM).await
}

async fn assert_limited(res: reqwest::Response) {
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "temporarily_unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_past_its_limit_gets_429_and_others_do_not() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.security.rate_limit_per_minute = Some(60);
        raw.security.rate_limit_burst = Some(2);
    })
    .await;
    for _ in 0..2 {
        assert_eq!(token_status(&app, &app.client).await.status(), 400);
    }
    assert_limited(token_status(&app, &app.client).await).await;
    // The budget covers registration too.
    assert_limited(app.post_register("x").await).await;
    // Another certificate from the same address is not affected.
    assert_eq!(token_status(&app, &app.client_b).await.status(), 400);
    let res = app
        .post_register_with(&app.client_b, "x", "application/jwt")
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_past_its_limit_gets_429() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.security.rate_limit_per_minute = Some(6000);
        raw.security.rate_limit_per_address_per_minute = Some(60);
        raw.security.rate_limit_address_burst = Some(3);
    })
    .await;
    assert_eq!(token_status(&app, &app.client).await.status(), 400);
    assert_eq!(token_status(&app, &app.client_b).await.status(), 400);
    assert_eq!(app.post_register("x").await.status(), 400);
    assert_limited(token_status(&app, &app.client_b).await).await;
    // Without a certificate the address limit still applies.
    assert_limited(token_status(&app, &app.anon).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_turns_rate_limits_off() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.security.rate_limit_per_minute = Some(0);
        raw.security.rate_limit_burst = Some(1);
        raw.security.rate_limit_per_address_per_minute = Some(1);
        raw.security.rate_limit_address_burst = Some(1);
    })
    .await;
    for _ in 0..5 {
        assert_eq!(token_status(&app, &app.client).await.status(), 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_calls_count_against_the_certificates_limit() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.security.rate_limit_per_minute = Some(60);
        raw.security.rate_limit_burst = Some(1);
    })
    .await;
    let url = app.client_url("6f0e8f8e-0000-4000-8000-000000000000");
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        assert_limited(app.client.request(method, &url).send().await.unwrap()).await;
    }
    // Another certificate still has its budget.
    assert_eq!(app.client_b.get(&url).send().await.unwrap().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registers_admin_endpoint_is_limited_per_address() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.security.rate_limit_per_address_per_minute = Some(60);
        raw.security.rate_limit_address_burst = Some(1);
    })
    .await;
    let url = format!("{}/cds-au/v1/admin/register/metadata", app.base);
    assert_eq!(app.anon.post(&url).send().await.unwrap().status(), 401);
    assert_limited(app.anon.post(&url).send().await.unwrap()).await;
}
