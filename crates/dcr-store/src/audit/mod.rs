//! The audit trail: every change to a registration, and every administrator's action, as an
//! event appended to one hash chain (`chain`), and the portal's filtered listing of them.

mod chain;

use serde::{Deserialize, Serialize};

pub use chain::{event_hash, ChainStatus, AUDIT_CHAIN_PAGE, CHAIN_LOCK};
pub(crate) use chain::{insert_audit, ChainedEvent, INSERT_EVENT, LOCK_CHAIN, SELECT_HEAD};

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
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

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
}
