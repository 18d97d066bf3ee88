//! JSON Web Signatures as the CDR uses them: compact JWS (RFC 7515 §7.1), JWK sets (RFC 7517) and
//! the two algorithms FAPI 1.0 Advanced §8.6 allows, `PS256` and `ES256` (CDS "Client Registration",
//! "Tokens"). Nothing else is ever accepted: `none`, `HS*` and `RS*` are refused before any key is
//! looked at, and every key is bound to exactly one algorithm when it is parsed.
//!
//! This module is the only place that touches the cryptography library (`aws-lc-rs`), so that it
//! can be replaced. Verification keys are parsed once ([`VerifyingKey`]) and signing keys keep
//! their parsed key pair ([`SigningKey`]), so the hot path never re-parses key material.
//!
//! Time claims (`exp`, `iat`, `nbf`) are deliberately *not* checked here: callers check them with
//! an explicit `now` and skew, because each protocol surface has its own rules.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

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

/// The three parts of a compact JWS.
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

/// Splits a token and returns its parts plus the signing input.
fn split_with_input(token: &str) -> Result<(Compact<'_>, &[u8]), JoseError> {
    let c = Compact::split(token)?;
    let input_len = c.header_b64.len() + 1 + c.payload_b64.len();
    let input = token
        .as_bytes()
        .get(..input_len)
        .ok_or_else(|| JoseError::Malformed("truncated token".into()))?;
    Ok((c, input))
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
/// [`JoseError::Malformed`] unless the token has three dot-separated parts and the first is
/// base64url-encoded JSON with a string `alg`.
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
    let c = Compact::split(token)?;
    b64_json_object(c.payload_b64, "payload")
}

/// A public key bound to one `kid` and one algorithm, parsed once for fast verification.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Alg,
    key: Arc<ParsedPublicKey>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// What to do with one JWK of a set.
enum JwkOutcome {
    /// Not a signature key for us (`use: enc`, other `kty`, no `kid`…): silently ignored.
    Skip,
    /// Meant for signatures but unusable; remembered so a lookup can explain why.
    Rejected(String, JoseError),
    /// Usable.
    Key(VerifyingKey),
}

fn b64_field(jwk: &Claims, name: &str) -> Result<Vec<u8>, JoseError> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::InvalidKey(format!("missing '{name}'")))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::InvalidKey(format!("'{name}' is not base64url")))
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn bit_len(be: &[u8]) -> usize {
    let be = strip_leading_zeros(be);
    match be.first() {
        None => 0,
        Some(&top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

impl VerifyingKey {
    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    #[must_use]
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Parses one JWK (RFC 7517 §4) into a verification key.
    ///
    /// An RSA key is bound to `PS256`, a P-256 key to `ES256`; a JWK `alg` member, if present, must
    /// name that algorithm. RSA keys below 2048 bits are [`JoseError::WeakKey`].
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] for encryption keys, keys without `kid`, unsupported key types or
    /// curves and bad key material; [`JoseError::UnsupportedAlg`] for a JWK `alg` we refuse;
    /// [`JoseError::WeakKey`] for small RSA keys.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JoseError> {
        match classify_jwk(jwk) {
            JwkOutcome::Key(k) => Ok(k),
            JwkOutcome::Rejected(_, e) => Err(e),
            JwkOutcome::Skip => Err(JoseError::InvalidKey(
                "not a signature verification key with a 'kid'".into(),
            )),
        }
    }

    fn verify_signature(&self, input: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        self.key
            .verify_sig(input, signature)
            .map_err(|_| JoseError::BadSignature)
    }
}

fn classify_jwk(jwk: &Value) -> JwkOutcome {
    let Some(jwk) = jwk.as_object() else {
        return JwkOutcome::Skip;
    };
    if jwk.get("use").and_then(Value::as_str) == Some("enc") {
        return JwkOutcome::Skip;
    }
    if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array) {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return JwkOutcome::Skip;
        }
    }
    let Some(kid) = jwk.get("kid").and_then(Value::as_str) else {
        return JwkOutcome::Skip;
    };
    let kid = kid.to_owned();
    let declared = jwk.get("alg").map(|a| a.as_str().unwrap_or_default());
    let result = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => rsa_key(jwk, declared),
        Some("EC") => ec_key(jwk, declared),
        _ => return JwkOutcome::Skip,
    };
    match result {
        Ok((alg, key)) => JwkOutcome::Key(VerifyingKey {
            kid,
            alg,
            key: Arc::new(key),
        }),
        Err(e) => JwkOutcome::Rejected(kid, e),
    }
}

