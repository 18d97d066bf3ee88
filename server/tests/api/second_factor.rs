//! The second factor as a browser uses it: enrolment on the account page (a wrong code
//! refused, recovery codes shown once), sign-in that needs the code after the password (with
//! codes computed here), a code and a recovery code each working once, wrong codes throttled,
//! the pending state's five minutes, `portal.require_second_factor` confining an account to
//! enrolment, removal, and an administrator's reset.

use dcr_core::totp::{step_of, RecoveryCode, TotpSecret};
use dcr_store::{AuditQuery, NewAuditEvent, SecondFactorSecret};

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};

/// Enrols `user` in the store, as the account page would: a new secret (its earlier steps
/// counted as used) and the recovery codes, returned.
pub(crate) async fn enrol(app: &TestApp, user: &str) -> (TotpSecret, Vec<String>) {
    let secret = TotpSecret::generate().unwrap();
    let codes: Vec<RecoveryCode> = (0..10).map(|_| RecoveryCode::generate().unwrap()).collect();
    let stored: Vec<(String, String)> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{user}-{i}"), c.digest()))
        .collect();
    let event = NewAuditEvent {
        occurred_at: app.now(),
        actor: "cli".into(),
        action: "admin.second_factor_added".into(),
        ..Default::default()
    };
    assert!(app
        .store
        .enrol_second_factor(
            user,
            &SecondFactorSecret::new(secret.to_base32()),
            step_of(app.now()) - 5,
            &stored,
            &event,
        )
        .await
        .unwrap());
    (
        secret,
        codes.iter().map(|c| c.expose().to_string()).collect(),
    )
}

async fn events(app: &TestApp, action: &str) -> u64 {
    app.audit(AuditQuery {
        action: Some(action.into()),
        ..Default::default()
    })
    .await
    .total
}

/// Posts a second-step code; returns where the browser is sent.
async fn second_step(browser: &Browser, code: &str) -> String {
    location(
        &browser
            .post("/auth/second-factor", &[("code", code)], "same-origin")
            .await,
    )
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(&html[from..from + len])
}

/// The base32 key the account page shows while enrolling.
fn key_of(html: &str) -> &str {
    between(html, "id=\"totp-secret\"", "<")
        .and_then(|s| s.split('>').nth(1))
        .unwrap_or_else(|| panic!("no key in {html}"))
}

async fn enrolment_needs_the_password_and_a_right_code(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let alice = Browser::new(&app);
    assert_eq!(alice.sign_in("alice", PASSWORD).await, "/overview");
    let res = alice
        .post("/account/second-factor/begin", &[], "same-origin")
        .await;
    assert_eq!(location(&res), "/account?enrol=1#second-factor");
    let html = alice.get("/account").await.text().await.unwrap();
    let key = key_of(&html);
    assert!(
        html.contains("otpauth://totp/DCR%20Admin:alice?secret="),
        "{html}"
    );
    let secret = TotpSecret::from_base32(key).unwrap();
    let right = secret.code_at(app.now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };

    let confirm = |password: &'static str, code: String| {
        let alice = &alice;
        async move {
            location(
                &alice
                    .post(
                        "/account/second-factor/confirm",
                        &[("current_password", password), ("code", &code)],
                        "same-origin",
                    )
                    .await,
            )
        }
    };
    assert_eq!(
        confirm(PASSWORD, wrong.to_string()).await,
        "/account?sf_error=code#second-factor"
    );
    assert_eq!(
        confirm("not the password at all", right.clone()).await,
        "/account?sf_error=current#second-factor"
    );
    let account = app.store.find_admin("alice").await.unwrap().unwrap();
    assert!(account.totp_secret.is_none(), "nothing enrolled yet");
    assert_eq!(events(&app, "admin.second_factor_failed").await, 1);

    assert_eq!(
        confirm(PASSWORD, right).await,
        "/account?sf_done=enrolled#second-factor"
    );
    let account = app.store.find_admin("alice").await.unwrap().unwrap();
    assert!(account.totp_secret.is_some());
    assert_eq!(events(&app, "admin.second_factor_added").await, 1);

    // The recovery codes are shown once.
    let html = alice.get("/account").await.text().await.unwrap();
    let list = between(&html, "class=\"mono recovery-codes\">", "</ul>").expect("codes shown");
    let shown: Vec<&str> = list
        .split("<li>")
        .filter_map(|s| s.split("</li>").next())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(shown.len(), 10, "{list}");
    assert_eq!(
        app.store
            .unused_recovery_codes("alice")
            .await
            .unwrap()
            .len(),
        10
    );
    let again = alice.get("/account").await.text().await.unwrap();
    assert!(!again.contains(shown[0]), "shown only once");
    assert!(
        !again.contains(key),
        "the secret is not shown once enrolled"
    );

    // And one of them signs in.
    let later = Browser::new(&app);
    assert_eq!(
        later.sign_in("alice", PASSWORD).await,
        "/login/second-factor"
    );
    assert_eq!(second_step(&later, shown[3]).await, "/overview");
}

