//! `dcr-dev bench`: a load benchmark of the DCR API (not a test).
//!
//! It starts the Data Holder in-process on a fresh store (SQLite file by default, or the
//! PostgreSQL URL given), a real HTTPS server for the CDR Register's and the recipients' JWKS,
//! signs N unique registrations ahead of the timed part (each with its own SSA and
//! `software_id`), then drives, at the chosen concurrency over mTLS with keep-alive:
//! `POST /register` (N), the token endpoint (N), and `GET /register/{id}` (N), printing
//! throughput and p50/p99 latency for each phase.
//!
//! With `--instances 2` (PostgreSQL) it starts two servers on the one database and runs every
//! phase twice in the same run: on the first instance alone, then on both with the
//! connections split between them (tokens issued by one are often used at the other), and
//! prints the combined rates as a multiple of one instance's; every client id must be new.
//!
//! ```sh
//! cargo run --release -p dcr-devtools -- bench --count 5000 --concurrency 32
//! cargo run --release -p dcr-devtools -- bench --database-url postgres://...
//! cargo run --release -p dcr-devtools -- bench --instances 2 --database-url postgres://...
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod session;

use crate::devcerts::DevPki;
use anyhow::Context as _;
use dcr_core::clock::{Clock as _, SystemClock};
use dcr_core::jose::{jwks_document, SigningKey};
use serde_json::{json, Value};
use server::config::{Config, RawConfig};

/// Arguments of `bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Registrations to create (and tokens / GETs to run).
    #[arg(long, default_value_t = 5000)]
    count: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Store URL; default: a SQLite file in a temp dir.
    #[arg(long)]
    database_url: Option<String>,
    /// Recipient signing algorithm: PS256 or ES256.
    #[arg(long, default_value = "PS256")]
    alg: String,
    /// Server instances on the one store: 1, or 2 (PostgreSQL only), in which case every phase
    /// runs first on one instance, then on both with the connections split between them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
}

struct Pki {
    ca_pem: String,
    client_cert: String,
    client_key: String,
}

fn https_client(pki: &Pki, pool: usize) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
        roots.add(c?)?;
    }
    let certs =
        rustls_pemfile::certs(&mut pki.client_cert.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut pki.client_key.as_bytes())?.context("client key")?;
    let tls = rustls::ClientConfig::builder_with_provider(server::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?;
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()?)
}

