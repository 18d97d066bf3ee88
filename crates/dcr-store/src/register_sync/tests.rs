use super::*;
use crate::{AuditQuery, Registration, RegistrationStatus};

fn reg(client_id: &str, software_id: &str) -> Registration {
    Registration {
        legal_entity_id: Some("LE-1".into()),
        ..Registration::example(client_id, software_id, 1)
    }
}

async fn sync_contract(store: Store) {
    // Taking over one's own seat: a lease held by an earlier process of the same seat is taken
    // at once, one of another seat is not.
    let held = store
        .acquire_lease("seat", "host@10.0.0.1:7443/11-aaa", 100, 60)
        .await
        .unwrap();
    assert!(held.is_some());
    assert!(
        store
            .take_over_lease(
                "seat",
                "host@10.0.0.2:7443/12-bbb",
                "host@10.0.0.2:7443/",
                101,
                60
            )
            .await
            .unwrap()
            .is_none(),
        "another seat waits for the lease to expire"
    );
    assert!(
        store
            .take_over_lease(
                "seat",
                "host@10.0.0.1:7443/13-ccc",
                "host@10.0.0.1:7443/",
                101,
                60
            )
            .await
            .unwrap()
            .is_some(),
        "the same seat takes it back"
    );
    assert_eq!(
        store.lease("seat").await.unwrap().unwrap().holder,
        "host@10.0.0.1:7443/13-ccc"
    );

    // The lease: one holder at a time, renewable by its holder, free once expired or released.
    let a = store.acquire_lease("l", "a", 100, 60).await.unwrap();
    assert_eq!(a.map(|l| l.expires_at), Some(160), "free lease taken");
    assert!(
        store
            .acquire_lease("l", "b", 120, 60)
            .await
            .unwrap()
            .is_none(),
        "held by a"
    );
    let renewed = store
        .acquire_lease("l", "a", 130, 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.expires_at, 190, "renewed by its holder");
    store.request_lease_refresh("l", 131).await.unwrap();
    store.request_lease_refresh("l", 135).await.unwrap();
    let l = store
        .acquire_lease("l", "a", 140, 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        l.refresh_requested_at,
        Some(131),
        "the first request is kept"
    );
    store.clear_lease_refresh("l", "a").await.unwrap();
    assert_eq!(
        store
            .lease("l")
            .await
            .unwrap()
            .unwrap()
            .refresh_requested_at,
        None
    );
    let b = store.acquire_lease("l", "b", 201, 60).await.unwrap();
    assert_eq!(
        b.map(|l| l.holder),
        Some("b".into()),
        "expired lease taken over"
    );
    assert!(store
        .acquire_lease("l", "a", 202, 60)
        .await
        .unwrap()
        .is_none());
    store.release_lease("l", "a").await.unwrap();
    assert_eq!(
        store.lease("l").await.unwrap().unwrap().holder,
        "b",
        "only the holder releases"
    );
    store.release_lease("l", "b").await.unwrap();
    assert!(
        store
            .acquire_lease("l", "a", 203, 60)
            .await
            .unwrap()
            .is_some(),
        "released lease is free"
    );

    // The sync state round-trips.
    let s = RegisterSyncState {
        resource: "software_products".into(),
        etag: Some("\"e1\"".into()),
        statuses: "{\"sw-1\":\"ACTIVE\"}".into(),
        synced_at: Some(10),
        fetched_at: Some(10),
        attempted_at: 10,
        attempts: 1,
        failures: 0,
        last_error: None,
        synced_by: Some("a".into()),
    };
    store.save_register_sync_state(&s).await.unwrap();
    let mut s2 = s.clone();
    s2.attempts = 2;
    s2.failures = 1;
    s2.last_error = Some("down".into());
    store.save_register_sync_state(&s2).await.unwrap();
    assert_eq!(
        store
            .register_sync_state("software_products")
            .await
            .unwrap(),
        Some(s2.clone())
    );
    assert_eq!(store.register_sync_states().await.unwrap(), vec![s2]);

    // Status changes: optimistic on the previous statuses, removal only from active.
    store
        .create_registration(&reg("c1", "SW-1"), None, &NewAuditEvent::default())
        .await
        .unwrap();
    let targets = store.register_sync_targets().await.unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].software_id, "SW-1");
    let audit = NewAuditEvent {
        occurred_at: 20,
        actor: "register-sync".into(),
        action: "registration.register_status".into(),
        client_id: Some("c1".into()),
        ..Default::default()
    };
    let mut change = RegisterStatusChange {
        client_id: "c1".into(),
        previous_sp_status: None,
        previous_dr_status: None,
        sp_status: Some("ACTIVE".into()),
        dr_status: Some("ACTIVE".into()),
        remove: false,
        reason: None,
        now: 20,
    };
    assert!(store.apply_register_status(&change, &audit).await.unwrap());
    assert!(
        !store.apply_register_status(&change, &audit).await.unwrap(),
        "stale previous statuses: skipped"
    );
    change.previous_sp_status = Some("ACTIVE".into());
    change.previous_dr_status = Some("ACTIVE".into());
    change.sp_status = Some("REMOVED".into());
    change.remove = true;
    change.reason = Some("removed at the Register".into());
    change.now = 30;
    assert!(store.apply_register_status(&change, &audit).await.unwrap());
    let r = store.get_registration("c1").await.unwrap().unwrap();
    assert_eq!(r.status, RegistrationStatus::Removed);
    assert_eq!(r.register_sp_status.as_deref(), Some("REMOVED"));
    assert_eq!(r.register_synced_at, Some(30));
    assert_eq!(r.updated_at, 30);
    assert!(store.register_sync_targets().await.unwrap().is_empty());
    let events = store
        .list_audit(&AuditQuery {
            actor: Some("register-sync".into()),
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.total, 2, "one audit event per applied change");
    assert!(
        store
            .find_registration_by_software_id("sw-1")
            .await
            .unwrap()
            .is_none(),
        "a removed registration frees its software_id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_contract_holds_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    sync_contract(Store::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_contract_holds_on_postgres() {
    let url = test_support::TempPostgres::shared().fresh_database();
    sync_contract(Store::connect(&url).await.unwrap()).await;
}
