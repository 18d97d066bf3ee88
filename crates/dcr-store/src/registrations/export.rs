//! The registration list without paging, as a stream: the exports of the portal and of
//! `dcr-server export registrations`.
//!
//! The same filter, search and order as [`Store::search_registrations`] (the same SQL from
//! `list_sql`, without limit and offset). The matching ids are read as a stream (sqlx `fetch`,
//! one connection held for the export), and the full rows are loaded by primary key
//! [`EXPORT_BATCH`] at a time, so memory stays flat whatever the number of rows. A task reads
//! ahead of the consumer by at most one batch and a bounded channel: a slow consumer slows the
//! reads down, and one that goes away (a closed download) ends them. One that stops taking rows
//! for [`EXPORT_STALL`] ends them too, with an error: the ids' read holds a snapshot of the
//! database (SQLite cannot checkpoint its write-ahead log past it, PostgreSQL cannot vacuum
//! behind it), which a stalled download must not hold for ever.
//!
//! Only the list's columns are read ([`ExportedRegistration`]): not the SSA and the metadata,
//! which make a row several kilobytes.
//!
//! Consistency: the ids are those matching when the export starts; each row is read as it is
//! when its batch is loaded (a registration revoked meanwhile is exported as revoked).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use tokio::sync::mpsc;

use super::{AdminListQuery, RegistrationStatus, StatusFilter};
use crate::{dispatch, Store, StoreError};

/// How many registrations an export loads at a time (and at most how many it holds).
pub const EXPORT_BATCH: usize = 500;

/// How many loaded registrations may wait for the consumer.
const EXPORT_QUEUE: usize = 64;

/// How long an export waits for its consumer to take the next row before it ends with an
/// error.
pub const EXPORT_STALL: Duration = Duration::from_secs(60);

/// A registration as an export lists it: every stored field but the SSA and the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedRegistration {
    /// Data Holder issued client id.
    pub client_id: String,
    /// Software product id (from the SSA).
    pub software_id: String,
    /// Brand id (SSA `org_id`).
    pub org_id: String,
    /// Brand name.
    pub org_name: String,
    /// Software product name.
    pub client_name: String,
    /// Recipient legal entity id.
    pub legal_entity_id: Option<String>,
    /// Recipient legal entity name.
    pub legal_entity_name: Option<String>,
    /// The recipient's JWKS.
    pub jwks_uri: String,
    /// Granted scope (space separated).
    pub scope: String,
    /// Lifecycle status.
    pub status: RegistrationStatus,
    /// Why the status last changed.
    pub status_reason: Option<String>,
    /// Software product status at the Register.
    pub register_sp_status: Option<String>,
    /// Recipient status at the Register.
    pub register_dr_status: Option<String>,
    /// When the Register statuses were last synced.
    pub register_synced_at: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl ExportedRegistration {
    /// The status the portal shows (inactive at the Register told apart).
    #[must_use]
    pub fn status_filter(&self) -> StatusFilter {
        StatusFilter::of_parts(
            self.status,
            self.register_sp_status.as_deref(),
            self.register_dr_status.as_deref(),
        )
    }
}