/// Runs the benchmark and prints its figures.
///
/// # Errors
/// Set-up failures (TLS, store, server start) or a phase that could not run.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(args.instances, 1 | 2),
        "--instances is 1 or 2 (got {})",
        args.instances
    );
    anyhow::ensure!(
        args.instances == 1
            || args
                .database_url
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres")),
        "--instances 2 shares one store between two servers: give a PostgreSQL --database-url"
    );
    let heap = session::HeapWatch::start();
    let dir = tempfile::tempdir()?;
    let ca = DevPki::new("Bench CA")?;
    let server_cert = ca.server(&["localhost", "127.0.0.1"])?;
    let client = ca.client("Bench Recipient")?;
    let w = |name: &str, s: &str| -> anyhow::Result<String> {
        let p = dir.path().join(name);
        std::fs::write(&p, s)?;
        Ok(p.display().to_string())
    };
    let cert_path = w("server.pem", &server_cert.cert_pem)?;
    let key_path = w("server.key", &server_cert.key_pem)?;
    let ca_path = w("ca.pem", &ca.ca_pem())?;

    // Keys: the Register's (PS256, as the real one) and one recipient key shared by all products.
    let register_key = SigningKey::generate_ps256("register-bench", 2048)?;
    let adr_key = match args.alg.as_str() {
        "ES256" => SigningKey::generate_es256("adr-bench")?,
        _ => SigningKey::generate_ps256("adr-bench", 2048)?,
    };

    // A real HTTPS server for both JWKS documents.
    let register_jwks = jwks_document([&register_key]).to_string();
    let adr_jwks = jwks_document([&adr_key]).to_string();
    let jwks_router = axum::Router::new()
        .route(
            "/register/jwks",
            axum::routing::get(move || async move {
                (
                    [("content-type", "application/json")],
                    register_jwks.clone(),
                )
            }),
        )
        .route(
            "/adr/jwks",
            axum::routing::get(move || async move {
                ([("content-type", "application/json")], adr_jwks.clone())
            }),
        );
    let jwks_cfg = server::tls::server_config(cert_path.as_ref(), key_path.as_ref(), None)?;
    let jwks_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let jwks_base = format!("https://127.0.0.1:{}", jwks_listener.local_addr()?.port());
    tokio::spawn(server::listen::serve(
        jwks_listener,
        jwks_router,
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(jwks_cfg))),
        server::listen::Gate::new(
            "bench-jwks",
            server::config::ListenerLimits::default(),
            Vec::new(),
        ),
        std::future::pending(),
        Duration::from_secs(1),
    ));

    let mut raw = RawConfig::default();
    raw.server.listen_addr = Some("127.0.0.1:0".into());
    raw.server.portal_addr = Some("127.0.0.1:0".into());
    raw.server.issuer = Some("https://dh.bench.example".into());
    raw.tls.cert = Some(cert_path.clone());
    raw.tls.key = Some(key_path.clone());
    raw.tls.client_ca = Some(ca_path.clone());
    raw.outbound.ca = Some(ca_path);
    raw.outbound.allowed_addresses = Some(vec!["127.0.0.1".into()]);
    raw.database.url = Some(
        args.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display())),
    );
    raw.register.jwks_uri = Some(format!("{jwks_base}/register/jwks"));
    raw.register.base_uri = Some(jwks_base.clone());
    raw.portal.site_root = Some(dir.path().display().to_string());
    raw.log.filter = Some("warn".into());
    // The portal is read over plain HTTP on loopback, signed in with a password.
    raw.portal.cookie_secure = Some(false);
    raw.portal.require_second_factor = Some(false);
    // One certificate drives thousands of requests a second: the rate limits would measure
    // themselves, not the server.
    raw.security.rate_limit_per_minute = Some(0);
    let mut instances = Vec::with_capacity(args.instances);
    for _ in 0..args.instances {
        instances.push(Instance::start(raw.clone()).await?);
    }
    let first = &instances[0];
    let issuer = first.issuer.clone();

    let pki = Pki {
        ca_pem: ca.ca_pem(),
        client_cert: client.cert_pem,
        client_key: client.key_pem,
    };
    let run = Run {
        http: https_client(&pki, args.concurrency)?,
        concurrency: args.concurrency,
        adr_jwks_uri: format!("{jwks_base}/adr/jwks"),
        issuer,
        register_key,
        adr_key,
    };

    println!(
        "dcr-bench: store={} count={} concurrency={} recipient_alg={} instances={}",
        first.store.backend().as_str(),
        args.count,
        args.concurrency,
        run.adr_key.alg().as_str(),
        args.instances,
    );

    // Warm-up: one registration on each instance so connection set-up and JWKS fetches are not
    // in the figures.
    for instance in &instances {
        run.warm_up(&instance.api).await?;
    }

    let one = run
        .phases(&instances[..1], &first.store, args.count)
        .await?;
    if instances.len() > 1 {
        let both = run.phases(&instances, &first.store, args.count).await?;
        let ids: std::collections::HashSet<&String> =
            one.client_ids.iter().chain(&both.client_ids).collect();
        anyhow::ensure!(
            ids.len() == one.client_ids.len() + both.client_ids.len(),
            "a client id was given twice"
        );
        println!("  two instances beside one (same run, the connections split between them):");
        for (name, a, b) in [
            ("POST /register", one.register, both.register),
            ("POST /token", one.token, both.token),
            ("GET /register/{id}", one.get, both.get),
        ] {
            println!(
                "  {name:<20} {:>8.2} times one instance's rate ({b:.0}/s against {a:.0}/s)",
                b / a
            );
        }
        println!(
            "  {:<20} {} client ids, all different, each read back by its holder",
            "  unique",
            ids.len()
        );
    }

    session::portal_and_chain(&first.portal, &first.store, PORTAL_ROUNDS).await?;
    if let Some(mb) = heap.peak_mb() {
        println!(
            "  heap                  RssAnon peak {mb:.0} MB (sampled every 100 ms through the run; this process: the server{} and the load generator)",
            if instances.len() > 1 { "s" } else { "" }
        );
    }
    Ok(())
}

/// One server of the run, started in this process.
struct Instance {
    api: String,
    portal: String,
    issuer: String,
    store: dcr_store::Store,
}

