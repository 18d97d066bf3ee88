//! The command line, run as a user would: `check-config`, `admin add`, the account commands,
//! and `serve` with a graceful stop on SIGTERM (with certificates from the development tools).

use std::io::Write as _;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dcr-server");

fn dev_env(dir: &std::path::Path) -> Vec<(String, String)> {
    let c = dir.join("certs");
    vec![
        (
            "DCR_TLS_CERT".into(),
            c.join("server.pem").display().to_string(),
        ),
        (
            "DCR_TLS_KEY".into(),
            c.join("server.key").display().to_string(),
        ),
        (
            "DCR_CLIENT_CA".into(),
            c.join("ca.pem").display().to_string(),
        ),
        (
            "DCR_DATABASE_URL".into(),
            format!("sqlite://{}", dir.join("dcr.db").display()),
        ),
        ("DCR_LISTEN_ADDR".into(), "127.0.0.1:0".into()),
        ("DCR_PORTAL_ADDR".into(), "127.0.0.1:0".into()),
    ]
}

#[test]
fn check_config_names_bad_fields_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .env_clear()
        .env("DCR_LISTEN_ADDR", "nowhere")
        .env("DCR_DATABASE_URL", "postgres://dcr:s3cret@db/dcr")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.listen_addr") && err.contains("tls.cert"),
        "{err}"
    );
    dcr_devtools::devcerts::write_dev_certs(&dir.path().join("certs"), false).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("check-config").env_clear();
    for (k, v) in dev_env(dir.path()) {
        cmd.env(k, v);
    }
    let out = cmd
        .env("DCR_DATABASE_URL", "postgres://dcr:s3cret@db/dcr")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("[database]") && !shown.contains("s3cret"),
        "{shown}"
    );
}

#[test]
fn admin_add_reads_the_password_from_stdin_and_stores_an_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let add = |password: &str| {
        let mut child = Command::new(BIN)
            .args(["admin", "add", "alice"])
            .env_clear()
            .env("DCR_DATABASE_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = add("short\n");
    assert!(!short.status.success(), "a short password is refused");
    let ok = add("a long enough password\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin = rt.block_on(async {
        let store = dcr_store::Store::connect(&url).await.unwrap();
        store.find_admin("alice").await.unwrap().unwrap()
    });
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert!(!admin.password_hash.contains("long enough"));
}

/// `admin role`, `disable`, `enable` and `end-sessions`, run as processes on one SQLite file:
/// each change made and audited as the command line's, the last enabled administrator kept,
/// an unknown account or role named.
#[test]
fn accounts_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dcr.db").display());
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("DCR_DATABASE_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let ok = |args: &[&str]| {
        let (success, text) = run(args, "");
        assert!(success, "{args:?}: {text}");
        text
    };
    let refused = |args: &[&str], why: &str| {
        let (success, text) = run(args, "");
        assert!(!success && text.contains(why), "{args:?}: {text}");
    };
    for name in ["alice", "bob"] {
        let (success, text) = run(&["admin", "add", name], "a long enough password\n");
        assert!(success, "{text}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(dcr_store::Store::connect(&url)).unwrap();
    let admin = |name: &str| rt.block_on(store.find_admin(name)).unwrap().unwrap();
    assert_eq!(admin("alice").role, "administrator");

    ok(&["admin", "role", "bob", "viewer"]);
    assert_eq!(admin("bob").role, "viewer");
    refused(&["admin", "role", "bob", "root"], "the role must be one of");
    refused(
        &["admin", "role", "nobody", "viewer"],
        "there is no such account",
    );
    refused(
        &["admin", "role", "alice", "operator"],
        "last enabled administrator",
    );
    refused(&["admin", "disable", "alice"], "last enabled administrator");
    assert_eq!(admin("alice").role, "administrator");
    assert!(admin("alice").disabled_at.is_none());

    ok(&["admin", "disable", "bob"]);
    assert!(admin("bob").disabled_at.is_some());
    ok(&["admin", "enable", "bob"]);
    assert!(admin("bob").disabled_at.is_none());

    for id in ["s1", "s2"] {
        let meta = dcr_store::SessionMeta {
            admin_username: Some("bob".into()),
            signed_in_at: Some(1),
            last_seen_at: 1,
            ..Default::default()
        };
        assert!(rt
            .block_on(store.create_session(id, "{}", i64::MAX, &meta))
            .unwrap());
    }
    assert!(ok(&["admin", "end-sessions", "bob"]).contains("ended 2 sessions of bob"));
    assert!(rt.block_on(store.sessions_of("bob", 0)).unwrap().is_empty());

    let audited: Vec<(String, String)> = rt
        .block_on(store.list_audit(&dcr_store::AuditQuery {
            page: 1,
            per_page: 100,
            ..Default::default()
        }))
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.action != "admin.create")
        .map(|e| (e.action, e.actor))
        .collect();
    for action in [
        "admin.role_change",
        "admin.disable",
        "admin.enable",
        "admin.sessions_ended",
    ] {
        assert_eq!(
            audited.iter().filter(|(a, _)| a == action).count(),
            1,
            "{action} once: {audited:?}"
        );
    }
    assert!(
        audited.iter().all(|(_, actor)| actor == "cli"),
        "{audited:?}"
    );
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "a plain test thread waits for the child process"
)]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    dcr_devtools::devcerts::write_dev_certs(&dir.path().join("certs"), false).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("DCR_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in dev_env(dir.path()) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Signalled once it says it serves (both listeners bound), read from its own log.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut logs = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert!(n > 0, "the server exited before serving: {logs}");
        logs.push_str(&line);
        if line.contains("\"serving\"") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::io::Read::read_to_string(&mut stdout, &mut logs).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}: {logs}");
    assert!(logs.contains("stopped"), "{logs}");
    for line in logs.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "JSON logs: {line}"
        );
    }
}
