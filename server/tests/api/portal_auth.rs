//! Portal sign-in and sessions, on the injected clock: the idle and absolute timeouts, sign-out
//! ending the session on the server, the sign-in throttle (its reset after a success, its lock
//! to the second) and the client address taken from `X-Forwarded-For` only when a trusted proxy
//! sent it; and revocation refused, by a hand-made form too, for a registration that is no
//! longer active.

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, spawn_app_with, Backend};
use crate::portal::{add_admin, location, Browser, PASSWORD};

/// The absolute timeout, on the injected clock: a session used every `step` seconds (shorter
/// than the idle timeout, so it never expires on idle) goes on until one second before the
/// absolute limit and ends at it; the browser is told once, then sees a plain sign-in.
async fn a_session_in_use_ends_at_the_absolute_timeout(backend: Backend) {
    let app = spawn_app(backend).await;
    let (idle, absolute) = (
        app.config.session_idle_secs,
        app.config.session_absolute_secs,
    );
    assert!(idle < absolute);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/");
    let step = idle - 1;
    let mut elapsed = 0;
    while elapsed + step < absolute - 1 {
        app.clock.advance(step);
        elapsed += step;
        assert_eq!(
            browser.get("/").await.status(),
            200,
            "{elapsed} s after sign-in"
        );
    }
    app.clock.advance(absolute - 1 - elapsed);
    assert_eq!(
        browser.get("/").await.status(),
        200,
        "one second before the limit"
    );
    app.clock.advance(1);
    let res = browser.get("/").await;
    assert_eq!(
        location(&res),
        "/login?error=expired",
        "at the absolute limit"
    );
    let res = browser.get("/").await;
    assert_eq!(location(&res), "/login", "said once, then a plain sign-in");
    let res = browser
        .post(
            "/api/registrations",
            &[("q", ""), ("status", ""), ("sort", ""), ("page", "1")],
            "same-origin",
        )
        .await;
    let (status, error, body) = error_of(res).await;
    assert_eq!((status, error.as_str()), (401, "unauthenticated"));
    assert_eq!(body["error_description"], "Sign in first.");
}

/// The idle timeout, on the injected clock: each request moves the expiry on; a session unused
/// for one second less than the limit goes on, one unused for the whole limit has ended.
async fn an_unused_session_ends_at_the_idle_timeout(backend: Backend) {
    let app = spawn_app(backend).await;
    let idle = app.config.session_idle_secs;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/");
    for _ in 0..3 {
        app.clock.advance(idle - 1);
        assert_eq!(browser.get("/").await.status(), 200);
    }
    app.clock.advance(idle);
    let res = browser.get("/").await;
    assert_eq!(location(&res), "/login?error=expired");
    // The record itself is gone for every instance: a fresh request without the marker is a
    // plain sign-in.
    let res = browser.get("/").await;
    assert_eq!(location(&res), "/login");
}

/// Sign-out removes the session from the store: the cookie a browser (or a thief) kept from
/// before is refused afterwards, on pages and on server functions.
async fn sign_out_ends_the_session_on_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/");
    let kept = browser.cookie_header();
    assert!(kept.contains("dcr_session="), "{kept}");
    let res = browser.post("/auth/logout", &[], "same-origin").await;
    assert_eq!(location(&res), "/login?signed_out=1");

    let thief = Browser::new(&app);
    let res = thief
        .http
        .get(format!("{}/", thief.base))
        .header(reqwest::header::COOKIE, &kept)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?error=expired");
    let res = thief
        .http
        .post(format!("{}/api/registrations", thief.base))
        .header(reqwest::header::COOKIE, &kept)
        .header("sec-fetch-site", "same-origin")
        .form(&[("q", ""), ("status", ""), ("sort", ""), ("page", "1")])
        .send()
        .await
        .unwrap();
    let (status, error, body) = error_of(res).await;
    assert_eq!((status, error.as_str()), (401, "unauthenticated"));
    assert_eq!(body["error_description"], "Your session has ended.");
}

/// A successful sign-in forgets the account's earlier failures; a lock lasts to the second.
async fn the_sign_in_throttle_resets_on_success_and_locks_to_the_second(backend: Backend) {
    use server::portal::auth::ACCOUNT_POLICY;
    let app = spawn_app(backend).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    let fail = || browser.sign_in("alice", "wrong");
    for _ in 0..ACCOUNT_POLICY.max_failures - 1 {
        assert_eq!(fail().await, "/login?error=1");
    }
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/");
    for n in 1..ACCOUNT_POLICY.max_failures {
        assert_eq!(
            fail().await,
            "/login?error=1",
            "failure {n} after the success"
        );
    }
    assert_eq!(fail().await, "/login?error=throttled", "the limit locks");
    app.clock.advance(ACCOUNT_POLICY.lockout_secs - 1);
    assert_eq!(
        browser.sign_in("alice", PASSWORD).await,
        "/login?error=throttled",
        "one second before the lock ends"
    );
    app.clock.advance(1);
    assert_eq!(
        browser.sign_in("alice", PASSWORD).await,
        "/",
        "the lock is over"
    );
}

