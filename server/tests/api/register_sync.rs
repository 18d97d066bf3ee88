//! CDR Register integration (docs/dcr-rules.md §10): status sync against the Register simulator served over
//! HTTPS inside the test (ETag and 304, outages, unknown values, pagination, REMOVED cleanup,
//! one poller among instances sharing a store), the Admin Metadata Update endpoint, and the
//! simulator's SSAs accepted end to end through the recipient tool.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use dcr_core::clock::MockClock;
use dcr_core::jose::{jwks_document, SigningKey};
use dcr_core::testutil::{test_keys, LEGAL_ENTITY_ID};
use dcr_devtools::adr::{DataHolder, Recipient};
use dcr_devtools::devcerts::DevPki;
use dcr_devtools::register_sim::{NewProduct, NotifyTarget, RunningSim, SimOptions};
use dcr_store::{AuditQuery, RegistrationStatus, Store};
use serde_json::{json, Value};
use server::cdr_register::{DATA_RECIPIENTS, LEASE, SOFTWARE_PRODUCTS};
use server::config::RawConfig;

use crate::both_backends;
use crate::helpers::{error_of, spawn_app_with, Backend, TestApp, NOW};

const SW: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";
const SW2: &str = "0b8e7e1a-2f9c-4d3b-8a61-5c4e3d2b1a09";
const METADATA: &str = "/cds-au/v1/admin/register/metadata";

/// The simulator with its own CA, on a free port; time from a mock clock at the harness' `NOW`.
pub(crate) struct Sim {
    running: RunningSim,
    ca_pem: String,
    clock: MockClock,
    _dir: tempfile::TempDir,
}

