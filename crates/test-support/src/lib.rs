//! Test-only helpers shared by the store and server test suites.
//!
//! [`TempPostgres`] starts a throwaway PostgreSQL cluster (`initdb` + `pg_ctl`) in a temporary
//! directory on a free loopback port and removes it on drop. PostgreSQL refuses to run as root,
//! so when the tests run as root the cluster is run as the `postgres` system user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway PostgreSQL cluster.
pub struct TempPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    as_user: Option<String>,
}

fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .map(|p| p.join("bin"))
        .expect("PostgreSQL binaries not found: install the `postgresql` package or set PG_BIN")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Ports handed out by [`free_port`]: below Linux's ephemeral range (32768–60999), from which
/// the kernel takes the ports of outgoing connections and of `bind(…:0)`. A port found free
/// there and released is not taken back by the kernel for someone else before the test binds
/// it again; taking `127.0.0.1:0` and releasing it would be (a listener or a connection of a
/// test running beside it could get it in between).
const PORTS: std::ops::Range<u32> = 12_000..32_000;

/// The next port [`free_port`] tries, shared by every test of the process.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A loopback port that is free now and that no other caller in this process is given, for a
/// server a test starts later on a port it must know first (a child process, a configured
/// address). Processes running at once start at different places of the range (by pid).
pub fn free_port() -> u16 {
    let span = PORTS.end - PORTS.start;
    let _ = NEXT_PORT.compare_exchange(
        0,
        1 + (std::process::id().wrapping_mul(7919) % span),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let n = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let port = PORTS.start + n % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free loopback port in {PORTS:?}");
}

impl TempPostgres {
    /// Creates and starts a cluster. Panics with a clear message when it cannot.
    pub fn start() -> Self {
        let bin = pg_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("dcr-pg-")
            .tempdir()
            .unwrap();
        let as_user = if is_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        if as_user.is_some() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(st.success(), "chown of the temp cluster dir failed");
        }
        let data = dir.path().join("data");
        let pg = Self {
            dir,
            port: free_port(),
            bin,
            as_user,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            pg.port,
            pg.dir.path().display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                pg.dir.path().join("log").to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let out = match &self.as_user {
            Some(u) => Command::new("runuser")
                .args(["-u", u, "--"])
                .arg(&path)
                .args(args)
                .current_dir("/tmp")
                .output(),
            None => Command::new(&path).args(args).output(),
        }
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One cluster shared by every test of the process. A watchdog process stops it and removes
    /// its directory once the test process has exited (statics are never dropped).
    pub fn shared() -> &'static TempPostgres {
        static SHARED: std::sync::OnceLock<TempPostgres> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let pg = TempPostgres::start();
            let data = pg.dir.path().join("data");
            let stop = match &pg.as_user {
                Some(u) => format!("runuser -u {u} -- {} -D {} -m immediate stop", pg.bin.join("pg_ctl").display(), data.display()),
                None => format!("{} -D {} -m immediate stop", pg.bin.join("pg_ctl").display(), data.display()),
            };
            let script = format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; cd /tmp; {stop} >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                dir = pg.dir.path().display()
            );
            let _ = Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            pg
        })
    }

    /// The cluster's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh database and returns its URL.
    pub fn fresh_database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let createdb = self.bin.join("createdb");
        let out = Command::new(&createdb)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                &name,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let path = self.bin.join("pg_ctl");
        let args = [
            "-D",
            data.to_str().unwrap_or(""),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let _ = match &self.as_user {
            Some(u) => Command::new("runuser")
                .args(["-u", u, "--"])
                .arg(&path)
                .args(args)
                .current_dir("/tmp")
                .output(),
            None => Command::new(&path).args(args).output(),
        };
    }
}
