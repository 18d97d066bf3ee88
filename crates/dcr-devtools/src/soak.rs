//! `dcr-dev soak`: many keep-alive connections of mixed traffic against a running Data Holder
//! for a long time, watching the server's memory and file descriptors.
//!
//! Set-up: software products in the CDR Register simulator (`--register`) whose recipient key
//! this tool holds, a few of them registered for the whole run (the ADR helpers of
//! [`crate::adr`]: SSA from the simulator, signed request, client assertions), and a portal
//! session. Then `--connections` connections (HTTP/1.1 keep-alive; the API over mTLS with the
//! dev client certificate, the portal and the metrics listener plain) each send a request every
//! `--interval-ms` on average: token requests and `GET /register/{id}` for the standing
//! registrations, discovery, JWKS, health and readiness, portal pages and server functions,
//! `GET /metrics`; some API connections each take a product of their own through
//! registration, token, reads and deletion, over and over.
//!
//! Every `--sample-secs` the server's resident memory (`VmRSS` and its anonymous part `RssAnon`
//! from `/proc/<pid>/status`, and the resident pages of the SQLite database the store maps into
//! memory, from `/proc/<pid>/smaps`) and open file descriptors (`/proc/<pid>/fd`) are sampled.
//! The run fails when the anonymous resident memory (heap, stacks: the server's own; `VmRSS`
//! also counts mapped files, the binary and the database, whose resident pages follow the
//! kernel's page cache and the database's size), the median of 30 s of samples, is
//! `--rss-limit-pct` or more above its value at the end of the warm-up at the end of the run;
//! when the descriptors left open after the clients have gone exceed those before the soak by
//! more than `--fd-margin`; when a request is answered with a 5xx, more than 1 % of requests
//! fail, or the server exits.

mod plan;
mod stats;
mod traffic;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::wire::TlsClients;
use plan::{Plan, Setup};
use stats::Stats;

/// Arguments of `soak`.
#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// The API listener (TLS, client certificates).
    #[arg(long)]
    api: SocketAddr,
    /// The portal listener (plain HTTP).
    #[arg(long)]
    portal: SocketAddr,
    /// The metrics listener (plain HTTP), when the server has one.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// The API's TLS server name.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// The Data Holder's issuer (default `https://<server name>:<API port>`).
    #[arg(long)]
    issuer: Option<String>,
    /// A `dcr-dev certs` directory: `ca.pem`, and the client certificate presented.
    #[arg(long)]
    certs: PathBuf,
    /// The CDR Register simulator's base URL (it issues the SSAs).
    #[arg(long)]
    register: url::Url,
    /// Connections held open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Length of the run, seconds (warm-up included).
    #[arg(long, default_value_t = 1800)]
    seconds: u64,
    /// Warm-up, seconds (default: a sixth of the run).
    #[arg(long)]
    warmup_secs: Option<u64>,
    /// Mean time between two requests on one connection, milliseconds (below the server's
    /// header-read timeout, which also closes idle keep-alive connections).
    #[arg(long, default_value_t = 2000)]
    interval_ms: u64,
    /// Software products registered, read and deleted in turn, each by a connection of its own.
    #[arg(long, default_value_t = 20)]
    cycling_products: usize,
    /// Registrations kept for the whole run (token requests and reads).
    #[arg(long, default_value_t = 10)]
    standing_products: usize,
    /// The server's process id (sampled, and the run fails if it exits).
    #[arg(long)]
    pid: u32,
    /// The server's SQLite database file: the resident pages of its memory mapping are reported
    /// apart (they follow the database's size).
    #[arg(long)]
    database: Option<PathBuf>,
    /// Seconds between samples.
    #[arg(long, default_value_t = 2)]
    sample_secs: u64,
    /// Growth of the anonymous resident memory (heap, stacks) from the end of the warm-up to the
    /// end that fails the run, %.
    #[arg(long, default_value_t = 10.0)]
    rss_limit_pct: f64,
    /// Descriptors the server may hold after the soak beyond those before it.
    #[arg(long, default_value_t = 16)]
    fd_margin: usize,
    /// A portal administrator (the portal traffic signs in as them).
    #[arg(long, env = "DCR_SOAK_ADMIN_USER")]
    admin_user: String,
    /// Their password.
    #[arg(long, env = "DCR_SOAK_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
}

/// One reading of the server process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kb: u64,
    /// The anonymous part of it (heap, stacks), without mapped files (the binary, the
    /// memory-mapped SQLite database).
    anon_kb: u64,
    /// The part of it that is the SQLite database (and its WAL index), which the store maps
    /// into memory (up to 256 MB): its pages follow the database's size, not the heap's.
    db_kb: u64,
    fds: usize,
    sockets: usize,
}

