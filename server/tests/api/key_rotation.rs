//! Rotation of the Data Holder's signing keys: a new key is published and signs, the old one
//! still verifies until it is retired, then leaves the JWKS.

use base64::Engine as _;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
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

both_backends!(rotate_publish_sign_retire);
