//! Releasing a registration (CDS standards-maintenance#581), on both backends: an active
//! or revoked registration becomes `released` with its audit event in the same transaction, its
//! software product may register again, releasing anything else changes nothing, an
//! administrator finds every registration of a product by pasting its software_id, and the
//! migration that allows the new status keeps the rows, the search and the indexes of a store
//! created by the previous release.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use dcr_store::{
    AdminListQuery, AuditQuery, Conflict, NewAuditEvent, Registration, RegistrationStatus,
    ReleaseOutcome, SeedRegistration, Sort, StatusFilter, Store, StoreError,
};
use test_support::TempPostgres;

const SW: &str = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";

fn reg(client_id: &str, software_id: &str, created: i64) -> Registration {
    Registration {
        org_id: "org-1".into(),
        org_name: "Acme Money".into(),
        client_name: "Budget Tracker".into(),
        legal_entity_id: Some("le-1".into()),
        legal_entity_name: Some("Acme Pty Ltd".into()),
        ..Registration::example(client_id, software_id, created)
    }
}

fn created(client_id: &str, software_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: 1_000,
        actor: format!("recipient:{software_id}"),
        action: "registration.create".into(),
        client_id: Some(client_id.into()),
        software_id: Some(software_id.into()),
        ..Default::default()
    }
}

