//! Key rotation. The Data Holder's signing keys: a new key is published and signs, the old one
//! still verifies until it is retired, then leaves the JWKS. A recipient's keys: a `kid` not in
//! the cached JWKS makes exactly one refetch (at `/token` and at `POST /register`), refetches
//! for unknown kids are rate-limited, and an unreachable JWKS refuses the assertion it cannot
//! check while keys already cached still work.

use base64::Engine as _;
use dcr_core::jose::SigningKey;
use dcr_core::testutil::{self, test_keys};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, Backend, TestApp};
use server::keys::{KeyAlg, RETIRE_AFTER_SECS};

const SW: &str = "8f4c2a1e-7b3d-4e5f-9a0b-1c2d3e4f5a6b";

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .anon
        .get(format!("{}/jwks", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn rotate_publish_sign_retire(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = kids(&app).await;
    assert_eq!(old.len(), 1);
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let old_token = app.token(&client_id).await;
    assert_eq!(kid_of(&old_token), old[0]);

    // Rotate (PS256 here, to show the option), then the instance reloads as its loop would.
    let row = server::keys::rotate(&app.store, KeyAlg::Ps256, app.now())
        .await
        .unwrap();
    assert_eq!(row.alg, "PS256");
    app.keys.reload(&app.store, app.now()).await.unwrap();
    assert_eq!(
        kids(&app).await,
        vec![old[0].clone(), row.kid.clone()],
        "both published"
    );
    app.clock.advance(1);
    let new_token = app.token(&client_id).await;
    assert_eq!(
        kid_of(&new_token),
        row.kid,
        "new tokens are signed with the new key"
    );
    for token in [&old_token, &new_token] {
        let res = app
            .client
            .get(app.client_url(&client_id))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    // Not yet: a token signed with the old key may still be valid.
    app.clock.advance(RETIRE_AFTER_SECS - 10);
    app.keys.reload(&app.store, app.now()).await.unwrap();
    assert_eq!(kids(&app).await.len(), 2);
    assert!(server::keys::retire_expired(&app.store, app.now())
        .await
        .unwrap()
        .is_empty());

    // After the longest token lifetime: retired at the next reload, gone from the JWKS.
    app.clock.advance(20);
    app.keys.reload(&app.store, app.now()).await.unwrap();
    assert_eq!(kids(&app).await, vec![row.kid.clone()]);
    let stored = app.store.signing_keys().await.unwrap();
    let old_row = stored.iter().find(|k| k.kid == old[0]).unwrap();
    assert_eq!(old_row.retired_at, Some(app.now()));
    let token = app.token(&client_id).await;
    assert_eq!(kid_of(&token), row.kid);
}

/// A configured signing key file that others can read is refused; one readable by its owner
/// only is the signing key.
async fn a_signing_key_file_readable_by_others_is_refused(backend: Backend) {
    use std::os::unix::fs::PermissionsExt as _;
    let app = spawn_app(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    let key = SigningKey::generate_es256("configured").unwrap();
    std::fs::write(&path, key.to_pkcs8_pem()).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = server::keys::KeyRing::load(&app.store, app.now(), Some((&path, Some("k"))))
            .await
            .err()
            .unwrap_or_else(|| panic!("mode {mode:o} was accepted"));
        assert!(
            err.to_string().contains("can be read or written by others"),
            "{mode:o}: {err}"
        );
    }
    for mode in [0o600, 0o400] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let ring = server::keys::KeyRing::load(&app.store, app.now(), Some((&path, Some("k"))))
            .await
            .unwrap();
        assert_eq!(ring.active().kid(), "k", "mode {mode:o}");
    }
}

/// A token this instance issued, and so remembers, stops working as soon as the key that signed
/// it is withdrawn (retired early, as after a compromise), not when the token expires.
async fn a_withdrawn_keys_remembered_tokens_stop_working_at_the_next_reload(backend: Backend) {
    let app = spawn_app(backend).await;
    let client_id = app.register(SW).await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let old_token = app.token(&client_id).await;
    let get = |token: String| {
        let url = app.client_url(&client_id);
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(old_token.clone()).await, 200, "remembered since issue");
    server::keys::rotate(&app.store, KeyAlg::Es256, app.now())
        .await
        .unwrap();
    app.clock.advance(1);
    let retired = app
        .store
        .retire_superseded_signing_keys(app.now(), app.now())
        .await
        .unwrap();
    assert_eq!(retired, vec![kid_of(&old_token)]);
    app.keys.reload(&app.store, app.now()).await.unwrap();
    assert_eq!(
        get(old_token).await,
        401,
        "the old key's token, though unexpired"
    );
    let new_token = app.token(&client_id).await;
    assert_eq!(get(new_token).await, 200);
}

/// Registers `software_id` with its SSA's `jwks_uri` at `path` on the stub, the request signed
/// with `key`; answers the client id.
async fn register_at(app: &TestApp, software_id: &str, path: &str, key: &SigningKey) -> String {
    let ssa = app.ssa(
        software_id,
        json!({"jwks_uri": format!("{}{path}", app.stub_base)}),
    );
    let res = app
        .post_register(&key.sign(&app.request_claims(software_id, &ssa)).unwrap())
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["client_id"].as_str().unwrap().to_string()
}

/// A client_credentials request with an assertion signed by `key`.
async fn token_with(app: &TestApp, client_id: &str, key: &SigningKey) -> reqwest::Response {
    let assertion = app.assertion_signed(client_id, json!({}), key);
    app.token_request(
        &app.client,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
            ("scope", "cdr:registration"),
        ],
    )
    .await
}

async fn a_recipient_rotating_its_keys_causes_one_refetch(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = &test_keys().adr_ps256;
    let new = SigningKey::generate_ps256("recipient-2", 2048).unwrap();

    // At /token: the client signs with a key its JWKS only now publishes.
    app.stub
        .set("/rotating/jwks", 200, testutil::jwks_bytes(&[old]));
    let client_id = register_at(&app, SW, "/rotating/jwks", old).await;
    assert_eq!(token_with(&app, &client_id, old).await.status(), 200);
    assert_eq!(
        app.stub.hits("/rotating/jwks"),
        1,
        "cached since the registration"
    );
    app.stub
        .set("/rotating/jwks", 200, testutil::jwks_bytes(&[&new]));
    assert_eq!(token_with(&app, &client_id, &new).await.status(), 200);
    assert_eq!(app.stub.hits("/rotating/jwks"), 2, "exactly one refetch");
    assert_eq!(token_with(&app, &client_id, &new).await.status(), 200);
    assert_eq!(app.stub.hits("/rotating/jwks"), 2, "the new set is cached");

    // A kid nobody publishes, just after that refetch: refused without another fetch.
    let ghost = SigningKey::generate_ps256("ghost", 2048).unwrap();
    let (status, error, _) = error_of(token_with(&app, &client_id, &ghost).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    assert_eq!(
        app.stub.hits("/rotating/jwks"),
        2,
        "refetches are rate-limited"
    );

    // At POST /register: a second product of the recipient, signed with the new key of a JWKS
    // cached from the first product's registration.
    const SW2: &str = "3c9d8e7f-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
    const SW3: &str = "4d0e9f8a-2b3c-4d4e-9fa0-1b2c3d4e5f60";
    app.stub
        .set("/shared/jwks", 200, testutil::jwks_bytes(&[old]));
    register_at(&app, SW2, "/shared/jwks", old).await;
    assert_eq!(app.stub.hits("/shared/jwks"), 1);
    app.stub
        .set("/shared/jwks", 200, testutil::jwks_bytes(&[&new]));
    register_at(&app, SW3, "/shared/jwks", &new).await;
    assert_eq!(app.stub.hits("/shared/jwks"), 2, "exactly one refetch");
}

async fn an_unreachable_recipient_jwks_refuses_only_what_it_cannot_check(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = &test_keys().adr_ps256;
    app.stub
        .set("/flaky/jwks", 200, testutil::jwks_bytes(&[old]));
    let client_id = register_at(&app, SW, "/flaky/jwks", old).await;
    app.stub.set("/flaky/jwks", 503, "");

    let new = SigningKey::generate_ps256("recipient-2", 2048).unwrap();
    let (status, error, body) = error_of(token_with(&app, &client_id, &new).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    assert_eq!(
        body["error_description"],
        "Could not load the client's JWKS to verify the client assertion."
    );
    assert_eq!(app.stub.hits("/flaky/jwks"), 2, "the refetch was tried");
    assert_eq!(
        token_with(&app, &client_id, old).await.status(),
        200,
        "a key already cached still verifies"
    );

    // An instance that never fetched the set: the outage refuses every assertion.
    let peer = app.spawn_peer().await;
    let assertion = app.assertion(&client_id, json!({}));
    let res = app
        .client
        .post(format!("{}/token", peer.base))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
            ("scope", "cdr:registration"),
        ])
        .send()
        .await
        .unwrap();
    let (status, error, body) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client"));
    assert_eq!(
        body["error_description"],
        "Could not load the client's JWKS to verify the client assertion."
    );
    assert_eq!(app.stub.hits("/flaky/jwks"), 3);
}

both_backends!(
    rotate_publish_sign_retire,
    a_signing_key_file_readable_by_others_is_refused,
    a_withdrawn_keys_remembered_tokens_stop_working_at_the_next_reload,
    a_recipient_rotating_its_keys_causes_one_refetch,
    an_unreachable_recipient_jwks_refuses_only_what_it_cannot_check,
);
