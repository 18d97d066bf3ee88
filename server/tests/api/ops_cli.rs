//! `dcr-server audit verify|checkpoint` and `dcr-server keys list|rotate|retire-expired`, run as
//! an operator would, on a SQLite store (the checkpoints on PostgreSQL too).

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dcr-server");

fn run(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DCR_DATABASE_URL", url)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_the_first_broken_event() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let store = dcr_store::Store::connect(&url).await.unwrap();
    for n in 0..3 {
        store
            .append_audit(&dcr_store::NewAuditEvent {
                occurred_at: n,
                actor: "cli".into(),
                action: "test.event".into(),
                reason: Some(format!("r{n}")),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store.close().await;

    let out = run(&url, &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("intact: 3 events") && text(&out).contains("head: "),
        "{}",
        text(&out)
    );

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_event SET reason = 'edited' WHERE audit_event_id = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = run(&url, &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("broken at event 2"), "{}", text(&out));
}

/// A tail cut off the chain leaves a shorter chain that verifies on its own; verifying against
/// the head recorded before the cut says it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_against_a_recorded_head_detects_a_truncated_tail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let store = dcr_store::Store::connect(&url).await.unwrap();
    for n in 0..5 {
        store
            .append_audit(&dcr_store::NewAuditEvent {
                occurred_at: n,
                actor: "cli".into(),
                action: "test.event".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store.close().await;
    let out = run(&url, &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    let head = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .unwrap()
        .trim()
        .to_string();
    let out = run(&url, &["audit", "verify", "--head", &head]);
    assert!(out.status.success(), "{}", text(&out));

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM audit_event WHERE audit_event_id > 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = run(&url, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "the shorter chain verifies on its own: {}",
        text(&out)
    );
    assert!(text(&out).contains("intact: 3 events"), "{}", text(&out));
    let out = run(&url, &["audit", "verify", "--head", &head]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("the recorded head is not in the chain"),
        "{}",
        text(&out)
    );
}

async fn append_events(url: &str, from: i64, n: i64) {
    let store = dcr_store::Store::connect(url).await.unwrap();
    for i in from..from + n {
        store
            .append_audit(&dcr_store::NewAuditEvent {
                occurred_at: i,
                actor: "cli".into(),
                action: "test.event".into(),
                reason: Some(format!("r{i}")),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store.close().await;
}

async fn execute(url: &str, sql: &str) {
    let store = dcr_store::Store::connect(url).await.unwrap();
    match &store {
        dcr_store::Store::Sqlite(_, pool, ..) => {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        dcr_store::Store::Postgres(pool, ..) => {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }
    store.close().await;
}

/// A signed checkpoint: the routine verification walks only the events after it, `--full`
/// walks them all; an edited, unsigned or foreign-signed checkpoint is reported and not trusted
/// (the walk starts from the one before it); an edit among the events a checkpoint covers is
/// found by `--full`, a checkpoint's event deleted by both; a broken chain gets no checkpoint.
async fn checkpoints_bound_the_routine_verification(url: String) {
    let verify = |args: &[&str]| {
        let out = run(&url, args);
        (out.status.success(), text(&out))
    };
    append_events(&url, 0, 5).await;
    // The store's signing key (the server makes one at its first start).
    assert!(run(&url, &["keys", "rotate"]).status.success());
    let (ok, out) = verify(&["audit", "checkpoint"]);
    assert!(
        ok && out.contains("checkpoint 1 signed at event 5 (5 events)"),
        "{out}"
    );
    let (ok, out) = verify(&["audit", "checkpoint"]);
    assert!(
        ok && out.contains("no new event since the newest checkpoint"),
        "{out}"
    );
    append_events(&url, 5, 3).await;
    let (ok, out) = verify(&["audit", "verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("from checkpoint 1 (event 5, 5 events, signed): 3 events after it")
            && out.contains("intact: 8 events"),
        "{out}"
    );
    let (ok, out) = verify(&["audit", "checkpoint"]);
    assert!(
        ok && out.contains("checkpoint 2 signed at event 8 (8 events)"),
        "{out}"
    );
    let (ok, out) = verify(&["audit", "verify", "--full"]);
    assert!(
        ok && out.contains("intact: 8 events") && !out.contains("from checkpoint"),
        "{out}"
    );

    // The newest checkpoint edited (a later head claimed): reported, and the walk starts from
    // the one before it.
    execute(
        &url,
        "UPDATE audit_checkpoint SET event_count = 9 WHERE checkpoint_id = 2",
    )
    .await;
    let (ok, out) = verify(&["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("checkpoint 2 is not trusted: what it says is not what was signed")
            && out.contains("from checkpoint 1 (event 5"),
        "{out}"
    );
    // Unsigned.
    execute(
        &url,
        "UPDATE audit_checkpoint SET event_count = 8, signature = '' WHERE checkpoint_id = 2",
    )
    .await;
    let (ok, out) = verify(&["audit", "verify"]);
    assert!(
        !ok && out.contains("checkpoint 2 is not trusted: its signature does not verify"),
        "{out}"
    );
    // Signed with a key the Data Holder never had.
    let stranger = dcr_core::jose::SigningKey::generate_es256("stranger").unwrap();
    let forged = stranger
        .sign(&dcr_store::AuditCheckpoint::signed_claims(
            8,
            "0".repeat(64).as_str(),
            8,
            1,
        ))
        .unwrap();
    execute(
        &url,
        &format!("UPDATE audit_checkpoint SET signature = '{forged}' WHERE checkpoint_id = 2"),
    )
    .await;
    let (ok, out) = verify(&["audit", "verify", "--full"]);
    assert!(
        !ok && out.contains("checkpoint 2 is not trusted: its signature does not verify"),
        "{out}"
    );
    execute(&url, "DELETE FROM audit_checkpoint WHERE checkpoint_id = 2").await;
    let (ok, out) = verify(&["audit", "verify"]);
    assert!(ok, "{out}");

    // An event the checkpoint covers edited: the routine verification does not walk it, but
    // the checkpoint's event must still carry the signed hash, and --full finds the edit.
    execute(
        &url,
        "UPDATE audit_event SET reason = 'edited' WHERE audit_event_id = 2",
    )
    .await;
    let (ok, out) = verify(&["audit", "verify", "--full"]);
    assert!(!ok && out.contains("broken at event 2"), "{out}");
    let (ok, out) = verify(&["audit", "checkpoint"]);
    assert!(
        ok && out.contains("checkpoint 3 signed at event 8 (8 events)"),
        "the events since the checkpoint verify: {out}"
    );
    execute(
        &url,
        "UPDATE audit_event SET reason = 'r1' WHERE audit_event_id = 2",
    )
    .await;
    // Events deleted from the tail, checkpointed ones among them: the chain left is shorter,
    // and the checkpoints say so.
    execute(&url, "DELETE FROM audit_event WHERE audit_event_id >= 5").await;
    let (ok, out) = verify(&["audit", "verify"]);
    assert!(
        !ok && out.contains("the event of checkpoint 3 is gone or changed"),
        "{out}"
    );
    let (ok, out) = verify(&["audit", "verify", "--full"]);
    assert!(
        !ok && out.contains("checkpoint 1 is past the chain's end"),
        "{out}"
    );
    let (ok, out) = verify(&["audit", "checkpoint"]);
    assert!(!ok, "no checkpoint over a broken chain: {out}");
}

/// With a key file configured, checkpoints are signed with it and only its key is trusted: a
/// checkpoint signed with a key of the store's table (which someone who can write the database
/// can add) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_key_file_only_its_key_is_trusted() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let key_path = dir.path().join("signing.pem");
    let key = dcr_core::jose::SigningKey::generate_es256("file-key").unwrap();
    std::fs::write(&key_path, key.to_pkcs8_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let with_key_file = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("DCR_DATABASE_URL", &url)
            .env("DCR_SIGNING_KEY", &key_path)
            .output()
            .unwrap();
        (out.status.success(), text(&out))
    };
    append_events(&url, 0, 3).await;
    let out = run(&url, &["audit", "checkpoint"]);
    assert!(
        !out.status.success() && text(&out).contains("no signing key in the store"),
        "the command line makes no key of its own: {}",
        text(&out)
    );
    let (ok, out) = with_key_file(&["audit", "checkpoint"]);
    assert!(
        ok && out.contains("checkpoint 1 signed at event 3"),
        "{out}"
    );
    let (ok, out) = with_key_file(&["audit", "verify"]);
    assert!(ok && out.contains("from checkpoint 1"), "{out}");

    // A key added to the store's table, and a checkpoint signed with it.
    let out = run(&url, &["keys", "rotate"]);
    assert!(out.status.success(), "{}", text(&out));
    append_events(&url, 3, 2).await;
    // (Without the key file the store's keys are trusted, not the file's: checkpoint 1 is
    // reported, and the chain since the first event verifies.)
    let out = run(&url, &["audit", "checkpoint"]);
    assert!(
        !out.status.success()
            && text(&out).contains("checkpoint 2 signed at event 5")
            && text(&out).contains("checkpoint 1 is not trusted"),
        "{}",
        text(&out)
    );
    let (ok, out) = with_key_file(&["audit", "verify"]);
    assert!(
        !ok && out.contains("checkpoint 2 is not trusted: its signature does not verify")
            && out.contains("from checkpoint 1"),
        "{out}"
    );
    // Without the key file, the store's keys are the ones trusted.
    let out = run(&url, &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&url, &["audit", "verify", "--full"]);
    assert!(
        !out.status.success() && text(&out).contains("checkpoint 1 is not trusted"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    checkpoints_bound_the_routine_verification(format!(
        "sqlite://{}",
        dir.path().join("dcr.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_on_postgres() {
    checkpoints_bound_the_routine_verification(
        test_support::TempPostgres::shared().fresh_database(),
    )
    .await;
}

#[test]
fn keys_rotate_list_and_retire() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let out = run(&url, &["keys", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&url, &["keys", "rotate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("added signing key dh-") && text(&out).contains("ES256"),
        "{}",
        text(&out)
    );
    let out = run(&url, &["keys", "rotate", "--alg", "PS256"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = text(&out);
    assert_eq!(listed.matches("signing, published").count(), 1, "{listed}");
    assert_eq!(
        listed.matches("published (superseded)").count(),
        1,
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.contains("PS256") && l.contains("signing")),
        "{listed}"
    );
    let out = run(&url, &["keys", "retire-expired"]);
    assert!(
        out.status.success() && text(&out).contains("no key to retire"),
        "{}",
        text(&out)
    );
    let out = run(&url, &["keys", "rotate", "--alg", "RS256"]);
    assert!(!out.status.success(), "only ES256 and PS256");
}