impl Sim {
    pub(crate) async fn start(page_size: usize) -> Self {
        let pki = DevPki::new("Register simulator CA").unwrap();
        let cert = pki.server(&["localhost", "127.0.0.1"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sim.pem"), &cert.cert_pem).unwrap();
        std::fs::write(dir.path().join("sim.key"), &cert.key_pem).unwrap();
        let clock = MockClock::new(NOW);
        let running = dcr_devtools::register_sim::start(
            SimOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                cert: dir.path().join("sim.pem"),
                key: dir.path().join("sim.key"),
                data: Some(dir.path().join("sim.json")),
                public_url: None,
                page_size,
                notify: vec![],
                outbound_ca: None,
                demo_jwks: None,
            },
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        Self {
            running,
            ca_pem: pki.ca_pem(),
            clock,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        self.running.url.as_str().trim_end_matches('/').to_string()
    }

    pub(crate) fn sim(&self) -> &dcr_devtools::register_sim::Simulator {
        &self.running.sim
    }

    /// A product of the harness' test recipient (legal entity `LEGAL_ENTITY_ID`).
    pub(crate) fn add(&self, id: &str, legal_entity_id: &str) -> Value {
        self.sim()
            .add_product(NewProduct {
                software_product_id: Some(id.into()),
                software_product_name: format!("Product {id}"),
                legal_entity_id: Some(legal_entity_id.into()),
                ..Default::default()
            })
            .unwrap()
    }
}

/// Points the Data Holder's Register at the simulator (trusting its CA); statuses are polled at
/// start and then only when asked (the poll interval is the longest allowed).
pub(crate) fn use_sim(raw: &mut RawConfig, sim: &Sim, register_keys_from_sim: bool) {
    raw.register.base_uri = Some(sim.url());
    raw.register.poll_secs = Some(300);
    if register_keys_from_sim {
        raw.register.jwks_uri = Some(format!("{}/cdr-register/v1/jwks", sim.url()));
    }
    let ca = raw.outbound.ca.clone().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(ca).unwrap();
    f.write_all(sim.ca_pem.as_bytes()).unwrap();
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn attempts(store: &Store) -> i64 {
    store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .map_or(0, |s| s.attempts)
}

/// Waits for the sync at start-up, then for each later sync asked with [`refresh`].
pub(crate) async fn synced(store: &Store, at_least: i64) {
    eventually(&format!("sync #{at_least}"), || async {
        attempts(store).await >= at_least
    })
    .await;
}

/// A Register-signed Admin Metadata Update JWT (the harness' Register key).
fn admin_jwt(app: &TestApp, patch: Value) -> String {
    let mut claims = json!({
        "iss": "cdr-register",
        "sub": "cdr-register",
        "aud": format!("{}{METADATA}", app.issuer),
        "iat": app.now(),
        "exp": app.now() + 300,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
    });
    dcr_core::testutil::patch(&mut claims, &patch);
    test_keys().register.sign(&claims).unwrap()
}

async fn post_metadata(app: &TestApp, jwt: &str) -> reqwest::Response {
    app.anon
        .post(format!("{}{METADATA}", app.base))
        .bearer_auth(jwt)
        .header("x-v", "1")
        .json(&json!({"data": {"action": "REFRESH"}}))
        .send()
        .await
        .unwrap()
}

/// Asks for a refresh as the Register does and waits until that sync is done.
pub(crate) async fn refresh(app: &TestApp) {
    let before = attempts(&app.store).await;
    let res = post_metadata(app, &admin_jwt(app, json!({}))).await;
    assert_eq!(res.status(), 200, "metadata update refused");
    synced(&app.store, before + 1).await;
}

async fn statuses(
    app: &TestApp,
    client_id: &str,
) -> (RegistrationStatus, Option<String>, Option<String>) {
    let r = app
        .store
        .get_registration(client_id)
        .await
        .unwrap()
        .unwrap();
    (r.status, r.register_sp_status, r.register_dr_status)
}

fn active(sp: &str, dr: &str) -> (RegistrationStatus, Option<String>, Option<String>) {
    (RegistrationStatus::Active, Some(sp.into()), Some(dr.into()))
}

async fn token_status(app: &TestApp, client_id: &str) -> (u16, String) {
    let assertion = app.assertion(client_id, json!({}));
    let res = app
        .token_request(
            &app.client,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
                ("scope", "cdr:registration"),
            ],
        )
        .await;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

async fn register_sync_events(app: &TestApp, action: &str) -> Vec<dcr_store::AuditEvent> {
    app.audit(AuditQuery {
        actor: Some("register-sync".into()),
        action: Some(action.into()),
        ..Default::default()
    })
    .await
    .items
}

async fn sync_sends_versions_and_etags_and_a_304_keeps_the_state(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    let s = sim.sim().stats();
    assert_eq!(
        (s.dr_status_ok, s.sp_status_ok),
        (1, 1),
        "first poll at start: {s:?}"
    );
    assert_eq!(s.last_x_v.as_deref(), Some("3"));
    assert_eq!(s.last_x_min_v.as_deref(), Some("2"));

    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        statuses(&app, &client_id).await,
        (RegistrationStatus::Active, None, None)
    );
    refresh(&app).await;
    let s = sim.sim().stats();
    assert_eq!(
        (s.dr_status_not_modified, s.sp_status_not_modified),
        (1, 1),
        "unchanged lists cost a 304: {s:?}"
    );
    assert_eq!(
        statuses(&app, &client_id).await,
        active("ACTIVE", "ACTIVE"),
        "a new registration gets the last good statuses on a 304"
    );
    let reg = app
        .store
        .get_registration(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.register_synced_at, Some(NOW));
    let state = app
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    assert!(state.etag.is_some() && state.failures == 0 && state.synced_at == Some(NOW));
    let first = register_sync_events(&app, "registration.register_status").await;
    assert_eq!(first.len(), 1, "the first statuses are an audited change");

    // A change at the Register: a 200, the new status, an audit event, no token.
    sim.sim().set_product_status(SW, "INACTIVE").unwrap();
    refresh(&app).await;
    assert_eq!(sim.sim().stats().sp_status_ok, 2);
    assert_eq!(
        statuses(&app, &client_id).await,
        active("INACTIVE", "ACTIVE")
    );
    let (status, error) = token_status(&app, &client_id).await;
    assert_eq!(
        (status, error.as_str()),
        (
            403,
            "urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive"
        )
    );
    let events = register_sync_events(&app, "registration.register_status").await;
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(e.client_id.as_deref(), Some(client_id.as_str()));
    assert!(
        e.reason.as_deref().unwrap().contains("ACTIVE -> INACTIVE"),
        "{e:?}"
    );
    assert!(e.before_state.as_deref().unwrap().contains("\"ACTIVE\""));
    assert!(e.after_state.as_deref().unwrap().contains("\"INACTIVE\""));

    // A suspended recipient: no token either; active again: tokens again.
    sim.sim().set_product_status(SW, "ACTIVE").unwrap();
    sim.sim()
        .set_recipient_status(LEGAL_ENTITY_ID, "SUSPENDED")
        .unwrap();
    refresh(&app).await;
    assert_eq!(
        statuses(&app, &client_id).await,
        active("INACTIVE", "SUSPENDED"),
        "the Register cascades a suspension to the product"
    );
    assert_eq!(token_status(&app, &client_id).await.0, 403);
    sim.sim()
        .set_recipient_status(LEGAL_ENTITY_ID, "ACTIVE")
        .unwrap();
    refresh(&app).await;
    assert_eq!(statuses(&app, &client_id).await, active("ACTIVE", "ACTIVE"));
    assert_eq!(token_status(&app, &client_id).await.0, 200);
}

async fn an_outage_keeps_the_last_good_state(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    sim.add(SW2, LEGAL_ENTITY_ID);
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    refresh(&app).await;
    assert_eq!(statuses(&app, &client_id).await, active("ACTIVE", "ACTIVE"));

    sim.sim().set_outage(Some(503));
    sim.sim().set_product_status(SW, "INACTIVE").unwrap();
    let other = app.register(SW2).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    refresh(&app).await;
    let s = sim.sim().stats();
    assert!(s.outage_refusals >= 6, "each list retried 3 times: {s:?}");
    assert_eq!(
        statuses(&app, &client_id).await,
        active("ACTIVE", "ACTIVE"),
        "an outage is never a status change"
    );
    assert_eq!(
        statuses(&app, &other).await,
        active("ACTIVE", "ACTIVE"),
        "a registration made during the outage gets the last good statuses"
    );
    let state = app
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.failures, 1);
    assert!(
        state.last_error.as_deref().unwrap().contains("503"),
        "{state:?}"
    );
    assert!(state.statuses.contains("ACTIVE") && !state.statuses.contains("INACTIVE"));
    assert_eq!(token_status(&app, &client_id).await.0, 200);

    sim.sim().set_outage(None);
    refresh(&app).await;
    assert_eq!(
        statuses(&app, &client_id).await,
        active("INACTIVE", "ACTIVE")
    );
    let state = app
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((state.failures, state.last_error), (0, None));
}

async fn unknown_status_values_are_ignored(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    refresh(&app).await;
    assert_eq!(statuses(&app, &client_id).await, active("ACTIVE", "ACTIVE"));
    let events_before = register_sync_events(&app, "registration.register_status")
        .await
        .len();

    sim.sim().set_product_status(SW, "PAUSED").unwrap();
    sim.sim()
        .set_recipient_status(LEGAL_ENTITY_ID, "ON_HOLD")
        .unwrap();
    refresh(&app).await;
    assert_eq!(
        statuses(&app, &client_id).await,
        active("ACTIVE", "ACTIVE"),
        "values the standard does not define are ignored"
    );
    assert_eq!(
        register_sync_events(&app, "registration.register_status")
            .await
            .len(),
        events_before,
        "and are no audited change"
    );
    assert_eq!(token_status(&app, &client_id).await.0, 200);
    let state = app
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    assert!(
        state.statuses.contains("PAUSED"),
        "the Register's list is kept as it was sent"
    );

    sim.sim().set_product_status(SW, "INACTIVE").unwrap();
    refresh(&app).await;
    assert_eq!(
        statuses(&app, &client_id).await,
        active("INACTIVE", "ACTIVE")
    );
}

async fn removed_products_and_revoked_recipients_are_cleaned_up(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    sim.add(SW2, LEGAL_ENTITY_ID);
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    refresh(&app).await;
    let token = app.token(&client_id).await;

    sim.sim().set_product_status(SW, "REMOVED").unwrap();
    refresh(&app).await;
    let reg = app
        .store
        .get_registration(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reg.status,
        RegistrationStatus::Removed,
        "registration cleaned up"
    );
    assert_eq!(reg.register_sp_status.as_deref(), Some("REMOVED"));
    assert!(
        reg.status_reason.as_deref().unwrap().contains("REMOVED"),
        "{reg:?}"
    );
    assert!(!reg.ssa.is_empty(), "data kept for the audit trail");
    let events = register_sync_events(&app, "registration.remove").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client_id.as_deref(), Some(client_id.as_str()));
    assert!(events[0]
        .after_state
        .as_deref()
        .unwrap()
        .contains("\"removed\""));
    let (status, error) = token_status(&app, &client_id).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client"),
        "no more tokens"
    );
    let res = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, _, _) = error_of(res).await;
    assert_eq!(status, 401, "tokens issued before are unusable at once");

    // A recipient REVOKED at the Register: its products are removed (cascade).
    let other = app.register(SW2).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    refresh(&app).await;
    assert_eq!(statuses(&app, &other).await, active("ACTIVE", "ACTIVE"));
    sim.sim()
        .set_recipient_status(LEGAL_ENTITY_ID, "REVOKED")
        .unwrap();
    refresh(&app).await;
    let reg2 = app.store.get_registration(&other).await.unwrap().unwrap();
    assert_eq!(reg2.status, RegistrationStatus::Removed);
    assert_eq!(reg2.register_dr_status.as_deref(), Some("REVOKED"));
    assert_eq!(
        register_sync_events(&app, "registration.remove")
            .await
            .len(),
        2
    );
}

