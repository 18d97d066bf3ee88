//! The sector identifier documents that recipients publish at `sector_identifier_uri`
//! (docs/dcr-rules.md §6 row 11), kept for a short while so that a burst of registrations naming
//! the same document fetches it once.
//!
//! A document is kept for `outbound.sector_identifier_ttl_secs` (default 300; 0 keeps none), or
//! less when its answer says so (`Cache-Control: max-age`), and not at all when it says
//! `no-store` or `no-cache`. Failed fetches are never kept. A kept document that does not list a
//! request's redirect URIs is fetched again before the request is refused, so a recipient that
//! adds a redirect URI to its document is not held back by our copy. The cache is bounded in
//! entries and bytes; past either bound, expired entries go first and then nothing new is kept.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::outbound::{FetchError, Freshness, Outbound};

/// Most documents kept.
const MAX_ENTRIES: usize = 1_024;
/// Most bytes kept, over all documents.
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Where a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Our kept copy.
    Kept,
    /// Fetched for this request.
    Fetched,
}

struct Entry {
    body: Bytes,
    expires_at: i64,
}

/// Sector identifier documents, fetched through the outbound rules for recipient URLs and kept
/// for a while.
pub struct SectorDocuments {
    outbound: Outbound,
    ttl_secs: u64,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SectorDocuments {
    /// Keeps documents for at most `ttl_secs` (0: never).
    #[must_use]
    pub fn new(outbound: Outbound, ttl_secs: u64) -> Self {
        Self {
            outbound,
            ttl_secs,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The document at `uri`: the kept copy while it is fresh at `now`, else fetched.
    ///
    /// # Errors
    /// The fetch's [`FetchError`].
    pub async fn get(&self, uri: &str, now: i64) -> Result<(Bytes, Source), FetchError> {
        if let Some(body) = self.kept(uri, now) {
            crate::metrics::sector_document("kept");
            return Ok((body, Source::Kept));
        }
        Ok((self.fetch(uri, now).await?, Source::Fetched))
    }

    /// The document at `uri`, fetched now whatever is kept (and kept again if it may be).
    ///
    /// # Errors
    /// The fetch's [`FetchError`].
    pub async fn fetch(&self, uri: &str, now: i64) -> Result<Bytes, FetchError> {
        crate::metrics::sector_document("fetched");
        let fetched = self.outbound.get_untrusted_cacheable(uri).await;
        let mut entries = self.lock();
        let (body, freshness) = match fetched {
            Ok(answer) => answer,
            Err(e) => {
                entries.remove(uri);
                return Err(e);
            }
        };
        let keep_secs = match freshness {
            Freshness::DoNotKeep => 0,
            Freshness::MaxAge(secs) => secs.min(self.ttl_secs),
            Freshness::Unspecified => self.ttl_secs,
        };
        entries.remove(uri);
        if keep_secs > 0 {
            let expires_at = now.saturating_add(i64::try_from(keep_secs).unwrap_or(i64::MAX));
            let kept_bytes: usize = entries.values().map(|e| e.body.len()).sum();
            if entries.len() >= MAX_ENTRIES || kept_bytes + body.len() > MAX_BYTES {
                entries.retain(|_, e| e.expires_at > now);
            }
            let kept_bytes: usize = entries.values().map(|e| e.body.len()).sum();
            if entries.len() < MAX_ENTRIES && kept_bytes + body.len() <= MAX_BYTES {
                entries.insert(
                    uri.to_string(),
                    Entry {
                        body: body.clone(),
                        expires_at,
                    },
                );
            }
        }
        Ok(body)
    }

    fn kept(&self, uri: &str, now: i64) -> Option<Bytes> {
        self.lock()
            .get(uri)
            .filter(|e| e.expires_at > now)
            .map(|e| e.body.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written: use the map.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
