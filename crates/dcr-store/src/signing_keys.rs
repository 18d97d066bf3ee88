//! The Data Holder's own signing keys (the `/jwks` it publishes), shared by every instance.

use crate::{dispatch, dispatch_write, Store, StoreError};

/// A persisted signing key of the Data Holder.
#[derive(Clone, sqlx::FromRow)]
pub struct StoredSigningKey {
    /// Key id.
    pub kid: String,
    /// PS256 or ES256.
    pub alg: String,
    /// PKCS#8 PEM.
    pub private_pem: String,
    /// Created.
    pub created_at: i64,
    /// Retired (no longer published) at.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The Data Holder's signing keys, oldest first, retired ones included.
    ///
    /// # Errors
    /// Database failures.
    pub async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, StoredSigningKey>(
                "SELECT kid, alg, private_pem, created_at, retired_at FROM signing_key ORDER BY created_at, kid",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Retires (sets `retired_at = now` on) every live signing key older than the newest live
    /// one, provided the newest was created at or before `superseded_before`. Returns the kids
    /// retired. Idempotent, so every instance may run it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn retire_superseded_signing_keys(
        &self,
        superseded_before: i64,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = dispatch_write!(self, pool => {
            sqlx::query_as(
                "UPDATE signing_key SET retired_at = $2 WHERE retired_at IS NULL \
                 AND created_at < (SELECT MAX(created_at) FROM signing_key WHERE retired_at IS NULL) \
                 AND (SELECT MAX(created_at) FROM signing_key WHERE retired_at IS NULL) <= $1 \
                 RETURNING kid",
            )
            .bind(superseded_before)
            .bind(now)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Adds a signing key; returns false if one with that kid exists.
    ///
    /// # Errors
    /// Database failures.
    pub async fn add_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query(
                "INSERT INTO signing_key (kid, alg, private_pem, created_at, retired_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (kid) DO NOTHING",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_pem)
            .bind(key.created_at)
            .bind(key.retired_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}