async fn status_lists_are_read_across_pages(backend: Backend) {
    let sim = Sim::start(1).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    sim.add(SW2, LEGAL_ENTITY_ID);
    sim.add("third-product", LEGAL_ENTITY_ID);
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    let s = sim.sim().stats();
    assert_eq!(
        s.sp_status_ok, 3,
        "links.next followed over three pages: {s:?}"
    );
    let state = app
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    let list: Value = serde_json::from_str(&state.statuses).unwrap();
    assert_eq!(list.as_object().unwrap().len(), 3, "{list}");
    let client_id = app.register(SW2).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.sim().set_product_status(SW2, "INACTIVE").unwrap();
    refresh(&app).await;
    assert_eq!(
        statuses(&app, &client_id).await,
        active("INACTIVE", "ACTIVE")
    );
}

async fn admin_metadata_update_needs_a_register_signed_token(backend: Backend) {
    let sim = Sim::start(1000).await;
    let app = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    synced(&app.store, 1).await;
    let url = format!("{}{METADATA}", app.base);

    let res = app
        .anon
        .post(&url)
        .json(&json!({"data": {"action": "REFRESH"}}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(res).await.0, 401, "no token");

    let now = app.now();
    let impostor = test_keys()
        .impostor
        .sign(&json!({"iss": "cdr-register", "sub": "cdr-register", "aud": format!("{}{METADATA}", app.issuer),
            "exp": now + 300, "jti": "x1"}))
        .unwrap();
    let cases = [
        ("signed by another key", impostor),
        ("wrong iss", admin_jwt(&app, json!({"iss": "someone"}))),
        ("wrong sub", admin_jwt(&app, json!({"sub": "someone"}))),
        (
            "wrong aud",
            admin_jwt(&app, json!({"aud": "https://elsewhere.example"})),
        ),
        (
            "expired",
            admin_jwt(&app, json!({"exp": now - 3600, "iat": now - 3900})),
        ),
        ("no jti", admin_jwt(&app, json!({"jti": null}))),
        (
            "issued in the future",
            admin_jwt(&app, json!({"iat": now + 3600})),
        ),
    ];
    for (what, jwt) in cases {
        let (status, code, _) = error_of(post_metadata(&app, &jwt).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"), "{what}");
    }

    let post = |jwt: String, ct: &'static str, body: &'static str, min_v: &'static str| {
        let app = &app;
        let url = url.clone();
        async move {
            app.anon
                .post(url)
                .bearer_auth(jwt)
                .header("content-type", ct)
                .header("x-v", min_v)
                .header("x-min-v", min_v)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let ok_body = r#"{"data":{"action":"REFRESH"}}"#;
    let res = post(
        admin_jwt(&app, json!({})),
        "application/json",
        r#"{"data":{"action":"NAP"}}"#,
        "1",
    )
    .await;
    assert_eq!(error_of(res).await.0, 400, "unknown action");
    let res = post(admin_jwt(&app, json!({})), "text/plain", ok_body, "1").await;
    assert_eq!(error_of(res).await.0, 415);
    let res = post(admin_jwt(&app, json!({})), "application/json", ok_body, "2").await;
    assert_eq!(error_of(res).await.0, 406, "only version 1");

    let before = attempts(&app.store).await;
    let jwt = admin_jwt(&app, json!({"aud": app.issuer.clone()}));
    let res = post_metadata(&app, &jwt).await;
    assert_eq!(res.status(), 200, "the issuer is an accepted audience");
    assert_eq!(res.headers()["x-v"], "1");
    synced(&app.store, before + 1).await;
    let (status, _, _) = error_of(post_metadata(&app, &jwt).await).await;
    assert_eq!(status, 401, "a token is used once");
    let res = app.anon.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 405);
}

async fn one_instance_polls_when_several_share_the_store(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::database_url(backend, dir.path()).await;
    let a = spawn_app_with(backend, |raw| {
        use_sim(raw, &sim, false);
        raw.database.url = Some(db.clone());
    })
    .await;
    synced(&a.store, 1).await;
    let holder_a = a.store.lease(LEASE).await.unwrap().unwrap().holder;
    let b = spawn_app_with(backend, |raw| {
        use_sim(raw, &sim, false);
        raw.database.url = Some(db.clone());
    })
    .await;
    let client_id = b.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let calls = |s: dcr_devtools::register_sim::Stats| {
        s.dr_status_ok + s.dr_status_not_modified + s.sp_status_ok + s.sp_status_not_modified
    };
    // Asked through B, which does not hold the lease: B passes the request on through the
    // store and A polls. B handles the request only after its first round at start, so once
    // A's poll is seen, B's start is behind us: had B polled then, there would be more than
    // A's two polls (at its start and now), two calls each.
    assert_eq!(attempts(&b.store).await, 1);
    let res = post_metadata(&b, &admin_jwt(&b, json!({}))).await;
    assert_eq!(res.status(), 200);
    synced(&b.store, 2).await;
    assert_eq!(
        attempts(&b.store).await,
        2,
        "B did not poll: A holds the lease"
    );
    assert_eq!(calls(sim.sim().stats()), 4);
    assert_eq!(
        b.store.lease(LEASE).await.unwrap().unwrap().holder,
        holder_a
    );
    let state = b
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state.synced_by.as_deref(),
        Some(holder_a.as_str()),
        "only the holder polls"
    );
    assert_eq!(statuses(&b, &client_id).await, active("ACTIVE", "ACTIVE"));
    assert_eq!(
        b.store
            .register_sync_state("data_recipients")
            .await
            .unwrap()
            .unwrap()
            .synced_by,
        Some(holder_a.clone())
    );

    // A stops and gives the lease up: B takes over and polls.
    drop(a);
    eventually("B holds the lease", || async {
        b.store
            .lease(LEASE)
            .await
            .unwrap()
            .is_some_and(|l| l.holder != holder_a)
    })
    .await;
    let holder_b = b.store.lease(LEASE).await.unwrap().unwrap().holder;
    // B polls once on taking over; let that sync finish first, or a refresh asked while it is
    // in flight could be answered by its older lists.
    eventually("B's take-over sync is saved", || async {
        b.store
            .register_sync_state(SOFTWARE_PRODUCTS)
            .await
            .unwrap()
            .is_some_and(|s| s.synced_by.as_deref() == Some(holder_b.as_str()))
    })
    .await;
    sim.sim().set_product_status(SW, "INACTIVE").unwrap();
    refresh(&b).await;
    assert_eq!(statuses(&b, &client_id).await, active("INACTIVE", "ACTIVE"));
    let state = b
        .store
        .register_sync_state(SOFTWARE_PRODUCTS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.synced_by.as_deref(), Some(holder_b.as_str()));
}

async fn the_simulator_and_the_recipient_tool_run_the_whole_flow(backend: Backend) {
    const PRODUCT: &str = "9a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
    const BRAND: &str = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e";
    const LE: &str = "e1d2c3b4-a5f6-4e7d-8c9b-0a1f2e3d4c5b";
    let sim = Sim::start(1000).await;
    let key = SigningKey::generate_ps256("adr-test", 2048).unwrap();
    sim.sim()
        .add_product(NewProduct {
            software_product_id: Some(PRODUCT.into()),
            software_product_name: "Budget Buddy".into(),
            brand_id: Some(BRAND.into()),
            legal_entity_id: Some(LE.into()),
            legal_entity_name: Some("Buddy Pty Ltd".into()),
            redirect_uris: Some(vec!["https://buddy.example/cb".into()]),
            jwks: Some(jwks_document([&key])),
            ..Default::default()
        })
        .unwrap();
    let mut test_ca = String::new();
    let app = spawn_app_with(backend, |raw| {
        use_sim(raw, &sim, true);
        test_ca = std::fs::read_to_string(raw.tls.client_ca.clone().unwrap()).unwrap();
    })
    .await;
    synced(&app.store, 1).await;
    let ca = format!("{test_ca}{}", sim.ca_pem);
    let adr = Recipient::new(
        key,
        Some(&ca),
        &app.pki.client_a.cert_pem,
        &app.pki.client_a.key_pem,
    )
    .unwrap();
    let dh = DataHolder::at(&app.base, &app.issuer);

    // Register with the simulator's SSA.
    let ssa = adr.fetch_ssa(&sim.url(), BRAND, PRODUCT).await.unwrap();
    let created = adr.register(&dh, &ssa, app.now()).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["software_statement"],
        ssa.as_str(),
        "echoed verbatim"
    );
    assert_eq!(created.body["software_id"], PRODUCT);
    assert_eq!(created.body["org_id"], BRAND);
    assert_eq!(created.body["legal_entity_id"], LE);
    assert_eq!(
        created.body["redirect_uris"],
        json!(["https://buddy.example/cb"])
    );
    let client_id = created.body["client_id"].as_str().unwrap().to_string();

    // Read back and update through the recipient tool.
    let token = adr.access_token(&dh, &client_id, app.now()).await.unwrap();
    let got = adr.get(&dh, &client_id, &token).await.unwrap();
    assert_eq!(
        (got.status, got.body["client_id"].as_str()),
        (200, Some(client_id.as_str()))
    );
    sim.clock.advance(30);
    app.clock.advance(30);
    let fresh = adr.fetch_ssa(&sim.url(), BRAND, PRODUCT).await.unwrap();
    let updated = adr
        .update(&dh, &client_id, &token, &fresh, app.now())
        .await
        .unwrap();
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["software_statement"], fresh.as_str());

    // The simulator notifies the Data Holder itself (Admin Metadata Update, signed with the
    // simulator's Register key): a status flip is seen without waiting for the poll. (`aud` is
    // the endpoint under the Data Holder's issuer, which differs from the address used here.)
    sim.sim().set_notify(
        dcr_devtools::adr::https_client(Some(&test_ca), None).unwrap(),
        vec![NotifyTarget {
            url: format!("{}{METADATA}", app.base).parse().unwrap(),
            aud: format!("{}{METADATA}", app.issuer),
        }],
    );
    sim.sim().set_product_status(PRODUCT, "INACTIVE").unwrap();
    eventually("the product is seen INACTIVE", || async {
        statuses(&app, &client_id).await.1.as_deref() == Some("INACTIVE")
    })
    .await;
    let stats = sim.sim().stats();
    assert_eq!(
        (stats.notifications_sent, stats.notifications_failed),
        (1, 0),
        "{stats:?}"
    );
    let refused = adr.token(&dh, &client_id, app.now()).await.unwrap();
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.body["error"],
        "urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive"
    );
    assert!(
        adr.fetch_ssa(&sim.url(), BRAND, PRODUCT).await.is_err(),
        "no SSA for an inactive product"
    );

    sim.sim().set_product_status(PRODUCT, "ACTIVE").unwrap();
    eventually("the product is seen ACTIVE again", || async {
        statuses(&app, &client_id).await.1.as_deref() == Some("ACTIVE")
    })
    .await;
    let token = adr.access_token(&dh, &client_id, app.now()).await.unwrap();
    let deleted = adr.delete(&dh, &client_id, &token).await.unwrap();
    assert_eq!(deleted.status, 204);
    let ssa = adr.fetch_ssa(&sim.url(), BRAND, PRODUCT).await.unwrap();
    let again = adr.register(&dh, &ssa, app.now()).await.unwrap();
    assert_eq!(
        again.status, 201,
        "registers again after DELETE: {:?}",
        again.body
    );
}

