//! A cache of access tokens this instance has issued or already verified, keyed by the SHA-256
//! of the token, so that a token's later uses skip the ES256 signature check (about 70 µs, the
//! largest cost of a management call). A hit needs the exact token string (a 256-bit digest
//! match); expiry is still checked exactly on every use, and whether the registration is still
//! active is still read from the store. Another instance simply verifies the signature.
//!
//! Bounded: entries expire with their token (at most 10 minutes) and a full shard is cleared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dcr_core::token::AccessTokenClaims;
use sha2::{Digest as _, Sha256};

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 8192;

type Shard = Mutex<HashMap<[u8; 32], Arc<AccessTokenClaims>>>;

/// The cache.
pub struct TokenCache {
    shards: Vec<Shard>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    fn shard(&self, k: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(k[0]) % SHARDS]
    }

    /// Remembers a token and its claims.
    pub fn insert(&self, token: &str, claims: AccessTokenClaims, now: i64) {
        let k = key(token);
        let Ok(mut shard) = self.shard(&k).lock() else {
            return;
        };
        if shard.len() >= MAX_PER_SHARD {
            shard.retain(|_, c| c.exp > now);
            if shard.len() >= MAX_PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(k, Arc::new(claims));
    }

    /// The claims of a known, unexpired token (valid iff `now < exp`, no leeway).
    pub fn get(&self, token: &str, now: i64) -> Option<Arc<AccessTokenClaims>> {
        let k = key(token);
        let shard = self.shard(&k).lock().ok()?;
        shard.get(&k).filter(|c| now < c.exp).cloned()
    }
}
