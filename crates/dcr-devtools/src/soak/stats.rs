//! The soak's counts: requests served by kind with their latencies, and errors by kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Kinds of request, in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Kind {
    Register,
    Token,
    Read,
    Delete,
    Revoke,
    Health,
    Ready,
    Discovery,
    Jwks,
    OpenApi,
    PortalList,
    PortalDetail,
    PortalAudit,
    PortalLogin,
    ServerFn,
    Metrics,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Register => "POST /register",
            Self::Token => "POST /token",
            Self::Read => "GET /register/{id}",
            Self::Delete => "DELETE /register/{id}",
            Self::Revoke => "POST /arrangements/revoke",
            Self::Health => "GET /healthz",
            Self::Ready => "GET /readyz",
            Self::Discovery => "GET discovery",
            Self::Jwks => "GET /jwks",
            Self::OpenApi => "GET /openapi.json",
            Self::PortalList => "portal / (registrations)",
            Self::PortalDetail => "portal /registrations/{id}",
            Self::PortalAudit => "portal /audit",
            Self::PortalLogin => "portal /login",
            Self::ServerFn => "portal server functions",
            Self::Metrics => "GET /metrics",
        }
    }
}

/// Counts of the run, shared by every connection.
#[derive(Default)]
pub(super) struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    five: AtomicU64,
    pub(super) connections: AtomicU64,
    pub(super) reconnections: AtomicU64,
    by_kind: Mutex<BTreeMap<Kind, KindStats>>,
    error_kinds: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub(super) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(super) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub(super) fn count_5xx(&self) -> u64 {
        self.five.load(Ordering::Relaxed)
    }

    pub(super) fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .error_kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(what)
            .or_default() += 1;
    }

    pub(super) fn served(&self, kind: Kind, status: u16, took: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.five.fetch_add(1, Ordering::Relaxed);
        }
        self.by_kind
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(kind)
            .or_default()
            .latencies_us
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    pub(super) fn print(&self, ran: Duration) {
        let served = self.requests();
        println!(
            "  requests served: {served} in {:.0} s ({:.0}/s); connections opened: {} ({} of \
             them to replace one that failed)",
            ran.as_secs_f64(),
            served as f64 / ran.as_secs_f64().max(0.001),
            self.connections.load(Ordering::Relaxed),
            self.reconnections.load(Ordering::Relaxed),
        );
        let mut by_kind = self.by_kind.lock().unwrap_or_else(PoisonError::into_inner);
        for (kind, s) in by_kind.iter_mut() {
            s.latencies_us.sort_unstable();
            println!(
                "    {:<28} {:>9}   p50 {:>7.2} ms   p99 {:>7.2} ms",
                kind.name(),
                s.latencies_us.len(),
                percentile(&s.latencies_us, 0.50),
                percentile(&s.latencies_us, 0.99),
            );
        }
        let errors = self
            .error_kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if errors.is_empty() {
            println!("  errors: none");
        } else {
            println!("  errors: {}", self.errors());
            for (what, n) in errors.iter() {
                println!("    {what}: {n}");
            }
        }
    }
}

/// The latencies of one kind of request.
#[derive(Default)]
struct KindStats {
    latencies_us: Vec<u32>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}
