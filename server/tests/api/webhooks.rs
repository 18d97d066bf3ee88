//! Event notifications: every registration change posted to the configured HTTPS webhooks (the
//! harness' HTTPS stub as the receiver) as a JWS the receiver verifies with the Data Holder's
//! JWKS, in order per registration, at least once; retried while the receiver fails, kept as a
//! dead letter after the last attempt and sent again by an operator; delivered once by two
//! instances; and not lost when the server is killed in the middle of a delivery.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};

const HOOK: &str = "/hooks/siem";

fn sw(n: u32) -> String {
    format!("5e6f7a8b-0000-4000-8000-0000000d{n:04}")
}

/// A server notifying the stub's [`HOOK`] as the webhook `siem`, giving up after `attempts`.
async fn spawn_notifying(backend: Backend, attempts: u32) -> TestApp {
    let app = spawn_app_with(backend, |raw| {
        let stub = raw.register.base_uri.clone().unwrap();
        raw.webhooks.endpoints = Some(vec![format!("siem={stub}{HOOK}")]);
        raw.webhooks.max_attempts = Some(attempts);
    })
    .await;
    app.stub.set(HOOK, 200, "");
    app
}

/// The events the receiver accepted so far, each verified with the Data Holder's JWKS (fetched
/// as a receiver would) and checked for its issuer and audience: the `event` claims.
async fn received(app: &TestApp) -> Vec<Value> {
    received_from(app, &app.base).await
}

