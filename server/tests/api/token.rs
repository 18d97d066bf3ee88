//! The token endpoint: private_key_jwt client authentication (docs/dcr-rules.md §9.1), scopes, binding.

use base64::Engine as _;
use dcr_core::testutil::test_keys;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, Backend, TestApp};

const SW: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn issues_a_certificate_bound_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let assertion = app.assertion(&client_id, json!({}));
    let res = app
        .token_request(
            &app.client,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
                ("scope", "cdr:registration"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "cdr:registration");
    let token = body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        dcr_core::jose::thumbprint_x5t_s256(&app.pki.client_a.cert_der)
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["client_id"], client_id);
}

async fn accepts_issuer_and_token_endpoint_audiences_and_optional_client_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    for aud in [app.issuer.clone(), format!("{}/token", app.issuer)] {
        let a = app.assertion(&client_id, json!({"aud": aud}));
        let res = app
            .token_request(
                &app.client,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &a),
                    ("client_id", &client_id),
                ],
            )
            .await;
        assert_eq!(res.status(), 200, "aud {aud}");
    }
    // The assertion's algorithm is the registered token_endpoint_auth_signing_alg (PS256 here).
    let a = app.assertion_signed(&client_id, json!({}), &test_keys().adr_es256);
    let res = grant(&app, &a).await;
    let (status, error, _) = error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client"),
        "ES256 assertion of a PS256 client"
    );
    // A client registered for ES256 authenticates with ES256.
    let es_sw = "9a3b2c1d-0000-4000-8000-0000000e5256";
    let res = app
        .post_register(&app.request(es_sw, json!({"token_endpoint_auth_signing_alg": "ES256"})))
        .await;
    assert_eq!(res.status(), 201);
    let es_client: Value = res.json().await.unwrap();
    let es_client = es_client["client_id"].as_str().unwrap();
    let a = app.assertion_signed(es_client, json!({}), &test_keys().adr_es256);
    let res = grant(&app, &a).await;
    assert_eq!(
        res.status(),
        200,
        "ES256 assertion of an ES256 client, scope defaulted"
    );
}

