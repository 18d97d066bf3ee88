//! Passkeys (WebAuthn credentials) of portal accounts, a second factor beside TOTP
//! (docs/portal.md, "Passkeys"). The store keeps each passkey as the JSON the server made of it
//! and does not read it: verifying an assertion is the server's work (W3C WebAuthn Level 2
//! §7.2); the store records the result (the new signature counter) and when it was used.

use crate::{dispatch, dispatch_write, in_tx, NewAuditEvent, Store, StoreError};

/// One of an account's passkeys, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    /// Id (names it in the account page's forms).
    pub admin_passkey_id: String,
    /// The account's sign-in name.
    pub admin_username: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The serialized passkey (public key and signature counter; nothing secret).
    pub passkey: String,
    /// What the person called it.
    pub name: String,
    /// Added.
    pub created_at: i64,
    /// The last sign-in or confirmation it made.
    pub last_used_at: Option<i64>,
}

/// A passkey to add.
#[derive(Debug, Clone)]
pub struct NewPasskey<'a> {
    /// Id.
    pub admin_passkey_id: &'a str,
    /// The account's sign-in name.
    pub admin_username: &'a str,
    /// The credential id, base64url.
    pub credential_id: &'a str,
    /// The serialized passkey.
    pub passkey: &'a str,
    /// What the person called it.
    pub name: &'a str,
    /// Now.
    pub created_at: i64,
}

const PASSKEY_COLUMNS: &str = "admin_passkey_id, admin_username, credential_id, passkey, name, \
    created_at, last_used_at";

impl Store {
    /// Adds a passkey to an existing account, with its audit event, in one transaction. Returns
    /// false (nothing written) when there is no such account.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::PasskeyTaken`] when the credential is
    /// registered already (to this account or another); database failures.
    pub async fn add_passkey(
        &self,
        passkey: &NewPasskey<'_>,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT username FROM admin_user WHERE username = $1")
                    .bind(passkey.admin_username)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                sqlx::query(
                    "INSERT INTO admin_passkey (admin_passkey_id, admin_username, credential_id, \
                     passkey, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(passkey.admin_passkey_id)
                .bind(passkey.admin_username)
                .bind(passkey.credential_id)
                .bind(passkey.passkey)
                .bind(passkey.name)
                .bind(passkey.created_at)
                .execute(&mut *tx)
                .await?;
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(exists.is_some())
        })
    }

    /// An account's passkeys, oldest first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn passkeys(&self, username: &str) -> Result<Vec<PasskeyRow>, StoreError> {
        let sql = format!(
            "SELECT {PASSKEY_COLUMNS} FROM admin_passkey WHERE admin_username = $1 \
             ORDER BY created_at, admin_passkey_id"
        );
        let rows = dispatch!(self, pool => {
            sqlx::query_as(&sql).bind(username).fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Records a sign-in or confirmation by an account's passkey: its updated serialization
    /// (the new signature counter) and the time, if the row is still as `used` read it (its
    /// serialization and last use), so that of two requests racing with answers checked
    /// against the same row, one is recorded and the other told false. False too when the
    /// account has no such passkey (removed meanwhile).
    ///
    /// # Errors
    /// Database failures.
    pub async fn use_passkey(
        &self,
        used: &PasskeyRow,
        passkey: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE admin_passkey SET passkey = $4, last_used_at = $5 \
                 WHERE admin_username = $1 AND admin_passkey_id = $2 AND passkey = $3 \
                 AND last_used_at IS NOT DISTINCT FROM $6",
            )
            .bind(&used.admin_username)
            .bind(&used.admin_passkey_id)
            .bind(&used.passkey)
            .bind(passkey)
            .bind(now)
            .bind(used.last_used_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Removes one of an account's passkeys, with its audit event, in one transaction. False
    /// (nothing written) when the account has no such passkey.
    ///
    /// # Errors
    /// Database failures.
    pub async fn remove_passkey(
        &self,
        username: &str,
        admin_passkey_id: &str,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => {
            let done = sqlx::query(
                "DELETE FROM admin_passkey WHERE admin_username = $1 AND admin_passkey_id = $2",
            )
            .bind(username)
            .bind(admin_passkey_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if done {
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(done)
        })
    }
}
