//! Exports of the registration list and the audit log: from the portal (filters, CSV quoting
//! and formula neutralisation, JSON lines, headers, the session gate, the audit event), from the
//! command line (both formats, a file, the audit event), and the command's peak memory, which
//! must not grow with the number of rows.

use std::process::{Command, Output, Stdio};

use reqwest::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{database_url, spawn_app, Backend, TestApp};
use crate::portal::{add_admin, location, real_time, Browser, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_dcr-server");

/// Names a spreadsheet would run, and names RFC 4180 must quote.
const HOSTILE: [&str; 5] = [
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "Comma, \"Quoted\" Pty",
    "Two\r\nlines",
];

/// Seeds ten registrations: the first five with the hostile names, the seventh revoked, the
/// eighth inactive at the Register. Returns their client ids.
async fn seed(store: &dcr_store::Store, now: i64) -> Vec<String> {
    let mut seeds = Vec::new();
    for n in 0..10u64 {
        let mut s = dcr_devtools::seed::registration(n, 10, 0, now);
        // The development seed varies the statuses; here they are set.
        s.registration.status = dcr_store::RegistrationStatus::Active;
        s.registration.status_reason = None;
        s.registration.register_sp_status = Some("ACTIVE".into());
        s.registration.register_dr_status = Some("ACTIVE".into());
        if let Some(name) = HOSTILE.get(usize::try_from(n).unwrap()) {
            s.registration.client_name = (*name).to_string();
        }
        if n == 6 {
            s.registration.status = dcr_store::RegistrationStatus::Revoked;
            s.registration.status_reason = Some("-fraud".into());
        }
        if n == 7 {
            s.registration.register_sp_status = Some("INACTIVE".into());
        }
        seeds.push(s);
    }
    let ids = seeds
        .iter()
        .map(|s| s.registration.client_id.clone())
        .collect();
    store.insert_registrations_bulk(&seeds).await.unwrap();
    ids
}

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF records).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a bare CR outside quotes");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        record.is_empty() && field.is_empty(),
        "the last record ends with CRLF"
    );
    records
}

