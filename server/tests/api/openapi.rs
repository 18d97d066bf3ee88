//! The OpenAPI document: served on the API listener, OpenAPI 3.1, with the recipient paths and
//! the endpoints the CDR Register calls.

use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_lists_the_paths() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .anon
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert_eq!(doc["servers"][0]["url"], app.issuer);
    let paths = &doc["paths"];
    assert!(paths["/.well-known/openid-configuration"]["get"].is_object());
    assert!(paths["/register"]["post"].is_object());
    for m in ["get", "put", "delete"] {
        assert!(paths["/register/{client_id}"][m].is_object(), "{m}");
    }
    assert!(paths["/token"]["post"].is_object());
    let post = &paths["/register"]["post"];
    assert!(post["requestBody"]["content"]["application/jwt"].is_object());
    assert!(
        paths["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            .is_object()
    );
    for status in ["201", "400", "403", "413", "415", "429", "503"] {
        assert!(post["responses"][status].is_object(), "{status}");
    }
    assert_eq!(
        post["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["mtls"]["type"], "mutualTLS");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_arrangement_revocation_and_admin_metadata_update() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = app
        .anon
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let revoke = &doc["paths"]["/arrangements/revoke"]["post"];
    assert!(
        revoke["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
        "{revoke}"
    );
    for status in ["400", "413", "422", "429", "503"] {
        assert!(revoke["responses"][status].is_object(), "revoke {status}");
    }
    assert_eq!(
        revoke["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ArrangementErrorBody"
    );
    assert_eq!(revoke["security"], serde_json::json!([{ "mtls": [] }]));

    let admin = &doc["paths"]["/cds-au/v1/admin/register/metadata"]["post"];
    assert!(
        admin["requestBody"]["content"]["application/json"].is_object(),
        "{admin}"
    );
    for status in ["200", "400", "401", "406", "413", "415", "503"] {
        assert!(admin["responses"][status].is_object(), "admin {status}");
    }
    assert!(admin["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
    assert_eq!(admin["security"], serde_json::json!([{ "register": [] }]));
    let register = &doc["components"]["securitySchemes"]["register"];
    assert_eq!(register["scheme"], "bearer");
    assert_eq!(register["bearerFormat"], "JWT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_follows_the_issuer_path() {
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.server.issuer = Some("https://dh.test.example/dcr".into());
    })
    .await;
    let res = app
        .anon
        .get(format!("{}/dcr/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["servers"][0]["url"], "https://dh.test.example/dcr");
}