async fn releases(store: &Store, client_id: &str) -> Vec<dcr_store::AuditEvent> {
    store
        .list_audit(&AuditQuery {
            client_id: Some(client_id.into()),
            action: Some("registration.release".into()),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
}

async fn release_contract(store: &Store) {
    // The recipient registered, then lost its client_id: a new registration is refused.
    store
        .create_registration(&reg("lost-1", SW, 100), None, &created("lost-1", SW))
        .await
        .unwrap();
    let dup = store
        .create_registration(
            &reg("again-1", &SW.to_ascii_lowercase(), 200),
            None,
            &created("again-1", SW),
        )
        .await;
    assert!(
        matches!(&dup, Err(StoreError::Conflict(Conflict::SoftwareIdTaken))),
        "an active registration holds its software_id: {dup:?}"
    );

    // Released by an administrator, with the reason and its audit event.
    let out = store
        .release_registration(
            "lost-1",
            "admin:alice",
            "Recipient lost its client_id (ticket 42)",
            300,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        ReleaseOutcome::Released {
            from: RegistrationStatus::Active,
            software_id: SW.into()
        }
    );
    let lost = store.get_registration("lost-1").await.unwrap().unwrap();
    assert_eq!(lost.status, RegistrationStatus::Released);
    assert_eq!(
        lost.status_reason.as_deref(),
        Some("Recipient lost its client_id (ticket 42)")
    );
    assert_eq!(lost.updated_at, 300);
    assert_eq!(StatusFilter::of(&lost), StatusFilter::Released);
    let events = releases(store, "lost-1").await;
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.actor, "admin:alice");
    assert_eq!(ev.occurred_at, 300);
    assert_eq!(ev.software_id.as_deref(), Some(SW));
    assert_eq!(
        ev.reason.as_deref(),
        Some("Recipient lost its client_id (ticket 42)")
    );
    assert_eq!(ev.before_state.as_deref(), Some(r#"{"status":"active"}"#));
    assert_eq!(ev.after_state.as_deref(), Some(r#"{"status":"released"}"#));

    // The software_id is free: the product registers again (in another case, too).
    assert!(store
        .find_registration_by_software_id(SW)
        .await
        .unwrap()
        .is_none());
    store
        .create_registration(
            &reg("again-1", &SW.to_ascii_lowercase(), 400),
            None,
            &created("again-1", SW),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .find_registration_by_software_id(SW)
            .await
            .unwrap()
            .unwrap()
            .client_id,
        "again-1"
    );

    // Releasing again changes nothing and writes no event.
    let again = store
        .release_registration("lost-1", "admin:bob", "second try", 500)
        .await
        .unwrap();
    assert_eq!(
        again,
        ReleaseOutcome::Unchanged(RegistrationStatus::Released)
    );
    assert_eq!(releases(store, "lost-1").await.len(), 1);
    let lost = store.get_registration("lost-1").await.unwrap().unwrap();
    assert_eq!(lost.updated_at, 300, "untouched");

    // A revoked registration is released too (its software_id was reserved until now).
    let revoked = store
        .set_registration_status(
            "again-1",
            &[RegistrationStatus::Active],
            RegistrationStatus::Revoked,
            Some("key compromise"),
            600,
            &NewAuditEvent {
                occurred_at: 600,
                actor: "admin:alice".into(),
                action: "registration.revoke".into(),
                client_id: Some("again-1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(revoked);
    assert!(store
        .create_registration(&reg("third-1", SW, 650), None, &created("third-1", SW))
        .await
        .is_err());
    let out = store
        .release_registration(
            "again-1",
            "admin:alice",
            "Key replaced; may register again",
            700,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        ReleaseOutcome::Released {
            from: RegistrationStatus::Revoked,
            software_id: SW.to_ascii_lowercase()
        }
    );
    assert_eq!(
        releases(store, "again-1").await[0].before_state.as_deref(),
        Some(r#"{"status":"revoked"}"#)
    );
    store
        .create_registration(&reg("third-1", SW, 800), None, &created("third-1", SW))
        .await
        .unwrap();

    // Deleted and removed registrations hold no software_id: nothing to release.
    store
        .create_registration(
            &reg("gone-1", "sw-gone", 900),
            None,
            &created("gone-1", "sw-gone"),
        )
        .await
        .unwrap();
    store
        .set_registration_status(
            "gone-1",
            &[RegistrationStatus::Active],
            RegistrationStatus::Deleted,
            None,
            901,
            &created("gone-1", "sw-gone"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .release_registration("gone-1", "admin:alice", "why not", 902)
            .await
            .unwrap(),
        ReleaseOutcome::Unchanged(RegistrationStatus::Deleted)
    );
    assert!(releases(store, "gone-1").await.is_empty());
    assert_eq!(
        store
            .release_registration("no-such-client", "admin:alice", "typo", 903)
            .await
            .unwrap(),
        ReleaseOutcome::NotFound
    );

    // An administrator pastes the software_id (any case, surrounding spaces trimmed by the
    // portal) and finds every registration the product has had; the status filter has Released.
    for pasted in [SW.to_string(), SW.to_ascii_lowercase()] {
        let page = store
            .search_registrations(&AdminListQuery {
                search: Some(pasted.clone()),
                status: None,
                sort: Sort::CreatedDesc,
                page: 1,
                per_page: 25,
            })
            .await
            .unwrap();
        let ids: Vec<&str> = page.items.iter().map(|r| r.client_id.as_str()).collect();
        assert_eq!(ids, ["third-1", "again-1", "lost-1"], "search for {pasted}");
    }
    let released = store
        .search_registrations(&AdminListQuery {
            search: None,
            status: Some(StatusFilter::Released),
            sort: Sort::CreatedDesc,
            page: 1,
            per_page: 25,
        })
        .await
        .unwrap();
    assert_eq!(released.total, 2);
    assert!(released
        .items
        .iter()
        .all(|r| r.status == RegistrationStatus::Released));

    // Every change was chained.
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "{chain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_frees_the_software_id_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let store = Store::connect(&url).await.unwrap();
    release_contract(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_frees_the_software_id_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    release_contract(&store).await;
    store.close().await;
}

// ----- the migration -------------------------------------------------------------------------

const RELEASE_MIGRATION: &str = "20261201000001_add_released_status.sql";

/// Copies into `into` the migrations before the one that adds `released` (the previous
/// release's schema), and that one too when `with_release`.
fn migrations_up_to_release(backend: &str, into: &Path, with_release: bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let mut found = false;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        found |= name == RELEASE_MIGRATION;
        if name.as_str() < RELEASE_MIGRATION || (with_release && name == RELEASE_MIGRATION) {
            std::fs::copy(&path, into.join(&name)).unwrap();
        }
    }
    assert!(found, "{RELEASE_MIGRATION} exists for {backend}");
}

/// Seeds, on the previous schema, one registration of each status with its search entry.
const OLD_ROWS: &str = "INSERT INTO registration (client_id, software_id, software_key, org_id, \
    org_name, client_name, jwks_uri, scope, status, status_reason, ssa, metadata, \
    client_id_issued_at, created_at, updated_at) VALUES \
    ('old-active', 'SW-A', 'sw-a', 'org', 'Brand', 'Old Active Product', 'j', 's', 'active', NULL, 'a', '{}', 1, 1, 1), \
    ('old-revoked', 'SW-R', 'sw-r', 'org', 'Brand', 'Old Revoked Product', 'j', 's', 'revoked', 'compromised', 'a', '{}', 2, 2, 2), \
    ('old-deleted', 'SW-D', 'sw-d', 'org', 'Brand', 'Old Deleted Product', 'j', 's', 'deleted', NULL, 'a', '{}', 3, 3, 3)";

async fn after_migration(store: &Store) {
    let revoked = store
        .get_registration("old-revoked")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.status, RegistrationStatus::Revoked);
    assert_eq!(revoked.status_reason.as_deref(), Some("compromised"));
    assert_eq!(revoked.client_name, "Old Revoked Product");
    // the unique index still holds for active and revoked registrations
    assert!(store
        .create_registration(&reg("new-r", "sw-r", 10), None, &created("new-r", "sw-r"))
        .await
        .is_err());
    // the search still finds old rows, and follows new ones and changes
    let find = |q: &'static str| {
        let store = store.clone();
        async move {
            store
                .search_registrations(&AdminListQuery {
                    search: Some(q.into()),
                    status: None,
                    sort: Sort::CreatedAsc,
                    page: 1,
                    per_page: 25,
                })
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.client_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("old revoked").await, ["old-revoked"]);
    assert_eq!(
        store
            .release_registration("old-revoked", "admin:alice", "released after upgrade", 20)
            .await
            .unwrap(),
        ReleaseOutcome::Released {
            from: RegistrationStatus::Revoked,
            software_id: "SW-R".into()
        }
    );
    store
        .create_registration(&reg("new-r", "sw-r", 30), None, &created("new-r", "sw-r"))
        .await
        .unwrap();
    assert_eq!(find("sw-r").await, ["old-revoked", "new-r"]);
    let mut renamed = store.get_registration("new-r").await.unwrap().unwrap();
    renamed.client_name = "Renamed After Upgrade".into();
    store
        .update_registration(&renamed, None, &created("new-r", "sw-r"))
        .await
        .unwrap();
    assert_eq!(find("renamed after").await, ["new-r"]);
    assert!(
        find("budget tracker").await.is_empty(),
        "the old name is gone"
    );
    store
        .insert_registrations_bulk(&[SeedRegistration {
            registration: reg("seeded-1", "sw-seeded", 40),
            audit: None,
        }])
        .await
        .unwrap();
    assert_eq!(find("sw-seeded").await, ["seeded-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_migration_keeps_rows_search_and_indexes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::create_dir(&old).unwrap();
    std::fs::create_dir(&new).unwrap();
    migrations_up_to_release("sqlite", &old, false);
    migrations_up_to_release("sqlite", &new, true);
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    let migrate = |dir: std::path::PathBuf| {
        let pool = pool.clone();
        async move {
            sqlx::migrate::Migrator::new(dir.as_path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
        }
    };
    migrate(old).await;
    sqlx::query(OLD_ROWS).execute(&pool).await.unwrap();
    let schema_sql = "SELECT type, name, coalesce(sql, '') FROM sqlite_master \
        WHERE tbl_name = 'registration' AND type <> 'table' ORDER BY name";
    let rows_sql = "SELECT rowid, client_id, status FROM registration ORDER BY rowid";
    let schema_before: Vec<(String, String, String)> =
        sqlx::query_as(schema_sql).fetch_all(&pool).await.unwrap();
    let rows_before: Vec<(i64, String, String)> =
        sqlx::query_as(rows_sql).fetch_all(&pool).await.unwrap();

    // This migration alone: the same indexes and triggers, the same rows and rowids.
    migrate(new).await;
    let schema_after: Vec<(String, String, String)> =
        sqlx::query_as(schema_sql).fetch_all(&pool).await.unwrap();
    assert_eq!(
        schema_before, schema_after,
        "every index and trigger of the table is recreated as it was"
    );
    let rows_after: Vec<(i64, String, String)> =
        sqlx::query_as(rows_sql).fetch_all(&pool).await.unwrap();
    assert_eq!(rows_before, rows_after, "rows and rowids kept");
    let (table,): (String,) = sqlx::query_as(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'registration'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(table.contains("'released'"), "{table}");
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    pool.close().await;

    // Then every later migration, and the store works on the upgraded data.
    let store = Store::connect(&url).await.unwrap();
    after_migration(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_migration_keeps_rows_search_and_indexes_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    migrations_up_to_release("postgres", dir.path(), false);
    let url = TempPostgres::shared().fresh_database();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(OLD_ROWS).execute(&pool).await.unwrap();
    let refused =
        sqlx::query("UPDATE registration SET status = 'released' WHERE client_id = 'old-active'")
            .execute(&pool)
            .await;
    assert!(
        refused.is_err(),
        "the previous schema has no released status"
    );
    pool.close().await;

    let store = Store::connect(&url).await.unwrap();
    after_migration(&store).await;
    let Store::Postgres(pool, ..) = &store else {
        unreachable!()
    };
    let bogus =
        sqlx::query("UPDATE registration SET status = 'bogus' WHERE client_id = 'old-active'")
            .execute(pool)
            .await;
    assert!(
        matches!(
            StoreError::from(bogus.unwrap_err()),
            StoreError::Conflict(Conflict::InvalidStatus)
        ),
        "the status is still checked"
    );
    store.close().await;
}
