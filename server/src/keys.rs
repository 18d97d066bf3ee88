//! The Data Holder's own signing keys: loaded from the store, generated (ES256) and persisted on
//! first start when there are none, so every instance signs and verifies with the same set.
//!
//! Rotation (`dcr-server keys rotate`) adds a newer key to the store. Every instance reloads the
//! ring every [`RELOAD_INTERVAL`], so within that time the JWKS publishes both keys and new tokens
//! are signed with the new one. Once the newest key is older than [`RETIRE_AFTER_SECS`] (the
//! longest token lifetime plus two reload intervals), the older keys are retired at the next
//! reload of any instance (or by `dcr-server keys retire-expired`): no token they signed can
//! still be valid, and they leave the JWKS.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use dcr_core::jose::{SigningKey, VerifyingKey};
use dcr_store::{Store, StoredSigningKey};

/// The longest access token lifetime the configuration allows (CDS: 10 minutes).
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 600;

/// How often a running instance reloads its keys from the store.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// How long after a newer key was added the older keys are retired: every token the old key
/// signed (until instances picked up the new key, one reload interval) has expired by then; a
/// second interval covers clock skew between instances.
#[allow(clippy::cast_possible_wrap)]
pub const RETIRE_AFTER_SECS: i64 = MAX_TOKEN_LIFETIME_SECS + 2 * RELOAD_INTERVAL.as_secs() as i64;

/// The key ring in use, swapped whole when the store's keys change; cheap to read (one lock-free
/// in practice read lock and an `Arc` clone per request).
pub struct LiveKeys {
    current: RwLock<Arc<KeyRing>>,
    /// Keys come from a configured file: never reloaded from the store.
    fixed: bool,
}

impl LiveKeys {
    /// Wraps a loaded ring; `fixed` when it came from a configured key file.
    #[must_use]
    pub fn new(ring: KeyRing, fixed: bool) -> Self {
        Self {
            current: RwLock::new(Arc::new(ring)),
            fixed,
        }
    }

    /// The ring in use now.
    #[must_use]
    pub fn load(&self) -> Arc<KeyRing> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Retires superseded keys whose time has come, then reloads the ring from the store and
    /// swaps it in. Nothing to do for a configured key file.
    ///
    /// # Errors
    /// Store failures or an unreadable stored key (the ring in use is kept).
    pub async fn reload(&self, store: &Store, now: i64) -> anyhow::Result<()> {
        if self.fixed {
            return Ok(());
        }
        let retired = retire_expired(store, now).await?;
        let ring = KeyRing::load(store, now, None).await?;
        let before = self.load();
        if before.active().kid() != ring.active().kid()
            || !retired.is_empty()
            || before.published().len() != ring.published().len()
        {
            tracing::info!(active = %ring.active().kid(), published = ring.published().len(), "signing keys reloaded");
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ring);
        Ok(())
    }
}

/// Reloads the keys every [`RELOAD_INTERVAL`] until `stopped` resolves.
pub async fn reload_loop(
    keys: Arc<LiveKeys>,
    store: Store,
    clock: dcr_core::clock::SharedClock,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(RELOAD_INTERVAL) => {}
        }
        if let Err(e) = keys.reload(&store, clock.now()).await {
            tracing::warn!(error = %format!("{e:#}"), "reloading the signing keys failed; keeping the current ones");
        }
    }
}

/// Signature algorithm of a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlg {
    /// ECDSA P-256 (default).
    #[value(name = "ES256")]
    Es256,
    /// RSASSA-PSS, 2048-bit key.
    #[value(name = "PS256")]
    Ps256,
}

/// Adds a new signing key to the store; it becomes the signing key at every instance's next
/// reload. Returns the stored row (without using it: the caller prints the kid).
///
/// # Errors
/// Key generation or store failures.
pub async fn rotate(store: &Store, alg: KeyAlg, now: i64) -> anyhow::Result<StoredSigningKey> {
    let kid = format!("dh-{}", uuid::Uuid::new_v4().simple());
    let key = match alg {
        KeyAlg::Es256 => SigningKey::generate_es256(kid.clone()),
        KeyAlg::Ps256 => SigningKey::generate_ps256(kid.clone(), 2048),
    }
    .context("generating a signing key")?;
    // A newer created_at than every existing key, so that it is the one that signs.
    let newest = store
        .signing_keys()
        .await
        .context("reading signing keys")?
        .iter()
        .map(|k| k.created_at)
        .max();
    let created_at = newest.map_or(now, |n| now.max(n + 1));
    let row = StoredSigningKey {
        kid,
        alg: key.alg().as_str().to_string(),
        private_pem: key.to_pkcs8_pem(),
        created_at,
        retired_at: None,
    };
    anyhow::ensure!(
        store
            .add_signing_key(&row)
            .await
            .context("storing the signing key")?,
        "a key with kid {} exists",
        row.kid
    );
    Ok(row)
}

