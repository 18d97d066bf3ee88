//! A cache of remote JWK sets (the CDR Register's, each recipient's), keyed by URI.
//!
//! Sets are cached for a TTL; a `kid` not in the cached set triggers one refetch, rate-limited
//! per URI (`min_refetch`), and concurrent misses on one URI share a single fetch. A failed
//! fetch is remembered briefly (negative cache) so that a dead endpoint is not hammered.
//!
//! When the refresh of an expired set fails, the last good set is still used for a bounded
//! grace period after its TTL (`outbound.jwks_grace_secs`), with a warning and the metric
//! `dcr_jwks_cache_total{result="stale"}`: an outage of the Register's or a recipient's JWKS
//! endpoint does not stop registrations and tokens signed with keys already known. A refetch
//! for an unknown `kid` gets no grace: a key the server has never seen cannot be trusted from
//! an old set, and the caller answers that the keys are unavailable.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dcr_core::jose::JwkSet;

use crate::outbound::{FetchError, Outbound};

/// Why a key set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Fetch failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The document is not a usable JWK set.
    #[error("invalid JWK set: {0}")]
    Invalid(String),
    /// A recent fetch failed; not retried yet.
    #[error("the JWK set could not be fetched recently: {0}")]
    RecentlyFailed(String),
}

/// Why [`JwksCache::verify_refetching`] failed.
#[derive(Debug)]
pub enum Verified<E> {
    /// The key set could not be had.
    Keys(JwksError),
    /// The verification failed (after the one refetch, for an unknown `kid`).
    Invalid(E),
}

struct Cached {
    set: Arc<JwkSet>,
    fetched: Instant,
}

#[derive(Default)]
struct Entry {
    cached: RwLock<Option<Cached>>,
    failed: RwLock<Option<(Instant, String)>>,
    /// When a refetch for an unknown `kid` last happened (rate limit).
    forced: RwLock<Option<Instant>>,
    fetch: tokio::sync::Mutex<()>,
}

/// The cache.
pub struct JwksCache {
    outbound: Outbound,
    ttl: Duration,
    grace: Duration,
    min_refetch: Duration,
    negative_ttl: Duration,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// The CDR Register's JWKS URI: metrics label it `source="register"`, the rest `recipient`.
    register_uri: Option<String>,
}

impl JwksCache {
    /// A cache over an outbound client.
    #[must_use]
    pub fn new(outbound: Outbound, ttl: Duration) -> Self {
        Self {
            outbound,
            ttl,
            grace: Duration::ZERO,
            min_refetch: Duration::from_secs(10),
            negative_ttl: Duration::from_secs(5),
            entries: RwLock::new(HashMap::new()),
            register_uri: None,
        }
    }

    /// Keeps using a set for `grace` past its TTL when its refresh fails.
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The last good set when it is within the grace period, for a failed refresh of an expired
    /// set (never for a refetch after an unknown `kid`).
    fn stale(
        &self,
        uri: &str,
        entry: &Entry,
        missing_kid: Option<&str>,
        error: &str,
    ) -> Option<Arc<JwkSet>> {
        if missing_kid.is_some() {
            return None;
        }
        let cached = entry.cached.read().ok()?;
        let c = cached.as_ref()?;
        let age = c.fetched.elapsed();
        if age >= self.ttl + self.grace {
            return None;
        }
        self.cache_result(uri, "stale");
        tracing::warn!(
            uri,
            error,
            age_secs = age.as_secs(),
            "JWKS refresh failed; using the last good set within its grace period"
        );
        Some(c.set.clone())
    }

    /// Names the CDR Register's JWKS URI, so that metrics tell its fetches from recipients'.
    #[must_use]
    pub fn with_register_uri(mut self, uri: &str) -> Self {
        self.register_uri = Some(uri.to_string());
        self
    }

