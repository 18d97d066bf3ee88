//! JSON Web Signatures as the CDR uses them: compact JWS (RFC 7515 §7.1), JWK sets (RFC 7517) and
//! the two algorithms FAPI 1.0 Advanced §8.6 allows, `PS256` and `ES256` (CDS "Client Registration",
//! "Tokens"); see docs/dcr-rules.md §1.
//!
//! Signatures are made and verified by `jsonwebtoken` (on its `aws-lc-rs` backend); this module is
//! the CDR policy around it, checked before the library sees a token or a key: `none`, `HS*` and
//! `RS*` are refused before any key is looked at, a `crit` header is refused, every key is bound to
//! exactly one algorithm when it is parsed, RSA keys have 2048 to 8192 bits, EC keys are P-256
//! points, and a JWK set may not name two keys with one `kid`. Keys are turned into the library's
//! [`jsonwebtoken::DecodingKey`] / [`jsonwebtoken::EncodingKey`] once, when they are parsed, and
//! kept. `aws-lc-rs` is used directly only to generate keys, to read private keys from PEM and to
//! check that a public key is a valid point or modulus when its JWK is parsed.
//!
//! Time claims (`exp`, `iat`, `nbf`) are deliberately *not* checked here: callers check them with
//! an explicit `now` and skew, because each protocol surface has its own rules.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

mod jwk;
mod signing;

pub use jwk::*;
pub use signing::*;

/// JSON object claims of a JWT.
pub type Claims = Map<String, Value>;

/// Longest compact JWS we are prepared to parse (64 KiB). A registration request carries its SSA
/// inside, so it is the largest token we see; real ones are a few kilobytes.
pub const MAX_JWS_LEN: usize = 64 * 1024;

/// Smallest RSA modulus accepted (FAPI 1.0 §5.2.2: "shall require … RSA keys with a minimum of
/// 2048 bits").
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted (the verification primitive's upper bound).
pub const MAX_RSA_BITS: usize = 8192;

/// A JWS algorithm the CDR ecosystem allows (FAPI 1.0 Advanced §8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PSS using SHA-256 and MGF1 with SHA-256 (RFC 7518 §3.5).
    PS256,
    /// ECDSA using P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
}

impl Alg {
    /// The JOSE `alg` name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }

    /// The library's name for it.
    #[must_use]
    pub const fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::PS256 => jsonwebtoken::Algorithm::PS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    /// Parses an `alg` name; `None` for anything but `PS256` and `ES256` (case-sensitive, as
    /// RFC 7515 §4.1.1 requires).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PS256" => Some(Self::PS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

impl FromStr for Alg {
    type Err = JoseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| JoseError::UnsupportedAlg(printable(s)))
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a JWS, JWK or JWK set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not a compact JWS, bad base64url, or header/payload not a JSON object.
    #[error("malformed JWS: {0}")]
    Malformed(String),
    /// `alg` is not `PS256`/`ES256` (including `none`, `HS*`, `RS*`).
    #[error("unsupported signing algorithm '{0}'")]
    UnsupportedAlg(String),
    /// The JWS header has no `kid` but one is required to select the key.
    #[error("the JWS header has no 'kid'")]
    MissingKid,
    /// No usable key with this `kid` (callers may refetch the JWK set once).
    #[error("no key with kid '{0}'")]
    UnknownKid(String),
    /// The header `alg` is allowed but is not the algorithm the key is bound to.
    #[error("the JWS 'alg' does not match the key's algorithm")]
    AlgMismatch,
    /// The signature does not verify with the key.
    #[error("signature verification failed")]
    BadSignature,
    /// A key could not be parsed or is not usable.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An RSA key smaller than [`MIN_RSA_BITS`].
    #[error("RSA keys must be at least 2048 bits")]
    WeakKey,
    /// The JWK set document is not acceptable as a whole.
    #[error("invalid JWK set: {0}")]
    InvalidJwks(String),
    /// The cryptography library failed to produce a signature or key.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The protected header of a compact JWS (RFC 7515 §4.1), as far as we use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// `alg`, as sent (not yet checked against the allow-list).
    pub alg: String,
    /// `kid`, selecting the key in the signer's JWK set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `typ`, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// The three parts of a compact JWS, after the size and shape checks of the policy.
struct Compact<'a> {
    header_b64: &'a str,
    payload_b64: &'a str,
    signature_b64: &'a str,
}

