//! Single sign-on through a real OpenID Connect provider (node-oidc-provider, started here):
//! the account made at the first sign-on with the role its groups map to, the role following
//! the groups at each sign-on, a person whose groups no longer map refused with their sessions
//! ended, ID tokens tampered with, for another nonce or for another client refused, an answer
//! without this browser's state refused, a local account never taken over, the provider down
//! (a clear message, local sign-in unaffected), and local passwords turned off.

use dcr_store::AuditQuery;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::downstream_as::free_port;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::identity_provider::{sso_answer, sso_sign_in, IdTokens, IdentityProvider};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};

const START: &str = "/auth/sso/start";

/// A portal whose single sign-on is `idp` (running, with `id_tokens`), plus `tweak`.
async fn spawn_with_sso(
    backend: Backend,
    idp: &mut IdentityProvider,
    id_tokens: IdTokens,
    tweak: impl FnOnce(&mut server::config::RawConfig),
) -> TestApp {
    let port = free_port();
    let app = spawn_app_with(backend, |raw| {
        idp.configure(raw, port);
        tweak(raw);
    })
    .await;
    real_time(&app);
    idp.run(&app.portal, id_tokens).await;
    app
}

fn people(list: &[(&str, &[&str])]) -> Value {
    let mut out = serde_json::Map::new();
    for (name, groups) in list {
        out.insert(
            (*name).to_string(),
            json!({ "groups": groups, "email": format!("{name}@bank.example") }),
        );
    }
    Value::Object(out)
}

async fn events(app: &TestApp, action: &str) -> Vec<dcr_store::AuditEvent> {
    app.audit(AuditQuery {
        action: Some(action.into()),
        ..Default::default()
    })
    .await
    .items
}

/// Whether `browser` is signed in: the list answers instead of sending it to sign in.
async fn signed_in(browser: &Browser) -> bool {
    let res = browser.get("/").await;
    match res.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => false,
        other => panic!("the list answered {other}"),
    }
}

/// The page the callback answers with moves on to `to` by itself.
async fn assert_continues_to(res: reqwest::Response, to: &str) {
    assert_eq!(res.status(), 200, "the callback answers with a page");
    let page = res.text().await.unwrap();
    assert!(
        page.contains(&format!("content=\"0;url={to}\"")),
        "moves on to {to}: {page}"
    );
}

