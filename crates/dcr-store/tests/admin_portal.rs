//! The portal's store queries on both backends: list search, filters, sort and paging; sign-in
//! throttling; password changes; passkeys; and, on SQLite, the list served by indexes at 100,000 rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use dcr_store::{
    search_words, AdminListQuery, Attempt, AuditQuery, Conflict, NewAuditEvent, NewPasskey,
    PasskeyRow, Registration, RegistrationStatus, SeedRegistration, Sort, StatusFilter, Store,
    StoreError, ThrottlePolicy,
};
use test_support::TempPostgres;

fn reg(n: u32, name: &str, status: RegistrationStatus) -> Registration {
    Registration {
        org_id: format!("org-{}", n % 3),
        org_name: format!("Brand {}", n % 3),
        client_name: name.into(),
        legal_entity_id: Some(format!("le-{}", n % 2)),
        legal_entity_name: Some(format!("Legal {} Pty Ltd", n % 2)),
        status,
        client_id_issued_at: i64::from(n),
        created_at: 1_000 + i64::from(n),
        updated_at: 5_000 - i64::from(n),
        ..Registration::example(&format!("client-{n:03}"), &format!("SW-{n:03}"), 0)
    }
}

fn q(search: Option<&str>, status: Option<StatusFilter>, sort: Sort, page: u32) -> AdminListQuery {
    AdminListQuery {
        search: search.map(Into::into),
        status,
        sort,
        page,
        per_page: 4,
    }
}

fn ids(page: &dcr_store::Page<Registration>) -> Vec<&str> {
    page.items.iter().map(|r| r.client_id.as_str()).collect()
}

/// Whether every word of `search` is part of one of the registration's names or ids (ignoring
/// case): what a search finds, checked one registration at a time.
fn matches(r: &Registration, search: &str) -> bool {
    let fields = [
        r.client_name.as_str(),
        r.org_name.as_str(),
        r.legal_entity_name.as_deref().unwrap_or(""),
        r.client_id.as_str(),
        r.software_id.as_str(),
        r.org_id.as_str(),
        r.legal_entity_id.as_deref().unwrap_or(""),
    ]
    .map(str::to_lowercase);
    search_words(search).iter().all(|w| {
        let w = w.to_lowercase();
        fields.iter().any(|f| f.contains(&w))
    })
}