/// Retires every key superseded more than [`RETIRE_AFTER_SECS`] ago; returns their kids.
///
/// # Errors
/// Store failures.
pub async fn retire_expired(store: &Store, now: i64) -> anyhow::Result<Vec<String>> {
    let retired = store
        .retire_superseded_signing_keys(now - RETIRE_AFTER_SECS, now)
        .await
        .context("retiring superseded signing keys")?;
    for kid in &retired {
        tracing::info!(%kid, "retired a superseded signing key");
    }
    Ok(retired)
}

/// A configured signing key file must be readable by its owner only (mode 600 or 400): one
/// that others can read is refused, since whoever reads it can mint access tokens.
fn owner_only(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        anyhow::ensure!(
            mode & 0o077 == 0,
            "the signing key {} can be read or written by others (mode {mode:o}): \
             make it readable by the server's user only (chmod 600)",
            path.display()
        );
    }
    Ok(())
}

/// The active signing key and every published verification key.
pub struct KeyRing {
    active: Arc<SigningKey>,
    published: Vec<VerifyingKey>,
    jwks: serde_json::Value,
}

impl KeyRing {
    /// Loads the keys from the store, creating a first ES256 key when there is none.
    ///
    /// # Errors
    /// Store failures or an unreadable stored key.
    pub async fn load_or_create(store: &Store, now: i64) -> anyhow::Result<Self> {
        Self::load(store, now, None).await
    }

    /// Like [`KeyRing::load_or_create`], but a configured key file (PKCS#8 PEM), when given,
    /// is the signing key and the only one published.
    ///
    /// # Errors
    /// Unreadable key file, store failures or an unreadable stored key.
    pub async fn load(
        store: &Store,
        now: i64,
        configured: Option<(&std::path::Path, Option<&str>)>,
    ) -> anyhow::Result<Self> {
        if let Some((path, kid)) = configured {
            owner_only(path)?;
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading the signing key {}", path.display()))?;
            let kid = match kid {
                Some(k) => k.to_string(),
                None => jwk_thumbprint(
                    &SigningKey::from_pkcs8_pem(&pem, "tmp")
                        .with_context(|| format!("loading the signing key {}", path.display()))?
                        .public_jwk(),
                ),
            };
            let key = SigningKey::from_pkcs8_pem(&pem, kid)
                .with_context(|| format!("loading the signing key {}", path.display()))?;
            let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
            let published = vec![key.verifying_key()];
            return Ok(Self {
                active: Arc::new(key),
                published,
                jwks,
            });
        }
        let mut stored = store.signing_keys().await.context("reading signing keys")?;
        if stored.iter().all(|k| k.retired_at.is_some()) {
            let kid = format!("dh-{}", uuid::Uuid::new_v4().simple());
            let key =
                SigningKey::generate_es256(kid.clone()).context("generating a signing key")?;
            let row = StoredSigningKey {
                kid,
                alg: key.alg().as_str().to_string(),
                private_pem: key.to_pkcs8_pem(),
                created_at: now,
                retired_at: None,
            };
            // Another instance may have raced us; whichever row landed first wins for both.
            store
                .add_signing_key(&row)
                .await
                .context("storing the signing key")?;
            stored = store.signing_keys().await.context("reading signing keys")?;
            tracing::info!(kid = %row.kid, "generated and stored a new signing key");
        }
        let mut live = Vec::new();
        for k in stored.iter().filter(|k| k.retired_at.is_none()) {
            live.push(
                SigningKey::from_pkcs8_pem(&k.private_pem, k.kid.clone())
                    .with_context(|| format!("loading key {}", k.kid))?,
            );
        }
        // The newest live key signs; all live keys are published and accepted.
        let published: Vec<VerifyingKey> = live.iter().map(SigningKey::verifying_key).collect();
        let jwks = serde_json::json!({ "keys": live.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() });
        let active = Arc::new(live.pop().context("no live signing key")?);
        Ok(Self {
            active,
            published,
            jwks,
        })
    }

    /// The key new tokens are signed with.
    #[must_use]
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// Keys that verify our tokens.
    #[must_use]
    pub fn published(&self) -> &[VerifyingKey] {
        &self.published
    }

    /// The public JWKS document.
    #[must_use]
    pub fn public_jwks(&self) -> &serde_json::Value {
        &self.jwks
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: its required members in
/// lexicographic order.
fn jwk_thumbprint(jwk: &serde_json::Value) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let members: &[&str] = if jwk["kty"] == "RSA" {
        &["e", "kty", "n"]
    } else {
        &["crv", "kty", "x", "y"]
    };
    let mut canonical = serde_json::Map::new();
    for m in members {
        canonical.insert((*m).to_string(), jwk[*m].clone());
    }
    let digest = sha2::Sha256::digest(serde_json::Value::Object(canonical).to_string().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}
