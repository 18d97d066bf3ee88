//! `dcr-server audit verify` and `dcr-server keys list|rotate|retire-expired`, run as an operator
//! would, on a SQLite store.

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
