//! The admin portal over HTTP: revocation taking effect on the DCR API at once, release of a
//! registration whose recipient lost its client_id (and of a revoked one), the audit chain's
//! status on the audit page, sign-in throttling per account and per address, CSRF refusal
//! (server functions included), server functions' error statuses, sessions ending when the
//! account changes, and recipient-supplied text escaped in rendered pages.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, Backend, TestApp};

const SW: &str = "9a3b2c1d-0000-4000-8000-00000000a11c";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A browser stand-in: keeps cookies, never follows redirects, and sends the headers a browser
/// sends on a same-origin form post.
pub(crate) struct Browser {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        Self {
            base: app.portal.clone(),
            // Plain HTTP, but reqwest still wants a TLS configuration (no default provider).
            http: reqwest::Client::builder()
                .use_preconfigured_tls(
                    rustls::ClientConfig::builder_with_provider(server::tls::provider())
                        .with_safe_default_protocol_versions()
                        .unwrap()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
                .redirect(reqwest::redirect::Policy::none())
                // A hang fails the test instead of stalling the run.
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap(),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, res: &reqwest::Response) {
        for c in res.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), v.to_string());
            }
        }
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        res
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        site: &str,
    ) -> reqwest::Response {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("sec-fetch-site", site)
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        res
    }

    pub(crate) async fn sign_in(&self, user: &str, password: &str) -> String {
        self.sign_in_forwarded(user, password, None).await
    }

    /// Signs in with an `X-Forwarded-For` header, as a request relayed by a proxy carries.
    pub(crate) async fn sign_in_forwarded(
        &self,
        user: &str,
        password: &str,
        forwarded_for: Option<&str>,
    ) -> String {
        let mut req = self
            .http
            .post(format!("{}/auth/login", self.base))
            .header(COOKIE, self.cookie_header())
            .header("sec-fetch-site", "same-origin")
            .form(&[("username", user), ("password", password)]);
        if let Some(xff) = forwarded_for {
            req = req.header("x-forwarded-for", xff);
        }
        let res = req.send().await.unwrap();
        self.keep_cookies(&res);
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        location(&res)
    }
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Sessions compare their expiry with the injected clock; run it at the real time.
pub(crate) fn real_time(app: &TestApp) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    app.clock.set(i64::try_from(now).unwrap());
}

pub(crate) async fn add_admin(app: &TestApp, user: &str) {
    let hash = server::portal::password::hash(PASSWORD.into())
        .await
        .unwrap();
    app.store
        .upsert_admin(&format!("id-{user}"), user, &hash, app.now())
        .await
        .unwrap();
}

/// A registration of `SW` is refused as a duplicate: its software_id is still taken.
async fn assert_software_id_reserved(app: &TestApp) {
    let res = app.post_register(&app.request(SW, json!({}))).await;
    let (status, error, body) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client_metadata"));
    assert_eq!(
        body["error_description"],
        "Duplicate registrations for a given software_id are not valid."
    );
}

async fn token_response(app: &TestApp, client_id: &str) -> reqwest::Response {
    let assertion = app.assertion(client_id, json!({}));
    app.token_request(
        &app.client,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
            ("scope", "cdr:registration"),
        ],
    )
    .await
}

