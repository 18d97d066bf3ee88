//! Rate limits of `POST /register` and the token endpoint: token buckets per client certificate
//! (RFC 8705 thumbprint) and per peer address, held in memory by each instance.
//!
//! Per instance on purpose: the hot path takes one short mutex on one shard and makes no store
//! round trip, and the limit's job is to stop one recipient from starving the others, not to
//! meter exactly. With N instances behind a load balancer the effective limit is up to N times
//! the configured one; size it for that (see docs/dcr-rules.md, "Rate limits").
//!
//! A refused request gets 429 with `Retry-After` and the JSON body
//! `{"error": "temporarily_unavailable", ...}` (the OAuth 2.0 code clients already retry on).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;

use crate::api::auth::ClientCert;
use crate::api::ApiError;
use crate::state::AppState;
use crate::tls::ConnectionInfo;

pub use crate::config::Limit;

const SHARDS: usize = 16;
/// Above this many keys in a shard, buckets that have refilled are dropped.
const PRUNE_ABOVE: usize = 4096;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by `K`, in [`SHARDS`] independently locked maps.
struct Buckets<K> {
    per_sec: f64,
    burst: f64,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<K, Bucket>>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(limit: Limit) -> Option<Self> {
        (limit.per_minute > 0).then(|| Self {
            per_sec: f64::from(limit.per_minute) / 60.0,
            burst: f64::from(limit.burst.max(1)),
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    /// Takes a token for `key`; `Err(seconds)` until one is available.
    fn take(&self, key: &K, now: Instant) -> Result<(), u64> {
        #[allow(clippy::cast_possible_truncation)]
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let mut map = match self.shards[shard].lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() > PRUNE_ABOVE {
            let (per_sec, burst) = (self.per_sec, self.burst);
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst
            });
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = ((1.0 - b.tokens) / self.per_sec).ceil().max(1.0) as u64;
            Err(wait)
        }
    }
}

/// The limiter of one instance.
pub struct RateLimiter {
    by_cert: Option<Buckets<String>>,
    by_addr: Option<Buckets<IpAddr>>,
}

impl RateLimiter {
    /// A limiter with a per-certificate and a per-address limit (either may be off).
    #[must_use]
    pub fn new(per_cert: Limit, per_addr: Limit) -> Self {
        Self {
            by_cert: Buckets::new(per_cert),
            by_addr: Buckets::new(per_addr),
        }
    }

    /// Takes a token for the address (if given) and the certificate thumbprint (if given);
    /// `Err((key, seconds))` names the limit that refused.
    ///
    /// # Errors
    /// The limit that is exhausted and when to retry.
    pub fn check(
        &self,
        addr: Option<IpAddr>,
        thumbprint: Option<&str>,
    ) -> Result<(), (&'static str, u64)> {
        let now = Instant::now();
        if let (Some(b), Some(a)) = (&self.by_addr, addr) {
            b.take(&a, now).map_err(|s| ("address", s))?;
        }
        if let (Some(b), Some(t)) = (&self.by_cert, thumbprint) {
            b.take(&t.to_string(), now)
                .map_err(|s| ("certificate", s))?;
        }
        Ok(())
    }
}

/// Applies the limits to a request of `endpoint`. The address limit is skipped for a trusted
/// proxy (gateway mode), whose address stands for every recipient behind it.
///
/// # Errors
/// 429 with `Retry-After` when a limit is exhausted.
pub fn check(
    state: &AppState,
    endpoint: &'static str,
    conn: Option<&ConnectionInfo>,
    cert: Option<&ClientCert>,
) -> Result<(), ApiError> {
    let addr = conn
        .map(|c| c.peer.ip())
        .filter(|ip| !state.config.trusted_proxies.contains(ip));
    state
        .rate_limiter
        .check(addr, cert.map(|c| c.thumbprint.as_str()))
        .map_err(|(key, secs)| {
            metrics::counter!(crate::metrics::RATE_LIMITED, "endpoint" => endpoint, "key" => key)
                .increment(1);
            tracing::info!(target: "security", endpoint, key, retry_after = secs, "rate limited");
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!("Too many requests; retry after {secs} seconds."),
            );
            e.retry_after = Some(secs);
            e
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        let b = Buckets::<String>::new(Limit {
            per_minute: 60,
            burst: 2,
        })
        .unwrap();
        let t0 = Instant::now();
        let k = "a".to_string();
        assert!(b.take(&k, t0).is_ok());
        assert!(b.take(&k, t0).is_ok());
        assert_eq!(b.take(&k, t0), Err(1));
        assert!(b.take(&"b".to_string(), t0).is_ok(), "keys are independent");
        assert!(b.take(&k, t0 + std::time::Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        assert!(Buckets::<String>::new(Limit {
            per_minute: 0,
            burst: 5
        })
        .is_none());
    }
}
