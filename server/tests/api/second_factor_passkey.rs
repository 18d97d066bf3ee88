//! Passkeys as a second factor, with a software authenticator (`webauthn-authenticator-rs`)
//! standing in for the browser and its authenticator: adding one needs the password and a
//! challenge from the server; it signs in at the second step; answers to no challenge, to
//! another session's challenge, from another origin or with a broken signature are refused,
//! audited and throttled with the codes; removal needs the password and a second factor;
//! `portal.require_second_factor` counts a passkey; an administrator's reset removes them.

use dcr_store::AuditQuery;
use reqwest::StatusCode;
use serde_json::Value;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};

type Authenticator = WebauthnAuthenticator<SoftPasskey>;

/// A software authenticator that verifies its user (a PIN or biometric, as the portal
/// requires).
fn authenticator() -> Authenticator {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// The origin a browser on the test portal would report: the portal's port on `localhost`
/// (development's relying party: `http://localhost`, any port).
fn origin(browser: &Browser) -> url::Url {
    let port = browser.base.rsplit(':').next().unwrap();
    url::Url::parse(&format!("http://localhost:{port}")).unwrap()
}

/// Posts to a JSON endpoint of the script; returns the status and the body.
async fn options(browser: &Browser, path: &str) -> (StatusCode, Value) {
    let res = browser.post(path, &[], "same-origin").await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The browser's new credential for `browser`'s account, made by `auth` from the server's
/// options, as JSON.
async fn new_credential(browser: &Browser, auth: &mut Authenticator) -> String {
    let (status, body) = options(browser, "/account/second-factor/passkey/options").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ccr: CreationChallengeResponse = serde_json::from_value(body).unwrap();
    let cred = auth.do_registration(origin(browser), ccr).unwrap();
    serde_json::to_string(&cred).unwrap()
}

/// Adds a passkey named `name` to the signed-in account; returns where the browser is sent.
async fn add(browser: &Browser, password: &str, name: &str, credential: &str) -> String {
    location(
        &browser
            .post(
                "/account/second-factor/passkey/add",
                &[
                    ("current_password", password),
                    ("name", name),
                    ("passkey", credential),
                ],
                "same-origin",
            )
            .await,
    )
}

/// Signs `user` in (password, then a new passkey) and adds one made by `auth`.
async fn with_passkey(app: &TestApp, user: &str, auth: &mut Authenticator) {
    add_admin(app, user).await;
    let browser = Browser::new(app);
    assert_eq!(browser.sign_in(user, PASSWORD).await, "/overview");
    let cred = new_credential(&browser, auth).await;
    assert_eq!(
        add(&browser, PASSWORD, "laptop", &cred).await,
        "/account?sf_done=passkey_added#passkeys"
    );
}

/// `auth`'s answer to the challenge the server gives at `path`, as JSON.
async fn assertion(
    browser: &Browser,
    path: &str,
    auth: &mut Authenticator,
    origin: url::Url,
) -> String {
    let (status, body) = options(browser, path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rcr: RequestChallengeResponse = serde_json::from_value(body).unwrap();
    let cred: PublicKeyCredential = auth.do_authentication(origin, rcr).unwrap();
    serde_json::to_string(&cred).unwrap()
}

/// Answers the second step's challenge with `auth`.
async fn sign_in_assertion(browser: &Browser, auth: &mut Authenticator) -> String {
    assertion(
        browser,
        "/auth/second-factor/passkey",
        auth,
        origin(browser),
    )
    .await
}

/// Posts a passkey's answer at the second step; returns where the browser is sent.
async fn second_step(browser: &Browser, credential: &str) -> String {
    location(
        &browser
            .post(
                "/auth/second-factor",
                &[("passkey", credential)],
                "same-origin",
            )
            .await,
    )
}

async fn events(app: &TestApp, action: &str) -> Vec<dcr_store::AuditEvent> {
    app.audit(AuditQuery {
        action: Some(action.into()),
        ..Default::default()
    })
    .await
    .items
}

async fn a_passkey_is_added_with_the_password_and_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let alice = Browser::new(&app);
    assert_eq!(alice.sign_in("alice", PASSWORD).await, "/overview");
    let mut auth = authenticator();

    // A credential the server did not ask for is refused.
    let unasked = {
        let other = Browser::new(&app);
        add_admin(&app, "mallory").await;
        other.sign_in("mallory", PASSWORD).await;
        new_credential(&other, &mut authenticator()).await
    };
    assert_eq!(
        add(&alice, PASSWORD, "laptop", &unasked).await,
        "/account?sf_error=no_enrolment#passkeys"
    );

    let cred = new_credential(&alice, &mut auth).await;
    assert_eq!(
        add(&alice, "not the password at all", "laptop", &cred).await,
        "/account?sf_error=current#passkeys"
    );
    assert_eq!(
        add(&alice, PASSWORD, "   ", &cred).await,
        "/account?sf_error=passkey_name#passkeys"
    );
    assert!(app.store.passkeys("alice").await.unwrap().is_empty());
    assert_eq!(
        add(&alice, PASSWORD, "work laptop", &cred).await,
        "/account?sf_done=passkey_added#passkeys"
    );
    let stored = app.store.passkeys("alice").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "work laptop");
    let added = events(&app, "admin.second_factor_added").await;
    assert_eq!(added.len(), 1);
    assert!(
        added[0]
            .after_state
            .as_deref()
            .unwrap()
            .contains("\"kind\":\"passkey\""),
        "{:?}",
        added[0].after_state
    );
    // The registration was used up: the same answer is not accepted twice.
    assert_eq!(
        add(&alice, PASSWORD, "again", &cred).await,
        "/account?sf_error=no_enrolment#passkeys"
    );
    let html = alice.get("/account").await.text().await.unwrap();
    assert!(html.contains("work laptop"), "{html}");

    // Sign-in now has a second step, which the passkey passes.
    let later = Browser::new(&app);
    assert_eq!(
        later.sign_in("alice", PASSWORD).await,
        "/login/second-factor"
    );
    assert_eq!(
        location(&later.get("/").await),
        "/login/second-factor",
        "the password alone signs nothing in"
    );
    let answer = sign_in_assertion(&later, &mut auth).await;
    let before = later.cookie_header();
    assert_eq!(second_step(&later, &answer).await, "/overview");
    assert_ne!(later.cookie_header(), before, "the session id changed");
    assert_eq!(later.get("/audit").await.status(), StatusCode::OK);
    let used = &app.store.passkeys("alice").await.unwrap()[0];
    assert!(used.last_used_at.is_some(), "its use is recorded");
    let signed_in = events(&app, "admin.sign_in").await;
    assert!(
        signed_in.iter().any(|e| e
            .after_state
            .as_deref()
            .unwrap_or_default()
            .contains("password and passkey")),
        "the sign-in names its method: {signed_in:?}"
    );

    // The same answer in another sign-in (a replay) is refused: it answers another challenge.
    let replay = Browser::new(&app);
    replay.sign_in("alice", PASSWORD).await;
    options(&replay, "/auth/second-factor/passkey").await;
    assert_eq!(
        second_step(&replay, &answer).await,
        "/login/second-factor?error=passkey"
    );
    // A challenge is answered once, whatever the outcome: after a broken answer, the right
    // answer to the same challenge is refused too.
    let answer = sign_in_assertion(&replay, &mut auth).await;
    assert_eq!(
        second_step(&replay, "{}").await,
        "/login/second-factor?error=passkey"
    );
    assert_eq!(
        second_step(&replay, &answer).await,
        "/login/second-factor?error=passkey",
        "the challenge was used up"
    );
    let answer = sign_in_assertion(&replay, &mut auth).await;
    assert_eq!(second_step(&replay, &answer).await, "/overview");
}

async fn wrong_passkey_answers_are_refused_audited_and_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let mut alices = authenticator();
    let mut bobs = authenticator();
    with_passkey(&app, "alice", &mut alices).await;
    with_passkey(&app, "bob", &mut bobs).await;

    let browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in("alice", PASSWORD).await,
        "/login/second-factor"
    );
    let refused = "/login/second-factor?error=passkey";

    // 1. A right answer, but to no challenge of this session (none was asked for).
    let elsewhere = Browser::new(&app);
    elsewhere.sign_in("alice", PASSWORD).await;
    let answer = sign_in_assertion(&elsewhere, &mut alices).await;
    assert_eq!(second_step(&browser, &answer).await, refused);

    // 2. Bob's passkey answering a challenge of bob's sign-in, sent in alice's.
    let bob = Browser::new(&app);
    bob.sign_in("bob", PASSWORD).await;
    let bobs_answer = sign_in_assertion(&bob, &mut bobs).await;
    options(&browser, "/auth/second-factor/passkey").await;
    assert_eq!(second_step(&browser, &bobs_answer).await, refused);

    // 3. Alice's passkey, used by a page of another origin (a phishing site on a subdomain,
    // which the authenticator serves as the relying party's domain allows it).
    let phished = assertion(
        &browser,
        "/auth/second-factor/passkey",
        &mut alices,
        url::Url::parse("https://evil.localhost").unwrap(),
    )
    .await;
    assert_eq!(second_step(&browser, &phished).await, refused);

    // 4. Alice's passkey with a broken signature.
    let answer = sign_in_assertion(&browser, &mut alices).await;
    let mut forged: Value = serde_json::from_str(&answer).unwrap();
    let sig = forged["response"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    forged["response"]["signature"] = Value::String(format!("{flipped}{}", &sig[1..]));
    assert_eq!(second_step(&browser, &forged.to_string()).await, refused);

    let failed = events(&app, "admin.second_factor_failed").await;
    assert_eq!(failed.len(), 4, "each refusal audited");
    assert!(failed.iter().all(|e| e
        .after_state
        .as_deref()
        .unwrap()
        .contains("\"method\":\"passkey\"")));

    // The fifth failure locks codes and passkeys alike: even the right passkey then waits.
    options(&browser, "/auth/second-factor/passkey").await;
    assert_eq!(
        second_step(&browser, "{}").await,
        "/login/second-factor?error=throttled"
    );
    let answer = sign_in_assertion(&browser, &mut alices).await;
    assert_eq!(
        second_step(&browser, &answer).await,
        "/login/second-factor?error=throttled"
    );
    assert_eq!(
        location(&browser.get("/").await),
        "/login/second-factor",
        "still not signed in"
    );
}

