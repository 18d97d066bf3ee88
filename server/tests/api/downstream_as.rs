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

/// The confidential client of [`DownstreamAs::with_provisioner`]: its client_id, secret and
/// the scope its tokens need at the registration endpoint.
pub const PROVISIONER_ID: &str = "dcr-provisioner";
/// Its client secret.
pub const PROVISIONER_SECRET: &str = "provisioner-secret-7f3a9c";
/// The scope.
pub const PROVISIONER_SCOPE: &str = "dcr:provision";

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
    provisioner: bool,
}

impl Drop for DownstreamAs {
    fn drop(&mut self) {
        self.stop();
    }
}

pub use test_support::free_port;

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
            provisioner: false,
        }
    }

    /// With a confidential client ([`PROVISIONER_ID`], `client_secret_basic`, the
    /// client_credentials grant) whose access tokens with [`PROVISIONER_SCOPE`] its
    /// registration endpoint accepts as well as the initial access token.
    #[must_use]
    pub fn with_provisioner(mut self) -> Self {
        self.provisioner = true;
        self
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

    /// How many lines of its log are `event subject` exactly (e.g. `grant.success`, by the
    /// client_id the token went to).
    pub fn count_of(&self, event: &str, subject: &str) -> usize {
        let line = format!("{event} {subject}");
        self.log().lines().filter(|l| *l == line).count()
    }

    /// Starts it (again) on its port, with an empty store, trusting `trusted_ca_pem` (the
    /// recipients' `jwks_uri`), and waits until it listens.
    ///
    /// # Panics
    /// When `node` or the package's `node_modules` is missing, or it does not start in 30 s.
    pub async fn run(&mut self, trusted_ca_pem: &str) {
        assert!(self.child.is_none(), "the downstream is already running");
        let scopes = dcr_core::registration::DEFAULT_SUPPORTED_SCOPES.join(" ");
        let trusted = self.dir.path().join("trusted.pem");
        std::fs::write(&trusted, trusted_ca_pem).unwrap();
        let mut envs = vec![
            ("OP_IAT", INITIAL_ACCESS_TOKEN.to_string()),
            ("OP_PORT", self.port.to_string()),
            (
                "OP_TLS_CERT",
                self.dir.path().join("server.pem").display().to_string(),
            ),
            (
                "OP_TLS_KEY",
                self.dir.path().join("server.key").display().to_string(),
            ),
            ("OP_SCOPES", scopes),
            (
                "OP_CLIENT_ID",
                match self.ids {
                    ClientIds::Accept => "accept",
                    ClientIds::Assign => "assign",
                }
                .to_string(),
            ),
            ("NODE_EXTRA_CA_CERTS", trusted.display().to_string()),
        ];
        if self.provisioner {
            envs.push(("OP_PROVISIONER_ID", PROVISIONER_ID.to_string()));
            envs.push(("OP_PROVISIONER_SECRET", PROVISIONER_SECRET.to_string()));
            envs.push(("OP_PROVISIONER_SCOPE", PROVISIONER_SCOPE.to_string()));
        }
        self.child = Some(start_node("provider.mjs", &envs, &self.log, &self.issuer).await);
    }

    /// Kills it (as a crash would): its clients are lost with it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `script` of the test package (tests/downstream-as) with `envs`, its stderr appended
/// to `log`, and waits until it prints `{"ready": "<issuer>"}` with `issuer`.
///
/// # Panics
/// When `node` or the package's `node_modules` is missing, or it does not start in 30 s.
pub(crate) async fn start_node(
    script: &str,
    envs: &[(&str, String)],
    log: &Path,
    issuer: &str,
) -> Child {
    let dir = package_dir();
    if Command::new("node").arg("--version").output().is_err() {
        panic!(
            "`node` is not installed: these tests run node-oidc-provider (scripts/test.sh \
             installs Debian's nodejs)"
        );
    }
    if !dir.join("node_modules/oidc-provider").is_dir() {
        panic!(
            "{}/node_modules is missing: run `npm ci --no-audit --no-fund` there \
             (scripts/test.sh does)",
            dir.display()
        );
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = Command::new("node");
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command
        .arg(script)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("starting node");
    let stdout = child.stdout.take().unwrap();
    // The first line of stdout says it is listening; read it off the async workers, then keep
    // reading (and dropping) what else it prints, so that its writes never meet a closed pipe.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
        for _ in lines.map_while(Result::ok) {}
    });
    // Node loads the provider's modules first: seconds alone, and more than 30 s was seen
    // while the rest of the suite kept both cores busy.
    let line = match tokio::time::timeout(Duration::from_secs(90), rx).await {
        Ok(Ok(line)) => line,
        _ => String::new(),
    };
    let ready = serde_json::from_str::<Value>(&line)
        .ok()
        .and_then(|v| v["ready"].as_str().map(str::to_string));
    match ready {
        Some(ready) => assert_eq!(ready, issuer, "the issuer of {script}"),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{script} did not start (stdout {line:?}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
    child
}
