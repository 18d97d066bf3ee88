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
mod tests;
