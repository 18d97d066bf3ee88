//! Provisioning into the downstream authorization server (docs/provisioning.md), against a real
//! one: node-oidc-provider, started by each test (`downstream_as`).

use dcr_core::testutil::{self, test_keys, LEGAL_ENTITY_ID};
use dcr_devtools::devcerts::DevPki;
use dcr_store::{DriftKind, Provisioning, ProvisioningState};
use serde_json::{json, Value};
use server::config::RawConfig;
use server::provisioning::{deliver, reconcile, Provisioner};

use crate::both_backends;
use crate::downstream_as::{
    ClientIds, DownstreamAs, INITIAL_ACCESS_TOKEN, PROVISIONER_ID, PROVISIONER_SCOPE,
    PROVISIONER_SECRET,
};
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
        // The periodic reconciliation only where a test asks for it.
        p.reconcile_interval_secs = Some(0);
        // A loaded machine (the whole suite at once) can keep node waiting for seconds; no
        // test here is about the downstream's slowness (a downstream down refuses at once).
        p.timeout_ms = Some(30_000);
        tweak(raw);
    })
    .await
}

/// Provisioning authorized at the registration endpoint by an access token of the client
/// credentials grant at `token_endpoint`, with `secret`, instead of the initial access token.
fn use_client_credentials(raw: &mut RawConfig, token_endpoint: String, secret: &str) {
    let p = &mut raw.provisioning;
    p.initial_access_token = None;
    p.token_endpoint = Some(token_endpoint);
    p.token_client_id = Some(PROVISIONER_ID.into());
    p.token_client_secret = Some(secret.into());
    p.token_scope = Some(PROVISIONER_SCOPE.into());
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

/// Deletes the client at the downstream behind our back (RFC 7592 delete with its registration
/// access token, as an administrator of that server could).
async fn delete_there(app: &TestApp, downstream: &DownstreamAs, record: &Provisioning) {
    let res = downstream_client(app, downstream, false)
        .delete(record.registration_client_uri.clone().unwrap())
        .bearer_auth(record.registration_access_token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", downstream.log());
}

/// Waits until every change of `client_id` was delivered, and returns its record.
async fn delivered(app: &TestApp, downstream: &DownstreamAs, client_id: &str) -> Provisioning {
    delivered_in(&app.store, downstream, client_id).await
}

/// [`delivered`], reading `store`.
async fn delivered_in(
    store: &dcr_store::Store,
    downstream: &DownstreamAs,
    client_id: &str,
) -> Provisioning {
    // Two minutes: on a loaded machine a failed attempt waits out its backoff (1, 2, 4, ... s).
    for _ in 0..1200 {
        if store.outbox_of(client_id).await.unwrap().is_empty() {
            let record = store.provisioning(client_id).await.unwrap().unwrap();
            if record.state == ProvisioningState::Provisioned {
                return record;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "changes of {client_id} not delivered: {:?} {:?}\n{}",
        store.outbox_of(client_id).await.unwrap(),
        store.provisioning(client_id).await.unwrap(),
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
    let (status, _) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{}", downstream.log());

    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
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
    let record = delivered(&app, &downstream, &client_id).await;
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
    let (status, refused) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(
        refused["error"], "invalid_client",
        "no token for a released client: {status} {refused}"
    );
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
    removed_here(&app, &client_id).await;
    delivered(&app, &downstream, &client_id).await;
    let (status, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(status, 401, "deleted there: {there}");
    let (status, refused) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(refused["error"], "invalid_client", "{status} {refused}");
}

/// Asks for Register syncs until `client_id` is removed here: a sync round whose list fetch
/// failed (a slow moment of a loaded machine) keeps the last good list and counts as a round.
async fn removed_here(app: &TestApp, client_id: &str) {
    for _ in 0..10 {
        refresh(app).await;
        let r = app
            .store
            .get_registration(client_id)
            .await
            .unwrap()
            .unwrap();
        if r.status == dcr_store::RegistrationStatus::Removed {
            return;
        }
    }
    let state = app
        .store
        .register_sync_state(server::cdr_register::SOFTWARE_PRODUCTS)
        .await
        .unwrap();
    panic!("{client_id} not removed after 10 syncs: {state:?}");
}

/// The provisioner of `app`'s configuration (what `dcr-server provisioning reconcile` builds).
fn provisioner_of(app: &TestApp) -> Provisioner {
    Provisioner::new(app.config.provisioning.clone().unwrap()).unwrap()
}

/// Runs a reconciliation as the command does.
async fn reconcile_now(app: &TestApp, repair: bool) -> reconcile::Report {
    let run = reconcile::Run {
        actor: dcr_audit::Actor::Cli,
        repair,
        lease_holder: None,
    };
    reconcile::reconcile(&app.store, &provisioner_of(app), || app.now(), run)
        .await
        .unwrap()
}

fn kinds(report: &reconcile::Report) -> Vec<(String, DriftKind, bool)> {
    let mut found: Vec<_> = report
        .drift
        .iter()
        .map(|d| (d.client_id.clone(), d.kind, d.repaired_at.is_some()))
        .collect();
    found.sort();
    found
}

/// Changes the client at the downstream behind our back (RFC 7592 update with its registration
/// access token, as an administrator of that server could), keeping the stored token valid.
async fn change_there(app: &TestApp, downstream: &DownstreamAs, client_id: &str, patch: Value) {
    let record = app.store.provisioning(client_id).await.unwrap().unwrap();
    let (_, mut there) = downstream_read(app, downstream, &record).await;
    for field in [
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
    ] {
        there.as_object_mut().unwrap().remove(field);
    }
    let body = testutil::patched(&there, &patch);
    let res = downstream_client(app, downstream, false)
        .put(record.registration_client_uri.clone().unwrap())
        .bearer_auth(record.registration_access_token.clone().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", downstream.log());
    // The downstream rotated the token: put the new one where the server keeps it, as if it had
    // been the one the server was given (only the client's metadata is to differ).
    let answer: Value = res.json().await.unwrap();
    set_registration_access_token(
        app,
        client_id,
        answer["registration_access_token"].as_str().unwrap(),
    )
    .await;
}

/// Writes a registration access token into the provisioning record directly.
async fn set_registration_access_token(app: &TestApp, client_id: &str, token: &str) {
    let url = app.config.database_url.expose();
    let sql = "UPDATE provisioning SET registration_access_token = $1 WHERE client_id = $2";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(token)
            .bind(client_id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(token)
            .bind(client_id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

const SW2: &str = "0b8e7e1a-2f9c-4d3b-8a61-5c4e3d2b1a09";
const SW3: &str = "5d1c8e2a-7b3f-4c9d-a0e1-2f3b4c5d6e7f";

/// A client deleted at the downstream behind our back, one whose metadata was changed there and
/// one disabled there: reconciliation finds each, repairs each through the outbox, and the
/// recipient obtains a token again; a second run finds nothing.
async fn reconciliation_finds_and_repairs_drift(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(backend, &downstream, "sync", "ours").await;
    downstream.run(&app.ca_pem).await;
    real_time(&app);
    let mut ids = Vec::new();
    for sw in [SW, SW2, SW3] {
        ids.push(
            app.register(sw).await["client_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (gone, changed, disabled) = (&ids[0], &ids[1], &ids[2]);
    assert!(
        kinds(&reconcile_now(&app, false).await).is_empty(),
        "nothing drifted yet"
    );

    // Deleted there behind our back: its token requests fail.
    let record = app.store.provisioning(gone).await.unwrap().unwrap();
    delete_there(&app, &downstream, &record).await;
    let (status, _) = downstream_token(&app, &downstream, gone, true).await;
    assert_ne!(status, 200);
    change_there(
        &app,
        &downstream,
        changed,
        json!({ "redirect_uris": ["https://elsewhere.example/cb"] }),
    )
    .await;
    change_there(
        &app,
        &downstream,
        disabled,
        json!({ "grant_types": [], "response_types": [], "redirect_uris": [] }),
    )
    .await;

    // Reported, not repaired.
    let report = reconcile_now(&app, false).await;
    let mut expected = vec![
        (gone.clone(), DriftKind::Missing, false),
        (changed.clone(), DriftKind::Metadata, false),
        (disabled.clone(), DriftKind::Disabled, false),
    ];
    expected.sort();
    assert_eq!(kinds(&report), expected);
    assert_eq!(
        (report.run.checked, report.run.drifted, report.run.repaired),
        (3, 3, 0)
    );
    let metadata = report
        .drift
        .iter()
        .find(|d| d.kind == DriftKind::Metadata)
        .unwrap();
    assert_eq!(metadata.detail, "differs there: redirect_uris");
    assert_eq!(app.store.list_drift(1, 50).await.unwrap().total, 3);
    for id in &ids {
        assert!(
            app.store.outbox_of(id).await.unwrap().is_empty(),
            "a report changes nothing"
        );
    }

    // Repaired: each through the outbox, audited.
    let report = reconcile_now(&app, true).await;
    assert_eq!((report.run.drifted, report.run.repaired), (3, 3));
    for id in &ids {
        delivered(&app, &downstream, id).await;
    }
    let (status, token) = downstream_token(&app, &downstream, gone, true).await;
    assert_eq!(status, 200, "created again: {token}\n{}", downstream.log());
    let (status, _) = downstream_token(&app, &downstream, disabled, true).await;
    assert_eq!(status, 200, "enabled again");
    let record = app.store.provisioning(changed).await.unwrap().unwrap();
    let (_, there) = downstream_read(&app, &downstream, &record).await;
    assert_eq!(there["redirect_uris"], json!([testutil::REDIRECT_URI]));
    let repairs = app
        .audit(dcr_store::AuditQuery {
            action: Some("provisioning.repair".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(repairs.total, 3);
    assert!(repairs.items.iter().all(|e| e.actor == "cli"));
    let created_again = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(gone.clone()),
            action: Some("provisioning.create".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(created_again.total, 2, "at registration, and the repair");
    assert!(
        kinds(&reconcile_now(&app, true).await).is_empty(),
        "{}",
        downstream.log()
    );
    assert_eq!(app.store.list_drift(1, 50).await.unwrap().total, 0);

    // A client still there for a registration deleted here is extra.
    let record = app.store.provisioning(changed).await.unwrap().unwrap();
    let mut reg = app.store.get_registration(changed).await.unwrap().unwrap();
    reg.status = dcr_store::RegistrationStatus::Deleted;
    let found = reconcile::compare(&provisioner_of(&app), &record, &reg)
        .await
        .unwrap();
    assert_eq!(found.kind, DriftKind::Extra, "{found:?}");

    // The downstream down: nothing can be checked, and nothing is repaired.
    downstream.stop();
    let report = reconcile_now(&app, true).await;
    assert!(report
        .drift
        .iter()
        .all(|d| d.kind == DriftKind::Unchecked && d.repaired_at.is_none()));
    assert_eq!((report.run.drifted, report.run.repaired), (3, 0));
}

/// The periodic check runs once per interval (from the last finished run) and records what it
/// found without repairing it.
async fn the_periodic_check_reports_drift(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned_with(backend, &downstream, "sync", "ours", |raw| {
        raw.provisioning.reconcile_interval_secs = Some(60);
    })
    .await;
    downstream.run(&app.ca_pem).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    delete_there(&app, &downstream, &record).await;
    // The run at start found nothing: the next is due a minute after it.
    let first = loop {
        if let Some(run) = app.store.last_reconciliation().await.unwrap() {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(first.actor, "provisioning");
    app.clock.advance(60);
    let mut found = None;
    for _ in 0..100 {
        found = app.store.drift_of(&client_id).await.unwrap();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let found = found.expect("the periodic check found the missing client");
    assert_eq!((found.kind, found.repaired_at), (DriftKind::Missing, None));
    let last = app.store.last_reconciliation().await.unwrap().unwrap();
    assert!(last.reconciliation_id > first.reconciliation_id && !last.repair);
    assert!(
        app.store.outbox_of(&client_id).await.unwrap().is_empty(),
        "reported, not repaired"
    );
}

/// The portal shows a registration's provisioning state with the downstream's last error and
/// the waiting change; "Deliver now" delivers it (audited), and the provisioning page lists
/// what needs attention and what the last reconciliation found.
async fn the_portal_shows_provisioning_and_delivers_on_request(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let app = spawn_provisioned(backend, &downstream, "async", "ours").await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The downstream is down: the first attempt fails, the next waits for its backoff (the
    // test's clock does not move on its own).
    for _ in 0..100 {
        if app.store.outbox_of(&client_id).await.unwrap()[0].attempts > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
    let page = format!("/registrations/{client_id}");
    let html = browser.get(&page).await.text().await.unwrap();
    for shown in [
        "Bank's authorization server",
        "Change waiting",
        "could not be reached",
        "Waiting changes",
        "Deliver now",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }
    let html = browser.get("/provisioning").await.text().await.unwrap();
    assert!(
        html.contains("Needing attention") && html.contains(&client_id),
        "{html}"
    );
    assert!(html.contains("No reconciliation has run yet"), "{html}");

    downstream.run(&app.ca_pem).await;
    let res = browser
        .post(&format!("{page}/provisioning/retry"), &[], "same-origin")
        .await;
    assert!(
        location(&res).ends_with("?done=retried"),
        "{}",
        location(&res)
    );
    delivered(&app, &downstream, &client_id).await;
    let retried = app
        .audit(dcr_store::AuditQuery {
            action: Some("provisioning.retry".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(retried.items[0].actor, "admin:alice");
    let html = browser.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("In step") && html.contains("Nothing waits to be delivered"),
        "{html}"
    );
    // Nothing waits now: a second request changes nothing and says so.
    let res = browser
        .post(&format!("{page}/provisioning/retry"), &[], "same-origin")
        .await;
    assert!(
        location(&res).ends_with("?error=retry_nothing"),
        "{}",
        location(&res)
    );
    // A cross-site post is refused like every other portal form.
    let res = browser
        .post(&format!("{page}/provisioning/retry"), &[], "cross-site")
        .await;
    assert_eq!(res.status(), 403);

    // A client deleted there, found by a reconciliation: listed on both pages.
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    delete_there(&app, &downstream, &record).await;
    reconcile_now(&app, false).await;
    let html = browser.get("/provisioning").await.text().await.unwrap();
    assert!(
        html.contains("1 registrations compared, 1 differ") && html.contains("Missing there"),
        "{html}"
    );
    let html = browser.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("Missing there") && html.contains("no longer knows the client"),
        "{html}"
    );
}

async fn client_credentials_authorize_the_registrations_with_one_token_while_it_lasts(
    backend: Backend,
) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept).with_provisioner();
    let token_endpoint = downstream.token_endpoint();
    let app = spawn_provisioned_with(backend, &downstream, "sync", "ours", |raw| {
        use_client_credentials(raw, token_endpoint, PROVISIONER_SECRET);
    })
    .await;
    downstream.run(&app.ca_pem).await;
    let tokens = |d: &DownstreamAs| d.count_of("grant.success", PROVISIONER_ID);
    let accepted = |d: &DownstreamAs| d.count_of("registration_bearer.accepted", PROVISIONER_ID);

    // The first registration fetches a token, and its client works there.
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = app.store.provisioning(&client_id).await.unwrap().unwrap();
    assert_eq!(record.state, ProvisioningState::Provisioned);
    assert_eq!(
        record.downstream_client_id.as_deref(),
        Some(client_id.as_str())
    );
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", downstream.log());
    assert_eq!((tokens(&downstream), accepted(&downstream)), (1, 1));

    // The second uses the same token.
    let second = "0b8e7e1a-2f9c-4d3b-8a61-5c4e3d2b1a09";
    app.register(second).await;
    assert_eq!(
        (tokens(&downstream), accepted(&downstream)),
        (1, 2),
        "{}",
        downstream.log()
    );

    // The downstream restarts and forgets its tokens: the one held is refused once, another
    // is fetched, and the registration goes through with it.
    downstream.stop();
    downstream.run(&app.ca_pem).await;
    let third = "5d1c8e2a-7b3f-4c9d-a0e1-2f3b4c5d6e7f";
    let client_id = app.register(third).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        downstream.count_of("registration_bearer.refused", "unknown token"),
        1,
        "{}",
        downstream.log()
    );
    assert_eq!((tokens(&downstream), accepted(&downstream)), (2, 3));
    assert_eq!(downstream.count("registration_create.success"), 3);
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", downstream.log());
}

async fn a_wrong_client_secret_refuses_the_registration_and_is_never_shown(backend: Backend) {
    const WRONG: &str = "wrong-secret-5e1d0c";
    let mut downstream = DownstreamAs::new(ClientIds::Accept).with_provisioner();
    let token_endpoint = downstream.token_endpoint();
    let endpoint = token_endpoint.clone();
    let app = spawn_provisioned_with(backend, &downstream, "sync", "ours", |raw| {
        use_client_credentials(raw, endpoint, WRONG);
    })
    .await;
    downstream.run(&app.ca_pem).await;

    // Sync: refused as any refusal other than of the metadata is, and nothing is kept here
    // or there.
    let (status, code, body) = error_of(app.post_register(&app.request(SW, json!({}))).await).await;
    assert_eq!((status, code.as_str()), (500, "server_error"), "{body}");
    assert!(!body.to_string().contains(WRONG), "{body}");
    assert!(app
        .store
        .find_registration_by_software_id(SW)
        .await
        .unwrap()
        .is_none());
    assert_eq!(downstream.count("registration_create.success"), 0);
    assert_eq!(downstream.count_of("grant.success", PROVISIONER_ID), 0);
    assert_eq!(
        downstream.count_of("grant.error", "invalid secret provided"),
        1,
        "{}",
        downstream.log()
    );

    // Async: the registration waits, failed, with the token endpoint's refusal as its last
    // error (as the deliverer logs it), without the secret.
    let app = spawn_provisioned_with(backend, &downstream, "async", "ours", |raw| {
        use_client_credentials(raw, token_endpoint, WRONG);
    })
    .await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
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
    assert_eq!(record.state, ProvisioningState::Failed, "{record:?}");
    let last_error = record.last_error.unwrap_or_default();
    assert!(
        last_error.contains("token request") && last_error.contains("invalid_client"),
        "{last_error}"
    );
    assert!(!last_error.contains(WRONG), "{last_error}");
    assert_eq!(downstream.count("registration_create.success"), 0);
}

both_backends!(
    client_credentials_authorize_the_registrations_with_one_token_while_it_lasts,
    a_wrong_client_secret_refuses_the_registration_and_is_never_shown,
    the_portal_shows_provisioning_and_delivers_on_request,
    the_periodic_check_reports_drift,
    a_change_committed_before_a_kill_9_is_delivered_after_the_restart,
    reconciliation_finds_and_repairs_drift,
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

/// `dcr-server serve` as a process of its own, configured by environment variables (see
/// [`base_env`]).
pub(crate) struct ServerProcess {
    child: std::process::Child,
    /// Its standard output and error, as read so far.
    pub(crate) output: std::sync::Arc<std::sync::Mutex<String>>,
}

const BIN: &str = env!("CARGO_BIN_EXE_dcr-server");

/// The environment that gives `dcr-server` `app`'s configuration (store, certificates,
/// Register stub, issuer), its API on `port`.
pub(crate) fn base_env(app: &TestApp, port: u16) -> Vec<(String, String)> {
    let c = &app.config;
    let path = |p: &std::path::Path| p.display().to_string();
    let crls: Vec<String> = c.client_crls.iter().map(|p| path(p)).collect();
    [
        ("DCR_TLS_CERT", path(&c.tls_cert)),
        ("DCR_TLS_KEY", path(&c.tls_key)),
        ("DCR_CLIENT_CA", path(&c.client_ca)),
        ("DCR_CLIENT_CRLS", crls.join(",")),
        ("DCR_DATABASE_URL", c.database_url.expose().to_string()),
        ("DCR_ISSUER", c.issuer_str()),
        ("DCR_LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("DCR_PORTAL_ADDR", "127.0.0.1:0".into()),
        ("DCR_COOKIE_SECURE", "false".into()),
        ("DCR_PORTAL_SITE_ROOT", path(&c.site_root)),
        ("DCR_REGISTER_JWKS_URI", c.register_jwks_uri.to_string()),
        ("DCR_REGISTER_BASE_URI", c.register_base_uri.to_string()),
        ("DCR_OUTBOUND_CA", path(c.outbound_ca.as_ref().unwrap())),
        ("DCR_OUTBOUND_ALLOWED_ADDRESSES", "127.0.0.1".into()),
        ("DCR_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// [`base_env`], provisioning into `downstream` in async mode.
fn server_env(app: &TestApp, downstream: &DownstreamAs, port: u16) -> Vec<(String, String)> {
    let mut env = base_env(app, port);
    env.extend(
        [
            ("DCR_PROVISIONING_ENABLED", "true".into()),
            ("DCR_PROVISIONING_MODE", "async".into()),
            (
                "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
                downstream.registration_endpoint(),
            ),
            (
                "DCR_PROVISIONING_INITIAL_ACCESS_TOKEN",
                INITIAL_ACCESS_TOKEN.into(),
            ),
            ("DCR_PROVISIONING_CA", downstream.ca_file()),
            ("DCR_PROVISIONING_RECONCILE_INTERVAL_SECS", "0".into()),
        ]
        .into_iter()
        .map(|(k, v): (&str, String)| (k.to_string(), v)),
    );
    env
}

/// Registers `software_id` at the server whose API is `base` (a [`ServerProcess`]); answers
/// its client_id.
pub(crate) async fn register_at(app: &TestApp, base: &str, software_id: &str) -> String {
    let res = app
        .client
        .post(format!("{base}/register"))
        .header("content-type", "application/jwt")
        .body(app.request(software_id, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

impl ServerProcess {
    /// Starts it and waits until it says it serves.
    pub(crate) async fn start(env: &[(String, String)]) -> Self {
        let mut child = std::process::Command::new(BIN)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        for _ in 0..600 {
            if output.lock().unwrap().contains("\"serving\"") {
                return Self { child, output };
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the server exited: {}",
                output.lock().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the server did not start: {}", output.lock().unwrap());
    }

    /// SIGKILL: no graceful stop, no lease given back, nothing flushed but what was committed.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dcr-server provisioning reconcile` with `env`: exit status and output.
fn reconcile_command(env: &[(String, String)], repair: bool) -> (bool, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["provisioning", "reconcile"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    if repair {
        cmd.arg("--repair");
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The server killed with SIGKILL after it committed a registration and before the change
/// reached the downstream: the change waits in the outbox and is delivered after the restart.
/// Then the command `dcr-server provisioning reconcile` finds the client deleted behind our back
/// and, with `--repair`, has it created again.
async fn a_change_committed_before_a_kill_9_is_delivered_after_the_restart(backend: Backend) {
    let mut downstream = DownstreamAs::new(ClientIds::Accept);
    let mut app = spawn_provisioned(backend, &downstream, "async", "ours").await;
    real_time(&app);
    // Only the process below serves and delivers.
    app.stop();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let store = dcr_store::Store::connect(app.config.database_url.expose())
        .await
        .unwrap();
    let port = crate::downstream_as::free_port();
    let env = server_env(&app, &downstream, port);
    let base = format!("https://127.0.0.1:{port}");

    let server = ServerProcess::start(&env).await;
    let client_id = register_at(&app, &base, SW).await;
    server.kill_9();
    let waiting = store.outbox_of(&client_id).await.unwrap();
    assert_eq!(waiting.len(), 1, "the create waits: {waiting:?}");
    assert_eq!(waiting[0].operation, dcr_store::OutboxOperation::Create);
    assert_ne!(
        store.provisioning(&client_id).await.unwrap().unwrap().state,
        ProvisioningState::Provisioned
    );

    // Restarted, with the downstream up: the change is delivered, once.
    downstream.run(&app.ca_pem).await;
    let server = ServerProcess::start(&env).await;
    delivered_in(&store, &downstream, &client_id).await;
    assert_eq!(downstream.count("registration_create.success"), 1);
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", downstream.log());

    // The command finds nothing, then a client deleted behind our back, then repairs it.
    let (ok, out) = reconcile_command(&env, false);
    assert!(
        ok && out.contains("checked 1 registrations: 0 drifted"),
        "{out}"
    );
    let record = store.provisioning(&client_id).await.unwrap().unwrap();
    delete_there(&app, &downstream, &record).await;
    let (ok, out) = reconcile_command(&env, false);
    assert!(!ok, "drift left is a failure: {out}");
    assert!(
        out.contains(&format!("missing   {client_id}"))
            && out.contains("1 registrations differ at the authorization server"),
        "{out}"
    );
    let (ok, out) = reconcile_command(&env, true);
    assert!(ok && out.contains("1 drifted, 1 repairs queued"), "{out}");
    delivered_in(&store, &downstream, &client_id).await;
    let (status, token) = downstream_token(&app, &downstream, &client_id, true).await;
    assert_eq!(status, 200, "{token}\n{}", server.output.lock().unwrap());
}