    fn source(&self, uri: &str) -> &'static str {
        if self.register_uri.as_deref() == Some(uri) {
            "register"
        } else {
            "recipient"
        }
    }

    fn cache_result(&self, uri: &str, result: &'static str) {
        metrics::counter!(crate::metrics::JWKS_CACHE, "source" => self.source(uri), "result" => result)
            .increment(1);
    }

    fn entry(&self, uri: &str) -> Arc<Entry> {
        if let Some(e) = self.entries.read().ok().and_then(|m| m.get(uri).cloned()) {
            return e;
        }
        let mut map = match self.entries.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        // Bound the map: a flood of distinct URIs must not grow memory without limit.
        if map.len() > 10_000 {
            map.clear();
        }
        map.entry(uri.to_string()).or_default().clone()
    }

    /// The set at `uri`, from the cache when fresh.
    ///
    /// # Errors
    /// Fetch or parse failure.
    pub async fn get(&self, uri: &str) -> Result<Arc<JwkSet>, JwksError> {
        let entry = self.entry(uri);
        if let Some(set) = fresh(&entry, self.ttl) {
            self.cache_result(uri, "hit");
            return Ok(set);
        }
        self.fetch(uri, &entry, None).await
    }

    /// Refetches the set at `uri` because `kid` was not in it, unless it was fetched within the
    /// last `min_refetch` (then the cached set is returned as is).
    ///
    /// # Errors
    /// Fetch or parse failure.
    pub async fn refresh_for_kid(&self, uri: &str, kid: &str) -> Result<Arc<JwkSet>, JwksError> {
        let entry = self.entry(uri);
        self.fetch(uri, &entry, Some(kid)).await
    }

    /// Verifies something signed by a key of the set at `uri`, the one helper for the SSA, the
    /// registration request and the client assertion: `verify` runs with the cached (or freshly
    /// fetched) set; when it fails because the signing `kid` is not in the set, the set is
    /// refetched once (rate-limited, [`JwksCache::refresh_for_kid`]) and `verify` runs again.
    ///
    /// # Errors
    /// [`Verified::Keys`] when the set cannot be had, [`Verified::Invalid`] with `verify`'s
    /// error otherwise.
    pub async fn verify_refetching<T, E>(
        &self,
        uri: &str,
        kid: impl FnOnce() -> String,
        verify: impl Fn(&JwkSet) -> Result<T, E>,
        unknown_kid: impl Fn(&E) -> bool,
    ) -> Result<T, Verified<E>> {
        let keys = self.get(uri).await.map_err(Verified::Keys)?;
        match verify(&keys) {
            Err(e) if unknown_kid(&e) => {
                let keys = self
                    .refresh_for_kid(uri, &kid())
                    .await
                    .map_err(Verified::Keys)?;
                verify(&keys).map_err(Verified::Invalid)
            }
            other => other.map_err(Verified::Invalid),
        }
    }

    async fn fetch(
        &self,
        uri: &str,
        entry: &Entry,
        missing_kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, JwksError> {
        let _guard = entry.fetch.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(c) = entry.cached.read().ok().as_ref().and_then(|c| c.as_ref()) {
            let fresh = c.fetched.elapsed() < self.ttl;
            let forced_recently = entry
                .forced
                .read()
                .ok()
                .and_then(|f| *f)
                .is_some_and(|at| at.elapsed() < self.min_refetch);
            match missing_kid {
                Some(kid) if c.set.get(kid).is_some() || forced_recently => {
                    self.cache_result(uri, "hit");
                    return Ok(c.set.clone());
                }
                None if fresh => {
                    self.cache_result(uri, "hit");
                    return Ok(c.set.clone());
                }
                _ => {}
            }
        }
        if missing_kid.is_some() {
            if let Ok(mut f) = entry.forced.write() {
                *f = Some(Instant::now());
            }
        }
        if let Some((at, why)) = entry.failed.read().ok().and_then(|f| f.clone()) {
            if at.elapsed() < self.negative_ttl {
                if let Some(set) = self.stale(uri, entry, missing_kid, &why) {
                    return Ok(set);
                }
                self.cache_result(uri, "negative");
                return Err(JwksError::RecentlyFailed(why));
            }
        }
        self.cache_result(uri, "miss");
        let started = Instant::now();
        // A recipient's URI is its own choice: no private or loopback addresses.
        let fetched = if self.register_uri.as_deref() == Some(uri) {
            self.outbound.get(uri).await
        } else {
            self.outbound.get_untrusted(uri).await
        };
        let result = match fetched {
            Ok(body) => JwkSet::parse(&body).map_err(|e| JwksError::Invalid(e.to_string())),
            Err(e) => Err(JwksError::Fetch(e)),
        };
        let source = self.source(uri);
        metrics::histogram!(crate::metrics::JWKS_FETCH_SECONDS, "source" => source)
            .record(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(crate::metrics::JWKS_FETCHES, "source" => source, "outcome" => outcome)
            .increment(1);
        match result {
            Ok(set) => {
                let set = Arc::new(set);
                tracing::debug!(
                    uri,
                    keys = set.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "fetched JWKS"
                );
                if let Ok(mut c) = entry.cached.write() {
                    *c = Some(Cached {
                        set: set.clone(),
                        fetched: Instant::now(),
                    });
                }
                if let Ok(mut f) = entry.failed.write() {
                    *f = None;
                }
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(uri, error = %e, "JWKS fetch failed");
                if let Ok(mut f) = entry.failed.write() {
                    *f = Some((Instant::now(), e.to_string()));
                }
                match self.stale(uri, entry, missing_kid, &e.to_string()) {
                    Some(set) => Ok(set),
                    None => Err(e),
                }
            }
        }
    }
}

fn fresh(entry: &Entry, ttl: Duration) -> Option<Arc<JwkSet>> {
    let c = entry.cached.read().ok()?;
    let c = c.as_ref()?;
    (c.fetched.elapsed() < ttl).then(|| c.set.clone())
}
