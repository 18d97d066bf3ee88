//! One keep-alive connection of the soak: what it sends (by role), how it learns tokens and
//! client ids from the answers, and how it reconnects when the server ends it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use dcr_core::clock::{Clock as _, SystemClock};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::plan::Plan;
use super::stats::{Kind, Stats};
use crate::abuse::Rng;
use crate::adr;
use crate::wire;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Standing tokens are renewed past this age (they live 300 s by default).
const TOKEN_RENEW: Duration = Duration::from_secs(200);

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A connection's part in the traffic.
#[derive(Clone, Copy)]
enum Role {
    /// Takes one product through registration, token, reads and deletion, again and again.
    Cycle(usize),
    /// Tokens, reads, discovery, JWKS, health.
    Api,
    /// Portal pages and server functions.
    Portal,
    /// `GET /metrics`.
    Metrics,
}

/// Where a cycling product is in its life.
enum Step {
    Register,
    Token(String),
    Read(String, String, u8),
    Delete(String, String),
}

/// One request: its kind, the request and the status that counts as success.
struct Call {
    kind: Kind,
    request: http::Request<Full<Bytes>>,
    expect: u16,
}

/// One keep-alive connection until `until` or `stop`: connects, sends, waits, and connects again
/// only when the server ended the connection.
pub(super) async fn connection(
    i: usize,
    plan: &Plan,
    stats: &Stats,
    stop: &AtomicBool,
    until: Instant,
) {
    let role = if i < plan.cycling.len() {
        Role::Cycle(i)
    } else {
        match i % 20 {
            0..=13 => Role::Api,
            19 if plan.metrics.is_some() => Role::Metrics,
            _ => Role::Portal,
        }
    };
    let mut rng = Rng::new(i as u64 + 7);
    let mut step = Step::Register;
    let mut conn: Option<(Sender, tokio::task::JoinHandle<()>)> = None;
    let mut opened = 0u64;
    // A new connection's first request gets its role's largest answer, so that its buffers
    // have their working size from the start rather than growing into it over the run.
    let mut first = false;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match open(plan, role).await {
                Ok(c) => {
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    if opened > 0 {
                        stats.reconnections.fetch_add(1, Ordering::Relaxed);
                    }
                    opened += 1;
                    first = true;
                    conn = Some(c);
                }
                Err(e) => {
                    stats.error(e.into());
                    think(plan, &mut rng, until).await;
                    continue;
                }
            }
        }
        let call = match role {
            Role::Api | Role::Cycle(_) if std::mem::take(&mut first) => plain(
                plan,
                Kind::OpenApi,
                "GET",
                "/openapi.json",
                &plan.api_host,
                200,
            ),
            Role::Portal if std::mem::take(&mut first) => portal_page(plan, Kind::PortalList, "/"),
            Role::Cycle(p) => match cycle_call(plan, p, &step).await {
                Ok(c) => c,
                Err(e) => {
                    // The outermost context only: the same failure counts under one name.
                    stats.error(e.to_string());
                    think(plan, &mut rng, until).await;
                    continue;
                }
            },
            Role::Api => api_call(plan, &mut rng),
            Role::Portal => portal_call(plan, &mut rng),
            Role::Metrics => plain(
                plan,
                Kind::Metrics,
                "GET",
                "/metrics",
                &plan.metrics.map(|m| m.to_string()).unwrap_or_default(),
                200,
            ),
        };
        let Some((sender, _)) = conn.as_mut() else {
            continue;
        };
        let (kind, expect) = (call.kind, call.expect);
        let started = Instant::now();
        match send(sender, call.request).await {
            Ok((status, body)) => {
                stats.served(kind, status, started.elapsed());
                if status != expect {
                    stats.error(format!("{}: status {status}", kind.name()));
                } else {
                    learn(plan, kind, &body, &mut step);
                }
            }
            Err(e) => {
                stats.error(format!("{}: {e}", kind.name()));
                if let Some((_, task)) = conn.take() {
                    task.abort();
                }
            }
        }
        think(plan, &mut rng, until).await;
    }
    if let Some((sender, task)) = conn.take() {
        drop(sender);
        let _ = task.await;
    }
}

/// A pause of half to one and a half times the interval, not past the end.
async fn think(plan: &Plan, rng: &mut Rng, until: Instant) {
    let base = plan.interval.as_millis() as u64;
    let pause =
        Duration::from_millis(base / 2 + rng.below(usize::try_from(base).unwrap_or(1) + 1) as u64);
    let left = until.saturating_duration_since(Instant::now());
    tokio::time::sleep(pause.min(left)).await;
}

