//! The registration request (RFC 7591 §3.1 with a signed request, CDS "Client Registration") and
//! its validation pipeline, the stored client metadata and the registration response (RFC 7591
//! §3.2.1). docs/dcr-rules.md §4, §6, §7.
//!
//! Pipeline (docs/dcr-rules.md §6, order as the ACCC reference server, which its tests exercise):
//! 1. [`parse_request`]: compact JWS with `alg` `PS256`/`ES256` (row 2, else
//!    `invalid_client_metadata`); a `software_statement` string that is a compact JWS (row 3, else
//!    `invalid_software_statement`).
//! 2. [`crate::ssa::verify_ssa`] with the Register keys (rows 5-7).
//! 3. [`verify_request`] with the ADR keys from the SSA `jwks_uri` (rows 9 and 12).
//! 4. [`check_sector_identifier`] when the SSA has a `sector_identifier_uri` (row 11).
//! 5. [`validate_metadata`] (rows 13-23 and 25) → [`ClientMetadata`] to persist.
//! 6. [`registration_response`] for the 201/200 body.
//!
//! The `jti` replay check (row 10) and the duplicate `software_id` check (row 24) need storage and
//! are the caller's; [`RegistrationError::duplicate_registration`] and
//! [`RegistrationError::replayed_jti`] give their errors.
//!
//! Metadata handling (CDS: "Any fields the Data Holder does not support MUST be ignored"):
//!
//! | Claim | Treatment |
//! |---|---|
//! | `token_endpoint_auth_method` | required, `private_key_jwt` |
//! | `token_endpoint_auth_signing_alg` | required, one of the policy algorithms |
//! | `id_token_signed_response_alg` | required, one of the policy algorithms |
//! | `grant_types` | required, ⊆ `client_credentials`, `authorization_code`, `refresh_token`, must contain `authorization_code` |
//! | `request_object_signing_alg` | optional, one of the policy algorithms, default `PS256` |
//! | `response_types` | required, exactly `code` (Hybrid is retired: CDS "Data Holders SHALL require response_type = code") |
//! | `authorization_signed_response_alg` | required when `code` is registered (project decision), one of the policy algorithms |
//! | `authorization_encrypted_response_alg` / `_enc` | validated (RSA-OAEP, RSA-OAEP-256 / A256GCM, A128CBC-HS256; `_enc` needs `_alg`) then **not persisted**: this server does not encrypt JARM responses, so they are absent from the response (as the ACCC server without JARM encryption) |
//! | `id_token_encrypted_response_alg` / `_enc` | ignored: only meaningful for Hybrid, which is rejected |
//! | `application_type` | optional, must be `web`, default `web` |
//! | `redirect_uris` | optional, each an exact member of the SSA's list (`invalid_redirect_uri`), default the SSA's list |
//! | `scope` and SSA-derived claims in the request | ignored; taken from the SSA (docs/dcr-rules.md §13 A4) |
//! | anything else | ignored, not stored, not returned |

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::claims::{self, Claim};
use crate::clock::UnixTime;
use crate::jose::{self, printable, Alg, JoseError, JwkSet, JwsHeader};
use crate::ssa::{SsaPolicy, VerifiedSsa};

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

/// The scopes this Data Holder supports by default (banking and energy, plus `openid`, `profile`
/// and `cdr:registration`).
pub const DEFAULT_SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "cdr:registration",
    "bank:accounts.basic:read",
    "bank:accounts.detail:read",
    "bank:transactions:read",
    "bank:payees:read",
    "bank:regular_payments:read",
    "common:customer.basic:read",
    "common:customer.detail:read",
    "energy:electricity.servicepoints.basic:read",
    "energy:electricity.servicepoints.detail:read",
    "energy:electricity.usage:read",
    "energy:electricity.der:read",
    "energy:accounts.basic:read",
    "energy:accounts.detail:read",
    "energy:accounts.paymentschedule:read",
    "energy:accounts.concessions:read",
    "energy:billing:read",
];

/// Grant types a client may register.
pub const SUPPORTED_GRANT_TYPES: &[&str] =
    &["client_credentials", "authorization_code", "refresh_token"];
/// Response types a client may register (Hybrid `code id_token` is retired).
pub const SUPPORTED_RESPONSE_TYPES: &[&str] = &["code"];
/// The only client authentication method (CDS "Client Authentication").
pub const TOKEN_ENDPOINT_AUTH_METHOD: &str = "private_key_jwt";
/// The only `application_type`.
pub const APPLICATION_TYPE: &str = "web";
/// JARM encryption `alg` values accepted in a request (then not persisted).
pub const AUTHORIZATION_ENCRYPTION_ALGS: &[&str] = &["RSA-OAEP", "RSA-OAEP-256"];
/// JARM encryption `enc` values accepted in a request (then not persisted).
pub const AUTHORIZATION_ENCRYPTION_ENCS: &[&str] = &["A256GCM", "A128CBC-HS256"];

/// What registration validation is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPolicy {
    /// This Data Holder's issuer (discovery `issuer`); the request `aud` must equal it.
    pub issuer: String,
    /// Leeway for `exp`, `iat`, `nbf` of the request, in seconds.
    pub clock_skew_secs: i64,
    /// Largest accepted `exp - iat` of the request.
    pub max_request_lifetime_secs: i64,
    /// Scopes this Data Holder supports; the SSA scope is filtered to these.
    pub supported_scopes: Vec<String>,
    /// Accepted JWS algorithms (request signature and the `*_alg` metadata).
    pub signing_algs: Vec<Alg>,
    /// Reject a request registering `code` without `authorization_signed_response_alg` (as ACCC);
    /// when false it defaults to `PS256`.
    pub require_authorization_signed_response_alg: bool,
    /// SSA rules.
    pub ssa: SsaPolicy,
}

impl RegistrationPolicy {
    /// The recommended policy for a Data Holder with this issuer: 60 s skew, 1 h request lifetime,
    /// [`DEFAULT_SUPPORTED_SCOPES`], `PS256` and `ES256`.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            clock_skew_secs: 60,
            max_request_lifetime_secs: 3600,
            supported_scopes: DEFAULT_SUPPORTED_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            signing_algs: vec![Alg::PS256, Alg::ES256],
            require_authorization_signed_response_alg: true,
            ssa: SsaPolicy::default(),
        }
    }

    fn algs_list(&self) -> String {
        self.signing_algs
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn default_alg(&self) -> Alg {
        if self.signing_algs.contains(&Alg::PS256) {
            Alg::PS256
        } else {
            self.signing_algs.first().copied().unwrap_or(Alg::PS256)
        }
    }
}

/// A registration request decoded but not yet trusted.
#[derive(Clone)]
pub struct UnverifiedRequest {
    /// The protected header.
    pub header: JwsHeader,
    /// The unverified claims.
    pub claims: Map<String, Value>,
    /// The `software_statement` (a compact JWS, not yet verified).
    pub software_statement: String,
    raw: String,
}

