//! Health, readiness, discovery and the Data Holder's JWKS.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .anon
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .anon
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["store"], expected);
}

async fn readiness_fails_when_the_store_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.store.close().await;
    let res = app
        .anon
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let res = app
        .anon
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the process is still up");
}

async fn discovery_advertises_the_dcr_endpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .anon
        .get(format!("{}/.well-known/openid-configuration", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["issuer"], app.issuer);
    assert_eq!(
        d["registration_endpoint"],
        format!("{}/register", app.issuer)
    );
    assert_eq!(d["token_endpoint"], format!("{}/token", app.issuer));
    assert_eq!(
        d["cdr_arrangement_revocation_endpoint"],
        format!("{}/arrangements/revoke", app.issuer)
    );
    assert_eq!(d["jwks_uri"], format!("{}/jwks", app.issuer));
    assert_eq!(d["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        serde_json::json!(["private_key_jwt"])
    );
    assert!(d["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&"cdr:registration".into()));
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&"client_credentials".into()));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
}

async fn jwks_publishes_a_persisted_signing_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let jwks: Value = app
        .anon
        .get(format!("{}/jwks", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("d").is_none(), "no private part published");
    let stored = app.store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(keys[0]["kid"], stored[0].kid);
}

async fn shutdown_lets_in_flight_requests_finish(backend: Backend) {
    let mut app = spawn_app(backend).await;
    // The recipient's JWKS answers only when the test says so: the registration is in flight
    // for as long as the test needs.
    let jwks = app.stub.hold("/adr/jwks");
    let req = app.request(
        "c6327f87-687a-4369-99a4-eaacd3bb8210",
        serde_json::json!({}),
    );
    let client = app.client.clone();
    let url = format!("{}/register", app.base);
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/jwt")
            .body(req)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    while app.stub.hits("/adr/jwks") == 0 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.stop();
    // The listener closes while the request is still held: a new connection is refused, or
    // reset or closed without an answer (one the kernel had queued before the listener closed).
    // The stop takes effect within a few of these attempts; the bound only keeps a broken stop
    // from looping forever.
    let mut refused = None;
    for _ in 0..500 {
        match app.anon.get(format!("{}/healthz", app.base)).send().await {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(res) => {
                assert_eq!(res.status(), 200);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    let refused = refused.expect("new requests are still served after the stop");
    assert!(refused.status().is_none(), "{refused:?}");
    assert!(
        !in_flight.is_finished(),
        "the registration is still in flight"
    );
    jwks.release();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        201,
        "the in-flight request completed"
    );
}

both_backends!(
    shutdown_lets_in_flight_requests_finish,
    health_and_readiness_answer,
    readiness_fails_when_the_store_is_gone,
    discovery_advertises_the_dcr_endpoints,
    jwks_publishes_a_persisted_signing_key,
);
