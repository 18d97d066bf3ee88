//! The Data Holder's own signing keys: loaded from the store, generated (ES256) and persisted on
//! first start when there are none, so every instance signs and verifies with the same set.

use std::sync::Arc;

use anyhow::Context as _;
use dcr_core::jose::{SigningKey, VerifyingKey};
use dcr_store::{Store, StoredSigningKey};

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
