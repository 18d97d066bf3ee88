//! The rest of the benchmark's session: the portal's pages an administrator reads most, signed
//! in, and a full walk of the audit chain; and the process's heap (`RssAnon`) sampled through
//! the whole run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dcr_core::clock::{Clock as _, SystemClock};
use dcr_store::Store;

/// The largest `RssAnon` (the process's anonymous resident memory: heap and stacks, not the
/// mapped database or binary) seen every 100 ms from [`HeapWatch::start`] until dropped.
pub struct HeapWatch {
    peak_kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl HeapWatch {
    /// Starts sampling on a thread of its own.
    pub fn start() -> Self {
        let peak_kb = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, done) = (peak_kb.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kb) = rss_anon_kb() {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the sampler's own thread, not an async worker"
                )]
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { peak_kb, stop }
    }

    /// The peak so far, in MB (`None` where `/proc/self/status` has no `RssAnon`).
    pub fn peak_mb(&self) -> Option<f64> {
        let kb = self.peak_kb.load(Ordering::Relaxed).max(rss_anon_kb()?);
        Some(kb as f64 / 1024.0)
    }
}

impl Drop for HeapWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn rss_anon_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The machine's CPU time since [`CpuBusy::start`]: the share of all cores' time not idle (a
/// phase that keeps it near 1.0 is bound by the CPU, and more instances on the same machine
/// cannot go faster).
pub struct CpuBusy {
    start: Option<(u64, u64)>,
}

impl CpuBusy {
    pub fn start() -> Self {
        Self {
            start: cpu_jiffies(),
        }
    }

    /// The busy share since the start (`None` without `/proc/stat`).
    pub fn share(&self) -> Option<f64> {
        let (busy0, total0) = self.start?;
        let (busy1, total1) = cpu_jiffies()?;
        let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
        Some(busy1.saturating_sub(busy0) as f64 / total as f64)
    }
}

/// Busy and total jiffies of all cores, from the first line of `/proc/stat` (idle and iowait
/// are the idle columns).
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total.saturating_sub(idle), total))
}

/// Signs an administrator in to the portal at `portal` (created in `store` for the run) and
/// reads the list, a search, the list's last page and the audit log `rounds` times each,
/// printing the median and 95th percentile; then walks the whole audit chain.
///
/// # Errors
/// A page not answered 200, or store failures.
pub async fn portal_and_chain(portal: &str, store: &Store, rounds: usize) -> anyhow::Result<()> {
    let password = uuid::Uuid::new_v4().simple().to_string();
    let hash = server::portal::password::hash(password.clone()).await?;
    let username = format!("bench-{}", &password[..8]);
    store
        .upsert_admin(
            &uuid::Uuid::new_v4().to_string(),
            &username,
            &hash,
            SystemClock.now(),
        )
        .await?;
    // Plain HTTP (reqwest is built without a TLS provider of its own: it is given one).
    let tls = rustls::ClientConfig::builder_with_provider(server::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .post(format!("{portal}/auth/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("username", username.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ");
    anyhow::ensure!(
        !cookie.is_empty(),
        "the portal sign-in set no cookie ({})",
        login.status()
    );
    let get = |path: String| {
        let request = http
            .get(format!("{portal}{path}"))
            .header(reqwest::header::COOKIE, cookie.as_str());
        async move {
            let res = request.send().await?;
            anyhow::ensure!(res.status() == 200, "GET {path} answered {}", res.status());
            Ok::<_, anyhow::Error>(res.text().await?)
        }
    };
    // The last page, from the list's own pager.
    let first = get("/".into()).await?;
    let last = first
        .match_indices("page=")
        .filter_map(|(at, m)| {
            let digits: String = first[at + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(1);
    println!(
        "  portal (signed in, {rounds} requests each, sequential; the whole answer on loopback)"
    );
    for path in [
        "/".to_string(),
        "/?q=Product+42".into(),
        format!("/?page={last}"),
        "/audit".into(),
    ] {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            get(path.clone()).await?;
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |q: f64| {
            let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
            times[i].as_secs_f64() * 1000.0
        };
        println!(
            "  GET {path:<24} p50 {:>7.2} ms   p95 {:>7.2} ms",
            ms(0.5),
            ms(0.95)
        );
    }
    let started = Instant::now();
    let chain = store
        .verify_audit_chain()
        .await
        .context("walking the audit chain")?;
    anyhow::ensure!(chain.ok, "the audit chain did not verify: {chain:?}");
    println!(
        "  audit chain           {} events verified (the whole walk) in {:.1} s",
        chain.checked,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
