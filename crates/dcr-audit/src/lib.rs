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
    /// An administrator revoked every active registration of a brand or a legal entity at once
    /// (one event for the group, beside each registration's own `registration.revoke`).
    RegistrationGroupRevoke,
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
    /// An account's role was changed (the before and after roles are in the event).
    AdminRoleChange,
    /// An account was disabled: it cannot sign in, and its sessions ended.
    AdminDisable,
    /// A disabled account was enabled again.
    AdminEnable,
    /// Someone's sessions were ended (by themselves on the sessions page, or by an administrator).
    AdminSessionsEnded,
    /// Someone tried something their role does not allow (refused).
    AdminForbidden,
    /// An account enrolled a TOTP second factor (with new recovery codes).
    AdminSecondFactorAdded,
    /// An account removed its own second factor.
    AdminSecondFactorRemoved,
    /// An administrator (or the command line) reset someone's second factors.
    AdminSecondFactorReset,
    /// A sign-in's second step was completed with a one-time recovery code.
    AdminRecoveryCodeUsed,
    /// A wrong (or replayed) second-factor code at sign-in, enrolment or removal.
    AdminSecondFactorFailed,
    /// The registration's client was created at the downstream authorization server.
    ProvisioningCreate,
    /// Its client there was updated to the registration's metadata.
    ProvisioningUpdate,
    /// Its client there was disabled (the registration was revoked).
    ProvisioningDisable,
    /// Its client there was deleted.
    ProvisioningDelete,
    /// The downstream refused a change (it is retried until someone fixes the cause).
    ProvisioningRefused,
    /// An administrator asked for the waiting changes to be delivered now.
    ProvisioningRetry,
    /// A reconciliation queued a repair of a client that differed from the registration.
    ProvisioningRepair,
    /// The registration list was exported (CSV or JSON lines), with the format and filters.
    ExportRegistrations,
    /// The audit log was exported (CSV or JSON lines), with the format and filters.
    ExportAudit,
    /// An operator sent a webhook event given up after its last attempt (a dead letter) again.
    WebhookRetry,
}

impl Action {
    /// Every action, in the order the audit page offers them.
    pub const ALL: [Action; 35] = [
        Action::RegistrationCreate,
        Action::RegistrationUpdate,
        Action::RegistrationDelete,
        Action::RegistrationRevoke,
        Action::RegistrationGroupRevoke,
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
        Action::AdminRoleChange,
        Action::AdminDisable,
        Action::AdminEnable,
        Action::AdminSessionsEnded,
        Action::AdminForbidden,
        Action::AdminSecondFactorAdded,
        Action::AdminSecondFactorRemoved,
        Action::AdminSecondFactorReset,
        Action::AdminRecoveryCodeUsed,
        Action::AdminSecondFactorFailed,
        Action::ProvisioningCreate,
        Action::ProvisioningUpdate,
        Action::ProvisioningDisable,
        Action::ProvisioningDelete,
        Action::ProvisioningRefused,
        Action::ProvisioningRetry,
        Action::ProvisioningRepair,
        Action::ExportRegistrations,
        Action::ExportAudit,
        Action::WebhookRetry,
    ];

    /// What administrators do to registrations, to accounts and with the data, as the portal's
    /// overview lists it (sign-ins, sign-outs and the system's own actions left out).
    pub const ADMINISTRATION: [Action; 15] = [
        Action::RegistrationRevoke,
        Action::RegistrationGroupRevoke,
        Action::RegistrationRelease,
        Action::AdminCreate,
        Action::AdminPasswordReset,
        Action::AdminRoleChange,
        Action::AdminDisable,
        Action::AdminEnable,
        Action::AdminSessionsEnded,
        Action::AdminSecondFactorReset,
        Action::ProvisioningRetry,
        Action::ProvisioningRepair,
        Action::ExportRegistrations,
        Action::ExportAudit,
        Action::WebhookRetry,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationCreate => "registration.create",
            Self::RegistrationUpdate => "registration.update",
            Self::RegistrationDelete => "registration.delete",
            Self::RegistrationRevoke => "registration.revoke",
            Self::RegistrationGroupRevoke => "registration.group_revoke",
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
            Self::AdminRoleChange => "admin.role_change",
            Self::AdminDisable => "admin.disable",
            Self::AdminEnable => "admin.enable",
            Self::AdminSessionsEnded => "admin.sessions_ended",
            Self::AdminForbidden => "admin.forbidden",
            Self::AdminSecondFactorAdded => "admin.second_factor_added",
            Self::AdminSecondFactorRemoved => "admin.second_factor_removed",
            Self::AdminSecondFactorReset => "admin.second_factor_reset",
            Self::AdminRecoveryCodeUsed => "admin.recovery_code_used",
            Self::AdminSecondFactorFailed => "admin.second_factor_failed",
            Self::ProvisioningCreate => "provisioning.create",
            Self::ProvisioningUpdate => "provisioning.update",
            Self::ProvisioningDisable => "provisioning.disable",
            Self::ProvisioningDelete => "provisioning.delete",
            Self::ProvisioningRefused => "provisioning.refused",
            Self::ProvisioningRetry => "provisioning.retry",
            Self::ProvisioningRepair => "provisioning.repair",
            Self::ExportRegistrations => "export.registrations",
            Self::ExportAudit => "export.audit",
            Self::WebhookRetry => "webhook.retry",
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
    /// Provisioning into the downstream authorization server (the deliverer and the periodic
    /// reconciliation): `provisioning`.
    Provisioning,
    /// Single sign-on, on the identity provider's word (an account made or its role changed
    /// at sign-on): `sso`.
    Sso,
}

impl fmt::Display for Actor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin(name) => write!(f, "admin:{name}"),
            Self::Recipient(software_id) => write!(f, "recipient:{software_id}"),
            Self::Portal => f.write_str("portal"),
            Self::Cli => f.write_str("cli"),
            Self::RegisterSync => f.write_str("register-sync"),
            Self::Provisioning => f.write_str("provisioning"),
            Self::Sso => f.write_str("sso"),
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
        assert_eq!(String::from(Actor::Provisioning), "provisioning");
        assert_eq!(String::from(Actor::Portal), "portal");
        assert_eq!(String::from(Actor::Cli), "cli");
    }
}