impl Instance {
    async fn start(raw: RawConfig) -> anyhow::Result<Self> {
        let config = Config::try_from(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
        server::telemetry::init(config.log_format, "warn");
        let issuer = config.issuer_str();
        let app = server::startup::Application::build(config, Arc::new(SystemClock)).await?;
        let api = format!("https://127.0.0.1:{}", app.api_addr()?.port());
        let store = app.state().store.clone();
        let portal = format!("http://{}", app.portal_addr()?);
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        Ok(Self {
            api,
            portal,
            issuer,
            store,
        })
    }
}

/// What every phase of the run shares: the client, the keys and the recipient's JWKS.
struct Run {
    http: reqwest::Client,
    concurrency: usize,
    adr_jwks_uri: String,
    issuer: String,
    register_key: SigningKey,
    adr_key: SigningKey,
}

/// The rates of one round of phases, and the client ids it registered.
struct Rates {
    register: f64,
    token: f64,
    get: f64,
    client_ids: Vec<String>,
}

impl Run {
    /// A registration request of a new software product (its own SSA and `software_id`).
    fn registration(&self, now: i64, i: usize) -> anyhow::Result<String> {
        let software_id = uuid::Uuid::new_v4().to_string();
        let ssa = self
            .register_key
            .sign(&ssa_claims(&software_id, &self.adr_jwks_uri, now, i))?;
        Ok(self.adr_key.sign(&request_claims(
            &software_id,
            &ssa,
            &self.issuer,
            now,
            self.adr_key.alg().as_str(),
        ))?)
    }

    async fn warm_up(&self, api: &str) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!("{api}/register"))
            .header("content-type", "application/jwt")
            .body(self.registration(SystemClock.now(), 0)?)
            .send()
            .await?;
        anyhow::ensure!(
            res.status() == 201,
            "warm-up registration failed: {}",
            res.text().await?
        );
        Ok(())
    }

    /// `count` registrations, then a token for each, then a read of each, spread over
    /// `targets` (connection k goes to instance k mod n): each phase's throughput and latency.
    async fn phases(
        &self,
        targets: &[Instance],
        store: &dcr_store::Store,
        count: usize,
    ) -> anyhow::Result<Rates> {
        let apis: Arc<Vec<String>> = Arc::new(targets.iter().map(|t| t.api.clone()).collect());
        let started = Instant::now();
        let now = SystemClock.now();
        let requests = sign_all(count, |i| self.registration(now, i))?;
        println!(
            "  on {} instance{}: signed {count} SSAs and requests (ahead of the timed part) in {:.1} s",
            targets.len(),
            if targets.len() > 1 { "s" } else { "" },
            started.elapsed().as_secs_f64()
        );

        // The machine's pace in this run, taken just before the registrations: a registration
        // verifies two PS256 signatures (the SSA and the request), so half the calibration is
        // what the signature checks alone would allow.
        let calibration = calibrate(&self.register_key)?;
        println!(
            "  calibration          {calibration:>8.0} PS256 verifications/s on 2 threads (so at most {:.0} registrations/s)",
            calibration / 2.0
        );

        let wal_before = store.wal_bytes().await?;
        let registered = drive(
            &self.http,
            self.concurrency,
            &apis,
            requests,
            |c, api, body| {
                c.post(format!("{api}/register"))
                    .header("content-type", "application/jwt")
                    .body(body)
            },
            201,
            |b| json_field(b, "client_id"),
        )
        .await?;
        registered.report("POST /register");
        let register = registered.rate();
        println!(
            "  {:<20} {:>8.2} of half the calibration (registrations/s ÷ {:.0})",
            "  as a fraction",
            register / (calibration / 2.0),
            calibration / 2.0
        );
        // The copies made after the commit (SQLite's list copy and its index of short pieces,
        // PostgreSQL's search copy) are part of a registration's writes.
        store.sync_search_grams().await?;
        store.sync_search_copy().await?;
        if let (Some(before), Some(after)) = (wal_before, store.wal_bytes().await?) {
            println!(
                "  {:<20} {:>8.1} kB of WAL per registration ({})",
                "  WAL",
                after.saturating_sub(before) as f64 / registered.latencies.len() as f64 / 1000.0,
                match store {
                    dcr_store::Store::Sqlite(..) =>
                        "the writer thread's bytes, the list copy included",
                    dcr_store::Store::Postgres(..) =>
                        "the cluster's WAL position, the search copy included",
                }
            );
        }

        let client_ids = registered.kept;
        let now = SystemClock.now();
        let aud = format!("{}/token", self.issuer);
        let assertions = sign_all(client_ids.len(), |i| {
            let id = &client_ids[i];
            Ok(self.adr_key.sign(&json!({
                "iss": id, "sub": id, "aud": aud,
                "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
            }))?)
        })?;
        let issued = drive(
            &self.http,
            self.concurrency,
            &apis,
            assertions,
            |c, api, a| {
                c.post(format!("{api}/token")).form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", a.as_str()),
                    ("scope", "cdr:registration"),
                ])
            },
            200,
            |b| json_field(b, "access_token"),
        )
        .await?;
        issued.report("POST /token");
        let token = issued.rate();
        let calibration = calibrate(&self.register_key)?;
        println!(
            "  {:<20} {:>8.2} of the calibration taken after it ({calibration:.0}/s; one verification per token request)",
            "  as a fraction",
            token / calibration,
        );

        // A token is read back wherever its request lands: on two instances, often not the one
        // that issued it.
        let gets: Vec<String> = client_ids
            .iter()
            .zip(&issued.kept)
            .map(|(id, t)| format!("{id} {t}"))
            .collect();
        let read = drive(
            &self.http,
            self.concurrency,
            &apis,
            gets,
            |c, api, pair| {
                let (id, token) = pair.split_once(' ').unwrap_or_default();
                c.get(format!("{api}/register/{id}")).bearer_auth(token)
            },
            200,
            |_| Some(String::new()),
        )
        .await?;
        read.report("GET /register/{id}");
        Ok(Rates {
            register,
            token,
            get: read.rate(),
            client_ids,
        })
    }
}

