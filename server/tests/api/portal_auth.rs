//! Portal sign-in and sessions, on the injected clock: the idle and absolute timeouts, sign-out
//! ending the session on the server (also with requests of the session in flight), the
//! sign-in throttle (its reset after a success, its lock to the second, parallel guesses, IPv6
//! networks, the delay that never locks the administrator out), password checks turned away
//! when every slot is taken, the client address taken from `X-Forwarded-For` only when a
//! trusted proxy sent it, the `__Host-` cookies and HSTS of a portal over TLS; and revocation
//! refused, by a hand-made form too, for a registration that is no longer active.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{error_of, roots, spawn_app, spawn_app_with, Backend};
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
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
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
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
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
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
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

/// A failed sign-in shows the form again with the username typed (the server sends it back in a
/// cookie for the sign-in page) and never the password; a successful one forgets it.
async fn a_failed_sign_in_keeps_the_username_and_never_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    let typo = "wrong-password-4711";
    let res = browser
        .post(
            "/auth/login",
            &[("username", "alice "), ("password", typo)],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/login?error=1");
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("dcr_sign_in_username="))
        .expect("the username comes back");
    assert!(
        cookie.contains("Path=/login") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains(typo));
    let page = browser.get("/login?error=1").await.text().await.unwrap();
    assert!(
        page.contains("The username or password is not correct."),
        "{page}"
    );
    let input = &page[page.find("<input id=\"username\"").unwrap()..];
    let input = &input[..input.find('>').unwrap()];
    assert!(input.contains("value=\"alice\""), "{input}");
    assert!(
        !input.contains("autofocus"),
        "the focus goes to the password: {input}"
    );
    let password = &page[page.find("<input id=\"password\"").unwrap()..];
    let password = &password[..password.find('>').unwrap()];
    assert!(password.contains("autofocus"), "{password}");
    assert!(!password.contains("value="), "{password}");
    assert!(!page.contains(typo), "the password is never sent back");
    // Not on a fresh sign-in page, and gone after signing in.
    let fresh = browser.get("/login").await.text().await.unwrap();
    assert!(!fresh.contains("value=\"alice\""), "{fresh}");
    // Characters that need encoding survive the round trip.
    let res = browser
        .post(
            "/auth/login",
            &[("username", "bob smith;x=%41 é"), ("password", typo)],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/login?error=1");
    let page = browser.get("/login?error=1").await.text().await.unwrap();
    assert!(page.contains("value=\"bob smith;x=%41 é\""), "{page}");
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
    assert!(
        !browser.cookie_header().contains("dcr_sign_in_username"),
        "{}",
        browser.cookie_header()
    );
    let page = browser.get("/login?error=1").await.text().await.unwrap();
    assert!(!page.contains("value=\"alice\""), "{page}");
}

/// A successful sign-in forgets the account's earlier failures; a lock lasts to the second.
async fn the_sign_in_throttle_resets_on_success_and_locks_to_the_second(backend: Backend) {
    use server::portal::throttle::PAIR_POLICY as ACCOUNT_POLICY;
    let app = spawn_app(backend).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    let fail = || browser.sign_in("alice", "wrong");
    for _ in 0..ACCOUNT_POLICY.max_failures - 1 {
        assert_eq!(fail().await, "/login?error=1");
    }
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
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
        "/overview",
        "the lock is over"
    );
}

