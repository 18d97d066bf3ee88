//! Provisioning into the downstream authorization server (docs/provisioning.md), against a real
//! one: node-oidc-provider, started by each test (`downstream_as`).

use dcr_core::testutil::{self, test_keys, LEGAL_ENTITY_ID};
use dcr_devtools::devcerts::DevPki;
use dcr_store::{Provisioning, ProvisioningState};
use serde_json::{json, Value};
use server::config::RawConfig;
use server::provisioning::deliver;

use crate::both_backends;
use crate::downstream_as::{ClientIds, DownstreamAs, INITIAL_ACCESS_TOKEN};
use crate::helpers::{error_of, https_client_from, spawn_app_with, Backend, TestApp};
use crate::metrics::{scrape, value};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};
use crate::register_sync::{refresh, synced, use_sim, Sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downstream_serves_registration_behind_its_initial_access_token() {
    let pki = DevPki::new("Test CA").unwrap();
    let downstream = DownstreamAs::start(&pki.ca_pem(), ClientIds::Accept).await;
    assert_eq!(
        std::fs::read_to_string(downstream.ca_file()).unwrap(),
        downstream.ca_pem()
    );
    let http = https_client_from(&downstream.ca_pem(), None, None);
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            downstream.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["registration_endpoint"],
        downstream.registration_endpoint()
    );
    assert_eq!(discovery["token_endpoint"], downstream.token_endpoint());
    let body = json!({ "client_id": "chosen-id", "jwks_uri": "https://127.0.0.1:1/jwks" });
    let refused = http
        .post(downstream.registration_endpoint())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "no initial access token");
    let created = http
        .post(downstream.registration_endpoint())
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", downstream.log());
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        created["client_id"], "chosen-id",
        "the chosen client_id is kept"
    );
    assert_eq!(downstream.count("registration_create.success"), 1);

    // One that assigns its own client_ids, started again after a crash on the same port.
    let mut assigning = DownstreamAs::new(ClientIds::Assign);
    assigning.run(&pki.ca_pem()).await;
    assigning.stop();
    assigning.run(&pki.ca_pem()).await;
    let created: Value = https_client_from(&assigning.ca_pem(), None, None)
        .post(assigning.registration_endpoint())
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(created["client_id"], "chosen-id", "{created}");
}

const SW: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";

/// Starts the server provisioning into `downstream` (which need not run yet) in `mode`, with
/// the client_id policy `client_ids`.
async fn spawn_provisioned(
    backend: Backend,
    downstream: &DownstreamAs,
    mode: &str,
    client_ids: &str,
) -> TestApp {
    spawn_provisioned_with(backend, downstream, mode, client_ids, |_| {}).await
}

/// [`spawn_provisioned`], letting the test adjust the rest of the configuration.
async fn spawn_provisioned_with(
    backend: Backend,
    downstream: &DownstreamAs,
    mode: &str,
    client_ids: &str,
    tweak: impl FnOnce(&mut RawConfig),
) -> TestApp {
    let endpoint = downstream.registration_endpoint();
    let ca = downstream.ca_file();
    let (mode, client_ids) = (mode.to_string(), client_ids.to_string());
    spawn_app_with(backend, move |raw| {
        let p = &mut raw.provisioning;
        p.enabled = Some(true);
        p.mode = Some(mode);
        p.registration_endpoint = Some(endpoint);
        p.initial_access_token = Some(INITIAL_ACCESS_TOKEN.into());
        p.ca = Some(ca);
        p.client_id = Some(client_ids);
        tweak(raw);
    })
    .await
}

/// The wall clock: the downstream checks client assertions against it (the server's clock is
/// the test's `MockClock`).
fn wall_clock() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// A `private_key_jwt` client assertion for the downstream, signed with the key the recipient
/// registered (its `jwks_uri`), with audience `aud`.
fn downstream_assertion(client_id: &str, aud: &str) -> String {
    let claims = testutil::client_assertion_claims(client_id, aud, wall_clock());
    test_keys().adr_ps256.sign(&claims).unwrap()
}

/// An HTTPS client for the downstream, with recipient A's certificate or none.
fn downstream_client(app: &TestApp, downstream: &DownstreamAs, with_cert: bool) -> reqwest::Client {
    https_client_from(
        &downstream.ca_pem(),
        with_cert.then_some(&app.pki.client_a),
        None,
    )
}