impl fmt::Debug for UnverifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedRequest")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl UnverifiedRequest {
    /// The request JWT as received (trimmed).
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// Decodes a registration request without trusting it (docs/dcr-rules.md §6 rows 2-3).
///
/// # Errors
/// `invalid_client_metadata` if the body is not a compact JWS signed with `PS256`/`ES256` with a
/// JSON object payload; `invalid_software_statement` if `software_statement` is missing, not a
/// string, or not a compact JWS.
pub fn parse_request(jwt: &str) -> Result<UnverifiedRequest, RegistrationError> {
    let raw = jwt.trim();
    let malformed = || {
        RegistrationError::invalid_client_metadata(
            "The registration request is not a valid signed JWT.",
        )
    };
    let header = jose::decode_header(raw).map_err(|_| malformed())?;
    if Alg::parse(&header.alg).is_none() {
        return Err(RegistrationError::invalid_client_metadata(
            "The registration request must be signed with PS256 or ES256.",
        ));
    }
    let claims = jose::decode_claims_unverified(raw).map_err(|_| malformed())?;
    let ssa_invalid = || {
        RegistrationError::invalid_software_statement(
            "ERR-DCR-006: The software_statement is empty or invalid",
        )
    };
    let software_statement = match claims.get("software_statement") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(ssa_invalid()),
    };
    if jose::decode_header(&software_statement).is_err()
        || jose::decode_claims_unverified(&software_statement).is_err()
    {
        return Err(ssa_invalid());
    }
    Ok(UnverifiedRequest {
        header,
        claims,
        software_statement,
        raw: raw.to_owned(),
    })
}

/// A registration request whose signature (ADR key from the SSA `jwks_uri`) and protocol claims
/// have been checked.
#[derive(Clone)]
pub struct VerifiedRequest {
    kid: String,
    claims: Map<String, Value>,
    jti: String,
    iat: UnixTime,
    exp: UnixTime,
}

impl fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("kid", &self.kid)
            .field("jti", &self.jti)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

impl VerifiedRequest {
    /// The `jti` (for the replay check, which must hold it at least until [`Self::exp`]).
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// The `exp`.
    #[must_use]
    pub fn exp(&self) -> UnixTime {
        self.exp
    }
    /// The `iat`.
    #[must_use]
    pub fn iat(&self) -> UnixTime {
        self.iat
    }
    /// The ADR key that signed it.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// All claims.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

fn meta(desc: impl Into<Cow<'static, str>>) -> RegistrationError {
    RegistrationError::invalid_client_metadata(desc)
}

fn missing(name: &str) -> RegistrationError {
    meta(format!("The '{name}' claim is missing."))
}

fn one_of(name: &str, list: &str) -> RegistrationError {
    meta(format!("The '{name}' claim value must be one of '{list}'."))
}

fn map_request_jose(e: &JoseError) -> RegistrationError {
    match e {
        JoseError::Malformed(_) => meta("The registration request is not a valid signed JWT."),
        JoseError::UnsupportedAlg(_) => {
            meta("The registration request must be signed with PS256 or ES256.")
        }
        JoseError::MissingKid => meta("The registration request header is missing 'kid'."),
        JoseError::UnknownKid(_) => meta(REQUEST_UNKNOWN_KID).because(Cause::UnknownRequestKid),
        JoseError::WeakKey | JoseError::InvalidKey(_) => {
            meta("The registration request signing key is not acceptable.")
        }
        _ => meta("The registration request signature could not be verified."),
    }
}

/// Verifies the registration request signature with the ADR key named by its `kid`, then its
/// protocol claims (docs/dcr-rules.md §4.2, §6 rows 9 and 12).
///
/// `iss` must equal the SSA `software_id` (case-insensitively), `aud` must be (or contain)
/// `policy.issuer`, `exp` must be in the future and `iat` not, within `policy.clock_skew_secs`,
/// `exp - iat` at most `policy.max_request_lifetime_secs`, and `jti` a non-empty string of at most
/// 255 characters.
///
/// # Errors
/// `invalid_client_metadata`; when the `kid` is not in `adr_keys`,
/// [`RegistrationError::is_unknown_kid`] is true (refetch the ADR JWK set once and retry).
/// `invalid_software_statement` if `req` does not carry `ssa`.
pub fn verify_request(
    req: &UnverifiedRequest,
    ssa: &VerifiedSsa,
    adr_keys: &JwkSet,
    now: UnixTime,
    policy: &RegistrationPolicy,
) -> Result<VerifiedRequest, RegistrationError> {
    if req.software_statement != ssa.jwt {
        return Err(RegistrationError::invalid_software_statement(
            "The software_statement does not match the verified software statement.",
        ));
    }
    let (header, m) =
        jose::verify_with_set(&req.raw, adr_keys).map_err(|e| map_request_jose(&e))?;
    let alg_ok = Alg::parse(&header.alg).is_some_and(|a| policy.signing_algs.contains(&a));
    if !alg_ok {
        return Err(meta(format!(
            "The registration request must be signed with one of '{}'.",
            policy.algs_list()
        )));
    }
    let skew = policy.clock_skew_secs;

    // Presence first, in the ACCC order, with its wording.
    let Claim::Present(iss) = claims::string(&m, "iss") else {
        return Err(missing("iss"));
    };
    let iat = match claims::date(&m, "iat") {
        Claim::Present(t) => t,
        Claim::Missing => return Err(missing("iat")),
        Claim::Invalid => return Err(meta("The 'iat' claim value is invalid.")),
    };
    let exp = match claims::date(&m, "exp") {
        Claim::Present(t) => t,
        Claim::Missing => return Err(missing("exp")),
        Claim::Invalid => return Err(meta("The 'exp' claim value is invalid.")),
    };
    let jti = match claims::string(&m, "jti") {
        Claim::Present(s) => s,
        Claim::Missing => return Err(missing("jti")),
        Claim::Invalid => return Err(meta("The 'jti' claim value must be a string.")),
    };
    if !m.contains_key("aud") {
        return Err(missing("aud"));
    }

    if !iss.eq_ignore_ascii_case(&ssa.software_id) {
        return Err(meta(format!(
            "The 'iss' claim value must be set to '{}'.",
            printable(&ssa.software_id)
        )));
    }
    if !claims::aud_contains(m.get("aud"), &[policy.issuer.as_str()]) {
        return Err(meta(format!(
            "The 'aud' claim value must be set to '{}'.",
            printable(&policy.issuer)
        )));
    }
    if now >= exp.saturating_add(skew) {
        return Err(meta("The registration request has expired."));
    }
    if iat > now.saturating_add(skew) {
        return Err(meta("The 'iat' claim value must not be in the future."));
    }
    match claims::date(&m, "nbf") {
        Claim::Present(nbf) if nbf > now.saturating_add(skew) => {
            return Err(meta("The registration request is not yet valid."));
        }
        Claim::Invalid => return Err(meta("The 'nbf' claim value is invalid.")),
        _ => {}
    }
    if exp <= iat {
        return Err(meta(
            "The 'exp' claim value must be after the 'iat' claim value.",
        ));
    }
    if exp - iat > policy.max_request_lifetime_secs {
        return Err(meta(format!(
            "The registration request lifetime ('exp' - 'iat') must not exceed {} seconds.",
            policy.max_request_lifetime_secs
        )));
    }
    if jti.chars().count() > 255 {
        return Err(meta(
            "The 'jti' claim value must not exceed 255 characters.",
        ));
    }

    Ok(VerifiedRequest {
        kid: header.kid.unwrap_or_default(),
        jti: jti.to_owned(),
        iat,
        exp,
        claims: m,
    })
}

/// Everything stored for a registered client: the validated request metadata plus the SSA-derived
/// values. Serialised as JSON by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// SSA `software_id`.
    pub software_id: String,
    /// SSA `software_roles`.
    pub software_roles: String,
    /// SSA `org_id` (brand id).
    pub org_id: String,
    /// SSA `org_name`.
    pub org_name: String,
    /// SSA `legal_entity_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_entity_id: Option<String>,
    /// SSA `legal_entity_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_entity_name: Option<String>,
    /// SSA `client_name`.
    pub client_name: String,
    /// SSA `client_description`.
    pub client_description: String,
    /// SSA `client_uri`.
    pub client_uri: String,
    /// Registered redirect URIs (request subset of, or else, the SSA's).
    pub redirect_uris: Vec<String>,
    /// SSA `sector_identifier_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// SSA `logo_uri`.
    pub logo_uri: String,
    /// SSA `tos_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// SSA `policy_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// SSA `jwks_uri` (verifies client assertions).
    pub jwks_uri: String,
    /// SSA `revocation_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_uri: Option<String>,
    /// SSA `recipient_base_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_base_uri: Option<String>,
    /// `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// Client assertion algorithm.
    pub token_endpoint_auth_signing_alg: Alg,
    /// Registered grant types.
    pub grant_types: Vec<String>,
    /// Registered response types (`["code"]`).
    pub response_types: Vec<String>,
    /// `web`.
    pub application_type: String,
    /// ID token signing algorithm.
    pub id_token_signed_response_alg: Alg,
    /// JARM signing algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<Alg>,
    /// Request object signing algorithm (requested or default).
    pub request_object_signing_alg: Alg,
    /// The SSA, verbatim.
    pub software_statement: String,
    /// SSA scopes this Data Holder supports, space-separated, in SSA order.
    pub scope: String,
}

