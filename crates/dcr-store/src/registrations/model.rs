//! A stored registration, and the row it is read from.

use serde::{Deserialize, Serialize};

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
    /// The registered metadata (JSON).
    pub metadata: String,
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
            metadata: "{}".into(),
            client_id_issued_at: at,
            created_at: at,
            updated_at: at,
        }
    }
}

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
    /// Reads the columns of `REGISTRATION_COLUMNS`, in that order.
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
            metadata: r.metadata,
            client_id_issued_at: r.client_id_issued_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}
