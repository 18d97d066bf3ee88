//! `dcr-dev abuse`: hostile traffic against a running Data Holder (not a test of answers, a
//! test that nothing hostile gets a 5xx or brings the server down).
//!
//! It sends a fixed number of hostile requests (10,000 by default), spread over the categories
//! of [`cases::CATEGORIES`] in a shuffled order: malformed TLS (raw TCP garbage, truncated and
//! garbled ClientHellos, plaintext HTTP on the TLS port), malformed HTTP/2 frames, malformed
//! HTTP/1.1 framing (request lines, huge and numerous headers, invalid header bytes, absurd
//! `Content-Length`, bad chunked encoding), oversized and malformed bodies, malformed JWTs,
//! malformed JSON, wrong methods and content types, against the API listener (over TLS with the
//! dev client certificate, or none) and the portal listener (sign-in form, server functions with
//! a real session and forged ones, pages). Requests whose framing is sound share keep-alive
//! connections; the others get a connection each. It counts what the server did for each
//! category (status class, connection closed or reset, TLS alert, HTTP/2 GOAWAY, no answer in
//! time), and fails when any answer is a 5xx, when the server process (`--pid`) exits, or when
//! the server no longer answers a normal request on either listener afterwards.
//! `scripts/abuse.sh` starts a server and runs it.
//!
//! ```sh
//! dcr-dev abuse --api 127.0.0.1:7443 --portal 127.0.0.1:7080 --certs dev-data/certs --pid $PID
//! ```

mod cases;
mod send;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::wire::{self, Outcome, TlsClients};
pub(crate) use cases::Rng;
use cases::{Ctx, Target, CATEGORIES};
use send::{normal_request, Conns};

/// Arguments of `abuse`.
#[derive(clap::Args, Debug)]
pub struct AbuseArgs {
    /// The API listener (TLS, client certificates).
    #[arg(long)]
    api: SocketAddr,
    /// The portal listener (plain HTTP).
    #[arg(long)]
    portal: SocketAddr,
    /// The API's TLS server name.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// The Data Holder's issuer (default `https://<server name>:<API port>`).
    #[arg(long)]
    issuer: Option<String>,
    /// A `dcr-dev certs` directory: `ca.pem`, and the client certificate presented.
    #[arg(long)]
    certs: PathBuf,
    /// Hostile requests to send.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Local address to send from (another loopback address keeps the sign-in lockouts this
    /// provokes away from other clients on 127.0.0.1).
    #[arg(long)]
    source: Option<IpAddr>,
    /// The server's process id: the run fails if it exits.
    #[arg(long)]
    pid: Option<u32>,
    /// A portal administrator to sign in as, so that server functions are attacked with a real
    /// session too.
    #[arg(long, env = "DCR_ABUSE_ADMIN_USER")]
    admin_user: Option<String>,
    /// Their password.
    #[arg(long, env = "DCR_ABUSE_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Seed of the case generator (the same seed sends the same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the categories whose name contains this (to reproduce a finding).
    #[arg(long)]
    only: Option<String>,
    /// Print every case and what the server did.
    #[arg(long)]
    verbose: bool,
}

/// Where the server is, and how to reach it.
struct Env {
    api: SocketAddr,
    portal: SocketAddr,
    server_name: String,
    source: Option<IpAddr>,
    tls: TlsClients,
}

/// How long a case may take before it counts as unanswered.
const PATIENCE: Duration = Duration::from_secs(20);
/// ... and one left incomplete on purpose (the server's deadlines are 10 s by default).
const STALL_PATIENCE: Duration = Duration::from_secs(30);
/// Connection set-up, TCP and TLS.
const CONNECT: Duration = Duration::from_secs(10);

/// Counts per category and outcome class, and the cases worth a second look.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    notable: Vec<String>,
    notable_total: usize,
}

