//! Administrators of the portal: their accounts, roles, passwords and state.
//!
//! A role is `viewer`, `operator` or `administrator` (docs/portal.md, "Roles"). There is always
//! an enabled administrator: a change that would leave none (demoting or disabling the last
//! one) is refused in the transaction that would make it. On PostgreSQL that transaction first
//! locks every administrator's row, so two such changes at once are decided one after the
//! other.

use crate::{dispatch, dispatch_write, in_tx, NewAuditEvent, Store, StoreError};

/// An administrator account.
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// Id.
    pub admin_user_id: String,
    /// Sign-in name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Created.
    pub created_at: i64,
    /// Last changed (a password or role change, a disabling: a session signed in before it
    /// ends).
    pub updated_at: i64,
    /// `viewer`, `operator` or `administrator`.
    pub role: String,
    /// Set while the account is disabled.
    pub disabled_at: Option<i64>,
    /// Its password was set by someone else and must be replaced at sign-in.
    pub must_change_password: bool,
    /// The last successful sign-in.
    pub last_sign_in_at: Option<i64>,
    /// Where it came from.
    pub last_sign_in_address: Option<String>,
    /// The TOTP secret of its second factor, once enrolled.
    pub totp_secret: Option<SecondFactorSecret>,
    /// When the second factor was enrolled.
    pub totp_enrolled_at: Option<i64>,
    /// The last time step whose code was accepted (no code of it or before is accepted again).
    pub totp_last_step: Option<i64>,
    /// `<issuer> <sub>` of an account made by single sign-on (its role follows the identity
    /// provider); `None` for a local account.
    pub sso_subject: Option<String>,
    /// How many passkeys it has (a second factor too).
    pub passkeys: i64,
}

impl AdminUser {
    /// Whether it has a second factor: an authenticator app (TOTP) or a passkey.
    #[must_use]
    pub fn has_second_factor(&self) -> bool {
        self.totp_secret.is_some() || self.passkeys > 0
    }
}

/// The `password_hash` of an account made by single sign-on: not a PHC string, so no password
/// ever matches it.
pub const NO_PASSWORD: &str = "!single-sign-on";

/// What a single sign-on found ([`Store::sso_sign_in`]).
#[derive(Debug, Clone)]
pub enum SsoSignIn {
    /// The account (made now, or found and given the provider's role).
    SignedIn(Box<AdminUser>),
    /// The account exists and is disabled here.
    Disabled,
    /// No account has this subject, and the username is another account's.
    UsernameTaken,
}

/// A TOTP secret as stored (base32). Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecondFactorSecret(String);

impl std::fmt::Debug for SecondFactorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondFactorSecret(..)")
    }
}

impl SecondFactorSecret {
    /// Wraps a base32 secret.
    #[must_use]
    pub fn new(base32: String) -> Self {
        Self(base32)
    }

    /// The base32 secret.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// One of an account's unused recovery codes, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecoveryCodeRow {
    /// Id.
    pub admin_recovery_code_id: String,
    /// SHA-256 digest (hex) of the code.
    pub code_digest: String,
}

#[derive(sqlx::FromRow)]
struct AdminRow {
    admin_user_id: String,
    username: String,
    password_hash: String,
    created_at: i64,
    updated_at: i64,
    role: String,
    disabled_at: Option<i64>,
    must_change_password: i64,
    last_sign_in_at: Option<i64>,
    last_sign_in_address: Option<String>,
    totp_secret: Option<String>,
    totp_enrolled_at: Option<i64>,
    totp_last_step: Option<i64>,
    sso_subject: Option<String>,
    passkeys: i64,
}

impl From<AdminRow> for AdminUser {
    fn from(r: AdminRow) -> Self {
        Self {
            admin_user_id: r.admin_user_id,
            username: r.username,
            password_hash: r.password_hash,
            created_at: r.created_at,
            updated_at: r.updated_at,
            role: r.role,
            disabled_at: r.disabled_at,
            must_change_password: r.must_change_password != 0,
            last_sign_in_at: r.last_sign_in_at,
            last_sign_in_address: r.last_sign_in_address,
            totp_secret: r.totp_secret.map(SecondFactorSecret),
            totp_enrolled_at: r.totp_enrolled_at,
            totp_last_step: r.totp_last_step,
            sso_subject: r.sso_subject,
            passkeys: r.passkeys,
        }
    }
}

const ADMIN_COLUMNS: &str = "admin_user_id, username, password_hash, created_at, updated_at, \
    role, disabled_at, must_change_password, last_sign_in_at, last_sign_in_address, \
    totp_secret, totp_enrolled_at, totp_last_step, sso_subject, \
    (SELECT count(*) FROM admin_passkey p WHERE p.admin_username = admin_user.username) AS passkeys";