/// Failures from one address, counted per address: a client cannot escape the address lock by
/// sending `X-Forwarded-For` itself, while behind a trusted proxy the forwarded address is the
/// one counted (and a client prepending addresses does not change it).
async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    use server::portal::throttle::ADDRESS_POLICY;
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
        "/overview",
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
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
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

    for (client_id, status, label) in [
        (
            &deleted,
            RegistrationStatus::Deleted,
            "Deleted by recipient",
        ),
        (&released, RegistrationStatus::Released, "Released"),
        (&removed, RegistrationStatus::Removed, "Removed at Register"),
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
        let to = location(&res);
        assert_eq!(
            to,
            format!(
                "/registrations/{client_id}?error=state&status={}",
                status.as_str()
            ),
            "{status:?}"
        );
        // The page says which statuses can be revoked (those of an active registration, the
        // Register's view aside) and which this one has.
        let page = browser.get(&to).await.text().await.unwrap();
        assert!(
            page.contains(&format!(
                "Only a registration that is Active or Inactive at Register can be revoked; \
                 this one is {label}."
            )),
            "{status:?}: {page}"
        );
        assert!(!page.contains("Only an active registration"), "{page}");
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

/// 500 wrong passwords sent at once get the tries 500 in a row get: each try is reserved in the
/// store before its password is checked, so 5 are judged and the rest refused unjudged.
async fn parallel_guesses_get_the_tries_serial_ones_get(backend: Backend) {
    use server::portal::throttle::PAIR_POLICY;
    let app = spawn_app_with(backend, |raw| {
        raw.server.max_connections = Some(2_000);
        raw.server.max_connections_per_address = Some(1_000);
    })
    .await;
    add_admin(&app, "alice").await;
    let browser = Arc::new(Browser::new(&app));
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let browser = browser.clone();
        guesses.spawn(async move { browser.sign_in("alice", "wrong").await });
    }
    let mut judged = 0;
    let mut throttled = 0;
    while let Some(outcome) = guesses.join_next().await {
        match outcome.unwrap().as_str() {
            "/login?error=1" => judged += 1,
            "/login?error=throttled" => throttled += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    let failures = app
        .audit(dcr_store::AuditQuery {
            action: Some("admin.sign_in_failed".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failures.total,
        u64::try_from(PAIR_POLICY.max_failures).unwrap(),
        "exactly the policy's tries were judged"
    );
    // the last allowed try is answered "throttled", as it set the lock
    assert_eq!(
        (judged, throttled),
        (
            PAIR_POLICY.max_failures - 1,
            500 - (PAIR_POLICY.max_failures - 1)
        ),
    );
    assert_eq!(
        browser.sign_in("alice", PASSWORD).await,
        "/login?error=throttled",
        "and the account is locked for this address"
    );
}

/// Guessers elsewhere cannot lock the administrator out: an address (an IPv6 client by its
/// /64) loses its own tries on the account, while the administrator from another address gets
/// in, after a short delay once the account has been guessed at often.
async fn guesses_from_elsewhere_never_lock_the_administrator_out(backend: Backend) {
    use server::portal::throttle::{ACCOUNT_DELAY_AFTER, PAIR_POLICY};
    let app = spawn_app_with(backend, |raw| {
        raw.security.trusted_proxies = Some(vec!["127.0.0.1".into()]);
    })
    .await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    let guess = |from: String| {
        let browser = &browser;
        async move {
            browser
                .sign_in_forwarded("alice", "wrong", Some(&from))
                .await
        }
    };
    for n in 1..PAIR_POLICY.max_failures {
        assert_eq!(guess(format!("2001:db8:1:1::{n}")).await, "/login?error=1");
    }
    assert_eq!(
        guess("2001:db8:1:1:ffff::1".into()).await,
        "/login?error=throttled",
        "addresses of one /64 share their tries"
    );
    assert_eq!(
        browser
            .sign_in_forwarded("alice", PASSWORD, Some("2001:db8:1:1::99"))
            .await,
        "/login?error=throttled",
        "the /64 is locked out of the account, even with the right password"
    );
    for _ in PAIR_POLICY.max_failures..ACCOUNT_DELAY_AFTER {
        guess("203.0.113.7".into()).await;
    }
    let started = Instant::now();
    assert_eq!(
        browser
            .sign_in_forwarded("alice", PASSWORD, Some("2001:db8:1:2::1"))
            .await,
        "/overview",
        "the administrator, from another network, gets in"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "after the much-guessed account's delay: {:?}",
        started.elapsed()
    );
    assert_eq!(
        browser
            .sign_in_forwarded("alice", PASSWORD, Some("2001:db8:1:1::5"))
            .await,
        "/login?error=throttled",
        "the guessers' network stays locked out"
    );
}

/// When every password-check slot and queue place is taken, a sign-in is turned away at once
/// with 503 and `Retry-After` (and a page a person can read), not queued without bound.
async fn sign_ins_beyond_the_password_check_slots_are_turned_away(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.portal.password_check_slots = Some(1);
        raw.portal.password_check_queue = Some(0);
        raw.security.trusted_proxies = Some(vec!["127.0.0.1".into()]);
    })
    .await;
    let browser = Arc::new(Browser::new(&app));
    let mut tries = tokio::task::JoinSet::new();
    for n in 0..60 {
        let browser = browser.clone();
        tries.spawn(async move {
            let res = browser
                .http
                .post(format!("{}/auth/login", browser.base))
                .header("sec-fetch-site", "same-origin")
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .form(&[("username", format!("guess{n}")), ("password", "x".into())])
                .send()
                .await
                .unwrap();
            let retry = res.headers().get(RETRY_AFTER).cloned();
            (res.status(), retry, res.text().await.unwrap())
        });
    }
    let mut busy = 0;
    while let Some(outcome) = tries.join_next().await {
        let (status, retry, body) = outcome.unwrap();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(retry.unwrap(), "2");
                assert!(body.contains("busy"), "{body}");
            }
            StatusCode::SEE_OTHER => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        busy > 0,
        "60 sign-ins at once, one slot and no queue: some were turned away"
    );
}

/// A request of the session that is still running when the browser signs out cannot bring the
/// session back when it saves: a save only updates a session that still exists.
async fn sign_out_is_not_undone_by_a_request_in_flight(backend: Backend) {
    let app = spawn_app(backend).await;
    crate::portal::real_time(&app);
    add_admin(&app, "alice").await;
    for round in 0..15 {
        let browser = Arc::new(Browser::new(&app));
        assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
        let cookie = browser.cookie_header();
        let mut racing = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (browser, cookie) = (browser.clone(), cookie.clone());
            racing.spawn(async move {
                let res = browser
                    .http
                    .get(format!("{}/", browser.base))
                    .header(COOKIE, cookie)
                    .send()
                    .await
                    .unwrap();
                res.status()
            });
        }
        let res = browser
            .http
            .post(format!("{}/auth/logout", browser.base))
            .header(COOKIE, &cookie)
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login?signed_out=1");
        while let Some(status) = racing.join_next().await {
            let status = status.unwrap();
            assert!(
                status == StatusCode::OK || status == StatusCode::SEE_OTHER,
                "{status}"
            );
        }
        let after = browser
            .http
            .get(format!("{}/", browser.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), StatusCode::SEE_OTHER, "round {round}");
        assert!(
            location(&after).starts_with("/login"),
            "round {round}: the signed-out session is back"
        );
    }
}