async fn revoking_in_the_portal_takes_effect_on_the_api_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.token(&client_id).await;
    let read = |token: String| {
        let url = app.client_url(&client_id);
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(read(token.clone()).await.status(), 200);

    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, "/overview");
    let revoke = format!("/registrations/{client_id}/revoke");

    // a reason and the confirmation are required
    let res = browser
        .post(
            &revoke,
            &[("reason", "  "), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    // The typed reason comes back with the error, for the form to show again.
    let to = location(&res);
    assert!(to.ends_with("?error=reason&reason=%20%20"), "{to}");
    let res = browser
        .post(
            &revoke,
            &[("reason", "    \n  "), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    let to = location(&res);
    assert!(
        to.ends_with("?error=reason&reason=%20%20%20%20%0A%20%20"),
        "{to}"
    );
    let page = browser.get(&to).await;
    let page = page.text().await.unwrap();
    let form = &page[page.find("id=\"revoke-action\"").expect("the revoke form")..];
    assert!(
        form.contains("Give a reason for the revocation (4 to 500 characters, spaces aside)"),
        "the error is beside the form: {form}"
    );
    assert!(
        form.contains("<details open class=\"revoke-details action-details\""),
        "the form is open: {form}"
    );
    let textarea = &form[form.find("<textarea").unwrap()..];
    let textarea = &textarea[..textarea.find("</textarea>").unwrap()];
    assert!(textarea.contains("autofocus"), "{textarea}");
    assert!(
        textarea.ends_with(">    \n  "),
        "the typed reason is kept: {textarea:?}"
    );
    let res = browser
        .post(&revoke, &[("reason", "Compromised key")], "same-origin")
        .await;
    let to = location(&res);
    assert!(
        to.ends_with("?error=confirm&reason=Compromised%20key"),
        "{to}"
    );
    assert_eq!(
        read(token.clone()).await.status(),
        200,
        "nothing changed yet"
    );

    let res = browser
        .post(
            &revoke,
            &[("reason", "Compromised key <b>now</b>"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&res),
        format!("/registrations/{client_id}?done=revoked")
    );

    // the token already issued stops working, and no new token is issued
    let res = read(token).await;
    assert_eq!(res.status(), 401, "management call with an old token");
    let (status, error, _) = error_of(token_response(&app, &client_id).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));

    // the software_id stays reserved: the recipient cannot register again
    assert_software_id_reserved(&app).await;

    // revoking again is harmless
    let res = browser
        .post(
            &revoke,
            &[("reason", "again"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert!(location(&res).ends_with("?done=already_revoked"));

    // the audit trail has one revocation, by alice, with the reason
    let events = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(client_id.clone()),
            action: Some("registration.revoke".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(events.total, 1);
    assert_eq!(events.items[0].actor, "admin:alice");
    assert_eq!(
        events.items[0].reason.as_deref(),
        Some("Compromised key <b>now</b>")
    );

    // the pages show it, with the reason as text
    let page = browser.get(&format!("/registrations/{client_id}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Revoked"), "status badge");
    assert!(html.contains("Compromised key &lt;b&gt;now&lt;/b&gt;"));
    assert!(!html.contains("<b>now</b>"));
    let list = browser.get("/?status=revoked").await.text().await.unwrap();
    assert!(list.contains(&client_id));
}

async fn a_brand_is_revoked_in_one_step_and_shown_as_one_group(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let mut ids = Vec::new();
    for sw in [
        "9a3b2c1d-0000-4000-8000-0000000b0001",
        "9a3b2c1d-0000-4000-8000-0000000b0002",
        "9a3b2c1d-0000-4000-8000-0000000b0003",
    ] {
        ids.push(
            app.register(sw).await["client_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Another brand's registration stays as it is.
    let other_sw = "9a3b2c1d-0000-4000-8000-0000000b0004";
    let ssa = app.ssa(
        other_sw,
        json!({ "org_id": "another-brand", "org_name": "Another" }),
    );
    let res = app
        .post_register(&app.sign_request(&app.request_claims(other_sw, &ssa)))
        .await;
    assert_eq!(res.status(), 201);
    let other_id = res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.token(&ids[1]).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let page = browser
        .get(&format!("/registrations/{}", ids[0]))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Revoke the brand"),
        "offered with 3 active registrations"
    );

    let refused = browser
        .post(
            &format!("/registrations/{}/revoke-brand", ids[0]),
            &[("reason", "Brand compromised")],
            "same-origin",
        )
        .await;
    assert!(
        location(&refused).contains("error=brand_confirm"),
        "{}",
        location(&refused)
    );
    let res = browser
        .post(
            &format!("/registrations/{}/revoke-brand", ids[0]),
            &[("reason", "Brand compromised"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(
        location(&res),
        format!("/registrations/{}?done=brand_revoked&count=3", ids[0])
    );
    for id in &ids {
        let r = app.store.get_registration(id).await.unwrap().unwrap();
        assert_eq!(r.status, dcr_store::RegistrationStatus::Revoked, "{id}");
        assert_eq!(r.status_reason.as_deref(), Some("Brand compromised"));
    }
    let other = app
        .store
        .get_registration(&other_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.status, dcr_store::RegistrationStatus::Active);
    // Each recipient is cut off at once.
    let read = app
        .client
        .get(app.client_url(&ids[1]))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 401);
    assert_eq!(token_response(&app, &ids[2]).await.status(), 400);

    // One revocation event each, naming the group, and one for the group naming them.
    let each = app
        .audit(dcr_store::AuditQuery {
            action: Some("registration.revoke".into()),
            ..Default::default()
        })
        .await
        .items;
    assert_eq!(each.len(), 3);
    let group = app
        .audit(dcr_store::AuditQuery {
            action: Some("registration.group_revoke".into()),
            ..Default::default()
        })
        .await
        .items;
    assert_eq!(group.len(), 1);
    assert_eq!(group[0].actor, "admin:alice");
    assert_eq!(group[0].reason.as_deref(), Some("Brand compromised"));
    let summary: Value = serde_json::from_str(group[0].after_state.as_deref().unwrap()).unwrap();
    let mut named: Vec<String> = summary["client_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    named.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(named, expected);
    for e in &each {
        let after: Value = serde_json::from_str(e.after_state.as_deref().unwrap()).unwrap();
        assert_eq!(after["group"], summary["group"]);
    }

    // Again: nothing active is left.
    let again = browser
        .post(
            &format!("/registrations/{}/revoke-brand", ids[0]),
            &[("reason", "Brand compromised"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(
        location(&again),
        format!("/registrations/{}?done=brand_none", ids[0])
    );
}

async fn a_recipient_that_lost_its_client_id_registers_again_after_a_release(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let old_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let old_token = app.token(&old_id).await;
    let read = |client_id: String, token: String| {
        let url = app.client_url(&client_id);
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(read(old_id.clone(), old_token.clone()).await.status(), 200);

    // The recipient lost its client_id: registering again is refused as a duplicate.
    let (status, error, _) = error_of(app.post_register(&app.request(SW, json!({}))).await).await;
    assert_eq!(status, 400);
    assert_eq!(error, "invalid_client_metadata");

    // The administrator pastes the software_id (as the recipient wrote it) into the search.
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let list = browser
        .get(&format!("/?q=%20{}%20", SW.to_ascii_uppercase()))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&old_id), "found by software_id");
    let page = browser
        .get(&format!("/registrations/{old_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Release…"), "the release action is offered");

    // A reason and the confirmation are required.
    let release = format!("/registrations/{old_id}/release");
    let res = browser
        .post(
            &release,
            &[("reason", "no"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(
        location(&res),
        format!("/registrations/{old_id}?error=release_reason&reason=no")
    );
    let res = browser
        .post(&release, &[("reason", "Lost client_id")], "same-origin")
        .await;
    assert_eq!(
        location(&res),
        format!("/registrations/{old_id}?error=release_confirm&reason=Lost%20client_id")
    );
    assert_eq!(
        read(old_id.clone(), old_token.clone()).await.status(),
        200,
        "nothing changed yet"
    );

    let reason = "Recipient lost its client_id; identity confirmed by phone (ticket 4711)";
    let res = browser
        .post(
            &release,
            &[("reason", reason), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&res),
        format!("/registrations/{old_id}?done=released")
    );

    // The old client_id stops working at once: its token, and any new token.
    assert_eq!(
        read(old_id.clone(), old_token.clone()).await.status(),
        401,
        "management call with the old token"
    );
    let (status, error, _) = error_of(token_response(&app, &old_id).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));

    // The recipient registers again and gets a new client_id that works.
    let res = app.post_register(&app.request(SW, json!({}))).await;
    assert_eq!(res.status(), 201, "registration after the release");
    let body: Value = res.json().await.unwrap();
    let new_id = body["client_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old_id);
    let new_token = app.token(&new_id).await;
    assert_eq!(read(new_id.clone(), new_token).await.status(), 200);
    assert_eq!(read(old_id.clone(), old_token).await.status(), 401);

    // Releasing again changes nothing, and says so.
    let res = browser
        .post(
            &release,
            &[("reason", "once more"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(
        location(&res),
        format!("/registrations/{old_id}?done=already_released")
    );

    // One audit event, by alice, with the reason and the status it replaced.
    let events = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(old_id.clone()),
            action: Some("registration.release".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(events.total, 1);
    let ev = &events.items[0];
    assert_eq!(ev.actor, "admin:alice");
    assert_eq!(ev.reason.as_deref(), Some(reason));
    assert_eq!(ev.software_id.as_deref(), Some(SW));
    assert_eq!(ev.before_state.as_deref(), Some(r#"{"status":"active"}"#));
    assert_eq!(ev.after_state.as_deref(), Some(r#"{"status":"released"}"#));
    let chain = app.store.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "the audit chain still verifies: {chain:?}");

    // The pages show it: the status and the reason, both registrations of the product, the
    // Released filter.
    let html = browser
        .get(&format!("/registrations/{old_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("badge-released"), "status badge");
    assert!(html.contains("identity confirmed by phone (ticket 4711)"));
    assert!(!html.contains("Release…"), "nothing left to release");
    let list = browser
        .get(&format!("/?q={SW}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&old_id) && list.contains(&new_id));
    let released = browser.get("/?status=released").await.text().await.unwrap();
    assert!(released.contains(&old_id));
    assert!(!released.contains(&new_id));

    // A revoked registration is released the same way, and its product registers again.
    let revoke = format!("/registrations/{new_id}/revoke");
    let res = browser
        .post(
            &revoke,
            &[("reason", "Compromised key"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert_eq!(
        location(&res),
        format!("/registrations/{new_id}?done=revoked")
    );
    assert_software_id_reserved(&app).await;
    let res = browser
        .post(
            &format!("/registrations/{new_id}/release"),
            &[("reason", "New keys issued"), ("confirm", "yes")],
            "same-origin",
        )
        .await;
    assert!(location(&res).ends_with("?done=released"));
    app.register(SW).await;
    let events = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(new_id.clone()),
            action: Some("registration.release".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        events.items[0].before_state.as_deref(),
        Some(r#"{"status":"revoked"}"#)
    );
}

async fn the_audit_page_says_whether_the_chain_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    app.register(SW).await;
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;

    // Not verified on a plain view: the walk reads every event, so it runs when asked.
    let html = browser.get("/audit").await.text().await.unwrap();
    assert!(
        html.contains("has not been verified since this server started"),
        "{html}"
    );
    assert!(html.contains("href=\"/audit?verify=1\""));

    // The registration and alice's sign-in, at least.
    let events = app
        .audit(dcr_store::AuditQuery {
            ..Default::default()
        })
        .await
        .total;
    assert!(events >= 2);
    let verified = format!("Audit chain verified: {events} events");
    let html = browser.get("/audit?verify=1").await.text().await.unwrap();
    assert!(html.contains(&verified), "{html}");
    // The result is kept, with its time, for the next views.
    let html = browser
        .get("/audit?action=admin.sign_in")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&verified));
    assert!(html.contains("Checked"));

    // Someone with database access edits the registration's event.
    let tampered = "UPDATE audit_event SET reason = 'nothing to see' \
        WHERE action = 'registration.create'";
    match &app.store {
        dcr_store::Store::Sqlite(_, writer, ..) => {
            sqlx::query(tampered).execute(writer).await.unwrap();
        }
        dcr_store::Store::Postgres(pool, ..) => {
            sqlx::query(tampered).execute(pool).await.unwrap();
        }
    }
    let first = app
        .audit(dcr_store::AuditQuery {
            action: Some("registration.create".into()),
            ..Default::default()
        })
        .await
        .items[0]
        .audit_event_id;
    // A verification is reused for a few seconds; after that "Verify again" walks the chain.
    app.clock.advance(11);
    let html = browser.get("/audit?verify=1").await.text().await.unwrap();
    assert!(
        html.contains(&format!("Audit chain BROKEN at event {first}: the event")),
        "{html}"
    );
    assert!(html.contains("does not match its hash (edited)"));

    // The server function answers the hydrated page the same way.
    let res = browser
        .post("/api/audit-chain", &[("verify", "false")], "same-origin")
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["broken"]["event_id"], first);
}

/// The tamper check starts at the newest signed checkpoint, and shows a checkpoint whose
/// signature does not vouch for it as the break.
async fn the_tamper_check_starts_at_a_signed_checkpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    app.register(SW).await;
    add_admin(&app, "alice").await;
    let ring = server::keys::KeyRing::load_or_create(&app.store, app.now())
        .await
        .unwrap();
    let keys = server::checkpoints::verification_keys(&app.store, None)
        .await
        .unwrap();
    let (found, made) = server::checkpoints::make(&app.store, &keys, ring.active(), app.now(), 0)
        .await
        .unwrap();
    assert!(found.ok(), "{found:?}");
    let checkpoint = made.expect("a checkpoint over the events so far");
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let events = app.audit(dcr_store::AuditQuery::default()).await.total;
    let html = browser.get("/audit?verify=1").await.text().await.unwrap();
    assert!(
        html.contains(&format!("Audit chain verified: {events} events")),
        "{html}"
    );

    let tampered = "UPDATE audit_checkpoint SET event_count = event_count + 1";
    match &app.store {
        dcr_store::Store::Sqlite(_, writer, ..) => {
            sqlx::query(tampered).execute(writer).await.unwrap();
        }
        dcr_store::Store::Postgres(pool, ..) => {
            sqlx::query(tampered).execute(pool).await.unwrap();
        }
    }
    app.clock.advance(11);
    let html = browser.get("/audit?verify=1").await.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "Audit chain BROKEN at event {}: checkpoint {} is not trusted: what it says is not what was signed",
            checkpoint.audit_event_id, checkpoint.checkpoint_id
        )),
        "{html}"
    );
}

async fn sign_in_is_throttled_per_account_and_per_address(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    add_admin(&app, "bob").await;
    let browser = Browser::new(&app);
    for _ in 0..4 {
        assert_eq!(browser.sign_in("alice", "wrong").await, "/login?error=1");
    }
    assert_eq!(
        browser.sign_in("ALICE", "wrong").await,
        "/login?error=throttled",
        "the fifth failure locks the account, whatever the case of the name"
    );
    assert_eq!(
        browser.sign_in("alice", PASSWORD).await,
        "/login?error=throttled",
        "a locked account is refused even with the right password"
    );
    assert_eq!(
        browser.sign_in("bob", PASSWORD).await,
        "/overview",
        "other accounts are not locked"
    );
    // unknown accounts are throttled the same way (nothing to learn from the lock)
    for _ in 0..4 {
        assert_eq!(browser.sign_in("nobody", "x").await, "/login?error=1");
    }
    assert_eq!(
        browser.sign_in("nobody", "x").await,
        "/login?error=throttled"
    );

    // 20 failures from one address lock the address, for every account
    let mut last = String::new();
    for i in 0..11 {
        last = browser.sign_in(&format!("guess{i}"), "x").await;
    }
    assert_eq!(last, "/login?error=throttled");
    assert_eq!(
        browser.sign_in("bob", PASSWORD).await,
        "/login?error=throttled"
    );

    // after the lock, sign-in works again
    app.clock.advance(16 * 60);
    assert_eq!(browser.sign_in("bob", PASSWORD).await, "/overview");
    let locks = app
        .audit(dcr_store::AuditQuery {
            action: Some("admin.sign_in_locked".into()),
            ..Default::default()
        })
        .await;
    assert!(locks.total >= 2, "locks are audited");
    let states: Vec<&str> = locks
        .items
        .iter()
        .filter_map(|e| e.after_state.as_deref())
        .collect();
    assert!(
        states.iter().any(|s| s.contains(r#""username":"alice""#)),
        "an existing account is named: {states:?}"
    );
    assert!(
        states
            .iter()
            .all(|s| !s.contains("nobody") && !s.contains("guess")),
        "what was typed for no account is not kept: {states:?}"
    );
    let failures = app
        .audit(dcr_store::AuditQuery {
            action: Some("admin.sign_in_failed".into()),
            per_page: 100,
            ..Default::default()
        })
        .await;
    assert_eq!(failures.total, 20, "every judged failure is audited");
    let named = |name: &str| {
        failures
            .items
            .iter()
            .filter(|e| e.after_state.as_deref().unwrap_or("").contains(name))
            .count()
    };
    assert_eq!(
        named(r#""username":"alice""#),
        5,
        "failures name the account"
    );
    assert_eq!(named(r#""username":null"#), 15, "or no one");
    assert!(
        failures.items.iter().all(|e| {
            let s = e.after_state.as_deref().unwrap_or("");
            !s.contains("nobody") && !s.contains("guess")
        }),
        "what was typed for no account is not kept"
    );
}

async fn state_changing_requests_must_come_from_the_portal(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let form = [("q", ""), ("status", ""), ("sort", ""), ("page", "1")];
    for site in ["cross-site", "same-site", "none"] {
        let res = browser.post("/api/registrations", &form, site).await;
        assert_eq!(res.status(), 403, "server function from {site}");
        let res = browser
            .post(
                "/registrations/x/revoke",
                &[("reason", "csrf"), ("confirm", "yes")],
                site,
            )
            .await;
        assert_eq!(res.status(), 403, "revoke from {site}");
        let res = browser
            .post(
                "/registrations/x/release",
                &[("reason", "csrf"), ("confirm", "yes")],
                site,
            )
            .await;
        assert_eq!(res.status(), 403, "release from {site}");
        let res = browser.post("/auth/logout", &[], site).await;
        assert_eq!(res.status(), 403, "sign-out from {site}");
    }
    // neither Sec-Fetch-Site nor Origin: refused
    let res = browser
        .http
        .post(format!("{}/api/registrations", browser.base))
        .header(COOKIE, browser.cookie_header())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // a matching Origin (older browsers) is accepted
    let host = browser.base.trim_start_matches("http://").to_string();
    let res = browser
        .http
        .post(format!("{}/api/registrations", browser.base))
        .header(COOKIE, browser.cookie_header())
        .header("origin", format!("http://{host}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["total"], 0);
    // same origin, signed in: the server function answers
    let res = browser
        .post("/api/registrations", &form, "same-origin")
        .await;
    assert_eq!(res.status(), 200);
}

async fn server_functions_need_a_session_and_say_so_as_json(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let browser = Browser::new(&app);
    let res = browser
        .post(
            "/api/registrations",
            &[("q", ""), ("status", ""), ("sort", ""), ("page", "1")],
            "same-origin",
        )
        .await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    let res = browser.get("/audit").await;
    assert_eq!(
        location(&res),
        "/login?next=%2Faudit",
        "back to the page after sign-in"
    );
}

async fn server_function_errors_carry_the_status_of_their_cause(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    /// A server function, its form, and the status and error it must answer with.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: [Case; 4] = [
        (
            "/api/registration",
            &[("client_id", "no-such-client")],
            404,
            "not_found",
        ),
        (
            "/api/registrations",
            &[("q", ""), ("status", ""), ("sort", ""), ("page", "abc")],
            400,
            "invalid",
        ),
        ("/api/audit-chain", &[], 400, "invalid"),
        ("/api/audit-chain", &[("verify", "maybe")], 400, "invalid"),
    ];
    for (path, form, status, error) in cases {
        let res = browser.post(path, form, "same-origin").await;
        assert_eq!(res.status(), status, "{path} {form:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], error, "{path} {form:?}");
    }
}

async fn a_password_change_ends_the_accounts_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let (a, b) = (Browser::new(&app), Browser::new(&app));
    a.sign_in("alice", PASSWORD).await;
    b.sign_in("alice", PASSWORD).await;
    let before = a.cookies.lock().unwrap().get("dcr_session").cloned();
    assert_eq!(b.get("/account").await.status(), 200);

    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        let a = &a;
        async move {
            let res = a
                .post(
                    "/account/password",
                    &[
                        ("current_password", current),
                        ("new_password", new),
                        ("confirm_password", confirm),
                    ],
                    "same-origin",
                )
                .await;
            location(&res)
        }
    };
    assert_eq!(
        change(PASSWORD, "short", "short").await,
        "/account?error=short"
    );
    assert_eq!(
        change(PASSWORD, "a long new password", "another one").await,
        "/account?error=mismatch"
    );
    assert_eq!(
        change(
            "wrong current",
            "a long new password",
            "a long new password"
        )
        .await,
        "/account?error=current"
    );
    assert_eq!(
        change(PASSWORD, PASSWORD, PASSWORD).await,
        "/account?error=same"
    );
    // (one second later, so the account's version changes)
    app.clock.advance(1);
    assert_eq!(
        change(PASSWORD, "a long new password", "a long new password").await,
        "/account?changed=1"
    );
    let after = a.cookies.lock().unwrap().get("dcr_session").cloned();
    assert_ne!(before, after, "the session id is rotated");
    assert_eq!(
        a.get("/account").await.status(),
        200,
        "this session goes on"
    );
    let res = b.get("/account").await;
    assert_eq!(
        location(&res),
        "/login?error=expired&next=%2Faccount",
        "the other session ended"
    );

    let c = Browser::new(&app);
    assert_eq!(c.sign_in("alice", PASSWORD).await, "/login?error=1");
    assert_eq!(c.sign_in("alice", "a long new password").await, "/overview");
    let events = app
        .audit(dcr_store::AuditQuery {
            actor: Some("admin:alice".into()),
            action: Some("admin.password_change".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(events.total, 1);
}

async fn recipient_text_is_escaped_in_rendered_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let mut seed = dcr_devtools::seed::registration(7, 8, 0, app.now());
    seed.registration.org_name = "\"><svg onload=alert(2)>".into();
    let client_id = seed.registration.client_id.clone();
    let mut breakout = dcr_devtools::seed::registration(6, 8, 0, app.now());
    breakout.registration.client_name = "</title><script>alert(3)</script>".into();
    let breakout_id = breakout.registration.client_id.clone();
    app.store
        .insert_registrations_bulk(&[seed, breakout])
        .await
        .unwrap();
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    // Each page shows the hostile text, escaped (so it was rendered, not left out), and no
    // markup of its own.
    let svg = "&lt;svg onload=alert(2)&gt;";
    let script = "&lt;/title&gt;&lt;script&gt;alert(3)&lt;/script&gt;";
    for (path, shown) in [
        ("/".to_string(), vec![svg, script]),
        (format!("/registrations/{client_id}"), vec![svg]),
        (
            format!("/?q={}", "%3Cimg%20src%3Dx%3E"),
            vec!["&lt;img src=x&gt;"],
        ),
        (format!("/registrations/{breakout_id}"), vec![script]),
    ] {
        let res = browser.get(&path).await;
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        for escaped in shown {
            assert!(html.contains(escaped), "{path} shows {escaped}");
        }
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(!html.contains("</title><script"), "{path}");
        assert!(!html.contains("<svg onload"), "{path}");
    }
}

/// Past 10,000 matches a search is not counted to the end: the page says "more than 10,000",
/// names no last page, and pages stop at the 400th with a message; the whole list is counted
/// exactly and its last page holds the oldest registrations; the audit log likewise.
async fn large_lists_are_counted_to_ten_thousand_and_paged_to_their_end(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let n = 10_030;
    let seeds: Vec<_> = (0..n)
        .map(|i| dcr_devtools::seed::registration(i, n, 0, app.now()))
        .collect();
    let oldest = seeds[0].registration.client_id.clone();
    app.store.insert_registrations_bulk(&seeds).await.unwrap();
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let page = |path: &'static str| {
        let browser = &browser;
        async move {
            let res = browser.get(path).await;
            assert_eq!(res.status(), 200, "{path}");
            res.text().await.unwrap()
        }
    };

    // Every seeded client_id holds "-00c1-4000-": a search that matches them all.
    let html = page("/?q=-00c1-4000-").await;
    assert!(html.contains("More than 10,000 registrations"), "{html}");
    assert!(html.contains("Showing 1–25 of more than 10,000"));
    assert!(html.contains(r#"<span class="pager-page">Page 1</span>"#));
    assert!(html.contains(r#"<span aria-disabled="true" class="btn btn-ghost">Last »</span>"#));
    assert!(html.contains(r#"rel="next""#));
    let html = page("/?q=-00c1-4000-&page=400").await;
    assert!(html.contains("Showing 9,976–10,000 of more than 10,000"));
    let html = page("/?q=-00c1-4000-&page=401").await;
    assert!(html.contains("This page is past the end"));
    assert!(html.contains(
        "More than 10,000 registrations match: the first 10,000 are listed, on 400 pages. \
         Narrow the search to find the others."
    ));
    assert!(html.contains("Go to page 400"));

    // The whole list: exact, and its last page ends with the oldest registration.
    let html = page("/?page=402").await;
    assert!(html.contains("Showing 10,026–10,030 of 10,030"), "{html}");
    assert!(html.contains("Page 402 of 402"));
    assert!(html.contains(&oldest));
    let html = page("/").await;
    assert!(html.contains(r#"rel="last""#));

    // The audit log: one creation event per registration, and the sign-in.
    let html = page("/audit").await;
    assert!(html.contains("Showing 1–50 of more than 10,000"), "{html}");
    let html = page("/audit?page=201").await;
    assert!(html.contains("More than 10,000 events match: the newest 10,000 are listed"));
    let html = page("/audit?action=admin.sign_in").await;
    assert!(
        !html.contains("more than"),
        "a narrower filter is counted exactly"
    );
}

/// Building a server lists the portal's routes by rendering the app with resource loading
/// suppressed through a process-wide flag of leptos: a page that another server of the same
/// process rendered meanwhile waited forever on its resources (this test's pages hung before
/// the routes were listed once per process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_other_servers_start() {
    let app = spawn_app(Backend::Sqlite).await;
    real_time(&app);
    add_admin(&app, "alice").await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let starting = tokio::spawn(async {
        for _ in 0..8 {
            drop(spawn_app(Backend::Sqlite).await);
        }
    });
    let mut pages = 0;
    while !starting.is_finished() || pages == 0 {
        let page = async {
            let res = browser.get("/account").await;
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        };
        let html = tokio::time::timeout(std::time::Duration::from_secs(20), page)
            .await
            .expect("a page rendered while another server started never finished");
        assert!(html.contains("Signed in as"), "{html}");
        pages += 1;
    }
    starting.await.unwrap();
}

both_backends!(
    revoking_in_the_portal_takes_effect_on_the_api_at_once,
    a_brand_is_revoked_in_one_step_and_shown_as_one_group,
    a_recipient_that_lost_its_client_id_registers_again_after_a_release,
    the_audit_page_says_whether_the_chain_verifies,
    the_tamper_check_starts_at_a_signed_checkpoint,
    sign_in_is_throttled_per_account_and_per_address,
    state_changing_requests_must_come_from_the_portal,
    server_functions_need_a_session_and_say_so_as_json,
    server_function_errors_carry_the_status_of_their_cause,
    a_password_change_ends_the_accounts_other_sessions,
    recipient_text_is_escaped_in_rendered_pages,
    large_lists_are_counted_to_ten_thousand_and_paged_to_their_end,
);
