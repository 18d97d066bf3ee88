//! The Software Statement Assertion (SSA): a JWT the CDR Register signs for one Software Product
//! (CDS "Client Registration" → "Software Statement Assertion"; docs/dcr-rules.md §5).
//!
//! [`verify_ssa`] is the only way to obtain a [`VerifiedSsa`]. It checks, in order:
//! 1. compact JWS, `alg` `PS256`/`ES256` (the Register signs `PS256`; the key's bound algorithm
//!    decides), header `kid` present and found in the Register JWK set (an unknown `kid` is
//!    reported so that the caller can refetch the set once: [`RegistrationError::is_unknown_kid`]),
//!    signature;
//! 2. `iss` is the Register (`cdr-register`), `exp` not passed and `iat` not in the future (both
//!    with the policy's clock skew), `nbf` if present;
//! 3. the claims the Data Holder relies on are present and well-typed, and `jwks_uri` (plus
//!    `sector_identifier_uri` when present) is an absolute `https` URL.
//!
//! Every failure is `invalid_software_statement` (project decision: "Every SSA failure is
//! `invalid_software_statement`"). Re-presenting the same SSA (same `jti`) is allowed (docs/dcr-rules.md §13 A6).
//! The Register's status is not checked here (GH-REG-159).

use std::fmt;

use serde_json::{Map, Value};

use crate::claims::{self, Claim};
use crate::clock::UnixTime;
use crate::jose::{self, JoseError, JwkSet};
use crate::registration::{Cause, RegistrationError};

/// The `iss` of every SSA (CDS: "`iss` … `cdr-register`").
pub const CDR_REGISTER_ISSUER: &str = "cdr-register";

/// The only `software_roles` value the CDS defines; used when an SSA omits the claim.
pub const DEFAULT_SOFTWARE_ROLES: &str = "data-recipient-software-product";

/// Description of an SSA signed with a `kid` the Register JWK set does not have.
pub const SSA_UNKNOWN_KID: &str =
    "Software statement assertion signature could not be verified: unknown 'kid'";

const UNSUPPORTED_ALG: &str = "Software statement assertion must be signed with PS256";
const MISSING_KID: &str = "Software statement assertion header is missing 'kid'";
const BAD_SIGNATURE: &str = "Software statement assertion signature could not be verified";
const NOT_FROM_REGISTER: &str = "Software statement assertion was not issued by the CDR Register";
const EXPIRED: &str = "Software statement assertion has expired";
const ISSUED_IN_FUTURE: &str = "Software statement assertion was issued in the future";
const NOT_YET_VALID: &str = "Software statement assertion is not yet valid";

/// What a recipient is told when the SSA's signature or validity fails (docs/dcr-rules.md §6 row 5), in the
/// words of the ACCC reference, whose tests compare them.
pub const SSA_VALIDATION_FAILED: &str = "ERR-DCR-005: SSA validation failed.";

/// The error of [`verify_ssa`] as told to the recipient: a failed signature, issuer or validity
/// check (row 5) becomes [`SSA_VALIDATION_FAILED`]; the others (a missing or ill-formed claim)
/// keep their own description. Log the original: it says which check failed.
#[must_use]
pub fn public_error(e: &RegistrationError) -> RegistrationError {
    let row_5 = [
        UNSUPPORTED_ALG,
        MISSING_KID,
        BAD_SIGNATURE,
        SSA_UNKNOWN_KID,
        NOT_FROM_REGISTER,
        EXPIRED,
        ISSUED_IN_FUTURE,
        NOT_YET_VALID,
    ];
    if row_5.contains(&e.description.as_ref()) {
        bad(SSA_VALIDATION_FAILED)
    } else {
        e.clone()
    }
}

/// What the SSA check is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsaPolicy {
    /// Expected `iss`: `cdr-register`.
    pub issuer: String,
    /// Leeway for `exp`, `iat` and `nbf`, in seconds.
    pub clock_skew_secs: i64,
}

impl Default for SsaPolicy {
    fn default() -> Self {
        Self {
            issuer: CDR_REGISTER_ISSUER.to_owned(),
            clock_skew_secs: 60,
        }
    }
}