impl<'a> Compact<'a> {
    fn split(token: &'a str) -> Result<Self, JoseError> {
        if token.len() > MAX_JWS_LEN {
            return Err(JoseError::Malformed("token too large".into()));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed(
                "a compact JWS has exactly three parts".into(),
            ));
        };
        if h.is_empty() || p.is_empty() {
            return Err(JoseError::Malformed("empty header or payload".into()));
        }
        Ok(Self {
            header_b64: h,
            payload_b64: p,
            signature_b64: s,
        })
    }
}

fn b64_json_object(part: &str, what: &str) -> Result<Claims, JoseError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JoseError::Malformed(format!("{what} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JoseError::Malformed(format!("{what} is not a JSON object"))),
    }
}

fn header_from_map(map: &Claims) -> Result<JwsHeader, JoseError> {
    // RFC 7515 §4.1.11: a recipient that does not understand a `crit` extension MUST reject.
    if map.contains_key("crit") {
        return Err(JoseError::Malformed(
            "unsupported 'crit' header parameter".into(),
        ));
    }
    serde_json::from_value(Value::Object(map.clone()))
        .map_err(|_| JoseError::Malformed("header 'alg', 'kid' or 'typ' is not a string".into()))
}

/// Decodes the protected header of a compact JWS without verifying anything.
///
/// # Errors
/// [`JoseError::Malformed`] unless the token has three dot-separated parts, the first is
/// base64url-encoded JSON with a string `alg`, and there is no `crit` member.
pub fn decode_header(token: &str) -> Result<JwsHeader, JoseError> {
    let c = Compact::split(token)?;
    header_from_map(&b64_json_object(c.header_b64, "header")?)
}

/// Decodes the payload of a compact JWS **without verifying the signature**.
///
/// # Security
/// Only for locating data that tells us which key to verify with (the SSA inside a registration
/// request, the `iss` of a client assertion). Never trust the result.
///
/// # Errors
/// [`JoseError::Malformed`] if the token is not a compact JWS with a JSON object payload.
pub fn decode_claims_unverified(token: &str) -> Result<Claims, JoseError> {
    // Not jsonwebtoken's `insecure_decode_claims`, which decodes the header as well and costs
    // three times as much (measured with callgrind); nothing here is verified either way.
    b64_json_object(Compact::split(token)?.payload_b64, "payload")
}

/// What `jsonwebtoken` checks besides the signature: nothing (no required claim, no `exp`, `nbf`
/// or `aud`), since the time and audience rules belong to each caller.
fn validation(alg: Alg) -> &'static Validation {
    fn only(alg: Alg) -> Validation {
        let mut v = Validation::new(alg.jwt());
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v
    }
    static PS256: LazyLock<Validation> = LazyLock::new(|| only(Alg::PS256));
    static ES256: LazyLock<Validation> = LazyLock::new(|| only(Alg::ES256));
    match alg {
        Alg::PS256 => &PS256,
        Alg::ES256 => &ES256,
    }
}