/// `client_credentials` at the downstream's token endpoint.
async fn downstream_token(
    app: &TestApp,
    downstream: &DownstreamAs,
    client_id: &str,
    with_cert: bool,
) -> (u16, Value) {
    let assertion = downstream_assertion(client_id, &downstream.token_endpoint());
    let res = downstream_client(app, downstream, with_cert)
        .post(downstream.token_endpoint())
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
            ("scope", "bank:accounts.basic:read"),
        ])
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// The client as the downstream has it (RFC 7592 read with the stored registration access
/// token): status and body.
async fn downstream_read(
    app: &TestApp,
    downstream: &DownstreamAs,
    record: &dcr_store::Provisioning,
) -> (u16, Value) {
    let res = downstream_client(app, downstream, false)
        .get(record.registration_client_uri.clone().unwrap())
        .bearer_auth(record.registration_access_token.clone().unwrap())
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// Waits until every change of `client_id` was delivered, and returns its record.
async fn delivered(app: &TestApp, downstream: &DownstreamAs, client_id: &str) -> Provisioning {
    for _ in 0..300 {
        if app.store.outbox_of(client_id).await.unwrap().is_empty() {
            let record = app.store.provisioning(client_id).await.unwrap().unwrap();
            if record.state == ProvisioningState::Provisioned {
                return record;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "changes of {client_id} not delivered: {:?} {:?}\n{}",
        app.store.outbox_of(client_id).await.unwrap(),
        app.store.provisioning(client_id).await.unwrap(),
        downstream.log()
    );
}

async fn a_registration_is_a_client_that_works_at_the_downstream(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(backend, &downstream, "sync", "ours").await;
    downstream.run(&app.ca_pem).await;

    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    // Sync: provisioned before the answer, nothing left to deliver.
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    assert_eq!(record.state, ProvisioningState::Provisioned);
    assert_eq!(
        record.downstream_client_id.as_deref(),
        Some(client_id.as_str())
    );
    assert!(app.store.outbox_of(&client_id).await.unwrap().is_empty());
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 200, "{there}");
    assert_eq!(there["client_id"], client_id.as_str());
    assert_eq!(there["jwks_uri"], app.adr_jwks_uri().as_str());
    assert_eq!(there["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(there["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(there["redirect_uris"], json!([testutil::REDIRECT_URI]));
    assert_eq!(there["software_id"], SW);

    // The recipient obtains a token there, with the key it registered here, over mTLS with its
    // certificate; the token is active and bound to that certificate.
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", downstream.log());
    let access_token = token["access_token"].as_str().unwrap();
    let introspected: Value = downstream_client(&app, &downstream, true)
        .post(format!("{}/token/introspection", downstream.issuer))
        .form(&[
            ("token", access_token),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &downstream_assertion(&client_id, &downstream.token_endpoint()),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["client_id"], client_id.as_str());
    assert_eq!(
        introspected["cnf"]["x5t#S256"],
        dcr_core::jose::thumbprint_x5t_s256(&app.pki.client_a.cert_der).as_str()
    );
    // Without the certificate there is no token: it could not be bound.
    let (status, refused) = downstream_token(&app, &downstream, &client_id, false).await;
    assert_eq!(status, 400, "{refused}");

    // PUT here updates the client there.
    app.clock.advance(60);
    let token = app.token(&client_id).await;
    let new_uri = testutil::REDIRECT_URI_2;
    let ssa = app.ssa(SW, json!({}));
    let claims = testutil::patched(
        &app.request_claims(SW, &ssa),
        &json!({ "redirect_uris": [new_uri] }),
    );
    let res = app
        .put_registration(&client_id, &token, app.sign_request(&claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let record = delivered(&app, &downstream, &client_id).await;
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 200, "{there}");
    assert_eq!(there["redirect_uris"], json!([new_uri]));

    // DELETE here deletes it there: its token requests fail.
    let res = app
        .client
        .delete(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let after = delivered(&app, &downstream, &client_id).await;
    assert!(after.registration_access_token.is_none());
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 401, "the client is gone: {there}");
    let (status, refused) = downstream_token(&app, &downstream, &client_id, true).await;
    assert!(status == 400 || status == 401, "{status} {refused}");
    assert_eq!(refused["error"], "invalid_client", "{refused}");
}

async fn sync_mode_answers_503_and_keeps_nothing_while_the_downstream_is_down(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(backend, &downstream, "sync", "ours").await;
    let res = app.post_register(&app.request(SW, json!({}))).await;
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, code, body) = error_of(res).await;
    assert_eq!(
        (status, code.as_str()),
        (503, "temporarily_unavailable"),
        "{body}"
    );
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)),
        "Retry-After in seconds"
    );
    assert!(
        app.store
            .find_registration_by_software_id(SW)
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    // Once it is back, the same product registers, and one client exists there.
    downstream.run(&app.ca_pem).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap();
    let record = app.store.provisioning(client_id).await.unwrap().unwrap();
    assert_eq!(record.state, ProvisioningState::Provisioned);
    assert_eq!(downstream.count("registration_create.success"), 1);
}

async fn a_registration_refused_after_its_client_was_created_leaves_nothing_there(
    backend: Backend,
) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(backend, &downstream, "sync", "ours").await;
    downstream.run(&app.ca_pem).await;
    // A request registered, then deleted by the recipient (its software product is free again).
    let request = app.request(SW, json!({}));
    let res = app.post_register(&request).await;
    assert_eq!(res.status(), 201);
    let client_id = res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.token(&client_id).await;
    let res = app
        .client
        .delete(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    delivered(&app, &downstream, &client_id).await;
    // The same request again: the downstream creates the client, then the store refuses the
    // replayed jti, and the client is deleted there again.
    let (status, code, _) = error_of(app.post_register(&request).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_client_metadata"));
    assert_eq!(downstream.count("registration_create.success"), 2);
    assert_eq!(
        downstream.count("registration_delete.success"),
        2,
        "the recipient's deletion and the undone creation:\n{}",
        downstream.log()
    );
}

async fn async_mode_answers_at_once_and_delivers_once_the_downstream_is_back(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned_with(backend, &downstream, "async", "ours", |raw| {
        raw.server.metrics_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let deliveries = |text: &str, outcome: &str| {
        value(
            text,
            "dcr_provisioning_deliveries_total",
            &["operation=\"create\"", &format!("outcome=\"{outcome}\"")],
        )
    };
    let before = scrape(&app).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    // The create waits in the outbox; the first attempt fails and says why.
    let mut record = None;
    for _ in 0..100 {
        let r = app.store.provisioning(&client_id).await.unwrap().unwrap();
        if r.attempts > 0 {
            record = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let record = record.expect("a first attempt");
    assert_eq!(record.state, ProvisioningState::Pending);
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("could not be reached")),
        "{record:?}"
    );
    let waiting = app.store.outbox_of(&client_id).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].operation, dcr_store::OutboxOperation::Create);

    // Back up, and past the backoff: delivered, and the client works there.
    downstream.run(&app.ca_pem).await;
    app.clock.advance(deliver::MAX_BACKOFF_SECS);
    let record = delivered(&app, &downstream, &client_id).await;
    assert_eq!(
        record.downstream_client_id.as_deref(),
        Some(client_id.as_str())
    );
    assert_eq!(downstream.count("registration_create.success"), 1);
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", downstream.log());
    // The metrics count the failed attempt and the delivery (deltas: the recorder is shared
    // by every test of the process).
    let after = scrape(&app).await;
    assert!(
        deliveries(&after, "failed") > deliveries(&before, "failed"),
        "{after}"
    );
    assert!(
        deliveries(&after, "delivered") > deliveries(&before, "delivered"),
        "{after}"
    );
    assert!(after.contains("dcr_provisioning_outbox_depth"), "{after}");
}

async fn a_downstream_that_assigns_client_ids_gives_the_registration_its_id(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Assign);
    let app = spawn_provisioned(backend, &downstream, "sync", "downstream").await;
    downstream.run(&app.ca_pem).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    // One id everywhere: the registration's is the downstream's.
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    assert_eq!(
        record.downstream_client_id.as_deref(),
        Some(client_id.as_str())
    );
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 200, "{there}");
    assert_eq!(there["client_id"], client_id.as_str());
    assert!(app
        .store
        .get_registration(&client_id)
        .await
        .unwrap()
        .is_some());
    // It works here and there.
    let token = app.token(&client_id).await;
    let res = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", downstream.log());
}

async fn revocation_in_the_portal_disables_the_client_there_and_release_deletes_it(
    backend: Backend,
) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(backend, &downstream, "sync", "ours").await;
    downstream.run(&app.ca_pem).await;
    real_time(&app);
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    let (status, _) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{}", downstream.log());

    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/");
    let res = browser
        .post(
            &format!("/registrations/{client_id}/revoke"),
            &[("reason", "Compromised key"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert!(
        location(&res).ends_with("?done=revoked"),
        "{}",
        location(&res)
    );
    // Disabled there: the client is kept (its product stays reserved here) with no grant.
    delivered(&app, &downstream, &client_id).await;
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 200, "{there}");
    assert_eq!(there["grant_types"], json!([]));
    assert_eq!(there["redirect_uris"], json!([]));
    let (status, refused) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 400, "no token for a revoked client: {refused}");

    let res = browser
        .post(
            &format!("/registrations/{client_id}/release"),
            &[("reason", "Lost client_id"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert!(
        location(&res).ends_with("?done=released"),
        "{}",
        location(&res)
    );
    delivered(&app, &downstream, &client_id).await;
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 401, "deleted there: {there}");
    assert_eq!(downstream.count("registration_delete.success"), 1);
}

async fn a_product_removed_at_the_register_is_deleted_there(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned_with(backend, &downstream, "sync", "ours", |raw| {
        use_sim(raw, &sim, false);
    })
    .await;
    downstream.run(&app.ca_pem).await;
    synced(&app.store, 1).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    refresh(&app).await;
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    let (status, _) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{}", downstream.log());

    sim.sim().set_product_status(SW, "REMOVED").unwrap();
    refresh(&app).await;
    delivered(&app, &downstream, &client_id).await;
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 401, "deleted there: {there}");
    let (status, refused) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(refused["error"], "invalid_client", "{status} {refused}");
}

both_backends!(
    a_registration_is_a_client_that_works_at_the_downstream,
    sync_mode_answers_503_and_keeps_nothing_while_the_downstream_is_down,
    a_registration_refused_after_its_client_was_created_leaves_nothing_there,
    async_mode_answers_at_once_and_delivers_once_the_downstream_is_back,
    a_downstream_that_assigns_client_ids_gives_the_registration_its_id,
    revocation_in_the_portal_disables_the_client_there_and_release_deletes_it,
    a_product_removed_at_the_register_is_deleted_there,
);

/// Two instances on one PostgreSQL database, both running a deliverer: each change reaches the
/// downstream once (the lease lets one deliver), whichever instance took the registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_deliver_each_change_once() {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(Backend::Postgres, &downstream, "async", "ours").await;
    let peer = app.spawn_peer().await;
    let products = [
        SW,
        "0b8e7e1a-2f9c-4d3b-8a61-5c4e3d2b1a09",
        "5d1c8e2a-7b3f-4c9d-a0e1-2f3b4c5d6e7f",
        "8e9f0a1b-2c3d-4e5f-8a7b-9c0d1e2f3a4b",
    ];
    let mut ids = Vec::new();
    for (i, product) in products.iter().enumerate() {
        // While the downstream is down, through one instance and the other.
        let base = if i % 2 == 0 { &app.base } else { &peer.base };
        let res = app
            .client
            .post(format!("{base}/register"))
            .header("content-type", "application/jwt")
            .body(app.request(product, json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        ids.push(body["client_id"].as_str().unwrap().to_string());
    }
    downstream.run(&app.ca_pem).await;
    app.clock.advance(deliver::MAX_BACKOFF_SECS);
    for id in &ids {
        delivered(&app, &downstream, id).await;
    }
    // A few more rounds of both deliverers change nothing.
    tokio::time::sleep(deliver::TICK * 3).await;
    assert_eq!(
        downstream.count("registration_create.success"),
        products.len(),
        "{}",
        downstream.log()
    );
    assert_eq!(downstream.count("registration_create.error"), 0);
    drop(peer);
}