async fn open(
    plan: &Plan,
    role: Role,
) -> Result<(Sender, tokio::task::JoinHandle<()>), &'static str> {
    let to = match role {
        Role::Portal => plan.portal,
        Role::Metrics => plan.metrics.unwrap_or(plan.portal),
        Role::Api | Role::Cycle(_) => plan.api,
    };
    let tcp = wire::tcp(to, None, Duration::from_secs(10))
        .await
        .map_err(|_| "connecting")?;
    match role {
        Role::Portal | Role::Metrics => handshake(tcp).await,
        Role::Api | Role::Cycle(_) => {
            let tls = wire::tls(
                tcp,
                plan.tls.with_cert.clone(),
                &plan.server_name,
                Duration::from_secs(10),
            )
            .await
            .map_err(|_| "TLS handshake")?;
            handshake(tls).await
        }
    }
}

async fn handshake<T>(io: T) -> Result<(Sender, tokio::task::JoinHandle<()>), &'static str>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|_| "HTTP handshake")?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, task))
}

async fn send(
    sender: &mut Sender,
    req: http::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), &'static str> {
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        sender.ready().await.map_err(|_| "connection closed")?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|_| "connection closed")?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|_| "body cut short")?
            .to_bytes();
        Ok((status, body))
    })
    .await
    .unwrap_or(Err("no answer within 30 s"))
}

fn request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::new(body)).unwrap_or_default()
}

fn plain(plan: &Plan, kind: Kind, method: &str, path: &str, host: &str, expect: u16) -> Call {
    let _ = plan;
    Call {
        kind,
        request: request(method, path, host, &[], Bytes::new()),
        expect,
    }
}

fn form(pairs: &[(&str, String)]) -> Bytes {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Bytes::from(s.finish())
}

fn token_call(plan: &Plan, client_id: &str) -> anyhow::Result<Call> {
    let assertion = plan.key.sign(&adr::client_assertion_claims(
        client_id,
        &plan.issuer,
        SystemClock.now(),
    ))?;
    let pairs: Vec<(&str, String)> = adr::token_form(&assertion);
    Ok(Call {
        kind: Kind::Token,
        request: request(
            "POST",
            "/token",
            &plan.api_host,
            &[("content-type", "application/x-www-form-urlencoded")],
            form(&pairs),
        ),
        expect: 200,
    })
}

fn read_call(plan: &Plan, client_id: &str, token: &str) -> Call {
    Call {
        kind: Kind::Read,
        request: request(
            "GET",
            &format!("/register/{client_id}"),
            &plan.api_host,
            &[("authorization", &format!("Bearer {token}"))],
            Bytes::new(),
        ),
        expect: 200,
    }
}

fn api_call(plan: &Plan, rng: &mut Rng) -> Call {
    let host = plan.api_host.as_str();
    let standing = &plan.standing[rng.below(plan.standing.len())];
    match rng.below(100) {
        0..=24 => token_call(plan, &standing.client_id)
            .unwrap_or_else(|_| plain(plan, Kind::Health, "GET", "/healthz", host, 200)),
        25..=54 => {
            let token = standing
                .token
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if token.1.elapsed() > TOKEN_RENEW {
                token_call(plan, &standing.client_id)
                    .unwrap_or_else(|_| plain(plan, Kind::Health, "GET", "/healthz", host, 200))
            } else {
                read_call(plan, &standing.client_id, &token.0)
            }
        }
        55..=64 => plain(plan, Kind::Health, "GET", "/healthz", host, 200),
        65..=71 => plain(plan, Kind::Ready, "GET", "/readyz", host, 200),
        72..=81 => plain(
            plan,
            Kind::Discovery,
            "GET",
            "/.well-known/openid-configuration",
            host,
            200,
        ),
        82..=91 => plain(plan, Kind::Jwks, "GET", "/jwks", host, 200),
        92..=96 => {
            let assertion = plan
                .key
                .sign(&adr::client_assertion_claims(
                    &standing.client_id,
                    &plan.issuer,
                    SystemClock.now(),
                ))
                .unwrap_or_default();
            let body = form(&[
                ("client_assertion_type", adr::JWT_BEARER.to_string()),
                ("client_assertion", assertion),
                ("cdr_arrangement_id", uuid::Uuid::new_v4().to_string()),
            ]);
            Call {
                kind: Kind::Revoke,
                request: request(
                    "POST",
                    "/arrangements/revoke",
                    host,
                    &[("content-type", "application/x-www-form-urlencoded")],
                    body,
                ),
                // An arrangement this server does not hold (docs/dcr-rules.md §10.4).
                expect: 422,
            }
        }
        _ => plain(plan, Kind::OpenApi, "GET", "/openapi.json", host, 200),
    }
}

