//! A stored registration, the row it is read from and the columns it is written to.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::sql::{self, Column};
use crate::StoreError;

/// Lifecycle of a registration as the Data Holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationStatus {
    /// Registered and usable.
    Active,
    /// Revoked by an administrator; keeps the software_id until released.
    Revoked,
    /// Released by an administrator (a recipient that lost its client_id, or a revoked
    /// registration): refused like a revoked one, but the software_id is free again.
    Released,
    /// Deleted by the recipient (DELETE /register/{id}); software_id free again.
    Deleted,
    /// Removed because the Register reports the software product REMOVED; software_id free.
    Removed,
}

impl RegistrationStatus {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Released => "released",
            Self::Deleted => "deleted",
            Self::Removed => "removed",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "revoked" => Self::Revoked,
            "released" => Self::Released,
            "deleted" => Self::Deleted,
            "removed" => Self::Removed,
            _ => return None,
        })
    }
}

/// A stored registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
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
    /// Why the status last changed (revocation reason etc.).
    pub status_reason: Option<String>,
    /// Software product status at the Register.
    pub register_sp_status: Option<String>,
    /// Recipient status at the Register.
    pub register_dr_status: Option<String>,
    /// When the Register statuses were last synced.
    pub register_synced_at: Option<i64>,
    /// The SSA as received.
    pub ssa: String,
    /// The registered metadata.
    pub metadata: Metadata,
    /// `client_id_issued_at`.
    pub client_id_issued_at: i64,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

#[cfg(any(test, feature = "fixtures"))]
impl Registration {
    /// An active registration with placeholder content, created, issued and updated at `at`:
    /// the tests' starting point (they change fields with struct update syntax).
    #[must_use]
    pub fn example(client_id: &str, software_id: &str, at: i64) -> Self {
        Self {
            client_id: client_id.into(),
            software_id: software_id.into(),
            org_id: "org".into(),
            org_name: "Brand".into(),
            client_name: "Client".into(),
            legal_entity_id: None,
            legal_entity_name: None,
            jwks_uri: "https://adr.example/jwks".into(),
            scope: "cdr:registration".into(),
            status: RegistrationStatus::Active,
            status_reason: None,
            register_sp_status: None,
            register_dr_status: None,
            register_synced_at: None,
            ssa: "a.b.c".into(),
            metadata: Metadata::default(),
            client_id_issued_at: at,
            created_at: at,
            updated_at: at,
        }
    }
}

/// The columns a registration is read from, in the order [`RegistrationRow::from_sqlite_row`]
/// reads them.
pub(crate) const REGISTRATION_COLUMNS: &str = "client_id, software_id, org_id, org_name, \
    client_name, legal_entity_id, legal_entity_name, jwks_uri, scope, status, status_reason, \
    register_sp_status, register_dr_status, register_synced_at, ssa, metadata, \
    client_id_issued_at, created_at, updated_at";

/// One registration by client id: the pool's read and SQLite's read on the calling thread.
pub(crate) static SELECT_REGISTRATION: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {REGISTRATION_COLUMNS} FROM registration WHERE client_id = $1")
});

/// The columns a new registration is written with (the others start NULL), in the order of
/// [`INSERT_REGISTRATION`], which the sqlx path and SQLite's batch run. PostgreSQL's batch stores
/// registrations through the function `dcr_insert_registrations` (its migration has the INSERT
/// the function runs); the function's registration arguments follow this order, and its caller
/// binds them from this list.
pub(crate) const NEW_REGISTRATION: [Column<Registration>; 16] = [
    Column::text("client_id", |r| sql::text(&r.client_id)),
    Column::text("software_id", |r| sql::text(&r.software_id)),
    // The software product id as the unique index compares it (ids are case-insensitive).
    Column::text("software_key", |r| {
        Some(Cow::Owned(r.software_id.to_ascii_lowercase()))
    }),
    Column::text("org_id", |r| sql::text(&r.org_id)),
    Column::text("org_name", |r| sql::text(&r.org_name)),
    Column::text("client_name", |r| sql::text(&r.client_name)),
    Column::text("legal_entity_id", |r| {
        sql::opt_text(r.legal_entity_id.as_deref())
    }),
    Column::text("legal_entity_name", |r| {
        sql::opt_text(r.legal_entity_name.as_deref())
    }),
    Column::text("jwks_uri", |r| sql::text(&r.jwks_uri)),
    Column::text("scope", |r| sql::text(&r.scope)),
    Column::text("status", |r| sql::text(r.status.as_str())),
    Column::text("ssa", |r| sql::text(&r.ssa)),
    // Without a second copy of the SSA (`Metadata::stored`).
    Column::text("metadata", |r| Some(r.metadata.stored(&r.ssa))),
    Column::int("client_id_issued_at", |r| r.client_id_issued_at),
    Column::int("created_at", |r| r.created_at),
    Column::int("updated_at", |r| r.updated_at),
];

/// The INSERT of a new registration, from [`NEW_REGISTRATION`].
pub(crate) static INSERT_REGISTRATION: LazyLock<String> =
    LazyLock::new(|| sql::insert("registration", &NEW_REGISTRATION));

#[derive(sqlx::FromRow)]
pub(crate) struct RegistrationRow {
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
    ssa: String,
    metadata: String,
    client_id_issued_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl RegistrationRow {
    /// Reads the columns of [`REGISTRATION_COLUMNS`], in that order.
    pub(crate) fn from_sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            client_id: row.get(0)?,
            software_id: row.get(1)?,
            org_id: row.get(2)?,
            org_name: row.get(3)?,
            client_name: row.get(4)?,
            legal_entity_id: row.get(5)?,
            legal_entity_name: row.get(6)?,
            jwks_uri: row.get(7)?,
            scope: row.get(8)?,
            status: row.get(9)?,
            status_reason: row.get(10)?,
            register_sp_status: row.get(11)?,
            register_dr_status: row.get(12)?,
            register_synced_at: row.get(13)?,
            ssa: row.get(14)?,
            metadata: row.get(15)?,
            client_id_issued_at: row.get(16)?,
            created_at: row.get(17)?,
            updated_at: row.get(18)?,
        })
    }
}

impl TryFrom<RegistrationRow> for Registration {
    type Error = StoreError;
    fn try_from(r: RegistrationRow) -> Result<Self, StoreError> {
        let status =
            RegistrationStatus::parse(&r.status).ok_or_else(|| StoreError::Inconsistent {
                table: "registration",
                column: "status",
                message: format!("unknown status {:?} for {}", r.status, r.client_id),
            })?;
        let metadata =
            Metadata::from_stored(r.metadata, &r.ssa).map_err(|e| StoreError::Inconsistent {
                table: "registration",
                column: "metadata",
                message: format!("not a JSON object ({e}) for {}", r.client_id),
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
            ssa: r.ssa,
            metadata,
            client_id_issued_at: r.client_id_issued_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}