async fn removing_a_passkey_needs_the_password_and_a_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let mut auth = authenticator();
    with_passkey(&app, "alice", &mut auth).await;
    let id = app.store.passkeys("alice").await.unwrap()[0]
        .admin_passkey_id
        .clone();
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let answer = sign_in_assertion(&browser, &mut auth).await;
    assert_eq!(second_step(&browser, &answer).await, "/overview");

    let remove = |password: &'static str, passkey: String| {
        let browser = &browser;
        let id = id.clone();
        async move {
            location(
                &browser
                    .post(
                        "/account/second-factor/passkey/remove",
                        &[
                            ("current_password", password),
                            ("id", &id),
                            ("code", ""),
                            ("passkey", &passkey),
                        ],
                        "same-origin",
                    )
                    .await,
            )
        }
    };
    let challenge = "/account/second-factor/passkey/challenge";
    let answer = assertion(&browser, challenge, &mut auth, origin(&browser)).await;
    assert_eq!(
        remove("not the password at all", answer).await,
        "/account?sf_error=current#passkeys"
    );
    assert_eq!(
        remove(PASSWORD, String::new()).await,
        "/account?sf_error=code#passkeys",
        "the password alone does not remove it"
    );
    assert_eq!(app.store.passkeys("alice").await.unwrap().len(), 1);
    let answer = assertion(&browser, challenge, &mut auth, origin(&browser)).await;
    assert_eq!(
        remove(PASSWORD, answer).await,
        "/account?sf_done=passkey_removed#passkeys"
    );
    assert!(app.store.passkeys("alice").await.unwrap().is_empty());
    assert_eq!(events(&app, "admin.second_factor_removed").await.len(), 1);
    let later = Browser::new(&app);
    assert_eq!(
        later.sign_in("alice", PASSWORD).await,
        "/overview",
        "no second step without a second factor"
    );
}