/// A Data Holder on the harness' stub Register (its status lists are whatever the test serves),
/// polled only when asked; returns once the sync at start is done.
async fn on_stub_register(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |raw| raw.register.poll_secs = Some(300)).await;
    synced(&app.store, 1).await;
    app
}

async fn sync_state(app: &TestApp, resource: &str) -> dcr_store::RegisterSyncState {
    app.store
        .register_sync_state(resource)
        .await
        .unwrap()
        .unwrap()
}

/// `doc` followed by spaces up to exactly `len` bytes (still the same JSON document).
fn padded(doc: &Value, len: usize) -> Vec<u8> {
    let mut out = doc.to_string().into_bytes();
    assert!(out.len() <= len);
    out.resize(len, b' ');
    out
}

/// A status page is read up to `MAX_PAGE_BYTES`: a page of exactly the cap is applied, one byte
/// more fails that list's sync (announced in `Content-Length` or found while reading), is
/// fetched once (no retry) and keeps the last good list.
async fn status_pages_over_the_size_cap_are_refused(backend: Backend) {
    use server::cdr_register::fetch::MAX_PAGE_BYTES;
    use server::cdr_register::{
        DATA_RECIPIENTS_STATUS_PATH as DR, SOFTWARE_PRODUCTS_STATUS_PATH as SP,
    };
    let app = on_stub_register(backend).await;
    let dr = json!({"data": [{"legalEntityId": LEGAL_ENTITY_ID, "status": "ACTIVE"}], "links": {}});
    let sp = json!({"data": [{"softwareProductId": SW, "status": "ACTIVE"}], "links": {}});
    let too_large = format!("a status page is larger than {MAX_PAGE_BYTES} bytes");

    app.stub.set(DR, 200, padded(&dr, MAX_PAGE_BYTES));
    app.stub
        .set_chunked(SP, 200, padded(&sp, MAX_PAGE_BYTES + 1));
    let (dr_hits, sp_hits) = (app.stub.hits(DR), app.stub.hits(SP));
    refresh(&app).await;
    assert_eq!(
        (app.stub.hits(DR), app.stub.hits(SP)),
        (dr_hits + 1, sp_hits + 1)
    );
    let state = sync_state(&app, DATA_RECIPIENTS).await;
    assert_eq!(state.last_error, None, "a page of exactly the cap is read");
    assert_eq!(
        state.statuses,
        json!({(LEGAL_ENTITY_ID.to_lowercase()): "ACTIVE"}).to_string()
    );
    let state = sync_state(&app, SOFTWARE_PRODUCTS).await;
    assert_eq!(
        state.last_error.as_deref(),
        Some(too_large.as_str()),
        "chunked, one byte over"
    );
    assert_eq!(
        state.statuses, "{}",
        "nothing of the oversized page is kept"
    );

    app.stub.set(DR, 200, padded(&dr, MAX_PAGE_BYTES + 1));
    app.stub.set_chunked(SP, 200, padded(&sp, MAX_PAGE_BYTES));
    let (dr_hits, sp_hits) = (app.stub.hits(DR), app.stub.hits(SP));
    refresh(&app).await;
    assert_eq!(
        (app.stub.hits(DR), app.stub.hits(SP)),
        (dr_hits + 1, sp_hits + 1)
    );
    let state = sync_state(&app, DATA_RECIPIENTS).await;
    assert_eq!(
        state.last_error.as_deref(),
        Some(too_large.as_str()),
        "Content-Length over the cap"
    );
    assert_eq!(
        state.statuses,
        json!({(LEGAL_ENTITY_ID.to_lowercase()): "ACTIVE"}).to_string(),
        "the last good list is kept"
    );
    let state = sync_state(&app, SOFTWARE_PRODUCTS).await;
    assert_eq!(
        state.last_error, None,
        "a chunked page of exactly the cap is read"
    );
    assert_eq!(state.statuses, json!({SW: "ACTIVE"}).to_string());
}

