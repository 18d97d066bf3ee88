//! Behind a TLS-terminating gateway: the client certificate comes from a configured header,
//! honoured only from configured proxy addresses (off by default).

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, spawn_app_with, Backend, TestApp};

const SW: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";
const HEADER: &str = "x-ssl-client-cert";

fn escaped(pem: &str) -> String {
    percent_encoding::utf8_percent_encode(pem, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `POST /register` as the gateway (an anonymous TLS client) sends it, with `forwarded` in the
/// certificate header.
async fn register_through_gateway(app: &TestApp, forwarded: &str) -> reqwest::Response {
    app.anon
        .post(format!("{}/register", app.base))
        .header("content-type", "application/jwt")
        .header(HEADER, forwarded)
        .body(app.request(SW, json!({})))
        .send()
        .await
        .unwrap()
}

async fn certificate_header_from_a_trusted_proxy_is_used(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.security.client_cert_header = Some(HEADER.into());
        raw.security.trusted_proxies = Some(vec!["127.0.0.1".into()]);
    })
    .await;
    let cert = escaped(&app.pki.client_a.cert_pem);
    // The gateway (our anonymous TLS client) forwards the recipient's certificate.
    let res = register_through_gateway(&app, &cert).await;
    assert_eq!(res.status(), 201);
    let client_id = res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let assertion = app.assertion(&client_id, json!({}));
    let res = app
        .anon
        .post(format!("{}/token", app.base))
        .header(HEADER, &cert)
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .anon
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .header(HEADER, &cert)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The token is bound to certificate A: presenting B's certificate through the header fails.
    let other = escaped(&app.pki.client_b.cert_pem);
    let res = app
        .anon
        .get(app.client_url(&client_id))
        .bearer_auth(&token)
        .header(HEADER, &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn certificate_header_is_ignored_from_untrusted_addresses_and_by_default(backend: Backend) {
    let untrusted = spawn_app_with(backend, |raw| {
        raw.security.client_cert_header = Some(HEADER.into());
        raw.security.trusted_proxies = Some(vec!["10.9.8.7".into()]);
    })
    .await;
    let default = spawn_app(backend).await;
    for app in [&untrusted, &default] {
        let res = register_through_gateway(app, &escaped(&app.pki.client_a.cert_pem)).await;
        let (status, error, _) = error_of(res).await;
        assert_eq!(
            (status, error.as_str()),
            (403, "client_certificate_required")
        );
    }
}

/// What a trusted gateway may forward that is not a usable client certificate: each one is "no
/// certificate" (403 at registration, `invalid_client` at the token endpoint), never a shared
/// stand-in certificate, and nothing is stored.
async fn a_forwarded_header_that_is_not_a_valid_certificate_is_no_certificate(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.security.client_cert_header = Some(HEADER.into());
        raw.security.trusted_proxies = Some(vec!["127.0.0.1".into()]);
    })
    .await;
    // B's certificate is revoked; wait until the server has read the new list (a token request
    // with B's certificate then gets the answer for no certificate)
    app.pki.revoke(&[&app.pki.client_b]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let res = app
            .anon
            .post(format!("{}/token", app.base))
            .header(HEADER, escaped(&app.pki.client_b.cert_pem))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let (_, _, body) = error_of(res).await;
        if body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("A client certificate is required"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B's revoked certificate still accepted 20 s after the revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let cases = [
        (
            "a revoked certificate of our CA",
            escaped(&app.pki.client_b.cert_pem),
        ),
        ("empty", String::new()),
        ("whitespace", "   ".to_string()),
        ("base64 that is not a certificate", "AAAA".to_string()),
        ("garbage", "%%%".to_string()),
        (
            "a certificate of another CA",
            escaped(&app.pki.stranger.cert_pem),
        ),
        (
            "an expired certificate of our CA",
            escaped(&app.pki.expired.cert_pem),
        ),
        (
            "a server certificate of our CA (not for client authentication)",
            escaped(&app.pki.server.cert_pem),
        ),
    ];
    for (case, value) in &cases {
        let res = register_through_gateway(&app, value).await;
        let (status, error, _) = error_of(res).await;
        assert_eq!(
            (status, error.as_str()),
            (403, "client_certificate_required"),
            "{case}"
        );
        let res = app
            .anon
            .post(format!("{}/token", app.base))
            .header(HEADER, value)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let (status, error, body) = error_of(res).await;
        assert_eq!(
            (
                status,
                error.as_str(),
                body["error_description"].as_str().unwrap()
            ),
            (
                400,
                "invalid_client",
                "A client certificate is required: connect with mutual TLS."
            ),
            "{case}"
        );
    }
    assert!(
        app.store
            .find_registration_by_software_id(SW)
            .await
            .unwrap()
            .is_none(),
        "nothing was registered"
    );
    // The same request with our recipient's certificate is accepted.
    let res = register_through_gateway(&app, &escaped(&app.pki.client_a.cert_pem)).await;
    assert_eq!(res.status(), 201);
}

both_backends!(
    certificate_header_from_a_trusted_proxy_is_used,
    certificate_header_is_ignored_from_untrusted_addresses_and_by_default,
    a_forwarded_header_that_is_not_a_valid_certificate_is_no_certificate,
);
