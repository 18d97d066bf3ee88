//! POST /register: every row of docs/dcr-rules.md §6, the §7 response, and the store's guarantees.

use dcr_core::testutil::{self, test_keys};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, spawn_app_with, tls_alert, Backend, TestApp};

const SW: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";

async fn registration_succeeds_with_the_full_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let ssa = app.ssa(SW, json!({}));
    let req = app.sign_request(&app.request_claims(SW, &ssa));
    let res = app.post_register(&req).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(body["client_id"].as_str().unwrap()).is_ok());
    assert_eq!(body["client_id_issued_at"], app.now());
    assert_eq!(body["software_statement"], ssa, "SSA echoed verbatim");
    assert_eq!(body["software_id"], SW);
    assert_eq!(body["org_id"], testutil::ORG_ID);
    assert_eq!(body["client_name"], "Mock Software");
    assert_eq!(body["jwks_uri"], app.adr_jwks_uri());
    assert_eq!(body["redirect_uris"], json!([testutil::REDIRECT_URI]));
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["request_object_signing_alg"], "PS256");
    assert_eq!(body["application_type"], "web");
    let scope = body["scope"].as_str().unwrap();
    assert!(scope.contains("cdr:registration") && scope.contains("openid"));
    assert!(
        !scope.contains("telco:billing:read"),
        "unsupported scopes are filtered: {scope}"
    );
    assert!(
        body.get("iss").is_none() && body.get("jti").is_none(),
        "request claims are not echoed"
    );
    // Stored, with its audit event, and counted once.
    let stored = app
        .store
        .get_registration(body["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.ssa, ssa);
    let audit = app
        .audit(dcr_store::AuditQuery {
            client_id: Some(stored.client_id.clone()),
            ..Default::default()
        })
        .await;
    assert_eq!(audit.items.len(), 1);
    assert_eq!(audit.items[0].action, "registration.create");
}

async fn defaults_fill_omitted_optional_metadata(backend: Backend) {
    let app = spawn_app(backend).await;
    let req = app.request(SW, json!({ "redirect_uris": null, "request_object_signing_alg": null, "application_type": null }));
    let res = app.post_register(&req).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["redirect_uris"],
        json!([testutil::REDIRECT_URI, testutil::REDIRECT_URI_2]),
        "SSA redirect_uris by default"
    );
    assert_eq!(body["request_object_signing_alg"], "PS256");
    assert_eq!(body["application_type"], "web");
}

async fn es256_signed_requests_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let ssa = app.ssa(SW, json!({}));
    let claims = testutil::patched(
        &app.request_claims(SW, &ssa),
        &json!({"token_endpoint_auth_signing_alg": "ES256"}),
    );
    let req = test_keys().adr_es256.sign(&claims).unwrap();
    assert_eq!(app.post_register(&req).await.status(), 201);
}

/// One failing case: a request builder, the expected status and `error`.
struct Case {
    name: &'static str,
    build: Box<dyn Fn(&TestApp) -> String>,
    status: u16,
    error: &'static str,
    /// The exact `error_description`, where a reference implementation's tests compare it.
    description: Option<&'static str>,
}

impl Case {
    fn says(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }
}

fn case(
    name: &'static str,
    status: u16,
    error: &'static str,
    build: impl Fn(&TestApp) -> String + 'static,
) -> Case {
    Case {
        name,
        build: Box::new(build),
        status,
        error,
        description: None,
    }
}

fn req_patch(p: Value) -> impl Fn(&TestApp) -> String {
    move |app: &TestApp| app.request(SW, p.clone())
}

fn ssa_patch(p: Value) -> impl Fn(&TestApp) -> String {
    move |app: &TestApp| {
        let ssa = app.ssa(SW, p.clone());
        app.sign_request(&app.request_claims(SW, &ssa))
    }
}