/// Resident kilobytes of the mappings of files whose path starts with `prefix`.
fn mapped_kb(pid: u32, prefix: &Path) -> u64 {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return 0;
    };
    let prefix = prefix.to_string_lossy();
    let (mut total, mut inside) = (0, false);
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            if inside {
                total += rss
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            // A mapping's first line: range, perms, offset, device, inode, path.
            inside = line
                .split_whitespace()
                .nth(5)
                .is_some_and(|path| path.starts_with(prefix.as_ref()));
        }
    }
    total
}

/// Reads the server's resident memory and open descriptors; `None` once it has exited.
fn sample(pid: u32, database: Option<&Path>, at: Duration) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if status
        .lines()
        .any(|l| l.starts_with("State:") && (l.contains('Z') || l.contains('X')))
    {
        return None;
    }
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let rss_kb = field("VmRSS:")?;
    let anon_kb = field("RssAnon:").unwrap_or(0);
    let (mut fds, mut sockets) = (0, 0);
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        fds += 1;
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        sockets += usize::from(target.to_string_lossy().starts_with("socket:"));
    }
    Some(Sample {
        at,
        rss_kb,
        anon_kb,
        db_kb: database.map_or(0, |d| mapped_kb(pid, d)),
        fds,
        sockets,
    })
}

/// How long before a point in time its resident memory is averaged over (one sample is noisy:
/// the allocator returns memory to the system and takes it back in bursts of megabytes).
const WINDOW: Duration = Duration::from_secs(30);

