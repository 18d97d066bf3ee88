//! HTTP hygiene: JSON error bodies everywhere, 405 with Allow, 404, 413, interaction ids.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{error_of, spawn_app, Backend};

async fn other_methods_are_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    for (method, path) in [
        ("GET", "/register"),
        ("PATCH", "/register/x"),
        ("POST", "/register/x"),
        ("GET", "/token"),
        ("DELETE", "/jwks"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert!(
            res.headers().get("allow").is_some(),
            "{method} {path} has Allow"
        );
        let (_, error, _) = error_of(res).await;
        assert_eq!(error, "method_not_allowed");
    }
}

async fn unknown_paths_are_json_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, error, _) = error_of(
        app.client
            .get(format!("{}/nothing/here", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error.as_str()), (404, "not_found"));
}

async fn oversized_bodies_are_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = "a".repeat(200 * 1024);
    let res = app
        .post_register_with(&app.client, &big, "application/jwt")
        .await;
    let (status, _, _) = error_of(res).await;
    assert_eq!(status, 413);
    // Chunked (no Content-Length) is capped as well.
    let stream = futures::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 4096])));
    let res = app
        .client
        .post(format!("{}/register", app.base))
        .header("content-type", "application/jwt")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let (status, _, _) = error_of(res).await;
    assert_eq!(status, 413);
}

async fn interaction_id_is_echoed_or_generated(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-fapi-interaction-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-fapi-interaction-id"], id);
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-fapi-interaction-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());
    let res = app
        .client
        .post(format!("{}/register", app.base))
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("x-fapi-interaction-id").is_some(),
        "errors carry it too"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].is_string());
}

both_backends!(
    other_methods_are_405_with_allow,
    unknown_paths_are_json_404,
    oversized_bodies_are_413,
    interaction_id_is_echoed_or_generated,
);
