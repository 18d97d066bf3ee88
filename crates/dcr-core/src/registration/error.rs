//! The registration errors: RFC 7591 codes, what each failure means to the caller, and the
//! descriptions this server answers with (docs/dcr-rules.md §8).

use super::*;

/// The RFC 7591 §3.2.2 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationErrorCode {
    /// RFC 7591: "The value of one or more redirection URIs is invalid."
    InvalidRedirectUri,
    /// RFC 7591: "The value of one of the client metadata fields is invalid and the server has
    /// rejected this request."
    InvalidClientMetadata,
    /// RFC 7591: "The software statement presented is invalid."
    InvalidSoftwareStatement,
    /// RFC 7591: "The software statement presented is not approved for use by this authorization
    /// server." Not used (project decision), kept for completeness.
    UnapprovedSoftwareStatement,
}

impl RegistrationErrorCode {
    /// The wire value of `error`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
        }
    }
}

impl fmt::Display for RegistrationErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a registration failure means to the caller, beyond its wire form: the caller acts on
/// this, never on the description's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// The request or SSA is invalid as sent.
    #[default]
    Invalid,
    /// The SSA is signed with a `kid` the Register JWK set lacks: refetch that set once.
    UnknownSsaKid,
    /// The request is signed with a `kid` the recipient's JWK set lacks: refetch that set once.
    UnknownRequestKid,
    /// The request's `jti` was used before.
    ReplayedJti,
    /// The software product already has a registration.
    DuplicateRegistration,
}

/// A registration failure: HTTP 400 with `{"error": code, "error_description": description}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct RegistrationError {
    /// The RFC 7591 error code.
    pub code: RegistrationErrorCode,
    /// Human-readable ASCII description (attacker-controlled text is sanitised).
    pub description: Cow<'static, str>,
    /// What the failure means to the caller.
    pub cause: Cause,
}

/// Description of a registration request signed with a `kid` absent from the ADR JWK set.
pub const REQUEST_UNKNOWN_KID: &str =
    "The registration request signature could not be verified: unknown 'kid'.";

/// Description of a duplicate registration (project decision).
pub const DUPLICATE_REGISTRATION: &str =
    "Duplicate registrations for a given software_id are not valid.";

impl RegistrationError {
    /// An error with this code and description.
    #[must_use]
    pub fn new(code: RegistrationErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            cause: Cause::Invalid,
        }
    }

    /// The same error, with what it means to the caller.
    #[must_use]
    pub fn because(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    /// `invalid_redirect_uri`.
    #[must_use]
    pub fn invalid_redirect_uri(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::InvalidRedirectUri, description)
    }

    /// `invalid_client_metadata`.
    #[must_use]
    pub fn invalid_client_metadata(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::InvalidClientMetadata, description)
    }

    /// `invalid_software_statement`.
    #[must_use]
    pub fn invalid_software_statement(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::InvalidSoftwareStatement, description)
    }

    /// `unapproved_software_statement` (not used by this server's rules).
    #[must_use]
    pub fn unapproved_software_statement(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            RegistrationErrorCode::UnapprovedSoftwareStatement,
            description,
        )
    }

    /// POST for a `software_id` that already has a registration (project decision: 400
    /// `invalid_client_metadata`).
    #[must_use]
    pub fn duplicate_registration() -> Self {
        Self::invalid_client_metadata(DUPLICATE_REGISTRATION).because(Cause::DuplicateRegistration)
    }

    /// A registration request whose `jti` was already used (project decision).
    #[must_use]
    pub fn replayed_jti() -> Self {
        Self::invalid_client_metadata("The 'jti' claim value has already been used.")
            .because(Cause::ReplayedJti)
    }

    /// Whether the failure is an unknown signing `kid` (SSA or request): the caller should refetch
    /// the relevant JWK set once and retry.
    #[must_use]
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self.cause, Cause::UnknownSsaKid | Cause::UnknownRequestKid)
    }

    /// Whether the unknown `kid` was the SSA's (refetch the Register JWK set).
    #[must_use]
    pub fn is_unknown_ssa_kid(&self) -> bool {
        self.cause == Cause::UnknownSsaKid
    }

    /// Whether the unknown `kid` was the request's (refetch the ADR JWK set).
    #[must_use]
    pub fn is_unknown_request_kid(&self) -> bool {
        self.cause == Cause::UnknownRequestKid
    }

    /// The JSON body: `{"error", "error_description"}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "error": self.code.as_str(),
            "error_description": self.description,
        })
    }
}