/// A portal page, signed in.
fn portal_page(plan: &Plan, kind: Kind, path: &str) -> Call {
    let host = plan.portal.to_string();
    Call {
        kind,
        request: request(
            "GET",
            path,
            &host,
            &[("cookie", &plan.session)],
            Bytes::new(),
        ),
        expect: 200,
    }
}

fn portal_call(plan: &Plan, rng: &mut Rng) -> Call {
    let host = plan.portal.to_string();
    let cookie = plan.session.as_str();
    let origin = format!("http://{host}");
    let page = |kind, path: String| portal_page(plan, kind, &path);
    match rng.below(100) {
        0..=29 => page(Kind::PortalList, format!("/?page={}", 1 + rng.below(3))),
        30..=49 => {
            let s = &plan.standing[rng.below(plan.standing.len())];
            page(
                Kind::PortalDetail,
                format!("/registrations/{}", s.client_id),
            )
        }
        50..=64 => page(Kind::PortalAudit, "/audit".into()),
        65..=74 => Call {
            kind: Kind::PortalLogin,
            request: request("GET", "/login", &host, &[], Bytes::new()),
            expect: 200,
        },
        _ => {
            let (path, body) = if rng.below(2) == 0 {
                (
                    "/api/registrations",
                    form(&[
                        ("q", String::new()),
                        ("status", String::new()),
                        ("sort", String::new()),
                        ("page", "1".into()),
                    ]),
                )
            } else {
                ("/api/whoami", Bytes::new())
            };
            Call {
                kind: Kind::ServerFn,
                request: request(
                    "POST",
                    path,
                    &host,
                    &[
                        ("cookie", cookie),
                        ("sec-fetch-site", "same-origin"),
                        ("origin", &origin),
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("accept", "application/json"),
                    ],
                    body,
                ),
                expect: 200,
            }
        }
    }
}

/// The next request of a cycling product.
async fn cycle_call(plan: &Plan, p: usize, step: &Step) -> anyhow::Result<Call> {
    let host = plan.api_host.as_str();
    Ok(match step {
        Step::Register => {
            let product = &plan.cycling[p];
            let ssa = adr::fetch_ssa(&plan.ssa_http, &plan.register, &product.brand, &product.id)
                .await
                .context("SSA from the Register simulator")?;
            let jwt = plan.key.sign(&adr::registration_request_claims(
                &ssa,
                &plan.issuer,
                SystemClock.now(),
            )?)?;
            Call {
                kind: Kind::Register,
                request: request(
                    "POST",
                    "/register",
                    host,
                    &[
                        ("content-type", "application/jwt"),
                        ("accept", "application/json"),
                    ],
                    Bytes::from(jwt),
                ),
                expect: 201,
            }
        }
        Step::Token(client_id) => token_call(plan, client_id)?,
        Step::Read(client_id, token, _) => read_call(plan, client_id, token),
        Step::Delete(client_id, token) => Call {
            kind: Kind::Delete,
            request: request(
                "DELETE",
                &format!("/register/{client_id}"),
                host,
                &[("authorization", &format!("Bearer {token}"))],
                Bytes::new(),
            ),
            expect: 204,
        },
    })
}

/// Takes what a successful answer teaches: a cycling product's next step, a standing token.
fn learn(plan: &Plan, kind: Kind, body: &[u8], step: &mut Step) {
    let field = |name: &str| {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_string))
    };
    let next = match (&*step, kind) {
        (Step::Register, Kind::Register) => field("client_id").map(Step::Token),
        (Step::Token(id), Kind::Token) => {
            field("access_token").map(|t| Step::Read(id.clone(), t, 3))
        }
        (Step::Read(id, t, 1), Kind::Read) => Some(Step::Delete(id.clone(), t.clone())),
        (Step::Read(id, t, n), Kind::Read) => Some(Step::Read(id.clone(), t.clone(), n - 1)),
        (Step::Delete(..), Kind::Delete) => Some(Step::Register),
        _ => None,
    };
    if let Some(next) = next {
        *step = next;
        return;
    }
    // A standing client's token request: keep the token for the reads.
    if kind == Kind::Token {
        if let (Some(token), Some(sub)) = (field("access_token"), token_subject(body)) {
            if let Some(s) = plan.standing.iter().find(|s| s.client_id == sub) {
                *s.token.lock().unwrap_or_else(PoisonError::into_inner) = (token, Instant::now());
            }
        }
    }
}

/// The client an access token was issued to (its `sub`, or `client_id`).
fn token_subject(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let token = v.get("access_token")?.as_str()?;
    let claims = dcr_core::jose::decode_claims_unverified(token).ok()?;
    claims
        .get("client_id")
        .or_else(|| claims.get("sub"))
        .and_then(Value::as_str)
        .map(str::to_string)
}
