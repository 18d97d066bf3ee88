//! The audit hash chain, on both backends: an intact chain verifies, an edited or deleted event
//! breaks it at that point (on any page of the verifier), concurrent writers keep one chain,
//! events written before the chain existed are hashed once at start, and a truncated tail is
//! found against a recorded head.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dcr_store::{NewAuditEvent, Registration, RegistrationStatus, Store, AUDIT_CHAIN_PAGE};
use test_support::TempPostgres;

fn reg(client_id: &str) -> Registration {
    Registration::example(client_id, &format!("sw-{client_id}"), 1)
}

fn event(action: &str, n: i64) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: 1_000 + n,
        actor: "admin:alice".into(),
        action: action.into(),
        client_id: Some(format!("c{n}")),
        reason: Some(format!("reason {n}")),
        after_state: Some(format!("{{\"n\":{n}}}")),
        ..Default::default()
    }
}

/// Runs raw SQL against the same database, as an attacker with database access would.
async fn raw(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn ids(store: &Store) -> Vec<i64> {
    let page = store
        .list_audit(&dcr_store::AuditQuery {
            per_page: 500,
            page: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<i64> = page.items.iter().map(|e| e.audit_event_id).collect();
    ids.sort_unstable();
    ids
}

async fn tamper_contract(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let empty = store.verify_audit_chain().await.unwrap();
    assert!(
        empty.ok && empty.checked == 0 && empty.head.is_none(),
        "{empty:?}"
    );

    // Every writer path: create (group commit on SQLite), status change, free-standing event.
    store
        .create_registration(&reg("c1"), None, &event("registration.create", 1))
        .await
        .unwrap();
    store
        .set_registration_status(
            "c1",
            &[RegistrationStatus::Active],
            RegistrationStatus::Revoked,
            Some("test"),
            2,
            &event("registration.revoke", 2),
        )
        .await
        .unwrap();
    for n in 3..=6 {
        store
            .append_audit(&event("admin.sign_in", n))
            .await
            .unwrap();
    }
    let ok = store.verify_audit_chain().await.unwrap();
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.checked, 6);
    assert_eq!(ok.head.as_deref().map(str::len), Some(64));

    let ids = ids(&store).await;
    assert_eq!(ids.len(), 6);

    // Editing the reason of the third event breaks the chain there.
    raw(
        url,
        &format!(
            "UPDATE audit_event SET reason = 'nothing to see' WHERE audit_event_id = {}",
            ids[2]
        ),
    )
    .await;
    let broken = store.verify_audit_chain().await.unwrap();
    assert!(!broken.ok);
    assert_eq!(broken.first_broken, Some(ids[2]), "{broken:?}");
    assert_eq!(broken.checked, 2);
    raw(
        url,
        &format!(
            "UPDATE audit_event SET reason = 'reason 3' WHERE audit_event_id = {}",
            ids[2]
        ),
    )
    .await;
    assert!(store.verify_audit_chain().await.unwrap().ok, "restored");

    // Editing after_state is caught the same way.
    raw(
        url,
        &format!(
            "UPDATE audit_event SET after_state = '{{}}' WHERE audit_event_id = {}",
            ids[4]
        ),
    )
    .await;
    assert_eq!(
        store.verify_audit_chain().await.unwrap().first_broken,
        Some(ids[4])
    );
    raw(
        url,
        &format!(
            "UPDATE audit_event SET after_state = '{{\"n\":5}}' WHERE audit_event_id = {}",
            ids[4]
        ),
    )
    .await;
    assert!(store.verify_audit_chain().await.unwrap().ok, "restored");

    // Deleting an event breaks the link of the one after it.
    raw(
        url,
        &format!("DELETE FROM audit_event WHERE audit_event_id = {}", ids[1]),
    )
    .await;
    let broken = store.verify_audit_chain().await.unwrap();
    assert_eq!(broken.first_broken, Some(ids[2]), "{broken:?}");

    // A removed hash is reported, not recomputed at the next start.
    raw(
        url,
        &format!(
            "UPDATE audit_event SET hash = NULL WHERE audit_event_id = {}",
            ids[0]
        ),
    )
    .await;
    store.close().await;
    let again = Store::connect(url).await.unwrap();
    assert_eq!(
        again.verify_audit_chain().await.unwrap().first_broken,
        Some(ids[0])
    );
    again.close().await;
}

async fn concurrent_writers_keep_one_chain(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..8_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..20_i64 {
                if n % 5 == 0 {
                    let id = format!("t{t}n{n}");
                    store
                        .create_registration(
                            &reg(&id),
                            None,
                            &event("registration.create", t * 100 + n),
                        )
                        .await
                        .unwrap();
                } else {
                    store
                        .append_audit(&event("admin.sign_in", t * 100 + n))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let status = store.verify_audit_chain().await.unwrap();
    assert!(status.ok, "{status:?}");
    assert_eq!(status.checked, 160);
    store.close().await;
}

async fn legacy_events_are_hashed_once(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store.close().await;
    for n in 0..3 {
        raw(
            url,
            &format!("INSERT INTO audit_event (occurred_at, actor, action) VALUES ({n}, 'system', 'legacy')"),
        )
        .await;
    }
    let store = Store::connect(url).await.unwrap();
    store
        .append_audit(&event("after.upgrade", 9))
        .await
        .unwrap();
    let status = store.verify_audit_chain().await.unwrap();
    assert!(status.ok, "{status:?}");
    assert_eq!(status.checked, 4);
    store.close().await;
}

/// A chain of more than two verifier pages: verified whole, a break on the second page and a
/// deletion at a page boundary found, and a truncated tail found against a recorded head.
async fn long_chains_and_recorded_heads(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let total = 2 * AUDIT_CHAIN_PAGE + 150;
    let mut tasks = Vec::new();
    for t in 0..10_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in (t..total).step_by(10) {
                store
                    .append_audit(&event("admin.sign_in", n))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let whole = store.verify_audit_chain().await.unwrap();
    assert!(whole.ok, "{whole:?}");
    assert_eq!(whole.checked, u64::try_from(total).unwrap());
    let head = whole.head.clone().unwrap();
    assert!(store.verify_audit_chain_to(&head).await.unwrap().ok);

    // Events are numbered from 1 in a fresh store: page two holds ids PAGE+1 to 2·PAGE.
    let on_page_two = AUDIT_CHAIN_PAGE + 500;
    raw(
        url,
        &format!("UPDATE audit_event SET reason = 'edited' WHERE audit_event_id = {on_page_two}"),
    )
    .await;
    let broken = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        (broken.ok, broken.first_broken, broken.checked),
        (
            false,
            Some(on_page_two),
            u64::try_from(on_page_two - 1).unwrap()
        ),
        "{broken:?}"
    );
    // The last event of page one deleted: the first of page two no longer links.
    raw(
        url,
        &format!("DELETE FROM audit_event WHERE audit_event_id = {AUDIT_CHAIN_PAGE}"),
    )
    .await;
    let broken = store.verify_audit_chain().await.unwrap();
    assert_eq!(
        broken.first_broken,
        Some(AUDIT_CHAIN_PAGE + 1),
        "{broken:?}"
    );
    store.close().await;
}

/// Deleting the newest events leaves a valid shorter chain; only the recorded head shows it.
async fn a_truncated_tail_is_found_against_a_recorded_head(url: &str) {
    let store = Store::connect(url).await.unwrap();
    for n in 0..5 {
        store
            .append_audit(&event("admin.sign_in", n))
            .await
            .unwrap();
    }
    let early = store.verify_audit_chain().await.unwrap().head.unwrap();
    for n in 5..10 {
        store
            .append_audit(&event("admin.sign_in", n))
            .await
            .unwrap();
    }
    let late = store.verify_audit_chain().await.unwrap().head.unwrap();
    let last_ids = ids(&store).await;
    raw(
        url,
        &format!(
            "DELETE FROM audit_event WHERE audit_event_id >= {}",
            last_ids[7]
        ),
    )
    .await;

    let alone = store.verify_audit_chain().await.unwrap();
    assert!(
        alone.ok && alone.checked == 7,
        "the shorter chain verifies alone: {alone:?}"
    );
    let against_late = store.verify_audit_chain_to(&late).await.unwrap();
    assert!(!against_late.ok, "{against_late:?}");
    assert_eq!(against_late.first_broken, None);
    assert_eq!(against_late.checked, 7);
    assert!(against_late
        .problem
        .as_deref()
        .unwrap()
        .contains("the recorded head is not in the chain"));
    let against_early = store.verify_audit_chain_to(&early).await.unwrap();
    assert!(
        against_early.ok,
        "an older head is still in the chain: {against_early:?}"
    );
    store.close().await;
}

fn sqlite_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite:{}", dir.path().join(name).display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_chain_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    tamper_contract(&sqlite_url(&dir, "tamper.db")).await;
    concurrent_writers_keep_one_chain(&sqlite_url(&dir, "concurrent.db")).await;
    legacy_events_are_hashed_once(&sqlite_url(&dir, "legacy.db")).await;
    long_chains_and_recorded_heads(&sqlite_url(&dir, "long.db")).await;
    a_truncated_tail_is_found_against_a_recorded_head(&sqlite_url(&dir, "truncated.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_chain_on_postgres() {
    let pg = TempPostgres::shared();
    tamper_contract(&pg.fresh_database()).await;
    concurrent_writers_keep_one_chain(&pg.fresh_database()).await;
    legacy_events_are_hashed_once(&pg.fresh_database()).await;
    long_chains_and_recorded_heads(&pg.fresh_database()).await;
    a_truncated_tail_is_found_against_a_recorded_head(&pg.fresh_database()).await;
}