/// The rows of a CSV as maps from the header's names.
fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let records = parse_csv(text);
    let header = records[0].clone();
    records[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len());
            header.iter().cloned().zip(r.iter().cloned()).collect()
        })
        .collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn export_events(app: &TestApp, action: &str) -> Vec<Value> {
    app.store
        .list_audit(&dcr_store::AuditQuery {
            action: Some(action.into()),
            page: 1,
            per_page: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| {
            let mut v: Value = serde_json::from_str(e.after_state.as_deref().unwrap()).unwrap();
            v["actor"] = e.actor.into();
            v
        })
        .collect()
}

/// A viewer (the least role) exports; the filters apply; CSV fields are quoted and neutralised;
/// JSON lines parse; the headers make a download that is not cached; each export is audited.
async fn portal_exports_follow_the_filters_and_are_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    real_time(&app);
    let ids = seed(&app.store, app.now()).await;
    add_admin(&app, "alice").await;
    add_admin(&app, "vera").await;
    let role_change = dcr_store::NewAuditEvent {
        occurred_at: app.now(),
        actor: "cli".into(),
        action: "admin.role_change".into(),
        ..Default::default()
    };
    app.store
        .set_admin_role("vera", "viewer", &role_change)
        .await
        .unwrap();

    // Without a session: sent to sign in, coming back to the export; nothing is audited.
    let anon = Browser::new(&app);
    let res = anon.get("/export/registrations.csv?status=revoked").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&res),
        "/login?next=%2Fexport%2Fregistrations.csv%3Fstatus%3Drevoked"
    );
    assert!(export_events(&app, "export.registrations").await.is_empty());

    let b = Browser::new(&app);
    assert_eq!(b.sign_in("vera", PASSWORD).await, "/overview");

    // The list and the audit page link to the export of what their filters select.
    let page = b
        .get("/?status=revoked&sort=name_asc&page=2")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("href=\"/export/registrations.csv?status=revoked&amp;sort=name_asc\"")
            && page
                .contains("href=\"/export/registrations.jsonl?status=revoked&amp;sort=name_asc\""),
        "{page}"
    );
    let page = b
        .get("/audit?actor=admin%3Avera")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("href=\"/export/audit.csv?actor=admin%3Avera\"")
            && page.contains("href=\"/export/audit.jsonl?actor=admin%3Avera\""),
        "{page}"
    );

    // Every registration, newest first, as CSV.
    let res = b.get("/export/registrations.csv").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(h[CACHE_CONTROL], "no-store");
    let disposition = h[CONTENT_DISPOSITION].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"registrations-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = res.text().await.unwrap();
    assert!(text.starts_with("client_id,software_id,client_name,org_id,org_name,"));
    let rows = csv_rows(&text);
    let exported: Vec<&str> = rows.iter().map(|r| r["client_id"].as_str()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(exported, newest_first);
    let name =
        |id: &str| rows.iter().find(|r| r["client_id"] == id).unwrap()["client_name"].clone();
    // Formula fields are neutralised with a leading apostrophe; the rest round-trip exactly.
    assert_eq!(name(&ids[0]), format!("'{}", HOSTILE[0]));
    assert_eq!(name(&ids[1]), format!("'{}", HOSTILE[1]));
    assert_eq!(name(&ids[2]), format!("'{}", HOSTILE[2]));
    assert_eq!(name(&ids[3]), HOSTILE[3]);
    assert_eq!(name(&ids[4]), HOSTILE[4]);
    assert!(
        text.contains("\"Comma, \"\"Quoted\"\" Pty\""),
        "quoted as RFC 4180 says"
    );
    let revoked = rows.iter().find(|r| r["client_id"] == ids[6]).unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["status_reason"], "'-fraud");
    let inactive = rows.iter().find(|r| r["client_id"] == ids[7]).unwrap();
    assert_eq!(inactive["status"], "inactive");
    assert_eq!(inactive["register_product_status"], "INACTIVE");
    assert!(inactive["created_at"].ends_with('Z') && inactive["created_at"].contains('T'));

    // A status filter and an order.
    let text = b
        .get("/export/registrations.csv?status=revoked")
        .await
        .text()
        .await
        .unwrap();
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["client_id"], ids[6]);
    let res = b
        .get("/export/registrations.jsonl?status=active&sort=created_asc")
        .await;
    assert_eq!(res.headers()[CONTENT_TYPE], "application/x-ndjson");
    let lines = json_lines(&res.text().await.unwrap());
    let active: Vec<&str> = lines
        .iter()
        .map(|l| l["client_id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = ids
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 6 && *n != 7)
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(active, expected);
    // JSON lines keep the text as it is.
    assert_eq!(lines[0]["client_name"], HOSTILE[0]);
    assert_eq!(lines[4]["client_name"], HOSTILE[4]);
    assert!(lines.iter().all(|l| l["status"] == "active"));

    // A search, as the list's.
    let lines = json_lines(
        &b.get(&format!("/export/registrations.jsonl?q={}", ids[3]))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["client_id"], ids[3].as_str());

    // The audit log: exact filters, newest first, the export events among them.
    let lines = json_lines(
        &b.get("/export/audit.jsonl?actor=admin%3Avera&action=export.registrations")
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines
        .windows(2)
        .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()));
    assert_eq!(lines[0]["after"]["format"], "jsonl");
    assert_eq!(lines[0]["after"]["filters"]["q"], ids[3].as_str());
    assert_eq!(lines[3]["after"]["format"], "csv");
    assert_eq!(lines[3]["after"]["filters"]["status"], Value::Null);
    let res = b
        .get(&format!("/export/audit.csv?client_id={}", ids[2]))
        .await;
    assert_eq!(res.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    let rows = csv_rows(&res.text().await.unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "registration.create");
    assert_eq!(rows[0]["client_id"], ids[2]);

    // Every export was audited, with its format and filters, naming the person.
    let events = export_events(&app, "export.registrations").await;
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["actor"] == "admin:vera"));
    assert_eq!(events[1]["filters"]["status"], "active");
    assert_eq!(events[1]["filters"]["sort"], "created_asc");
    assert_eq!(events[1]["format"], "jsonl");
    let events = export_events(&app, "export.audit").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["filters"]["client_id"], ids[2].as_str());
    assert_eq!(events[1]["filters"]["actor"], "admin:vera");

    // Only the four files exist.
    let res = b.get("/export/registrations.xlsx").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

fn run(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DCR_DATABASE_URL", url)
        .output()
        .unwrap()
}

