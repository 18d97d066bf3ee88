//! Two instances on one PostgreSQL database, as behind a load balancer (docs/deploy.md): a
//! registration made through one is read, updated and deleted through the other, a token issued
//! by one is accepted by the other, and only one of them holds the Register poller's lease. (The
//! lease hand-over itself is tested in `register_sync::one_instance_polls_when_several_share_the_store`.)

use dcr_core::testutil;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};

const SW: &str = "5d1a0a3e-8e43-4a52-9b7f-1f2a3b4c5d6e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_registrations_tokens_and_one_poller() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_peer().await;
    assert_ne!(a.base, b.base);

    // Both publish the same keys (one set in the store).
    let jwks = |base: String| {
        let c = a.anon.clone();
        async move {
            c.get(format!("{base}/jwks"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(jwks(a.base.clone()).await, jwks(b.base.clone()).await);

    // Registered through A, token from A, read through B.
    let created = a.register(SW).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let token_a = a.token(&client_id).await;
    let url_b = format!("{}/register/{client_id}", b.base);
    let res = a
        .client
        .get(&url_b)
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "B accepts A's token");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        created,
        "B reads what A wrote"
    );

    // Updated through B.
    a.clock.advance(60);
    let ssa = a.ssa(SW, json!({"client_name": "Renamed via B"}));
    let claims = a.request_claims(SW, &ssa);
    let res = a
        .client
        .put(&url_b)
        .bearer_auth(&token_a)
        .header("content-type", "application/jwt")
        .body(a.sign_request(&testutil::patched(&claims, &json!({}))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got: Value = a
        .client
        .get(a.client_url(&client_id))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["client_name"], "Renamed via B", "A reads what B wrote");

    // A token issued by B works at A; a request JWT replayed at the other instance is refused
    // (the jti store is shared).
    let assertion = a.assertion(&client_id, json!({}));
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("scope", "cdr:registration"),
    ];
    let res = a
        .client
        .post(format!("{}/token", b.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token_b = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = a.token_request(&a.client, &form).await;
    let (status, error, _) = crate::helpers::error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_client"),
        "the client assertion's jti was used at B"
    );
    let res = a
        .client
        .get(a.client_url(&client_id))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "A accepts B's token");

    // Deleted through B: gone at A too.
    let res = a
        .client
        .delete(&url_b)
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = a
        .client
        .get(a.client_url(&client_id))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "deleted through B, refused by A");

    // One Register poller: both instances see the same single lease holder.
    let lease_a = a.store.lease(server::cdr_register::LEASE).await.unwrap();
    let lease_b = b.store.lease(server::cdr_register::LEASE).await.unwrap();
    let holder = lease_a.expect("a lease is held").holder;
    assert!(!holder.is_empty());
    assert_eq!(lease_b.map(|l| l.holder), Some(holder));

    // The audit trail written by both instances is one chain: its three registration events
    // (created at A, updated and deleted at B) and the rest, every one checked.
    let all = a
        .audit(dcr_store::AuditQuery {
            ..Default::default()
        })
        .await;
    let ours: Vec<_> = all
        .items
        .iter()
        .filter(|e| e.client_id.as_deref() == Some(client_id.as_str()))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        ours,
        [
            "registration.delete",
            "registration.update",
            "registration.create"
        ]
    );
    let chain = a.store.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "{chain:?}");
    assert_eq!(chain.checked, all.total, "{chain:?}");
}
