//! Roles, the people page and sessions, as a browser uses them: every role tried against every
//! action (each refusal a 403 that changes nothing and is audited), the last administrator
//! kept, disabling, first passwords, the sessions page, and the way back to the page asked for.

use dcr_store::AuditQuery;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};

const SW_A: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";
const SW_B: &str = "0b8e7e1a-2f9c-4d3b-8a61-5c4e3d2b1a09";

/// Adds an account `user` with `role` (and, for a first account that is not an administrator,
/// the administrator `keeper`: there is always one).
async fn add_with_role(app: &TestApp, user: &str, role: &str) {
    add_admin(app, user).await;
    if role != "administrator" {
        if app.store.find_admin("keeper").await.unwrap().is_none() {
            add_admin(app, "keeper").await;
        }
        let audit = dcr_store::NewAuditEvent {
            occurred_at: app.now(),
            actor: "cli".into(),
            action: "admin.role_change".into(),
            ..Default::default()
        };
        assert_eq!(
            app.store.set_admin_role(user, role, &audit).await.unwrap(),
            dcr_store::AdminChange::Done
        );
    }
}

/// What an action may change: every registration's status and every account.
async fn snapshot(app: &TestApp) -> String {
    let mut regs = Vec::new();
    for sw in [SW_A, SW_B] {
        let r = app
            .store
            .find_registration_by_software_id(sw)
            .await
            .unwrap()
            .map(|r| (r.client_id, r.status.as_str()));
        regs.push(format!("{r:?}"));
    }
    let accounts: Vec<String> = app
        .store
        .list_admins()
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            format!(
                "{} {} {:?} second factor {}",
                a.username,
                a.role,
                a.disabled_at,
                a.totp_secret.is_some()
            )
        })
        .collect();
    let sessions = app.store.sessions_of("kim", app.now()).await.unwrap().len();
    format!("{regs:?} {accounts:?} kim's sessions {sessions}")
}

async fn forbidden_events(app: &TestApp, user: &str) -> u64 {
    app.audit(AuditQuery {
        actor: Some(format!("admin:{user}")),
        action: Some("admin.forbidden".into()),
        ..Default::default()
    })
    .await
    .total
}

/// One action of the portal: a page, a server function or a form, and the least role that may
/// do it.
struct Action {
    name: &'static str,
    least: &'static str,
    post: bool,
    path: String,
    form: Vec<(&'static str, String)>,
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 0,
        "operator" => 1,
        _ => 2,
    }
}

