//! The provisioning record and outbox, on both backends: written with the registration change
//! they follow, delivered in order per registration, and nothing for registrations made while
//! provisioning was off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dcr_store::{
    AuditQuery, Conflict, Drift, DriftKind, NewAuditEvent, NewOutboxEntry, NewProvisioning,
    OutboxOperation, Provisioning, ProvisioningState, Reconciliation, RegisterStatusChange,
    Registration, RegistrationStatus, Store, StoreError, UsedJti,
};
use test_support::TempPostgres;

fn audit(action: &str, client_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: 1_000,
        actor: "recipient:sw".into(),
        action: action.into(),
        client_id: Some(client_id.into()),
        software_id: Some("sw".into()),
        ..Default::default()
    }
}

fn record(client_id: &str, state: ProvisioningState, at: i64) -> Provisioning {
    Provisioning {
        client_id: client_id.into(),
        downstream_client_id: Some(client_id.into()),
        registration_client_uri: Some(format!("https://as.example/reg/{client_id}")),
        registration_access_token: Some(format!("rat-{client_id}")),
        state,
        last_error: None,
        attempts: 0,
        updated_at: at,
    }
}

/// A registration provisioned before it was stored (sync mode).
fn provisioned(client_id: &str, at: i64) -> NewProvisioning {
    NewProvisioning {
        record: record(client_id, ProvisioningState::Provisioned, at),
        create: None,
        audit: Some(NewAuditEvent {
            actor: "provisioning".into(),
            ..audit("provisioning.create", client_id)
        }),
    }
}

/// A registration whose client is still to be created downstream (async mode).
fn pending(client_id: &str, at: i64) -> NewProvisioning {
    NewProvisioning {
        record: Provisioning {
            downstream_client_id: None,
            registration_client_uri: None,
            registration_access_token: None,
            ..record(client_id, ProvisioningState::Pending, at)
        },
        create: Some(NewOutboxEntry {
            client_id: client_id.into(),
            operation: OutboxOperation::Create,
            payload: "{}".into(),
            created_at: at,
        }),
        audit: None,
    }
}

fn delivered(client_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        actor: "provisioning".into(),
        ..audit("provisioning.update", client_id)
    }
}

fn operations(entries: &[dcr_store::OutboxEntry]) -> Vec<OutboxOperation> {
    entries.iter().map(|e| e.operation).collect()
}

