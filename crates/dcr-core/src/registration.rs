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

mod error;
mod metadata;
mod request;

pub use error::*;
pub use metadata::*;
pub use request::*;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
