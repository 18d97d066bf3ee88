//! Provisioning into the downstream authorization server (docs/provisioning.md): what the
//! downstream knows of each registration (`provisioning`), and the changes still to deliver to
//! it (`provisioning_outbox`).
//!
//! Every outbox row is written in the transaction of the registration change it follows, so a
//! change is never committed here without its delivery being recorded, nor recorded without the
//! change (a crash between the two cannot happen). The registration's own write comes first in
//! each such transaction: on PostgreSQL the row lock it takes orders two changes of one
//! registration, so the later change's outbox row gets the higher id. Only registrations with a
//! `provisioning` row (those made while provisioning was on) get outbox rows.

use crate::audit::insert_audit;
use crate::sql::{self, Column};
use crate::{dispatch, in_tx, NewAuditEvent, RegistrationStatus, Store, StoreError};

/// Whether the downstream has the registration's last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningState {
    /// It has: nothing waits in the outbox.
    Provisioned,
    /// A change waits in the outbox (and, after a failed attempt, `last_error` says why).
    Pending,
    /// The downstream refused a change; it is retried at the longest backoff until an
    /// operator acts.
    Failed,
}

impl ProvisioningState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "provisioned",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "provisioned" => Self::Provisioned,
            "pending" => Self::Pending,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// What an outbox row asks of the downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOperation {
    /// Create the client (RFC 7591).
    Create,
    /// Replace its metadata with the registration's (RFC 7592 update).
    Update,
    /// Delete it (RFC 7592 delete).
    Delete,
    /// Keep it, but with no grant types, so that it can obtain no token (RFC 7592 update).
    Disable,
}

impl OutboxOperation {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Disable => "disable",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "disable" => Self::Disable,
            _ => return None,
        })
    }

    /// What the downstream must do when a registration moves to `status`: an active one is
    /// updated, a revoked one disabled (it keeps its software product until released), and a
    /// released, deleted or removed one deleted.
    #[must_use]
    pub fn for_status(status: RegistrationStatus) -> Self {
        match status {
            RegistrationStatus::Active => Self::Update,
            RegistrationStatus::Revoked => Self::Disable,
            RegistrationStatus::Released
            | RegistrationStatus::Deleted
            | RegistrationStatus::Removed => Self::Delete,
        }
    }
}

/// What the downstream knows of one registration.
#[derive(Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// The registration.
    pub client_id: String,
    /// The client_id the downstream knows it by (once created there).
    pub downstream_client_id: Option<String>,
    /// Where it is managed there (RFC 7592), as the downstream answered.
    pub registration_client_uri: Option<String>,
    /// The credential that manages it there (RFC 7592). Never logged: `Debug` redacts it.
    pub registration_access_token: Option<String>,
    /// Whether the downstream has the last change.
    pub state: ProvisioningState,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub attempts: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl std::fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioning")
            .field("client_id", &self.client_id)
            .field("downstream_client_id", &self.downstream_client_id)
            .field("registration_client_uri", &self.registration_client_uri)
            .field(
                "registration_access_token",
                &self.registration_access_token.as_ref().map(|_| "REDACTED"),
            )
            .field("state", &self.state)
            .field("last_error", &self.last_error)
            .field("attempts", &self.attempts)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A change waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its place in the order of delivery.
    pub outbox_id: i64,
    /// The registration it changes.
    pub client_id: String,
    /// What to do.
    pub operation: OutboxOperation,
    /// The change's context (JSON: the registration's status and reason when written).
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Not delivered before this time.
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Written.
    pub created_at: i64,
}

/// A new registration's provisioning, written with it: the record, and (asynchronous mode)
/// the outbox row that creates its client downstream, or (synchronous mode) the audit event of
/// the client created there.
#[derive(Debug, Clone)]
pub struct NewProvisioning {
    /// The record (provisioned, when the client was created before the registration was
    /// stored; else pending).
    pub record: Provisioning,
    /// The `create` to deliver, if the client does not exist downstream yet.
    pub create: Option<NewOutboxEntry>,
    /// What was changed at the downstream already, if anything.
    pub audit: Option<NewAuditEvent>,
}

/// An outbox row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEntry {
    /// The registration.
    pub client_id: String,
    /// What to do.
    pub operation: OutboxOperation,
    /// The change's context (JSON).
    pub payload: String,
    /// Written (and first due) at.
    pub created_at: i64,
}