/// The median of the samples taken in the [`WINDOW`] up to `at` (each figure apart), as one
/// sample at `at`: the median ignores the allocator's bursts either way.
fn window(samples: &[Sample], at: Duration) -> Option<Sample> {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at <= at && s.at + WINDOW > at)
        .collect();
    let median = |of: fn(&Sample) -> u64| {
        let mut v: Vec<u64> = inside.iter().map(|s| of(s)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    Some(Sample {
        at,
        rss_kb: median(|s| s.rss_kb)?,
        anon_kb: median(|s| s.anon_kb)?,
        db_kb: median(|s| s.db_kb)?,
        fds: inside.iter().map(|s| s.fds).max()?,
        sockets: inside.iter().map(|s| s.sockets).max()?,
    })
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// Runs the soak and prints its figures.
///
/// # Errors
/// Set-up failures, or a failed run (memory growth, descriptors left open, a 5xx, the server
/// gone).
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let tls = TlsClients::from_certs_dir(&args.certs)?;
    let duration = Duration::from_secs(args.seconds);
    let warmup = Duration::from_secs(args.warmup_secs.unwrap_or(args.seconds / 6));
    anyhow::ensure!(
        warmup < duration,
        "the warm-up must be shorter than the run"
    );
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| format!("https://{}:{}", args.server_name, args.api.port()));
    let database = args.database.as_deref();
    let before =
        sample(args.pid, database, Duration::ZERO).context("the server process is not running")?;

    let plan = Plan::prepare(Setup {
        api: args.api,
        portal: args.portal,
        metrics: args.metrics,
        server_name: args.server_name.clone(),
        issuer,
        tls,
        certs: args.certs.clone(),
        register: args.register.clone(),
        cycling: args.cycling_products.min(args.connections),
        standing: args.standing_products.max(1),
        admin: (args.admin_user.clone(), args.admin_password.clone()),
        interval: Duration::from_millis(args.interval_ms.max(10)),
    })
    .await?;
    println!(
        "dcr-dev soak: {} connections for {} s (warm-up {} s), a request every {} ms on each; \
         {} standing registrations, {} products registered and deleted in turn",
        args.connections,
        duration.as_secs(),
        warmup.as_secs(),
        args.interval_ms,
        args.standing_products.max(1),
        args.cycling_products.min(args.connections),
    );
    println!(
        "  before: RSS {}, {} open descriptors ({} sockets)",
        mb(before.rss_kb),
        before.fds,
        before.sockets
    );

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(vec![before]));
    let stats = Arc::new(Stats::default());
    let sampler = {
        let (stop, samples, stats) = (stop.clone(), samples.clone(), stats.clone());
        let (pid, every) = (args.pid, Duration::from_secs(args.sample_secs.max(1)));
        let database = args.database.clone();
        tokio::spawn(async move {
            let mut last_print = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(every).await;
                let at = started.elapsed();
                let Some(s) = sample(pid, database.as_deref(), at) else {
                    stop.store(true, Ordering::Relaxed);
                    return false;
                };
                samples
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(s);
                if at - last_print >= Duration::from_secs(60) {
                    last_print = at;
                    println!(
                        "  {:>5} s: RSS {} ({} anonymous, {} mapped database), {} descriptors, \
                         {} requests, {} errors",
                        at.as_secs(),
                        mb(s.rss_kb),
                        mb(s.anon_kb),
                        mb(s.db_kb),
                        s.fds,
                        stats.requests(),
                        stats.errors()
                    );
                }
            }
            true
        })
    };

    // Connections open over the first tenth of the warm-up, not all at once.
    let ramp = (warmup / 10).min(Duration::from_secs(20));
    let mut workers = Vec::with_capacity(args.connections);
    let plan = Arc::new(plan);
    for i in 0..args.connections {
        let delay = ramp.mul_f64(i as f64 / args.connections as f64);
        let (plan, stats, stop) = (plan.clone(), stats.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            traffic::connection(i, &plan, &stats, &stop, started + duration).await;
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let ran = started.elapsed();
    let alive = !stop.swap(true, Ordering::Relaxed);
    let sampler_saw_server = sampler.await.unwrap_or(false);
    let at_end = samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .last()
        .copied()
        .unwrap_or(before);

    // The clients are gone: the server should give their descriptors back.
    let mut after = sample(args.pid, database, started.elapsed());
    let settle = Instant::now();
    while let Some(s) = after {
        if s.fds <= before.fds + args.fd_margin || settle.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = sample(args.pid, database, started.elapsed());
    }

    let samples = samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let warm = window(&samples, warmup).unwrap_or(before);
    let at_end = window(&samples, at_end.at).unwrap_or(at_end);
    let peak = samples
        .iter()
        .filter(|s| s.at >= warmup)
        .map(|s| s.anon_kb)
        .max()
        .unwrap_or(at_end.anon_kb);
    let peak_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let pct = |from: u64, to: u64| (to as f64 - from as f64) / from.max(1) as f64 * 100.0;
    let growth = pct(warm.anon_kb, at_end.anon_kb);

    stats.print(ran);
    println!(
        "  resident memory (each the median of 30 s of samples): before; end of warm-up ({} s); \
         end ({} s); growth",
        warm.at.as_secs(),
        at_end.at.as_secs(),
    );
    for (what, kb) in [
        ("VmRSS", [before.rss_kb, warm.rss_kb, at_end.rss_kb]),
        (
            "anonymous (RssAnon)",
            [before.anon_kb, warm.anon_kb, at_end.anon_kb],
        ),
        ("mapped database", [before.db_kb, warm.db_kb, at_end.db_kb]),
    ] {
        println!(
            "    {what}: {}; {}; {}; {:+.1} %",
            mb(kb[0]),
            mb(kb[1]),
            mb(kb[2]),
            pct(kb[1], kb[2])
        );
    }
    println!(
        "    anonymous growth {growth:+.1} % (limit {} %); its peak sample after the warm-up {}",
        args.rss_limit_pct,
        mb(peak)
    );
    match after {
        Some(a) => println!(
            "  open descriptors: before {} ({} sockets); peak {}; after the clients closed {} ({} \
             sockets; {:+}, margin {}); RSS then {}",
            before.fds,
            before.sockets,
            peak_fds,
            a.fds,
            a.sockets,
            a.fds as i64 - before.fds as i64,
            args.fd_margin,
            mb(a.rss_kb)
        ),
        None => println!("  open descriptors: the server is gone"),
    }

    anyhow::ensure!(
        alive && sampler_saw_server && after.is_some(),
        "the server exited during the soak"
    );
    let five = stats.count_5xx();
    anyhow::ensure!(five == 0, "{five} requests were answered with a 5xx");
    anyhow::ensure!(
        growth < args.rss_limit_pct,
        "anonymous resident memory grew {growth:.1} % after the warm-up (limit {} %)",
        args.rss_limit_pct
    );
    if let Some(a) = after {
        anyhow::ensure!(
            a.fds <= before.fds + args.fd_margin,
            "{} descriptors open after the soak against {} before (margin {})",
            a.fds,
            before.fds,
            args.fd_margin
        );
    }
    let served = stats.requests();
    anyhow::ensure!(served > 0, "no request was served");
    let errors = stats.errors();
    anyhow::ensure!(
        errors * 100 <= served,
        "{errors} failed requests of {served} (over 1 %)"
    );
    println!("soak: PASS");
    Ok(())
}