async fn provisioning_contract(store: Store) {
    // Async: the create waits in the outbox, written with the registration.
    let a = Registration::example("pa", "SW-PA", 100);
    store
        .create_registration_provisioned(
            &a,
            Some(&UsedJti {
                key: "reg:sw-pa:1".into(),
                expires_at: 9_000,
            }),
            &audit("registration.create", "pa"),
            Some(&pending("pa", 100)),
        )
        .await
        .unwrap();
    assert_eq!(store.get_registration("pa").await.unwrap(), Some(a.clone()));
    let rec = store.provisioning("pa").await.unwrap().unwrap();
    assert_eq!(rec.state, ProvisioningState::Pending);
    assert!(
        !format!("{:?}", store.provisioning("pa").await.unwrap()).contains("rat-"),
        "Debug never shows a registration access token"
    );
    let waiting = store.outbox_of("pa").await.unwrap();
    assert_eq!(operations(&waiting), [OutboxOperation::Create]);
    assert_eq!(waiting[0].next_attempt_at, 100);

    // Sync: provisioned, nothing waits.
    let b = Registration::example("pb", "SW-PB", 100);
    store
        .create_registration_provisioned(
            &b,
            None,
            &audit("registration.create", "pb"),
            Some(&provisioned("pb", 100)),
        )
        .await
        .unwrap();
    let rec = store.provisioning("pb").await.unwrap().unwrap();
    assert_eq!(rec, record("pb", ProvisioningState::Provisioned, 100));
    assert!(store.outbox_of("pb").await.unwrap().is_empty());

    // A failing registration leaves no record and no outbox row behind.
    let dup = store
        .create_registration_provisioned(
            &Registration::example("pc", "sw-pb", 101),
            None,
            &audit("registration.create", "pc"),
            Some(&pending("pc", 101)),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(Conflict::SoftwareIdTaken))),
        "{dup:?}"
    );
    assert!(store.provisioning("pc").await.unwrap().is_none());
    assert!(store.outbox_of("pc").await.unwrap().is_empty());
    // A downstream client id belongs to one registration (one software product).
    let taken = store
        .create_registration_provisioned(
            &Registration::example("pd", "SW-PD", 101),
            None,
            &audit("registration.create", "pd"),
            Some(&NewProvisioning {
                record: Provisioning {
                    client_id: "pd".into(),
                    ..record("pb", ProvisioningState::Provisioned, 101)
                },
                create: None,
                audit: None,
            }),
        )
        .await;
    assert!(
        matches!(
            taken,
            Err(StoreError::Conflict(Conflict::DownstreamClientIdTaken))
        ),
        "{taken:?}"
    );
    assert!(store.get_registration("pd").await.unwrap().is_none());

    // Every later change of a provisioned registration is queued with it, in order.
    let mut updated = b.clone();
    updated.client_name = "Renamed".into();
    updated.updated_at = 200;
    store
        .update_registration(&updated, None, &audit("registration.update", "pb"))
        .await
        .unwrap();
    store
        .set_registration_status(
            "pb",
            &[RegistrationStatus::Active],
            RegistrationStatus::Revoked,
            Some("fraud"),
            210,
            &audit("registration.revoke", "pb"),
        )
        .await
        .unwrap();
    store
        .release_registration("pb", "admin:ops", "lost its client id", 220)
        .await
        .unwrap();
    let waiting = store.outbox_of("pb").await.unwrap();
    assert_eq!(
        operations(&waiting),
        [
            OutboxOperation::Update,
            OutboxOperation::Disable,
            OutboxOperation::Delete
        ]
    );
    assert!(waiting.windows(2).all(|w| w[0].outbox_id < w[1].outbox_id));
    assert_eq!(
        [
            waiting[0].created_at,
            waiting[1].created_at,
            waiting[2].created_at
        ],
        [200, 210, 220]
    );
    let payload: serde_json::Value = serde_json::from_str(&waiting[1].payload).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"status": "revoked", "reason": "fraud"})
    );
    assert_eq!(
        store.provisioning("pb").await.unwrap().unwrap().state,
        ProvisioningState::Pending
    );

    // Only the head of each registration's queue is due: pa's create, pb's update.
    let due = store.outbox_due(1_000, 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|e| (e.client_id.as_str(), e.operation))
            .collect::<Vec<_>>(),
        [
            ("pa", OutboxOperation::Create),
            ("pb", OutboxOperation::Update)
        ]
    );
    assert!(
        store.outbox_due(99, 10).await.unwrap().is_empty(),
        "not due yet"
    );
    assert_eq!(store.outbox_depth().await.unwrap(), (4, Some(100)));

    // A failed attempt: the row waits with its error, and so does the rest of its queue.
    let head = due[1].clone();
    store
        .fail_outbox(
            &head,
            "the server answered 503",
            5_000,
            ProvisioningState::Pending,
            1_000,
            None,
        )
        .await
        .unwrap();
    let due = store.outbox_due(1_000, 10).await.unwrap();
    assert_eq!(operations(&due), [OutboxOperation::Create], "pb waits");
    let rec = store.provisioning("pb").await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.attempts, rec.last_error.as_deref()),
        (
            ProvisioningState::Pending,
            1,
            Some("the server answered 503")
        )
    );
    let failed = &store.outbox_of("pb").await.unwrap()[0];
    assert_eq!((failed.attempts, failed.next_attempt_at), (1, 5_000));
    let (attention, counts) = store.provisioning_attention(10).await.unwrap();
    assert!(
        attention.iter().any(|p| p.client_id == "pb"),
        "{attention:?}"
    );
    assert_eq!(
        (counts.provisioned, counts.pending, counts.failed),
        (0, 2, 0)
    );
    let retried = |at: i64| NewAuditEvent {
        occurred_at: at,
        actor: "admin:alice".into(),
        ..audit("provisioning.retry", "pb")
    };
    assert_eq!(store.retry_outbox("pb", &retried(1_001)).await.unwrap(), 3);
    assert_eq!(store.outbox_due(1_001, 10).await.unwrap().len(), 2);
    assert_eq!(
        store
            .retry_outbox("nothing-waits", &retried(1_001))
            .await
            .unwrap(),
        0
    );
    let retries = store
        .list_audit(&AuditQuery {
            action: Some("provisioning.retry".into()),
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(retries.total, 1, "a retry of nothing is not recorded");

    // Delivered: the row goes; the record stays pending while later changes wait.
    store
        .complete_outbox(
            head.outbox_id,
            &record("pb", ProvisioningState::Provisioned, 1_002),
            &delivered("pb"),
        )
        .await
        .unwrap();
    let rec = store.provisioning("pb").await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.attempts, rec.last_error),
        (ProvisioningState::Pending, 0, None)
    );
    for entry in store.outbox_of("pb").await.unwrap() {
        store
            .complete_outbox(
                entry.outbox_id,
                &record("pb", ProvisioningState::Provisioned, 1_003),
                &delivered("pb"),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.provisioning("pb").await.unwrap().unwrap().state,
        ProvisioningState::Provisioned
    );

    // Deleted by the recipient, and removed at the Register: delete downstream.
    store
        .set_registration_status(
            "pa",
            &[RegistrationStatus::Active],
            RegistrationStatus::Deleted,
            None,
            300,
            &audit("registration.delete", "pa"),
        )
        .await
        .unwrap();
    assert_eq!(
        operations(&store.outbox_of("pa").await.unwrap()),
        [OutboxOperation::Create, OutboxOperation::Delete]
    );
    let e = Registration::example("pe", "SW-PE", 100);
    store
        .create_registration_provisioned(
            &e,
            None,
            &audit("registration.create", "pe"),
            Some(&provisioned("pe", 100)),
        )
        .await
        .unwrap();
    let removal = RegisterStatusChange {
        client_id: "pe".into(),
        previous_sp_status: None,
        previous_dr_status: None,
        sp_status: Some("REMOVED".into()),
        dr_status: Some("ACTIVE".into()),
        remove: true,
        reason: Some("software product REMOVED at the CDR Register".into()),
        now: 400,
    };
    assert!(store
        .apply_register_status(&removal, &audit("registration.remove", "pe"))
        .await
        .unwrap());
    assert_eq!(
        operations(&store.outbox_of("pe").await.unwrap()),
        [OutboxOperation::Delete]
    );

    // A registration made while provisioning was off gets no row when it changes.
    let f = Registration::example("pf", "SW-PF", 100);
    store
        .create_registration(&f, None, &audit("registration.create", "pf"))
        .await
        .unwrap();
    store
        .set_registration_status(
            "pf",
            &[RegistrationStatus::Active],
            RegistrationStatus::Deleted,
            None,
            500,
            &audit("registration.delete", "pf"),
        )
        .await
        .unwrap();
    assert!(store.provisioning("pf").await.unwrap().is_none());
    assert!(store.outbox_of("pf").await.unwrap().is_empty());

    // Each change at the downstream is in the audit trail with its registration change.
    let downstream = store
        .list_audit(&AuditQuery {
            actor: Some("provisioning".into()),
            page: 1,
            per_page: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = downstream.items.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"provisioning.create"), "{actions:?}");
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "provisioning.update")
            .count(),
        3,
        "{actions:?}"
    );

    // A reconciliation's findings replace the previous run's.
    assert!(store.last_reconciliation().await.unwrap().is_none());
    let run = |id_at: i64, drifted: i64| Reconciliation {
        reconciliation_id: 0,
        started_at: id_at,
        finished_at: id_at + 5,
        actor: "cli".into(),
        repair: false,
        checked: 4,
        drifted,
        repaired: 0,
    };
    let drift = |client_id: &str, kind: DriftKind| Drift {
        client_id: client_id.into(),
        kind,
        detail: format!("{} here", kind.as_str()),
        found_at: 600,
        repaired_at: None,
    };
    let first = store
        .record_reconciliation(
            &run(600, 2),
            &[
                drift("pa", DriftKind::Extra),
                drift("pb", DriftKind::Missing),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.list_drift(1, 10).await.unwrap().total, 2);
    assert_eq!(
        store.drift_of("pb").await.unwrap().map(|d| d.kind),
        Some(DriftKind::Missing)
    );
    let second = store
        .record_reconciliation(&run(700, 1), &[drift("pe", DriftKind::Metadata)])
        .await
        .unwrap();
    assert!(second > first);
    let found = store.list_drift(1, 10).await.unwrap();
    assert_eq!((found.total, found.items[0].client_id.as_str()), (1, "pe"));
    assert!(store.drift_of("pb").await.unwrap().is_none());
    let last = store.last_reconciliation().await.unwrap().unwrap();
    assert_eq!(
        (last.reconciliation_id, last.started_at, last.drifted),
        (second, 700, 1)
    );

    // The registrations and their changes are in one audit chain.
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "{chain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_holds_on_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let store = Store::connect(&url).await.unwrap();
    provisioning_contract(store.clone()).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_holds_on_postgres() {
    let pg = TempPostgres::shared();
    let store = Store::connect(&pg.fresh_database()).await.unwrap();
    provisioning_contract(store.clone()).await;
    store.close().await;
}