fn alg_claim(
    m: &Map<String, Value>,
    name: &str,
    policy: &RegistrationPolicy,
    required: bool,
) -> Result<Option<Alg>, RegistrationError> {
    // An empty string is as good as absent (as the ACCC reference treats it).
    let value = m
        .get(name)
        .filter(|v| !v.is_null() && v.as_str() != Some(""));
    match value {
        None if required => Err(missing(name)),
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(Alg::parse)
            .filter(|a| policy.signing_algs.contains(a))
            .map(Some)
            .ok_or_else(|| one_of(name, &policy.algs_list())),
    }
}

/// A string-or-array claim as a list of strings; `Err(())` when ill-typed.
fn string_list(v: &Value) -> Result<Vec<&str>, ()> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().ok_or(())).collect(),
        _ => Err(()),
    }
}

fn dedup(list: Vec<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// The request's `redirect_uris` (each one of the SSA's; docs/dcr-rules.md §6 row 23), for the
/// `sector_identifier_uri` check (row 11), which comes before the other metadata rules.
///
/// # Errors
/// `invalid_redirect_uri` as in [`validate_metadata`].
pub fn requested_redirect_uris(
    req: &VerifiedRequest,
    ssa: &VerifiedSsa,
) -> Result<Vec<String>, RegistrationError> {
    redirect_uris(&req.claims, ssa)
}

fn redirect_uris(
    m: &Map<String, Value>,
    ssa: &VerifiedSsa,
) -> Result<Vec<String>, RegistrationError> {
    let requested = match m.get("redirect_uris") {
        None | Some(Value::Null) => return Ok(ssa.redirect_uris.clone()),
        Some(Value::Array(a)) if a.is_empty() => return Ok(ssa.redirect_uris.clone()),
        Some(v) => string_list(v).map_err(|()| {
            RegistrationError::invalid_redirect_uri(
                "The 'redirect_uris' claim value must be an array of strings.",
            )
        })?,
    };
    for uri in &requested {
        let absolute = url::Url::parse(uri).is_ok();
        if !absolute || !ssa.redirect_uris.iter().any(|s| s == uri) {
            return Err(RegistrationError::invalid_redirect_uri(format!(
                "ERR-DCR-003: The redirect_uri '{}' is not valid as it is not included in the software_statement",
                printable(uri)
            )));
        }
    }
    Ok(dedup(requested))
}

/// SSA scopes that `supported` contains, in SSA order, without duplicates (docs/dcr-rules.md §6 row 25: never
/// an error).
#[must_use]
pub fn filter_scopes(ssa_scope: &str, supported: &[String]) -> String {
    let kept: Vec<&str> = ssa_scope
        .split_ascii_whitespace()
        .filter(|s| supported.iter().any(|x| x == s))
        .collect();
    dedup(kept).join(" ")
}

/// Validates the client metadata of a verified request against the SSA and the policy (docs/dcr-rules.md §6
/// rows 13-23, 25) and builds what is to be stored.
///
/// A redirect URI problem (row 23) is reported before any other metadata problem, as ACCC does;
/// otherwise the first failing rule in spec order is reported.
///
/// # Errors
/// `invalid_redirect_uri` or `invalid_client_metadata`.
pub fn validate_metadata(
    req: &VerifiedRequest,
    ssa: &VerifiedSsa,
    policy: &RegistrationPolicy,
) -> Result<ClientMetadata, RegistrationError> {
    let m = &req.claims;
    let redirect_uris = redirect_uris(m, ssa)?;

    // Row 13.
    let token_endpoint_auth_signing_alg =
        alg_claim(m, "token_endpoint_auth_signing_alg", policy, true)?
            .ok_or_else(|| missing("token_endpoint_auth_signing_alg"))?;
    // Row 14.
    match m.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => return Err(missing("token_endpoint_auth_method")),
        Some(v) if v.as_str() == Some(TOKEN_ENDPOINT_AUTH_METHOD) => {}
        Some(_) => {
            return Err(one_of(
                "token_endpoint_auth_method",
                TOKEN_ENDPOINT_AUTH_METHOD,
            ))
        }
    }
    // Row 15.
    let id_token_signed_response_alg = alg_claim(m, "id_token_signed_response_alg", policy, true)?
        .ok_or_else(|| missing("id_token_signed_response_alg"))?;
    // Row 16.
    let grant_types = match m.get("grant_types") {
        None | Some(Value::Null) => return Err(missing("grant_types")),
        Some(v) => {
            let unsupported = || one_of("grant_types", &SUPPORTED_GRANT_TYPES.join(","));
            let list = string_list(v).map_err(|()| unsupported())?;
            // The missing `authorization_code` is named first (as the ACCC reference does).
            if !list.contains(&"authorization_code") {
                return Err(meta(
                    "The 'grant_types' claim value must contain the 'authorization_code' value.",
                ));
            }
            if !list.iter().all(|g| SUPPORTED_GRANT_TYPES.contains(g)) {
                return Err(unsupported());
            }
            dedup(list)
        }
    };
    // Row 17.
    let request_object_signing_alg = alg_claim(m, "request_object_signing_alg", policy, false)?
        .unwrap_or_else(|| policy.default_alg());
    // Row 18.
    let response_types = match m.get("response_types") {
        None | Some(Value::Null) => return Err(missing("response_types")),
        Some(v) => {
            let list = string_list(v)
                .ok()
                .filter(|l| !l.is_empty() && l.iter().all(|r| SUPPORTED_RESPONSE_TYPES.contains(r)))
                .ok_or_else(|| one_of("response_types", &SUPPORTED_RESPONSE_TYPES.join(",")))?;
            dedup(list)
        }
    };
    // Row 19.
    let authorization_signed_response_alg = if response_types.iter().any(|r| r == "code") {
        let required = policy.require_authorization_signed_response_alg;
        Some(
            alg_claim(m, "authorization_signed_response_alg", policy, required)?
                .unwrap_or_else(|| policy.default_alg()),
        )
    } else {
        alg_claim(m, "authorization_signed_response_alg", policy, false)?
    };
    // Row 20: validated, then not persisted (no JARM encryption).
    let enc_alg = m
        .get("authorization_encrypted_response_alg")
        .filter(|v| !v.is_null());
    let enc_enc = m
        .get("authorization_encrypted_response_enc")
        .filter(|v| !v.is_null());
    if let Some(enc) = enc_enc {
        if !enc
            .as_str()
            .is_some_and(|e| AUTHORIZATION_ENCRYPTION_ENCS.contains(&e))
        {
            return Err(one_of(
                "authorization_encrypted_response_enc",
                &AUTHORIZATION_ENCRYPTION_ENCS.join(","),
            ));
        }
        if enc_alg.is_none() {
            return Err(missing("authorization_encrypted_response_alg"));
        }
    }
    if let Some(alg) = enc_alg {
        if !alg
            .as_str()
            .is_some_and(|a| AUTHORIZATION_ENCRYPTION_ALGS.contains(&a))
        {
            return Err(one_of(
                "authorization_encrypted_response_alg",
                &AUTHORIZATION_ENCRYPTION_ALGS.join(","),
            ));
        }
    }
    // Row 21 does not apply: Hybrid (`code id_token`) was rejected at row 18, so the
    // `id_token_encrypted_response_*` claims are ignored.
    // Row 22.
    match m.get("application_type") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_str() == Some(APPLICATION_TYPE) => {}
        Some(_) => {
            return Err(meta(
                "The 'application_type' claim value must be set to 'web'.",
            ))
        }
    }

    Ok(ClientMetadata {
        software_id: ssa.software_id.clone(),
        software_roles: ssa.software_roles.clone(),
        org_id: ssa.org_id.clone(),
        org_name: ssa.org_name.clone(),
        legal_entity_id: ssa.legal_entity_id.clone(),
        legal_entity_name: ssa.legal_entity_name.clone(),
        client_name: ssa.client_name.clone(),
        client_description: ssa.client_description.clone(),
        client_uri: ssa.client_uri.clone(),
        redirect_uris,
        sector_identifier_uri: ssa.sector_identifier_uri.clone(),
        logo_uri: ssa.logo_uri.clone(),
        tos_uri: ssa.tos_uri.clone(),
        policy_uri: ssa.policy_uri.clone(),
        jwks_uri: ssa.jwks_uri.clone(),
        revocation_uri: ssa.revocation_uri.clone(),
        recipient_base_uri: ssa.recipient_base_uri.clone(),
        token_endpoint_auth_method: TOKEN_ENDPOINT_AUTH_METHOD.to_owned(),
        token_endpoint_auth_signing_alg,
        grant_types,
        response_types,
        application_type: APPLICATION_TYPE.to_owned(),
        id_token_signed_response_alg,
        authorization_signed_response_alg,
        request_object_signing_alg,
        software_statement: ssa.jwt.clone(),
        scope: filter_scopes(&ssa.scope, &policy.supported_scopes),
    })
}

