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

#![warn(missing_docs)]

mod admin_portal;
mod audit_chain;
mod fast_read;
mod model;
mod pg_writer;
mod sqlite_batch;
mod sqlite_writer;
mod sync;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use admin_portal::*;
pub use audit_chain::{event_hash, ChainStatus, AUDIT_CHAIN_PAGE, CHAIN_LOCK};
pub use model::*;
pub use sync::{Lease, RegisterStatusChange, RegisterSyncState, RegisterSyncTarget};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

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
    /// Another constraint, by its name (or SQLite's columns).
    Other(String),
}

impl Conflict {
    /// The constraint names declared in the migrations, one table for both backends.
    const NAMES: [(&'static str, Conflict); 6] = [
        ("registration_software_key_key", Conflict::SoftwareIdTaken),
        ("registration_pkey", Conflict::ClientIdTaken),
        ("used_jti_pkey", Conflict::JtiUsed),
        ("admin_user_username_key", Conflict::UsernameTaken),
        ("signing_key_pkey", Conflict::KidTaken),
        ("registration_status_check", Conflict::InvalidStatus),
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
        sqlite_writer::SqliteWriter,
        fast_read::FastReader,
    ),
    /// PostgreSQL: the pool, and the group-commit writer of registrations.
    Postgres(PgPool, pg_writer::PgWriter),
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
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(32)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            POSTGRES_MIGRATOR.run(&pool).await?;
            let writer = pg_writer::PgWriter::start(pool.clone());
            Self::Postgres(pool, writer)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Memory-mapped reads. (A large `cache_size` was tried and measured slower:
                // SQLite walks the page cache's hash table at every commit.)
                .pragma("mmap_size", "268435456")
                .pragma("temp_store", "memory")
                // No checkpoint on the writer's commit path: `checkpointer` runs them beside it.
                .pragma("wal_autocheckpoint", "0")
                // A rewound WAL keeps up to this much of its file, reused without reallocation.
                .pragma("journal_size_limit", "67108864");
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Err(StoreError::BadUrl("an in-memory SQLite database cannot be shared by the read and write pools; use a file".into()));
            }
            let opts_path = opts.get_filename().to_path_buf();
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts.clone())
                .await?;
            SQLITE_MIGRATOR.run(&writer).await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            let batcher = sqlite_writer::SqliteWriter::start(writer.clone(), opts_path.clone());
            tokio::spawn(sqlite_writer::checkpointer(reader.clone()));
            let fast = fast_read::FastReader::new(opts_path);
            Self::Sqlite(reader, writer, batcher, fast)
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

    // ----- registrations ---------------------------------------------------------------------

    /// Creates a registration, consuming the request's `jti` and writing its audit event, all in
    /// one transaction.
    ///
    /// # Errors
    /// `Conflict(Conflict::SoftwareIdTaken)` when the software product already
    /// has an active (or revoked) registration; `Conflict(Conflict::JtiUsed)` on a
    /// replayed `jti`.
    pub async fn create_registration(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        // Both backends batch registrations into group commits (see their writer modules).
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (reg, audit) = (Box::new(reg.clone()), Box::new(audit.clone()));
        let jti = jti.cloned();
        match self {
            Self::Sqlite(_, _, batcher, _) => {
                batcher
                    .submit(sqlite_writer::Job::CreateRegistration {
                        reg,
                        jti,
                        audit,
                        reply,
                    })
                    .await?;
            }
            Self::Postgres(_, writer) => {
                writer
                    .submit(pg_writer::Job {
                        reg,
                        jti,
                        audit,
                        reply,
                    })
                    .await?;
            }
        }
        answer
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
    }