/// `make(0..count)` on two threads (signing is the slow part of preparing a phase).
fn sign_all(
    count: usize,
    make: impl Fn(usize) -> anyhow::Result<String> + Sync,
) -> anyhow::Result<Vec<String>> {
    let half = count.div_ceil(2);
    std::thread::scope(|scope| {
        let make = &make;
        let upper =
            scope.spawn(move || (half..count).map(make).collect::<anyhow::Result<Vec<_>>>());
        let mut all = (0..half).map(make).collect::<anyhow::Result<Vec<_>>>()?;
        all.extend(
            upper
                .join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??,
        );
        Ok(all)
    })
}

/// Requests of each portal page.
const PORTAL_ROUNDS: usize = 100;

/// A string field of a JSON answer.
fn json_field(body: &str, field: &str) -> Option<String> {
    serde_json::from_str::<Value>(body).ok()?[field]
        .as_str()
        .map(str::to_string)
}

/// One timed phase: each request's latency (in the items' order), the whole phase's time, what
/// `keep` took from each answer, and the share of the machine's CPU that was busy meanwhile.
struct Phase {
    latencies: Vec<Duration>,
    elapsed: Duration,
    kept: Vec<String>,
    cpu_busy: Option<f64>,
}

impl Phase {
    /// Requests per second.
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn report(&self, name: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let pct = |p: f64| {
            let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted.get(idx).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "  {name:<20} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests in {:.2} s; CPU {})",
            self.rate(),
            pct(0.50),
            pct(0.99),
            self.latencies.len(),
            self.elapsed.as_secs_f64(),
            self.cpu_busy
                .map_or_else(|| "unknown".to_string(), |s| format!("{:.0}% busy", s * 100.0))
        );
    }
}