/// The RFC 7591 §3.2.1 / CDS `RegistrationProperties` body for a stored client: every registered
/// value, `software_statement` verbatim, absent optional values omitted (not `null`).
#[must_use]
pub fn registration_response(
    client_id: &str,
    client_id_issued_at: UnixTime,
    meta: &ClientMetadata,
) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    let s = |v: &str| Value::String(v.to_owned());
    let list = |v: &[String]| Value::Array(v.iter().map(|x| Value::String(x.clone())).collect());
    put("client_id", s(client_id));
    put("client_id_issued_at", Value::from(client_id_issued_at));
    put("client_name", s(&meta.client_name));
    put("client_description", s(&meta.client_description));
    put("client_uri", s(&meta.client_uri));
    put("org_id", s(&meta.org_id));
    put("org_name", s(&meta.org_name));
    put("redirect_uris", list(&meta.redirect_uris));
    put("logo_uri", s(&meta.logo_uri));
    put("jwks_uri", s(&meta.jwks_uri));
    put(
        "token_endpoint_auth_method",
        s(&meta.token_endpoint_auth_method),
    );
    put(
        "token_endpoint_auth_signing_alg",
        s(meta.token_endpoint_auth_signing_alg.as_str()),
    );
    put("grant_types", list(&meta.grant_types));
    put("response_types", list(&meta.response_types));
    put("application_type", s(&meta.application_type));
    put(
        "id_token_signed_response_alg",
        s(meta.id_token_signed_response_alg.as_str()),
    );
    put(
        "request_object_signing_alg",
        s(meta.request_object_signing_alg.as_str()),
    );
    put("software_statement", s(&meta.software_statement));
    put("software_id", s(&meta.software_id));
    put("software_roles", s(&meta.software_roles));
    put("scope", s(&meta.scope));
    let optional = [
        ("legal_entity_id", meta.legal_entity_id.as_deref()),
        ("legal_entity_name", meta.legal_entity_name.as_deref()),
        (
            "sector_identifier_uri",
            meta.sector_identifier_uri.as_deref(),
        ),
        ("tos_uri", meta.tos_uri.as_deref()),
        ("policy_uri", meta.policy_uri.as_deref()),
        ("revocation_uri", meta.revocation_uri.as_deref()),
        ("recipient_base_uri", meta.recipient_base_uri.as_deref()),
        (
            "authorization_signed_response_alg",
            meta.authorization_signed_response_alg.map(Alg::as_str),
        ),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            put(k, s(v));
        }
    }
    Value::Object(out)
}