/// The roles an account may have.
pub const ROLES: [&str; 3] = ["viewer", "operator", "administrator"];

/// Why an account change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminChange {
    /// Done.
    Done,
    /// No such account.
    NotFound,
    /// It would leave no enabled administrator.
    LastAdministrator,
    /// Nothing to change (already so).
    Unchanged,
    /// The account's role comes from the identity provider (single sign-on).
    FromProvider,
}

/// Locks every administrator's row (PostgreSQL; SQLite's write transaction holds the database
/// already), so that the count of administrators read after it cannot be changed by another
/// transaction before this one commits.
const LOCK_ADMINISTRATORS: &str =
    "UPDATE admin_user SET role = role WHERE role = 'administrator' AND disabled_at IS NULL";
/// Enabled administrators other than `$1`.
const OTHER_ADMINISTRATORS: &str = "SELECT count(*) FROM admin_user \
    WHERE role = 'administrator' AND disabled_at IS NULL AND username <> $1";

/// An account as a role or state change finds it, in the change's transaction.
struct Guarded {
    role: String,
    /// Made by single sign-on.
    sso: bool,
    disabled_at: Option<i64>,
    /// It is the only enabled administrator.
    last_administrator: bool,
}

/// In a transaction (`$tx`): locks the administrators' rows ([`LOCK_ADMINISTRATORS`]) and reads
/// `$username`'s account as a [`Guarded`], or `None` when there is none. A macro, as the
/// transaction's type differs by backend (like `enqueue_change!`).
macro_rules! guarded_account {
    ($tx:ident, $username:expr) => {{
        sqlx::query(LOCK_ADMINISTRATORS).execute(&mut *$tx).await?;
        let current: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT role, disabled_at, sso_subject FROM admin_user WHERE username = $1",
        )
        .bind($username)
        .fetch_optional(&mut *$tx)
        .await?;
        match current {
            None => None,
            Some((role, disabled_at, sso_subject)) => {
                let (others,): (i64,) = sqlx::query_as(OTHER_ADMINISTRATORS)
                    .bind($username)
                    .fetch_one(&mut *$tx)
                    .await?;
                Some(Guarded {
                    last_administrator: role == "administrator"
                        && disabled_at.is_none()
                        && others == 0,
                    role,
                    sso: sso_subject.is_some(),
                    disabled_at,
                })
            }
        }
    }};
}

impl Store {
    /// Creates an administrator (role `administrator`), or replaces the password of an
    /// existing one with that username (which must then no longer be changed at sign-in).
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
                 SET password_hash = excluded.password_hash, updated_at = excluded.updated_at, \
                 must_change_password = 0",
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

