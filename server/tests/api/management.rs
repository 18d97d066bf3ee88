//! GET / PUT / DELETE /register/{client_id}: the checks of docs/dcr-rules.md §9.2 in order, PUT semantics
//! (§7), DELETE consequences (§10.3), and a full lifecycle.

use dcr_core::testutil;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, Backend};

const SW: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";

fn www(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The audit actions recorded about `client_id`, newest first.
async fn audit_actions(app: &crate::helpers::TestApp, client_id: &str) -> Vec<String> {
    let audit = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(client_id.to_string()),
            ..Default::default()
        })
        .await;
    audit.items.into_iter().map(|e| e.action).collect()
}

async fn lifecycle_register_read_update_delete_register_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let token = app.token(&client_id).await;

    // Read back.
    let res = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let got: Value = res.json().await.unwrap();
    assert_eq!(got, created, "GET returns what POST returned");

    // Update with a new SSA (changed name and redirect URIs).
    app.clock.advance(60);
    let ssa = app.ssa(SW, json!({"client_name": "Renamed Product", "redirect_uris": ["https://www.mockcompany.com.au/new"]}));
    let claims = testutil::patched(
        &app.request_claims(SW, &ssa),
        &json!({"redirect_uris": ["https://www.mockcompany.com.au/new"]}),
    );
    let res = app
        .put_registration(&client_id, &token, app.sign_request(&claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["client_id"], client_id, "client_id kept");
    assert_eq!(
        updated["client_id_issued_at"], created["client_id_issued_at"],
        "issued_at kept"
    );
    assert_eq!(updated["client_name"], "Renamed Product");
    assert_eq!(updated["software_statement"], ssa);
    let got: Value = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, updated);

    // Delete: 204, then the token is useless at once, and the product can register again.
    let res = app
        .client
        .delete(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .delete(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "deleting twice");
    let again = app.register(SW).await;
    assert_ne!(again["client_id"], created["client_id"]);
    // The old client cannot get a token any more.
    let res = app
        .token_request(
            &app.client,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &app.assertion(&client_id, json!({}))),
                ("scope", "cdr:registration"),
            ],
        )
        .await;
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));

    let audit = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(client_id),
            ..Default::default()
        })
        .await;
    let actions: Vec<_> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "registration.delete",
            "registration.update",
            "registration.create"
        ]
    );
    assert!(audit.items[1]
        .before_state
        .as_deref()
        .unwrap()
        .contains("Mock Software"));
    assert!(audit.items[1]
        .after_state
        .as_deref()
        .unwrap()
        .contains("Renamed Product"));
}

async fn checks_run_in_the_order_of_section_9_2(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let token = app.token(&client_id).await;
    let url = app.client_url(&client_id);

    // 1. No client certificate.
    let res = app.anon.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_of(res).await.0, 403);
    // 2. No bearer token.
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(www(&res), "Bearer");
    // Tokens only from the Authorization header.
    let res = app
        .client
        .get(format!("{url}?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // 3. Invalid token: garbage, tampered signature, expired exactly at exp.
    let res = app
        .client
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains("error=\"invalid_token\""),
        "{}",
        www(&res)
    );
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let res = app
        .client
        .get(&url)
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // 4. Holder of key: the same token over another client certificate.
    let res = app
        .client_b
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(www(&res).contains("invalid_token"));
    let (_, error, body) = error_of(res).await;
    assert_eq!(error, "invalid_token");
    assert_eq!(
        body["error_description"],
        "ERR-AUTH-001: Holder of Key check failed"
    );
    // 6. Token of another client / unknown client id.
    let res = app
        .client
        .get(app.client_url("00000000-0000-0000-0000-000000000000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        www(&res),
        "Bearer error=\"invalid_request\", error_description=\"The client is unknown\""
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "The client is unknown"})
    );
    // Expiry is exact: valid one second before exp, refused at exp.
    app.clock.advance(299);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance(1);
    let res = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The ACCC reference's words and date format (exp = NOW + 300 s, UTC).
    let expired = "The token expired at '01/15/2027 08:05:00'";
    assert_eq!(
        www(&res),
        format!("Bearer error=\"invalid_token\", error_description=\"{expired}\"")
    );
    let (_, _, body) = error_of(res).await;
    assert_eq!(body["error_description"], expired);
}

async fn a_token_without_the_registration_scope_is_403(backend: Backend) {
    // A token signed by the server with another scope: sign one with the server's own key to
    // reach check 5 (our token endpoint never issues such a token).
    let app = spawn_app(backend).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let stored = app.store.signing_keys().await.unwrap();
    let key =
        dcr_core::jose::SigningKey::from_pkcs8_pem(&stored[0].private_pem, stored[0].kid.clone())
            .unwrap();
    let thumb = dcr_core::jose::thumbprint_x5t_s256(&app.pki.client_a.cert_der);
    let claims = dcr_core::token::AccessTokenClaims {
        iss: app.issuer.clone(),
        sub: client_id.clone(),
        client_id: client_id.clone(),
        scope: "openid".into(),
        iat: app.now(),
        exp: app.now() + 300,
        jti: "j".into(),
        cnf: dcr_core::token::Cnf { x5t_s256: thumb },
        aud: app.issuer.clone(),
    };
    let token = dcr_core::token::issue_access_token(&key, &claims).unwrap();
    let res = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(www(&res).contains("insufficient_scope"));
    let (_, error, _) = error_of(res).await;
    assert_eq!(error, "insufficient_scope");
}

