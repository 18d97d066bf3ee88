//! The integration test harness: the real server on 127.0.0.1:0 with TLS and mTLS, a fresh
//! store (SQLite file or a database on a throwaway PostgreSQL cluster), time from a `MockClock`,
//! and a real HTTPS server standing in for the CDR Register and the recipients' `jwks_uri`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use dcr_core::clock::MockClock;
use dcr_core::jose::SigningKey;
use dcr_core::testutil::{self, test_keys};
use dcr_devtools::devcerts::{DevPki, IssuedCert};
use serde_json::{json, Value};
use server::config::{Config, RawConfig};
use server::startup::Application;

/// Which store backend a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Expands one async test body into a test per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::helpers::Backend::Postgres).await }
            )*
        }
    };
}

/// path -> (status, body)
type Docs = Arc<Mutex<HashMap<String, (u16, Vec<u8>)>>>;

/// Requests received: path, `Content-Type`, body.
type Posts = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Content served by the stub HTTPS server.
#[derive(Clone, Default)]
pub struct StubState {
    pub docs: Docs,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Paths whose body is streamed in chunks without a `Content-Length`.
    pub chunked: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Paths whose answers wait until the test releases them.
    pub held: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
    /// `Cache-Control` of a path's answers.
    pub cache_control: Arc<Mutex<HashMap<String, String>>>,
    /// Every POST received: the path, its `Content-Type` and its body, in order of arrival.
    pub posts: Posts,
}

/// Requests to a held path: each waits for one [`Hold::release`].
pub struct Hold(Arc<tokio::sync::Semaphore>);

impl Hold {
    /// Lets one waiting (or future) request through.
    pub fn release(&self) {
        self.0.add_permits(1);
    }
}

impl StubState {
    pub fn set(&self, path: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.docs
            .lock()
            .unwrap()
            .insert(path.to_string(), (status, body.into()));
    }
    /// Serves `path` in 1 KiB chunks without a `Content-Length`, so that a size cap can only
    /// be enforced while reading.
    pub fn set_chunked(&self, path: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.chunked.lock().unwrap().insert(path.to_string());
        self.set(path, status, body);
    }
    /// Holds every request to `path` until the returned [`Hold`] releases it: the test knows
    /// the request is in flight (see [`StubState::hits`]) for as long as it wants.
    pub fn hold(&self, path: &str) -> Hold {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.held
            .lock()
            .unwrap()
            .insert(path.to_string(), gate.clone());
        Hold(gate)
    }
    /// Answers `path` with this `Cache-Control`.
    pub fn set_cache_control(&self, path: &str, value: &str) {
        self.cache_control
            .lock()
            .unwrap()
            .insert(path.to_string(), value.to_string());
    }
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    /// The bodies POSTed to `path` so far, in order of arrival.
    pub fn posted(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, t, b)| (t.clone(), b.clone()))
            .collect()
    }
}