/// `dcr-server export` writes the same exports to standard output or a file, audited as `cli`.
async fn cli_exports_to_stdout_and_files_and_is_audited(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let store = dcr_store::Store::connect(&url).await.unwrap();
    let ids = seed(&store, 1_800_000_000).await;

    let out = run(
        &url,
        &[
            "export",
            "registrations",
            "--format",
            "csv",
            "--status",
            "revoked",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = csv_rows(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["client_id"], ids[6]);

    let file = dir.path().join("regs.jsonl");
    let out = run(
        &url,
        &[
            "export",
            "registrations",
            "--format",
            "jsonl",
            "--sort",
            "created_asc",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let lines = json_lines(&std::fs::read_to_string(&file).unwrap());
    let exported: Vec<&str> = lines
        .iter()
        .map(|l| l["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(exported, ids.iter().map(String::as_str).collect::<Vec<_>>());

    let out = run(
        &url,
        &["export", "audit", "--format", "jsonl", "--actor", "cli"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&String::from_utf8(out.stdout).unwrap());
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "export.audit",
            "export.registrations",
            "export.registrations"
        ],
        "each export audited, this one first (it is written before the first read)"
    );
    assert_eq!(lines[0]["after"]["filters"]["actor"], "cli");
    assert_eq!(lines[1]["after"]["format"], "jsonl");
    assert_eq!(lines[2]["after"]["filters"]["status"], "revoked");

    // A status that does not exist is refused, naming the choices.
    let out = run(
        &url,
        &[
            "export",
            "registrations",
            "--format",
            "csv",
            "--status",
            "gone",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one of active, inactive"));
    store.close().await;
}

both_backends!(
    portal_exports_follow_the_filters_and_are_audited,
    cli_exports_to_stdout_and_files_and_is_audited,
);

/// Seeds `count` registrations into a fresh SQLite store: one realistic row (the development
/// seed's SSA and metadata) copied `count` times with its own ids, names and times.
async fn seeded_store(dir: &std::path::Path, count: u32) -> String {
    let url = format!("sqlite://{}", dir.join("dcr.db").display());
    let store = dcr_store::Store::connect(&url).await.unwrap();
    let proto = dcr_devtools::seed::registration(0, 1, 0, 1_800_000_000);
    store.insert_registrations_bulk(&[proto]).await.unwrap();
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, \
           client_name, legal_entity_id, legal_entity_name, jwks_uri, scope, status, ssa, \
           metadata, client_id_issued_at, created_at, updated_at) \
         SELECT printf('c-%08d', i), printf('s-%08d', i), printf('s-%08d', i), p.org_id, \
           p.org_name, 'Product ' || i, p.legal_entity_id, p.legal_entity_name, p.jwks_uri, \
           p.scope, 'active', p.ssa, p.metadata, p.client_id_issued_at + i, \
           p.created_at + i, p.updated_at + i \
         FROM n, (SELECT * FROM registration LIMIT 1) AS p",
    )
    .bind(i64::from(count - 1))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    // The list's narrow copy catches up now, not during the measured export.
    let store = dcr_store::Store::connect(&url).await.unwrap();
    store.sync_registration_list().await.unwrap();
    store.close().await;
    url
}

/// What one export run measured.
struct Peak {
    /// Peak resident set (VmHWM), kB: includes any pages of the database file SQLite maps
    /// (`mmap_size`), which grow with the file.
    rss_kb: u64,
    /// Peak anonymous resident memory (RssAnon), kB: what the process allocated itself.
    anon_kb: u64,
    time: std::time::Duration,
}

/// Runs the export of every registration to /dev/null and reads its memory from /proc while it
/// runs.
fn export_peak(url: &str) -> Peak {
    let started = std::time::Instant::now();
    let mut child = Command::new(BIN)
        .args(["export", "registrations", "--format", "csv"])
        .env_clear()
        .env("DCR_DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let field = |status: &str, name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    let (mut rss_kb, mut anon_kb) = (0, 0);
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            rss_kb = rss_kb.max(field(&status, "VmHWM:").unwrap_or(0));
            anon_kb = anon_kb.max(field(&status, "RssAnon:").unwrap_or(0));
        }
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "the export failed");
            break;
        }
        // The test's own thread, not the runtime's: the child runs on its own.
        std::thread::park_timeout(std::time::Duration::from_millis(5));
    }
    Peak {
        rss_kb,
        anon_kb,
        time: started.elapsed(),
    }
}

/// The export's own memory does not grow with the number of rows: ten times the rows, about
/// the same peak of anonymous memory (scripts/export-memory.sh measures 1,000,000 rows on a
/// release build; docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_export_memory_stays_flat_as_rows_grow() {
    let small_dir = tempfile::tempdir().unwrap();
    let large_dir = tempfile::tempdir().unwrap();
    let small = seeded_store(small_dir.path(), SMALL).await;
    let large = seeded_store(large_dir.path(), LARGE).await;
    let s = export_peak(&small);
    let l = export_peak(&large);
    println!(
        "export of {SMALL} rows: peak anonymous {} kB, peak RSS {} kB, {:?}; \
         {LARGE} rows: peak anonymous {} kB, peak RSS {} kB, {:?}",
        s.anon_kb, s.rss_kb, s.time, l.anon_kb, l.rss_kb, l.time
    );
    assert!(s.anon_kb > 0 && l.anon_kb > 0, "RssAnon was read");
    #[expect(clippy::cast_precision_loss, reason = "kilobytes, far below 2^52")]
    let ratio = l.anon_kb as f64 / s.anon_kb as f64;
    assert!(
        ratio < 1.5,
        "the export's memory grew with the rows: {} kB for {SMALL}, {} kB for {LARGE}",
        s.anon_kb,
        l.anon_kb
    );
}

/// The row counts of the memory test.
const SMALL: u32 = 10_000;
const LARGE: u32 = 100_000;
