//! The audit trail: every change to a registration, and every administrator's action, as an
//! event appended to one hash chain (`chain`), and the portal's filtered listing of them.

mod chain;

use serde::{Deserialize, Serialize};

pub(crate) use chain::{append_pg_batch, insert_audit, ChainedEvent, INSERT_EVENT, SELECT_HEAD};
pub use chain::{event_hash, AuditCheckpoint, ChainStatus, Walk, AUDIT_CHAIN_PAGE, CHAIN_LOCK};

use crate::{dispatch, in_tx, Page, Store, StoreError};

/// An audit event to append.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    /// When.
    pub occurred_at: i64,
    /// Who: `recipient:<software_id>`, `admin:<username>`, `register-sync`, `system`.
    pub actor: String,
    /// What: `registration.create`, `registration.update`, `registration.delete`, ...
    pub action: String,
    /// Subject registration.
    pub client_id: Option<String>,
    /// Subject software product.
    pub software_id: Option<String>,
    /// A reason given by a person.
    pub reason: Option<String>,
    /// State before (JSON).
    pub before_state: Option<String>,
    /// State after (JSON).
    pub after_state: Option<String>,
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEvent {
    /// Sequence number.
    pub audit_event_id: i64,
    /// When.
    pub occurred_at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Subject registration.
    pub client_id: Option<String>,
    /// Subject software product.
    pub software_id: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Before (JSON).
    pub before_state: Option<String>,
    /// After (JSON).
    pub after_state: Option<String>,
}

/// Audit listing filter.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events about this registration.
    pub client_id: Option<String>,
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only events at or after this time (Unix seconds).
    pub from: Option<i64>,
    /// Only events before this time (Unix seconds).
    pub until: Option<i64>,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// The audit log's filters of an [`AuditQuery`], bound as `$1` client id, `$2` actor, `$3`
/// action, `$4` from, `$5` until. Client ids, actors and actions are matched ignoring case as
/// stored values are written (lower case, or upper): the value as given, its lower-case and its
/// upper-case forms, so that each column's index still serves the match.
const AUDIT_FILTER: &str = "WHERE ($1 IS NULL OR client_id IN ($1, lower($1), upper($1))) \
     AND ($2 IS NULL OR actor IN ($2, lower($2), upper($2))) \
     AND ($3 IS NULL OR action IN ($3, lower($3), upper($3))) \
     AND ($4 IS NULL OR occurred_at >= $4) AND ($5 IS NULL OR occurred_at < $5)";

/// Binds an [`AuditQuery`]'s filters to a query whose text holds [`AUDIT_FILTER`], in the order
/// of its parameters (the query's own parameters follow, from `$6`).
macro_rules! bind_audit_filter {
    ($query:expr, $q:expr) => {
        $query
            .bind($q.client_id.as_deref())
            .bind($q.actor.as_deref())
            .bind($q.action.as_deref())
            .bind($q.from)
            .bind($q.until)
    };
}

/// The columns of an [`AuditEvent`] as the portal and the exports read them.
const AUDIT_EVENT_COLUMNS: &str =
    "audit_event_id, occurred_at, actor, action, client_id, software_id, reason, before_state, after_state";

impl Store {
    /// Appends an audit event outside of any other change (e.g. a sign-in).
    ///
    /// # Errors
    /// Database failures.
    pub async fn append_audit(&self, ev: &NewAuditEvent) -> Result<(), StoreError> {
        in_tx!(self, tx => {
            insert_audit(&mut *tx, ev).await?;
            Ok::<(), StoreError>(())
        })
    }

    /// Every audit event matching `q`'s filters (its `page` and `per_page` are ignored),
    /// **newest first** like the audit page, as a stream that holds at most
    /// [`crate::EXPORT_BATCH`] events at a time: the export of the portal and of `dcr-server
    /// export audit`.
    ///
    /// The events are read a batch at a time by keyset (`audit_event_id` below the last one
    /// read), so no connection is held between batches and each batch is an index range. The
    /// export ends at the newest event that existed at its first read: events appended while it
    /// runs (its own audit event included, when written after the first read) are not in it.
    ///
    /// # Errors
    /// The stream yields a database failure, and then ends.
    #[must_use]
    pub fn export_audit(
        &self,
        q: &AuditQuery,
    ) -> futures::stream::BoxStream<'static, Result<AuditEvent, StoreError>> {
        use futures::stream::{StreamExt as _, TryStreamExt as _};

        struct Cursor {
            store: Store,
            q: AuditQuery,
            /// Events below this id are still to be read.
            below: i64,
            done: bool,
        }
        let start = Cursor {
            store: self.clone(),
            q: q.clone(),
            below: i64::MAX,
            done: false,
        };
        futures::stream::try_unfold(start, |mut cur| async move {
            if cur.done {
                return Ok::<_, StoreError>(None);
            }
            let batch = cur.store.audit_batch(&cur.q, cur.below).await?;
            let Some(last) = batch.last() else {
                return Ok(None);
            };
            cur.below = last.audit_event_id;
            cur.done = batch.len() < crate::EXPORT_BATCH;
            Ok(Some((
                futures::stream::iter(batch.into_iter().map(Ok::<_, StoreError>)),
                cur,
            )))
        })
        .try_flatten()
        .boxed()
    }

    /// One batch of [`Store::export_audit`]: the newest matching events below `below`.
    async fn audit_batch(&self, q: &AuditQuery, below: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = i64::try_from(crate::EXPORT_BATCH).unwrap_or(500);
        let events: Vec<AuditEvent> = dispatch!(self, pool => {
            bind_audit_filter!(
                sqlx::query_as(&format!(
                    "SELECT {AUDIT_EVENT_COLUMNS} FROM audit_event {AUDIT_FILTER} \
                     AND audit_event_id < $6 ORDER BY audit_event_id DESC LIMIT $7"
                )),
                q
            )
            .bind(below)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(events)
    }

    /// Audit events, newest first, filtered. The matches are counted up to
    /// [`crate::COUNT_LIMIT`] (`more` set beyond), and pages stop there: older events are
    /// found by narrowing the filters (a date range), so that no page walks an unbounded part
    /// of the log.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let limit = i64::from(q.per_page.clamp(1, 500));
        let offset = i64::from(q.page.saturating_sub(1)) * limit;
        let bound = i64::try_from(crate::COUNT_LIMIT).unwrap_or(i64::MAX);
        let (items, total) = dispatch!(self, pool => {
            // Both planned with the filters given (unnamed statements): a generic plan cannot
            // tell an absent filter from a selective one.
            let total: (i64,) = bind_audit_filter!(
                sqlx::query_as(&format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM audit_event {AUDIT_FILTER} LIMIT $6) AS m"
                ))
                .persistent(false),
                q
            )
                .bind(bound + 1)
                .fetch_one(pool)
                .await?;
            let items: Vec<AuditEvent> = if offset >= total.0.min(bound) {
                Vec::new()
            } else {
                bind_audit_filter!(
                    sqlx::query_as(&format!(
                        "SELECT {AUDIT_EVENT_COLUMNS} FROM audit_event {AUDIT_FILTER} \
                         ORDER BY audit_event_id DESC LIMIT $6 OFFSET $7"
                    ))
                    .persistent(false),
                    q
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?
            };
            Ok::<_, sqlx::Error>((items, total.0))
        })?;
        let total = u64::try_from(total).unwrap_or(0);
        Ok(Page {
            items,
            total: total.min(crate::COUNT_LIMIT),
            more: total > crate::COUNT_LIMIT,
        })
    }
}