async fn single_sign_on_makes_the_account_with_the_role_its_groups_map_to(backend: Backend) {
    let mut idp = IdentityProvider::new(&people(&[("alice", &["staff", "dcr-operators"])]));
    let app = spawn_with_sso(backend, &mut idp, IdTokens::Honest, |raw| {
        // An account of single sign-on has the provider's factors: not held to enrolment.
        raw.portal.require_second_factor = Some(true);
    })
    .await;
    let browser = Browser::new(&app);
    let login = browser.get("/login").await.text().await.unwrap();
    assert!(
        login.contains("href=\"/auth/sso/start\"") && login.contains("Sign in with Bank SSO"),
        "the sign-in page offers single sign-on: {login}"
    );

    let res = sso_sign_in(&browser, &idp, "alice", &format!("{START}?next=/audit")).await;
    assert_continues_to(res, "/audit").await;
    assert!(signed_in(&browser).await, "signed in");
    let account = app.store.find_admin("alice").await.unwrap().unwrap();
    assert_eq!(account.role, "operator");
    assert_eq!(
        account.sso_subject.as_deref(),
        Some(format!("{} alice", idp.issuer).as_str())
    );
    assert!(
        !server::portal::password::verify(String::new(), Some(account.password_hash.clone())).await,
        "no password signs in to an account of single sign-on"
    );
    let made = events(&app, "admin.create").await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].actor, "sso");
    let sign_ins = events(&app, "admin.sign_in").await;
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(sign_ins[0].actor, "admin:alice");
    assert!(
        sign_ins[0]
            .after_state
            .as_deref()
            .unwrap()
            .contains("\"method\":\"single sign-on\""),
        "{:?}",
        sign_ins[0].after_state
    );

    // The groups change at the provider: the role follows at the next sign-on.
    idp.set_accounts(&people(&[("alice", &["dcr-administrators"])]));
    let again = Browser::new(&app);
    assert_continues_to(sso_sign_in(&again, &idp, "alice", START).await, "/overview").await;
    let account = app.store.find_admin("alice").await.unwrap().unwrap();
    assert_eq!(account.role, "administrator");
    let changes = events(&app, "admin.role_change").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].actor, "sso");
    assert_eq!(events(&app, "admin.create").await.len(), 1, "made once");
    let res = again
        .post(
            "/account/password",
            &[
                ("current_password", ""),
                ("new_password", "a new password of theirs"),
                ("confirm_password", "a new password of theirs"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/account?error=sso", "no password here");
    let list = again.get("/admins").await.text().await.unwrap();
    assert!(list.contains("single sign-on"), "the people page says so");

    // Its role is the provider's: not changed here (by another administrator of single
    // sign-on, as a local one would first have to enrol a second factor).
    idp.set_accounts(&people(&[
        ("alice", &["dcr-administrators"]),
        ("root", &["dcr-administrators"]),
    ]));
    let admin = Browser::new(&app);
    sso_sign_in(&admin, &idp, "root", START).await;
    let res = admin
        .post("/admins/alice/role", &[("role", "viewer")], "same-origin")
        .await;
    assert_eq!(location(&res), "/admins?error=from_provider");
    let account = app.store.find_admin("alice").await.unwrap().unwrap();
    assert_eq!(account.role, "administrator");

    // Disabled here, the provider's word does not let them in.
    let res = admin
        .post("/admins/alice/disable", &[], "same-origin")
        .await;
    assert_eq!(location(&res), "/admins?done=disabled&who=alice");
    assert!(!signed_in(&again).await, "their session ended");
    let res = sso_sign_in(&Browser::new(&app), &idp, "alice", START).await;
    assert_eq!(location(&res), "/login?error=disabled");
}

async fn a_person_whose_groups_no_longer_map_is_refused_and_their_sessions_end(backend: Backend) {
    let mut idp = IdentityProvider::new(&people(&[("bob", &["dcr-viewers"])]));
    let app = spawn_with_sso(backend, &mut idp, IdTokens::Honest, |_| {}).await;
    let earlier = Browser::new(&app);
    assert_continues_to(sso_sign_in(&earlier, &idp, "bob", START).await, "/overview").await;
    assert!(signed_in(&earlier).await);

    idp.set_accounts(&people(&[("bob", &["staff"])]));
    let now = Browser::new(&app);
    let res = sso_sign_in(&now, &idp, "bob", START).await;
    assert_eq!(location(&res), "/login?error=sso_no_role");
    assert!(!signed_in(&now).await, "refused");
    assert!(!signed_in(&earlier).await, "the earlier session ended");
    let refused = events(&app, "admin.sign_in_failed").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].reason.as_deref(),
        Some("no role maps from the identity provider's claim")
    );
    let ended = events(&app, "admin.sessions_ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].actor, "sso");
    let login = now
        .get("/login?error=sso_no_role")
        .await
        .text()
        .await
        .unwrap();
    assert!(login.contains("has no role in this portal"), "{login}");
}

/// A sign-on whose ID token the provider spoiled as `id_tokens` is refused, and nobody is made.
async fn refused_with(backend: Backend, id_tokens: IdTokens) {
    let mut idp = IdentityProvider::new(&people(&[("carol", &["dcr-viewers"])]));
    let app = spawn_with_sso(backend, &mut idp, id_tokens, |_| {}).await;
    let browser = Browser::new(&app);
    let res = sso_sign_in(&browser, &idp, "carol", START).await;
    assert_eq!(
        location(&res),
        "/login?error=sso_failed",
        "{id_tokens:?} {}",
        idp.log()
    );
    assert!(!signed_in(&browser).await);
    assert!(app.store.find_admin("carol").await.unwrap().is_none());
    let refused = events(&app, "admin.sign_in_failed").await;
    assert_eq!(refused.len(), 1, "{id_tokens:?}");
    assert!(
        refused[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("ID token")),
        "{:?}",
        refused[0].reason
    );
}

async fn a_tampered_id_token_is_refused(backend: Backend) {
    refused_with(backend, IdTokens::Tampered).await;
}

async fn an_id_token_with_another_nonce_is_refused(backend: Backend) {
    refused_with(backend, IdTokens::WrongNonce).await;
}

async fn an_id_token_for_another_client_is_refused(backend: Backend) {
    refused_with(backend, IdTokens::WrongAudience).await;
}

async fn an_answer_this_browser_did_not_ask_for_is_refused(backend: Backend) {
    let mut idp = IdentityProvider::new(&people(&[("dave", &["dcr-viewers"])]));
    let app = spawn_with_sso(backend, &mut idp, IdTokens::Honest, |_| {}).await;
    // The provider's genuine answer to someone else's sign-on, opened in this browser (a
    // sign-in forced on it): nothing was begun here, nothing is finished.
    let attacker = Browser::new(&app);
    let answer = sso_answer(&attacker, &idp, "dave", START).await;
    let victim = Browser::new(&app);
    assert_eq!(
        location(&victim.get(&answer).await),
        "/login?error=sso_expired"
    );
    assert!(!signed_in(&victim).await);
    // A genuine code with a state other than the one this browser sent.
    let (before, _) = answer.split_once("state=").unwrap();
    let state = answer.split("state=").nth(1).unwrap();
    let rest = state
        .split_once('&')
        .map(|(_, r)| format!("&{r}"))
        .unwrap_or_default();
    let forged = format!("{before}state=not-the-state{rest}");
    assert_eq!(
        location(&attacker.get(&forged).await),
        "/login?error=sso_failed"
    );
    assert!(!signed_in(&attacker).await);
    assert!(app.store.find_admin("dave").await.unwrap().is_none());
}

async fn a_local_account_is_not_taken_over(backend: Backend) {
    let mut idp = IdentityProvider::new(&people(&[("erin", &["dcr-administrators"])]));
    let app = spawn_with_sso(backend, &mut idp, IdTokens::Honest, |_| {}).await;
    add_admin(&app, "erin").await;
    let before = app.store.find_admin("erin").await.unwrap().unwrap();
    let browser = Browser::new(&app);
    let res = sso_sign_in(&browser, &idp, "erin", START).await;
    assert_eq!(location(&res), "/login?error=sso_taken");
    assert!(!signed_in(&browser).await);
    let after = app.store.find_admin("erin").await.unwrap().unwrap();
    assert_eq!(after.sso_subject, None);
    assert_eq!(after.password_hash, before.password_hash);
}

async fn the_provider_down_is_a_clear_message_and_local_sign_in_still_works(backend: Backend) {
    let mut idp = IdentityProvider::new(&people(&[]));
    let app = spawn_with_sso(backend, &mut idp, IdTokens::Honest, |_| {}).await;
    idp.stop();
    add_admin(&app, "frank").await;
    let browser = Browser::new(&app);
    let res = browser.get(&format!("{START}?next=/audit")).await;
    assert_eq!(location(&res), "/login?error=sso_unavailable&next=%2Faudit");
    let page = browser
        .get("/login?error=sso_unavailable")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The sign-in provider cannot be reached right now"),
        "{page}"
    );
    assert_eq!(browser.sign_in("frank", PASSWORD).await, "/overview");
    assert!(signed_in(&browser).await);
}