/// The policy checks of the header against the key, then the signature by `jsonwebtoken`.
fn verify_checked(
    token: &str,
    c: &Compact<'_>,
    header: &JwsHeader,
    key: &VerifyingKey,
) -> Result<Claims, JoseError> {
    let alg =
        Alg::parse(&header.alg).ok_or_else(|| JoseError::UnsupportedAlg(printable(&header.alg)))?;
    if alg != key.alg() {
        return Err(JoseError::AlgMismatch);
    }
    match jsonwebtoken::decode::<Claims>(token, &key.decoding, validation(alg)) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            // The signature is checked before the payload is read, so an undecodable signature
            // is a bad signature, and anything else undecodable is the payload.
            ErrorKind::Base64(_) if URL_SAFE_NO_PAD.decode(c.signature_b64).is_err() => {
                JoseError::BadSignature
            }
            ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                JoseError::Malformed("payload is not a base64url JSON object".into())
            }
            ErrorKind::InvalidAlgorithm => JoseError::AlgMismatch,
            _ => JoseError::BadSignature,
        }),
    }
}

/// Verifies a compact JWS with one key and returns its claims.
///
/// The header `alg` must be `PS256` or `ES256` **and** the algorithm the key is bound to. No time
/// claim is checked.
///
/// # Errors
/// [`JoseError::Malformed`], [`JoseError::UnsupportedAlg`], [`JoseError::AlgMismatch`] or
/// [`JoseError::BadSignature`].
pub fn verify(token: &str, key: &VerifyingKey) -> Result<Claims, JoseError> {
    let c = Compact::split(token)?;
    let header = header_from_map(&b64_json_object(c.header_b64, "header")?)?;
    verify_checked(token, &c, &header, key)
}

/// Verifies a compact JWS with the key its header `kid` selects from `keys`.
///
/// Returns the header too, so callers can log the `kid`.
///
/// # Errors
/// As [`verify`], plus [`JoseError::MissingKid`] and [`JoseError::UnknownKid`] (refetch the set
/// once and retry), or the reason the key with that `kid` was refused when the set was parsed.
pub fn verify_with_set(token: &str, keys: &JwkSet) -> Result<(JwsHeader, Claims), JoseError> {
    let c = Compact::split(token)?;
    let header = header_from_map(&b64_json_object(c.header_b64, "header")?)?;
    // Refuse a bad alg before looking at keys, so `none`/HS256 never reach key selection.
    Alg::parse(&header.alg).ok_or_else(|| JoseError::UnsupportedAlg(printable(&header.alg)))?;
    let kid = header.kid.as_deref().ok_or(JoseError::MissingKid)?;
    let key = keys.find(kid)?;
    let claims = verify_checked(token, &c, &header, key)?;
    Ok((header, claims))
}

/// A JWK set document `{"keys": [...]}` with the public keys of `keys`, e.g. for a JWKS endpoint.
#[must_use]
pub fn jwks_document<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    let keys: Vec<Value> = keys.into_iter().map(SigningKey::public_jwk).collect();
    serde_json::json!({ "keys": keys })
}

/// Reads one PEM block (label and DER); encrypted or annotated PEM (with headers) is refused.
fn pem_decode(text: &str) -> Result<(String, Vec<u8>), JoseError> {
    let block = pem::parse(text).map_err(|_| JoseError::InvalidKey("no PEM block found".into()))?;
    if block.headers().iter().next().is_some() {
        return Err(JoseError::InvalidKey(
            "encrypted or annotated PEM is not supported".into(),
        ));
    }
    Ok((block.tag().to_owned(), block.into_contents()))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The RFC 8705 §3.1 certificate thumbprint `x5t#S256`: base64url (no padding) of the SHA-256
/// of the DER certificate.
#[must_use]
pub fn thumbprint_x5t_s256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der))
}

/// Compares two strings in constant time (for thumbprints, tokens, secrets).
///
/// # Security
/// Only the lengths may leak through timing.
#[must_use]
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Makes attacker-controlled text safe to echo in an `error_description` (RFC 6749 §5.2 allows
/// `%x20-21 / %x23-5B / %x5D-7E`) and short.
#[must_use]
pub fn printable(s: &str) -> String {
    s.chars()
        .take(128)
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
