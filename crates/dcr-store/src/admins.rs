//! Administrators of the portal: their accounts and passwords.

use crate::{dispatch, dispatch_write, in_tx, NewAuditEvent, Store, StoreError};

/// An administrator account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminUser {
    /// Id.
    pub admin_user_id: String,
    /// Sign-in name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl Store {
    /// Creates an administrator, or replaces the password of an existing one with that username.
    /// Returns true when the account is new.
    ///
    /// # Errors
    /// Database failures.
    pub async fn upsert_admin(
        &self,
        admin_user_id: &str,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let existed = self.find_admin(username).await?.is_some();
        dispatch_write!(self, pool => {
            sqlx::query(
                "INSERT INTO admin_user (admin_user_id, username, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (username) DO UPDATE \
                 SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
            )
            .bind(admin_user_id)
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(!existed)
    }

    /// Finds an administrator by username.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_admin(&self, username: &str) -> Result<Option<AdminUser>, StoreError> {
        let row = dispatch!(self, pool => {
            sqlx::query_as::<_, AdminUser>(
                "SELECT admin_user_id, username, password_hash, created_at, updated_at FROM admin_user WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Replaces an administrator's password hash, with its audit event, in one transaction.
    /// Returns false when there is no such administrator.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE admin_user SET password_hash = $2, updated_at = $3 WHERE username = $1",
            )
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let changed = done.rows_affected() > 0;
            if changed {
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(changed)
        })
    }
}