/// Runs the abuse and prints the tally.
///
/// # Errors
/// Set-up failures, or a failed run: a 5xx, the server gone, or no answer to a normal request
/// afterwards.
pub async fn run(args: AbuseArgs) -> anyhow::Result<()> {
    let tls = TlsClients::from_certs_dir(&args.certs)?;
    let client_hello = tls.client_hello(&args.server_name)?;
    let env = Arc::new(Env {
        api: args.api,
        portal: args.portal,
        server_name: args.server_name.clone(),
        source: args.source,
        tls,
    });
    let session = match (&args.admin_user, &args.admin_password) {
        (Some(user), Some(password)) => Some(
            wire::portal_sign_in(env.portal, env.source, user, password)
                .await
                .context("signing in to the portal")?,
        ),
        _ => None,
    };
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| format!("https://{}:{}", args.server_name, args.api.port()));
    let ctx = Arc::new(Ctx {
        api_host: format!("{}:{}", args.server_name, args.api.port()),
        portal_host: args.portal.to_string(),
        client_hello,
        session: session.clone(),
        stranger: dcr_core::jose::SigningKey::generate_es256("stranger")?,
        issuer,
    });

    let schedule = Arc::new(schedule(args.requests, args.seed, args.only.as_deref()));
    println!(
        "dcr-dev abuse: {} hostile requests, {} in flight, API {} and portal {}{}",
        schedule.len(),
        args.concurrency,
        args.api,
        args.portal,
        if session.is_some() {
            " (signed in to the portal)"
        } else {
            ""
        }
    );
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let died = Arc::new(Mutex::new(None::<usize>));
    let watcher = args.pid.map(|pid| {
        let (done, died, next) = (done.clone(), died.clone(), next.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if !process_alive(pid) {
                    *died.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(next.load(Ordering::Relaxed));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    });

    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency.max(1) {
        let (env, ctx, schedule, next, tally) = (
            env.clone(),
            ctx.clone(),
            schedule.clone(),
            next.clone(),
            tally.clone(),
        );
        let (seed, verbose) = (args.seed, args.verbose);
        workers.push(tokio::spawn(async move {
            let mut conns = Conns::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(cat, j)) = schedule.get(i) else {
                    break;
                };
                let (name, _, generate) = CATEGORIES[cat];
                let mut rng = Rng::new(seed ^ ((i as u64) << 16) ^ w as u64);
                let case = generate(&ctx, j, &mut rng);
                let t0 = Instant::now();
                let (outcome, detail) = conns.execute(&env, &case).await;
                if verbose {
                    println!(
                        "{i:>6} {name}: {} -> {outcome:?} in {:.2} s {detail}",
                        case.label,
                        t0.elapsed().as_secs_f64()
                    );
                }
                let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
                *t.counts
                    .entry(name)
                    .or_default()
                    .entry(outcome.class())
                    .or_default() += 1;
                if matches!(outcome, Outcome::Status(500..) | Outcome::Timeout) {
                    t.notable_total += 1;
                    if t.notable.len() < 30 {
                        t.notable.push(format!(
                            "{} — {name}: {} {detail}",
                            outcome.class(),
                            case.label
                        ));
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(w) = watcher {
        let _ = w.await;
    }

    // A normal request on each listener afterwards.
    let health = normal_request(&env, Target::Api { cert: true }, "/healthz").await;
    let login = normal_request(&env, Target::Portal, "/login").await;
    let alive = args.pid.is_none_or(process_alive);

    let t = tally.lock().unwrap_or_else(PoisonError::into_inner);
    print_table(&t.counts);
    println!("  in {:.1} s", elapsed.as_secs_f64());
    if !t.notable.is_empty() {
        println!(
            "  5xx answers and unanswered cases ({} in all):",
            t.notable_total
        );
        for n in &t.notable {
            println!("    {n}");
        }
    }
    let five = t
        .counts
        .values()
        .map(|c| c.get("5xx").copied().unwrap_or(0))
        .sum::<usize>();
    println!(
        "  afterwards: API GET /healthz {}, portal GET /login {}, server process {}",
        health.class(),
        login.class(),
        match args.pid {
            None => "not watched".to_string(),
            Some(pid) if alive => format!("{pid} running"),
            Some(pid) => format!("{pid} GONE"),
        }
    );
    let died = *died.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = died {
        anyhow::bail!("the server exited during the run (around request {at})");
    }
    anyhow::ensure!(alive, "the server exited");
    anyhow::ensure!(
        five == 0,
        "{five} hostile requests were answered with a 5xx"
    );
    anyhow::ensure!(
        health == Outcome::Status(200) && login == Outcome::Status(200),
        "the server no longer answers normal requests (healthz: {health:?}, portal: {login:?})"
    );
    println!("abuse: PASS");
    Ok(())
}

/// The run's order: each category's share of `requests`, shuffled.
fn schedule(requests: usize, seed: u64, only: Option<&str>) -> Vec<(usize, usize)> {
    let chosen: Vec<usize> = (0..CATEGORIES.len())
        .filter(|&i| only.is_none_or(|o| CATEGORIES[i].0.contains(o)))
        .collect();
    let total: usize = chosen.iter().map(|&i| CATEGORIES[i].1).sum();
    let mut order = Vec::with_capacity(requests);
    let mut given = 0;
    for (k, &i) in chosen.iter().enumerate() {
        let share = CATEGORIES[i].1;
        let n = if k + 1 == chosen.len() {
            requests.saturating_sub(given)
        } else {
            requests * share / total
        };
        given += n;
        order.extend((0..n).map(|j| (i, j)));
    }
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// Whether a process runs (a zombie does not).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && (l.contains('Z') || l.contains('X')))
    })
}

/// A column's width: its name and a space, at least 7.
fn width(column: &str) -> usize {
    column.len().max(6) + 1
}

fn print_table(counts: &BTreeMap<&'static str, BTreeMap<&'static str, usize>>) {
    const COLS: &[&str] = &[
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "closed",
        "reset",
        "tls-alert",
        "goaway",
        "timeout",
        "garbled",
        "connect-failed",
    ];
    println!(
        "  {:<34} {:>6} {}",
        "category",
        "sent",
        COLS.iter()
            .map(|c| format!("{c:>w$}", w = width(c)))
            .collect::<String>()
    );
    let mut totals = BTreeMap::<&str, usize>::new();
    for (name, _, _) in CATEGORIES {
        let Some(c) = counts.get(name) else { continue };
        let sent: usize = c.values().sum();
        *totals.entry("sent").or_default() += sent;
        let cells = COLS
            .iter()
            .map(|k| {
                let n = c.get(k).copied().unwrap_or(0);
                *totals.entry(k).or_default() += n;
                format!("{n:>w$}", w = width(k))
            })
            .collect::<String>();
        println!("  {name:<34} {sent:>6} {cells}");
    }
    println!(
        "  {:<34} {:>6} {}",
        "total",
        totals.get("sent").copied().unwrap_or(0),
        COLS.iter()
            .map(|k| format!("{:>w$}", totals.get(k).copied().unwrap_or(0), w = width(k)))
            .collect::<String>()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            api_host: "localhost:7443".into(),
            portal_host: "127.0.0.1:7080".into(),
            client_hello: vec![0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00],
            session: Some("dcr_session=abc".into()),
            stranger: dcr_core::jose::SigningKey::generate_es256("stranger").unwrap(),
            issuer: "https://localhost:7443".into(),
        }
    }

    #[test]
    fn the_schedule_sends_every_request_in_each_categorys_share() {
        let order = schedule(10_000, 1, None);
        assert_eq!(order.len(), 10_000);
        for (i, (name, share, _)) in CATEGORIES.iter().enumerate() {
            let n = order.iter().filter(|(c, _)| *c == i).count();
            assert_eq!(n, *share, "{name}");
        }
        assert_ne!(
            order[..20],
            schedule(10_000, 2, None)[..20],
            "the seed shuffles"
        );
        let only = schedule(100, 1, Some("api/tls"));
        assert_eq!(only.len(), 100);
        assert!(only
            .iter()
            .all(|(c, _)| CATEGORIES[*c].0.starts_with("api/tls")));
    }

    #[test]
    fn every_category_makes_cases_to_send() {
        let ctx = ctx();
        for (name, _, generate) in CATEGORIES {
            for j in 0..60 {
                let case = generate(&ctx, j, &mut Rng::new(j as u64));
                assert!(
                    !case.bytes.is_empty() || case.label == "empty",
                    "{name} {j}"
                );
                assert!(
                    !case.stall || case.fresh,
                    "{name}: a stalled case has its own connection"
                );
                assert!(
                    !case.half_close || case.fresh,
                    "{name}: a half-closed connection is not reused"
                );
            }
        }
    }
}
