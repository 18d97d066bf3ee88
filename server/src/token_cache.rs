//! A cache of access tokens this instance has issued or already verified, keyed by the SHA-256
//! of the token, so that a token's later uses skip the ES256 signature check (about 70 µs, the
//! largest cost of a management call). A hit needs the exact token string (a 256-bit digest
//! match); expiry is still checked exactly on every use, and whether the registration is still
//! active is still read from the store. Another instance simply verifies the signature.
//!
//! Each entry keeps the `kid` of the key that signed the token, so that a caller honours a hit
//! only while that key is still published: a withdrawn key's tokens stop working at the next key
//! reload, not when they expire.
//!
//! Bounded: entries expire with their token (at most 10 minutes) and a full shard is cleared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dcr_core::token::AccessTokenClaims;
use sha2::{Digest as _, Sha256};

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 8192;

/// A remembered token: its claims and the `kid` of the key that signed it.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The verified claims.
    pub claims: Arc<AccessTokenClaims>,
    /// The signing key's id.
    pub kid: Arc<str>,
}

type Shard = Mutex<HashMap<[u8; 32], CachedToken>>;

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

    /// Remembers a token, its claims and the `kid` of the key that signed it.
    pub fn insert(&self, token: &str, claims: AccessTokenClaims, kid: &str, now: i64) {
        let k = key(token);
        let Ok(mut shard) = self.shard(&k).lock() else {
            return;
        };
        if shard.len() >= MAX_PER_SHARD {
            shard.retain(|_, c| c.claims.exp > now);
            if shard.len() >= MAX_PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(
            k,
            CachedToken {
                claims: Arc::new(claims),
                kid: Arc::from(kid),
            },
        );
    }

    /// A known, unexpired token (valid iff `now < exp`, no leeway).
    pub fn get(&self, token: &str, now: i64) -> Option<CachedToken> {
        let k = key(token);
        let shard = self.shard(&k).lock().ok()?;
        shard.get(&k).filter(|c| now < c.claims.exp).cloned()
    }
}
