//! Persistence for the Data Holder's DCR server.
//!
//! One [`Store`] type over two backends: SQLite (the embedded default: one file, WAL, foreign
//! keys, busy timeout) and PostgreSQL (several stateless server instances on one database).
//! Both run the same SQL text: `$n` placeholders, `ON CONFLICT`, partial unique indexes and
//! `RETURNING` are understood by both, so a query is written once and dispatched by
//! [`dispatch!`]. Migrations for each backend live in `migrations/{sqlite,postgres}` and run at
//! connect time.
//!
//! Every registration change writes its audit event in the same transaction as the change.
//!
//! One module per aggregate, each holding its types, its SQL and its methods on [`Store`]:
//! `registrations` (the recipient's lifecycle, release, the portal's search, development seeds),
//! `jti` (replay protection), `admins`, `sessions`, `throttle` (sign-in throttling), `audit`
//! (events and their hash chain), `signing_keys`, `register_sync` (the CDR Register status
//! sync), `provisioning` (the downstream authorization server's view of each registration and
//! the outbox of changes to deliver to it), `overview` (the counts behind the portal's
//! overview), `webhooks` (the events still to deliver to the Data Holder's webhooks). The
//! backends' own machinery is in `sqlite` (connection settings, group commit, reads on the
//! calling thread) and `postgres` (connection settings, group commit). A statement that more
//! than one path runs (sqlx, SQLite's rusqlite batch, PostgreSQL's batch function) is defined
//! once, in its aggregate's module, with the helpers of `sql`.

#![warn(missing_docs)]

mod admins;
mod audit;
mod jti;
mod overview;
mod passkeys;
mod postgres;
mod provisioning;
mod reconciliation;
mod register_sync;
mod registrations;
mod sessions;
mod signing_keys;
mod sql;
mod sqlite;
mod throttle;
mod webhooks;

use sqlx::{PgPool, SqlitePool};

pub use admins::{
    AdminChange, AdminUser, RecoveryCodeRow, SecondFactorSecret, SsoSignIn, NO_PASSWORD, ROLES,
};
pub use audit::{
    event_hash, AuditCheckpoint, AuditEvent, AuditQuery, ChainStatus, NewAuditEvent, Walk,
    AUDIT_CHAIN_PAGE, CHAIN_LOCK,
};
pub use jti::UsedJti;
pub use overview::{stat, DayCount, StatCount, MAX_DAYS, RECENT_ACTIONS_MAX, STAT_BUCKET_SECS};
pub use passkeys::{NewPasskey, PasskeyRow};
pub use provisioning::{
    NewOutboxEntry, NewProvisioning, OutboxEntry, OutboxOperation, Provisioning,
    ProvisioningCounts, ProvisioningState,
};
pub use reconciliation::{Drift, DriftKind, Reconciliation};
pub use register_sync::{Lease, RegisterStatusChange, RegisterSyncState, RegisterSyncTarget};
pub use registrations::{
    search_words, AdminListQuery, ExportedRegistration, Group, GroupRevocation, Metadata,
    Registration, RegistrationStatus, ReleaseOutcome, SeedRegistration, Sort, StatusFilter,
    EXPORT_BATCH, MAX_GROUP_REVOCATION, MAX_SEARCH_WORDS,
};
pub use sessions::{EndSessions, SessionInfo, SessionMeta};
pub use signing_keys::StoredSigningKey;
pub use throttle::{Attempt, ThrottlePolicy};
pub use webhooks::{event, event_for_status, WebhookEvent, WebhookQueue};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A constraint refused the write (unique key, check); which one, decided here for both
    /// backends.
    #[error("conflict on {}", .0.constraint())]
    Conflict(Conflict),
    /// A stored value could not be turned back into its domain type.
    #[error("inconsistent data in {table}.{column}: {message}")]
    Inconsistent {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The database URL is not one we understand.
    #[error("unsupported database URL: {0}")]
    BadUrl(String),
    /// Any other database failure.
    #[error(transparent)]
    Database(sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let unique_or_check = db.is_unique_violation() || db.is_check_violation();
            if unique_or_check {
                // PostgreSQL names the constraint; SQLite names the columns in its message.
                let conflict = db.constraint().map_or_else(
                    || Conflict::from_sqlite_message(db.message()),
                    Conflict::from_constraint,
                );
                return Self::Conflict(conflict);
            }
        }
        Self::Database(e)
    }
}