fn check_declared(declared: Option<&str>, bound: Alg) -> Result<(), JoseError> {
    match declared {
        None => Ok(()),
        Some(a) if a == bound.as_str() => Ok(()),
        Some(a) => Err(JoseError::UnsupportedAlg(printable(a))),
    }
}

fn rsa_key(jwk: &Claims, declared: Option<&str>) -> Result<(Alg, ParsedPublicKey), JoseError> {
    check_declared(declared, Alg::PS256)?;
    let n = b64_field(jwk, "n")?;
    let e = b64_field(jwk, "e")?;
    let bits = bit_len(&n);
    if bits < MIN_RSA_BITS {
        return Err(JoseError::WeakKey);
    }
    if bits > MAX_RSA_BITS {
        return Err(JoseError::InvalidKey("RSA modulus too large".into()));
    }
    let comps = RsaPublicKeyComponents {
        n: strip_leading_zeros(&n),
        e: strip_leading_zeros(&e),
    };
    let key = comps
        .to_parsed_public_key(&sig::RSA_PSS_2048_8192_SHA256)
        .map_err(|e| JoseError::InvalidKey(format!("RSA key rejected: {e}")))?;
    Ok((Alg::PS256, key))
}

fn ec_key(jwk: &Claims, declared: Option<&str>) -> Result<(Alg, ParsedPublicKey), JoseError> {
    match jwk.get("crv").and_then(Value::as_str) {
        Some("P-256") => {}
        Some(other) => {
            return Err(JoseError::InvalidKey(format!(
                "unsupported curve '{}'",
                printable(other)
            )))
        }
        None => return Err(JoseError::InvalidKey("missing 'crv'".into())),
    }
    check_declared(declared, Alg::ES256)?;
    let x = b64_field(jwk, "x")?;
    let y = b64_field(jwk, "y")?;
    if x.len() != 32 || y.len() != 32 {
        return Err(JoseError::InvalidKey(
            "P-256 coordinates must be 32 bytes".into(),
        ));
    }
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let key = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
        .map_err(|e| JoseError::InvalidKey(format!("EC key rejected: {e}")))?;
    Ok((Alg::ES256, key))
}