/// An SSA whose signature, issuer, lifetime and required claims have been checked.
///
/// The fields are public for reading; the type can only be built by [`verify_ssa`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedSsa {
    /// The SSA exactly as received; echoed unmodified in registration responses.
    pub jwt: String,
    /// The Register key that signed it.
    pub kid: String,
    /// `iss` (`cdr-register`).
    pub iss: String,
    /// `iat`.
    pub iat: UnixTime,
    /// `exp`.
    pub exp: UnixTime,
    /// `jti`.
    pub jti: String,
    /// `legal_entity_id`: the ADR legal entity.
    pub legal_entity_id: Option<String>,
    /// `legal_entity_name`.
    pub legal_entity_name: Option<String>,
    /// `org_id`: the Data Recipient Brand id.
    pub org_id: String,
    /// `org_name`: the brand name.
    pub org_name: String,
    /// `client_name`: the software product name.
    pub client_name: String,
    /// `client_description`.
    pub client_description: String,
    /// `client_uri`.
    pub client_uri: String,
    /// `redirect_uris`, never empty.
    pub redirect_uris: Vec<String>,
    /// `sector_identifier_uri` (absolute `https`), if any.
    pub sector_identifier_uri: Option<String>,
    /// `logo_uri`.
    pub logo_uri: String,
    /// `tos_uri`.
    pub tos_uri: Option<String>,
    /// `policy_uri`.
    pub policy_uri: Option<String>,
    /// `jwks_uri`: absolute `https` URL of the ADR's JWK set.
    pub jwks_uri: String,
    /// `revocation_uri` (legacy; never required).
    pub revocation_uri: Option<String>,
    /// `recipient_base_uri`.
    pub recipient_base_uri: Option<String>,
    /// `software_id`: the Software Product id.
    pub software_id: String,
    /// `software_roles` (`data-recipient-software-product` when omitted).
    pub software_roles: String,
    /// `scope`: space-separated, as the Register sent it (not yet filtered).
    pub scope: String,
    /// Every claim of the SSA.
    pub claims: Map<String, Value>,
}

