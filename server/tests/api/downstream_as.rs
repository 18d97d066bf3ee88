//! The downstream authorization server of the provisioning tests: node-oidc-provider, pinned in
//! `tests/downstream-as/package.json`, run by `node` as a child process on a loopback port
//! over HTTPS with a certificate of the test's CA, and killed when dropped.
//!
//! `scripts/test.sh` installs its `node_modules` (`npm ci`); a missing `node` or
//! `node_modules` fails the test with a message saying so.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dcr_devtools::devcerts::DevPki;
use serde_json::Value;

/// The initial access token the downstream accepts for registration.
pub const INITIAL_ACCESS_TOKEN: &str = "downstream-initial-access-token";

/// Where the server's package lives.
fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/downstream-as")
}

/// Whether a downstream picks the client ids or takes the one in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIds {
    /// Keeps the `client_id` of the registration request.
    Accept,
    /// Always assigns its own.
    Assign,
}

/// A downstream authorization server (running or not).
pub struct DownstreamAs {
    /// Its issuer, `https://127.0.0.1:<port>`.
    pub issuer: String,
    /// The port it listens on (kept so that it can be started again on the same one).
    pub port: u16,
    /// The CA of its server certificate.
    pki: DevPki,
    child: Option<Child>,
    log: PathBuf,
    /// Certificate, key and log files.
    dir: tempfile::TempDir,
    ids: ClientIds,
}

impl Drop for DownstreamAs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on 127.0.0.1 (bound and released: nothing else on this machine takes loopback
/// ports from under a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl DownstreamAs {
    /// Prepares a downstream on a free port, not started, with a server certificate of a CA
    /// of its own ([`DownstreamAs::ca_file`]).
    pub fn new(ids: ClientIds) -> Self {
        let pki = DevPki::new("Downstream CA").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = pki.server(&["localhost", "127.0.0.1"]).unwrap();
        std::fs::write(dir.path().join("server.pem"), &cert.cert_pem).unwrap();
        std::fs::write(dir.path().join("server.key"), &cert.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
        let port = free_port();
        Self {
            issuer: format!("https://127.0.0.1:{port}"),
            port,
            pki,
            child: None,
            log: dir.path().join("downstream.log"),
            dir,
            ids,
        }
    }

    /// Starts a downstream on a free port that trusts `trusted_ca_pem` for the recipients'
    /// `jwks_uri`, and waits until it listens.
    pub async fn start(trusted_ca_pem: &str, ids: ClientIds) -> Self {
        let mut this = Self::new(ids);
        this.run(trusted_ca_pem).await;
        this
    }

    /// The registration endpoint (RFC 7591).
    pub fn registration_endpoint(&self) -> String {
        format!("{}/reg", self.issuer)
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The CA of its certificate (PEM).
    pub fn ca_pem(&self) -> String {
        self.pki.ca_pem()
    }

    /// The CA of its certificate as a file, for the server's `provisioning.ca`.
    pub fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// What it logged (one line per registration change and per refusal, with the cause).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many lines of its log start with `event` (e.g. `registration_create.success`).
    pub fn count(&self, event: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with(&format!("{event} ")))
            .count()
    }

    /// Starts it (again) on its port, with an empty store, trusting `trusted_ca_pem` (the
    /// recipients' `jwks_uri`), and waits until it listens.
    ///
    /// # Panics
    /// When `node` or the package's `node_modules` is missing, or it does not start in 30 s.
    pub async fn run(&mut self, trusted_ca_pem: &str) {
        assert!(self.child.is_none(), "the downstream is already running");
        let dir = package_dir();
        if Command::new("node").arg("--version").output().is_err() {
            panic!(
                "`node` is not installed: the provisioning tests run node-oidc-provider as the \
                 downstream authorization server (scripts/test.sh installs Debian's nodejs)"
            );
        }
        if !dir.join("node_modules/oidc-provider").is_dir() {
            panic!(
                "{}/node_modules is missing: run `npm ci --no-audit --no-fund` there \
                 (scripts/test.sh does)",
                dir.display()
            );
        }
        let scopes = dcr_core::registration::DEFAULT_SUPPORTED_SCOPES.join(" ");
        let trusted = self.dir.path().join("trusted.pem");
        std::fs::write(&trusted, trusted_ca_pem).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("OP_IAT", INITIAL_ACCESS_TOKEN)
            .env("OP_PORT", self.port.to_string())
            .env("OP_TLS_CERT", self.dir.path().join("server.pem"))
            .env("OP_TLS_KEY", self.dir.path().join("server.key"))
            .env("OP_SCOPES", scopes)
            .env(
                "OP_CLIENT_ID",
                match self.ids {
                    ClientIds::Accept => "accept",
                    ClientIds::Assign => "assign",
                },
            )
            .env("NODE_EXTRA_CA_CERTS", trusted)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting node");
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        // The first line of stdout says it is listening; read it off the async workers.
        let ready = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = match tokio::time::timeout(Duration::from_secs(30), ready).await {
            Ok(Ok(Ok(line))) => line,
            _ => String::new(),
        };
        let issuer = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["ready"].as_str().map(str::to_string));
        match issuer {
            Some(issuer) => assert_eq!(issuer, self.issuer, "the downstream's issuer"),
            None => {
                self.stop();
                panic!(
                    "the downstream authorization server did not start (stdout {line:?}):\n{}",
                    self.log()
                );
            }
        }
    }

    /// Kills it (as a crash would): its clients are lost with it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