fn cases() -> Vec<Case> {
    const MD: &str = "invalid_client_metadata";
    const SS: &str = "invalid_software_statement";
    const SSA_FAILED: &str = "ERR-DCR-005: SSA validation failed.";
    vec![
        // Row 2: compact JWS with PS256/ES256 only.
        case("body is not a JWT", 400, MD, |_| "not a jwt".into()),
        case("empty body", 400, MD, |_| String::new())
            .says("ERR-DCR-002: Registration request is empty"),
        case("alg none", 400, MD, |app| {
            let ssa = app.ssa(SW, json!({}));
            testutil::unsigned_jwt(
                &json!({"alg": "none", "typ": "JWT"}),
                &app.request_claims(SW, &ssa),
                b"",
            )
        }),
        case("alg HS256", 400, MD, |app| {
            let ssa = app.ssa(SW, json!({}));
            testutil::unsigned_jwt(
                &json!({"alg": "HS256", "kid": "adr-ps256"}),
                &app.request_claims(SW, &ssa),
                b"0123456789abcdef0123456789abcdef",
            )
        }),
        case("alg RS256", 400, MD, |app| {
            let ssa = app.ssa(SW, json!({}));
            testutil::sign_with_header(
                &test_keys().adr_ps256,
                &json!({"alg": "RS256", "kid": "adr-ps256"}),
                &app.request_claims(SW, &ssa),
            )
            .unwrap()
        }),
        // Row 3: software_statement present and parseable.
        case(
            "software_statement missing",
            400,
            SS,
            req_patch(json!({"software_statement": null})),
        ),
        case(
            "software_statement garbage",
            400,
            SS,
            req_patch(json!({"software_statement": "abc"})),
        )
        .says("ERR-DCR-006: The software_statement is empty or invalid"),
        // Row 5: SSA signature, alg, iss, exp.
        case(
            "SSA signed by an impostor key with the Register's kid",
            400,
            SS,
            |app| {
                let claims = testutil::ssa_claims(SW, &app.adr_jwks_uri(), app.now());
                let ssa = test_keys().impostor.sign(&claims).unwrap();
                app.sign_request(&app.request_claims(SW, &ssa))
            },
        )
        .says(SSA_FAILED),
        case("SSA signed by an ADR key", 400, SS, |app| {
            let claims = testutil::ssa_claims(SW, &app.adr_jwks_uri(), app.now());
            let ssa = test_keys().adr_ps256.sign(&claims).unwrap();
            app.sign_request(&app.request_claims(SW, &ssa))
        })
        .says(SSA_FAILED),
        case("SSA expired", 400, SS, |app| {
            let ssa = app.ssa(SW, json!({"iat": app.now() - 1200, "exp": app.now() - 600}));
            app.sign_request(&app.request_claims(SW, &ssa))
        })
        .says(SSA_FAILED),
        case(
            "SSA wrong issuer",
            400,
            SS,
            ssa_patch(json!({"iss": "not-the-register"})),
        )
        .says(SSA_FAILED),
        // Row 6 and 7: mandatory SSA claims, jwks_uri absolute https.
        case(
            "SSA without org_id",
            400,
            SS,
            ssa_patch(json!({"org_id": null})),
        ),
        case(
            "SSA without software_id",
            400,
            SS,
            ssa_patch(json!({"software_id": null})),
        ),
        case(
            "SSA without redirect_uris",
            400,
            SS,
            ssa_patch(json!({"redirect_uris": null})),
        ),
        case(
            "SSA without jwks_uri",
            400,
            SS,
            ssa_patch(json!({"jwks_uri": null})),
        ),
        case(
            "SSA jwks_uri over plain http",
            400,
            SS,
            ssa_patch(json!({"jwks_uri": "http://adr.example/jwks"})),
        ),
        case(
            "SSA jwks_uri relative",
            400,
            SS,
            ssa_patch(json!({"jwks_uri": "/jwks"})),
        ),
        // Row 9: request signature and claims.
        case(
            "request signed by a key not in the ADR JWKS",
            400,
            MD,
            |app| {
                let ssa = app.ssa(SW, json!({}));
                testutil::sign_with_header(
                    &test_keys().impostor,
                    &json!({"alg": "PS256", "kid": "adr-ps256", "typ": "JWT"}),
                    &app.request_claims(SW, &ssa),
                )
                .unwrap()
            },
        ),
        case(
            "request iss differs from software_id",
            400,
            MD,
            req_patch(json!({"iss": "someone-else"})),
        ),
        case(
            "request aud is not the issuer",
            400,
            MD,
            req_patch(json!({"aud": "https://other-holder.example"})),
        ),
        case("request expired", 400, MD, |app| {
            app.request(SW, json!({"iat": app.now() - 600, "exp": app.now() - 300}))
        }),
        case("request issued in the future", 400, MD, |app| {
            app.request(SW, json!({"iat": app.now() + 600, "exp": app.now() + 900}))
        }),
        // Row 12: required claims.
        case(
            "request without jti",
            400,
            MD,
            req_patch(json!({"jti": null})),
        ),
        case(
            "request without exp",
            400,
            MD,
            req_patch(json!({"exp": null})),
        ),
        case(
            "request without iat",
            400,
            MD,
            req_patch(json!({"iat": null})),
        ),
        case(
            "request without iss",
            400,
            MD,
            req_patch(json!({"iss": null})),
        ),
        case(
            "request without aud",
            400,
            MD,
            req_patch(json!({"aud": null})),
        ),
        // Rows 13 to 22: metadata.
        case(
            "token_endpoint_auth_signing_alg RS256",
            400,
            MD,
            req_patch(json!({"token_endpoint_auth_signing_alg": "RS256"})),
        ),
        case(
            "token_endpoint_auth_signing_alg missing",
            400,
            MD,
            req_patch(json!({"token_endpoint_auth_signing_alg": null})),
        ),
        case(
            "token_endpoint_auth_method client_secret_basic",
            400,
            MD,
            req_patch(json!({"token_endpoint_auth_method": "client_secret_basic"})),
        ),
        case(
            "token_endpoint_auth_method missing",
            400,
            MD,
            req_patch(json!({"token_endpoint_auth_method": null})),
        ),
        case(
            "id_token_signed_response_alg missing",
            400,
            MD,
            req_patch(json!({"id_token_signed_response_alg": null})),
        ),
        case(
            "id_token_signed_response_alg RS256",
            400,
            MD,
            req_patch(json!({"id_token_signed_response_alg": "RS256"})),
        ),
        case(
            "grant_types missing",
            400,
            MD,
            req_patch(json!({"grant_types": null})),
        ),
        case(
            "grant_types without authorization_code",
            400,
            MD,
            req_patch(json!({"grant_types": ["client_credentials"]})),
        ),
        case(
            "grant_types unsupported value",
            400,
            MD,
            req_patch(json!({"grant_types": ["authorization_code", "password"]})),
        )
        .says("The 'grant_types' claim value must be one of 'client_credentials,authorization_code,refresh_token'."),
        case(
            "grant_types foo (ACCC JARM AC43)",
            400,
            MD,
            req_patch(json!({"grant_types": ["foo"]})),
        )
        .says("The 'grant_types' claim value must contain the 'authorization_code' value."),
        case(
            "request_object_signing_alg RS256",
            400,
            MD,
            req_patch(json!({"request_object_signing_alg": "RS256"})),
        ),
        case(
            "response_types missing",
            400,
            MD,
            req_patch(json!({"response_types": null})),
        ),
        case(
            "response_types hybrid",
            400,
            MD,
            req_patch(json!({"response_types": ["code id_token"]})),
        ),
        case(
            "response_types token",
            400,
            MD,
            req_patch(json!({"response_types": ["token"]})),
        ),
        case(
            "authorization_signed_response_alg missing",
            400,
            MD,
            req_patch(json!({"authorization_signed_response_alg": null})),
        )
        .says("The 'authorization_signed_response_alg' claim is missing."),
        case(
            "authorization_signed_response_alg empty (ACCC JARM AC05)",
            400,
            MD,
            req_patch(json!({"authorization_signed_response_alg": ""})),
        )
        .says("The 'authorization_signed_response_alg' claim is missing."),
        case(
            "authorization_signed_response_alg none",
            400,
            MD,
            req_patch(json!({"authorization_signed_response_alg": "none"})),
        ),
        case(
            "authorization_encrypted_response_enc without alg",
            400,
            MD,
            req_patch(json!({"authorization_encrypted_response_enc": "A128CBC-HS256"})),
        ),
        case(
            "authorization_encrypted_response_alg unsupported",
            400,
            MD,
            req_patch(json!({"authorization_encrypted_response_alg": "RSA1_5"})),
        ),
        case(
            "application_type native",
            400,
            MD,
            req_patch(json!({"application_type": "native"})),
        ),
        // Row 23: redirect_uris subset of the SSA's.
        case(
            "redirect_uri not in the SSA",
            400,
            "invalid_redirect_uri",
            req_patch(json!({"redirect_uris": ["https://evil.example/cb"]})),
        ),
        case(
            "one of two redirect_uris not in the SSA",
            400,
            "invalid_redirect_uri",
            req_patch(
                json!({"redirect_uris": [testutil::REDIRECT_URI, "https://www.mockcompany.com.au/other"]}),
            ),
        ),
    ]
}

