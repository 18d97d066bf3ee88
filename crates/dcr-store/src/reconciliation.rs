//! Reconciliation with the downstream authorization server (docs/provisioning.md,
//! "Reconciliation"): what each run found (`provisioning_drift`, replaced as a whole by each
//! finished run) and the runs themselves (`provisioning_reconciliation`).

use crate::{dispatch, in_tx, Page, Store, StoreError};

/// How a registration's client at the downstream differs from what it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    /// The registration is active or revoked here, and its client is gone there.
    Missing,
    /// The registration is deleted, released or removed here, and its client is still there.
    Extra,
    /// The client is enabled there while the registration is revoked here, or the other way
    /// round.
    Disabled,
    /// Other fields of the client differ (the detail names them).
    Metadata,
    /// The downstream could not be asked (the detail says why).
    Unchecked,
}

impl DriftKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Extra => "extra",
            Self::Disabled => "disabled",
            Self::Metadata => "metadata",
            Self::Unchecked => "unchecked",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "missing" => Self::Missing,
            "extra" => Self::Extra,
            "disabled" => Self::Disabled,
            "metadata" => Self::Metadata,
            "unchecked" => Self::Unchecked,
            _ => return None,
        })
    }
}

/// One registration whose client differs from what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The registration.
    pub client_id: String,
    /// How it differs.
    pub kind: DriftKind,
    /// In words: the fields that differ, or why the downstream could not be asked.
    pub detail: String,
    /// When the run found it.
    pub found_at: i64,
    /// When the run repaired it, if it did.
    pub repaired_at: Option<i64>,
}

/// One reconciliation run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Its number (0 before it is recorded).
    pub reconciliation_id: i64,
    /// Started.
    pub started_at: i64,
    /// Finished.
    pub finished_at: i64,
    /// Who ran it: `provisioning` (the periodic check) or `cli`.
    pub actor: String,
    /// Whether it repaired what it found.
    pub repair: bool,
    /// Registrations checked.
    pub checked: i64,
    /// Registrations found drifted.
    pub drifted: i64,
    /// Registrations repaired.
    pub repaired: i64,
}

#[derive(sqlx::FromRow)]
struct DriftRow {
    client_id: String,
    kind: String,
    detail: String,
    found_at: i64,
    repaired_at: Option<i64>,
}

impl TryFrom<DriftRow> for Drift {
    type Error = StoreError;
    fn try_from(r: DriftRow) -> Result<Self, StoreError> {
        let kind = DriftKind::parse(&r.kind).ok_or_else(|| StoreError::Inconsistent {
            table: "provisioning_drift",
            column: "kind",
            message: format!("unknown kind {:?} for {}", r.kind, r.client_id),
        })?;
        Ok(Self {
            client_id: r.client_id,
            kind,
            detail: r.detail,
            found_at: r.found_at,
            repaired_at: r.repaired_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    reconciliation_id: i64,
    started_at: i64,
    finished_at: i64,
    actor: String,
    repair: i64,
    checked: i64,
    drifted: i64,
    repaired: i64,
}

impl From<RunRow> for Reconciliation {
    fn from(r: RunRow) -> Self {
        Self {
            reconciliation_id: r.reconciliation_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            actor: r.actor,
            repair: r.repair != 0,
            checked: r.checked,
            drifted: r.drifted,
            repaired: r.repaired,
        }
    }
}

const DRIFT_COLUMNS: &str = "client_id, kind, detail, found_at, repaired_at";

impl Store {
    /// Records a finished run and what it found, in one transaction: the drift of earlier runs
    /// is replaced by `drift`. Answers the run's number.
    ///
    /// # Errors
    /// Database failures.
    pub async fn record_reconciliation(
        &self,
        run: &Reconciliation,
        drift: &[Drift],
    ) -> Result<i64, StoreError> {
        in_tx!(self, tx => {
            sqlx::query("DELETE FROM provisioning_drift")
                .execute(&mut *tx)
                .await?;
            for d in drift {
                sqlx::query(&format!(
                    "INSERT INTO provisioning_drift ({DRIFT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                ))
                .bind(&d.client_id)
                .bind(d.kind.as_str())
                .bind(&d.detail)
                .bind(d.found_at)
                .bind(d.repaired_at)
                .execute(&mut *tx)
                .await?;
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO provisioning_reconciliation \
                 (started_at, finished_at, actor, repair, checked, drifted, repaired) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING reconciliation_id",
            )
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(&run.actor)
            .bind(i64::from(run.repair))
            .bind(run.checked)
            .bind(run.drifted)
            .bind(run.repaired)
            .fetch_one(&mut *tx)
            .await?;
            Ok::<i64, StoreError>(id)
        })
    }

    /// The last finished run, if any.
    ///
    /// # Errors
    /// Database failures.
    pub async fn last_reconciliation(&self) -> Result<Option<Reconciliation>, StoreError> {
        let row: Option<RunRow> = dispatch!(self, pool => {
            sqlx::query_as(
                "SELECT reconciliation_id, started_at, finished_at, actor, repair, checked, \
                 drifted, repaired FROM provisioning_reconciliation \
                 ORDER BY reconciliation_id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(Reconciliation::from))
    }

    /// What the last finished run found, by registration, one page of `per_page` (at most 500).
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn list_drift(&self, page: u32, per_page: u32) -> Result<Page<Drift>, StoreError> {
        let limit = i64::from(per_page.clamp(1, 500));
        let offset = i64::from(page.saturating_sub(1)) * limit;
        let (rows, total): (Vec<DriftRow>, (i64,)) = dispatch!(self, pool => {
            async {
                let rows = sqlx::query_as(&format!(
                    "SELECT {DRIFT_COLUMNS} FROM provisioning_drift ORDER BY client_id \
                     LIMIT $1 OFFSET $2"
                ))
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
                let total = sqlx::query_as("SELECT count(*) FROM provisioning_drift")
                    .fetch_one(pool)
                    .await?;
                Ok::<_, sqlx::Error>((rows, total))
            }
            .await
        })?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(Drift::try_from)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total.0).unwrap_or_default(),
            more: false,
        })
    }

    /// What the last finished run found for one registration, if anything.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn drift_of(&self, client_id: &str) -> Result<Option<Drift>, StoreError> {
        let row: Option<DriftRow> = dispatch!(self, pool => {
            sqlx::query_as(&format!(
                "SELECT {DRIFT_COLUMNS} FROM provisioning_drift WHERE client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(Drift::try_from).transpose()
    }
}