/// The columns of [`ExportedRegistration`], in the order of [`ExportRow`].
const EXPORT_COLUMNS: &str = "client_id, software_id, org_id, org_name, client_name, \
    legal_entity_id, legal_entity_name, jwks_uri, scope, status, status_reason, \
    register_sp_status, register_dr_status, register_synced_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ExportRow {
    client_id: String,
    software_id: String,
    org_id: String,
    org_name: String,
    client_name: String,
    legal_entity_id: Option<String>,
    legal_entity_name: Option<String>,
    jwks_uri: String,
    scope: String,
    status: String,
    status_reason: Option<String>,
    register_sp_status: Option<String>,
    register_dr_status: Option<String>,
    register_synced_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ExportRow> for ExportedRegistration {
    type Error = StoreError;
    fn try_from(r: ExportRow) -> Result<Self, StoreError> {
        let status =
            RegistrationStatus::parse(&r.status).ok_or_else(|| StoreError::Inconsistent {
                table: "registration",
                column: "status",
                message: format!("unknown status {:?} for {}", r.status, r.client_id),
            })?;
        Ok(Self {
            client_id: r.client_id,
            software_id: r.software_id,
            org_id: r.org_id,
            org_name: r.org_name,
            client_name: r.client_name,
            legal_entity_id: r.legal_entity_id,
            legal_entity_name: r.legal_entity_name,
            jwks_uri: r.jwks_uri,
            scope: r.scope,
            status,
            status_reason: r.status_reason,
            register_sp_status: r.register_sp_status,
            register_dr_status: r.register_dr_status,
            register_synced_at: r.register_synced_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Store {
    /// Every registration matching `q` (its `page` and `per_page` are ignored), in `q`'s order,
    /// as a stream that holds at most a batch of rows at a time. See the module documentation.
    ///
    /// Must be called within a tokio runtime (the reads run on a task of their own).
    ///
    /// # Errors
    /// The stream yields a database failure or an unreadable row, and then ends; also when
    /// the consumer took no row for [`EXPORT_STALL`] (the reads stopped meanwhile).
    #[must_use]
    pub fn export_registrations(
        &self,
        q: &AdminListQuery,
    ) -> BoxStream<'static, Result<ExportedRegistration, StoreError>> {
        let store = self.clone();
        let q = q.clone();
        let (tx, rx) = mpsc::channel(EXPORT_QUEUE);
        // The reading task's failure, yielded after the rows it sent (the channel may be full).
        let failure: Arc<Mutex<Option<StoreError>>> = Arc::default();
        tokio::spawn({
            let failure = failure.clone();
            async move {
                if let Err(e) = store.send_registrations(&q, &tx).await {
                    if let Ok(mut slot) = failure.lock() {
                        *slot = Some(e);
                    }
                }
                // `tx` is dropped here, after the failure is recorded.
                drop(tx);
            }
        });
        futures::stream::unfold((rx, failure), |(mut rx, failure)| async move {
            match rx.recv().await {
                Some(reg) => Some((Ok(reg), (rx, failure))),
                None => {
                    let e = failure.lock().ok().and_then(|mut slot| slot.take())?;
                    Some((Err(e), (rx, failure)))
                }
            }
        })
        .boxed()
    }

    /// Reads the matching ids and sends their rows down `tx`, a batch at a time; stops early
    /// when the receiver is gone, and with an error when it took no row for [`EXPORT_STALL`].
    async fn send_registrations(
        &self,
        q: &AdminListQuery,
        tx: &mpsc::Sender<ExportedRegistration>,
    ) -> Result<(), StoreError> {
        self.sync_for_list(q).await?;
        let sql = self.list_sql(q);
        let all_ids = sql.all_ids();
        dispatch!(self, pool => {
            let mut query = sqlx::query_as::<_, (String,)>(&all_ids);
            for p in &sql.patterns {
                query = query.bind(p.clone());
            }
            let mut ids = query.fetch(pool);
            let mut batch: Vec<String> = Vec::with_capacity(EXPORT_BATCH);
            loop {
                let next = ids.try_next().await?;
                let end = next.is_none();
                if let Some((id,)) = next {
                    batch.push(id);
                }
                if batch.len() == EXPORT_BATCH || (end && !batch.is_empty()) {
                    for reg in self.registrations_in_order(&batch).await? {
                        match tx.send_timeout(reg, EXPORT_STALL).await {
                            Ok(()) => {}
                            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Ok(()),
                            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                                return Err(StoreError::Database(sqlx::Error::Io(
                                    std::io::Error::new(
                                        std::io::ErrorKind::TimedOut,
                                        format!(
                                            "the export's reader took no row for {} s",
                                            EXPORT_STALL.as_secs()
                                        ),
                                    ),
                                )));
                            }
                        }
                    }
                    batch.clear();
                }
                if end {
                    return Ok(());
                }
            }
        })
    }

    /// Loads the registrations of `ids` by primary key, in the order of `ids` (an id whose row
    /// is gone is skipped).
    async fn registrations_in_order(
        &self,
        ids: &[String],
    ) -> Result<Vec<ExportedRegistration>, StoreError> {
        let placeholders = crate::sql::placeholders(ids.len());
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM registration WHERE client_id IN ({placeholders})"
        );
        let rows: Vec<ExportRow> = dispatch!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for id in ids {
                query = query.bind(id.as_str());
            }
            query.fetch_all(pool).await
        })?;
        let mut by_id: HashMap<String, ExportedRegistration> = HashMap::with_capacity(rows.len());
        for row in rows {
            let reg = ExportedRegistration::try_from(row)?;
            by_id.insert(reg.client_id.clone(), reg);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }
}