async fn every_validation_rule_answers_its_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut failures = Vec::new();
    for c in cases() {
        let res = app.post_register(&(c.build)(&app)).await;
        let (status, error, body) = error_of(res).await;
        let described = c.description.is_none_or(|d| body["error_description"] == d);
        if status != c.status || error != c.error || !described {
            failures.push(format!(
                "{}: expected {} {} {:?}, got {status} {body}",
                c.name, c.status, c.error, c.description
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let page = app
        .store
        .search_registrations(&dcr_store::AdminListQuery {
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 0, "no failed request wrote anything");
}

async fn missing_client_certificate_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .post_register_with(&app.anon, &app.request(SW, json!({})), "application/jwt")
        .await;
    let (status, error, _) = error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (403, "client_certificate_required")
    );
}

/// `GET /healthz` over a raw TLS connection presenting `cert`: the HTTP answer, or the error
/// the connection ended with.
async fn raw_healthz(
    app: &TestApp,
    cert: &dcr_devtools::devcerts::IssuedCert,
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let chain = rustls_pemfile::certs(&mut cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut cert.key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(server::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(crate::helpers::roots(&app.ca_pem))
        .with_client_auth_cert(chain, key)
        .unwrap();
    let addr = app.base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?;
    Ok(answer)
}

async fn certificate_from_an_untrusted_ca_fails_the_handshake(backend: Backend) {
    let app = spawn_app(backend).await;
    let trusted = raw_healthz(&app, &app.pki.client_a).await.unwrap();
    assert!(trusted.starts_with("HTTP/1.1 200"), "{trusted}");
    // The server refuses the certificate with the TLS alert for an unknown issuer; no HTTP
    // answer comes back.
    let err = raw_healthz(&app, &app.pki.stranger).await.unwrap_err();
    assert_eq!(
        tls_alert(&err),
        Some(rustls::AlertDescription::UnknownCA),
        "{err:?}"
    );
}

/// A client certificate that the client CA's revocation list names is refused in the handshake
/// with the alert for a revoked certificate, as soon as the server has read the new list (it
/// checks the file every second in tests); other certificates of the CA still work.
async fn a_revoked_client_certificate_fails_the_handshake_once_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let served = |cert| {
        let app = &app;
        async move { raw_healthz(app, cert).await }
    };
    assert!(served(&app.pki.client_a)
        .await
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    app.pki.revoke(&[&app.pki.client_a]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let err = loop {
        match served(&app.pki.client_a).await {
            Err(e) => break e,
            Ok(answer) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "still served 20 s after the revocation: {answer}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(
        tls_alert(&err),
        Some(rustls::AlertDescription::CertificateRevoked),
        "{err:?}"
    );
    assert!(
        served(&app.pki.client_b)
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200"),
        "the CA's other certificates are still served"
    );
}

async fn wrong_content_type_is_415(backend: Backend) {
    let app = spawn_app(backend).await;
    for ct in [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        let res = app
            .post_register_with(&app.client, &app.request(SW, json!({})), ct)
            .await;
        let (status, error, _) = error_of(res).await;
        assert_eq!(status, 415, "{ct}");
        assert_eq!(error, "invalid_request");
    }
    let res = app
        .post_register_with(
            &app.client,
            &app.request(SW, json!({})),
            "application/jwt; charset=utf-8",
        )
        .await;
    assert_eq!(
        res.status(),
        201,
        "parameters on the media type are allowed"
    );
}

async fn duplicate_software_id_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register(SW).await;
    let res = app.post_register(&app.request(SW, json!({}))).await;
    let (status, error, body) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client_metadata"));
    assert_eq!(
        body["error_description"],
        "Duplicate registrations for a given software_id are not valid."
    );
    // Case-insensitively (Register GUIDs).
    let res = app
        .post_register(&app.request(&SW.to_uppercase(), json!({})))
        .await;
    assert_eq!(res.status(), 400);
}

async fn concurrent_duplicate_posts_give_exactly_one_201(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    let bodies: Vec<String> = (0..12).map(|_| app.request(SW, json!({}))).collect();
    let mut tasks = Vec::new();
    for b in bodies {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post_register(&b).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 400),
        "{statuses:?}"
    );
}

async fn replayed_request_jti_is_refused_and_a_reused_ssa_is_not(backend: Backend) {
    let app = spawn_app(backend).await;
    let ssa = app.ssa(SW, json!({}));
    let claims = app.request_claims(SW, &ssa);
    let req = app.sign_request(&claims);
    let first: Value = app.post_register(&req).await.json().await.unwrap();
    let client_id = first["client_id"].as_str().unwrap().to_string();
    // Delete, then replay the very same request JWT: the jti is spent.
    let token = app.token(&client_id).await;
    let res = app
        .client
        .delete(app.client_url(&client_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, error, _) = error_of(app.post_register(&req).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client_metadata"),
        "replayed jti"
    );
    // The same SSA in a fresh request (new jti) is fine.
    let fresh = app.sign_request(&dcr_core::testutil::patched(
        &claims,
        &json!({"jti": uuid::Uuid::new_v4().to_string()}),
    ));
    assert_eq!(app.post_register(&fresh).await.status(), 201);
}

async fn register_jwks_unavailable_is_503_not_a_client_error(backend: Backend) {
    let app = spawn_app(backend).await;
    app.stub.set("/register/jwks", 500, "oops");
    let (status, error, _) = error_of(app.post_register(&app.request(SW, json!({}))).await).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
}

/// The Register's JWKS goes down while registrations come in: past the set's TTL its last good
/// keys are still used within the grace period (a refresh is tried each time); with no grace
/// configured, the outage is a 503.
async fn a_register_jwks_outage_is_bridged_by_the_grace_period(backend: Backend) {
    const OTHERS: [&str; 2] = [
        "7d3b1f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "8e4c2a1b-2c3d-4e5f-9a01-b2c3d4e5f6a7",
    ];
    let app = spawn_app_with(backend, |raw| raw.outbound.jwks_ttl_secs = Some(1)).await;
    let strict = spawn_app_with(backend, |raw| {
        raw.outbound.jwks_ttl_secs = Some(1);
        raw.outbound.jwks_grace_secs = Some(0);
    })
    .await;
    for a in [&app, &strict] {
        a.register(SW).await;
        a.stub.set("/register/jwks", 503, "down");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let fetched = app.stub.hits("/register/jwks");
    for sw in OTHERS {
        let res = app.post_register(&app.request(sw, json!({}))).await;
        assert_eq!(
            res.status(),
            201,
            "{sw} during the outage, within the grace period"
        );
    }
    assert!(
        app.stub.hits("/register/jwks") > fetched,
        "a refresh was tried"
    );
    let (status, error, _) = error_of(
        strict
            .post_register(&strict.request(OTHERS[0], json!({})))
            .await,
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (503, "temporarily_unavailable"),
        "no grace"
    );
}

/// A recipient's `jwks_uri` and `sector_identifier_uri` may not lead to a loopback or other
/// non-public address unless the operator allows it: with no allowance, nothing is fetched and
/// the request is refused as the unreachable JWKS or document it is.
async fn recipient_urls_on_non_public_addresses_are_not_fetched(backend: Backend) {
    let app = spawn_app_with(backend, |raw| raw.outbound.allowed_addresses = None).await;
    let res = app.post_register(&app.request(SW, json!({}))).await;
    assert_recipient_jwks_refused(res, &app.adr_jwks_uri(), "").await;
    assert_eq!(app.stub.hits("/adr/jwks"), 0, "no request reached the stub");
    // The same through a name that resolves to loopback.
    let by_name = app.adr_jwks_uri().replace("127.0.0.1", "localhost");
    let ssa = app.ssa(SW, json!({ "jwks_uri": by_name }));
    let request = app.sign_request(&testutil::patched(
        &app.request_claims(SW, &ssa),
        &json!({}),
    ));
    let (status, error, _) = error_of(app.post_register(&request).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client_metadata"));
    assert_eq!(
        app.stub.hits("/adr/jwks"),
        0,
        "no request reached the stub by name either"
    );
}

async fn recipient_jwks_unavailable_is_invalid_client_metadata(backend: Backend) {
    let app = spawn_app(backend).await;
    app.stub.set("/adr/jwks", 404, "");
    let res = app.post_register(&app.request(SW, json!({}))).await;
    assert_recipient_jwks_refused(res, &app.adr_jwks_uri(), "").await;
    assert_eq!(app.stub.hits("/adr/jwks"), 1);
}

/// `res` is the refusal of a registration whose recipient JWKS at `uri` could not be loaded.
async fn assert_recipient_jwks_refused(res: reqwest::Response, uri: &str, case: &str) {
    let (status, error, body) = error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client_metadata"),
        "{case}"
    );
    assert_eq!(
        body["error_description"],
        format!("ERR-GEN-021: Could not load JWKS from Data Recipient endpoint: {uri}"),
        "{case}"
    );
}

/// `doc` followed by spaces up to exactly `len` bytes (still the same JSON document).
fn padded(doc: &[u8], len: usize) -> Vec<u8> {
    assert!(
        doc.len() <= len,
        "the document alone is {} bytes",
        doc.len()
    );
    let mut out = doc.to_vec();
    out.resize(len, b' ');
    out
}

/// The outbound size cap (`max_response_bytes`) on the documents a registration fetches: a
/// recipient's JWKS and a sector identifier document of exactly the cap are read, one byte
/// more is refused, whether the size is announced in `Content-Length` or only found while
/// reading. Each case has its own URI, so every answer comes from a fetch, not from a cache.
async fn outbound_documents_over_the_size_cap_are_refused(backend: Backend) {
    const CAP: usize = 8 * 1024;
    let app = spawn_app_with(backend, |raw| {
        raw.outbound.max_response_bytes = Some(CAP);
    })
    .await;
    let keys = test_keys();
    let jwks = testutil::jwks_bytes(&[&keys.adr_ps256, &keys.adr_es256]);
    let register = |software_id: String, patch: Value| {
        let ssa = app.ssa(&software_id, patch);
        app.sign_request(&app.request_claims(&software_id, &ssa))
    };
    for (n, (len, chunked, accepted)) in [
        (CAP, false, true),
        (CAP + 1, false, false),
        (CAP, true, true),
        (CAP + 1, true, false),
    ]
    .into_iter()
    .enumerate()
    {
        let case = format!("{len} bytes, chunked: {chunked}");
        let path = format!("/adr/jwks-{n}");
        let body = padded(&jwks, len);
        if chunked {
            app.stub.set_chunked(&path, 200, body);
        } else {
            app.stub.set(&path, 200, body);
        }
        let uri = format!("{}{path}", app.stub_base);
        let req = register(uuid::Uuid::new_v4().to_string(), json!({"jwks_uri": uri}));
        let res = app.post_register(&req).await;
        if accepted {
            assert_eq!(res.status(), 201, "recipient JWKS of {case}");
        } else {
            assert_recipient_jwks_refused(res, &uri, &case).await;
        }
        assert_eq!(
            app.stub.hits(&path),
            1,
            "recipient JWKS of {case} fetched once"
        );

        let path = format!("/sector-{n}.json");
        let doc = json!([testutil::REDIRECT_URI, testutil::REDIRECT_URI_2]).to_string();
        let body = padded(doc.as_bytes(), len);
        if chunked {
            app.stub.set_chunked(&path, 200, body);
        } else {
            app.stub.set(&path, 200, body);
        }
        let req = register(
            uuid::Uuid::new_v4().to_string(),
            json!({"sector_identifier_uri": format!("{}{path}", app.stub_base)}),
        );
        let res = app.post_register(&req).await;
        if accepted {
            assert_eq!(res.status(), 201, "sector identifier document of {case}");
        } else {
            let (status, error, body) = error_of(res).await;
            assert_eq!(
                (status, error.as_str()),
                (400, "invalid_client_metadata"),
                "{case}"
            );
            assert_eq!(
                body["error_description"], "ERR-DCR-007: Invalid sector_identifier_uri",
                "{case}"
            );
        }
        assert_eq!(
            app.stub.hits(&path),
            1,
            "sector document of {case} fetched once"
        );
    }
}

async fn unknown_kid_triggers_one_refetch(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register(SW).await;
    let before = app.stub.hits("/register/jwks");
    // The Register rotates: a new key appears at the JWKS, and SSAs are signed with it.
    let rotated = dcr_core::jose::SigningKey::generate_ps256("register-2", 2048).unwrap();
    app.stub.set(
        "/register/jwks",
        200,
        testutil::jwks_bytes(&[&test_keys().register, &rotated]),
    );
    let claims = testutil::ssa_claims("rotated-product", &app.adr_jwks_uri(), app.now());
    let ssa = rotated.sign(&claims).unwrap();
    let req = app.sign_request(&app.request_claims("rotated-product", &ssa));
    assert_eq!(app.post_register(&req).await.status(), 201);
    assert_eq!(
        app.stub.hits("/register/jwks"),
        before + 1,
        "exactly one refetch"
    );
    // An SSA with a kid nobody has: refetch is rate-limited, the answer is invalid_software_statement.
    let ghost = dcr_core::jose::SigningKey::generate_ps256("ghost", 2048).unwrap();
    let ssa = ghost
        .sign(&testutil::ssa_claims(
            "ghost-product",
            &app.adr_jwks_uri(),
            app.now(),
        ))
        .unwrap();
    let req = app.sign_request(&app.request_claims("ghost-product", &ssa));
    for _ in 0..3 {
        let (status, error, _) = error_of(app.post_register(&req).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_software_statement")
        );
    }
    assert!(
        app.stub.hits("/register/jwks") <= before + 2,
        "refetches are rate-limited"
    );
}

async fn sector_identifier_uri_is_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let sector = format!("{}/sector.json", app.stub_base);
    app.stub.set(
        "/sector.json",
        200,
        json!([testutil::REDIRECT_URI, testutil::REDIRECT_URI_2]).to_string(),
    );
    let ssa = app.ssa(SW, json!({"sector_identifier_uri": sector}));
    assert_eq!(
        app.post_register(&app.sign_request(&app.request_claims(SW, &ssa)))
            .await
            .status(),
        201
    );
    app.stub.set(
        "/sector.json",
        200,
        json!(["https://elsewhere.example/cb"]).to_string(),
    );
    // past the time a document is kept
    app.clock.advance(301);
    let ssa = app.ssa("p2", json!({"sector_identifier_uri": sector}));
    let (status, error, _) = error_of(
        app.post_register(&app.sign_request(&app.request_claims("p2", &ssa)))
            .await,
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client_metadata"),
        "redirect_uris not in the sector document"
    );
    // Row 11 comes before the metadata rules (rows 13 to 22).
    let mut claims = app.request_claims("p2", &ssa);
    claims["application_type"] = json!("native");
    let (_, error, body) = error_of(app.post_register(&app.sign_request(&claims)).await).await;
    assert_eq!(error, "invalid_client_metadata");
    assert_eq!(
        body["error_description"],
        "ERR-DCR-007: Invalid sector_identifier_uri"
    );
    app.stub.set("/sector.json", 500, "");
    app.clock.advance(301);
    let ssa = app.ssa("p3", json!({"sector_identifier_uri": sector}));
    let (status, error, _) = error_of(
        app.post_register(&app.sign_request(&app.request_claims("p3", &ssa)))
            .await,
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client_metadata"),
        "unreachable sector document"
    );
}

/// A sector identifier document is fetched once for a burst of registrations, kept for
/// `sector_identifier_ttl_secs` (300) at most, fetched again at once when the kept copy lacks a
/// requested redirect URI, and not kept when its answer says `no-store`.
async fn sector_identifier_documents_are_kept_for_a_while(backend: Backend) {
    let app = spawn_app(backend).await;
    let register = |software_id: &'static str, path: &'static str, redirect: &'static str| {
        let app = &app;
        async move {
            let sector = format!("{}{path}", app.stub_base);
            let ssa = app.ssa(software_id, json!({"sector_identifier_uri": sector}));
            let mut claims = app.request_claims(software_id, &ssa);
            claims["redirect_uris"] = json!([redirect]);
            app.post_register(&app.sign_request(&claims)).await.status()
        }
    };
    let (one, two) = (testutil::REDIRECT_URI, testutil::REDIRECT_URI_2);
    app.stub
        .set("/kept.json", 200, json!([one, two]).to_string());
    assert_eq!(register("k1", "/kept.json", one).await, 201);
    assert_eq!(register("k2", "/kept.json", one).await, 201);
    assert_eq!(
        app.stub.hits("/kept.json"),
        1,
        "the second registration used the kept copy"
    );

    app.stub.set(
        "/kept.json",
        200,
        json!(["https://elsewhere.example/cb"]).to_string(),
    );
    app.clock.advance(300);
    assert_eq!(
        register("k3", "/kept.json", one).await,
        400,
        "the copy is not used past its time"
    );
    assert_eq!(app.stub.hits("/kept.json"), 2);

    // kept: a document listing only the first URI; the recipient then adds the second
    app.stub.set("/kept.json", 200, json!([one]).to_string());
    app.clock.advance(300);
    assert_eq!(register("k4", "/kept.json", one).await, 201);
    app.stub
        .set("/kept.json", 200, json!([one, two]).to_string());
    assert_eq!(
        register("k5", "/kept.json", two).await,
        201,
        "a kept copy without the URI is fetched again"
    );
    assert_eq!(app.stub.hits("/kept.json"), 4);

    app.stub
        .set("/fresh.json", 200, json!([one, two]).to_string());
    app.stub.set_cache_control("/fresh.json", "no-store");
    assert_eq!(register("f1", "/fresh.json", one).await, 201);
    assert_eq!(register("f2", "/fresh.json", one).await, 201);
    assert_eq!(app.stub.hits("/fresh.json"), 2, "no-store is honoured");
}

async fn x_v_headers_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .post(format!("{}/register", app.base))
        .header("content-type", "application/jwt")
        .header("x-v", "99")
        .header("x-min-v", "98")
        .body(app.request(SW, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("x-v").is_none());
}

async fn unknown_request_claims_are_ignored_and_not_returned(backend: Backend) {
    let app = spawn_app(backend).await;
    let req = app.request(SW, json!({"made_up_claim": "x", "client_name": "Not From The SSA", "scope": "admin:everything"}));
    let res = app.post_register(&req).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("made_up_claim").is_none());
    assert_eq!(
        body["client_name"], "Mock Software",
        "SSA values win over request claims"
    );
    assert!(!body["scope"].as_str().unwrap().contains("admin:everything"));
}

both_backends!(
    registration_succeeds_with_the_full_response,
    defaults_fill_omitted_optional_metadata,
    es256_signed_requests_are_accepted,
    every_validation_rule_answers_its_error,
    missing_client_certificate_is_refused,
    certificate_from_an_untrusted_ca_fails_the_handshake,
    a_revoked_client_certificate_fails_the_handshake_once_listed,
    wrong_content_type_is_415,
    duplicate_software_id_is_refused,
    concurrent_duplicate_posts_give_exactly_one_201,
    replayed_request_jti_is_refused_and_a_reused_ssa_is_not,
    register_jwks_unavailable_is_503_not_a_client_error,
    recipient_urls_on_non_public_addresses_are_not_fetched,
    a_register_jwks_outage_is_bridged_by_the_grace_period,
    recipient_jwks_unavailable_is_invalid_client_metadata,
    outbound_documents_over_the_size_cap_are_refused,
    unknown_kid_triggers_one_refetch,
    sector_identifier_uri_is_checked,
    sector_identifier_documents_are_kept_for_a_while,
    x_v_headers_are_ignored,
    unknown_request_claims_are_ignored_and_not_returned,
);