async fn sign_in_needs_a_code_after_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (secret, _) = enrol(&app, "alice").await;
    let browser = Browser::new(&app);
    let res = browser
        .post(
            "/auth/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("next", "/audit?page=2"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/login/second-factor");
    // The password alone signs nothing in.
    for page in ["/", "/audit", "/account"] {
        assert_eq!(location(&browser.get(page).await), "/login/second-factor");
    }
    let res = browser
        .http
        .post(format!("{}/api/whoami", browser.base))
        .header(reqwest::header::COOKIE, browser.cookie_header())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert!(
        !res.text().await.unwrap().contains("alice"),
        "no one is signed in"
    );
    let page = browser.get("/login/second-factor").await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("action=\"/auth/second-factor\""));

    let right = secret.code_at(app.now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(
        second_step(&browser, wrong).await,
        "/login/second-factor?error=code"
    );
    assert_eq!(events(&app, "admin.second_factor_failed").await, 1);
    let before = browser.cookie_header();
    assert_eq!(second_step(&browser, &right).await, "/audit?page=2");
    assert_ne!(browser.cookie_header(), before, "the session id changed");
    assert_eq!(browser.get("/audit?page=2").await.status(), 200);
    let sign_ins = app
        .audit(AuditQuery {
            action: Some("admin.sign_in".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(sign_ins.total, 1);
    assert!(
        sign_ins.items[0]
            .after_state
            .as_deref()
            .unwrap()
            .contains(r#""method":"password and authenticator code""#),
        "the sign-in names its method: {:?}",
        sign_ins.items[0].after_state
    );
}

async fn another_accounts_sign_in_in_the_same_browser_waits_for_its_code(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "ada").await;
    add_admin(&app, "bob").await;
    let (secret, _) = enrol(&app, "bob").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("ada", PASSWORD).await, "/overview");
    assert_eq!(browser.get("/").await.status(), 200);
    assert_eq!(
        browser.sign_in("bob", PASSWORD).await,
        "/login/second-factor"
    );
    assert_eq!(
        location(&browser.get("/").await),
        "/login/second-factor",
        "ada's sign-in ended with bob's password"
    );
    assert_eq!(
        second_step(&browser, &secret.code_at(app.now())).await,
        "/overview"
    );
    let html = browser.get("/account").await.text().await.unwrap();
    assert!(html.contains("<strong>bob</strong>"), "{html}");
}

async fn a_code_signs_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (secret, _) = enrol(&app, "alice").await;
    let code = secret.code_at(app.now());
    let first = Browser::new(&app);
    first.sign_in("alice", PASSWORD).await;
    assert_eq!(second_step(&first, &code).await, "/overview");

    let second = Browser::new(&app);
    second.sign_in("alice", PASSWORD).await;
    assert_eq!(
        second_step(&second, &code).await,
        "/login/second-factor?error=code",
        "a replayed code is refused"
    );
    // The previous step's code is older than the one used: refused too.
    let previous = secret.code_at_step(step_of(app.now()) - 1);
    assert_eq!(
        second_step(&second, &previous).await,
        "/login/second-factor?error=code"
    );
    app.clock.set(app.now() + 30);
    assert_eq!(
        second_step(&second, &secret.code_at(app.now())).await,
        "/overview",
        "the next step's code works"
    );
}

async fn a_recovery_code_signs_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (_, codes) = enrol(&app, "alice").await;
    let first = Browser::new(&app);
    first.sign_in("alice", PASSWORD).await;
    assert_eq!(
        second_step(&first, &codes[0].to_uppercase()).await,
        "/overview"
    );
    assert_eq!(events(&app, "admin.recovery_code_used").await, 1);
    assert_eq!(
        app.store
            .unused_recovery_codes("alice")
            .await
            .unwrap()
            .len(),
        9
    );
    let second = Browser::new(&app);
    second.sign_in("alice", PASSWORD).await;
    assert_eq!(
        second_step(&second, &codes[0]).await,
        "/login/second-factor?error=code"
    );
    assert_eq!(second_step(&second, &codes[1]).await, "/overview");
}

async fn wrong_codes_are_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (secret, _) = enrol(&app, "alice").await;
    let right = secret.code_at(app.now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    for _ in 0..4 {
        assert_eq!(
            second_step(&browser, wrong).await,
            "/login/second-factor?error=code"
        );
    }
    assert_eq!(
        second_step(&browser, wrong).await,
        "/login/second-factor?error=throttled",
        "the fifth wrong code locks"
    );
    // Locked for the account, from anywhere: even the right code, in a new sign-in.
    let other = Browser::new(&app);
    other.sign_in("alice", PASSWORD).await;
    assert_eq!(
        second_step(&other, &right).await,
        "/login/second-factor?error=throttled"
    );
    assert_eq!(events(&app, "admin.second_factor_failed").await, 5);
    assert_eq!(events(&app, "admin.sign_in_locked").await, 1);
}