async fn put_refuses_another_software_id_and_bad_metadata(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let token = app.token(&client_id).await;
    let put = |body: String| app.put_registration(&client_id, &token, body);
    let (status, error, _) = error_of(
        put(app.request("another-product", json!({})))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client_metadata"),
        "software_id cannot change"
    );
    let (status, error, _) = error_of(
        put(app.request(SW, json!({"redirect_uris": ["https://evil.example"]})))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "invalid_redirect_uri"));
    let (status, error, _) = error_of(
        put(app.request(SW, json!({"software_statement": null})))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client_metadata"),
        "PUT without SSA (docs/dcr-rules.md §7, WSO2 OB-1167)"
    );
    let (status, error, _) = error_of(
        put(app.request(SW, json!({"software_statement": "abc"})))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_software_statement"),
        "PUT with an unreadable SSA"
    );
    let res = app
        .client
        .put(app.client_url(&client_id))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    // Nothing changed.
    let got: Value = app
        .client
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, created);
}

/// One recipient's token never reaches another's registration: A's valid, certificate-bound
/// token on B's GET, PUT and DELETE is refused like an unknown client, and B is unchanged.
async fn a_token_of_one_client_cannot_touch_another_clients_registration(backend: Backend) {
    const SW_B: &str = "0b7d9a31-2f4e-4c5a-9e1d-6a8b3c2d1e0f";
    let app = spawn_app(backend).await;
    let a = app.register(SW).await;
    let b = app.register(SW_B).await;
    let a_id = a["client_id"].as_str().unwrap();
    let b_id = b["client_id"].as_str().unwrap().to_string();
    assert_ne!(a_id, b_id);
    let token_a = app.token(a_id).await;
    let stored_b = app.store.get_registration(&b_id).await.unwrap().unwrap();
    let unknown = json!({"error": "invalid_request", "error_description": "The client is unknown"});
    let www_unknown =
        "Bearer error=\"invalid_request\", error_description=\"The client is unknown\"";

    let ssa = app.ssa(SW_B, json!({"client_name": "Taken Over"}));
    let put_body = app.sign_request(&app.request_claims(SW_B, &ssa));
    let url = app.client_url(&b_id);
    for (method, req) in [
        ("GET", app.client.get(&url)),
        (
            "PUT",
            app.client
                .put(&url)
                .header("content-type", "application/jwt")
                .body(put_body),
        ),
        ("DELETE", app.client.delete(&url)),
    ] {
        let res = req.bearer_auth(&token_a).send().await.unwrap();
        assert_eq!(
            (res.status().as_u16(), www(&res).as_str()),
            (401, www_unknown),
            "{method}"
        );
        assert_eq!(res.json::<Value>().await.unwrap(), unknown, "{method}");
    }

    // B is unchanged, in the store and to its own token.
    let after = app.store.get_registration(&b_id).await.unwrap().unwrap();
    assert_eq!(after, stored_b);
    let token_b = app.token(&b_id).await;
    let res = app
        .client
        .get(app.client_url(&b_id))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), b);
    // And nothing was audited against B but its creation.
    assert_eq!(audit_actions(&app, &b_id).await, ["registration.create"]);
}

/// A request JWT is good for one write: the same PUT sent twice is refused the second time, as
/// is the POST's own request JWT sent as a PUT; the registration keeps the first update.
async fn a_replayed_put_request_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let ssa = app.ssa(SW, json!({}));
    let post_jwt = app.sign_request(&app.request_claims(SW, &ssa));
    let res = app.post_register(&post_jwt).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let token = app.token(&client_id).await;
    let put = |body: String| app.put_registration(&client_id, &token, body);
    let replayed = json!({"error": "invalid_client_metadata", "error_description": "The 'jti' claim value has already been used."});

    let (status, _, body) = error_of(put(post_jwt).await.unwrap()).await;
    assert_eq!(
        (status, &body),
        (400, &replayed),
        "the POST's request JWT as a PUT"
    );

    app.clock.advance(30);
    let ssa = app.ssa(SW, json!({"client_name": "First Update"}));
    let put_jwt = app.sign_request(&app.request_claims(SW, &ssa));
    let res = put(put_jwt.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["client_name"], "First Update");
    let stored = app
        .store
        .get_registration(&client_id)
        .await
        .unwrap()
        .unwrap();

    let (status, _, body) = error_of(put(put_jwt).await.unwrap()).await;
    assert_eq!((status, &body), (400, &replayed), "the same PUT again");
    assert_eq!(
        app.store
            .get_registration(&client_id)
            .await
            .unwrap()
            .unwrap(),
        stored
    );
    assert_eq!(
        audit_actions(&app, &client_id).await,
        ["registration.update", "registration.create"]
    );
}

both_backends!(
    lifecycle_register_read_update_delete_register_again,
    checks_run_in_the_order_of_section_9_2,
    a_token_without_the_registration_scope_is_403,
    put_refuses_another_software_id_and_bad_metadata,
    a_token_of_one_client_cannot_touch_another_clients_registration,
    a_replayed_put_request_is_refused,
);