async fn every_role_is_tried_against_every_action(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let a = app.register(SW_A).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app.register(SW_B).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    add_with_role(&app, "vera", "viewer").await;
    add_with_role(&app, "otto", "operator").await;
    add_with_role(&app, "ada", "administrator").await;
    add_with_role(&app, "zed", "viewer").await;
    add_with_role(&app, "kim", "viewer").await;
    // zed has an authenticator app: resetting it is one of the actions.
    crate::second_factor::enrol(&app, "zed").await;
    // kim is signed in: ending her sessions is one of the actions.
    let elsewhere = Browser::new(&app);
    elsewhere.sign_in("kim", PASSWORD).await;

    let get = |name, least, path: String| Action {
        name,
        least,
        post: false,
        path,
        form: Vec::new(),
    };
    let post = |name, least, path: String, form: Vec<(&'static str, String)>| Action {
        name,
        least,
        post: true,
        path,
        form,
    };
    let reason = |r: &str| vec![("reason", r.to_string()), ("confirm", "yes".to_string())];
    let actions = [
        get("list registrations", "viewer", "/".into()),
        get(
            "inspect a registration",
            "viewer",
            format!("/registrations/{a}"),
        ),
        get("audit log", "viewer", "/audit".into()),
        get("provisioning page", "viewer", "/provisioning".into()),
        get("overview", "viewer", "/overview".into()),
        get("webhooks page", "viewer", "/webhooks".into()),
        get("own account", "viewer", "/account".into()),
        post("own sessions", "viewer", "/api/my-sessions".into(), vec![]),
        get("people page", "administrator", "/admins".into()),
        post(
            "list accounts",
            "administrator",
            "/api/accounts".into(),
            vec![],
        ),
        post(
            "deliver provisioning changes",
            "operator",
            format!("/registrations/{a}/provisioning/retry"),
            vec![],
        ),
        post(
            "send a webhook event again",
            "operator",
            "/webhooks/1/retry".into(),
            vec![],
        ),
        post(
            "revoke",
            "operator",
            format!("/registrations/{a}/revoke"),
            reason("Compromised key"),
        ),
        post(
            "release",
            "operator",
            format!("/registrations/{b}/release"),
            reason("Lost client_id"),
        ),
        // (By now a is revoked and b released: these find no active registration.)
        post(
            "revoke a brand",
            "operator",
            format!("/registrations/{a}/revoke-brand"),
            reason("Brand compromised"),
        ),
        post(
            "revoke a legal entity",
            "operator",
            format!("/registrations/{a}/revoke-legal-entity"),
            reason("Accreditation suspended"),
        ),
        post(
            "add an account",
            "administrator",
            "/admins/add".into(),
            vec![
                ("username", "newbie".into()),
                ("role", "viewer".into()),
                ("password", "a first password".into()),
            ],
        ),
        post(
            "change a role",
            "administrator",
            "/admins/zed/role".into(),
            vec![("role", "operator".into())],
        ),
        post(
            "disable an account",
            "administrator",
            "/admins/zed/disable".into(),
            vec![],
        ),
        post(
            "enable an account",
            "administrator",
            "/admins/zed/enable".into(),
            vec![],
        ),
        post(
            "reset someone's second factor",
            "administrator",
            "/admins/zed/second-factor/reset".into(),
            vec![("confirm", "yes".into())],
        ),
        post(
            "end someone's sessions",
            "administrator",
            "/admins/kim/sessions/end".into(),
            vec![],
        ),
    ];

    // Least powerful first, so that an allowed change (a revocation, an added account) is made
    // by the first role allowed it, after every refusal was seen to change nothing.
    for (user, role) in [
        ("vera", "viewer"),
        ("otto", "operator"),
        ("ada", "administrator"),
    ] {
        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in(user, PASSWORD).await, "/overview");
        for action in &actions {
            let before = snapshot(&app).await;
            let refusals = forbidden_events(&app, user).await;
            let res = if action.post {
                let form: Vec<(&str, &str)> =
                    action.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                browser.post(&action.path, &form, "same-origin").await
            } else {
                browser.get(&action.path).await
            };
            let status = res.status();
            let allowed = rank(role) >= rank(action.least);
            if allowed {
                assert!(
                    status == StatusCode::OK || status == StatusCode::SEE_OTHER,
                    "{role} may {}: {status} {}",
                    action.name,
                    location(&res)
                );
                if status == StatusCode::SEE_OTHER {
                    assert!(
                        !location(&res).contains("error=")
                            || location(&res).ends_with("error=retry_nothing"),
                        "{role} may {}: {}",
                        action.name,
                        location(&res)
                    );
                }
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} may not {}",
                    action.name
                );
                let body = res.text().await.unwrap();
                assert!(
                    body.contains("does not allow") || body.contains(r#""error":"forbidden""#),
                    "a readable refusal: {body}"
                );
                assert_eq!(
                    snapshot(&app).await,
                    before,
                    "{role}: {} changed nothing",
                    action.name
                );
                assert_eq!(
                    forbidden_events(&app, user).await,
                    refusals + 1,
                    "{role}: {} refused and audited",
                    action.name
                );
            }
        }
    }
    // What the allowed ones did.
    let status = |sw| {
        let app = &app;
        async move {
            app.store
                .find_registration_by_software_id(sw)
                .await
                .unwrap()
                .map(|r| r.status.as_str())
        }
    };
    assert_eq!(status(SW_A).await, Some("revoked"), "otto revoked it");
    assert_eq!(status(SW_B).await, None, "otto released it");
    let accounts = app.store.list_admins().await.unwrap();
    let newbie = accounts.iter().find(|a| a.username == "newbie").unwrap();
    assert!(newbie.must_change_password && newbie.role == "viewer");
    let zed = accounts.iter().find(|a| a.username == "zed").unwrap();
    assert!(zed.role == "operator" && zed.disabled_at.is_none() && zed.totp_secret.is_none());
    for action in [
        "admin.role_change",
        "admin.disable",
        "admin.enable",
        "admin.second_factor_reset",
        "admin.sessions_ended",
    ] {
        let done = app
            .audit(AuditQuery {
                action: Some(action.into()),
                actor: Some("admin:ada".into()),
                ..Default::default()
            })
            .await;
        assert_eq!(done.total, 1, "{action} once, by ada");
        assert!(
            done.items[0].after_state.as_deref().unwrap().contains(
                if action == "admin.sessions_ended" {
                    "kim"
                } else {
                    "zed"
                }
            ),
            "{action}: {:?}",
            done.items[0].after_state
        );
    }
    assert!(app
        .store
        .sessions_of("kim", app.now())
        .await
        .unwrap()
        .is_empty());
    assert!(location(&elsewhere.get("/").await).starts_with("/login"));
    let refused = app
        .audit(AuditQuery {
            action: Some("admin.forbidden".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(refused.total, 14 + 8, "vera 14 refusals, otto 8");
    let refusal = refused
        .items
        .iter()
        .find(|e| e.actor == "admin:vera" && e.reason.as_deref() == Some(&format!("revoke {a}")))
        .expect("the refused revocation names what was tried");
    assert!(refusal.after_state.as_deref().unwrap().contains("viewer"));
}

async fn the_last_administrator_and_ones_own_role_are_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_with_role(&app, "ada", "administrator").await;
    let ada = Browser::new(&app);
    ada.sign_in("ada", PASSWORD).await;
    let res = ada
        .post("/admins/ada/role", &[("role", "viewer")], "same-origin")
        .await;
    assert_eq!(location(&res), "/admins?error=own_role");
    let res = ada.post("/admins/ada/disable", &[], "same-origin").await;
    assert_eq!(location(&res), "/admins?error=self");

    // The store keeps the last enabled administrator whoever asks (the command line too).
    let audit = dcr_store::NewAuditEvent {
        occurred_at: app.now(),
        actor: "cli".into(),
        action: "admin.role_change".into(),
        ..Default::default()
    };
    let last = dcr_store::AdminChange::LastAdministrator;
    assert_eq!(
        app.store
            .set_admin_role("ada", "operator", &audit)
            .await
            .unwrap(),
        last
    );
    assert_eq!(
        app.store
            .set_admin_disabled("ada", true, &audit)
            .await
            .unwrap(),
        last
    );

    // With another administrator, each can be changed by the other.
    add_with_role(&app, "bob", "administrator").await;
    let res = ada
        .post("/admins/bob/role", &[("role", "operator")], "same-origin")
        .await;
    assert_eq!(location(&res), "/admins?done=role&who=bob");
    let bob = Browser::new(&app);
    bob.sign_in("bob", PASSWORD).await;
    assert_eq!(
        bob.get("/admins").await.status(),
        403,
        "bob is an operator now"
    );
    assert_eq!(
        app.store
            .set_admin_role("ada", "operator", &audit)
            .await
            .unwrap(),
        last
    );

    // Two administrators demoting each other at once: one of them stays.
    let res = ada
        .post(
            "/admins/bob/role",
            &[("role", "administrator")],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/admins?done=role&who=bob");
    for _ in 0..5 {
        let (x, y) = tokio::join!(
            app.store.set_admin_role("ada", "viewer", &audit),
            app.store.set_admin_role("bob", "viewer", &audit),
        );
        let outcomes = [x.unwrap(), y.unwrap()];
        assert!(outcomes.contains(&last), "{outcomes:?}");
        let admins = app
            .store
            .list_admins()
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.role == "administrator")
            .count();
        assert_eq!(admins, 1);
        for who in ["ada", "bob"] {
            app.store
                .set_admin_role(who, "administrator", &audit)
                .await
                .unwrap();
        }
    }
}

async fn a_disabled_account_cannot_sign_in_and_its_sessions_end(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_with_role(&app, "ada", "administrator").await;
    add_with_role(&app, "carl", "viewer").await;
    add_with_role(&app, "bob", "operator").await;
    let ada = Browser::new(&app);
    ada.sign_in("ada", PASSWORD).await;
    let bob = Browser::new(&app);
    bob.sign_in("bob", PASSWORD).await;
    assert_eq!(bob.get("/account").await.status(), 200);

    let res = ada.post("/admins/bob/disable", &[], "same-origin").await;
    assert_eq!(location(&res), "/admins?done=disabled&who=bob");
    let res = bob.get("/account").await;
    assert!(
        location(&res).starts_with("/login?error=expired"),
        "{}",
        location(&res)
    );
    assert_eq!(bob.sign_in("bob", PASSWORD).await, "/login?error=disabled");
    assert_eq!(
        Browser::new(&app).sign_in("bob", "not the password").await,
        "/login?error=1",
        "a wrong password says nothing about the account"
    );
    let res = ada.post("/admins/bob/enable", &[], "same-origin").await;
    assert_eq!(location(&res), "/admins?done=enabled&who=bob");
    assert_eq!(bob.sign_in("bob", PASSWORD).await, "/overview");
    let html = ada.get("/admins").await.text().await.unwrap();
    assert!(html.contains("bob") && html.contains("Operator"), "{html}");
    // Each row says when and from where the person last signed in, or that they never did.
    let row = |who: &str| {
        let (_, after) = html
            .split_once(&format!("<strong>{who}</strong>"))
            .unwrap_or_else(|| panic!("{who}'s row: {html}"));
        after.split("</tr>").next().unwrap().to_string()
    };
    let bobs = row("bob");
    assert!(
        bobs.contains("<time datetime=") && bobs.contains("127.0.0.1"),
        "{bobs}"
    );
    assert!(row("carl").contains("Never"), "{}", row("carl"));
    let sign_ins = app
        .audit(AuditQuery {
            action: Some("admin.sign_in".into()),
            actor: Some("admin:bob".into()),
            ..Default::default()
        })
        .await;
    assert!(sign_ins.items.iter().all(|e| e
        .after_state
        .as_deref()
        .unwrap()
        .contains(r#""method":"password""#)));
    assert_eq!(sign_ins.total, 2, "before and after the disablement");
    for action in ["admin.disable", "admin.enable"] {
        let events = app
            .audit(AuditQuery {
                action: Some(action.into()),
                ..Default::default()
            })
            .await;
        assert_eq!(events.total, 1, "{action}");
        assert_eq!(events.items[0].actor, "admin:ada");
        assert!(events.items[0]
            .after_state
            .as_deref()
            .unwrap()
            .contains("bob"));
    }
}

async fn a_first_password_must_be_replaced_before_anything_else(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_with_role(&app, "ada", "administrator").await;
    let ada = Browser::new(&app);
    ada.sign_in("ada", PASSWORD).await;
    let first = "a first password given";
    let res = ada
        .post(
            "/admins/add",
            &[
                ("username", "newbie"),
                ("role", "operator"),
                ("password", first),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/admins?done=added&who=newbie");
    let res = ada
        .post(
            "/admins/add",
            &[
                ("username", "newbie"),
                ("role", "viewer"),
                ("password", first),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/admins?error=taken");

    let newbie = Browser::new(&app);
    assert_eq!(
        newbie.sign_in("newbie", first).await,
        "/account?must_change=1"
    );
    assert_eq!(location(&newbie.get("/").await), "/account?must_change=1");
    assert_eq!(
        location(&newbie.get("/audit").await),
        "/account?must_change=1"
    );
    let html = newbie
        .get("/account?must_change=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Choose your own to continue"), "{html}");
    let res = newbie
        .post(
            "/account/password",
            &[
                ("current_password", first),
                ("new_password", "my very own password"),
                ("confirm_password", "my very own password"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/account?changed=1");
    assert_eq!(newbie.get("/").await.status(), 200);
}

/// The key of the session marked "This browser" on an account page.
fn own_session_key(html: &str) -> String {
    let (_, after) = html.split_once("This browser").expect("this browser's row");
    let (_, rest) = after
        .split_once(r#"name="session" value=""#)
        .expect("its form");
    rest.split('"').next().unwrap().to_string()
}

async fn the_sessions_page_lists_and_ends_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_with_role(&app, "alice", "viewer").await;
    let one = Browser::new(&app);
    one.sign_in("alice", PASSWORD).await;
    let two = Browser::new(&app);
    two.sign_in("alice", PASSWORD).await;
    let three = Browser::new(&app);
    three.sign_in("alice", PASSWORD).await;

    let sessions = app.store.sessions_of("alice", app.now()).await.unwrap();
    assert_eq!(sessions.len(), 3);
    assert!(sessions
        .iter()
        .all(|s| s.address.as_deref() == Some("127.0.0.1")));
    let html = one.get("/account").await.text().await.unwrap();
    assert!(
        html.contains("This browser") && html.contains("End all other sessions"),
        "{html}"
    );
    for s in &sessions {
        assert!(html.contains(&s.key), "each session listed");
    }

    // End another session by its key (three's, the one used last): that browser is signed
    // out, the others go on.
    let third_key = own_session_key(&three.get("/account").await.text().await.unwrap());
    let res = one
        .post(
            "/account/sessions/end",
            &[("session", &third_key)],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/account?done=session_ended#sessions");
    assert!(location(&three.get("/account").await).starts_with("/login"));
    assert_eq!(two.get("/account").await.status(), 200);
    assert_eq!(
        app.store
            .sessions_of("alice", app.now())
            .await
            .unwrap()
            .len(),
        2
    );
    // Someone else's session cannot be ended by its key.
    add_with_role(&app, "mallory", "viewer").await;
    let mallory = Browser::new(&app);
    mallory.sign_in("mallory", PASSWORD).await;
    let alices = app.store.sessions_of("alice", app.now()).await.unwrap();
    let res = mallory
        .post(
            "/account/sessions/end",
            &[("session", &alices[0].key)],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/account?error=session");
    assert_eq!(
        app.store
            .sessions_of("alice", app.now())
            .await
            .unwrap()
            .len(),
        2
    );

    // Everywhere else, then everywhere.
    let res = one
        .post("/account/sessions/end-others", &[], "same-origin")
        .await;
    assert_eq!(location(&res), "/account?done=others_ended&n=1#sessions");
    assert_eq!(
        app.store
            .sessions_of("alice", app.now())
            .await
            .unwrap()
            .len(),
        1
    );
    let res = one
        .post(
            "/account/sessions/end-others",
            &[("everywhere", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/login?signed_out=1");
    assert!(app
        .store
        .sessions_of("alice", app.now())
        .await
        .unwrap()
        .is_empty());
    let ended = app
        .audit(AuditQuery {
            action: Some("admin.sessions_ended".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(ended.total, 3);
}

async fn sign_in_returns_to_the_page_asked_for(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_with_role(&app, "alice", "viewer").await;
    let browser = Browser::new(&app);
    let res = browser.get("/audit?actor=cli&page=2").await;
    let to = location(&res);
    assert_eq!(to, "/login?next=%2Faudit%3Factor%3Dcli%26page%3D2");
    let html = browser.get(&to).await.text().await.unwrap();
    assert!(
        html.contains("name=\"next\" value=\"/audit?actor=cli&amp;page=2\""),
        "{html}"
    );
    let res = browser
        .post(
            "/auth/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("next", "/audit?actor=cli&page=2"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/audit?actor=cli&page=2");
    // A wrong password keeps it for the next try.
    let res = Browser::new(&app)
        .post(
            "/auth/login",
            &[
                ("username", "alice"),
                ("password", "wrong"),
                ("next", "/audit"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(location(&res), "/login?error=1&next=%2Faudit");
    // Only pages of the portal: anything else goes to the list.
    for elsewhere in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/login",
        "/auth/logout",
        "javascript:alert(1)",
    ] {
        let res = Browser::new(&app)
            .post(
                "/auth/login",
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("next", elsewhere),
                ],
                "same-origin",
            )
            .await;
        assert_eq!(location(&res), "/overview", "{elsewhere}");
    }
    // After a timeout, "sign in again" comes back to the search.
    app.clock.advance(app.config.session_idle_secs + 1);
    let res = browser.get("/?q=ironbark&status=active").await;
    assert_eq!(
        location(&res),
        "/login?error=expired&next=%2F%3Fq%3Dironbark%26status%3Dactive"
    );
}

both_backends!(
    every_role_is_tried_against_every_action,
    the_last_administrator_and_ones_own_role_are_kept,
    a_disabled_account_cannot_sign_in_and_its_sessions_end,
    a_first_password_must_be_replaced_before_anything_else,
    the_sessions_page_lists_and_ends_sessions,
    sign_in_returns_to_the_page_asked_for,
);
