//! One store contract, run against both backends: a real SQLite file in a temp dir and a real
//! PostgreSQL cluster started for the test (initdb + pg_ctl on a free loopback port).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dcr_store::{
    AdminListQuery, AuditQuery, Conflict, EndSessions, Metadata, NewAuditEvent, Registration,
    RegistrationStatus, SessionMeta, Sort, StatusFilter, Store, StoreError, StoredSigningKey,
    UsedJti,
};
use test_support::TempPostgres;

fn reg(client_id: &str, software_id: &str, name: &str, created: i64) -> Registration {
    Registration {
        org_id: format!("org-{software_id}"),
        client_name: name.into(),
        legal_entity_id: Some("le-1".into()),
        legal_entity_name: Some("Legal Entity".into()),
        scope: "openid cdr:registration".into(),
        // Fields out of alphabetical order: the text is stored and read back as it is.
        metadata: Metadata::parse(format!(
            r#"{{"software_id":"{software_id}","redirect_uris":["https://adr.example/cb"],"id_token_signed_response_alg":"PS256"}}"#
        ))
        .unwrap(),
        ..Registration::example(client_id, software_id, created)
    }
}

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

async fn contract(store: Store) {
    store.ping().await.unwrap();
    let wal_before = store.wal_bytes().await.unwrap();

    // create + read back
    let r1 = reg("c1", "SW-1", "Alpha Budget", 100);
    store
        .create_registration(
            &r1,
            Some(&UsedJti {
                key: "reg:sw-1:j1".into(),
                expires_at: 5_000,
            }),
            &audit("registration.create", "c1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_registration("c1").await.unwrap(),
        Some(r1.clone()),
        "round trip"
    );
    assert!(
        store.get_registration("nope").await.unwrap().is_none(),
        "unknown id is None"
    );
    let read = store.get_registration("c1").await.unwrap().unwrap();
    assert_eq!(read.metadata.as_str(), r1.metadata.as_str());
    assert_eq!(
        read.metadata.get("redirect_uris"),
        Some(&serde_json::json!(["https://adr.example/cb"]))
    );

    // The benchmark's WAL figure: the log grew by at least the row and its audit event (on
    // SQLite, the bytes the writer's thread wrote).
    let wal_after = store.wal_bytes().await.unwrap();
    if cfg!(target_os = "linux") {
        let (before, after) = (wal_before.unwrap(), wal_after.unwrap());
        assert!(after > before + 1_000, "WAL {before} to {after} bytes");
    }

    // one active registration per software_id, case-insensitively
    let dup = store
        .create_registration(
            &reg("c2", "sw-1", "Dup", 101),
            None,
            &audit("registration.create", "c2"),
        )
        .await;
    assert!(
        matches!(&dup, Err(StoreError::Conflict(Conflict::SoftwareIdTaken))),
        "duplicate software_id must conflict, got {dup:?}"
    );
    assert!(
        store.get_registration("c2").await.unwrap().is_none(),
        "nothing half-written"
    );

    // replayed jti refused and nothing written
    let replay = store
        .create_registration(
            &reg("c3", "SW-3", "Gamma", 102),
            Some(&UsedJti {
                key: "reg:sw-1:j1".into(),
                expires_at: 5_000,
            }),
            &audit("registration.create", "c3"),
        )
        .await;
    assert!(
        matches!(&replay, Err(StoreError::Conflict(Conflict::JtiUsed))),
        "{replay:?}"
    );
    assert!(
        store.get_registration("c3").await.unwrap().is_none(),
        "replay rolled back"
    );
    assert!(
        store.use_jti("other", 10).await.unwrap(),
        "fresh jti accepted"
    );
    assert!(
        !store.use_jti("other", 10).await.unwrap(),
        "second use refused"
    );

    // update takes every SSA-derived field (the recipient and brand the Register now names
    // included, which the status sync matches on) and keeps identity
    let mut r1b = r1.clone();
    r1b.client_name = "Alpha Budget 2".into();
    r1b.legal_entity_id = Some("le-moved".into());
    r1b.legal_entity_name = Some("Moved Pty Ltd".into());
    r1b.org_id = "org-moved".into();
    r1b.updated_at = 200;
    store
        .update_registration(&r1b, None, &audit("registration.update", "c1"))
        .await
        .unwrap();
    let got = store.get_registration("c1").await.unwrap().unwrap();
    assert_eq!(got, r1b, "every updated field stored");
    assert_eq!(got.client_id_issued_at, 100, "issued_at kept");

    // status change is conditional and audited
    let changed = store
        .set_registration_status(
            "c1",
            &[RegistrationStatus::Active],
            RegistrationStatus::Deleted,
            None,
            300,
            &audit("registration.delete", "c1"),
        )
        .await
        .unwrap();
    assert!(changed);
    let again = store
        .set_registration_status(
            "c1",
            &[RegistrationStatus::Active],
            RegistrationStatus::Deleted,
            None,
            301,
            &audit("registration.delete", "c1"),
        )
        .await
        .unwrap();
    assert!(!again, "second delete changes nothing");
    let err = store
        .update_registration(&r1b, None, &audit("registration.update", "c1"))
        .await;
    assert!(
        matches!(err, Err(StoreError::NotFound)),
        "deleted registration cannot be updated"
    );
    // software_id free again after deletion
    store
        .create_registration(
            &reg("c4", "SW-1", "Alpha again", 400),
            None,
            &audit("registration.create", "c4"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .find_registration_by_software_id("sw-1")
            .await
            .unwrap()
            .unwrap()
            .client_id,
        "c4"
    );

    // listing: search, filter, sort, paging
    for i in 0..25 {
        store
            .create_registration(
                &reg(
                    &format!("list-{i:02}"),
                    &format!("LSW-{i}"),
                    &format!("Product {i:02}"),
                    1_000 + i,
                ),
                None,
                &audit("registration.create", "x"),
            )
            .await
            .unwrap();
    }
    let page = store
        .search_registrations(&AdminListQuery {
            search: Some("product".into()),
            page: 2,
            per_page: 10,
            sort: Sort::NameAsc,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 25);
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.items[0].client_name, "Product 10");
    let deleted = store
        .search_registrations(&AdminListQuery {
            status: Some(StatusFilter::Deleted),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted.total, 1);
    let by_id = store
        .search_registrations(&AdminListQuery {
            search: Some("lsw-7".into()),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_id.total, 1, "search by software_id");
    let pct = store
        .search_registrations(&AdminListQuery {
            search: Some("%".into()),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pct.total, 0, "LIKE wildcards are escaped");

    // admins
    assert!(store.upsert_admin("a1", "alice", "hash1", 1).await.unwrap());
    assert!(!store.upsert_admin("a2", "alice", "hash2", 2).await.unwrap());
    let alice = store.find_admin("alice").await.unwrap().unwrap();
    assert_eq!(alice.password_hash, "hash2");
    assert_eq!(
        alice.admin_user_id, "a1",
        "the password replaced, the account kept"
    );

    // sessions
    let anon = SessionMeta::default();
    assert!(store.create_session("s1", "{}", 100, &anon).await.unwrap());
    assert!(
        !store.create_session("s1", "{}", 100, &anon).await.unwrap(),
        "id collision detected"
    );
    let signed_in = SessionMeta {
        admin_username: Some("alice".into()),
        signed_in_at: Some(40),
        last_seen_at: 45,
        address: Some("192.0.2.1".into()),
        user_agent: Some("Firefox".into()),
    };
    assert!(store
        .save_session("s1", "{\"a\":1}", 100, &signed_in)
        .await
        .unwrap());
    assert_eq!(
        store.load_session("s1", 50).await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    assert!(store
        .create_session("s2", "{}", 100, &signed_in)
        .await
        .unwrap());
    let listed = store.sessions_of("alice", 50).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (
            listed[0].address.as_deref(),
            listed[0].signed_in_at,
            listed[0].last_seen_at
        ),
        (Some("192.0.2.1"), Some(40), Some(45))
    );
    assert!(store.sessions_of("bob", 50).await.unwrap().is_empty());
    assert_eq!(
        store
            .end_sessions_of("bob", EndSessions::AllBut(None))
            .await
            .unwrap(),
        0,
        "only the account's own sessions"
    );
    assert_eq!(
        store
            .end_sessions_of("alice", EndSessions::AllBut(Some("s1")))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.sessions_of("alice", 50).await.unwrap().len(), 1);
    assert_eq!(
        store
            .end_sessions_of("alice", EndSessions::One("s1"))
            .await
            .unwrap(),
        1
    );
    assert!(store.sessions_of("alice", 50).await.unwrap().is_empty());
    assert!(store.create_session("s1", "{}", 100, &anon).await.unwrap());
    assert_eq!(
        store.load_session("s1", 100).await.unwrap(),
        None,
        "expired session not loaded"
    );
    store.delete_session("s1").await.unwrap();
    assert!(
        !store.save_session("s1", "{}", 200, &anon).await.unwrap(),
        "a save does not create a session"
    );
    assert_eq!(store.load_session("s1", 50).await.unwrap(), None);
    assert!(
        store.purge_expired(6_000).await.unwrap() >= 1,
        "expired entries purged"
    );

    // audit
    let ev = store
        .list_audit(&AuditQuery {
            client_id: Some("c1".into()),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = ev.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "registration.delete",
            "registration.update",
            "registration.create"
        ]
    );

    // signing keys
    let k = StoredSigningKey {
        kid: "k1".into(),
        alg: "ES256".into(),
        private_pem: "pem".into(),
        created_at: 1,
        retired_at: None,
    };
    assert!(store.add_signing_key(&k).await.unwrap());
    assert!(!store.add_signing_key(&k).await.unwrap());
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    assert!(format!("{k:?}").contains("redacted"));

    // concurrent duplicate creates: exactly one wins
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create_registration(
                &reg(&format!("race-{i}"), "RACE", "Race", 10),
                None,
                &audit("registration.create", "race"),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok, 1, "exactly one concurrent create wins");

    // A batch mixing failures (a taken software product, a replayed jti) with registrations
    // that succeed: each gets its own answer, and every stored one is there with its event.
    let events_before = store.verify_audit_chain().await.unwrap().checked;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            // 0..10 share a software product, 10..16 a jti, the others share nothing.
            let software = if i < 10 {
                "MIX".to_string()
            } else {
                format!("MIX-{i}")
            };
            let jti = (10..16).contains(&i).then(|| UsedJti {
                key: "mix-jti".into(),
                expires_at: 10_000,
            });
            let r = s
                .create_registration(
                    &reg(&format!("mix-{i}"), &software, "Mix", 10),
                    jti.as_ref(),
                    &audit("registration.create", &format!("mix-{i}")),
                )
                .await;
            (i, r)
        }));
    }
    let (mut stored, mut mix_wins, mut jti_wins) = (0, 0, 0);
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(()) => {
                stored += 1;
                mix_wins += usize::from(i < 10);
                jti_wins += usize::from((10..16).contains(&i));
                assert!(store
                    .get_registration(&format!("mix-{i}"))
                    .await
                    .unwrap()
                    .is_some());
            }
            Err(StoreError::Conflict(_)) => {
                assert!(i < 16, "mix-{i} had nothing to conflict with");
                assert!(store
                    .get_registration(&format!("mix-{i}"))
                    .await
                    .unwrap()
                    .is_none());
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(
        mix_wins, 1,
        "one registration of the shared software product"
    );
    assert_eq!(jti_wins, 1, "one use of the shared jti");
    assert_eq!(
        stored, 16,
        "the 14 that share nothing and one of each group"
    );
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(
        chain.ok,
        "audit chain intact after a mixed batch: {chain:?}"
    );
    assert_eq!(
        chain.checked - events_before,
        16,
        "one event per stored registration"
    );
    // Batched writes, with the losers rolled back inside the batch, leave one intact chain.
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(
        chain.ok,
        "audit chain intact after concurrent writes: {chain:?}"
    );
    ssa_is_stored_once(&store).await;
    // Stored metadata that is not a JSON object is reported, not handed out.
    let tamper = "UPDATE registration SET metadata = 'not json' WHERE client_id = 'c1'";
    match &store {
        Store::Sqlite(_, writer, ..) => sqlx::query(tamper).execute(writer).await.map(|_| ()),
        Store::Postgres(pool, ..) => sqlx::query(tamper).execute(pool).await.map(|_| ()),
    }
    .unwrap();
    assert!(
        matches!(
            store.get_registration("c1").await,
            Err(StoreError::Inconsistent {
                column: "metadata",
                ..
            })
        ),
        "unreadable metadata is an inconsistency"
    );
}

/// A raw read of one column of one registration.
async fn stored_text(store: &Store, column: &str, client_id: &str) -> String {
    let q = format!("SELECT {column} FROM registration WHERE client_id = $1");
    match store {
        Store::Sqlite(reader, ..) => {
            sqlx::query_scalar(&q)
                .bind(client_id)
                .fetch_one(reader)
                .await
        }
        Store::Postgres(pool, ..) => sqlx::query_scalar(&q).bind(client_id).fetch_one(pool).await,
    }
    .unwrap()
}

/// The software statement is stored once, in `ssa`, though the metadata handed out holds it
/// too; created, updated, and a row stored whole (as before) all read back as written.
async fn ssa_is_stored_once(store: &Store) {
    let ssa = "eyJhbGciOiJQUzI1NiJ9.eyJzb2Z0d2FyZV9pZCI6InNzYS0xIn0.c2lnbmF0dXJl";
    let with_ssa = |ssa: &str, name: &str| {
        Metadata::parse(format!(
            r#"{{"software_id":"ssa-1","client_name":"{name}","software_statement":"{ssa}","scope":"cdr:registration"}}"#
        ))
        .unwrap()
    };
    let r = Registration {
        ssa: ssa.into(),
        metadata: with_ssa(ssa, "Once"),
        ..Registration::example("ssa-c1", "ssa-1", 500)
    };
    store
        .create_registration(&r, None, &audit("registration.create", "ssa-c1"))
        .await
        .unwrap();
    let stored = stored_text(store, "metadata", "ssa-c1").await;
    assert!(
        !stored.contains(ssa),
        "the metadata column does not repeat the SSA: {stored}"
    );
    assert_eq!(
        stored.len() + ssa.len(),
        r.metadata.as_str().len() + 1,
        "the SSA out, a tab in"
    );
    assert_eq!(stored_text(store, "ssa", "ssa-c1").await, ssa);
    assert_eq!(
        store.get_registration("ssa-c1").await.unwrap(),
        Some(r.clone())
    );

    // An update with a new SSA: stored once again, read back whole.
    let ssa2 = "eyJhbGciOiJQUzI1NiJ9.eyJ2IjoyfQ.c2lnbmF0dXJlMg";
    let r2 = Registration {
        ssa: ssa2.into(),
        metadata: with_ssa(ssa2, "Twice"),
        client_name: "Twice".into(),
        updated_at: 600,
        ..r.clone()
    };
    store
        .update_registration(&r2, None, &audit("registration.update", "ssa-c1"))
        .await
        .unwrap();
    assert!(!stored_text(store, "metadata", "ssa-c1")
        .await
        .contains(ssa2));
    assert_eq!(
        store.get_registration("ssa-c1").await.unwrap(),
        Some(r2.clone())
    );

    // A row that holds the SSA in its metadata too (stored before) reads the same.
    let whole = "UPDATE registration SET metadata = $1 WHERE client_id = 'ssa-c1'";
    match store {
        Store::Sqlite(_, writer, ..) => sqlx::query(whole)
            .bind(r2.metadata.as_str())
            .execute(writer)
            .await
            .map(drop),
        Store::Postgres(pool, ..) => sqlx::query(whole)
            .bind(r2.metadata.as_str())
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
    assert_eq!(store.get_registration("ssa-c1").await.unwrap(), Some(r2));

    // Metadata whose statement is not the registration's own is stored as it is.
    let other = Registration {
        ssa: ssa.into(),
        metadata: with_ssa("a.b.c", "Other"),
        ..Registration::example("ssa-c2", "ssa-2", 700)
    };
    store
        .create_registration(&other, None, &audit("registration.create", "ssa-c2"))
        .await
        .unwrap();
    assert_eq!(
        stored_text(store, "metadata", "ssa-c2").await,
        other.metadata.as_str()
    );
    assert_eq!(store.get_registration("ssa-c2").await.unwrap(), Some(other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_holds_on_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    assert!(
        Store::connect("sqlite::memory:").await.is_err(),
        "in-memory SQLite is refused with a clear error"
    );
    let store = Store::connect(&url).await.unwrap();
    contract(store.clone()).await;
    store.close().await;
    // reopening runs migrations again harmlessly and keeps the data
    let again = Store::connect(&url).await.unwrap();
    assert!(again.get_registration("c4").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_holds_on_postgres() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let store = Store::connect(&url).await.unwrap();
    contract(store.clone()).await;
    store.close().await;
    let again = Store::connect(&url).await.unwrap();
    assert!(again.get_registration("c4").await.unwrap().is_some());
    again.close().await;
    drop(pg);
}

#[tokio::test]
async fn connect_rejects_unknown_url_scheme() {
    let err = Store::connect("mysql://u:secret@h/db").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unsupported"), "{text}");
    assert!(!text.contains("secret"), "password must not leak: {text}");
}

/// SQLite: the writer never checkpoints (it would stall the registrations behind it); the
/// store's checkpointer copies the WAL into the database file beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_wal_is_checkpointed_beside_the_writer_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcr.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    let wide = "x".repeat(4000);
    let mut writes = Vec::new();
    for n in 0..200 {
        let store = store.clone();
        let mut r = reg(
            &format!("wal-{n}"),
            &format!("wal-sw-{n}"),
            "Wal",
            1_000 + n,
        );
        r.ssa = wide.clone();
        writes.push(tokio::spawn(async move {
            store
                .create_registration(&r, None, &audit("registration.create", &r.client_id))
                .await
        }));
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    // 200 rows of 4 kB: 800 kB that only a checkpoint moves into the database file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() < before + 800_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint: the database file stayed at {} bytes",
            size()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
}

/// SQLite: the database and its WAL and shared-memory files are readable by their owner only,
/// whether the store creates the database or finds it with looser permissions.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sqlite_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcr.db");
    let url = format!("sqlite://{}", path.display());
    let mode = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::metadata(std::path::PathBuf::from(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let store = Store::connect(&url).await.unwrap();
    let r = reg("perm-1", "perm-sw-1", "Perm", 1_000);
    store
        .create_registration(&r, None, &audit("registration.create", &r.client_id))
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(suffix), 0o600, "dcr.db{suffix} when created");
    }
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let again = Store::connect(&url).await.unwrap();
    assert_eq!(
        mode(""),
        0o600,
        "an existing database readable by others is tightened"
    );
    assert!(again.get_registration("perm-1").await.unwrap().is_some());
    again.close().await;
}

/// Two stores on one PostgreSQL database, as two instances behind a load balancer: their
/// batches of registrations (rows first, then the chain's lock), a software product contested
/// between them, and updates through the other store's one-by-one path, all at once. Every
/// registration is stored or refused alone, a contested product is won once, and the audit
/// trail is one chain with every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_postgres_register_at_once_and_keep_one_chain() {
    let pg = TempPostgres::shared();
    let url = pg.fresh_database();
    let a = Store::connect(&url).await.unwrap();
    let b = Store::connect(&url).await.unwrap();
    for i in 0..10 {
        let r = reg(&format!("pre-{i}"), &format!("sw-pre-{i}"), "Pre", 1_000);
        a.create_registration(&r, None, &audit("registration.create", &r.client_id))
            .await
            .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (store, side) in [(&a, "a"), (&b, "b")] {
        for i in 0..30 {
            let (store, client_id) = (store.clone(), format!("{side}-{i}"));
            tasks.spawn(async move {
                let r = reg(&client_id, &format!("sw-{client_id}"), "Mine", 2_000);
                let jti = UsedJti {
                    key: format!("reg:{client_id}"),
                    expires_at: 9_999,
                };
                let done = store
                    .create_registration(&r, Some(&jti), &audit("registration.create", &client_id))
                    .await;
                (client_id, done.map_err(|e| e.to_string()))
            });
        }
        for k in 0..10 {
            let (store, client_id) = (store.clone(), format!("{side}c-{k}"));
            tasks.spawn(async move {
                let r = reg(&client_id, &format!("sw-contested-{k}"), "Contested", 2_000);
                let done = store
                    .create_registration(&r, None, &audit("registration.create", &client_id))
                    .await;
                (client_id, done.map_err(|e| e.to_string()))
            });
        }
    }
    for i in 0..10 {
        let (store, client_id) = (b.clone(), format!("pre-{i}"));
        tasks.spawn(async move {
            let mut r = reg(&client_id, &format!("sw-pre-{i}"), "Updated", 3_000);
            r.updated_at = 3_000;
            let jti = UsedJti {
                key: format!("upd:{client_id}"),
                expires_at: 9_999,
            };
            let done = store
                .update_registration(&r, Some(&jti), &audit("registration.update", &client_id))
                .await;
            (client_id, done.map_err(|e| e.to_string()))
        });
    }
    let mut outcomes = std::collections::HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (client_id, outcome) = done.unwrap();
        outcomes.insert(client_id, outcome);
    }
    for side in ["a", "b"] {
        for i in 0..30 {
            let id = format!("{side}-{i}");
            assert_eq!(outcomes[&id], Ok(()), "{id}");
            assert!(b.get_registration(&id).await.unwrap().is_some(), "{id}");
        }
    }
    for k in 0..10 {
        let (ours, theirs) = (&outcomes[&format!("ac-{k}")], &outcomes[&format!("bc-{k}")]);
        assert!(
            ours.is_ok() != theirs.is_ok(),
            "product {k} is won once: {ours:?} {theirs:?}"
        );
        let refused = ours.as_ref().err().or(theirs.as_ref().err()).unwrap();
        assert_eq!(
            *refused,
            StoreError::Conflict(Conflict::SoftwareIdTaken).to_string(),
            "product {k}"
        );
    }
    for i in 0..10 {
        let id = format!("pre-{i}");
        assert_eq!(outcomes[&id], Ok(()), "{id}");
        let stored = a.get_registration(&id).await.unwrap().unwrap();
        assert_eq!(stored.client_name, "Updated");
    }
    let chain = a.verify_audit_chain().await.unwrap();
    assert!(chain.ok, "{chain:?}");
    // 10 created first, 60 created at once, 10 contested products won, 10 updates.
    assert_eq!(chain.checked, 90, "{chain:?}");
    a.close().await;
    b.close().await;
}