    /// Replaces the stored metadata of a registration (PUT), consuming the request's `jti`, with
    /// its audit event, in one transaction. Only an `active` registration is updated.
    ///
    /// # Errors
    /// `NotFound` when there is no active registration with that client id; `Conflict` on a
    /// replayed `jti`.
    pub async fn update_registration(
        &self,
        reg: &Registration,
        jti: Option<&UsedJti>,
        audit: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            if let Some(j) = jti {
                sqlx::query("INSERT INTO used_jti (jti_key, expires_at) VALUES ($1, $2)")
                    .bind(&j.key).bind(j.expires_at).execute(&mut *tx).await?;
            }
            let done = sqlx::query(
                "UPDATE registration SET org_name = $2, client_name = $3, jwks_uri = $4, scope = $5, \
                 ssa = $6, metadata = $7, updated_at = $8, legal_entity_name = $9, \
                 legal_entity_id = $10, org_id = $11 \
                 WHERE client_id = $1 AND status = 'active'",
            )
            .bind(&reg.client_id)
            .bind(&reg.org_name)
            .bind(&reg.client_name)
            .bind(&reg.jwks_uri)
            .bind(&reg.scope)
            .bind(&reg.ssa)
            .bind(&reg.metadata)
            .bind(reg.updated_at)
            .bind(&reg.legal_entity_name)
            .bind(&reg.legal_entity_id)
            .bind(&reg.org_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            audit_chain::insert_audit(&mut *tx, audit).await?;
            Ok::<(), StoreError>(())
        })
    }

    /// Moves a registration from one of `from` statuses to `to`, with its audit event, in one
    /// transaction. Returns whether a row changed (false: it was not in one of `from`).
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_registration_status(
        &self,
        client_id: &str,
        from: &[RegistrationStatus],
        to: RegistrationStatus,
        reason: Option<&str>,
        now: i64,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let from_list = from.join(",");
        in_tx!(self, tx => {
            // `from` is a short closed set of our own status names, passed as one parameter and
            // matched with instr/strpos so the SQL text stays identical on both backends.
            let sql = match self.backend() {
                Backend::Sqlite => "UPDATE registration SET status = $2, status_reason = $3, updated_at = $4 \
                    WHERE client_id = $1 AND instr(',' || $5 || ',', ',' || status || ',') > 0",
                Backend::Postgres => "UPDATE registration SET status = $2, status_reason = $3, updated_at = $4 \
                    WHERE client_id = $1 AND strpos(',' || $5 || ',', ',' || status || ',') > 0",
            };
            let done = sqlx::query(sql)
                .bind(client_id)
                .bind(to.as_str())
                .bind(reason)
                .bind(now)
                .bind(&from_list)
                .execute(&mut *tx)
                .await?;
            let changed = done.rows_affected() > 0;
            if changed {
                audit_chain::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(changed)
        })
    }

    /// Records the Register's view of a registration's software product and recipient.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_register_status(
        &self,
        client_id: &str,
        sp_status: Option<&str>,
        dr_status: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE registration SET register_sp_status = $2, register_dr_status = $3, register_synced_at = $4 \
                 WHERE client_id = $1",
            )
            .bind(client_id)
            .bind(sp_status)
            .bind(dr_status)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Reads one registration by client id, whatever its status.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn get_registration(
        &self,
        client_id: &str,
    ) -> Result<Option<Registration>, StoreError> {
        if let Self::Sqlite(.., fast) = self {
            match fast.registration(client_id) {
                Ok(row) => return row.map(Registration::try_from).transpose(),
                Err(e) => {
                    tracing::debug!(error = %e, "fast registration read failed; reading through the pool")
                }
            }
        }
        let row: Option<RegistrationRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!("SELECT {REGISTRATION_COLUMNS} FROM registration WHERE client_id = $1"))
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(Registration::try_from).transpose()
    }

    /// Brings SQLite's `registration_list` (the portal's list copy) up to date with every
    /// committed registration; nothing to do on PostgreSQL, whose list reads the registration
    /// table. The store's writer otherwise copies new registrations whenever it is idle.
    ///
    /// # Errors
    /// Database failures, or the writer stopped.
    pub async fn sync_registration_list(&self) -> Result<(), StoreError> {
        let Self::Sqlite(_, _, batcher, _) = self else {
            return Ok(());
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        batcher
            .submit(sqlite_writer::Job::SyncList { reply })
            .await?;
        answer
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
    }

    /// The registration holding a software product id (active or revoked), if any.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn find_registration_by_software_id(
        &self,
        software_id: &str,
    ) -> Result<Option<Registration>, StoreError> {
        let key = software_id.to_ascii_lowercase();
        let row: Option<RegistrationRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {REGISTRATION_COLUMNS} FROM registration WHERE software_key = $1 \
                 AND status IN ('active', 'revoked') LIMIT 1"
            ))
            .bind(&key)
            .fetch_optional(pool)
            .await
        })?;
        row.map(Registration::try_from).transpose()
    }

    /// Lists registrations for the portal: search, status filter, sort and keyset-free paging
    /// (offset paging over indexed columns).
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn list_registrations(
        &self,
        q: &ListQuery,
    ) -> Result<Page<Registration>, StoreError> {
        let like = q
            .search
            .as_deref()
            .map(|s| format!("%{}%", escape_like(&s.to_ascii_lowercase())));
        let status = q.status.map(RegistrationStatus::as_str);
        let order = q.sort.sql();
        let where_sql = "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR \
            lower(client_name) LIKE $2 ESCAPE '\\' OR lower(client_id) LIKE $2 ESCAPE '\\' OR \
            software_key LIKE $2 ESCAPE '\\' OR lower(org_id) LIKE $2 ESCAPE '\\' OR \
            lower(org_name) LIKE $2 ESCAPE '\\' OR \
            lower(coalesce(legal_entity_id, '')) LIKE $2 ESCAPE '\\' OR \
            lower(coalesce(legal_entity_name, '')) LIKE $2 ESCAPE '\\')";
        let limit = i64::from(q.per_page.clamp(1, 200));
        let offset = i64::from(q.page.saturating_sub(1)) * limit;
        let (rows, total): (Vec<RegistrationRow>, i64) = dispatch!(self, pool => {
            let rows = sqlx::query_as(&format!(
                "SELECT {REGISTRATION_COLUMNS} FROM registration {where_sql} ORDER BY {order} LIMIT $3 OFFSET $4"
            ))
            .bind(status)
            .bind(like.as_deref())
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total: (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM registration {where_sql}"))
                .bind(status)
                .bind(like.as_deref())
                .fetch_one(pool)
                .await?;
            Ok::<_, sqlx::Error>((rows, total.0))
        })?;
        let items = rows
            .into_iter()
            .map(Registration::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    // ----- replay protection -----------------------------------------------------------------

    /// Records a JWT id as used until `expires_at`. Returns `false` when it was already used
    /// (a replay). Expired entries are purged opportunistically by [`Store::purge_expired`].
    ///
    /// # Errors
    /// Database failures.
    pub async fn use_jti(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        if let Self::Sqlite(_, _, batcher, _) = self {
            let (reply, answer) = tokio::sync::oneshot::channel();
            batcher
                .submit(sqlite_writer::Job::UseJti {
                    key: key.to_string(),
                    expires_at,
                    reply,
                })
                .await?;
            return answer
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        }
        let done = dispatch_write!(self, pool => {
            sqlx::query("INSERT INTO used_jti (jti_key, expires_at) VALUES ($1, $2) ON CONFLICT (jti_key) DO NOTHING")
                .bind(key)
                .bind(expires_at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Whether a JWT id is already recorded as used.
    ///
    /// # Errors
    /// Database failures.
    pub async fn jti_used(&self, key: &str) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = dispatch!(self, pool => {
            sqlx::query_as("SELECT expires_at FROM used_jti WHERE jti_key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.is_some())
    }

    /// Deletes used `jti`s and sessions that expired before `now`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let n = dispatch_write!(self, pool => {
            let a = sqlx::query("DELETE FROM used_jti WHERE expires_at < $1").bind(now).execute(pool).await?;
            let b = sqlx::query("DELETE FROM session WHERE expires_at < $1").bind(now).execute(pool).await?;
            Ok::<u64, sqlx::Error>(a.rows_affected() + b.rows_affected())
        })?;
        Ok(n)
    }

    // ----- admin users -----------------------------------------------------------------------

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

    /// Number of administrators.
    ///
    /// # Errors
    /// Database failures.
    pub async fn count_admins(&self) -> Result<i64, StoreError> {
        let n: (i64,) = dispatch!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM admin_user").fetch_one(pool).await
        })?;
        Ok(n.0)
    }

    // ----- sessions --------------------------------------------------------------------------

    /// Loads a session record's JSON if it has not expired.
    ///
    /// # Errors
    /// Database failures.
    pub async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = dispatch!(self, pool => {
            sqlx::query_as("SELECT data FROM session WHERE session_id = $1 AND expires_at > $2")
                .bind(id)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|r| r.0))
    }

    /// Inserts a session if its id is free; returns false on an id collision.
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_session(
        &self,
        id: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let n = dispatch_write!(self, pool => {
            sqlx::query("INSERT INTO session (session_id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (session_id) DO NOTHING")
                .bind(id).bind(data).bind(expires_at).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Inserts or replaces a session.
    ///
    /// # Errors
    /// Database failures.
    pub async fn save_session(
        &self,
        id: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query(
                "INSERT INTO session (session_id, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (session_id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(id).bind(data).bind(expires_at).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes a session.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        dispatch_write!(self, pool => {
            sqlx::query("DELETE FROM session WHERE session_id = $1").bind(id).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    // ----- audit -----------------------------------------------------------------------------

    /// Appends an audit event outside of any other change (e.g. a sign-in).
    ///
    /// # Errors
    /// Database failures.
    pub async fn append_audit(&self, ev: &NewAuditEvent) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            audit_chain::insert_audit(&mut *tx, ev).await?;
            Ok::<(), StoreError>(())
        })
    }

    /// Audit events, newest first, filtered.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let limit = i64::from(q.per_page.clamp(1, 500));
        let offset = i64::from(q.page.saturating_sub(1)) * limit;
        let where_sql = "WHERE ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR action = $3)";
        let (items, total) = dispatch!(self, pool => {
            let items: Vec<AuditEvent> = sqlx::query_as(&format!(
                "SELECT audit_event_id, occurred_at, actor, action, client_id, software_id, reason, before_state, after_state \
                 FROM audit_event {where_sql} ORDER BY audit_event_id DESC LIMIT $4 OFFSET $5"
            ))
            .bind(q.client_id.as_deref())
            .bind(q.actor.as_deref())
            .bind(q.action.as_deref())
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total: (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM audit_event {where_sql}"))
                .bind(q.client_id.as_deref())
                .bind(q.actor.as_deref())
                .bind(q.action.as_deref())
                .fetch_one(pool)
                .await?;
            Ok::<_, sqlx::Error>((items, total.0))
        })?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    // ----- signing keys ----------------------------------------------------------------------

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

const REGISTRATION_COLUMNS: &str = "client_id, software_id, org_id, org_name, client_name, \
    legal_entity_id, legal_entity_name, jwks_uri, scope, status, status_reason, register_sp_status, \
    register_dr_status, register_synced_at, ssa, metadata, client_id_issued_at, created_at, updated_at";

fn insert_registration_sql<'q, DB>(
    reg: &'q Registration,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO registration (client_id, software_id, software_key, org_id, org_name, client_name, \
         legal_entity_id, legal_entity_name, jwks_uri, scope, status, ssa, metadata, client_id_issued_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(reg.client_id.clone())
    .bind(reg.software_id.clone())
    .bind(reg.software_id.to_ascii_lowercase())
    .bind(reg.org_id.clone())
    .bind(reg.org_name.clone())
    .bind(reg.client_name.clone())
    .bind(reg.legal_entity_id.clone())
    .bind(reg.legal_entity_name.clone())
    .bind(reg.jwks_uri.clone())
    .bind(reg.scope.clone())
    .bind(reg.status.as_str())
    .bind(reg.ssa.clone())
    .bind(reg.metadata.clone())
    .bind(reg.client_id_issued_at)
    .bind(reg.created_at)
    .bind(reg.updated_at)
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

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
