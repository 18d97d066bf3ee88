//! Event notifications to the Data Holder's webhooks (docs/webhooks.md): the configured
//! webhooks (`webhook`) and the events still to deliver to each (`webhook_outbox`).
//!
//! Every event is written in the transaction of the registration change it reports (by
//! [`enqueue_event!`], one `INSERT ... SELECT` over the configured webhooks, nothing when there
//! is none), so a change is never committed without its events, nor an event without its
//! change. The registration's own write comes first in each such transaction, which orders two
//! changes of one registration (see `provisioning`).

use crate::{dispatch, in_tx, RegistrationStatus, Store, StoreError};

/// What happened to a registration, as a webhook event's `type`.
pub mod event {
    /// A recipient registered (`POST /register`).
    pub const CREATED: &str = "registration.created";
    /// A recipient updated its registration (`PUT /register/{client_id}`).
    pub const UPDATED: &str = "registration.updated";
    /// A recipient deleted its registration.
    pub const DELETED: &str = "registration.deleted";
    /// An administrator revoked it.
    pub const REVOKED: &str = "registration.revoked";
    /// An administrator released it (its software product may register again).
    pub const RELEASED: &str = "registration.released";
    /// The Register removed its software product: the registration was removed.
    pub const REMOVED: &str = "registration.removed";
    /// The Register's status of its software product or recipient changed.
    pub const REGISTER_STATUS: &str = "registration.register_status";
}

/// The event that reports a registration moving to `status` (an update keeps it active).
#[must_use]
pub fn event_for_status(status: RegistrationStatus) -> &'static str {
    match status {
        RegistrationStatus::Active => event::UPDATED,
        RegistrationStatus::Revoked => event::REVOKED,
        RegistrationStatus::Released => event::RELEASED,
        RegistrationStatus::Deleted => event::DELETED,
        RegistrationStatus::Removed => event::REMOVED,
    }
}

/// An event waiting for (or given up by) one webhook.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookEvent {
    /// Its id: increasing in the order the changes were made.
    pub event_id: i64,
    /// The webhook (its configured name).
    pub webhook: String,
    /// The registration.
    pub client_id: String,
    /// What happened ([`event`]).
    pub event: String,
    /// What the change said when it was made (JSON object).
    pub payload: String,
    /// When it happened.
    pub occurred_at: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Not delivered before this time.
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was given up (a dead letter), if it was.
    pub dead_at: Option<i64>,
}

/// How the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookQueue {
    /// Events waiting.
    pub waiting: i64,
    /// Dead letters.
    pub dead: i64,
    /// When the oldest waiting event happened.
    pub oldest: Option<i64>,
}

/// Queues event `$2` with payload `$3` at `$4` for registration `$1`, one row per configured
/// webhook.
pub(crate) const ENQUEUE_EVENT: &str = "INSERT INTO webhook_outbox \
    (webhook, client_id, event, payload, occurred_at, next_attempt_at) \
    SELECT name, $1, $2, $3, $4, $4 FROM webhook";