async fn local_passwords_turned_off_leave_single_sign_on_only(backend: Backend) {
    let mut idp = IdentityProvider::new(&people(&[("gina", &["dcr-viewers"])]));
    let app = spawn_with_sso(backend, &mut idp, IdTokens::Honest, |raw| {
        raw.portal.sso.local_passwords = Some(false);
    })
    .await;
    add_admin(&app, "henry").await;
    let browser = Browser::new(&app);
    let login = browser.get("/login").await.text().await.unwrap();
    assert!(
        !login.contains("name=\"password\""),
        "no password field: {login}"
    );
    assert!(login.contains("Sign in with Bank SSO"));
    assert_eq!(
        browser.sign_in("henry", PASSWORD).await,
        "/login?error=local_off"
    );
    assert!(!signed_in(&browser).await, "the right password is refused");
    assert_continues_to(
        sso_sign_in(&browser, &idp, "gina", START).await,
        "/overview",
    )
    .await;
    assert!(signed_in(&browser).await);
}

both_backends!(
    single_sign_on_makes_the_account_with_the_role_its_groups_map_to,
    a_person_whose_groups_no_longer_map_is_refused_and_their_sessions_end,
    a_tampered_id_token_is_refused,
    an_id_token_with_another_nonce_is_refused,
    an_id_token_for_another_client_is_refused,
    an_answer_this_browser_did_not_ask_for_is_refused,
    a_local_account_is_not_taken_over,
    the_provider_down_is_a_clear_message_and_local_sign_in_still_works,
    local_passwords_turned_off_leave_single_sign_on_only,
);