async fn every_client_authentication_failure_is_an_rfc6749_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ok = app.assertion(&client_id, json!({}));
    let now = app.now();
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no grant_type",
            vec![
                ("client_assertion_type", JWT_BEARER.into()),
                ("client_assertion", ok.clone()),
            ],
            400,
            "invalid_request",
        ),
        (
            "password grant",
            vec![
                ("grant_type", "password".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                ("client_assertion", ok.clone()),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            "no assertion",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
            ],
            400,
            "invalid_client",
        ),
        (
            "wrong assertion type",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", "urn:other".into()),
                ("client_assertion", ok.clone()),
            ],
            400,
            "invalid_client",
        ),
        (
            "unknown client",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                ("client_assertion", app.assertion("nobody", json!({}))),
            ],
            400,
            "invalid_client",
        ),
        (
            "iss differs from sub",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    app.assertion(&client_id, json!({"sub": "x"})),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "client_id differs",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                ("client_assertion", ok.clone()),
                ("client_id", "other".into()),
            ],
            400,
            "invalid_client",
        ),
        (
            "wrong audience",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    app.assertion(&client_id, json!({"aud": "https://elsewhere"})),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "expired",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    app.assertion(&client_id, json!({"iat": now - 900, "exp": now - 600})),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "no exp",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    app.assertion(&client_id, json!({"exp": null})),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "no jti",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    app.assertion(&client_id, json!({"jti": null})),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "signed by an untrusted key",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    dcr_core::testutil::sign_with_header(
                        &test_keys().impostor,
                        &json!({"alg": "PS256", "kid": "adr-ps256"}),
                        &dcr_core::testutil::client_assertion_claims(
                            &client_id,
                            &format!("{}/token", app.issuer),
                            now,
                        ),
                    )
                    .unwrap(),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "alg none",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                (
                    "client_assertion",
                    dcr_core::testutil::unsigned_jwt(
                        &json!({"alg": "none"}),
                        &dcr_core::testutil::client_assertion_claims(&client_id, &app.issuer, now),
                        b"",
                    ),
                ),
            ],
            400,
            "invalid_client",
        ),
        (
            "data scope",
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_assertion_type", JWT_BEARER.into()),
                ("client_assertion", app.assertion(&client_id, json!({}))),
                ("scope", "bank:accounts.basic:read".into()),
            ],
            400,
            "invalid_scope",
        ),
    ];
    let mut failures = Vec::new();
    for (name, form, status, error) in cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, e, body) = error_of(app.token_request(&app.client, &form).await).await;
        if s != status || e != error {
            failures.push(format!("{name}: expected {status} {error}, got {s} {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn assertion_jti_is_single_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = app.assertion(&client_id, json!({}));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", a.as_str()),
    ];
    assert_eq!(app.token_request(&app.client, &form).await.status(), 200);
    let (status, error, _) = error_of(app.token_request(&app.client, &form).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
}

async fn token_endpoint_needs_a_client_certificate_and_a_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = app.assertion(&client_id, json!({}));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", a.as_str()),
    ];
    let (status, error, _) = error_of(app.token_request(&app.anon, &form).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    let res = app
        .client
        .post(format!("{}/token", app.base))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

/// A form of 16,000 distinct parameters (64 KB) is refused after its 33rd, for less than a
/// normal token request costs; the same holds at arrangement revocation, which shares the form.
async fn a_form_of_thousands_of_parameters_is_refused_cheaply(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    // 16,000 distinct three-letter names, no values: 64,000 bytes, under the 64 KiB body cap.
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let hostile: String = (0..16_000usize)
        .map(|i| {
            let n = letters.len();
            [i / (n * n), i / n % n, i % n]
                .iter()
                .map(|&d| letters[d])
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(hostile.len(), 63_999);
    let post = |path: &'static str, body: String| {
        app.client
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    for path in ["/token", "/arrangements/revoke"] {
        let (status, error, body) = error_of(post(path, hostile.clone()).await.unwrap()).await;
        assert_eq!(
            (
                status,
                error.as_str(),
                body["error_description"].as_str().unwrap()
            ),
            (
                400,
                "invalid_request",
                "The form has more than 32 parameters"
            ),
            "{path}"
        );
    }
    // Cost: 20 hostile forms against 20 normal token requests, taken in turn so that the
    // machine's load weighs on both alike. Parsed in quadratic time, a hostile form cost about
    // 15 normal requests; the margin of 2 is for noise.
    const N: usize = 20;
    let assertions: Vec<String> = (0..N)
        .map(|_| app.assertion(&client_id, json!({})))
        .collect();
    let (mut hostile_time, mut normal_time) =
        (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for a in &assertions {
        let started = std::time::Instant::now();
        let res = post("/token", hostile.clone()).await.unwrap();
        assert_eq!(res.status(), 400);
        hostile_time += started.elapsed();
        let started = std::time::Instant::now();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", a.as_str()),
        ];
        assert_eq!(app.token_request(&app.client, &form).await.status(), 200);
        normal_time += started.elapsed();
    }
    assert!(
        hostile_time <= normal_time * 2,
        "{N} hostile forms took {hostile_time:?}, {N} normal token requests {normal_time:?}"
    );
}

async fn inactive_software_product_gets_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.store
        .set_register_status(&client_id, Some("INACTIVE"), Some("ACTIVE"), app.now())
        .await
        .unwrap();
    // Only the client itself learns the status: a forged assertion is refused as such.
    let forged = app.assertion_signed(&client_id, json!({}), &test_keys().impostor);
    let res = grant(&app, &forged).await;
    let (status, error, _) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    let a = app.assertion(&client_id, json!({}));
    let res = grant(&app, &a).await;
    let (status, error, _) = error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (
            403,
            "urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive"
        )
    );
}

async fn arrangement_revocation_authenticates_the_client_and_holds_no_arrangements(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let endpoint = format!("{}/arrangements/revoke", app.issuer);
    let revoke = |client: reqwest::Client, form: Vec<(&'static str, String)>| {
        let url = format!("{}/arrangements/revoke", app.base);
        async move { client.post(url).form(&form).send().await.unwrap() }
    };
    let form = |assertion: String, arrangement: Option<&str>| {
        let mut f = vec![
            ("client_assertion_type", JWT_BEARER.to_string()),
            ("client_assertion", assertion),
        ];
        if let Some(a) = arrangement {
            f.push(("cdr_arrangement_id", a.to_string()));
        }
        f
    };
    // Authenticated, with an arrangement this server does not hold: 422, CDS error code.
    let a = app.assertion(&client_id, json!({"aud": endpoint}));
    let res = revoke(
        app.client.clone(),
        form(a, Some("5a1bf696-ee03-408b-b315-97955415d1f0")),
    )
    .await;
    let (status, error, body) = error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (
            422,
            "urn:au-cds:error:cds-all:Authorisation/InvalidArrangement"
        )
    );
    assert_eq!(body["errors"][0]["code"], error);
    // The issuer is an accepted audience too; the arrangement id is required.
    let a = app.assertion(&client_id, json!({"aud": app.issuer}));
    let (status, error, _) = error_of(revoke(app.client.clone(), form(a, None)).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    // A forged assertion, a replayed one, no certificate: invalid_client.
    let forged = app.assertion_signed(&client_id, json!({"aud": endpoint}), &test_keys().impostor);
    let (status, error, _) =
        error_of(revoke(app.client.clone(), form(forged, Some("x"))).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    let a = app.assertion(&client_id, json!({"aud": endpoint, "jti": "once"}));
    let (status, error, _) =
        error_of(revoke(app.client.clone(), form(a.clone(), Some("x"))).await).await;
    assert_eq!(
        (status, error.as_str()),
        (
            422,
            "urn:au-cds:error:cds-all:Authorisation/InvalidArrangement"
        ),
        "the first use of the assertion authenticates"
    );
    let (status, error, _) = error_of(revoke(app.client.clone(), form(a, Some("x"))).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client"),
        "replayed jti"
    );
    let a = app.assertion(&client_id, json!({"aud": endpoint}));
    let (status, error, _) = error_of(revoke(app.anon.clone(), form(a, Some("x"))).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
}

/// A plain `client_credentials` request over certificate A with this assertion.
async fn grant(app: &TestApp, assertion: &str) -> reqwest::Response {
    app.token_request(
        &app.client,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

both_backends!(
    issues_a_certificate_bound_token,
    accepts_issuer_and_token_endpoint_audiences_and_optional_client_id,
    every_client_authentication_failure_is_an_rfc6749_error,
    assertion_jti_is_single_use,
    token_endpoint_needs_a_client_certificate_and_a_form,
    inactive_software_product_gets_no_token,
    arrangement_revocation_authenticates_the_client_and_holds_no_arrangements,
    a_form_of_thousands_of_parameters_is_refused_cheaply,
);