/// Failures from one address, counted per address: a client cannot escape the address lock by
/// sending `X-Forwarded-For` itself, while behind a trusted proxy the forwarded address is the
/// one counted (and a client prepending addresses does not change it).
async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    use server::portal::auth::ADDRESS_POLICY;
    let direct = spawn_app(backend).await;
    let browser = Browser::new(&direct);
    for n in 0..ADDRESS_POLICY.max_failures {
        let xff = format!("198.51.100.{n}");
        browser
            .sign_in_forwarded(&format!("guess{n}"), "x", Some(&xff))
            .await;
    }
    add_admin(&direct, "alice").await;
    assert_eq!(
        browser
            .sign_in_forwarded("alice", PASSWORD, Some("203.0.113.99"))
            .await,
        "/login?error=throttled",
        "the TCP peer is locked, whatever the header says"
    );

    let proxied = spawn_app_with(backend, |raw| {
        raw.security.trusted_proxies = Some(vec!["127.0.0.1".into()]);
    })
    .await;
    add_admin(&proxied, "alice").await;
    let browser = Browser::new(&proxied);
    for n in 0..ADDRESS_POLICY.max_failures {
        browser
            .sign_in_forwarded(&format!("guess{n}"), "x", Some("203.0.113.5"))
            .await;
    }
    assert_eq!(
        browser
            .sign_in_forwarded("alice", PASSWORD, Some("192.0.2.1, 203.0.113.5"))
            .await,
        "/login?error=throttled",
        "the proxy's last hop is the client; earlier entries are the client's own"
    );
    assert_eq!(
        browser
            .sign_in_forwarded("alice", PASSWORD, Some("203.0.113.6"))
            .await,
        "/",
        "another client behind the proxy is not locked"
    );
    let locks = proxied
        .audit(dcr_store::AuditQuery {
            action: Some("admin.sign_in_locked".into()),
            ..Default::default()
        })
        .await;
    let addresses: Vec<String> = locks
        .items
        .iter()
        .filter_map(|e| e.after_state.as_deref())
        .map(|s| serde_json::from_str::<serde_json::Value>(s).unwrap())
        .filter(|v| v["locked"] == "address")
        .map(|v| v["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addresses, ["203.0.113.5"]);
}

/// A revoke form posted by hand for a registration that is deleted, removed or released is
/// refused: the status, the audit trail and the software_id's availability are unchanged.
async fn a_forged_revoke_of_an_inactive_registration_is_refused(backend: Backend) {
    use dcr_store::RegistrationStatus;
    let app = spawn_app(backend).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/");
    let reason = [("reason", "forged revocation"), ("confirm", "yes")];

    let app = &app;
    let register = |sw: &'static str| async move {
        app.register(sw).await["client_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let deleted = register("11111111-0000-4000-8000-00000000d001").await;
    let token = app.token(&deleted).await;
    let res = app
        .client
        .delete(app.client_url(&deleted))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let released = register("11111111-0000-4000-8000-00000000d002").await;
    let res = browser
        .post(
            &format!("/registrations/{released}/release"),
            &reason,
            "same-origin",
        )
        .await;
    assert_eq!(
        location(&res),
        format!("/registrations/{released}?done=released")
    );

    let removed = register("11111111-0000-4000-8000-00000000d003").await;
    let reg = app.store.get_registration(&removed).await.unwrap().unwrap();
    let event = dcr_store::NewAuditEvent {
        occurred_at: app.now(),
        actor: "register-sync".into(),
        action: "registration.remove".into(),
        client_id: Some(removed.clone()),
        software_id: Some(reg.software_id.clone()),
        ..Default::default()
    };
    assert!(app
        .store
        .set_registration_status(
            &removed,
            &[RegistrationStatus::Active],
            RegistrationStatus::Removed,
            Some("REMOVED at the Register"),
            app.now(),
            &event,
        )
        .await
        .unwrap());

    for (client_id, status) in [
        (&deleted, RegistrationStatus::Deleted),
        (&released, RegistrationStatus::Released),
        (&removed, RegistrationStatus::Removed),
    ] {
        let before = app
            .store
            .get_registration(client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(before.status, status);
        let res = browser
            .post(
                &format!("/registrations/{client_id}/revoke"),
                &reason,
                "same-origin",
            )
            .await;
        assert_eq!(
            location(&res),
            format!("/registrations/{client_id}?error=state"),
            "{status:?}"
        );
        let after = app
            .store
            .get_registration(client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after, before, "{status:?} registration unchanged");
    }
    let revocations = app
        .audit(dcr_store::AuditQuery {
            action: Some("registration.revoke".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(revocations.total, 0, "nothing revoked, nothing audited");
    let chain = app.store.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "{chain:?}");
}

both_backends!(
    a_session_in_use_ends_at_the_absolute_timeout,
    an_unused_session_ends_at_the_idle_timeout,
    sign_out_ends_the_session_on_the_server,
    the_sign_in_throttle_resets_on_success_and_locks_to_the_second,
    forwarded_addresses_count_only_from_trusted_proxies,
    a_forged_revoke_of_an_inactive_registration_is_refused,
);