/// `links.next` is followed only within the Register's origin, never in a loop, and for at most
/// `MAX_PAGES` pages; each refusal fails the list's sync and keeps the last good list.
async fn status_paging_refuses_other_origins_loops_and_too_many_pages(backend: Backend) {
    use server::cdr_register::fetch::MAX_PAGES;
    use server::cdr_register::SOFTWARE_PRODUCTS_STATUS_PATH as SP;
    let app = on_stub_register(backend).await;
    let page = |status: &str, next: Option<String>| {
        json!({"data": [{"softwareProductId": SW, "status": status}], "links": {"next": next}})
            .to_string()
    };
    app.stub.set(SP, 200, page("ACTIVE", None));
    refresh(&app).await;
    let good = json!({SW: "ACTIVE"}).to_string();
    let state = sync_state(&app, SOFTWARE_PRODUCTS).await;
    assert_eq!(
        (state.last_error, state.statuses.clone()),
        (None, good.clone())
    );
    let refused = |why: &str| format!("refusing to follow links.next: {why}");

    // Another origin: the same stub server, named `localhost` instead of 127.0.0.1.
    let port = app.stub_base.rsplit(':').next().unwrap();
    app.stub.set(
        SP,
        200,
        page(
            "INACTIVE",
            Some(format!("https://localhost:{port}/elsewhere")),
        ),
    );
    app.stub.set("/elsewhere", 200, page("INACTIVE", None));
    refresh(&app).await;
    let state = sync_state(&app, SOFTWARE_PRODUCTS).await;
    assert_eq!(
        state.last_error,
        Some(refused("it points to another origin"))
    );
    assert_eq!(state.statuses, good);
    assert_eq!(
        app.stub.hits("/elsewhere"),
        0,
        "the other origin is never asked"
    );

    // A loop: the first page, then a second that links back to the first.
    app.stub
        .set(SP, 200, page("INACTIVE", Some("/loop-2".into())));
    app.stub.set(
        "/loop-2",
        200,
        page("INACTIVE", Some(format!("{}{SP}", app.stub_base))),
    );
    let before = app.stub.hits(SP);
    refresh(&app).await;
    let state = sync_state(&app, SOFTWARE_PRODUCTS).await;
    assert_eq!(state.last_error, Some(refused("the pages loop")));
    assert_eq!(state.statuses, good);
    assert_eq!(
        (app.stub.hits(SP), app.stub.hits("/loop-2")),
        (before + 1, 1)
    );

    // One page more than allowed: the first, then /pages/1, /pages/2, ... each linking on.
    app.stub
        .set(SP, 200, page("INACTIVE", Some("/pages/1".into())));
    for n in 1..=MAX_PAGES {
        app.stub.set(
            &format!("/pages/{n}"),
            200,
            page("INACTIVE", Some(format!("/pages/{}", n + 1))),
        );
    }
    refresh(&app).await;
    let state = sync_state(&app, SOFTWARE_PRODUCTS).await;
    assert_eq!(
        state.last_error,
        Some(refused(&format!("more than {MAX_PAGES} pages")))
    );
    assert_eq!(state.statuses, good);
    assert_eq!(
        app.stub.hits(&format!("/pages/{}", MAX_PAGES - 1)),
        1,
        "the last page allowed is read"
    );
    assert_eq!(
        app.stub.hits(&format!("/pages/{MAX_PAGES}")),
        0,
        "no page beyond the limit"
    );
}