async fn the_second_step_waits_five_minutes(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (secret, _) = enrol(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    app.clock.set(app.now() + 5 * 60);
    assert_eq!(
        second_step(&browser, &secret.code_at(app.now())).await,
        "/login?error=expired"
    );
    assert_eq!(location(&browser.get("/").await), "/login");
}

async fn a_required_second_factor_leaves_only_enrolment(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.portal.require_second_factor = Some(true);
    })
    .await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let alice = Browser::new(&app);
    alice.sign_in("alice", PASSWORD).await;
    for page in ["/", "/audit", "/admins"] {
        assert_eq!(
            location(&alice.get(page).await),
            "/account?sf_required=1#second-factor",
            "{page}"
        );
    }
    let res = alice
        .post(
            "/api/registrations",
            &[("q", ""), ("status", ""), ("sort", ""), ("page", "1")],
            "same-origin",
        )
        .await;
    assert_eq!(res.status(), 403);
    let html = alice.get("/account").await.text().await.unwrap();
    assert!(html.contains("requires a second factor"), "{html}");

    alice
        .post("/account/second-factor/begin", &[], "same-origin")
        .await;
    let html = alice.get("/account").await.text().await.unwrap();
    let secret = TotpSecret::from_base32(key_of(&html)).unwrap();
    let code = secret.code_at(app.now());
    let res = alice
        .post(
            "/account/second-factor/confirm",
            &[("current_password", PASSWORD), ("code", &code)],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/account?sf_done=enrolled#second-factor");
    assert_eq!(alice.get("/").await.status(), 200);
}

async fn a_second_factor_is_removed_with_the_password_and_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (secret, _) = enrol(&app, "alice").await;
    let alice = Browser::new(&app);
    alice.sign_in("alice", PASSWORD).await;
    assert_eq!(
        second_step(&alice, &secret.code_at(app.now())).await,
        "/overview"
    );
    let remove = |code: String| {
        let alice = &alice;
        async move {
            location(
                &alice
                    .post(
                        "/account/second-factor/remove",
                        &[("current_password", PASSWORD), ("code", &code)],
                        "same-origin",
                    )
                    .await,
            )
        }
    };
    assert_eq!(
        remove(secret.code_at(app.now())).await,
        "/account?sf_error=code#second-factor",
        "the code just used is not accepted again"
    );
    app.clock.set(app.now() + 30);
    assert_eq!(
        remove(secret.code_at(app.now())).await,
        "/account?sf_done=removed#second-factor"
    );
    assert!(app
        .store
        .find_admin("alice")
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .is_none());
    assert_eq!(events(&app, "admin.second_factor_removed").await, 1);
    assert!(app
        .store
        .unused_recovery_codes("alice")
        .await
        .unwrap()
        .is_empty());
}

async fn an_administrator_resets_someones_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "ada").await;
    add_admin(&app, "bob").await;
    enrol(&app, "bob").await;
    let ada = Browser::new(&app);
    ada.sign_in("ada", PASSWORD).await;
    let html = ada.get("/admins").await.text().await.unwrap();
    assert!(
        html.contains("local · password and authenticator app"),
        "{html}"
    );
    let res = ada
        .post("/admins/bob/second-factor/reset", &[], "same-origin")
        .await;
    assert_eq!(location(&res), "/admins?error=unconfirmed");
    assert!(app
        .store
        .find_admin("bob")
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .is_some());
    let res = ada
        .post(
            "/admins/bob/second-factor/reset",
            &[("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/admins?done=second_factor_reset&who=bob");
    assert!(app
        .store
        .find_admin("bob")
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .is_none());
    assert_eq!(
        app.audit(AuditQuery {
            actor: Some("admin:ada".into()),
            action: Some("admin.second_factor_reset".into()),
            ..Default::default()
        })
        .await
        .total,
        1
    );
    // Bob signs in with his password alone now.
    assert_eq!(
        Browser::new(&app).sign_in("bob", PASSWORD).await,
        "/overview"
    );
}

async fn the_command_line_resets_a_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    add_admin(&app, "bob").await;
    enrol(&app, "bob").await;
    let url = app.config.database_url.expose().to_string();
    let run = |user: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_dcr-server"))
                .args(["admin", "reset-second-factor", user])
                .env_clear()
                .env("DCR_DATABASE_URL", url)
                .output()
                .unwrap()
        })
    };
    let out = run("bob").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bob = app.store.find_admin("bob").await.unwrap().unwrap();
    assert!(bob.totp_secret.is_none());
    assert!(app
        .store
        .unused_recovery_codes("bob")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        app.audit(AuditQuery {
            actor: Some("cli".into()),
            action: Some("admin.second_factor_reset".into()),
            ..Default::default()
        })
        .await
        .total,
        1
    );
    let unknown = run("nobody").await.unwrap();
    assert!(!unknown.status.success(), "an unknown account is an error");
}

both_backends!(
    the_command_line_resets_a_second_factor,
    enrolment_needs_the_password_and_a_right_code,
    sign_in_needs_a_code_after_the_password,
    another_accounts_sign_in_in_the_same_browser_waits_for_its_code,
    a_code_signs_in_once,
    a_recovery_code_signs_in_once,
    wrong_codes_are_throttled,
    the_second_step_waits_five_minutes,
    a_required_second_factor_leaves_only_enrolment,
    a_second_factor_is_removed_with_the_password_and_a_code,
    an_administrator_resets_someones_second_factor,
);
