//! The audit trail's vocabulary: what happened ([`Action`]) and who did it ([`Actor`]), as
//! stored in `audit_event.action` and `audit_event.actor`. One definition for every writer (the
//! DCR API, the portal, the command line, the Register sync, the store) and for the portal's
//! audit page, which is compiled to WASM too: hence a crate with no dependencies.

use std::fmt;

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A recipient registered (`POST /register`).
    RegistrationCreate,
    /// A recipient updated its registration (`PUT /register/{client_id}`).
    RegistrationUpdate,
    /// A recipient deleted its registration (`DELETE /register/{client_id}`).
    RegistrationDelete,
    /// An administrator revoked a registration.
    RegistrationRevoke,
    /// An administrator released a registration (its software_id may register again).
    RegistrationRelease,
    /// The CDR Register's statuses of the registration's product or recipient changed.
    RegistrationRegisterStatus,
    /// The Register reported the product REMOVED: the registration was cleaned up.
    RegistrationRemove,
    /// An administrator signed in to the portal.
    AdminSignIn,
    /// An administrator signed out.
    AdminSignOut,
    /// A sign-in (or a password change) failed: a wrong password or an unknown account.
    AdminSignInFailed,
    /// Sign-in was locked for an account or an address after repeated failures.
    AdminSignInLocked,
    /// An administrator changed their password in the portal.
    AdminPasswordChange,
    /// An administrator account was created on the command line.
    AdminCreate,
    /// An administrator's password was set on the command line.
    AdminPasswordReset,
}

impl Action {
    /// Every action, in the order the audit page offers them.
    pub const ALL: [Action; 14] = [
        Action::RegistrationCreate,
        Action::RegistrationUpdate,
        Action::RegistrationDelete,
        Action::RegistrationRevoke,
        Action::RegistrationRelease,
        Action::RegistrationRegisterStatus,
        Action::RegistrationRemove,
        Action::AdminSignIn,
        Action::AdminSignOut,
        Action::AdminSignInFailed,
        Action::AdminSignInLocked,
        Action::AdminPasswordChange,
        Action::AdminCreate,
        Action::AdminPasswordReset,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationCreate => "registration.create",
            Self::RegistrationUpdate => "registration.update",
            Self::RegistrationDelete => "registration.delete",
            Self::RegistrationRevoke => "registration.revoke",
            Self::RegistrationRelease => "registration.release",
            Self::RegistrationRegisterStatus => "registration.register_status",
            Self::RegistrationRemove => "registration.remove",
            Self::AdminSignIn => "admin.sign_in",
            Self::AdminSignOut => "admin.sign_out",
            Self::AdminSignInFailed => "admin.sign_in_failed",
            Self::AdminSignInLocked => "admin.sign_in_locked",
            Self::AdminPasswordChange => "admin.password_change",
            Self::AdminCreate => "admin.create",
            Self::AdminPasswordReset => "admin.password_reset",
        }
    }

    /// The action a stored name stands for.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Action> for String {
    fn from(a: Action) -> Self {
        a.as_str().to_string()
    }
}

/// Who caused an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// An administrator, by username: `admin:<username>`.
    Admin(&'a str),
    /// A recipient's software product, by software_id: `recipient:<software_id>`.
    Recipient(&'a str),
    /// The portal itself (a sign-in lock): `portal`.
    Portal,
    /// The command line (`dcr-server admin …`): `cli`.
    Cli,
    /// The CDR Register status sync: `register-sync`.
    RegisterSync,
}

impl fmt::Display for Actor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin(name) => write!(f, "admin:{name}"),
            Self::Recipient(software_id) => write!(f, "recipient:{software_id}"),
            Self::Portal => f.write_str("portal"),
            Self::Cli => f.write_str("cli"),
            Self::RegisterSync => f.write_str("register-sync"),
        }
    }
}

impl From<Actor<'_>> for String {
    fn from(a: Actor<'_>) -> Self {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
        assert_eq!(Action::parse("registration.nothing"), None);
    }

    #[test]
    fn actors_are_written_as_stored() {
        assert_eq!(Actor::Admin("alice").to_string(), "admin:alice");
        assert_eq!(Actor::Recipient("sw-1").to_string(), "recipient:sw-1");
        assert_eq!(String::from(Actor::RegisterSync), "register-sync");
        assert_eq!(String::from(Actor::Portal), "portal");
        assert_eq!(String::from(Actor::Cli), "cli");
    }
}
