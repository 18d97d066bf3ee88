//! Development seeds (`insert_registrations_bulk`, `insert_audit_events_bulk`) on both
//! backends: every row written whole, and the audit chain they extend verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dcr_store::{
    AdminListQuery, AuditQuery, NewAuditEvent, Registration, RegistrationStatus, SeedRegistration,
    Store, StoreError,
};
use test_support::TempPostgres;

fn seed(n: usize) -> SeedRegistration {
    let client_id = format!("seed-{n:05}");
    let software_id = format!("sw-{n:05}");
    SeedRegistration {
        registration: Registration {
            status: if n.is_multiple_of(4) {
                RegistrationStatus::Revoked
            } else {
                RegistrationStatus::Active
            },
            status_reason: (n.is_multiple_of(4)).then(|| "seeded".to_string()),
            register_sp_status: Some(
                if n.is_multiple_of(3) {
                    "INACTIVE"
                } else {
                    "ACTIVE"
                }
                .into(),
            ),
            register_dr_status: Some("ACTIVE".into()),
            register_synced_at: Some(900 + i64::try_from(n).unwrap()),
            client_name: format!("Seeded {n}"),
            ..Registration::example(&client_id, &software_id, 1_000 + i64::try_from(n).unwrap())
        },
        audit: Some(NewAuditEvent {
            occurred_at: 1_000,
            actor: format!("recipient:{software_id}"),
            action: "registration.create".into(),
            client_id: Some(client_id),
            software_id: Some(software_id),
            ..Default::default()
        }),
    }
}

async fn seeds_are_whole_and_chained(store: Store) {
    // Something in the chain before the seeds, which they must extend.
    store
        .append_audit(&NewAuditEvent {
            occurred_at: 1,
            actor: "system".into(),
            action: "system.start".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // More than one SQLite seeding transaction (5,000 each).
    let seeds: Vec<SeedRegistration> = (0..5_100).map(seed).collect();
    store.insert_registrations_bulk(&seeds).await.unwrap();
    for n in [0, 1, 3, 4_999, 5_000, 5_099] {
        assert_eq!(
            store
                .get_registration(&format!("seed-{n:05}"))
                .await
                .unwrap(),
            Some(seeds[n].registration.clone()),
            "seed {n} read back whole, its Register statuses and reason included"
        );
    }
    let events: Vec<NewAuditEvent> = (0..6_000)
        .map(|k| NewAuditEvent {
            occurred_at: 2_000 + k,
            actor: "register-sync".into(),
            action: "registration.register_status".into(),
            client_id: Some(format!("seed-{:05}", k % 5_100)),
            after_state: Some(format!(r#"{{"k":{k}}}"#)),
            ..Default::default()
        })
        .collect();
    store.insert_audit_events_bulk(&events).await.unwrap();
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "{chain:?}");
    assert_eq!(chain.checked, 1 + 5_100 + 6_000);
    let newest = store
        .list_audit(&AuditQuery {
            page: 1,
            per_page: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest.items[0].after_state.as_deref(),
        Some(r#"{"k":5999}"#)
    );
    // In the portal's list copy too.
    let list = store
        .search_registrations(&AdminListQuery {
            per_page: 10,
            ..AdminListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(list.total, 5_100);
    // A seed that conflicts leaves nothing of its transaction.
    let again = store.insert_registrations_bulk(&seeds[..10]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store.verify_audit_chain().await.unwrap().checked,
        1 + 5_100 + 6_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_are_whole_and_chained_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("seed.db").display());
    seeds_are_whole_and_chained(Store::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_are_whole_and_chained_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    seeds_are_whole_and_chained(Store::connect(&url).await.unwrap()).await;
}