/// Runs every item through `make` with `concurrency` in flight, connection k sending to
/// `targets[k % n]`; all must answer `expect`.
async fn drive(
    http: &reqwest::Client,
    concurrency: usize,
    targets: &Arc<Vec<String>>,
    items: Vec<String>,
    make: impl Fn(&reqwest::Client, &str, String) -> reqwest::RequestBuilder + Send + Sync + 'static,
    expect: u16,
    keep: fn(&str) -> Option<String>,
) -> anyhow::Result<Phase> {
    let n = items.len();
    let cpu = session::CpuBusy::start();
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..concurrency {
        let (items, next, make, http) = (items.clone(), next.clone(), make.clone(), http.clone());
        let target = targets[k % targets.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let t = Instant::now();
                let res = make(&http, &target, items[i].clone()).send().await?;
                let status = res.status().as_u16();
                let body = res.text().await?;
                let lat = t.elapsed();
                anyhow::ensure!(status == expect, "request {i} answered {status}: {body}");
                // Only what a later phase needs is kept: the answers themselves would weigh
                // on the process's heap, which the benchmark reports.
                let kept = keep(&body).with_context(|| format!("request {i}: {body}"))?;
                out.push((i, lat, kept));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let cpu_busy = cpu.share();
    all.sort_by_key(|(i, _, _)| *i);
    Ok(Phase {
        latencies: all.iter().map(|(_, l, _)| *l).collect(),
        elapsed,
        kept: all.into_iter().map(|(_, _, b)| b).collect(),
        cpu_busy,
    })
}

/// PS256 verifications per second on two threads, through the verification the server uses
/// (`dcr_core::jose::verify`), for one second: the machine's pace at this moment of the run, to
/// which the throughputs are compared (the same machine's speed varies from day to day).
fn calibrate(key: &SigningKey) -> anyhow::Result<f64> {
    let token = key.sign(&json!({ "iss": "calibration", "jti": "calibration" }))?;
    let verifying = key.verifying_key();
    let window = Duration::from_secs(1);
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let started = Instant::now();
                    let mut done = 0u64;
                    while started.elapsed() < window {
                        if dcr_core::jose::verify(&token, &verifying).is_ok() {
                            done += 1;
                        }
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    anyhow::ensure!(total > 0, "the calibration verified no signature");
    Ok(total as f64 / window.as_secs_f64())
}

fn ssa_claims(software_id: &str, jwks_uri: &str, now: i64, i: usize) -> Value {
    json!({
        "iss": "cdr-register",
        "iat": now,
        "exp": now + 600,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "legal_entity_id": uuid::Uuid::new_v4().to_string(),
        "legal_entity_name": format!("Bench Legal Entity {i}"),
        "org_id": uuid::Uuid::new_v4().to_string(),
        "org_name": format!("Bench Brand {i}"),
        "client_name": format!("Bench Product {i}"),
        "client_description": "A benchmark software product",
        "client_uri": "https://bench.example.com.au",
        "redirect_uris": ["https://bench.example.com.au/callback"],
        "logo_uri": "https://bench.example.com.au/logo.png",
        "tos_uri": "https://bench.example.com.au/tos",
        "policy_uri": "https://bench.example.com.au/policy",
        "jwks_uri": jwks_uri,
        "revocation_uri": "https://bench.example.com.au/revoke",
        "recipient_base_uri": "https://bench.example.com.au",
        "software_id": software_id,
        "software_roles": "data-recipient-software-product",
        "scope": "openid profile bank:accounts.basic:read bank:transactions:read common:customer.basic:read cdr:registration",
    })
}

fn request_claims(software_id: &str, ssa: &str, issuer: &str, now: i64, alg: &str) -> Value {
    json!({
        "iss": software_id,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
        "aud": issuer,
        "token_endpoint_auth_signing_alg": alg,
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "web",
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
        "redirect_uris": ["https://bench.example.com.au/callback"],
        "software_statement": ssa,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(instances: usize, database_url: Option<&str>) -> BenchArgs {
        BenchArgs {
            count: 1,
            concurrency: 1,
            database_url: database_url.map(str::to_string),
            alg: "ES256".into(),
            instances,
        }
    }

    #[tokio::test]
    async fn two_instances_need_a_shared_postgres_store() {
        for (instances, url, says) in [
            (2, None, "give a PostgreSQL --database-url"),
            (
                2,
                Some("sqlite:///tmp/x.db"),
                "give a PostgreSQL --database-url",
            ),
            (3, Some("postgres://h/db"), "--instances is 1 or 2"),
            (0, None, "--instances is 1 or 2"),
        ] {
            let err = run(args(instances, url))
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(says), "{instances} {url:?}: {err}");
        }
    }

    #[test]
    fn sign_all_keeps_the_order_over_both_threads() {
        let all = sign_all(7, |i| Ok(format!("r{i}"))).expect("signed");
        assert_eq!(all, (0..7).map(|i| format!("r{i}")).collect::<Vec<_>>());
        let err = sign_all(4, |i| {
            anyhow::ensure!(i != 3, "no {i}");
            Ok(String::new())
        })
        .expect_err("the upper half's failure is reported");
        assert_eq!(err.to_string(), "no 3");
    }

    #[test]
    fn the_cpu_share_is_a_fraction_of_the_machine() {
        let cpu = session::CpuBusy::start();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        let share = cpu.share().expect("/proc/stat is read on Linux");
        assert!(share > 0.0 && share <= 1.0, "{share}");
    }
}