async fn list_contract(store: &Store) {
    let mut seeds = Vec::new();
    for n in 0..10u32 {
        let status = match n {
            7 => RegistrationStatus::Revoked,
            8 => RegistrationStatus::Deleted,
            9 => RegistrationStatus::Removed,
            _ => RegistrationStatus::Active,
        };
        let name = match n {
            2 => "<img src=x onerror=alert(1)>",
            3 => "100% Budget_Tracker",
            _ => "Budget app",
        };
        let mut r = reg(n, &name.replace("app", &format!("app {n}")), status);
        if n == 5 {
            r.register_sp_status = Some("INACTIVE".into());
            r.register_synced_at = Some(2_000);
        }
        if n == 6 {
            r.register_sp_status = Some("ACTIVE".into());
            r.register_dr_status = Some("suspended".into());
        }
        seeds.push(SeedRegistration {
            registration: r,
            audit: Some(NewAuditEvent {
                occurred_at: 1_000,
                actor: format!("recipient:SW-{n:03}"),
                action: "registration.create".into(),
                client_id: Some(format!("client-{n:03}")),
                ..Default::default()
            }),
        });
    }
    store.insert_registrations_bulk(&seeds).await.unwrap();
    let five = store.get_registration("client-005").await.unwrap().unwrap();
    assert_eq!(five.register_sp_status.as_deref(), Some("INACTIVE"));
    assert_eq!(StatusFilter::of(&five), StatusFilter::Inactive);
    let audit = store
        .list_audit(&AuditQuery {
            action: Some("registration.create".into()),
            page: 1,
            per_page: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.total, 10, "every seed has its audit event");

    // newest first, paged by 4, stable
    let p1 = store
        .search_registrations(&q(None, None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(p1.total, 10);
    assert_eq!(
        ids(&p1),
        ["client-009", "client-008", "client-007", "client-006"]
    );
    let p3 = store
        .search_registrations(&q(None, None, Sort::CreatedDesc, 3))
        .await
        .unwrap();
    assert_eq!(ids(&p3), ["client-001", "client-000"]);
    let beyond = store
        .search_registrations(&q(None, None, Sort::CreatedDesc, 9))
        .await
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 10, "the total is known past the last page");
    let oldest = store
        .search_registrations(&q(None, None, Sort::CreatedAsc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&oldest)[0], "client-000");
    let updated = store
        .search_registrations(&q(None, None, Sort::UpdatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&updated)[0], "client-000");
    let by_name = store
        .search_registrations(&q(None, None, Sort::NameAsc, 1))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].client_name, "100% Budget_Tracker");

    // Every page, whichever end it is read from (a page past the middle is read from the
    // other end of the order), is its part of the whole list.
    for sort in [
        Sort::CreatedDesc,
        Sort::CreatedAsc,
        Sort::UpdatedDesc,
        Sort::NameAsc,
        Sort::NameDesc,
    ] {
        for status in [None, Some(StatusFilter::Active)] {
            let whole = store
                .search_registrations(&AdminListQuery {
                    per_page: 50,
                    ..q(None, status, sort, 1)
                })
                .await
                .unwrap();
            let mut paged = Vec::new();
            for page in 1..=3 {
                let p = store
                    .search_registrations(&q(None, status, sort, page))
                    .await
                    .unwrap();
                assert_eq!(p.total, whole.total);
                assert!(!p.more);
                paged.extend(ids(&p).into_iter().map(String::from));
            }
            assert_eq!(paged, ids(&whole), "{sort:?} {status:?} paged by 4");
        }
    }

    // status filters, with "inactive at the Register" apart from active
    let count = |f| {
        let store = store.clone();
        async move {
            store
                .search_registrations(&q(None, Some(f), Sort::CreatedDesc, 1))
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(count(StatusFilter::Active).await, 5);
    assert_eq!(count(StatusFilter::Inactive).await, 2);
    assert_eq!(count(StatusFilter::Revoked).await, 1);
    assert_eq!(count(StatusFilter::Deleted).await, 1);
    assert_eq!(count(StatusFilter::Removed).await, 1);

    // search: names and every id, any ASCII case; LIKE wildcards are literal
    let search = |s: &'static str, f: Option<StatusFilter>| {
        let store = store.clone();
        async move {
            let mut out: Vec<String> = store
                .search_registrations(&AdminListQuery {
                    search: Some(s.into()),
                    status: f,
                    sort: Sort::NameAsc,
                    page: 1,
                    per_page: 50,
                })
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.client_id)
                .collect();
            out.sort();
            out
        }
    };
    assert_eq!(search("BUDGET APP 4", None).await, ["client-004"]);
    assert_eq!(search("client-00", None).await.len(), 10);
    assert_eq!(search("sw-001", None).await, ["client-001"]);
    assert_eq!(search("org-2", None).await.len(), 3);
    assert_eq!(search("LE-1", None).await.len(), 5);
    assert_eq!(
        search("legal 0 pty", None).await.len(),
        10,
        "each word anywhere"
    );
    assert_eq!(search("Legal 0 Pty Ltd", None).await.len(), 10);
    assert_eq!(search("100%", None).await, ["client-003"]);
    assert_eq!(search("%", None).await, ["client-003"], "% is literal");
    assert_eq!(search("_", None).await, ["client-003"], "_ is literal");
    assert_eq!(search("onerror", None).await, ["client-002"]);
    assert_eq!(
        search("'; DROP TABLE registration; --", None).await.len(),
        0
    );
    assert_eq!(
        search("budget", Some(StatusFilter::Revoked)).await,
        ["client-007"]
    );
    assert_eq!(search("   ", None).await.len(), 10, "blank means no search");

    // Several words: every word must match, each in any of the names and ids, in any order
    // and any case; words of one or two characters (below the trigram index) count too.
    assert_eq!(search("budget 4", None).await, ["client-004"]);
    assert_eq!(
        search("4   BUDGET", None).await,
        ["client-004"],
        "any order"
    );
    assert_eq!(search("tracker 100%", None).await, ["client-003"]);
    assert_eq!(
        search("budget brand le-0 1", None).await,
        ["client-004"],
        "words matched in the name, the brand, the legal entity id and the client id"
    );
    assert_eq!(search("sw-005 org-2", None).await, ["client-005"]);
    assert!(
        search("budget nowhere", None).await.is_empty(),
        "a word that matches nothing finds nothing"
    );
    assert!(search("budget 4 x", None).await.is_empty());
    assert_eq!(
        search("budget 7", Some(StatusFilter::Revoked)).await,
        ["client-007"]
    );
    assert!(search("budget 4", Some(StatusFilter::Revoked))
        .await
        .is_empty());
    // Short words with each status filter, "inactive at the Register" too.
    assert_eq!(
        search("5", Some(StatusFilter::Inactive)).await,
        ["client-005"]
    );
    assert!(search("5", Some(StatusFilter::Active)).await.is_empty());
    assert_eq!(
        search("6", Some(StatusFilter::Inactive)).await,
        ["client-006"]
    );
    assert_eq!(
        search("4", Some(StatusFilter::Active)).await,
        ["client-004"]
    );
    assert_eq!(
        search("9", Some(StatusFilter::Removed)).await,
        ["client-009"]
    );
    assert!(search("9", Some(StatusFilter::Deleted)).await.is_empty());
    assert_eq!(search("brand 2 org", None).await.len(), 3);
    // At most eight words count: a ninth that matches nothing is ignored.
    assert_eq!(dcr_store::MAX_SEARCH_WORDS, 8);
    assert_eq!(
        search("budget app 4 client sw org legal pty nowhere", None).await,
        ["client-004"]
    );
    assert!(search("budget app 4 client sw org legal nowhere pty", None)
        .await
        .is_empty());
    assert_eq!(
        search("budget BUDGET budget 4", None).await,
        ["client-004"],
        "a repeated word counts once"
    );
    assert_eq!(search("\"quoted\"", None).await.len(), 0);

    // The search follows changes to a registration (PUT /register) and to short ids.
    let mut renamed = store.get_registration("client-004").await.unwrap().unwrap();
    assert_eq!(search("pp 4", None).await, ["client-004"]);
    assert!(search("wi", None).await.is_empty());
    renamed.client_name = "Renamed Widget".into();
    renamed.updated_at = 9_000;
    store
        .update_registration(
            &renamed,
            None,
            &NewAuditEvent {
                occurred_at: 9_000,
                actor: "recipient:SW-004".into(),
                action: "registration.update".into(),
                client_id: Some("client-004".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(search("renamed widget", None).await, ["client-004"]);
    assert!(
        search("budget app 4", None).await.is_empty(),
        "the old name is gone"
    );
    // Words of one or two characters follow it too.
    assert_eq!(search("wi", None).await, ["client-004"]);
    assert!(
        search("pp 4", None).await.is_empty(),
        "the old name's short pieces are gone"
    );
    let mut short = reg(99, "Tiny", RegistrationStatus::Active);
    short.client_id = "c9".into();
    store
        .insert_registrations_bulk(&[SeedRegistration {
            registration: short.clone(),
            audit: None,
        }])
        .await
        .unwrap();
    short.client_name = "Tinier".into();
    store
        .update_registration(
            &short,
            None,
            &NewAuditEvent {
                occurred_at: 9_000,
                actor: "x".into(),
                action: "registration.update".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(search("tinier", None).await, ["c9"]);
    assert_eq!(search("tiny", None).await.len(), 0);
    let plans = store
        .explain_search_registrations(&q(Some("x"), None, Sort::NameAsc, 2))
        .await
        .unwrap();
    assert!(!plans.is_empty());
}

async fn throttle_contract(store: &Store) {
    let policy = ThrottlePolicy {
        max_failures: 3,
        window_secs: 100,
        lockout_secs: 50,
    };
    let user = "user:alice";
    let addr = "addr:127.0.0.1";
    let allowed = |failures, locked_until| Attempt::Allowed {
        failures,
        locked_until,
    };
    let reserve = |key: &'static str, now: i64| {
        let store = store.clone();
        async move { store.reserve_login_attempt(key, now, policy).await.unwrap() }
    };
    assert_eq!(reserve(user, 1_000).await, allowed(1, None));
    assert_eq!(reserve(user, 1_010).await, allowed(2, None));
    assert_eq!(
        reserve(user, 1_020).await,
        allowed(3, Some(1_070)),
        "the third try within the window locks"
    );
    assert_eq!(
        reserve(user, 1_030).await,
        Attempt::Refused { until: 1_070 }
    );
    assert_eq!(
        reserve(addr, 1_030).await,
        allowed(1, None),
        "keys are counted apart"
    );
    assert_eq!(
        reserve(user, 1_070).await,
        allowed(4, Some(1_120)),
        "the lock ends; a failure in the same window locks again"
    );
    // a new window starts once the old one is over
    assert_eq!(reserve(user, 1_200).await, allowed(1, None));
    assert_eq!(reserve(user, 1_201).await, allowed(2, None));
    assert_eq!(reserve(user, 1_202).await, allowed(3, Some(1_252)));
    store.release_login_attempt(user, policy).await.unwrap();
    assert_eq!(
        reserve(user, 1_203).await,
        allowed(3, Some(1_253)),
        "a released try is given back and its lock lifted"
    );
    store.clear_login_failures(user).await.unwrap();
    assert_eq!(reserve(user, 1_204).await, allowed(1, None));

    // concurrent attempts get exactly the policy's tries between them
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve_login_attempt(addr, 2_000, policy)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let granted = outcomes
        .iter()
        .filter(|a| matches!(a, Attempt::Allowed { .. }))
        .count();
    assert_eq!(granted, 3, "a new window of three tries: {outcomes:?}");
    assert!(outcomes.iter().all(|a| matches!(
        a,
        Attempt::Allowed { .. } | Attempt::Refused { until: 2_050 }
    )));

    // purge keeps what is locked or recent
    reserve("user:old", 10).await;
    assert_eq!(
        store.purge_login_throttle(1_500, 2_001).await.unwrap(),
        2,
        "alice's stale window and the old entry"
    );
    assert_eq!(
        reserve(addr, 2_001).await,
        Attempt::Refused { until: 2_050 }
    );
}

async fn password_contract(store: &Store) {
    store
        .upsert_admin("id-1", "alice", "old-hash", 10)
        .await
        .unwrap();
    let audit = NewAuditEvent {
        occurred_at: 20,
        actor: "admin:alice".into(),
        action: "admin.password_change".into(),
        ..Default::default()
    };
    assert!(store
        .set_admin_password("alice", "new-hash", 20, &audit)
        .await
        .unwrap());
    let a = store.find_admin("alice").await.unwrap().unwrap();
    assert_eq!((a.password_hash.as_str(), a.updated_at), ("new-hash", 20));
    assert!(!store
        .set_admin_password("nobody", "x", 20, &audit)
        .await
        .unwrap());
    let events = store
        .list_audit(&AuditQuery {
            action: Some("admin.password_change".into()),
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.total, 1, "one event, for the change that happened");
}

fn passkey_event(action: &str) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: 30,
        actor: "admin:pat".into(),
        action: action.into(),
        ..Default::default()
    }
}

async fn passkey_contract(store: &Store) {
    store
        .upsert_admin("id-pat", "pat", "hash", 10)
        .await
        .unwrap();
    store
        .upsert_admin("id-sam", "sam", "hash", 10)
        .await
        .unwrap();
    let added = passkey_event("admin.second_factor_added");
    let key = |id: &'static str, cred: &'static str, at: i64| NewPasskey {
        admin_passkey_id: id,
        admin_username: "pat",
        credential_id: cred,
        passkey: "{\"cred\":1}",
        name: "laptop",
        created_at: at,
    };
    let pat = store.find_admin("pat").await.unwrap().unwrap();
    assert!(
        !pat.has_second_factor(),
        "no second factor before one is added"
    );
    assert!(store
        .add_passkey(&key("pk-1", "cred-1", 30), &added)
        .await
        .unwrap());
    assert!(store
        .add_passkey(&key("pk-2", "cred-2", 31), &added)
        .await
        .unwrap());
    let pat = store.find_admin("pat").await.unwrap().unwrap();
    assert_eq!(pat.passkeys, 2, "the account counts its passkeys");
    assert!(pat.has_second_factor(), "a passkey is a second factor");
    assert!(pat.totp_secret.is_none());
    let err = store
        .add_passkey(
            &NewPasskey {
                admin_username: "sam",
                ..key("pk-3", "cred-1", 32)
            },
            &added,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::PasskeyTaken)),
        "a credential names one account: {err:?}"
    );
    assert!(
        !store
            .add_passkey(
                &NewPasskey {
                    admin_username: "nobody",
                    ..key("pk-4", "cred-4", 32)
                },
                &added
            )
            .await
            .unwrap(),
        "no passkey for an account that does not exist"
    );
    let list = store.passkeys("pat").await.unwrap();
    let ids: Vec<&str> = list.iter().map(|p| p.admin_passkey_id.as_str()).collect();
    assert_eq!(ids, ["pk-1", "pk-2"], "oldest first");
    assert_eq!(list[0].credential_id, "cred-1");
    assert_eq!((list[0].name.as_str(), list[0].created_at), ("laptop", 30));
    assert_eq!(list[0].last_used_at, None);
    assert!(store.passkeys("sam").await.unwrap().is_empty());

    let read = store.passkeys("pat").await.unwrap()[0].clone();
    assert!(store.use_passkey(&read, "{\"cred\":2}", 40).await.unwrap());
    assert!(
        !store.use_passkey(&read, "{\"cred\":3}", 40).await.unwrap(),
        "a use checked against the row as it was before another use is not recorded"
    );
    let sams = PasskeyRow {
        admin_username: "sam".into(),
        ..store.passkeys("pat").await.unwrap()[0].clone()
    };
    assert!(
        !store.use_passkey(&sams, "{}", 41).await.unwrap(),
        "another account cannot use it"
    );
    let first = &store.passkeys("pat").await.unwrap()[0];
    assert_eq!(
        (first.passkey.as_str(), first.last_used_at),
        ("{\"cred\":2}", Some(40))
    );
    assert!(
        store.use_passkey(first, "{\"cred\":4}", 40).await.unwrap(),
        "then the next use"
    );

    let removed = passkey_event("admin.second_factor_removed");
    assert!(
        !store.remove_passkey("sam", "pk-1", &removed).await.unwrap(),
        "only the account's own passkeys can be removed"
    );
    assert!(store.remove_passkey("pat", "pk-1", &removed).await.unwrap());
    assert!(!store.remove_passkey("pat", "pk-1", &removed).await.unwrap());
    assert_eq!(store.find_admin("pat").await.unwrap().unwrap().passkeys, 1);

    let reset = passkey_event("admin.second_factor_reset");
    assert!(store.reset_second_factors("pat", &reset).await.unwrap());
    let pat = store.find_admin("pat").await.unwrap().unwrap();
    assert!(!pat.has_second_factor(), "a reset removes the passkeys");
    assert!(
        !store.reset_second_factors("pat", &reset).await.unwrap(),
        "nothing left to reset"
    );
    let count = |action: &'static str| async move {
        store
            .list_audit(&AuditQuery {
                action: Some(action.into()),
                page: 1,
                per_page: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .total
    };
    assert_eq!(
        count("admin.second_factor_added").await,
        2,
        "one event per passkey added"
    );
    assert_eq!(count("admin.second_factor_removed").await, 1);
    assert_eq!(count("admin.second_factor_reset").await, 1);
}

async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    (Store::connect(&url).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn portal_queries_hold_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    list_contract(&store).await;
    throttle_contract(&store).await;
    password_contract(&store).await;
    passkey_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn portal_queries_hold_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    list_contract(&store).await;
    throttle_contract(&store).await;
    password_contract(&store).await;
    passkey_contract(&store).await;
    store.close().await;
}

/// Counting stops past [`dcr_store::COUNT_LIMIT`] matches, and so do the pages; the whole list
/// and a status filter are counted exactly (from the kept counts), and their last page is the
/// end of the list.
async fn bounded_counts_contract(store: &Store) {
    let n = u32::try_from(dcr_store::COUNT_LIMIT).unwrap() + 30;
    let seeds: Vec<SeedRegistration> = (0..n)
        .map(|i| {
            // A few of the oldest (past the counted limit of "budget app") are not "app"s,
            // though they hold every pair of letters of it.
            let name = if i < 30 && i % 3 == 0 {
                format!("Budget tool ap pp {i}")
            } else {
                format!("Budget app {i}")
            };
            let mut r = reg(i, &name, RegistrationStatus::Active);
            r.client_id = format!("client-{i:05}");
            r.software_id = format!("SW-{i:05}");
            if i % 1000 == 0 {
                r.status = RegistrationStatus::Revoked;
            }
            SeedRegistration {
                registration: r,
                audit: Some(NewAuditEvent {
                    occurred_at: 1_000 + i64::from(i),
                    actor: format!("recipient:SW-{i:05}"),
                    action: "registration.create".into(),
                    client_id: Some(format!("client-{i:05}")),
                    ..Default::default()
                }),
            }
        })
        .collect();
    store.insert_registrations_bulk(&seeds).await.unwrap();
    let page = |search: Option<&'static str>, status, sort, page| {
        let store = store.clone();
        async move {
            store
                .search_registrations(&AdminListQuery {
                    per_page: 25,
                    ..q(search, status, sort, page)
                })
                .await
                .unwrap()
        }
    };

    // A search matching every registration: counted to the limit, paged to it.
    let all = page(Some("budget app"), None, Sort::CreatedDesc, 1).await;
    assert_eq!((all.total, all.more), (dcr_store::COUNT_LIMIT, true));
    let last_paged = page(Some("budget app"), None, Sort::CreatedDesc, 400).await;
    assert_eq!(last_paged.items.len(), 25);
    assert_eq!(last_paged.items[24].client_id, "client-00030");
    let beyond = page(Some("budget app"), None, Sort::CreatedDesc, 401).await;
    assert!(beyond.items.is_empty());
    assert_eq!((beyond.total, beyond.more), (dcr_store::COUNT_LIMIT, true));
    // A search with fewer matches is counted exactly.
    let some = page(Some("app 99"), None, Sort::CreatedDesc, 1).await;
    let with_99 = (0..n).filter(|i| format!("{i:05}").contains("99")).count();
    assert_eq!(
        (some.total, some.more),
        (u64::try_from(with_99).unwrap(), false)
    );

    // Searches with words of one or two characters, common and rare, alone, with longer words
    // and with a status, against every registration checked one by one: the count (up to its
    // limit) and the first page, newest first.
    let registrations: Vec<&Registration> = seeds.iter().map(|s| &s.registration).collect();
    for (search, status) in [
        ("0", None),
        ("0", Some(StatusFilter::Revoked)),
        ("budget 0", Some(StatusFilter::Revoked)),
        ("app 0", Some(StatusFilter::Revoked)),
        ("tool 0", None),
        ("budget 00", None),
        ("app 7", None),
        ("app 1 2", None),
        ("9 8", None),
        ("le-1 99 0", None),
        ("0 7", Some(StatusFilter::Active)),
        ("q", None),
    ] {
        let matching: Vec<&str> = registrations
            .iter()
            .rev()
            .filter(|r| matches(r, search) && status.is_none_or(|s| StatusFilter::of(r) == s))
            .map(|r| r.client_id.as_str())
            .collect();
        let found = page(Some(search), status, Sort::CreatedDesc, 1).await;
        let limit = usize::try_from(dcr_store::COUNT_LIMIT).unwrap();
        assert_eq!(
            (found.total, found.more),
            (
                u64::try_from(matching.len().min(limit)).unwrap(),
                matching.len() > limit
            ),
            "the count of {search:?} ({status:?})"
        );
        assert_eq!(
            ids(&found),
            matching[..matching.len().min(25)],
            "the first page of {search:?} ({status:?})"
        );
    }

    // The whole list: exact, and its last page is the oldest registrations.
    let first = page(None, None, Sort::CreatedDesc, 1).await;
    assert_eq!((first.total, first.more), (u64::from(n), false));
    let last = page(None, None, Sort::CreatedDesc, 402).await;
    assert_eq!(last.items.len(), 5);
    assert_eq!(
        ids(&last),
        [
            "client-00004",
            "client-00003",
            "client-00002",
            "client-00001",
            "client-00000"
        ]
    );
    let oldest = page(None, None, Sort::CreatedAsc, 1).await;
    assert_eq!(
        ids(&oldest)[..5],
        [
            "client-00000",
            "client-00001",
            "client-00002",
            "client-00003",
            "client-00004"
        ]
    );
    let revoked = page(None, Some(StatusFilter::Revoked), Sort::CreatedDesc, 1).await;
    assert_eq!((revoked.total, revoked.more), (11, false));
    let active = page(None, Some(StatusFilter::Active), Sort::NameAsc, 401).await;
    assert_eq!((active.total, active.more), (u64::from(n) - 11, false));
    let mut from_the_end = page(None, Some(StatusFilter::Active), Sort::NameDesc, 1)
        .await
        .items;
    from_the_end.truncate(19);
    from_the_end.reverse();
    assert_eq!(
        ids(&active),
        from_the_end
            .iter()
            .map(|r| r.client_id.as_str())
            .collect::<Vec<_>>()
    );

    // The audit log: counted to the limit, paged to it; a narrower filter is exact.
    let audit = |client_id: Option<&str>, page: u32| {
        let store = store.clone();
        let client_id = client_id.map(String::from);
        async move {
            store
                .list_audit(&AuditQuery {
                    client_id,
                    page,
                    per_page: 50,
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };
    let newest = audit(None, 1).await;
    assert_eq!((newest.total, newest.more), (dcr_store::COUNT_LIMIT, true));
    assert_eq!(newest.items[0].client_id.as_deref(), Some("client-10029"));
    assert_eq!(audit(None, 200).await.items.len(), 50);
    let past = audit(None, 201).await;
    assert!(past.items.is_empty());
    assert!(past.more);
    let one = audit(Some("client-00042"), 1).await;
    assert_eq!((one.total, one.more, one.items.len()), (1, false, 1));
}

/// A word of one or two characters is found whatever stands beside it: a letter or digit,
/// other ASCII, a letter beyond ASCII, the start or the end of a name or id, in any case.
async fn short_words_contract(store: &Store) {
    let names = [
        "Café42",
        "42é Savings",
        "Ünü42ü",
        "x42y Money",
        "#42# Tracker",
        "42",
        "Alpha 42 beta",
        "Loan (42)",
        "4 2 apart",
        "Naïve qz",
        "QZé",
        "éqz",
        "a_qz_b",
        "Q Z apart",
        "Plain product",
    ];
    let seeds: Vec<SeedRegistration> = names
        .iter()
        .zip(0u32..)
        .map(|(name, i)| SeedRegistration {
            registration: reg(900 + i, name, RegistrationStatus::Active),
            audit: None,
        })
        .collect();
    store.insert_registrations_bulk(&seeds).await.unwrap();
    let registrations: Vec<&Registration> = seeds.iter().map(|s| &s.registration).collect();
    let page_of = |search: &str| AdminListQuery {
        per_page: 25,
        ..q(Some(search), None, Sort::CreatedDesc, 1)
    };
    for search in ["42", "qz", "QZ", "2y", "é4", "z", "apart 42", "42 qz", "ü4"] {
        let matching: Vec<&str> = registrations
            .iter()
            .rev()
            .filter(|r| matches(r, search))
            .map(|r| r.client_id.as_str())
            .collect();
        let found = store.search_registrations(&page_of(search)).await.unwrap();
        assert_eq!(ids(&found), matching, "the matches of {search:?}");
        assert_eq!(
            found.total,
            u64::try_from(matching.len()).unwrap(),
            "the count of {search:?}"
        );
    }
    // Not vacuous: the non-ASCII neighbours are among the matches.
    let found = store.search_registrations(&page_of("42")).await.unwrap();
    let names: Vec<&str> = found.items.iter().map(|r| r.client_name.as_str()).collect();
    for name in ["Café42", "42é Savings", "Ünü42ü", "#42# Tracker", "42"] {
        assert!(
            names.contains(&name),
            "{name} is not found by 42: {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_words_are_found_beside_any_character_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    short_words_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_words_are_found_beside_any_character_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    short_words_contract(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_stop_at_the_limit_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    bounded_counts_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_stop_at_the_limit_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    bounded_counts_contract(&store).await;
    // The list counts read the deltas not yet folded; once a burst of them is folded, their
    // table is vacuumed, so that its dead rows are not read by every list count after it.
    let Store::Postgres(pool, _) = &store else {
        unreachable!()
    };
    let size = || async {
        let (bytes,): (i64,) =
            sqlx::query_as("SELECT pg_relation_size('registration_count_delta')")
                .fetch_one(pool)
                .await
                .unwrap();
        bytes
    };
    assert!(size().await > 100_000, "10,030 deltas wait");
    assert_eq!(store.fold_counts().await.unwrap(), 10_030);
    assert_eq!(size().await, 0, "the folded deltas' pages are given back");
    let all = store
        .search_registrations(&q(None, None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(all.total, 10_030, "the same count once folded");
    store.close().await;
}

fn created(n: u32) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: 1_000,
        actor: format!("recipient:SW-{n:03}"),
        action: "registration.create".into(),
        client_id: Some(format!("client-{n:03}")),
        ..Default::default()
    }
}

/// Registration `n` (see [`reg`]) is created, through the API's path.
async fn register(store: &Store, n: u32, name: &str) {
    store
        .create_registration(&reg(n, name, RegistrationStatus::Active), None, &created(n))
        .await
        .unwrap();
}

/// An administrator revokes an active registration.
async fn revoke(store: &Store, client_id: &str) {
    let revoked = store
        .set_registration_status(
            client_id,
            &[RegistrationStatus::Active],
            RegistrationStatus::Revoked,
            Some("test"),
            2_000,
            &NewAuditEvent {
                occurred_at: 2_000,
                actor: "admin:test".into(),
                action: "registration.revoke".into(),
                client_id: Some(client_id.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(revoked);
}

/// The recipient of registration `n` (see [`reg`]) renames its software product.
async fn rename(store: &Store, n: u32, name: &str) {
    let mut renamed = reg(n, name, RegistrationStatus::Active);
    renamed.updated_at = 3_000;
    store
        .update_registration(
            &renamed,
            None,
            &NewAuditEvent {
                occurred_at: 3_000,
                actor: format!("recipient:SW-{n:03}"),
                action: "registration.update".into(),
                client_id: Some(renamed.client_id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// SQLite: registrations written on the API's path reach the list's copy by themselves once the
/// writer is idle, a list query sees every committed registration at once, and changes of a
/// registration already copied (status, names) follow it, search index included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_list_copy_follows_registrations_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let store = Store::connect(&url).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let copied = || async {
        sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM registration_list")
            .fetch_one(&raw)
            .await
            .unwrap()
            .0
    };
    for n in 0..3 {
        register(&store, n, "Budget Buddy").await;
    }
    // No list query: the writer copies them when it is idle.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while copied().await < 3 {
        assert!(
            Instant::now() < deadline,
            "the idle writer did not copy the registrations"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Written and listed at once: the list query brings the copy up to date first.
    register(&store, 3, "Fresh Saver").await;
    let found = store
        .search_registrations(&q(Some("fresh sav"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&found), ["client-003"]);
    assert_eq!(
        store
            .search_registrations(&q(None, None, Sort::CreatedDesc, 1))
            .await
            .unwrap()
            .total,
        4
    );

    // A status change and a name change of copied rows.
    let revoked_with = |search: &'static str| {
        let store = store.clone();
        async move {
            store
                .search_registrations(&q(
                    Some(search),
                    Some(StatusFilter::Revoked),
                    Sort::CreatedDesc,
                    1,
                ))
                .await
                .unwrap()
        }
    };
    assert!(revoked_with("1").await.items.is_empty());
    revoke(&store, "client-001").await;
    let page = store
        .search_registrations(&q(None, Some(StatusFilter::Revoked), Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["client-001"]);
    // The index of short pieces follows the status too, and only a change: an update that
    // leaves the searched columns and the statuses as they were queues nothing.
    assert_eq!(ids(&revoked_with("1").await), ["client-001"]);
    sqlx::query("UPDATE registration SET updated_at = updated_at + 1, register_synced_at = 7")
        .execute(&raw)
        .await
        .unwrap();
    let (queued,): (i64,) = sqlx::query_as("SELECT count(*) FROM registration_grams_pending")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(
        queued, 0,
        "rows queued by an update that changed nothing searched"
    );
    rename(&store, 2, "Penny Wise").await;
    let by_new = store
        .search_registrations(&q(Some("penny"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&by_new), ["client-002"]);
    let by_old = store
        .search_registrations(&q(Some("budget"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&by_old), ["client-001", "client-000"]);
    sqlx::query("INSERT INTO registration_search (registration_search) VALUES ('integrity-check')")
        .execute(&raw)
        .await
        .expect("the search index matches the copy");

    // Words of one or two characters are looked up in the index of short pieces, which holds
    // every row by now.
    let explain = |search: &'static str| {
        let store = store.clone();
        async move {
            store
                .explain_search_registrations(&q(Some(search), None, Sort::CreatedDesc, 1))
                .await
                .unwrap()
        }
    };
    let by_pieces = |plans: &[String]| plans.iter().any(|l| l.contains("registration_grams"));
    let plans = explain("pe").await;
    assert!(by_pieces(&plans), "{plans:?}");
    // While the writer catches up with a backlog (an upgrade's: every row of a large list),
    // they are matched without it, and still found.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
         INSERT INTO registration_grams_pending (reg_rowid) SELECT -i FROM n",
    )
    .execute(&raw)
    .await
    .unwrap();
    let found = store
        .search_registrations(&q(Some("pe"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&found), ["client-002"]);
    let plans = explain("pe").await;
    assert!(!by_pieces(&plans), "a backlog is left: {plans:?}");
    store.sync_search_grams().await.unwrap();
    let plans = explain("pe").await;
    assert!(by_pieces(&plans), "{plans:?}");
    let found = store
        .search_registrations(&q(Some("pe"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&found), ["client-002"]);
    sqlx::query("INSERT INTO registration_grams (registration_grams) VALUES ('integrity-check')")
        .execute(&raw)
        .await
        .expect("the index of short pieces is whole");
    raw.close().await;
    store.close().await;
}

/// PostgreSQL: a registration's write leaves the search copy be (its client id waits in the
/// pending table), a search copies what is pending first and so finds every committed
/// registration, also one written through another instance, and a name change, a status
/// change and a deleted row follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_copy_follows_registrations_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    let other = Store::connect(&url).await.unwrap();
    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    let count = |table: &'static str| {
        let raw = raw.clone();
        async move {
            sqlx::query_as::<_, (i64,)>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&raw)
                .await
                .unwrap()
                .0
        }
    };
    for n in 0..3 {
        register(&store, n, "Budget Buddy").await;
    }
    assert_eq!(count("registration_search").await, 0, "copied on the write");
    assert_eq!(count("registration_search_pending").await, 3);

    // Written through one instance, searched through the other.
    let found = other
        .search_registrations(&q(Some("buddy 00"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&found), ["client-002", "client-001", "client-000"]);
    assert_eq!((found.total, found.more), (3, false));
    assert_eq!(count("registration_search").await, 3);
    assert_eq!(count("registration_search_pending").await, 0);
    assert_eq!(other.sync_search_copy().await.unwrap(), 0, "nothing left");

    // A status change leaves the searched text (and the pending table) be.
    revoke(&store, "client-001").await;
    assert_eq!(count("registration_search_pending").await, 0);
    let revoked = store
        .search_registrations(&q(
            Some("budget"),
            Some(StatusFilter::Revoked),
            Sort::CreatedDesc,
            1,
        ))
        .await
        .unwrap();
    assert_eq!((ids(&revoked), revoked.total), (vec!["client-001"], 1));

    // A name change: found by the new name only.
    rename(&store, 2, "Penny Wise").await;
    assert_eq!(count("registration_search_pending").await, 1);
    let by_new = other
        .search_registrations(&q(Some("penny"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&by_new), ["client-002"]);
    let by_old = other
        .search_registrations(&q(Some("budget"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(ids(&by_old), ["client-001", "client-000"]);

    // A row deleted outside the store's paths (the store never deletes one) leaves the copy.
    sqlx::query("DELETE FROM registration WHERE client_id = 'client-000'")
        .execute(&raw)
        .await
        .unwrap();
    assert_eq!(store.sync_search_copy().await.unwrap(), 1);
    assert_eq!(count("registration_search").await, 2);
    let left = store
        .search_registrations(&q(Some("budget"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!((ids(&left), left.total), (vec!["client-001"], 1));

    raw.close().await;
    other.close().await;
    store.close().await;
}

/// PostgreSQL: once a tenth of the search copy changed since its statistics were taken, the
/// store takes them again (the planner would otherwise take new rows for rare ones), and not
/// before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_copy_statistics_follow_its_growth_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    let analysed_rows = || async {
        sqlx::query_as::<_, (f32,)>(
            "SELECT reltuples FROM pg_class WHERE oid = 'registration_search'::regclass",
        )
        .fetch_one(&raw)
        .await
        .unwrap()
        .0
    };
    // Analysed empty by the migration.
    assert!(analysed_rows().await <= 0.0);
    assert!(!store.refresh_search_statistics().await.unwrap());
    sqlx::query(
        "INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, \
         client_name, jwks_uri, scope, status, ssa, metadata, client_id_issued_at, created_at, \
         updated_at) SELECT 'c-' || i, 'sw-' || i, 'sw-' || i, 'org', 'Brand', 'Product ' || i, \
         'https://adr.example/jwks', 'openid', 'active', 'ssa', '{}', i, i, i \
         FROM generate_series(1, 3000) AS i",
    )
    .execute(&raw)
    .await
    .unwrap();
    // Fewer than the copy's own refresh after a large copy.
    assert_eq!(store.sync_search_copy().await.unwrap(), 3_000);
    // PostgreSQL counts the changes within a second or so.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !store.refresh_search_statistics().await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "3,000 new rows in an empty copy did not refresh its statistics"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!((analysed_rows().await - 3_000.0).abs() < 1.0);
    assert!(
        !store.refresh_search_statistics().await.unwrap(),
        "fresh statistics taken again"
    );
    raw.close().await;
    store.close().await;
}

/// Every list query shape at 100,000 registrations (with realistically wide rows): each is
/// served by an index (no plain table scan, no temporary sort for the default order). How fast
/// they answer is measured by the benchmark (docs/benchmarks.md), not here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_list_is_served_by_indexes_with_100k_registrations_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    let Store::Sqlite(_, writer, ..) = &store else {
        unreachable!()
    };
    let started = Instant::now();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999) \
         INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, client_name, \
         legal_entity_id, legal_entity_name, jwks_uri, scope, status, register_sp_status, ssa, metadata, \
         client_id_issued_at, created_at, updated_at) \
         SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('SW-%06d', i), printf('sw-%06d', i), \
         printf('org-%04d', i % 5000), printf('Brand %d', i % 5000), printf('Product %d of brand %d', i, i % 5000), \
         printf('le-%04d', i % 3000), printf('Legal Entity %d Pty Ltd', i % 3000), 'https://adr.example/jwks', \
         'cdr:registration', CASE WHEN i % 10 = 0 THEN 'revoked' WHEN i % 17 = 0 THEN 'deleted' ELSE 'active' END, \
         CASE WHEN i % 29 = 0 THEN 'INACTIVE' ELSE NULL END, \
         substr(hex(zeroblob(900)), 1, 1500), '{\"pad\":\"' || substr(hex(zeroblob(600)), 1, 1090) || '\"}', \
         1700000000 + i, 1700000000 + i, 1700000000 + (i * 7919) % 100000 FROM n",
    )
    .execute(writer)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(writer).await.unwrap();
    eprintln!("seeded 100,000 registrations in {:?}", started.elapsed());

    let shapes: Vec<(&str, AdminListQuery)> = vec![
        ("first page", q(None, None, Sort::CreatedDesc, 1)),
        ("page 2000", q(None, None, Sort::CreatedDesc, 2000)),
        ("oldest first", q(None, None, Sort::CreatedAsc, 10)),
        ("by update", q(None, None, Sort::UpdatedDesc, 10)),
        ("by name", q(None, None, Sort::NameAsc, 500)),
        ("by name reversed", q(None, None, Sort::NameDesc, 1)),
        (
            "revoked",
            q(None, Some(StatusFilter::Revoked), Sort::CreatedDesc, 3),
        ),
        (
            "revoked by name",
            q(None, Some(StatusFilter::Revoked), Sort::NameAsc, 3),
        ),
        (
            "active",
            q(None, Some(StatusFilter::Active), Sort::CreatedDesc, 100),
        ),
        (
            "inactive",
            q(None, Some(StatusFilter::Inactive), Sort::UpdatedDesc, 1),
        ),
        (
            "search a name",
            q(Some("product 4242 of"), None, Sort::CreatedDesc, 1),
        ),
        (
            "search a brand",
            q(Some("brand 77"), None, Sort::NameAsc, 2),
        ),
        (
            "search an id",
            q(Some("00001092-0000"), None, Sort::CreatedDesc, 1),
        ),
        (
            "search, no match",
            q(Some("nothing like it"), None, Sort::CreatedDesc, 1),
        ),
        (
            "search matching every row",
            q(Some("of brand"), None, Sort::CreatedDesc, 1),
        ),
        (
            "search of 2 characters",
            q(Some("12"), None, Sort::NameAsc, 3),
        ),
        (
            "search + status",
            q(
                Some("legal entity 12 "),
                Some(StatusFilter::Active),
                Sort::UpdatedDesc,
                1,
            ),
        ),
    ];
    for (name, query) in &shapes {
        let plans = store.explain_search_registrations(query).await.unwrap();
        for line in &plans {
            assert!(
                !line.starts_with("SCAN registration") || line.contains("INDEX"),
                "{name}: a table scan: {plans:?}"
            );
        }
        // The trigram lookup's matches are read from the list copy by rowid, one primary-key
        // look-up each, not through an index keyed by client_id.
        let looked_up = query
            .search
            .as_deref()
            .is_some_and(|s| search_words(s).iter().any(|w| w.chars().count() >= 3));
        if looked_up {
            assert!(
                plans
                    .iter()
                    .any(|l| l.starts_with("SEARCH registration_list USING INTEGER PRIMARY KEY")),
                "{name}: the lookup's matches are not read by rowid: {plans:?}"
            );
        }
        let via_list_index = query.search.is_some()
            || matches!(
                query.status,
                Some(StatusFilter::Active | StatusFilter::Inactive)
            );
        if !via_list_index && query.sort != Sort::NameAsc {
            assert!(
                !plans.iter().any(|l| l.contains("TEMP B-TREE")),
                "{name}: the order needs a temporary sort: {plans:?}"
            );
        }
        let page = store.search_registrations(query).await.unwrap();
        eprintln!(
            "{name}: {} of {} via {plans:?}",
            page.items.len(),
            page.total
        );
    }
    let found = store
        .search_registrations(&q(Some("Product SW-004242 OF"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].software_id, "SW-004242");

    // Counts no query walks the list for: words in more than 10,000 rows, long or short, are
    // counted by their index lookup alone; common words with a status by reading the index of
    // short pieces in its order. A rare short word is looked up there, not searched for along
    // the list.
    let plan_of = |search: &'static str, status: Option<StatusFilter>| {
        let store = store.clone();
        async move {
            store
                .explain_search_registrations(&q(Some(search), status, Sort::CreatedDesc, 1))
                .await
                .unwrap()
        }
    };
    // The count's plan follows the page's, from its subquery on.
    let walks_to_count = |plans: &[String]| {
        plans
            .iter()
            .skip_while(|l| !l.contains("CO-ROUTINE"))
            .any(|l| l.starts_with("SCAN registration_list"))
    };
    let by_pieces = |plans: &[String]| plans.iter().any(|l| l.contains("registration_grams"));
    for common in ["brand", "of brand", "12", "brand 1"] {
        let plans = plan_of(common, None).await;
        assert!(!walks_to_count(&plans), "{common}: {plans:?}");
    }
    let with_status = plan_of("legal entity 12", Some(StatusFilter::Active)).await;
    assert!(by_pieces(&with_status), "{with_status:?}");
    let rare = plan_of("zq", None).await;
    assert!(
        by_pieces(&rare) && !rare.iter().any(|l| l.contains("registration_list_idx")),
        "{rare:?}"
    );
}

/// PostgreSQL: a search's words are looked up in the trigram index of the search copy, and the
/// list and its status filters need no count of the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_is_served_by_the_trigram_index_on_postgres() {
    let url = TempPostgres::shared().fresh_database();
    let store = Store::connect(&url).await.unwrap();
    let Store::Postgres(pool, _) = &store else {
        unreachable!()
    };
    sqlx::query(
        "INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, client_name, \
         legal_entity_id, legal_entity_name, jwks_uri, scope, status, ssa, metadata, \
         client_id_issued_at, created_at, updated_at) \
         SELECT format('%s-0000-4000-8000-%s', lpad(to_hex(i), 8, '0'), lpad(to_hex(i), 12, '0')), \
         format('SW-%s', lpad(i::text, 6, '0')), format('sw-%s', lpad(i::text, 6, '0')), \
         format('org-%s', i % 500), format('Brand %s', i % 500), format('Product %s of brand %s', i, i % 500), \
         format('le-%s', i % 300), format('Legal Entity %s Pty Ltd', i % 300), 'https://adr.example/jwks', \
         'cdr:registration', CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'active' END, 'ssa', '{}', \
         1700000000 + i, 1700000000 + i, 1700000000 + i FROM generate_series(0, 49999) AS i",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE registration")
        .execute(pool)
        .await
        .unwrap();
    // Words whose trigrams are rare are looked up in the index; an id, whose trigrams are in
    // every row here ("000", "sw-"), may be matched by a scan of the narrow copy, which the
    // planner may find cheaper at this size. The registration table itself, whose rows carry
    // the documents, is never scanned for a word.
    for (search, index) in [
        // (A word of two characters adds the lookup of the trigrams around it, which the
        // planner prices at a scan of some 60,000 rows of the copy: here it may read the copy.)
        ("product 4242 brand", Some("registration_search_idx")),
        ("nothing like that", Some("registration_search_idx")),
        ("00001092-0000", None),
        ("SW-012345", None),
    ] {
        let query = q(Some(search), None, Sort::CreatedDesc, 1);
        let plans = store.explain_search_registrations(&query).await.unwrap();
        assert!(
            plans.iter().any(|l| l.contains("on registration_search ")),
            "{search}: not matched in the search copy: {plans:?}"
        );
        assert!(
            !plans
                .iter()
                .any(|l| l.contains("Seq Scan on registration ")),
            "{search}: the registration table is scanned: {plans:?}"
        );
        if let Some(index) = index {
            assert!(
                plans.iter().any(|l| l.contains(index)),
                "{search}: not served by {index}: {plans:?}"
            );
        }
    }
    // The first search copied the 50,000 rows written behind the store's back, in chunks.
    let (copied, pending): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM registration_search), \
         (SELECT count(*) FROM registration_search_pending)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((copied, pending), (50_000, 0));
    let found = store
        .search_registrations(&q(Some("Product SW-004242 OF"), None, Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!((found.total, found.items.len()), (1, 1));
    assert_eq!(found.items[0].software_id, "SW-004242");
    let revoked = store
        .search_registrations(&q(None, Some(StatusFilter::Revoked), Sort::CreatedDesc, 1))
        .await
        .unwrap();
    assert_eq!(revoked.total, 5_000);
    store.close().await;
}