/// Which rule of the schema refused a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The software product already has a registration holding its software_id
    /// (`registration_software_key_key`).
    SoftwareIdTaken,
    /// The client id exists (`registration_pkey`).
    ClientIdTaken,
    /// The `jti` was used before (`used_jti_pkey`).
    JtiUsed,
    /// The administrator's username is taken (`admin_user_username_key`).
    UsernameTaken,
    /// The signing key id exists (`signing_key_pkey`).
    KidTaken,
    /// A registration status the schema does not allow (`registration_status_check`).
    InvalidStatus,
    /// The downstream authorization server's client id is recorded for another registration
    /// (`provisioning_downstream_client_id_key`).
    DownstreamClientIdTaken,
    /// The passkey's credential is registered already (`admin_passkey_credential_id_key`).
    PasskeyTaken,
    /// Another constraint, by its name (or SQLite's columns).
    Other(String),
}

impl Conflict {
    /// The constraint names declared in the migrations, one table for both backends.
    const NAMES: [(&'static str, Conflict); 8] = [
        ("registration_software_key_key", Conflict::SoftwareIdTaken),
        ("registration_pkey", Conflict::ClientIdTaken),
        ("used_jti_pkey", Conflict::JtiUsed),
        ("admin_user_username_key", Conflict::UsernameTaken),
        ("signing_key_pkey", Conflict::KidTaken),
        ("registration_status_check", Conflict::InvalidStatus),
        (
            "provisioning_downstream_client_id_key",
            Conflict::DownstreamClientIdTaken,
        ),
        ("admin_passkey_credential_id_key", Conflict::PasskeyTaken),
    ];

    /// The conflict a constraint name stands for (PostgreSQL names the constraint).
    #[must_use]
    pub fn from_constraint(name: &str) -> Self {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| Self::Other(name.to_string()), |(_, c)| c.clone())
    }

    /// SQLite names the columns instead ("UNIQUE constraint failed: registration.software_key")
    /// or the constraint ("CHECK constraint failed: registration_status_check").
    #[must_use]
    pub fn from_sqlite_message(message: &str) -> Self {
        let cols = message.rsplit(": ").next().unwrap_or(message);
        match cols {
            "registration.software_key" => Self::SoftwareIdTaken,
            "registration.client_id" => Self::ClientIdTaken,
            "used_jti.jti_key" => Self::JtiUsed,
            "admin_user.username" => Self::UsernameTaken,
            "signing_key.kid" => Self::KidTaken,
            "provisioning.downstream_client_id" => Self::DownstreamClientIdTaken,
            "admin_passkey.credential_id" => Self::PasskeyTaken,
            other => Self::from_constraint(other),
        }
    }

    /// The constraint's name as declared in the migrations.
    #[must_use]
    pub fn constraint(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => Self::NAMES
                .iter()
                .find(|(_, c)| c == known)
                .map_or("", |(n, _)| n),
        }
    }
}

/// The storage backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A handle on the store; cheap to clone.
///
/// SQLite has one writer at a time: writes go through a pool of a single connection so that
/// they queue fairly in the pool instead of sleeping in SQLite's busy handler; reads use the
/// other pool and run concurrently under WAL.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite: the read pool, the single-connection write pool, and the group-commit writer
    /// that batches the hot writes (registrations, used `jti`s) on that connection.
    Sqlite(
        SqlitePool,
        SqlitePool,
        sqlite::SqliteWriter,
        sqlite::FastReader,
    ),
    /// PostgreSQL: the pool, and the group-commit writer of registrations.
    Postgres(PgPool, postgres::PgWriter),
}

/// Runs the same expression against whichever pool is in use (the read pool on SQLite). The
/// body is compiled twice, once per backend, so it may use backend-generic sqlx calls only.
#[macro_export]
macro_rules! dispatch {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool, ..) => $body,
            $crate::Store::Postgres($pool, ..) => $body,
        }
    };
}

/// Like [`dispatch!`] for statements that write (the write pool on SQLite).
#[macro_export]
macro_rules! dispatch_write {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite(_, $pool, ..) => $body,
            $crate::Store::Postgres($pool, ..) => $body,
        }
    };
}