/// An instance restarted after a crash, its lease left behind unexpired, takes the lease back
/// at once: the lease names the instance's seat (its host and API address), which no other live
/// process can have. The crash is a runtime dropped with all its tasks, so nothing is given up.
async fn a_restarted_instance_takes_its_lease_back_at_once(backend: Backend) {
    let sim = Sim::start(1000).await;
    sim.add(SW, LEGAL_ENTITY_ID);
    let mut base = spawn_app_with(backend, |raw| use_sim(raw, &sim, false)).await;
    // The test app's own instance stops (and closes its store); the checks read through another.
    let store = Store::connect(base.config.database_url.expose())
        .await
        .unwrap();
    base.stop();
    eventually("the test app gives its lease up", || async {
        store.lease(LEASE).await.unwrap().is_none()
    })
    .await;
    let (config, clock) = (base.config.clone(), base.clock.clone());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (crash_tx, crash_rx) = std::sync::mpsc::channel::<()>();
    let crashed = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = rt
            .block_on(server::startup::Application::build(config, Arc::new(clock)))
            .unwrap();
        let id = app.state().register_sync.instance_id().to_string();
        started_tx.send((app.api_addr().unwrap(), id)).unwrap();
        rt.spawn(app.run_until_stopped(std::future::pending()));
        let _ = crash_rx.recv();
        rt.shutdown_background();
    });
    let (addr, first) = tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    eventually("the first process holds the lease", || async {
        store
            .lease(LEASE)
            .await
            .unwrap()
            .is_some_and(|l| l.holder == first)
    })
    .await;
    crash_tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || crashed.join().unwrap())
        .await
        .unwrap();
    // The same instance again: same host, same API address. The test clock stands still, so
    // the old lease would never expire on its own.
    let mut config = base.config.clone();
    config.listen_addr = addr;
    let app = server::startup::Application::build(config, Arc::new(base.clock.clone()))
        .await
        .unwrap();
    let second = app.state().register_sync.instance_id().to_string();
    let seat = |id: &str| id.rsplit_once('/').map(|(seat, _)| seat.to_string());
    assert_eq!(seat(&second), seat(&first), "the same seat");
    assert_ne!(second, first);
    let restarted = tokio::time::Instant::now();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    eventually("the restarted process holds the lease", || async {
        store
            .lease(LEASE)
            .await
            .unwrap()
            .is_some_and(|l| l.holder == second)
    })
    .await;
    assert!(
        restarted.elapsed() < Duration::from_secs(5),
        "{:?}",
        restarted.elapsed()
    );
}

both_backends!(
    a_restarted_instance_takes_its_lease_back_at_once,
    sync_sends_versions_and_etags_and_a_304_keeps_the_state,
    an_outage_keeps_the_last_good_state,
    unknown_status_values_are_ignored,
    removed_products_and_revoked_recipients_are_cleaned_up,
    status_lists_are_read_across_pages,
    status_pages_over_the_size_cap_are_refused,
    status_paging_refuses_other_origins_loops_and_too_many_pages,
    admin_metadata_update_needs_a_register_signed_token,
    one_instance_polls_when_several_share_the_store,
    the_simulator_and_the_recipient_tool_run_the_whole_flow,
);