impl fmt::Debug for VerifiedSsa {
    // The raw JWT and the full claim set are left out: never log SSAs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedSsa")
            .field("kid", &self.kid)
            .field("jti", &self.jti)
            .field("software_id", &self.software_id)
            .field("org_id", &self.org_id)
            .field("jwks_uri", &self.jwks_uri)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

fn bad(desc: impl Into<std::borrow::Cow<'static, str>>) -> RegistrationError {
    RegistrationError::invalid_software_statement(desc)
}

fn missing(name: &str) -> RegistrationError {
    bad(format!(
        "Software statement assertion is missing required claim '{name}'"
    ))
}

fn invalid(name: &str) -> RegistrationError {
    bad(format!(
        "Software statement assertion claim '{name}' is invalid"
    ))
}

fn required_str(m: &Map<String, Value>, name: &str) -> Result<String, RegistrationError> {
    match claims::string(m, name) {
        Claim::Present(s) => Ok(s.to_owned()),
        Claim::Missing => Err(missing(name)),
        Claim::Invalid => Err(invalid(name)),
    }
}

fn optional_str(m: &Map<String, Value>, name: &str) -> Result<Option<String>, RegistrationError> {
    match claims::string(m, name) {
        Claim::Present(s) => Ok(Some(s.to_owned())),
        Claim::Missing => Ok(None),
        Claim::Invalid => Err(invalid(name)),
    }
}

fn required_date(m: &Map<String, Value>, name: &str) -> Result<UnixTime, RegistrationError> {
    match claims::date(m, name) {
        Claim::Present(t) => Ok(t),
        Claim::Missing => Err(missing(name)),
        Claim::Invalid => Err(invalid(name)),
    }
}

/// Whether `s` is an absolute `https` URL with a host (or, only in tests and with the
/// `test-util` feature, an `http` URL on a loopback host, so mock servers can stand in).
pub(crate) fn is_https_url(s: &str) -> bool {
    let Ok(u) = url::Url::parse(s) else {
        return false;
    };
    if u.host_str().is_none_or(str::is_empty) {
        return false;
    }
    if u.scheme() == "https" {
        return true;
    }
    #[cfg(any(test, feature = "test-util"))]
    if u.scheme() == "http" {
        return matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    }
    false
}

fn map_jose(e: &JoseError) -> RegistrationError {
    match e {
        JoseError::Malformed(_) => bad("Software statement assertion is malformed"),
        JoseError::UnsupportedAlg(_) => bad(UNSUPPORTED_ALG),
        JoseError::MissingKid => bad(MISSING_KID),
        JoseError::UnknownKid(_) => bad(SSA_UNKNOWN_KID).because(Cause::UnknownSsaKid),
        _ => bad(BAD_SIGNATURE),
    }
}

/// Verifies an SSA against the CDR Register's JWK set.
///
/// # Errors
/// `invalid_software_statement` with a description naming the failed rule. When the `kid` is not
/// in `register_keys`, [`RegistrationError::is_unknown_kid`] is true: refetch the Register JWK set
/// once and call again.
///
/// # Security
/// This is the trust anchor of registration: everything later (the ADR's `jwks_uri`, its
/// `software_id`) comes from the value returned here.
pub fn verify_ssa(
    jwt: &str,
    register_keys: &JwkSet,
    now: UnixTime,
    policy: &SsaPolicy,
) -> Result<VerifiedSsa, RegistrationError> {
    let (header, m) = jose::verify_with_set(jwt, register_keys).map_err(|e| map_jose(&e))?;
    // The CDR Register signs SSAs with PS256 only (docs/dcr-rules.md §5.1, §6 row 5).
    if header.alg != "PS256" {
        return Err(bad(UNSUPPORTED_ALG));
    }
    check_claims(jwt, header.kid.unwrap_or_default(), m, now, policy)
}

/// The checks of [`verify_ssa`] after the signature (steps 2 and 3), on the claims of `jwt`
/// signed by the Register key `kid`.
pub(crate) fn check_claims(
    jwt: &str,
    kid: String,
    m: Map<String, Value>,
    now: UnixTime,
    policy: &SsaPolicy,
) -> Result<VerifiedSsa, RegistrationError> {
    let skew = policy.clock_skew_secs;

    let iss = required_str(&m, "iss")?;
    if iss != policy.issuer {
        return Err(bad(NOT_FROM_REGISTER));
    }
    let exp = required_date(&m, "exp")?;
    if now >= exp.saturating_add(skew) {
        return Err(bad(EXPIRED));
    }
    let iat = required_date(&m, "iat")?;
    if iat > now.saturating_add(skew) {
        return Err(bad(ISSUED_IN_FUTURE));
    }
    match claims::date(&m, "nbf") {
        Claim::Present(nbf) if nbf > now.saturating_add(skew) => {
            return Err(bad(NOT_YET_VALID));
        }
        Claim::Invalid => return Err(invalid("nbf")),
        _ => {}
    }
    let jti = required_str(&m, "jti")?;

    let software_id = required_str(&m, "software_id")?;
    let org_id = required_str(&m, "org_id")?;
    let org_name = required_str(&m, "org_name")?;
    let client_name = required_str(&m, "client_name")?;
    let client_description = required_str(&m, "client_description")?;
    let client_uri = required_str(&m, "client_uri")?;
    let redirect_uris = match m.get("redirect_uris") {
        None | Some(Value::Null) => return Err(missing("redirect_uris")),
        Some(Value::Array(items)) => {
            let uris: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                .collect();
            match uris {
                Some(u) if !u.is_empty() => u,
                _ => return Err(invalid("redirect_uris")),
            }
        }
        Some(_) => return Err(invalid("redirect_uris")),
    };
    let logo_uri = required_str(&m, "logo_uri")?;
    let jwks_uri = required_str(&m, "jwks_uri")?;
    if !is_https_url(&jwks_uri) {
        return Err(bad(
            "Software statement assertion claim 'jwks_uri' must be an absolute https URL",
        ));
    }
    let sector_identifier_uri = optional_str(&m, "sector_identifier_uri")?;
    if sector_identifier_uri
        .as_deref()
        .is_some_and(|s| !is_https_url(s))
    {
        return Err(bad(
            "Software statement assertion claim 'sector_identifier_uri' must be an absolute https URL",
        ));
    }
    // CDS lists `software_roles` as a string; tolerate an array and a missing claim (the only
    // defined value is the default).
    let software_roles = match m.get("software_roles") {
        None | Some(Value::Null) => DEFAULT_SOFTWARE_ROLES.to_owned(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Array(items)) if !items.is_empty() => {
            // Each role non-empty, as the string form must be.
            let roles: Option<Vec<&str>> = items
                .iter()
                .map(|v| v.as_str().filter(|s| !s.is_empty()))
                .collect();
            roles.ok_or_else(|| invalid("software_roles"))?.join(" ")
        }
        Some(_) => return Err(invalid("software_roles")),
    };
    let scope = required_str(&m, "scope")?;

    Ok(VerifiedSsa {
        jwt: jwt.to_owned(),
        kid,
        iss,
        iat,
        exp,
        jti,
        legal_entity_id: optional_str(&m, "legal_entity_id")?,
        legal_entity_name: optional_str(&m, "legal_entity_name")?,
        org_id,
        org_name,
        client_name,
        client_description,
        client_uri,
        redirect_uris,
        sector_identifier_uri,
        logo_uri,
        tos_uri: optional_str(&m, "tos_uri")?,
        policy_uri: optional_str(&m, "policy_uri")?,
        jwks_uri,
        revocation_uri: optional_str(&m, "revocation_uri")?,
        recipient_base_uri: optional_str(&m, "recipient_base_uri")?,
        software_id,
        software_roles,
        scope,
        claims: m,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