async fn a_required_second_factor_may_be_a_passkey(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.portal.require_second_factor = Some(true);
    })
    .await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
    assert_eq!(
        location(&browser.get("/").await),
        "/account?sf_required=1#second-factor",
        "confined to enrolment"
    );
    let mut auth = authenticator();
    let cred = new_credential(&browser, &mut auth).await;
    assert_eq!(
        add(&browser, PASSWORD, "phone", &cred).await,
        "/account?sf_done=passkey_added#passkeys"
    );
    assert_eq!(
        browser.get("/").await.status(),
        StatusCode::OK,
        "a passkey is a second factor"
    );
    let later = Browser::new(&app);
    assert_eq!(
        later.sign_in("alice", PASSWORD).await,
        "/login/second-factor"
    );
    let answer = sign_in_assertion(&later, &mut auth).await;
    assert_eq!(second_step(&later, &answer).await, "/overview");
    assert_eq!(later.get("/").await.status(), StatusCode::OK);
}

async fn an_administrators_reset_removes_the_passkeys(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let mut auth = authenticator();
    with_passkey(&app, "alice", &mut auth).await;
    add_admin(&app, "root").await;
    let root = Browser::new(&app);
    assert_eq!(root.sign_in("root", PASSWORD).await, "/overview");
    let res = root
        .post(
            "/admins/alice/second-factor/reset",
            &[("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert!(
        location(&res).contains("done=second_factor_reset"),
        "{}",
        location(&res)
    );
    assert!(app.store.passkeys("alice").await.unwrap().is_empty());
    assert_eq!(events(&app, "admin.second_factor_reset").await.len(), 1);
    let alice = Browser::new(&app);
    assert_eq!(alice.sign_in("alice", PASSWORD).await, "/overview");
}

async fn the_command_line_lists_and_resets_passkeys(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let mut auth = authenticator();
    with_passkey(&app, "bob", &mut auth).await;
    let url = app.config.database_url.expose().to_string();
    let run = |args: &'static [&'static str]| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_dcr-server"))
                .args(args)
                .env_clear()
                .env("DCR_DATABASE_URL", url)
                .output()
                .unwrap()
        })
    };
    let list = run(&["admin", "list"]).await.unwrap();
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(listed.contains("password and passkey"), "{listed}");
    let out = run(&["admin", "reset-second-factor", "bob"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(app.store.passkeys("bob").await.unwrap().is_empty());
    assert_eq!(events(&app, "admin.second_factor_reset").await.len(), 1);
    assert_eq!(
        Browser::new(&app).sign_in("bob", PASSWORD).await,
        "/overview"
    );
}

async fn without_a_public_origin_there_are_no_passkeys(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.portal.cookie_secure = Some(true);
    })
    .await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let alice = Browser::new(&app);
    assert_eq!(alice.sign_in("alice", PASSWORD).await, "/overview");
    let (status, body) = options(&alice, "/account/second-factor/passkey/options").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "passkeys_off");
    let html = alice.get("/account").await.text().await.unwrap();
    assert!(html.contains("does not offer passkeys"), "{html}");
}

both_backends!(
    a_passkey_is_added_with_the_password_and_signs_in,
    wrong_passkey_answers_are_refused_audited_and_throttled,
    removing_a_passkey_needs_the_password_and_a_second_factor,
    a_required_second_factor_may_be_a_passkey,
    an_administrators_reset_removes_the_passkeys,
    the_command_line_lists_and_resets_passkeys,
    without_a_public_origin_there_are_no_passkeys,
);