/// Served over TLS with the default settings, the portal names its cookies with the `__Host-`
/// prefix, marks them `Secure`, sends `Strict-Transport-Security`, and reads only the prefixed
/// session cookie.
async fn a_portal_over_tls_has_host_cookies_and_hsts(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.tls.portal_tls = Some(true);
        raw.portal.cookie_secure = None;
        raw.portal.require_second_factor = Some(false);
    })
    .await;
    add_admin(&app, "alice").await;
    let port = app.portal.rsplit(':').next().unwrap().to_string();
    let base = format!("https://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(server::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots(&app.ca_pem))
                .with_no_client_auth(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let res = http
        .post(format!("{base}/auth/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/overview");
    let cookies: Vec<String> = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    for name in ["__Host-dcr_session=", "__Host-dcr_signed_in=1"] {
        let c = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {cookies:?}"));
        for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Strict"] {
            assert!(c.contains(attribute), "{attribute} in {c}");
        }
        assert!(!c.contains("Domain"), "{c}");
    }
    let session = cookies
        .iter()
        .find_map(|c| c.strip_prefix("__Host-dcr_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let get = |cookie: String| {
        let (http, base) = (&http, &base);
        async move {
            http.get(format!("{base}/"))
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(format!("__Host-dcr_session={session}")).await.status(),
        StatusCode::OK
    );
    let plain = get(format!("dcr_session={session}")).await;
    assert_eq!(
        location(&plain),
        "/login",
        "the session is read from the prefixed cookie only"
    );
}

both_backends!(
    parallel_guesses_get_the_tries_serial_ones_get,
    guesses_from_elsewhere_never_lock_the_administrator_out,
    sign_ins_beyond_the_password_check_slots_are_turned_away,
    sign_out_is_not_undone_by_a_request_in_flight,
    a_portal_over_tls_has_host_cookies_and_hsts,
    a_session_in_use_ends_at_the_absolute_timeout,
    an_unused_session_ends_at_the_idle_timeout,
    sign_out_ends_the_session_on_the_server,
    the_sign_in_throttle_resets_on_success_and_locks_to_the_second,
    forwarded_addresses_count_only_from_trusted_proxies,
    a_forged_revoke_of_an_inactive_registration_is_refused,
    a_failed_sign_in_keeps_the_username_and_never_the_password,
);
