//! Rate limits of `POST /register` and the token endpoint: token buckets per client certificate
//! (RFC 8705 thumbprint) and per peer address, held in memory by each instance.
//!
//! The buckets are governor's (GCRA, keyed, in a sharded concurrent map). Per instance on
//! purpose: the hot path touches one shard and makes no store round trip, and the limit's job is to stop one recipient from starving the others, not to
//! meter exactly. With N instances behind a load balancer the effective limit is up to N times
//! the configured one; size it for that (see docs/dcr-rules.md, "Rate limits").
//!
//! The API applies them with its `RateLimit` extractor, which answers a refused request 429 with
//! `Retry-After` and the JSON body `{"error": "temporarily_unavailable", ...}` (the OAuth 2.0
//! code clients already retry on).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::Quota;

pub use crate::config::Limit;

/// Above this many keys, keys whose bucket has refilled are dropped (checked every
/// [`PRUNE_EVERY`] requests), so that memory stays bounded under address or certificate churn.
const PRUNE_ABOVE: usize = 65_536;
const PRUNE_EVERY: u64 = 4_096;

type Keyed<K, C> =
    governor::RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Token buckets (governor's GCRA, keyed, in a sharded map) for one kind of key.
struct Buckets<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: Keyed<K, C>,
    clock: C,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Buckets<K, C> {
    fn new(limit: Limit, clock: C) -> Option<Self> {
        let rate = NonZeroU32::new(limit.per_minute)?;
        let burst = NonZeroU32::new(limit.burst.max(1))?;
        let quota = Quota::per_minute(rate).allow_burst(burst);
        Some(Self {
            limiter: governor::RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        })
    }

    /// Takes a token for `key`; `Err(seconds)` until one is available.
    fn take(&self, key: &K) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1
            && self.limiter.len() > PRUNE_ABOVE
        {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            secs
        })
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
            by_cert: Buckets::new(per_cert, DefaultClock::default()),
            by_addr: Buckets::new(per_addr, DefaultClock::default()),
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
        if let (Some(b), Some(a)) = (&self.by_addr, addr) {
            b.take(&a).map_err(|s| ("address", s))?;
        }
        if let (Some(b), Some(t)) = (&self.by_cert, thumbprint) {
            b.take(&t.to_string()).map_err(|s| ("certificate", s))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        let clock = FakeRelativeClock::default();
        let limit = Limit {
            per_minute: 60,
            burst: 2,
        };
        let b = Buckets::<String, _>::new(limit, clock.clone()).unwrap();
        let k = "a".to_string();
        assert!(b.take(&k).is_ok());
        assert!(b.take(&k).is_ok());
        assert_eq!(b.take(&k), Err(1));
        assert!(b.take(&"b".to_string()).is_ok(), "keys are independent");
        clock.advance(std::time::Duration::from_secs(1));
        assert!(b.take(&k).is_ok());
        assert_eq!(b.take(&k), Err(1));
    }

    #[test]
    fn refilled_keys_are_dropped_once_there_are_many() {
        let clock = FakeRelativeClock::default();
        let limit = Limit {
            per_minute: 600,
            burst: 1,
        };
        let b = Buckets::<u64, _>::new(limit, clock.clone()).unwrap();
        for key in 0..(PRUNE_ABOVE as u64 + 1) {
            assert!(b.take(&key).is_ok());
        }
        assert!(b.limiter.len() > PRUNE_ABOVE);
        clock.advance(std::time::Duration::from_secs(1));
        // The next checks reach the pruning point: every earlier key has refilled.
        let until_prune = PRUNE_EVERY - b.checks.load(Ordering::Relaxed) % PRUNE_EVERY;
        for key in 0..until_prune {
            assert!(b.take(&(u64::MAX - key)).is_ok());
        }
        assert!(
            b.limiter.len() <= PRUNE_EVERY as usize,
            "{}",
            b.limiter.len()
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let off = Limit {
            per_minute: 0,
            burst: 5,
        };
        assert!(Buckets::<String, _>::new(off, FakeRelativeClock::default()).is_none());
    }
}