/// Runs a block in a transaction on whichever backend (the write pool on SQLite), committing
/// when it returns `Ok`.
#[macro_export]
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:block) => {
        match $store {
            $crate::Store::Sqlite(_, pool, ..) => {
                // IMMEDIATE: the write lock is taken (waiting in the busy handler) before the
                // first read, so a commit by the batch connection in between cannot make this
                // transaction's snapshot stale (SQLITE_BUSY_SNAPSHOT).
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Store::Postgres(pool, ..) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

impl Store {
    /// Connects to `url` (`sqlite:` path or `postgres://`), applies the backend's settings and runs
    /// the migrations.
    ///
    /// # Errors
    /// Bad URL, unreachable database, failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::connect(url).await?
        } else if url.starts_with("sqlite:") {
            sqlite::connect(url).await?
        } else {
            return Err(StoreError::BadUrl(redact_url(url)));
        };
        let backfilled = store.backfill_audit_chain().await?;
        if backfilled > 0 {
            tracing::info!(
                events = backfilled,
                "hashed the audit events written before the audit chain"
            );
        }
        tracing::info!(
            backend = store.backend().as_str(),
            "store connected and migrated"
        );
        Ok(store)
    }

    /// Which backend this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(..) => Backend::Sqlite,
            Self::Postgres(..) => Backend::Postgres,
        }
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Bytes of write-ahead log written so far, for the benchmarks: on PostgreSQL the cluster's
    /// WAL insert position (flushed or not); on SQLite the bytes the writer's thread wrote (the
    /// WAL of registrations, used `jti`s and the list copy; other writes are not counted), on
    /// Linux only. `None` where the figure is not available. Compare two readings.
    ///
    /// # Errors
    /// Database failures (PostgreSQL).
    pub async fn wal_bytes(&self) -> Result<Option<u64>, StoreError> {
        match self {
            Self::Sqlite(..) => Ok(sqlite::wal_bytes()),
            Self::Postgres(pool, _) => {
                let lsn: i64 = sqlx::query_scalar(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint",
                )
                .fetch_one(pool)
                .await?;
                Ok(u64::try_from(lsn).ok())
            }
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(reader, writer, _, fast) => {
                fast.forget();
                reader.close().await;
                writer.close().await;
            }
            Self::Postgres(pool, _) => pool.close().await,
        }
    }
}

/// One page of results and the total count.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// All matching rows; with `more`, the rows counted before counting stopped.
    pub total: u64,
    /// More rows match than `total`: counting stopped at [`COUNT_LIMIT`], and only that many
    /// are paged through (a narrower search or filter finds the others).
    pub more: bool,
}

/// Where counting the matches of a portal search or audit filter stops: a count that needs no
/// more than this many rows read is exact, a larger one is shown as "more than 10,000". Pages
/// beyond it are not served, so that no request walks an unbounded part of a table.
pub const COUNT_LIMIT: u64 = 10_000;

/// A database URL with any password replaced, for logs and errors.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

#[cfg(test)]
mod conflict_tests {
    use super::Conflict;

    #[test]
    fn both_backends_name_the_same_conflicts() {
        for (pg, sqlite) in [
            (
                "registration_software_key_key",
                "UNIQUE constraint failed: registration.software_key",
            ),
            (
                "registration_pkey",
                "UNIQUE constraint failed: registration.client_id",
            ),
            (
                "used_jti_pkey",
                "UNIQUE constraint failed: used_jti.jti_key",
            ),
            (
                "admin_user_username_key",
                "UNIQUE constraint failed: admin_user.username",
            ),
            (
                "signing_key_pkey",
                "UNIQUE constraint failed: signing_key.kid",
            ),
            (
                "registration_status_check",
                "CHECK constraint failed: registration_status_check",
            ),
            (
                "provisioning_downstream_client_id_key",
                "UNIQUE constraint failed: provisioning.downstream_client_id",
            ),
        ] {
            let conflict = Conflict::from_constraint(pg);
            assert!(!matches!(conflict, Conflict::Other(_)), "{pg}");
            assert_eq!(Conflict::from_sqlite_message(sqlite), conflict, "{sqlite}");
            assert_eq!(conflict.constraint(), pg);
        }
        let other = Conflict::from_sqlite_message("UNIQUE constraint failed: t.c");
        assert_eq!(other, Conflict::Other("t.c".into()));
        assert_eq!(other.constraint(), "t.c");
    }
}