/// In a registration change's transaction (`$tx`, after the registration's own write): queues
/// `$event` with `$payload` (a JSON string) for every configured webhook.
macro_rules! enqueue_event {
    ($tx:ident, $client_id:expr, $event:expr, $payload:expr, $now:expr) => {{
        sqlx::query($crate::webhooks::ENQUEUE_EVENT)
            .bind($client_id)
            .bind($event)
            .bind($payload)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use enqueue_event;

const COLUMNS: &str = "event_id, webhook, client_id, event, payload, occurred_at, attempts, \
    next_attempt_at, last_error, dead_at";

impl Store {
    /// Makes `webhooks` (name, URL) the configured ones: others are forgotten (their waiting
    /// events stay, and are delivered if the name comes back).
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_webhooks(
        &self,
        webhooks: &[(String, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            let names: Vec<&str> = webhooks.iter().map(|(n, _)| n.as_str()).collect();
            let existing: Vec<(String,)> = sqlx::query_as("SELECT name FROM webhook")
                .fetch_all(&mut *tx)
                .await?;
            for (name,) in existing {
                if !names.contains(&name.as_str()) {
                    sqlx::query("DELETE FROM webhook WHERE name = $1")
                        .bind(&name)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for (name, url) in webhooks {
                sqlx::query(
                    "INSERT INTO webhook (name, url, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at \
                     WHERE webhook.url <> excluded.url",
                )
                .bind(name)
                .bind(url)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<(), StoreError>(())
        })
    }

    /// The configured webhooks (name, URL), by name.
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhooks(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as("SELECT name, url FROM webhook ORDER BY name").fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Whether any webhook is configured.
    ///
    /// # Errors
    /// Database failures.
    pub async fn has_webhooks(&self) -> Result<bool, StoreError> {
        let (n,): (i64,) = dispatch!(self, pool => {
            sqlx::query_as("SELECT count(*) FROM webhook").fetch_one(pool).await
        })?;
        Ok(n > 0)
    }

    /// The events due at `now` that may be delivered: for each webhook and registration, the
    /// oldest event not given up, if due (a later one waits for it), in the order they
    /// happened, at most `limit`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhook_events_due(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox o \
                 WHERE o.dead_at IS NULL AND o.next_attempt_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM webhook_outbox e WHERE e.webhook = o.webhook \
                   AND e.client_id = o.client_id AND e.dead_at IS NULL AND e.event_id < o.event_id) \
                 ORDER BY o.event_id LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Forgets a delivered event. Answers whether it was still there.
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhook_event_delivered(&self, event_id: i64) -> Result<bool, StoreError> {
        let deleted = crate::dispatch_write!(self, pool => {
            sqlx::query("DELETE FROM webhook_outbox WHERE event_id = $1")
                .bind(event_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(deleted > 0)
    }

    /// Records a failed attempt: tried again at `next_attempt_at`, or, with `dead`, given up
    /// (kept as a dead letter).
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhook_event_failed(
        &self,
        event_id: i64,
        error: &str,
        next_attempt_at: i64,
        dead: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        crate::dispatch_write!(self, pool => {
            sqlx::query(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $2, \
                 next_attempt_at = $3, dead_at = CASE WHEN $4 THEN $5 ELSE NULL END \
                 WHERE event_id = $1",
            )
            .bind(event_id)
            .bind(error)
            .bind(next_attempt_at)
            .bind(dead)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The dead letters, newest first, at most `limit`, with how many there are.
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhook_dead_letters(&self, limit: i64) -> Result<Vec<WebhookEvent>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox WHERE dead_at IS NOT NULL \
                 ORDER BY dead_at DESC, event_id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Every event of a registration still in the outbox (waiting or dead), oldest first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhook_events_of(
        &self,
        client_id: &str,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox WHERE client_id = $1 ORDER BY event_id"
            ))
            .bind(client_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Sends a dead letter again: it waits in line as new, due at `now`, and `audit` is
    /// appended, in one transaction. Answers the event if it was a dead letter (nothing is
    /// written otherwise).
    ///
    /// # Errors
    /// Database failures.
    pub async fn retry_webhook_event(
        &self,
        event_id: i64,
        now: i64,
        audit: &crate::NewAuditEvent,
    ) -> Result<Option<WebhookEvent>, StoreError> {
        in_tx!(self, tx => {
            let row: Option<WebhookEvent> = sqlx::query_as(&format!(
                "UPDATE webhook_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = $2 \
                 WHERE event_id = $1 AND dead_at IS NOT NULL RETURNING {COLUMNS}"
            ))
            .bind(event_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if row.is_some() {
                crate::audit::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<_, StoreError>(row)
        })
    }

    /// How many events wait, how many are dead letters, and when the oldest waiting happened.
    ///
    /// # Errors
    /// Database failures.
    pub async fn webhook_queue(&self) -> Result<WebhookQueue, StoreError> {
        let (waiting, dead, oldest): (i64, i64, Option<i64>) = dispatch!(self, pool => {
            sqlx::query_as(
                "SELECT count(*) FILTER (WHERE dead_at IS NULL), count(*) FILTER (WHERE dead_at IS NOT NULL), \
                 min(occurred_at) FILTER (WHERE dead_at IS NULL) FROM webhook_outbox",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(WebhookQueue {
            waiting,
            dead,
            oldest,
        })
    }
}