/// The columns a provisioning record is written with, in the order of [`UPSERT_PROVISIONING`]
/// (sqlx, and SQLite's batch through rusqlite).
pub(crate) const PROVISIONING: [Column<Provisioning>; 8] = [
    Column::text("client_id", |p| sql::text(&p.client_id)),
    Column::text("downstream_client_id", |p| {
        sql::opt_text(p.downstream_client_id.as_deref())
    }),
    Column::text("registration_client_uri", |p| {
        sql::opt_text(p.registration_client_uri.as_deref())
    }),
    Column::text("registration_access_token", |p| {
        sql::opt_text(p.registration_access_token.as_deref())
    }),
    Column::text("state", |p| sql::text(p.state.as_str())),
    Column::text("last_error", |p| sql::opt_text(p.last_error.as_deref())),
    Column::int("attempts", |p| p.attempts),
    Column::int("updated_at", |p| p.updated_at),
];

/// Writes a record whole, replacing the registration's previous one.
pub(crate) static UPSERT_PROVISIONING: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        format!(
            "{} ON CONFLICT (client_id) DO UPDATE SET \
             downstream_client_id = excluded.downstream_client_id, \
             registration_client_uri = excluded.registration_client_uri, \
             registration_access_token = excluded.registration_access_token, \
             state = excluded.state, last_error = excluded.last_error, \
             attempts = excluded.attempts, updated_at = excluded.updated_at",
            sql::insert("provisioning", &PROVISIONING)
        )
    });

/// The columns of a new outbox row (`attempts` starts at 0, `next_attempt_at` at
/// `created_at`), in the order of [`INSERT_OUTBOX`].
pub(crate) const NEW_OUTBOX: [Column<NewOutboxEntry>; 5] = [
    Column::text("client_id", |o| sql::text(&o.client_id)),
    Column::text("operation", |o| sql::text(o.operation.as_str())),
    Column::text("payload", |o| sql::text(&o.payload)),
    Column::int("next_attempt_at", |o| o.created_at),
    Column::int("created_at", |o| o.created_at),
];

/// The INSERT of a new outbox row.
pub(crate) static INSERT_OUTBOX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| sql::insert("provisioning_outbox", &NEW_OUTBOX));

/// Queues `$2` (operation) with payload `$3` at `$4` for registration `$1`, if it is
/// provisioned at all, and marks its record pending: one statement each, run in the
/// transaction of the registration change.
pub(crate) const ENQUEUE_IF_PROVISIONED: &str = "INSERT INTO provisioning_outbox \
    (client_id, operation, payload, next_attempt_at, created_at) \
    SELECT client_id, $2, $3, $4, $4 FROM provisioning WHERE client_id = $1";
pub(crate) const MARK_PENDING: &str =
    "UPDATE provisioning SET state = 'pending', updated_at = $2 WHERE client_id = $1";

const PROVISIONING_COLUMNS: &str = "client_id, downstream_client_id, registration_client_uri, \
    registration_access_token, state, last_error, attempts, updated_at";
const OUTBOX_COLUMNS: &str =
    "outbox_id, client_id, operation, payload, attempts, next_attempt_at, last_error, created_at";

#[derive(sqlx::FromRow)]
struct ProvisioningRow {
    client_id: String,
    downstream_client_id: Option<String>,
    registration_client_uri: Option<String>,
    registration_access_token: Option<String>,
    state: String,
    last_error: Option<String>,
    attempts: i64,
    updated_at: i64,
}