    /// Creates an account with `role` and a first password that must be changed at the first
    /// sign-in, with its audit event, in one transaction. Returns false (nothing written) when
    /// the username is taken.
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_admin(
        &self,
        admin_user_id: &str,
        username: &str,
        password_hash: &str,
        role: &str,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => {
            let created = sqlx::query(
                "INSERT INTO admin_user (admin_user_id, username, password_hash, created_at, \
                 updated_at, role, must_change_password) VALUES ($1, $2, $3, $4, $4, $5, 1) \
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(admin_user_id)
            .bind(username)
            .bind(password_hash)
            .bind(audit.occurred_at)
            .bind(role)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if created {
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(created)
        })
    }

    /// Finds an administrator by username.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_admin(&self, username: &str) -> Result<Option<AdminUser>, StoreError> {
        let row: Option<AdminRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {ADMIN_COLUMNS} FROM admin_user WHERE username = $1"
            ))
            .bind(username)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(AdminUser::from))
    }

    /// Every account, by username.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_admins(&self) -> Result<Vec<AdminUser>, StoreError> {
        let rows: Vec<AdminRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {ADMIN_COLUMNS} FROM admin_user ORDER BY username"
            ))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(AdminUser::from).collect())
    }

    /// Replaces an administrator's password hash (no longer to be changed at sign-in), with its
    /// audit event, in one transaction. Returns false when there is no such administrator.
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
                "UPDATE admin_user SET password_hash = $2, updated_at = $3, \
                 must_change_password = 0 WHERE username = $1",
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

    /// Gives an account `role`, with its audit event, in one transaction; refused when it would
    /// leave no enabled administrator. The account's sessions go on with the new role.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_admin_role(
        &self,
        username: &str,
        role: &str,
        audit: &NewAuditEvent,
    ) -> Result<AdminChange, StoreError> {
        in_tx!(self, tx => {
            let outcome = match guarded_account!(tx, username) {
                None => AdminChange::NotFound,
                Some(a) if a.role == role => AdminChange::Unchanged,
                Some(a) if a.sso => AdminChange::FromProvider,
                Some(a) if a.last_administrator => AdminChange::LastAdministrator,
                Some(_) => {
                    sqlx::query("UPDATE admin_user SET role = $2 WHERE username = $1")
                        .bind(username)
                        .bind(role)
                        .execute(&mut *tx)
                        .await?;
                    crate::audit::insert_audit(&mut *tx, audit).await?;
                    AdminChange::Done
                }
            };
            Ok::<AdminChange, StoreError>(outcome)
        })
    }

    /// Disables an account (its sessions end: the account changed) or enables it again, with
    /// its audit event, in one transaction; disabling the last enabled administrator is
    /// refused.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_admin_disabled(
        &self,
        username: &str,
        disabled: bool,
        audit: &NewAuditEvent,
    ) -> Result<AdminChange, StoreError> {
        let now = audit.occurred_at;
        in_tx!(self, tx => {
            let outcome = match guarded_account!(tx, username) {
                None => AdminChange::NotFound,
                Some(a) if a.disabled_at.is_some() == disabled => AdminChange::Unchanged,
                Some(a) if disabled && a.last_administrator => AdminChange::LastAdministrator,
                Some(_) => {
                    sqlx::query(
                        "UPDATE admin_user SET disabled_at = $2, updated_at = $3 \
                         WHERE username = $1",
                    )
                    .bind(username)
                    .bind(disabled.then_some(now))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if disabled {
                        sqlx::query("DELETE FROM session WHERE admin_username = $1")
                            .bind(username)
                            .execute(&mut *tx)
                            .await?;
                    }
                    crate::audit::insert_audit(&mut *tx, audit).await?;
                    AdminChange::Done
                }
            };
            Ok::<AdminChange, StoreError>(outcome)
        })
    }

    /// The account made by single sign-on for `subject` (`<issuer> <sub>`), if any.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_sso_admin(&self, subject: &str) -> Result<Option<AdminUser>, StoreError> {
        let row: Option<AdminRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {ADMIN_COLUMNS} FROM admin_user WHERE sso_subject = $1"
            ))
            .bind(subject)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(AdminUser::from))
    }

    /// A single sign-on of `subject` whose claims map to `role`, in one transaction: the
    /// account of that subject is given `role` (audited with `role_changed`, its
    /// `before_state`/`after_state` filled in here) or, on the first sign-on, made with
    /// `username` and no usable password (audited with `created`). A disabled account stays
    /// as it is.
    ///
    /// # Errors
    /// Database failures.
    pub async fn sso_sign_in(
        &self,
        admin_user_id: &str,
        subject: &str,
        username: &str,
        role: &str,
        created: &NewAuditEvent,
        role_changed: &NewAuditEvent,
    ) -> Result<SsoSignIn, StoreError> {
        let now = created.occurred_at;
        let select = format!("SELECT {ADMIN_COLUMNS} FROM admin_user WHERE sso_subject = $1");
        in_tx!(self, tx => {
            let found: Option<AdminRow> = sqlx::query_as(&select)
                .bind(subject)
                .fetch_optional(&mut *tx)
                .await?;
            let outcome = match found.map(AdminUser::from) {
                Some(a) if a.disabled_at.is_some() => SsoSignIn::Disabled,
                Some(a) if a.role == role => SsoSignIn::SignedIn(Box::new(a)),
                Some(a) => {
                    sqlx::query("UPDATE admin_user SET role = $2 WHERE admin_user_id = $1")
                        .bind(&a.admin_user_id)
                        .bind(role)
                        .execute(&mut *tx)
                        .await?;
                    let mut event = role_changed.clone();
                    event.before_state = Some(serde_json::json!({ "role": a.role }).to_string());
                    event.after_state = Some(serde_json::json!({ "role": role }).to_string());
                    crate::audit::insert_audit(&mut *tx, &event).await?;
                    SsoSignIn::SignedIn(Box::new(AdminUser {
                        role: role.to_string(),
                        ..a
                    }))
                }
                None => {
                    let made = sqlx::query(
                        "INSERT INTO admin_user (admin_user_id, username, password_hash, \
                         created_at, updated_at, role, sso_subject) \
                         VALUES ($1, $2, $3, $4, $4, $5, $6) ON CONFLICT (username) DO NOTHING",
                    )
                    .bind(admin_user_id)
                    .bind(username)
                    .bind(NO_PASSWORD)
                    .bind(now)
                    .bind(role)
                    .bind(subject)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    if made {
                        crate::audit::insert_audit(&mut *tx, created).await?;
                        let row: AdminRow = sqlx::query_as(&select)
                            .bind(subject)
                            .fetch_one(&mut *tx)
                            .await?;
                        SsoSignIn::SignedIn(Box::new(row.into()))
                    } else {
                        SsoSignIn::UsernameTaken
                    }
                }
            };
            Ok::<SsoSignIn, StoreError>(outcome)
        })
    }

    /// Records a successful sign-in.
    ///
    /// # Errors
    /// Database failures.
    pub async fn record_sign_in(
        &self,
        username: &str,
        at: i64,
        address: &str,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE admin_user SET last_sign_in_at = $2, last_sign_in_address = $3 \
                 WHERE username = $1",
            )
            .bind(username)
            .bind(at)
            .bind(address)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Enrols a TOTP second factor for an account that has none: its secret, the step whose
    /// code confirmed it (used), and its recovery codes as `(id, digest)` pairs, with the audit
    /// event, in one transaction. Returns false (nothing written) when there is no such account
    /// or it already has one.
    ///
    /// # Errors
    /// Database failures.
    pub async fn enrol_second_factor(
        &self,
        username: &str,
        secret: &SecondFactorSecret,
        step: i64,
        recovery_codes: &[(String, String)],
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let now = audit.occurred_at;
        in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE admin_user SET totp_secret = $2, totp_enrolled_at = $3, \
                 totp_last_step = $4 WHERE username = $1 AND totp_secret IS NULL",
            )
            .bind(username)
            .bind(secret.expose())
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if done {
                sqlx::query("DELETE FROM admin_recovery_code WHERE admin_username = $1")
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                for (id, digest) in recovery_codes {
                    sqlx::query(
                        "INSERT INTO admin_recovery_code (admin_recovery_code_id, \
                         admin_username, code_digest, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(id)
                    .bind(username)
                    .bind(digest)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(done)
        })
    }

    /// Removes an account's second factor and its recovery codes, with the audit event, in one
    /// transaction. Returns false (nothing written) when it had none.
    ///
    /// # Errors
    /// Database failures.
    pub async fn remove_second_factor(
        &self,
        username: &str,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE admin_user SET totp_secret = NULL, totp_enrolled_at = NULL, \
                 totp_last_step = NULL WHERE username = $1 AND totp_secret IS NOT NULL",
            )
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            sqlx::query("DELETE FROM admin_recovery_code WHERE admin_username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            if done {
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(done)
        })
    }

    /// Records `step` as the account's last used TOTP step, if it is later than the one
    /// recorded: false when it is not (the code was used already, perhaps by a request
    /// racing this one), so that no code signs in twice.
    ///
    /// # Errors
    /// Database failures.
    pub async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        let done = dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE admin_user SET totp_last_step = $2 WHERE username = $1 \
                 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)",
            )
            .bind(username)
            .bind(step)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// An account's unused recovery codes.
    ///
    /// # Errors
    /// Database failures.
    pub async fn unused_recovery_codes(
        &self,
        username: &str,
    ) -> Result<Vec<RecoveryCodeRow>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as(
                "SELECT admin_recovery_code_id, code_digest FROM admin_recovery_code \
                 WHERE admin_username = $1 AND used_at IS NULL ORDER BY admin_recovery_code_id",
            )
            .bind(username)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Marks a recovery code used; false when it was used already (by a racing request).
    ///
    /// # Errors
    /// Database failures.
    pub async fn use_recovery_code(
        &self,
        admin_recovery_code_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE admin_recovery_code SET used_at = $2 \
                 WHERE admin_recovery_code_id = $1 AND used_at IS NULL",
            )
            .bind(admin_recovery_code_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Removes every second factor of an account (its TOTP secret, recovery codes and
    /// passkeys), as an administrator's reset does, with the audit event, in one transaction.
    /// Returns false (nothing written) when it had none.
    ///
    /// # Errors
    /// Database failures.
    pub async fn reset_second_factors(
        &self,
        username: &str,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => {
            let totp = sqlx::query(
                "UPDATE admin_user SET totp_secret = NULL, totp_enrolled_at = NULL, \
                 totp_last_step = NULL WHERE username = $1 AND totp_secret IS NOT NULL",
            )
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM admin_recovery_code WHERE admin_username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            let passkeys = sqlx::query("DELETE FROM admin_passkey WHERE admin_username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let done = totp + passkeys > 0;
            if done {
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(done)
        })
    }
}
