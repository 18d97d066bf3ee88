//! The audit log's filters, on both backends: client ids, actors and actions match ignoring
//! the case they are typed in, and a time range keeps the events from its start up to (not
//! including) its end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dcr_store::{AuditQuery, NewAuditEvent, Store};
use test_support::TempPostgres;

async fn found(store: &Store, q: AuditQuery) -> Vec<i64> {
    let mut times: Vec<i64> = store
        .list_audit(&AuditQuery {
            page: 1,
            per_page: 100,
            ..q
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.occurred_at)
        .collect();
    times.sort_unstable();
    times
}

async fn filters(url: &str) {
    let store = Store::connect(url).await.unwrap();
    for (at, actor, action, client) in [
        (1_000, "admin:alice", "registration.revoke", "c0ffee00-aaaa"),
        (2_000, "admin:bob", "registration.release", "c0ffee00-bbbb"),
        (
            3_000,
            "register-sync",
            "registration.remove",
            "c0ffee00-aaaa",
        ),
        (4_000, "admin:alice", "admin.sign_in", "c0ffee00-cccc"),
    ] {
        store
            .append_audit(&NewAuditEvent {
                occurred_at: at,
                actor: actor.into(),
                action: action.into(),
                client_id: Some(client.into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        found(&store, q(|q| q.actor = Some("ADMIN:Alice".into()))).await,
        vec![1_000, 4_000],
        "typed in any case, a value stored in lower case"
    );
    assert_eq!(
        found(&store, q(|q| q.actor = Some("ADMIN:ALICE".into()))).await,
        vec![1_000, 4_000]
    );
    assert_eq!(
        found(&store, q(|q| q.action = Some("REGISTRATION.REVOKE".into()))).await,
        vec![1_000]
    );
    assert_eq!(
        found(&store, q(|q| q.client_id = Some("C0FFEE00-AAAA".into()))).await,
        vec![1_000, 3_000]
    );
    assert_eq!(
        found(&store, q(|q| q.actor = Some("admin:alice".into()))).await,
        vec![1_000, 4_000],
        "the value as stored"
    );
    assert_eq!(
        found(
            &store,
            q(|q| {
                q.from = Some(2_000);
                q.until = Some(4_000);
            })
        )
        .await,
        vec![2_000, 3_000],
        "from its start up to, not including, its end"
    );
    let page = store
        .list_audit(&AuditQuery {
            from: Some(1_500),
            actor: Some("admin:ALICE".to_lowercase()),
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1, "the count has the same filters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    filters(&format!("sqlite:{}", dir.path().join("a.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_on_postgres() {
    let pg = TempPostgres::shared();
    filters(&pg.fresh_database()).await;
}
