//! The exports' streams on both backends: every registration the paged list finds, in its
//! order, for each filter, search and sort, across batch boundaries; every audit event the
//! paged audit listing finds, newest first, for each filter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dcr_store::{
    AdminListQuery, AuditQuery, ExportedRegistration, NewAuditEvent, Registration,
    RegistrationStatus, SeedRegistration, Sort, StatusFilter, Store, EXPORT_BATCH,
};
use futures::TryStreamExt as _;
use test_support::TempPostgres;

/// More than two batches, so that batch boundaries are crossed.
const ROWS: u32 = 1_234;

fn seed(n: u32) -> SeedRegistration {
    let status = match n % 10 {
        7 => RegistrationStatus::Revoked,
        8 => RegistrationStatus::Deleted,
        _ => RegistrationStatus::Active,
    };
    let mut registration = Registration {
        org_id: format!("org-{}", n % 3),
        org_name: format!("Brand {}", n % 3),
        // Names repeat, so that the name orders need their client_id tie-breaker.
        client_name: format!("Budget {} app", n % 17),
        legal_entity_id: Some(format!("le-{}", n % 2)),
        legal_entity_name: Some(format!("Legal {} Pty Ltd", n % 2)),
        status,
        client_id_issued_at: i64::from(n),
        created_at: 1_000 + i64::from(n / 3),
        updated_at: 50_000 - i64::from(n),
        ..Registration::example(&format!("client-{n:05}"), &format!("SW-{n:05}"), 0)
    };
    if n % 10 == 5 {
        registration.register_sp_status = Some("INACTIVE".into());
    }
    SeedRegistration {
        registration,
        audit: Some(NewAuditEvent {
            occurred_at: 1_000 + i64::from(n),
            actor: format!("recipient:SW-{:05}", n % 4),
            action: if n.is_multiple_of(2) {
                "registration.create"
            } else {
                "registration.update"
            }
            .into(),
            client_id: Some(format!("client-{:05}", n % 50)),
            ..Default::default()
        }),
    }
}

/// Every page of the portal's list, concatenated.
async fn paged(store: &Store, q: &AdminListQuery) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let p = store
            .search_registrations(&AdminListQuery {
                page,
                per_page: 200,
                ..q.clone()
            })
            .await
            .unwrap();
        if p.items.is_empty() {
            break;
        }
        out.extend(p.items.into_iter().map(|r| r.client_id));
    }
    out
}

async fn export_contract(store: &Store) {
    let seeds: Vec<SeedRegistration> = (0..ROWS).map(seed).collect();
    store.insert_registrations_bulk(&seeds).await.unwrap();

    let queries = [
        (None, None, Sort::CreatedDesc),
        (None, None, Sort::CreatedAsc),
        (None, None, Sort::UpdatedDesc),
        (None, None, Sort::NameAsc),
        (None, None, Sort::NameDesc),
        (None, Some(StatusFilter::Active), Sort::CreatedDesc),
        (None, Some(StatusFilter::Inactive), Sort::NameAsc),
        (None, Some(StatusFilter::Revoked), Sort::CreatedAsc),
        (Some("budget 3"), None, Sort::NameAsc),
        (
            Some("brand 1 le-0"),
            Some(StatusFilter::Active),
            Sort::UpdatedDesc,
        ),
        (Some("nothing-matches-this"), None, Sort::CreatedDesc),
    ];
    for (search, status, sort) in queries {
        let q = AdminListQuery {
            search: search.map(Into::into),
            status,
            sort,
            page: 1,
            per_page: 25,
        };
        let exported: Vec<ExportedRegistration> =
            store.export_registrations(&q).try_collect().await.unwrap();
        let ids: Vec<String> = exported.iter().map(|r| r.client_id.clone()).collect();
        assert_eq!(
            ids,
            paged(store, &q).await,
            "{search:?} {status:?} {sort:?}"
        );
        if let Some(s) = status {
            assert!(exported.iter().all(|r| r.status_filter() == s));
        }
    }
    let all: Vec<ExportedRegistration> = store
        .export_registrations(&AdminListQuery::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), ROWS as usize);
    assert!(all.len() > 2 * EXPORT_BATCH);
    // Every field but the SSA and the metadata, as stored.
    for e in [&all[0], &all[7], &all[ROWS as usize - 1]] {
        let r = store.get_registration(&e.client_id).await.unwrap().unwrap();
        let from_full = ExportedRegistration {
            client_id: r.client_id.clone(),
            software_id: r.software_id.clone(),
            org_id: r.org_id.clone(),
            org_name: r.org_name.clone(),
            client_name: r.client_name.clone(),
            legal_entity_id: r.legal_entity_id.clone(),
            legal_entity_name: r.legal_entity_name.clone(),
            jwks_uri: r.jwks_uri.clone(),
            scope: r.scope.clone(),
            status: r.status,
            status_reason: r.status_reason.clone(),
            register_sp_status: r.register_sp_status.clone(),
            register_dr_status: r.register_dr_status.clone(),
            register_synced_at: r.register_synced_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        assert_eq!(*e, from_full);
        assert_eq!(e.status_filter(), StatusFilter::of(&r));
    }

    // A consumer that stops early ends the export (the stream is dropped half read).
    let mut partial = store.export_registrations(&AdminListQuery::default());
    for _ in 0..3 {
        partial.try_next().await.unwrap().unwrap();
    }
    drop(partial);

    // The audit log: the same events as the paged listing, newest first.
    let filters = [
        (None, None, None),
        (Some("client-00007"), None, None),
        (None, Some("recipient:SW-00001"), None),
        (
            None,
            Some("recipient:SW-00002"),
            Some("registration.create"),
        ),
        (None, None, Some("registration.update")),
        (None, None, Some("no.such.action")),
    ];
    for (client_id, actor, action) in filters {
        let q = AuditQuery {
            client_id: client_id.map(Into::into),
            actor: actor.map(Into::into),
            action: action.map(Into::into),
            page: 1,
            per_page: 50,
            ..Default::default()
        };
        let exported: Vec<i64> = store
            .export_audit(&q)
            .map_ok(|e| e.audit_event_id)
            .try_collect()
            .await
            .unwrap();
        let mut listed = Vec::new();
        for page in 1.. {
            let p = store
                .list_audit(&AuditQuery {
                    page,
                    per_page: 500,
                    ..q.clone()
                })
                .await
                .unwrap();
            if p.items.is_empty() {
                break;
            }
            listed.extend(p.items.into_iter().map(|e| e.audit_event_id));
        }
        assert_eq!(exported, listed, "{client_id:?} {actor:?} {action:?}");
        assert!(exported.windows(2).all(|w| w[0] > w[1]), "newest first");
    }
    let events: usize = store
        .export_audit(&AuditQuery::default())
        .try_fold(0, |n, _| async move { Ok(n + 1) })
        .await
        .unwrap();
    assert_eq!(events, ROWS as usize);

    // Events appended after the first read are not part of that export.
    let mut audit = store.export_audit(&AuditQuery::default());
    let first = audit.try_next().await.unwrap().unwrap();
    store
        .append_audit(&NewAuditEvent {
            occurred_at: 99_999,
            actor: "cli".into(),
            action: "export.audit".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let rest: Vec<_> = audit.try_collect().await.unwrap();
    assert_eq!(rest.len() + 1, ROWS as usize);
    assert!(rest.iter().all(|e| e.audit_event_id < first.audit_event_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_what_the_lists_show_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let store = Store::connect(&url).await.unwrap();
    export_contract(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_what_the_lists_show_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    export_contract(&store).await;
    store.close().await;
}