/// A JWK set (RFC 7517 §5) reduced to the signature keys we can use, indexed by `kid`.
#[derive(Clone, Default)]
pub struct JwkSet {
    keys: Vec<VerifyingKey>,
    index: HashMap<String, usize>,
    rejected: HashMap<String, JoseError>,
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwkSet")
            .field("keys", &self.keys)
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl JwkSet {
    /// Parses a JWK set document.
    ///
    /// Keys that are not for us (`use: "enc"`, `key_ops` without `verify`, no `kid`, `kty` other
    /// than `RSA`/`EC`) are skipped. Signature keys we cannot use (small RSA, other curves, `alg`
    /// other than `PS256`/`ES256`, bad material) are left out of the set but remembered, so that
    /// [`JwkSet::find`] explains why a token signed with one fails.
    ///
    /// # Errors
    /// [`JoseError::InvalidJwks`] if the document is not a JSON object with a `keys` array, or if
    /// two signature keys share a `kid` (CDS "JWKS": "MUST NOT contain multiple keys with the same
    /// kid").
    pub fn parse(bytes: &[u8]) -> Result<Self, JoseError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|_| JoseError::InvalidJwks("not JSON".into()))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JoseError::InvalidJwks("no 'keys' array".into()))?;
        let mut set = Self::default();
        for jwk in keys {
            let (kid, outcome) = match classify_jwk(jwk) {
                JwkOutcome::Skip => continue,
                JwkOutcome::Rejected(kid, e) => (kid, Err(e)),
                JwkOutcome::Key(k) => (k.kid.clone(), Ok(k)),
            };
            if set.index.contains_key(&kid) || set.rejected.contains_key(&kid) {
                return Err(JoseError::InvalidJwks(format!(
                    "duplicate kid '{}'",
                    printable(&kid)
                )));
            }
            match outcome {
                Ok(k) => set.insert(k),
                Err(e) => {
                    set.rejected.insert(kid, e);
                }
            }
        }
        Ok(set)
    }

    /// Builds a set from keys already parsed (for example our own [`SigningKey::verifying_key`]s).
    ///
    /// # Errors
    /// [`JoseError::InvalidJwks`] on a duplicate `kid`.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, JoseError> {
        let mut set = Self::default();
        for k in keys {
            if set.index.contains_key(&k.kid) {
                return Err(JoseError::InvalidJwks(format!(
                    "duplicate kid '{}'",
                    printable(&k.kid)
                )));
            }
            set.insert(k);
        }
        Ok(set)
    }

    fn insert(&mut self, k: VerifyingKey) {
        self.index.insert(k.kid.clone(), self.keys.len());
        self.keys.push(k);
    }

    /// The usable key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.index.get(kid).and_then(|&i| self.keys.get(i))
    }

    /// Like [`JwkSet::get`] but says why there is no usable key.
    ///
    /// # Errors
    /// The reason a key with this `kid` was refused at parse time ([`JoseError::WeakKey`], …), or
    /// [`JoseError::UnknownKid`] if the set never had it.
    pub fn find(&self, kid: &str) -> Result<&VerifyingKey, JoseError> {
        if let Some(k) = self.get(kid) {
            return Ok(k);
        }
        Err(self
            .rejected
            .get(kid)
            .cloned()
            .unwrap_or_else(|| JoseError::UnknownKid(printable(kid))))
    }

    /// The `kid`s of the usable keys, in document order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }

    /// Number of usable keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn verify_parts(
    c: &Compact<'_>,
    input: &[u8],
    header: &JwsHeader,
    key: &VerifyingKey,
) -> Result<Claims, JoseError> {
    let alg =
        Alg::parse(&header.alg).ok_or_else(|| JoseError::UnsupportedAlg(printable(&header.alg)))?;
    if alg != key.alg {
        return Err(JoseError::AlgMismatch);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(c.signature_b64)
        .map_err(|_| JoseError::BadSignature)?;
    key.verify_signature(input, &signature)?;
    b64_json_object(c.payload_b64, "payload")
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
    let (c, input) = split_with_input(token)?;
    let header = header_from_map(&b64_json_object(c.header_b64, "header")?)?;
    verify_parts(&c, input, &header, key)
}

/// Verifies a compact JWS with the key its header `kid` selects from `keys`.
///
/// Returns the header too, so callers can log the `kid`.
///
/// # Errors
/// As [`verify`], plus [`JoseError::MissingKid`] and [`JoseError::UnknownKid`] (refetch the set
/// once and retry), or the reason the key with that `kid` was refused when the set was parsed.
pub fn verify_with_set(token: &str, keys: &JwkSet) -> Result<(JwsHeader, Claims), JoseError> {
    let (c, input) = split_with_input(token)?;
    let header = header_from_map(&b64_json_object(c.header_b64, "header")?)?;
    // Refuse a bad alg before looking at keys, so `none`/HS256 never reach key selection.
    Alg::parse(&header.alg).ok_or_else(|| JoseError::UnsupportedAlg(printable(&header.alg)))?;
    let kid = header.kid.as_deref().ok_or(JoseError::MissingKid)?;
    let key = keys.find(kid)?;
    let claims = verify_parts(&c, input, &header, key)?;
    Ok((header, claims))
}

enum KeyPairInner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private key we sign with (access tokens, and in tests everything else).
///
/// Keeps the parsed key pair, its public JWK and its [`VerifyingKey`], so signing never re-parses.
/// `Send + Sync`; share it with `Arc`.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    inner: KeyPairInner,
    pkcs8: Vec<u8>,
    public_jwk: Value,
    verifying: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn signing_err(e: impl fmt::Display) -> JoseError {
    JoseError::Signing(e.to_string())
}

impl SigningKey {
    fn from_rsa(kid: String, kp: RsaKeyPair) -> Result<Self, JoseError> {
        if kp.public_modulus_len() * 8 < MIN_RSA_BITS {
            return Err(JoseError::WeakKey);
        }
        let pkcs8 = kp.as_der().map_err(signing_err)?.as_ref().to_vec();
        let public = kp.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let public_jwk = serde_json::json!({
            "kty": "RSA",
            "kid": kid,
            "alg": "PS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&n),
            "e": URL_SAFE_NO_PAD.encode(&e),
        });
        let parsed = ParsedPublicKey::new(&sig::RSA_PSS_2048_8192_SHA256, public.as_ref())
            .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        Ok(Self {
            verifying: VerifyingKey {
                kid: kid.clone(),
                alg: Alg::PS256,
                key: Arc::new(parsed),
            },
            kid,
            alg: Alg::PS256,
            inner: KeyPairInner::Rsa(kp),
            pkcs8,
            public_jwk,
        })
    }

    fn from_ec(kid: String, kp: EcdsaKeyPair) -> Result<Self, JoseError> {
        let pkcs8 = kp.to_pkcs8v1().map_err(signing_err)?.as_ref().to_vec();
        let point = kp.public_key().as_ref().to_vec();
        let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
            return Err(JoseError::InvalidKey(
                "unexpected EC public key encoding".into(),
            ));
        };
        let public_jwk = serde_json::json!({
            "kty": "EC",
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        let parsed = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point)
            .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        Ok(Self {
            verifying: VerifyingKey {
                kid: kid.clone(),
                alg: Alg::ES256,
                key: Arc::new(parsed),
            },
            kid,
            alg: Alg::ES256,
            inner: KeyPairInner::Ec(kp),
            pkcs8,
            public_jwk,
        })
    }

    /// Generates a new P-256 key for `ES256`.
    ///
    /// # Errors
    /// [`JoseError::Signing`] if the library cannot generate a key.
    pub fn generate_es256(kid: impl Into<String>) -> Result<Self, JoseError> {
        let kp =
            EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(signing_err)?;
        Self::from_ec(kid.into(), kp)
    }

    /// Generates a new RSA key for `PS256`; `bits` is 2048, 3072 or 4096.
    ///
    /// # Errors
    /// [`JoseError::WeakKey`] below 2048 bits, [`JoseError::InvalidKey`] for other sizes.
    pub fn generate_ps256(kid: impl Into<String>, bits: usize) -> Result<Self, JoseError> {
        let size = match bits {
            b if b < MIN_RSA_BITS => return Err(JoseError::WeakKey),
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(JoseError::InvalidKey(
                    "RSA size must be 2048, 3072 or 4096".into(),
                ))
            }
        };
        let kp = RsaKeyPair::generate(size).map_err(signing_err)?;
        Self::from_rsa(kid.into(), kp)
    }

    /// Loads a PEM private key: PKCS#8 (`PRIVATE KEY`) holding RSA (→ `PS256`) or P-256
    /// (→ `ES256`), or the legacy `RSA PRIVATE KEY` / `EC PRIVATE KEY` forms.
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] for anything else (including encrypted PEM and other curves),
    /// [`JoseError::WeakKey`] for RSA below 2048 bits.
    pub fn from_pkcs8_pem(pem: &str, kid: impl Into<String>) -> Result<Self, JoseError> {
        let kid = kid.into();
        let (label, der) = pem_decode(pem)?;
        match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(kp) = RsaKeyPair::from_pkcs8(&der) {
                    return Self::from_rsa(kid, kp);
                }
                let kp = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|e| {
                        JoseError::InvalidKey(format!("not an RSA or P-256 PKCS#8 key: {e}"))
                    })?;
                Self::from_ec(kid, kp)
            }
            "RSA PRIVATE KEY" => {
                let kp = RsaKeyPair::from_der(&der)
                    .map_err(|e| JoseError::InvalidKey(format!("RSA key rejected: {e}")))?;
                Self::from_rsa(kid, kp)
            }
            "EC PRIVATE KEY" => {
                let kp =
                    EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                        .map_err(|e| JoseError::InvalidKey(format!("EC key rejected: {e}")))?;
                Self::from_ec(kid, kp)
            }
            other => Err(JoseError::InvalidKey(format!(
                "unsupported PEM label '{}'",
                printable(other)
            ))),
        }
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), for persisting generated
    /// keys.
    ///
    /// # Security
    /// This is the secret key. Never log it.
    #[must_use]
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The key id put in every header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The public JWK: `kty`, `kid`, `alg`, `use: "sig"` and `n`/`e` or `crv`/`x`/`y`.
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// The matching verification key.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying.clone()
    }

    /// Signs raw JWS signing input.
    fn sign_input(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let rng = SystemRandom::new();
        match &self.inner {
            KeyPairInner::Rsa(kp) => {
                let mut out = vec![0; kp.public_modulus_len()];
                kp.sign(&sig::RSA_PSS_SHA256, &rng, input, &mut out)
                    .map_err(signing_err)?;
                Ok(out)
            }
            KeyPairInner::Ec(kp) => {
                Ok(kp.sign(&rng, input).map_err(signing_err)?.as_ref().to_vec())
            }
        }
    }

    /// Signs `claims` (a JSON object) with header `{"alg", "kid", "typ": "JWT"}`.
    ///
    /// # Errors
    /// [`JoseError::Malformed`] if `claims` is not an object; [`JoseError::Signing`] if the
    /// library fails.
    pub fn sign(&self, claims: &Value) -> Result<String, JoseError> {
        let header = serde_json::json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": "JWT"});
        self.sign_with_header(&header, claims)
    }

    /// Signs with an explicit header, which is used verbatim (tests craft bad headers with it).
    pub(crate) fn sign_with_header(
        &self,
        header: &Value,
        claims: &Value,
    ) -> Result<String, JoseError> {
        if !claims.is_object() {
            return Err(JoseError::Malformed("claims must be a JSON object".into()));
        }
        let h = serde_json::to_vec(header).map_err(signing_err)?;
        let p = serde_json::to_vec(claims).map_err(signing_err)?;
        let mut token = URL_SAFE_NO_PAD.encode(h);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(p));
        let signature = self.sign_input(token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// A JWK set document `{"keys": [...]}` with the public keys of `keys`, e.g. for a JWKS endpoint.
#[must_use]
pub fn jwks_document<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    let keys: Vec<Value> = keys.into_iter().map(SigningKey::public_jwk).collect();
    serde_json::json!({ "keys": keys })
}

fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), JoseError> {
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_owned());
            body.clear();
        } else if line.starts_with("-----END ") {
            let label = label.ok_or_else(|| JoseError::InvalidKey("PEM without BEGIN".into()))?;
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|_| JoseError::InvalidKey("PEM body is not base64".into()))?;
            return Ok((label, der));
        } else if line.contains(':') {
            return Err(JoseError::InvalidKey(
                "encrypted or annotated PEM is not supported".into(),
            ));
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    Err(JoseError::InvalidKey("no PEM block found".into()))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str(
        "-----
",
    );
    out
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