impl TryFrom<ProvisioningRow> for Provisioning {
    type Error = StoreError;
    fn try_from(r: ProvisioningRow) -> Result<Self, StoreError> {
        let state = ProvisioningState::parse(&r.state).ok_or_else(|| StoreError::Inconsistent {
            table: "provisioning",
            column: "state",
            message: format!("unknown state {:?} for {}", r.state, r.client_id),
        })?;
        Ok(Self {
            client_id: r.client_id,
            downstream_client_id: r.downstream_client_id,
            registration_client_uri: r.registration_client_uri,
            registration_access_token: r.registration_access_token,
            state,
            last_error: r.last_error,
            attempts: r.attempts,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    outbox_id: i64,
    client_id: String,
    operation: String,
    payload: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
}

impl TryFrom<OutboxRow> for OutboxEntry {
    type Error = StoreError;
    fn try_from(r: OutboxRow) -> Result<Self, StoreError> {
        let operation =
            OutboxOperation::parse(&r.operation).ok_or_else(|| StoreError::Inconsistent {
                table: "provisioning_outbox",
                column: "operation",
                message: format!("unknown operation {:?} in {}", r.operation, r.outbox_id),
            })?;
        Ok(Self {
            outbox_id: r.outbox_id,
            client_id: r.client_id,
            operation,
            payload: r.payload,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
        })
    }
}

/// The payload of a change that follows a registration status change.
pub(crate) fn status_payload(status: RegistrationStatus, reason: Option<&str>) -> String {
    serde_json::json!({ "status": status.as_str(), "reason": reason }).to_string()
}

/// In a registration change's transaction (`$tx`, after the registration's own write): queues
/// what the downstream must do now that the registration has `$status` (see
/// [`OutboxOperation::for_status`]), if the registration is provisioned at all, and marks its
/// record pending; and queues the change's event for every configured webhook
/// (`crate::webhooks`). Nothing is written for a registration without a provisioning record
/// when no webhook is configured.
macro_rules! enqueue_change {
    ($tx:ident, $client_id:expr, $status:expr, $reason:expr, $now:expr) => {{
        let status: $crate::RegistrationStatus = $status;
        let payload = $crate::provisioning::status_payload(status, $reason);
        sqlx::query($crate::provisioning::ENQUEUE_IF_PROVISIONED)
            .bind($client_id)
            .bind($crate::provisioning::OutboxOperation::for_status(status).as_str())
            .bind(&payload)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        sqlx::query($crate::provisioning::MARK_PENDING)
            .bind($client_id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        $crate::webhooks::enqueue_event!(
            $tx,
            $client_id,
            $crate::webhooks::event_for_status(status),
            &payload,
            $now
        );
    }};
}
pub(crate) use enqueue_change;

impl Store {
    /// What the downstream knows of a registration, if it is provisioned.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn provisioning(&self, client_id: &str) -> Result<Option<Provisioning>, StoreError> {
        let row: Option<ProvisioningRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {PROVISIONING_COLUMNS} FROM provisioning WHERE client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(Provisioning::try_from).transpose()
    }

    /// The changes due at `now` that may be delivered: the oldest waiting change of each
    /// registration, if due (a later change of a registration waits for the earlier one), in
    /// the order they were written, at most `limit`.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM provisioning_outbox o \
                 WHERE o.next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM provisioning_outbox e \
                   WHERE e.client_id = o.client_id AND e.outbox_id < o.outbox_id) \
                 ORDER BY o.outbox_id LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(OutboxEntry::try_from).collect()
    }

    /// Every change waiting for a registration, oldest first.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn outbox_of(&self, client_id: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM provisioning_outbox WHERE client_id = $1 \
                 ORDER BY outbox_id"
            ))
            .bind(client_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(OutboxEntry::try_from).collect()
    }

    /// How many changes wait, and since when the oldest has.
    ///
    /// # Errors
    /// Database failures.
    pub async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError> {
        let row: (i64, Option<i64>) = dispatch!(self, pool => {
            sqlx::query_as("SELECT count(*), min(created_at) FROM provisioning_outbox")
                .fetch_one(pool)
                .await
        })?;
        Ok(row)
    }

    /// Records a delivered change, in one transaction: the outbox row goes, the record
    /// becomes `record` (its state pending while later changes of the registration wait,
    /// provisioned otherwise; no error, no failed attempts), and `audit` (what changed at the
    /// downstream) is appended.
    ///
    /// # Errors
    /// Database failures.
    pub async fn complete_outbox(
        &self,
        outbox_id: i64,
        record: &Provisioning,
        audit: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            sqlx::query("DELETE FROM provisioning_outbox WHERE outbox_id = $1")
                .bind(outbox_id)
                .execute(&mut *tx)
                .await?;
            let (waiting,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM provisioning_outbox WHERE client_id = $1")
                    .bind(&record.client_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let record = Provisioning {
                state: if waiting > 0 {
                    ProvisioningState::Pending
                } else {
                    ProvisioningState::Provisioned
                },
                last_error: None,
                attempts: 0,
                ..record.clone()
            };
            sql::bind_row(sqlx::query(UPSERT_PROVISIONING.as_str()), &PROVISIONING, &record)
                .execute(&mut *tx)
                .await?;
            insert_audit(&mut *tx, audit).await?;
            Ok::<(), StoreError>(())
        })
    }

    /// Records a failed delivery, in one transaction: the outbox row waits until
    /// `next_attempt_at` with `error`, the record says `state` (pending, or failed when the
    /// downstream refused) with the same error, and `audit`, if any, is appended.
    ///
    /// # Errors
    /// Database failures.
    pub async fn fail_outbox(
        &self,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_at: i64,
        state: ProvisioningState,
        now: i64,
        audit: Option<&NewAuditEvent>,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            sqlx::query(
                "UPDATE provisioning_outbox SET attempts = attempts + 1, last_error = $2, \
                 next_attempt_at = $3 WHERE outbox_id = $1",
            )
            .bind(entry.outbox_id)
            .bind(error)
            .bind(next_attempt_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE provisioning SET state = $2, last_error = $3, attempts = attempts + 1, \
                 updated_at = $4 WHERE client_id = $1",
            )
            .bind(&entry.client_id)
            .bind(state.as_str())
            .bind(error)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(audit) = audit {
                insert_audit(&mut *tx, audit).await?;
            }
            Ok::<(), StoreError>(())
        })
    }

    /// Makes every waiting change of a registration due at `audit.occurred_at` (an operator's
    /// retry), appending `audit` in the same transaction if anything waits. Answers how many
    /// changes wait.
    ///
    /// # Errors
    /// Database failures.
    pub async fn retry_outbox(
        &self,
        client_id: &str,
        audit: &NewAuditEvent,
    ) -> Result<u64, StoreError> {
        in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE provisioning_outbox SET next_attempt_at = $2 WHERE client_id = $1",
            )
            .bind(client_id)
            .bind(audit.occurred_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done > 0 {
                insert_audit(&mut *tx, audit).await?;
            }
            Ok::<u64, StoreError>(done)
        })
    }

    /// Queues `operation` for a registration as a reconciliation's repair, in one transaction
    /// with `audit`: the outbox row (behind any change already waiting, so the deliverer
    /// carries it out with the registration as it is then), the record marked pending, and,
    /// with `forget_client`, the record's registration_client_uri and registration access
    /// token cleared (the client they named is gone, so a `create` makes a new one). Answers
    /// false, writing nothing, for a registration without a record.
    ///
    /// # Errors
    /// Database failures.
    pub async fn enqueue_repair(
        &self,
        client_id: &str,
        operation: OutboxOperation,
        forget_client: bool,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let now = audit.occurred_at;
        in_tx!(self, tx => {
            let queued = sqlx::query(ENQUEUE_IF_PROVISIONED)
                .bind(client_id)
                .bind(operation.as_str())
                .bind(serde_json::json!({ "repair": true }).to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if queued {
                sqlx::query(MARK_PENDING)
                    .bind(client_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if forget_client {
                    sqlx::query(
                        "UPDATE provisioning SET registration_client_uri = NULL, \
                         registration_access_token = NULL WHERE client_id = $1",
                    )
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                }
                insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(queued)
        })
    }

    /// The records of registrations after `after` in client_id order, at most `limit` (a walk
    /// through every provisioned registration, a page at a time).
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn provisioning_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Provisioning>, StoreError> {
        let rows: Vec<ProvisioningRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {PROVISIONING_COLUMNS} FROM provisioning WHERE client_id > $1 \
                 ORDER BY client_id LIMIT $2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(Provisioning::try_from).collect()
    }

    /// The records not provisioned (pending or failed), failed first, then the longest waiting,
    /// at most `limit`, with how many there are in each of the three states.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn provisioning_attention(
        &self,
        limit: i64,
    ) -> Result<(Vec<Provisioning>, ProvisioningCounts), StoreError> {
        let (rows, counts): (Vec<ProvisioningRow>, Vec<(String, i64)>) = dispatch!(self, pool => {
            async {
                let rows = sqlx::query_as(&format!(
                    "SELECT {PROVISIONING_COLUMNS} FROM provisioning WHERE state <> 'provisioned' \
                     ORDER BY state = 'failed' DESC, updated_at, client_id LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(pool)
                .await?;
                let counts = sqlx::query_as("SELECT state, count(*) FROM provisioning GROUP BY state")
                    .fetch_all(pool)
                    .await?;
                Ok::<_, sqlx::Error>((rows, counts))
            }
            .await
        })?;
        let mut total = ProvisioningCounts::default();
        for (state, n) in counts {
            match ProvisioningState::parse(&state) {
                Some(ProvisioningState::Provisioned) => total.provisioned = n,
                Some(ProvisioningState::Pending) => total.pending = n,
                Some(ProvisioningState::Failed) => total.failed = n,
                None => {}
            }
        }
        let rows = rows
            .into_iter()
            .map(Provisioning::try_from)
            .collect::<Result<_, _>>()?;
        Ok((rows, total))
    }
}

/// How many registrations are in each provisioning state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProvisioningCounts {
    /// The downstream has their last change.
    pub provisioned: i64,
    /// A change waits.
    pub pending: i64,
    /// The downstream refused a change.
    pub failed: i64,
}
