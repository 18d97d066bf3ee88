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
//! Bounded: expired entries are dropped from a shard every [`PURGE_EVERY`] inserts into it, so
//! that the cache holds about the tokens still live rather than every token issued until its
//! shard fills, and a shard full of live tokens is cleared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dcr_core::token::AccessTokenClaims;
use sha2::{Digest as _, Sha256};

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 8192;
/// Inserts into a shard between two purges of its expired entries.
const PURGE_EVERY: u32 = 1024;

/// A remembered token: its claims and the `kid` of the key that signed it.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The verified claims.
    pub claims: Arc<AccessTokenClaims>,
    /// The signing key's id.
    pub kid: Arc<str>,
}

/// A shard's entries, and the inserts into it since its last purge.
#[derive(Default)]
struct Entries {
    tokens: HashMap<[u8; 32], CachedToken>,
    inserts: u32,
}

type Shard = Mutex<Entries>;

/// The cache.
pub struct TokenCache {
    shards: Vec<Shard>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
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
        shard.inserts += 1;
        if shard.inserts >= PURGE_EVERY || shard.tokens.len() >= MAX_PER_SHARD {
            shard.inserts = 0;
            shard.tokens.retain(|_, c| c.claims.exp > now);
            if shard.tokens.len() >= MAX_PER_SHARD {
                shard.tokens.clear();
            }
        }
        shard.tokens.insert(
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
        shard.tokens.get(&k).filter(|c| now < c.claims.exp).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcr_core::token::Cnf;

    fn claims(exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://dh.example".into(),
            sub: "client".into(),
            client_id: "client".into(),
            scope: "cdr:registration".into(),
            iat: exp - 300,
            exp,
            jti: "jti".into(),
            cnf: Cnf {
                x5t_s256: "thumbprint".into(),
            },
            aud: "https://dh.example".into(),
        }
    }

    fn held(cache: &TokenCache) -> usize {
        cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().tokens.len())
            .sum()
    }

    #[test]
    fn a_token_is_found_until_it_expires() {
        let cache = TokenCache::default();
        cache.insert("t", claims(1_000), "kid", 700);
        assert_eq!(cache.get("t", 999).unwrap().kid.as_ref(), "kid");
        assert!(cache.get("t", 1_000).is_none(), "valid iff now < exp");
        assert!(cache.get("other", 999).is_none());
    }

    #[test]
    fn expired_tokens_are_dropped_long_before_a_shard_fills() {
        let cache = TokenCache::default();
        // 5-minute tokens, 20 a second for 50 minutes: about 300 s of them live at any time.
        let issued = 60_000i64;
        for i in 0..issued {
            let now = i / 20;
            cache.insert(&format!("token-{i}"), claims(now + 300), "kid", now);
        }
        let live = 300 * 20;
        let slack = SHARDS * PURGE_EVERY as usize;
        assert!(
            held(&cache) <= live + slack,
            "{} held for {live} live tokens",
            held(&cache)
        );
        assert!(cache
            .get(&format!("token-{}", issued - 1), issued / 20)
            .is_some());
    }

    #[test]
    fn a_shard_full_of_live_tokens_is_cleared() {
        let cache = TokenCache::default();
        for i in 0..(SHARDS * MAX_PER_SHARD * 2) {
            cache.insert(&format!("token-{i}"), claims(10_000), "kid", 0);
        }
        assert!(held(&cache) <= SHARDS * MAX_PER_SHARD);
    }
}