/// [`received`], with the JWKS fetched from the server at `base`.
async fn received_from(app: &TestApp, base: &str) -> Vec<Value> {
    let jwks = app
        .anon
        .get(format!("{base}/jwks"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let keys = dcr_core::jose::JwkSet::parse(&jwks).unwrap();
    let audience = format!("{}{HOOK}", app.stub_base);
    app.stub
        .posted(HOOK)
        .into_iter()
        .map(|(content_type, body)| {
            assert_eq!(content_type, "application/jwt");
            let jws = String::from_utf8(body).unwrap();
            let (_, claims) = dcr_core::jose::verify_with_set(&jws, &keys)
                .unwrap_or_else(|e| panic!("an event that does not verify ({e}): {jws}"));
            assert_eq!(claims["iss"], app.issuer);
            assert_eq!(claims["aud"], audience);
            assert_eq!(claims["jti"], claims["event"]["id"].to_string());
            claims["event"].clone()
        })
        .collect()
}

/// Waits until the receiver has accepted `n` events (at least).
async fn until_received(app: &TestApp, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = received(app).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} events received: {got:#?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn of<'a>(events: &'a [Value], client_id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["client_id"] == client_id)
        .collect()
}

fn types(events: &[&Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

async fn client_id_of(app: &TestApp, software_id: &str) -> String {
    app.register(software_id).await["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn every_change_is_posted_signed_and_in_order(backend: Backend) {
    let app = spawn_notifying(backend, 12).await;
    // Updated, revoked, then released.
    let a = client_id_of(&app, &sw(1)).await;
    let token = app.token(&a).await;
    let claims = app.request_claims(&sw(1), &app.ssa(&sw(1), json!({})));
    let res = app
        .put_registration(&a, &token, app.sign_request(&claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let audit = dcr_store::NewAuditEvent::default();
    let revoked = app
        .store
        .set_registration_status(
            &a,
            &[dcr_store::RegistrationStatus::Active],
            dcr_store::RegistrationStatus::Revoked,
            Some("Key compromise"),
            app.now(),
            &audit,
        )
        .await
        .unwrap();
    assert!(revoked);
    app.store
        .release_registration(&a, "admin:alice", "Lost its client ID", app.now())
        .await
        .unwrap();
    // The Register reports the product inactive, then removed.
    let b = client_id_of(&app, &sw(2)).await;
    for (previous, status, remove) in [
        (None, "INACTIVE", false),
        (Some("INACTIVE"), "REMOVED", true),
    ] {
        let change = dcr_store::RegisterStatusChange {
            client_id: b.clone(),
            previous_sp_status: previous.map(str::to_string),
            previous_dr_status: None,
            sp_status: Some(status.into()),
            dr_status: None,
            remove,
            reason: remove.then(|| "Removed at the Register".to_string()),
            now: app.now(),
        };
        assert!(app
            .store
            .apply_register_status(&change, &audit)
            .await
            .unwrap());
    }
    // The recipient deletes its registration.
    let c = client_id_of(&app, &sw(3)).await;
    let token = app.token(&c).await;
    let res = app
        .client
        .delete(app.client_url(&c))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let events = until_received(&app, 10).await;
    assert_eq!(events.len(), 10, "each event once: {events:#?}");
    assert_eq!(
        types(&of(&events, &a)),
        [
            "registration.created",
            "registration.updated",
            "registration.revoked",
            "registration.released"
        ]
    );
    assert_eq!(
        types(&of(&events, &b)),
        [
            "registration.created",
            "registration.register_status",
            "registration.register_status",
            "registration.removed"
        ]
    );
    assert_eq!(
        types(&of(&events, &c)),
        ["registration.created", "registration.deleted"]
    );
    // What each says.
    let a_events = of(&events, &a);
    assert_eq!(a_events[0]["software_id"], sw(1));
    assert_eq!(a_events[0]["status"], "active");
    assert_eq!(a_events[2]["status"], "revoked");
    assert_eq!(a_events[2]["reason"], "Key compromise");
    assert_eq!(a_events[3]["reason"], "Lost its client ID");
    let b_events = of(&events, &b);
    assert_eq!(b_events[1]["software_product_status"], "INACTIVE");
    assert_eq!(b_events[2]["previous_software_product_status"], "INACTIVE");
    assert_eq!(b_events[3]["reason"], "Removed at the Register");
    // Ids grow in the order the changes were made, per registration.
    for events in [a_events, b_events] {
        let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
    // Nothing waits once delivered.
    assert_eq!(app.store.webhook_queue().await.unwrap().waiting, 0);
}

/// The receiver fails: the events wait in order and arrive once it answers again; after the
/// last attempt an event is a dead letter, the registration's later events go on, and an
/// operator sends it again from the portal (audited).
async fn a_failing_webhook_is_retried_and_dead_letters_wait_for_an_operator(backend: Backend) {
    let app = spawn_notifying(backend, 3).await;
    app.stub.set(HOOK, 503, "");
    let a = client_id_of(&app, &sw(11)).await;
    let token = app.token(&a).await;
    let claims = app.request_claims(&sw(11), &app.ssa(&sw(11), json!({})));
    let res = app
        .put_registration(&a, &token, app.sign_request(&claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting = app.store.webhook_events_of(&a).await.unwrap();
        if waiting.first().is_some_and(|e| e.attempts >= 1) {
            assert_eq!(waiting.len(), 2, "the update waits behind the creation");
            assert_eq!(waiting[1].attempts, 0, "the update is not tried before it");
            assert!(waiting[0].last_error.as_deref().unwrap().contains("503"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The receiver is back: after the backoff, both arrive, in order.
    app.stub.set(HOOK, 200, "");
    app.clock.advance(2);
    let events = until_received(&app, 2).await;
    assert_eq!(
        types(&of(&events, &a)),
        ["registration.created", "registration.updated"]
    );

    // Down again: the revocation's event is given up after 3 attempts.
    app.stub.set(HOOK, 500, "");
    app.store
        .set_registration_status(
            &a,
            &[dcr_store::RegistrationStatus::Active],
            dcr_store::RegistrationStatus::Revoked,
            Some("Fraud"),
            app.now(),
            &dcr_store::NewAuditEvent::default(),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let dead = app.store.webhook_dead_letters(10).await.unwrap();
        if !dead.is_empty() {
            break dead;
        }
        assert!(std::time::Instant::now() < deadline, "never given up");
        app.clock.advance(10);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event, "registration.revoked");
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].last_error.as_deref().unwrap().contains("500"));
    // A later event of the registration is not held up by the dead letter.
    app.stub.set(HOOK, 200, "");
    app.store
        .release_registration(&a, "admin:alice", "Lost its client ID", app.now())
        .await
        .unwrap();
    let events = until_received(&app, 3).await;
    assert_eq!(types(&of(&events, &a))[2], "registration.released");

    // The portal shows the dead letter; a viewer may not send it again, an operator may.
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let page = browser.get("/webhooks").await.text().await.unwrap();
    assert!(page.contains("registration.revoked"), "{page}");
    assert!(page.contains("the webhook answered 500"), "{page}");
    let res = browser
        .post(
            &format!("/webhooks/{}/retry", dead[0].event_id),
            &[],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/webhooks?done=retried");
    let events = until_received(&app, 4).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "registration.revoked");
    assert_eq!(last["id"], dead[0].event_id);
    assert_eq!(last["reason"], "Fraud");
    assert!(app.store.webhook_dead_letters(10).await.unwrap().is_empty());
    let retried = app
        .audit(dcr_store::AuditQuery {
            action: Some("webhook.retry".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(retried.items.len(), 1);
    assert_eq!(retried.items[0].actor, "admin:alice");
}

/// Two instances on one store: each event is posted once.
async fn two_instances_post_each_event_once(backend: Backend) {
    let app = spawn_notifying(backend, 12).await;
    let _peer = app.spawn_peer().await;
    for n in 0..10 {
        client_id_of(&app, &sw(100 + n)).await;
    }
    let events = until_received(&app, 10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events_later = received(&app).await;
    assert_eq!(events_later.len(), 10, "{events:#?}");
    let mut ids: Vec<i64> = events_later
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 10);
}

/// The server, a process of its own, is killed with SIGKILL while the receiver holds the
/// delivery of a registration's event: the event stays in the outbox, and the restarted server
/// delivers it (the receiver may see it twice, with the same `jti`).
async fn a_change_is_not_lost_when_the_server_is_killed_mid_delivery(backend: Backend) {
    let mut app = spawn_notifying(backend, 12).await;
    real_time(&app);
    // Only the processes below serve and deliver.
    app.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let store = dcr_store::Store::connect(app.config.database_url.expose())
        .await
        .unwrap();
    let port = crate::downstream_as::free_port();
    let mut env = crate::provisioning::base_env(&app, port);
    env.push((
        "DCR_WEBHOOKS".into(),
        format!("siem={}{HOOK}", app.stub_base),
    ));
    let base = format!("https://127.0.0.1:{port}");
    let hold = app.stub.hold(HOOK);

    let server = crate::provisioning::ServerProcess::start(&env).await;
    let client_id = crate::provisioning::register_at(&app, &base, &sw(300)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.stub.hits(HOOK) == 0 {
        assert!(std::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill_9();
    let waiting = store.webhook_events_of(&client_id).await.unwrap();
    assert_eq!(waiting.len(), 1, "the event waits: {waiting:?}");
    assert_eq!(waiting[0].event, "registration.created");

    // Restarted: the event is delivered and leaves the outbox.
    let _server = crate::provisioning::ServerProcess::start(&env).await;
    for _ in 0..4 {
        hold.release();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !store
        .webhook_events_of(&client_id)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never delivered after the restart"
        );
        hold.release();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = received_from(&app, &base).await;
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| e["client_id"] == client_id && e["id"] == waiting[0].event_id));
}

/// Without webhooks, a registration queues nothing (and takes the group commit).
async fn without_webhooks_nothing_is_queued(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let a = client_id_of(&app, &sw(200)).await;
    assert!(app.store.webhook_events_of(&a).await.unwrap().is_empty());
    assert!(!app.store.has_webhooks().await.unwrap());
}

both_backends!(
    every_change_is_posted_signed_and_in_order,
    a_failing_webhook_is_retried_and_dead_letters_wait_for_an_operator,
    two_instances_post_each_event_once,
    a_change_is_not_lost_when_the_server_is_killed_mid_delivery,
    without_webhooks_nothing_is_queued,
);
