//! The Register's participant statuses and what they mean for a registration (docs/dcr-rules.md §10.1 and the
//! responsibilities matrix of §10.2, CDS "Participant Statuses"). Pure: no I/O, no clock.
//!
//! - Software product: `ACTIVE`, `INACTIVE`, `REMOVED`. Recipient (legal entity): `ACTIVE`,
//!   `SUSPENDED`, `REVOKED`, `SURRENDERED`. Any other value is ignored and the previous status
//!   kept ("Unknown/missing status value → ignore and keep using the previous status").
//! - A product or recipient that is not `ACTIVE` gets no tokens (the token endpoint checks the
//!   stored statuses).
//! - A product `REMOVED`, or a recipient `REVOKED` or `SURRENDERED` (which the Register cascades
//!   to the product as `REMOVED`), means "cleanup registration": an active registration becomes
//!   `removed`.

/// A software product's status at the Register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftwareProductStatus {
    /// May get tokens and data.
    Active,
    /// No data, no new consents; withdrawal only.
    Inactive,
    /// Gone from the ecosystem: invalidate consents, clean up the registration.
    Removed,
}

impl SoftwareProductStatus {
    /// Parses a Register value (case-insensitively); `None` for values the standard does not
    /// define.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ACTIVE" => Some(Self::Active),
            "INACTIVE" => Some(Self::Inactive),
            "REMOVED" => Some(Self::Removed),
            _ => None,
        }
    }

    /// The canonical Register spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::Removed => "REMOVED",
        }
    }
}

/// A data recipient's (legal entity's) accreditation status at the Register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataRecipientStatus {
    /// Accredited.
    Active,
    /// Suspended: its products are treated as inactive.
    Suspended,
    /// Revoked: its products are removed.
    Revoked,
    /// Surrendered: its products are removed.
    Surrendered,
}

impl DataRecipientStatus {
    /// Parses a Register value (case-insensitively); `None` for values the standard does not
    /// define.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ACTIVE" => Some(Self::Active),
            "SUSPENDED" => Some(Self::Suspended),
            "REVOKED" => Some(Self::Revoked),
            "SURRENDERED" => Some(Self::Surrendered),
            _ => None,
        }
    }

    /// The canonical Register spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Revoked => "REVOKED",
            Self::Surrendered => "SURRENDERED",
        }
    }
}

/// What is stored for a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    /// The registration is `active` (only active ones are cleaned up).
    pub active: bool,
    /// Stored software product status.
    pub sp: Option<&'a str>,
    /// Stored recipient status.
    pub dr: Option<&'a str>,
}

/// The statuses to store and whether to clean up, when anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Software product status to store.
    pub sp: Option<String>,
    /// Recipient status to store.
    pub dr: Option<String>,
    /// Move the registration from `active` to `removed`.
    pub remove: bool,
    /// Human-readable account of the change, for the audit trail.
    pub reason: String,
}

/// Whether these statuses call for cleaning up the registration.
#[must_use]
pub fn requires_cleanup(sp: Option<&str>, dr: Option<&str>) -> bool {
    sp.and_then(SoftwareProductStatus::parse) == Some(SoftwareProductStatus::Removed)
        || matches!(
            dr.and_then(DataRecipientStatus::parse),
            Some(DataRecipientStatus::Revoked | DataRecipientStatus::Surrendered)
        )
}