/// Checks a fetched `sector_identifier_uri` document (OIDC Registration §5: a JSON array of
/// URIs) contains every registered redirect URI (docs/dcr-rules.md §6 row 11).
///
/// # Errors
/// `invalid_client_metadata` `"ERR-DCR-007: Invalid sector_identifier_uri"` (the ACCC text).
pub fn check_sector_identifier(
    doc: &[u8],
    redirect_uris: &[String],
) -> Result<(), RegistrationError> {
    let invalid = || meta("ERR-DCR-007: Invalid sector_identifier_uri");
    let listed: Vec<String> = serde_json::from_slice(doc).map_err(|_| invalid())?;
    if redirect_uris.iter().all(|r| listed.contains(r)) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// PUT rule (docs/dcr-rules.md §7, §13 A8): the new SSA must be for the same software product and brand.
/// `legal_entity_*` may change (GH-SM-679).
///
/// # Errors
/// `invalid_client_metadata` when `software_id` (case-insensitive) or `org_id` differ.
pub fn check_update_allowed(
    existing: &ClientMetadata,
    new: &ClientMetadata,
) -> Result<(), RegistrationError> {
    if !existing.software_id.eq_ignore_ascii_case(&new.software_id) {
        return Err(meta(
            "The software_id of the software statement does not match the registration.",
        ));
    }
    if !existing.org_id.eq_ignore_ascii_case(&new.org_id) {
        return Err(meta(
            "The org_id of the software statement does not match the registration.",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jose::SigningKey;
    use crate::ssa::verify_ssa;
    use crate::testutil::{
        adr_jwks, patched, register_jwks, request_claims, sign_with_header, ssa_claims, test_keys,
        unsigned_jwt, ADR_JWKS_URI, DH_ISSUER, REDIRECT_URI, REDIRECT_URI_2, SOFTWARE_ID,
    };
    use serde_json::json;

    const NOW: UnixTime = 1_700_000_000;

    fn policy() -> RegistrationPolicy {
        RegistrationPolicy::new(DH_ISSUER)
    }

    fn ssa_with(patch: &Value) -> VerifiedSsa {
        let c = patched(&ssa_claims(SOFTWARE_ID, ADR_JWKS_URI, NOW), patch);
        let jwt = test_keys().register.sign(&c).unwrap();
        verify_ssa(&jwt, &register_jwks(), NOW, &policy().ssa).unwrap()
    }

    fn ssa() -> VerifiedSsa {
        ssa_with(&json!({}))
    }

    fn request(ssa: &VerifiedSsa, patch: &Value) -> String {
        let c = patched(
            &request_claims(SOFTWARE_ID, &ssa.jwt, DH_ISSUER, NOW),
            patch,
        );
        test_keys().adr_es256.sign(&c).unwrap()
    }

    fn verify(
        jwt: &str,
        ssa: &VerifiedSsa,
        now: UnixTime,
        p: &RegistrationPolicy,
    ) -> Result<VerifiedRequest, RegistrationError> {
        let req = parse_request(jwt)?;
        verify_request(&req, ssa, &adr_jwks(), now, p)
    }

    fn register(patch: &Value) -> Result<ClientMetadata, RegistrationError> {
        register_with(&ssa(), patch, &policy())
    }

    fn register_with(
        ssa: &VerifiedSsa,
        patch: &Value,
        p: &RegistrationPolicy,
    ) -> Result<ClientMetadata, RegistrationError> {
        let v = verify(&request(ssa, patch), ssa, NOW, p)?;
        validate_metadata(&v, ssa, p)
    }

    fn assert_err<T: fmt::Debug>(
        r: Result<T, RegistrationError>,
        code: RegistrationErrorCode,
        want: &str,
        msg: &str,
    ) {
        match r {
            Ok(v) => panic!("{msg}: accepted {v:?}"),
            Err(e) => {
                assert_eq!(e.code, code, "{msg}: code ({})", e.description);
                assert!(
                    e.description.contains(want),
                    "{msg}: {:?} lacks {want:?}",
                    e.description
                );
                assert!(e.description.is_ascii(), "{msg}: description is ASCII");
            }
        }
    }

    #[test]
    fn full_pipeline_with_mock_clock() {
        use crate::clock::{Clock, MockClock};
        use crate::ids::ClientId;
        use crate::jose::JwkSet;
        use crate::testutil::jwks_bytes;

        let clock = MockClock::new(NOW);
        let p = policy();
        let keys = test_keys();
        let ssa_jwt = keys
            .register
            .sign(&ssa_claims(SOFTWARE_ID, ADR_JWKS_URI, clock.now()))
            .unwrap();
        clock.advance(30);
        let body = request_claims(SOFTWARE_ID, &ssa_jwt, DH_ISSUER, clock.now());
        let req_jwt = keys.adr_ps256.sign(&body).unwrap();

        let req = parse_request(&req_jwt).unwrap();
        let ssa = verify_ssa(
            &req.software_statement,
            &register_jwks(),
            clock.now(),
            &p.ssa,
        )
        .unwrap();
        let adr = JwkSet::parse(&jwks_bytes(&[&keys.adr_ps256, &keys.adr_es256])).unwrap();
        let verified = verify_request(&req, &ssa, &adr, clock.now(), &p).unwrap();
        let meta = validate_metadata(&verified, &ssa, &p).unwrap();
        let client_id = ClientId::new_random();
        let response = registration_response(client_id.as_str(), clock.now(), &meta);
        assert_eq!(response["client_id"], json!(client_id.as_str()));
        assert_eq!(response["software_statement"], json!(ssa_jwt));

        // Ten minutes after issue the SSA (skew 60 s) is still fine for one more minute, then not.
        clock.set(NOW + 600 + 59);
        assert!(verify_ssa(&ssa_jwt, &register_jwks(), clock.now(), &p.ssa).is_ok());
        clock.advance(1);
        let e = verify_ssa(&ssa_jwt, &register_jwks(), clock.now(), &p.ssa).unwrap_err();
        assert_eq!(e.description, "Software statement assertion has expired");
    }

    #[test]
    fn error_codes_have_rfc7591_wire_values() {
        let cases = [
            (
                RegistrationErrorCode::InvalidRedirectUri,
                "invalid_redirect_uri",
            ),
            (
                RegistrationErrorCode::InvalidClientMetadata,
                "invalid_client_metadata",
            ),
            (
                RegistrationErrorCode::InvalidSoftwareStatement,
                "invalid_software_statement",
            ),
            (
                RegistrationErrorCode::UnapprovedSoftwareStatement,
                "unapproved_software_statement",
            ),
        ];
        for (code, wire) in cases {
            assert_eq!(code.as_str(), wire);
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                json!(wire),
                "serde agrees"
            );
        }
        let e = RegistrationError::duplicate_registration();
        assert_eq!(
            e.to_json(),
            json!({"error": "invalid_client_metadata", "error_description": "Duplicate registrations for a given software_id are not valid."})
        );
        assert_eq!(e.to_string(), "invalid_client_metadata: Duplicate registrations for a given software_id are not valid.");
        assert_eq!(
            RegistrationError::replayed_jti().code,
            RegistrationErrorCode::InvalidClientMetadata
        );
        assert!(!e.is_unknown_kid());
    }

    #[test]
    fn policy_defaults() {
        let p = policy();
        assert_eq!(p.issuer, DH_ISSUER);
        assert_eq!(p.max_request_lifetime_secs, 3600);
        assert_eq!(p.signing_algs, vec![Alg::PS256, Alg::ES256]);
        assert!(p.require_authorization_signed_response_alg);
        assert_eq!(p.ssa.issuer, "cdr-register");
        assert_eq!(p.supported_scopes.len(), 19);
        assert!(p.supported_scopes.iter().any(|s| s == "cdr:registration"));
    }

    #[test]
    fn parse_request_envelope_rules() {
        let s = ssa();
        let k = &test_keys().adr_es256;
        let body = request_claims(SOFTWARE_ID, &s.jwt, DH_ISSUER, NOW);
        let m = RegistrationErrorCode::InvalidClientMetadata;
        let i = RegistrationErrorCode::InvalidSoftwareStatement;
        let cases = [
            ("".to_owned(), m, "not a valid signed JWT", "empty body"),
            (
                "{\"a\":1}".to_owned(),
                m,
                "not a valid signed JWT",
                "JSON body",
            ),
            (
                "a.b.c".to_owned(),
                m,
                "not a valid signed JWT",
                "garbage JWS",
            ),
            (
                unsigned_jwt(&json!({"alg": "none"}), &body, b""),
                m,
                "PS256 or ES256",
                "alg none",
            ),
            (
                unsigned_jwt(&json!({"alg": "HS256", "kid": k.kid()}), &body, &[0; 32]),
                m,
                "PS256 or ES256",
                "HS256",
            ),
            (
                sign_with_header(k, &json!({"alg": "RS256", "kid": k.kid()}), &body).unwrap(),
                m,
                "PS256 or ES256",
                "RS256",
            ),
            (
                unsigned_jwt(&json!({"alg": "PS256"}), &json!([1]), b"x"),
                m,
                "not a valid signed JWT",
                "payload not an object",
            ),
            (
                request(&s, &json!({"software_statement": null})),
                i,
                "ERR-DCR-006: The software_statement is empty or invalid",
                "SSA missing",
            ),
            (
                request(&s, &json!({"software_statement": 5})),
                i,
                "ERR-DCR-006: The software_statement is empty or invalid",
                "SSA not a string",
            ),
            (
                request(&s, &json!({"software_statement": ""})),
                i,
                "ERR-DCR-006: The software_statement is empty or invalid",
                "SSA empty",
            ),
            (
                request(&s, &json!({"software_statement": "abc.def"})),
                i,
                "ERR-DCR-006: The software_statement is empty or invalid",
                "SSA not a JWS",
            ),
        ];
        for (jwt, code, want, msg) in cases {
            assert_err(parse_request(&jwt), code, want, msg);
        }
        let ok = parse_request(&format!("  {}\n", request(&s, &json!({})))).unwrap();
        assert_eq!(ok.software_statement, s.jwt, "SSA extracted");
        assert_eq!(ok.header.kid.as_deref(), Some("adr-es256"));
        assert!(!ok.raw().ends_with('\n'), "body trimmed");
    }

    #[test]
    fn valid_request_is_verified_with_either_alg() {
        let s = ssa();
        for key in [&test_keys().adr_es256, &test_keys().adr_ps256] {
            let c = request_claims(SOFTWARE_ID, &s.jwt, DH_ISSUER, NOW);
            let jwt = key.sign(&c).unwrap();
            let v = verify(&jwt, &s, NOW, &policy()).unwrap();
            assert_eq!(v.jti(), c["jti"].as_str().unwrap());
            assert_eq!((v.iat(), v.exp()), (NOW, NOW + 300));
            assert_eq!(v.kid(), key.kid());
            assert_eq!(v.claims().get("aud"), Some(&json!(DH_ISSUER)));
        }
    }

    #[test]
    fn request_aud_must_equal_issuer() {
        let s = ssa();
        let cases = [
            (json!("https://other.example.com"), false, "another issuer"),
            (
                json!(format!("{DH_ISSUER}/")),
                false,
                "trailing slash is a different issuer",
            ),
            (
                json!(["https://other", "x"]),
                false,
                "array without our issuer",
            ),
            (json!(5), false, "not a string"),
            (json!(DH_ISSUER), true, "our issuer"),
            (
                json!(["https://other", DH_ISSUER]),
                true,
                "array containing our issuer",
            ),
        ];
        for (aud, ok, msg) in cases {
            let r = verify(&request(&s, &json!({"aud": aud})), &s, NOW, &policy());
            if ok {
                assert!(r.is_ok(), "{msg}: {r:?}");
            } else {
                assert_err(
                    r,
                    RegistrationErrorCode::InvalidClientMetadata,
                    "The 'aud' claim value must be set to",
                    msg,
                );
            }
        }
    }

    #[test]
    fn request_iss_must_equal_software_id() {
        let s = ssa();
        let r = verify(
            &request(&s, &json!({"iss": SOFTWARE_ID.to_uppercase()})),
            &s,
            NOW,
            &policy(),
        );
        assert!(r.is_ok(), "GUIDs compare case-insensitively: {r:?}");
        let r = verify(
            &request(&s, &json!({"iss": "c6327f87-0000-4369-99a4-eaacd3bb8210"})),
            &s,
            NOW,
            &policy(),
        );
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "The 'iss' claim value must be set to",
            "other software id",
        );
    }

    #[test]
    fn request_required_claims_missing() {
        let s = ssa();
        for name in ["iss", "iat", "exp", "jti", "aud"] {
            let r = verify(&request(&s, &json!({ name: null })), &s, NOW, &policy());
            assert_err(
                r,
                RegistrationErrorCode::InvalidClientMetadata,
                &format!("The '{name}' claim is missing."),
                name,
            );
        }
        let r = verify(&request(&s, &json!({"jti": ""})), &s, NOW, &policy());
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "The 'jti' claim is missing.",
            "empty jti",
        );
        let r = verify(&request(&s, &json!({"jti": 7})), &s, NOW, &policy());
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "'jti' claim value must be a string",
            "numeric jti",
        );
        let r = verify(
            &request(&s, &json!({"jti": "j".repeat(256)})),
            &s,
            NOW,
            &policy(),
        );
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "must not exceed 255",
            "long jti",
        );
        let r = verify(&request(&s, &json!({"exp": "soon"})), &s, NOW, &policy());
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "'exp' claim value is invalid",
            "string exp",
        );
    }

    #[test]
    fn request_lifetime_rules() {
        let s = ssa();
        let mut p = policy();
        p.clock_skew_secs = 10;
        let cases = [
            (json!({}), NOW + 309, true, "inside skew after exp"),
            (json!({}), NOW + 310, false, "expired beyond skew"),
            (
                json!({"iat": NOW + 10, "exp": NOW + 300}),
                NOW,
                true,
                "iat ahead within skew",
            ),
            (
                json!({"iat": NOW + 11, "exp": NOW + 300}),
                NOW,
                false,
                "iat ahead beyond skew",
            ),
            (
                json!({"exp": NOW + 3600}),
                NOW,
                true,
                "lifetime exactly the maximum",
            ),
            (json!({"exp": NOW + 3601}), NOW, false, "lifetime too long"),
            (json!({"exp": NOW}), NOW - 20, false, "exp equal to iat"),
            (json!({"nbf": NOW + 60}), NOW, false, "nbf in the future"),
            (
                json!({"iat": NOW as f64 + 0.5}),
                NOW,
                true,
                "fractional NumericDate",
            ),
        ];
        for (patch, now, ok, msg) in cases {
            let r = verify(&request(&s, &patch), &s, now, &p);
            if ok {
                assert!(r.is_ok(), "{msg}: {r:?}");
            } else {
                let e = r.unwrap_err();
                assert_eq!(
                    e.code,
                    RegistrationErrorCode::InvalidClientMetadata,
                    "{msg}: {e}"
                );
            }
        }
        let r = verify(&request(&s, &json!({})), &s, NOW + 1000, &p);
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "The registration request has expired.",
            "expired text",
        );
    }

    #[test]
    fn request_signature_rules() {
        let s = ssa();
        let k = test_keys();
        let body = request_claims(SOFTWARE_ID, &s.jwt, DH_ISSUER, NOW);
        let stranger = SigningKey::generate_es256("stranger").unwrap();
        let twin = SigningKey::generate_es256("adr-es256").unwrap();
        let m = RegistrationErrorCode::InvalidClientMetadata;
        let cases = [
            (
                stranger.sign(&body).unwrap(),
                "unknown 'kid'",
                "unknown kid",
            ),
            (
                twin.sign(&body).unwrap(),
                "signature could not be verified",
                "other key with a known kid",
            ),
            (
                sign_with_header(&k.adr_es256, &json!({"alg": "ES256"}), &body).unwrap(),
                "missing 'kid'",
                "no kid",
            ),
            (
                sign_with_header(
                    &k.adr_ps256,
                    &json!({"alg": "PS256", "kid": "adr-es256"}),
                    &body,
                )
                .unwrap(),
                "signature could not be verified",
                "alg of another key",
            ),
            (
                k.register.sign(&body).unwrap(),
                "unknown 'kid'",
                "signed with the Register's key",
            ),
        ];
        for (jwt, want, msg) in cases {
            assert_err(verify(&jwt, &s, NOW, &policy()), m, want, msg);
        }
        let e = verify(&stranger.sign(&body).unwrap(), &s, NOW, &policy()).unwrap_err();
        assert!(
            e.is_unknown_kid() && e.is_unknown_request_kid() && !e.is_unknown_ssa_kid(),
            "refetch signal"
        );
    }

    #[test]
    fn request_alg_must_be_in_policy() {
        let s = ssa();
        let mut p = policy();
        p.signing_algs = vec![Alg::PS256];
        let r = verify(&request(&s, &json!({})), &s, NOW, &p);
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            "one of 'PS256'",
            "ES256 not allowed by policy",
        );
    }

    #[test]
    fn request_must_carry_the_verified_ssa() {
        let s = ssa();
        let other = ssa();
        let req = parse_request(&request(&other, &json!({}))).unwrap();
        let r = verify_request(&req, &s, &adr_jwks(), NOW, &policy());
        assert_err(
            r,
            RegistrationErrorCode::InvalidSoftwareStatement,
            "does not match",
            "SSA swapped",
        );
    }

    #[test]
    fn valid_registration_builds_metadata_from_request_and_ssa() {
        let s = ssa();
        let meta = register_with(&s, &json!({}), &policy()).unwrap();
        assert_eq!(meta.software_id, SOFTWARE_ID);
        assert_eq!(meta.org_id, s.org_id);
        assert_eq!(meta.jwks_uri, ADR_JWKS_URI);
        assert_eq!(meta.redirect_uris, vec![REDIRECT_URI.to_owned()]);
        assert_eq!(meta.token_endpoint_auth_method, "private_key_jwt");
        assert_eq!(meta.token_endpoint_auth_signing_alg, Alg::PS256);
        assert_eq!(
            meta.grant_types,
            vec!["client_credentials", "authorization_code", "refresh_token"]
        );
        assert_eq!(meta.response_types, vec!["code"]);
        assert_eq!(meta.application_type, "web");
        assert_eq!(meta.authorization_signed_response_alg, Some(Alg::PS256));
        assert_eq!(meta.software_statement, s.jwt, "SSA kept verbatim");
        assert_eq!(meta.software_roles, "data-recipient-software-product");
    }

    #[test]
    fn defaults_apply_when_optional_metadata_is_absent() {
        let meta = register(&json!({
            "request_object_signing_alg": null, "application_type": null, "redirect_uris": null,
        }))
        .unwrap();
        assert_eq!(
            meta.request_object_signing_alg,
            Alg::PS256,
            "request_object_signing_alg defaults to PS256"
        );
        assert_eq!(
            meta.application_type, "web",
            "application_type defaults to web"
        );
        assert_eq!(
            meta.redirect_uris,
            vec![REDIRECT_URI, REDIRECT_URI_2],
            "redirect_uris default to the SSA's"
        );
        let meta = register(&json!({"redirect_uris": []})).unwrap();
        assert_eq!(
            meta.redirect_uris.len(),
            2,
            "empty redirect_uris default to the SSA's"
        );
        let meta = register(&json!({"redirect_uris": [REDIRECT_URI_2, REDIRECT_URI_2]})).unwrap();
        assert_eq!(
            meta.redirect_uris,
            vec![REDIRECT_URI_2],
            "duplicates collapse"
        );
    }

    #[test]
    fn redirect_uri_not_in_ssa_is_invalid_redirect_uri() {
        let r = RegistrationErrorCode::InvalidRedirectUri;
        let cases = [
            (json!(["https://evil.example.com/cb"]), "ERR-DCR-003: The redirect_uri 'https://evil.example.com/cb' is not valid as it is not included in the software_statement", "foreign URI"),
            (json!([REDIRECT_URI, "https://www.mockcompany.com.au/callback/"]), "is not included in the software_statement", "near miss is not an exact match"),
            (json!(["/callback"]), "is not valid", "relative URI"),
            (json!("https://www.mockcompany.com.au/callback"), "", "a string is accepted as one URI"),
            (json!([1]), "must be an array of strings", "number"),
            (json!({"a": 1}), "must be an array of strings", "object"),
            (json!(["https://x/\u{e9}\""]), "'https://x/??'", "echoed URI is sanitised"),
        ];
        for (uris, want, msg) in cases {
            let res = register(&json!({"redirect_uris": uris}));
            if want.is_empty() {
                assert!(res.is_ok(), "{msg}: {res:?}");
            } else {
                assert_err(res, r, want, msg);
            }
        }
    }

    #[test]
    fn redirect_uri_error_comes_before_other_metadata_errors() {
        let res = register(&json!({
            "redirect_uris": ["https://evil.example.com/cb"],
            "token_endpoint_auth_signing_alg": "RS256",
            "response_types": ["code id_token"],
        }));
        assert_err(
            res,
            RegistrationErrorCode::InvalidRedirectUri,
            "ERR-DCR-003",
            "redirect first",
        );
    }

    #[test]
    fn metadata_rules_in_spec_order() {
        let m = RegistrationErrorCode::InvalidClientMetadata;
        let cases = [
            // Row 13.
            (json!({"token_endpoint_auth_signing_alg": null}), "The 'token_endpoint_auth_signing_alg' claim is missing.", "13 missing"),
            (json!({"token_endpoint_auth_signing_alg": "RS256"}), "The 'token_endpoint_auth_signing_alg' claim value must be one of 'PS256,ES256'.", "13 RS256"),
            (json!({"token_endpoint_auth_signing_alg": 1}), "must be one of 'PS256,ES256'", "13 number"),
            // Row 14.
            (json!({"token_endpoint_auth_method": null}), "The 'token_endpoint_auth_method' claim is missing.", "14 missing"),
            (json!({"token_endpoint_auth_method": "client_secret_basic"}), "The 'token_endpoint_auth_method' claim value must be one of 'private_key_jwt'.", "14 secret"),
            // Row 15.
            (json!({"id_token_signed_response_alg": null}), "The 'id_token_signed_response_alg' claim is missing.", "15 missing"),
            (json!({"id_token_signed_response_alg": "none"}), "The 'id_token_signed_response_alg' claim value must be one of 'PS256,ES256'.", "15 none"),
            // Row 16.
            (json!({"grant_types": null}), "The 'grant_types' claim is missing.", "16 missing"),
            (json!({"grant_types": ["client_credentials"]}), "The 'grant_types' claim value must contain the 'authorization_code' value.", "16 no authorization_code"),
            (json!({"grant_types": ["authorization_code", "implicit"]}), "The 'grant_types' claim value must be one of 'client_credentials,authorization_code,refresh_token'.", "16 implicit"),
            (json!({"grant_types": [1]}), "'grant_types' claim value must be one of", "16 number"),
            (json!({"grant_types": ["foo"]}), "The 'grant_types' claim value must contain the 'authorization_code' value.", "16 foo (ACCC JARM AC43)"),
            // Row 17.
            (json!({"request_object_signing_alg": "HS256"}), "The 'request_object_signing_alg' claim value must be one of 'PS256,ES256'.", "17 HS256"),
            // Row 18.
            (json!({"response_types": null}), "The 'response_types' claim is missing.", "18 missing"),
            (json!({"response_types": ["code id_token"]}), "The 'response_types' claim value must be one of 'code'.", "18 hybrid"),
            (json!({"response_types": ["code", "token"]}), "The 'response_types' claim value must be one of 'code'.", "18 extra"),
            (json!({"response_types": []}), "The 'response_types' claim value must be one of 'code'.", "18 empty"),
            // Row 19.
            (json!({"authorization_signed_response_alg": null}), "The 'authorization_signed_response_alg' claim is missing.", "19 missing"),
            (json!({"authorization_signed_response_alg": ""}), "The 'authorization_signed_response_alg' claim is missing.", "19 empty (ACCC JARM AC05)"),
            (json!({"id_token_signed_response_alg": ""}), "The 'id_token_signed_response_alg' claim is missing.", "15 empty"),
            (json!({"authorization_signed_response_alg": "none"}), "The 'authorization_signed_response_alg' claim value must be one of 'PS256,ES256'.", "19 none"),
            // Row 20.
            (json!({"authorization_encrypted_response_enc": "A256GCM"}), "The 'authorization_encrypted_response_alg' claim is missing.", "20 enc without alg"),
            (json!({"authorization_encrypted_response_enc": "A128GCM", "authorization_encrypted_response_alg": "RSA-OAEP"}), "The 'authorization_encrypted_response_enc' claim value must be one of 'A256GCM,A128CBC-HS256'.", "20 bad enc"),
            (json!({"authorization_encrypted_response_alg": "RSA1_5"}), "The 'authorization_encrypted_response_alg' claim value must be one of 'RSA-OAEP,RSA-OAEP-256'.", "20 bad alg"),
            // Row 22.
            (json!({"application_type": "native"}), "The 'application_type' claim value must be set to 'web'.", "22 native"),
        ];
        for (patch, want, msg) in cases {
            assert_err(register(&patch), m, want, msg);
        }
    }

    #[test]
    fn first_metadata_error_wins() {
        let res = register(&json!({
            "application_type": "native",
            "response_types": ["code id_token"],
            "token_endpoint_auth_method": "none",
        }));
        assert_err(
            res,
            RegistrationErrorCode::InvalidClientMetadata,
            "'token_endpoint_auth_method'",
            "row 14 before 18 and 22",
        );
    }

    #[test]
    fn authorization_signed_response_alg_defaults_when_policy_allows() {
        let mut p = policy();
        p.require_authorization_signed_response_alg = false;
        let meta = register_with(
            &ssa(),
            &json!({"authorization_signed_response_alg": null}),
            &p,
        )
        .unwrap();
        assert_eq!(meta.authorization_signed_response_alg, Some(Alg::PS256));
        let meta = register_with(
            &ssa(),
            &json!({"authorization_signed_response_alg": "ES256"}),
            &p,
        )
        .unwrap();
        assert_eq!(meta.authorization_signed_response_alg, Some(Alg::ES256));
    }

    #[test]
    fn jarm_encryption_is_validated_then_not_persisted() {
        let meta = register(&json!({
            "authorization_encrypted_response_alg": "RSA-OAEP-256",
            "authorization_encrypted_response_enc": "A256GCM",
        }))
        .unwrap();
        let body = registration_response("c", NOW, &meta);
        assert!(
            body.get("authorization_encrypted_response_alg").is_none(),
            "not returned"
        );
        assert!(
            body.get("authorization_encrypted_response_enc").is_none(),
            "not returned"
        );
        assert!(
            register(&json!({"authorization_encrypted_response_alg": "RSA-OAEP"})).is_ok(),
            "alg alone is fine"
        );
    }

    #[test]
    fn unsupported_and_hybrid_only_claims_are_ignored() {
        let meta = register(&json!({
            "id_token_encrypted_response_alg": "RSA-OAEP",
            "id_token_encrypted_response_enc": "bogus",
            "client_name": "Overridden?",
            "scope": "bank:everything",
            "x-custom": {"a": 1},
            "client_id": SOFTWARE_ID,
        }))
        .unwrap();
        assert_eq!(meta.client_name, "Mock Software", "SSA value wins");
        let body = registration_response("c", NOW, &meta);
        for k in [
            "id_token_encrypted_response_alg",
            "id_token_encrypted_response_enc",
            "x-custom",
        ] {
            assert!(body.get(k).is_none(), "{k} not returned");
        }
        assert!(
            !body["scope"].as_str().unwrap().contains("bank:everything"),
            "request scope ignored"
        );
    }

    #[test]
    fn scopes_filtered_to_supported() {
        let cases = [
            (
                "openid profile cdr:registration",
                "openid profile cdr:registration",
                "all supported",
            ),
            (
                "openid telco:billing:read cdr:registration",
                "openid cdr:registration",
                "unsupported scope dropped",
            ),
            (
                "telco:billing:read",
                "",
                "nothing supported is not an error",
            ),
            (
                "cdr:registration  openid openid",
                "cdr:registration openid",
                "SSA order kept, duplicates dropped",
            ),
        ];
        for (ssa_scope, want, msg) in cases {
            let meta = register_with(
                &ssa_with(&json!({"scope": ssa_scope})),
                &json!({}),
                &policy(),
            )
            .unwrap();
            assert_eq!(meta.scope, want, "{msg}");
        }
        let meta = register(&json!({})).unwrap();
        assert!(
            !meta.scope.contains("telco"),
            "default SSA's telco scope dropped: {}",
            meta.scope
        );
        assert!(meta
            .scope
            .starts_with("openid profile bank:accounts.basic:read"));
    }

    #[test]
    fn registration_response_has_all_fields_and_no_nulls() {
        let s = ssa_with(
            &json!({"sector_identifier_uri": "https://www.mockcompany.com.au/sector.json"}),
        );
        let meta = register_with(&s, &json!({}), &policy()).unwrap();
        let body = registration_response("client-1", NOW, &meta);
        let mandatory = [
            "client_id",
            "client_id_issued_at",
            "client_name",
            "client_description",
            "client_uri",
            "org_id",
            "org_name",
            "redirect_uris",
            "logo_uri",
            "jwks_uri",
            "token_endpoint_auth_method",
            "token_endpoint_auth_signing_alg",
            "grant_types",
            "response_types",
            "application_type",
            "id_token_signed_response_alg",
            "request_object_signing_alg",
            "software_statement",
            "software_id",
            "software_roles",
            "scope",
            "legal_entity_id",
            "legal_entity_name",
            "sector_identifier_uri",
            "tos_uri",
            "policy_uri",
            "revocation_uri",
            "recipient_base_uri",
            "authorization_signed_response_alg",
        ];
        for k in mandatory {
            assert!(body.get(k).is_some_and(|v| !v.is_null()), "{k} present");
        }
        assert_eq!(body["client_id"], json!("client-1"));
        assert_eq!(body["client_id_issued_at"], json!(NOW));
        assert_eq!(body["software_statement"], json!(s.jwt), "SSA verbatim");
        assert_eq!(body["token_endpoint_auth_signing_alg"], json!("PS256"));

        let bare = register_with(
            &ssa_with(&json!({"tos_uri": null, "revocation_uri": null})),
            &json!({}),
            &policy(),
        )
        .unwrap();
        let body = registration_response("c", NOW, &bare);
        assert!(
            body.as_object().unwrap().values().all(|v| !v.is_null()),
            "no nulls"
        );
        assert!(
            body.get("tos_uri").is_none()
                && body.get("revocation_uri").is_none()
                && body.get("sector_identifier_uri").is_none()
        );
    }

    #[test]
    fn client_metadata_round_trips_as_json() {
        let meta = register(&json!({})).unwrap();
        let stored = serde_json::to_string(&meta).unwrap();
        let back: ClientMetadata = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, meta);
    }

    #[test]
    fn check_sector_identifier_rules() {
        let uris = vec![REDIRECT_URI.to_owned(), REDIRECT_URI_2.to_owned()];
        let cases: [(&[u8], bool, &str); 6] = [
            (br#"["https://www.mockcompany.com.au/callback","https://www.mockcompany.com.au/callback2"]"#, true, "exact list"),
            (br#"["https://other/cb","https://www.mockcompany.com.au/callback","https://www.mockcompany.com.au/callback2"]"#, true, "superset"),
            (br#"["https://www.mockcompany.com.au/callback"]"#, false, "missing one"),
            (br#"{"redirect_uris": []}"#, false, "object"),
            (br#"[1, 2]"#, false, "numbers"),
            (b"<html>", false, "not JSON"),
        ];
        for (doc, ok, msg) in cases {
            let r = check_sector_identifier(doc, &uris);
            if ok {
                assert!(r.is_ok(), "{msg}");
            } else {
                assert_err(
                    r,
                    RegistrationErrorCode::InvalidClientMetadata,
                    "Invalid sector_identifier_uri",
                    msg,
                );
            }
        }
    }

    #[test]
    fn check_update_allowed_rules() {
        let existing = register(&json!({})).unwrap();
        let same_upper = register_with(
            &ssa_with(&json!({"software_id": SOFTWARE_ID.to_uppercase()})),
            &json!({"iss": SOFTWARE_ID}),
            &policy(),
        )
        .unwrap();
        let renamed = register_with(
            &ssa_with(&json!({"client_name": "New name", "legal_entity_id": "other"})),
            &json!({}),
            &policy(),
        )
        .unwrap();
        let mut other_sw = existing.clone();
        other_sw.software_id = "00000000-0000-0000-0000-000000000000".into();
        let mut other_org = existing.clone();
        other_org.org_id = "00000000-0000-0000-0000-000000000000".into();
        let cases = [
            (&same_upper, true, "software_id differs only in case"),
            (
                &renamed,
                true,
                "modifiable fields and legal entity may change",
            ),
            (&other_sw, false, "other software product"),
            (&other_org, false, "other brand"),
        ];
        for (new, ok, msg) in cases {
            let r = check_update_allowed(&existing, new);
            if ok {
                assert!(r.is_ok(), "{msg}: {r:?}");
            } else {
                assert_err(
                    r,
                    RegistrationErrorCode::InvalidClientMetadata,
                    "does not match the registration",
                    msg,
                );
            }
        }
    }
}