async fn stub_handler(
    State(s): State<StubState>,
    Path(path): Path<String>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let path = format!("/{path}");
    *s.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let gate = s.held.lock().unwrap().get(&path).cloned();
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }
    let doc = s.docs.lock().unwrap().get(&path).cloned();
    // A POST counts as received only when it is answered 2xx (as a receiver that failed has
    // not taken it).
    if method == axum::http::Method::POST && doc.as_ref().is_some_and(|(st, _)| *st < 300) {
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        s.posts
            .lock()
            .unwrap()
            .push((path.clone(), content_type, body.to_vec()));
    }
    let chunked = s.chunked.lock().unwrap().contains(&path);
    match doc {
        Some((status, body)) if chunked => {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(1024).map(|c| Ok(c.to_vec())).collect();
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response()
        }
        Some((status, body)) => {
            let mut res = (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            if let Some(cc) = s.cache_control.lock().unwrap().get(&path) {
                res.headers_mut().insert(
                    axum::http::header::CACHE_CONTROL,
                    axum::http::HeaderValue::from_str(cc).unwrap(),
                );
            }
            res
        }
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The PKI of a test: one CA for the server, the stub and the recipients' client certificates.
pub struct Pki {
    /// Keeps the config's files alive for the test's duration.
    _dir: tempfile::TempDir,
    pub client_a: IssuedCert,
    pub client_b: IssuedCert,
    pub stranger: IssuedCert,
    /// A client certificate of the test CA that expired in 2021.
    pub expired: IssuedCert,
    /// The server's certificate (of the test CA, for server authentication only).
    pub server: IssuedCert,
    /// The test CA.
    pub ca: DevPki,
    /// The client CA's revocation list the server reads (at first listing nothing; checked for
    /// changes every second).
    pub crl: std::path::PathBuf,
}

impl Pki {
    /// Publishes a new revocation list naming `certs` (written aside, then renamed over the old
    /// one, so the server never reads half a file).
    pub fn revoke(&self, certs: &[&IssuedCert]) {
        let next = self.crl.with_extension("next");
        std::fs::write(&next, self.ca.crl(certs).unwrap()).unwrap();
        std::fs::rename(&next, &self.crl).unwrap();
    }
}

/// The TLS alert an I/O error carries, if it is one.
pub fn tls_alert(err: &std::io::Error) -> Option<rustls::AlertDescription> {
    match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

pub struct TestApp {
    pub base: String,
    /// The admin portal (plain HTTP on loopback).
    pub portal: String,
    pub issuer: String,
    pub clock: MockClock,
    pub store: dcr_store::Store,
    pub stub: StubState,
    pub stub_base: String,
    /// Client with recipient certificate A.
    pub client: reqwest::Client,
    /// Client with another recipient certificate (B), same CA.
    pub client_b: reqwest::Client,
    /// Client with no certificate.
    pub anon: reqwest::Client,
    /// The Prometheus scrape URL (`http://.../metrics`), when metrics are on.
    pub metrics: Option<String>,
    pub pki: Pki,
    /// The server's signing keys (tests reload them instead of waiting for the reload loop).
    pub keys: Arc<server::keys::LiveKeys>,
    /// The configuration the server was built with (a peer instance reuses it).
    pub config: Config,
    /// The CA (PEM) of the server's and the recipients' certificates.
    pub ca_pem: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const NOW: i64 = 1_800_000_000;

/// The root store of a test client: the CA (PEM) of the server's certificate.
pub fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

fn https_client(ca_pem: &str, identity: Option<&IssuedCert>) -> reqwest::Client {
    https_client_from(ca_pem, identity, None)
}

/// An HTTPS (and plain HTTP) client trusting `ca_pem`, with `identity` as its client
/// certificate, its connections made from `local` when given (another loopback address).
pub fn https_client_from(
    ca_pem: &str,
    identity: Option<&IssuedCert>,
    local: Option<std::net::IpAddr>,
) -> reqwest::Client {
    let b = rustls::ClientConfig::builder_with_provider(server::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca_pem));
    let cfg = match identity {
        Some(id) => {
            let certs = rustls_pemfile::certs(&mut id.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls_pemfile::private_key(&mut id.key_pem.as_bytes())
                .unwrap()
                .unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .local_address(local)
        // A hang fails the test instead of stalling the run.
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn start_stub(pki: &DevPki) -> (StubState, String) {
    let server = pki.server(&["localhost", "127.0.0.1"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.pem"), &server.cert_pem).unwrap();
    std::fs::write(dir.path().join("s.key"), &server.key_pem).unwrap();
    let cfg =
        server::tls::server_config(&dir.path().join("s.pem"), &dir.path().join("s.key"), None)
            .unwrap();
    let state = StubState::default();
    let router = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::get(stub_handler).post(stub_handler),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::listen::serve(
        listener,
        router,
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg))),
        server::listen::Gate::new(
            "stub",
            server::config::ListenerLimits::default(),
            Vec::new(),
        ),
        std::future::pending(),
        std::time::Duration::from_secs(1),
    ));
    (state, format!("https://127.0.0.1:{}", addr.port()))
}

pub async fn database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("dcr.db").display()),
        Backend::Postgres => test_support::TempPostgres::shared().fresh_database(),
    }
}

/// Starts the server with default settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the server, letting the test adjust the raw configuration.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut RawConfig)) -> TestApp {
    let ca = DevPki::new("Test CA").unwrap();
    let other_ca = DevPki::new("Untrusted CA").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server_cert = ca.server(&["localhost", "127.0.0.1"]).unwrap();
    let w = |name: &str, s: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, s).unwrap();
        p.display().to_string()
    };
    let (stub, stub_base) = start_stub(&ca).await;
    let keys = test_keys();
    stub.set(
        "/register/jwks",
        200,
        testutil::jwks_bytes(&[&keys.register]),
    );
    stub.set(
        "/adr/jwks",
        200,
        testutil::jwks_bytes(&[&keys.adr_ps256, &keys.adr_es256]),
    );

    let mut raw = RawConfig::default();
    raw.server.listen_addr = Some("127.0.0.1:0".into());
    raw.server.portal_addr = Some("127.0.0.1:0".into());
    raw.server.issuer = Some("https://dh.test.example".into());
    raw.tls.cert = Some(w("server.pem", &server_cert.cert_pem));
    raw.tls.key = Some(w("server.key", &server_cert.key_pem));
    raw.tls.client_ca = Some(w("ca.pem", &ca.ca_pem()));
    let crl = w("client-ca.crl.pem", &ca.crl(&[]).unwrap());
    raw.tls.client_crls = Some(vec![crl.clone()]);
    raw.tls.crl_check_secs = Some(1);
    raw.outbound.ca = Some(w("outbound-ca.pem", &ca.ca_pem()));
    // The recipients' stubs run on loopback.
    raw.outbound.allowed_addresses = Some(vec!["127.0.0.1".into()]);
    raw.database.url = Some(database_url(backend, dir.path()).await);
    raw.register.jwks_uri = Some(format!("{stub_base}/register/jwks"));
    raw.register.base_uri = Some(stub_base.clone());
    raw.portal.site_root = Some(dir.path().join("site").display().to_string());
    // plain HTTP on loopback, as in development (portal tests cover the secure default)
    raw.portal.cookie_secure = Some(false);
    tweak(&mut raw);
    let config = Config::try_from(raw).unwrap();
    let issuer = config.issuer_str();
    let clock = MockClock::new(NOW);
    let app = Application::build(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let api = app.api_addr().unwrap();
    let portal = format!("http://127.0.0.1:{}", app.portal_addr().unwrap().port());
    let store = app.state().store.clone();
    let keys = app.state().keys.clone();
    let metrics = app
        .metrics_addr()
        .map(|a| format!("http://127.0.0.1:{}/metrics", a.port()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let ca_pem = ca.ca_pem();
    let pki = Pki {
        client_a: ca.client("Recipient A").unwrap(),
        client_b: ca.client("Recipient B").unwrap(),
        stranger: other_ca.client("Stranger").unwrap(),
        expired: ca.expired_client("Expired").unwrap(),
        server: server_cert.clone(),
        ca,
        crl: crl.into(),
        _dir: dir,
    };
    TestApp {
        base: format!("https://127.0.0.1:{}", api.port()),
        portal,
        issuer,
        clock,
        store,
        stub,
        stub_base,
        client: https_client(&ca_pem, Some(&pki.client_a)),
        client_b: https_client(&ca_pem, Some(&pki.client_b)),
        anon: https_client(&ca_pem, None),
        metrics,
        pki,
        keys,
        config,
        ca_pem,
        shutdown: Some(tx),
    }
}

/// Another instance of the same deployment: same configuration (store, CA, stub, issuer) and
/// clock, its own listeners and in-process state (JWKS cache, token cache, rate limits). Stops
/// when dropped.
pub struct Peer {
    pub base: String,
    pub store: dcr_store::Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// Starts a second instance on the same database (a multi-instance deployment).
    pub async fn spawn_peer(&self) -> Peer {
        let app = Application::build(self.config.clone(), Arc::new(self.clock.clone()))
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", app.api_addr().unwrap().port());
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Peer {
            base,
            store: state.store,
            shutdown: Some(tx),
        }
    }
}

impl TestApp {
    /// The first 100 audit events that match `filter` (its page and page size are not used),
    /// newest first, with the total that match.
    pub async fn audit(
        &self,
        filter: dcr_store::AuditQuery,
    ) -> dcr_store::Page<dcr_store::AuditEvent> {
        let query = dcr_store::AuditQuery {
            page: 1,
            per_page: 100,
            ..filter
        };
        self.store
            .list_audit(&query)
            .await
            .expect("reading the audit trail")
    }

    /// Asks the server to stop (as SIGTERM does).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub fn adr_jwks_uri(&self) -> String {
        format!("{}/adr/jwks", self.stub_base)
    }

    pub fn now(&self) -> i64 {
        use dcr_core::clock::Clock as _;
        self.clock.now()
    }

    /// A valid SSA for `software_id`, with `patch` applied to its claims.
    pub fn ssa(&self, software_id: &str, patch: Value) -> String {
        let claims = testutil::patched(
            &testutil::ssa_claims(software_id, &self.adr_jwks_uri(), self.now()),
            &patch,
        );
        test_keys().register.sign(&claims).unwrap()
    }

    /// Valid request claims for `ssa`.
    pub fn request_claims(&self, software_id: &str, ssa: &str) -> Value {
        testutil::request_claims(software_id, ssa, &self.issuer, self.now())
    }

    /// A valid registration request JWT for `software_id`, with `patch` applied.
    pub fn request(&self, software_id: &str, patch: Value) -> String {
        let ssa = self.ssa(software_id, json!({}));
        self.sign_request(&testutil::patched(
            &self.request_claims(software_id, &ssa),
            &patch,
        ))
    }

    pub fn sign_request(&self, claims: &Value) -> String {
        test_keys().adr_ps256.sign(claims).unwrap()
    }

    pub async fn post_register_with(
        &self,
        client: &reqwest::Client,
        body: &str,
        content_type: &str,
    ) -> reqwest::Response {
        client
            .post(format!("{}/register", self.base))
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn post_register(&self, body: &str) -> reqwest::Response {
        self.post_register_with(&self.client, body, "application/jwt")
            .await
    }

    /// Registers `software_id` and returns the 201 body.
    pub async fn register(&self, software_id: &str) -> Value {
        let res = self
            .post_register(&self.request(software_id, json!({})))
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "registration failed: {body}");
        body
    }

    pub fn assertion(&self, client_id: &str, patch: Value) -> String {
        self.assertion_signed(client_id, patch, &test_keys().adr_ps256)
    }

    pub fn assertion_signed(&self, client_id: &str, patch: Value, key: &SigningKey) -> String {
        let claims = testutil::patched(
            &testutil::client_assertion_claims(
                client_id,
                &format!("{}/token", self.issuer),
                self.now(),
            ),
            &patch,
        );
        key.sign(&claims).unwrap()
    }

    pub async fn token_request(
        &self,
        client: &reqwest::Client,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(format!("{}/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A valid access token for `client_id` bound to `client`'s certificate.
    pub async fn token_for(&self, client: &reqwest::Client, client_id: &str) -> String {
        let assertion = self.assertion(client_id, json!({}));
        let res = self
            .token_request(
                client,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                    ("scope", "cdr:registration"),
                ],
            )
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "token failed: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn token(&self, client_id: &str) -> String {
        self.token_for(&self.client, client_id).await
    }

    pub fn client_url(&self, client_id: &str) -> String {
        format!("{}/register/{client_id}", self.base)
    }

    /// `PUT /register/{client_id}` of a signed request (`application/jwt`) with the token.
    pub async fn put_registration(
        &self,
        client_id: &str,
        token: &str,
        jwt: String,
    ) -> reqwest::Result<reqwest::Response> {
        self.client
            .put(self.client_url(client_id))
            .bearer_auth(token)
            .header("content-type", "application/jwt")
            .body(jwt)
            .send()
            .await
    }
}

/// Reads an error response: status, `error` and the whole body.
pub async fn error_of(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"].as_str().unwrap_or_default().to_string();
    assert!(
        body["error_description"].is_string(),
        "every error has a description: {body}"
    );
    (status, code, body)
}