/// Applies what the Register reports (`None`: the id is not in its list) to what is stored.
/// Returns `None` when nothing is to be written.
#[must_use]
pub fn decide(
    current: Current<'_>,
    reported_sp: Option<&str>,
    reported_dr: Option<&str>,
) -> Option<Decision> {
    let sp = reported_sp
        .and_then(SoftwareProductStatus::parse)
        .map(|s| s.as_str().to_string())
        .or_else(|| current.sp.map(ToString::to_string));
    let dr = reported_dr
        .and_then(DataRecipientStatus::parse)
        .map(|s| s.as_str().to_string())
        .or_else(|| current.dr.map(ToString::to_string));
    let remove = current.active && requires_cleanup(sp.as_deref(), dr.as_deref());
    let changed = sp.as_deref() != current.sp || dr.as_deref() != current.dr;
    if !changed && !remove {
        return None;
    }
    let show = |s: Option<&str>| s.unwrap_or("unknown").to_string();
    let mut parts = Vec::new();
    if sp.as_deref() != current.sp {
        parts.push(format!(
            "software product {} -> {}",
            show(current.sp),
            show(sp.as_deref())
        ));
    }
    if dr.as_deref() != current.dr {
        parts.push(format!(
            "data recipient {} -> {}",
            show(current.dr),
            show(dr.as_deref())
        ));
    }
    let mut reason = if parts.is_empty() {
        "CDR Register status".to_string()
    } else {
        format!("CDR Register status: {}", parts.join(", "))
    };
    if remove {
        reason.push_str("; registration removed (docs/dcr-rules.md §10.2 cleanup)");
    }
    Some(Decision {
        sp,
        dr,
        remove,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur<'a>(active: bool, sp: Option<&'a str>, dr: Option<&'a str>) -> Current<'a> {
        Current { active, sp, dr }
    }

    #[test]
    fn first_sync_records_both_statuses() {
        let d = decide(cur(true, None, None), Some("ACTIVE"), Some("ACTIVE")).unwrap();
        assert_eq!(d.sp.as_deref(), Some("ACTIVE"));
        assert_eq!(d.dr.as_deref(), Some("ACTIVE"));
        assert!(!d.remove);
    }

    #[test]
    fn unchanged_statuses_write_nothing() {
        let c = cur(true, Some("ACTIVE"), Some("ACTIVE"));
        assert_eq!(
            decide(c, Some("ACTIVE"), Some("active")),
            None,
            "case-insensitive"
        );
        assert_eq!(decide(c, None, None), None, "missing from the lists: keep");
    }

    #[test]
    fn unknown_values_are_ignored_and_the_previous_kept() {
        let c = cur(true, Some("INACTIVE"), Some("ACTIVE"));
        for (sp, dr) in [
            (Some("PAUSED"), Some("ACTIVE")),
            (Some(""), Some("ON_HOLD")),
            (None, Some("??")),
        ] {
            assert_eq!(decide(c, sp, dr), None, "{sp:?} {dr:?}");
        }
        let d = decide(cur(true, None, None), Some("PAUSED"), Some("ACTIVE")).unwrap();
        assert_eq!(d.sp, None, "an unknown first value is not stored");
    }

    #[test]
    fn inactive_and_suspended_are_recorded_without_cleanup() {
        let c = cur(true, Some("ACTIVE"), Some("ACTIVE"));
        let d = decide(c, Some("INACTIVE"), Some("ACTIVE")).unwrap();
        assert!(!d.remove);
        assert!(d.reason.contains("ACTIVE -> INACTIVE"), "{}", d.reason);
        let d = decide(c, Some("INACTIVE"), Some("SUSPENDED")).unwrap();
        assert!(!d.remove);
        assert_eq!(d.dr.as_deref(), Some("SUSPENDED"));
    }

    #[test]
    fn removed_product_and_revoked_or_surrendered_recipient_clean_up() {
        let c = cur(true, Some("ACTIVE"), Some("ACTIVE"));
        assert!(decide(c, Some("REMOVED"), Some("ACTIVE")).unwrap().remove);
        assert!(
            decide(c, Some("ACTIVE"), Some("REVOKED")).unwrap().remove,
            "cascade even if the product list lags"
        );
        assert!(decide(c, None, Some("SURRENDERED")).unwrap().remove);
    }

    #[test]
    fn cleanup_applies_to_active_registrations_only_and_is_retried() {
        let revoked = cur(false, Some("ACTIVE"), Some("ACTIVE"));
        let d = decide(revoked, Some("REMOVED"), None).unwrap();
        assert!(!d.remove, "an administrator's revocation is kept as is");
        let stale = cur(true, Some("REMOVED"), Some("ACTIVE"));
        assert!(
            decide(stale, Some("REMOVED"), Some("ACTIVE"))
                .unwrap()
                .remove,
            "an active registration already marked REMOVED is cleaned up"
        );
    }
}
