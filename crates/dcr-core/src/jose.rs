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
mod tests {
    use super::*;
    use crate::testutil::{sign_with_header, test_keys, unsigned_jwt};
    use serde_json::json;

    fn claims() -> Value {
        json!({"iss": "me", "n": 1})
    }

    fn es_set() -> JwkSet {
        JwkSet::from_keys([test_keys().adr_es256.verifying_key()]).unwrap()
    }

    #[test]
    fn alg_parse_allows_only_ps256_and_es256() {
        let cases = [
            ("PS256", Some(Alg::PS256), "PS256 is allowed"),
            ("ES256", Some(Alg::ES256), "ES256 is allowed"),
            ("ps256", None, "alg names are case-sensitive"),
            ("RS256", None, "RS256 is refused"),
            ("HS256", None, "HMAC is refused"),
            ("none", None, "none is refused"),
            ("ES384", None, "other curves are refused"),
            ("", None, "empty is refused"),
        ];
        for (input, want, msg) in cases {
            assert_eq!(Alg::parse(input), want, "{msg}");
            assert_eq!(input.parse::<Alg>().ok(), want, "{msg} (FromStr)");
        }
        assert_eq!(Alg::PS256.as_str(), "PS256");
        assert_eq!(Alg::ES256.to_string(), "ES256");
        assert_eq!(serde_json::to_value(Alg::ES256).unwrap(), json!("ES256"));
    }

    #[test]
    fn sign_then_verify_round_trips_for_both_algs() {
        for key in [&test_keys().adr_ps256, &test_keys().adr_es256] {
            let token = key.sign(&claims()).unwrap();
            let header = decode_header(&token).unwrap();
            assert_eq!(header.alg, key.alg().as_str(), "header alg is the key's");
            assert_eq!(
                header.kid.as_deref(),
                Some(key.kid()),
                "header kid is the key's"
            );
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            let got = verify(&token, &key.verifying_key()).unwrap();
            assert_eq!(Value::Object(got), claims(), "{} claims survive", key.alg());
        }
    }

    #[test]
    fn verify_rejects_alg_none() {
        let k = &test_keys().adr_es256;
        let token = unsigned_jwt(&json!({"alg": "none", "kid": k.kid()}), &claims(), b"");
        assert!(
            matches!(verify(&token, &k.verifying_key()), Err(JoseError::UnsupportedAlg(a)) if a == "none")
        );
        assert!(matches!(
            verify_with_set(&token, &es_set()),
            Err(JoseError::UnsupportedAlg(_))
        ));
    }

    #[test]
    fn verify_rejects_hs256() {
        // The classic confusion: HMAC keyed with the public key bytes.
        let k = &test_keys().adr_es256;
        let token = unsigned_jwt(
            &json!({"alg": "HS256", "kid": k.kid()}),
            &claims(),
            &[7; 32],
        );
        assert!(matches!(
            verify(&token, &k.verifying_key()),
            Err(JoseError::UnsupportedAlg(_))
        ));
        assert!(matches!(
            verify_with_set(&token, &es_set()),
            Err(JoseError::UnsupportedAlg(_))
        ));
    }

    #[test]
    fn verify_rejects_rs256_even_with_a_valid_rsa_key() {
        let k = &test_keys().adr_ps256;
        let token =
            sign_with_header(k, &json!({"alg": "RS256", "kid": k.kid()}), &claims()).unwrap();
        assert!(matches!(
            verify(&token, &k.verifying_key()),
            Err(JoseError::UnsupportedAlg(_))
        ));
    }

    #[test]
    fn verify_binds_alg_to_key() {
        let es = &test_keys().adr_es256;
        let ps = &test_keys().adr_ps256;
        let token =
            sign_with_header(ps, &json!({"alg": "PS256", "kid": es.kid()}), &claims()).unwrap();
        assert_eq!(
            verify(&token, &es.verifying_key()),
            Err(JoseError::AlgMismatch),
            "PS256 header on an ES256 key"
        );
        let token = es.sign(&claims()).unwrap();
        assert_eq!(
            verify(&token, &ps.verifying_key()),
            Err(JoseError::AlgMismatch),
            "ES256 token on a PS256 key"
        );
    }

    #[test]
    fn verify_rejects_bad_signatures() {
        let k = &test_keys().adr_es256;
        let token = k.sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let other_payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"you"}"#);
        let cases = [
            (
                format!("{}.{}.{}", parts[0], other_payload, parts[2]),
                "tampered payload",
            ),
            (format!("{}.{}.", parts[0], parts[1]), "empty signature"),
            (
                format!("{}.{}.{}", parts[0], parts[1], "!!"),
                "signature not base64url",
            ),
            (
                SigningKey::generate_es256(k.kid())
                    .unwrap()
                    .sign(&claims())
                    .unwrap(),
                "other key, same kid",
            ),
        ];
        for (t, msg) in cases {
            assert_eq!(
                verify(&t, &k.verifying_key()),
                Err(JoseError::BadSignature),
                "{msg}"
            );
        }
    }

    #[test]
    fn decode_header_requires_compact_jws_with_json_header() {
        let b = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let cases = [
            ("a.b".to_owned(), "two parts"),
            ("a.b.c.d".to_owned(), "four parts"),
            (format!(".{}.x", b("{}")), "empty header"),
            (format!("!!!.{}.x", b("{}")), "header not base64url"),
            (
                format!("{}.{}.x", b("[1]"), b("{}")),
                "header not an object",
            ),
            (
                format!("{}.{}.x", b("{\"kid\":\"k\"}"), b("{}")),
                "header without alg",
            ),
            (
                format!("{}.{}.x", b("{\"alg\":1}"), b("{}")),
                "alg not a string",
            ),
            (
                format!(
                    "{}.{}.x",
                    b("{\"alg\":\"PS256\",\"crit\":[\"exp\"]}"),
                    b("{}")
                ),
                "crit not understood",
            ),
            ("x".repeat(MAX_JWS_LEN + 1), "oversized"),
        ];
        for (t, msg) in cases {
            assert!(
                matches!(decode_header(&t), Err(JoseError::Malformed(_))),
                "{msg}"
            );
        }
        let ok = format!(
            "{}.{}.x",
            b("{\"alg\":\"PS256\",\"kid\":\"k\",\"x\":1}"),
            b("{}")
        );
        let h = decode_header(&ok).unwrap();
        assert_eq!(
            (h.alg.as_str(), h.kid.as_deref(), h.typ),
            ("PS256", Some("k"), None)
        );
    }

    #[test]
    fn decode_claims_unverified_reads_payload_object_only() {
        let b = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let h = b("{\"alg\":\"none\"}");
        let m = decode_claims_unverified(&format!("{h}.{}.", b("{\"a\":1}"))).unwrap();
        assert_eq!(m.get("a"), Some(&json!(1)));
        for (payload, msg) in [("[]", "array"), ("1", "number"), ("nope", "not JSON")] {
            assert!(
                matches!(
                    decode_claims_unverified(&format!("{h}.{}.", b(payload))),
                    Err(JoseError::Malformed(_))
                ),
                "payload {msg}"
            );
        }
    }

    #[test]
    fn verify_with_set_requires_known_kid() {
        let k = &test_keys().adr_es256;
        let no_kid = sign_with_header(k, &json!({"alg": "ES256"}), &claims()).unwrap();
        assert_eq!(
            verify_with_set(&no_kid, &es_set()).map(|_| ()),
            Err(JoseError::MissingKid)
        );
        let other =
            sign_with_header(k, &json!({"alg": "ES256", "kid": "nope"}), &claims()).unwrap();
        assert_eq!(
            verify_with_set(&other, &es_set()).map(|_| ()),
            Err(JoseError::UnknownKid("nope".into()))
        );
        let good = k.sign(&claims()).unwrap();
        let (h, m) = verify_with_set(&good, &es_set()).unwrap();
        assert_eq!(h.kid.as_deref(), Some("adr-es256"));
        assert_eq!(m.get("iss"), Some(&json!("me")));
    }

    fn rsa_jwk(bits_bytes: usize, kid: &str) -> Value {
        let mut n = vec![0xC5_u8; bits_bytes];
        n[bits_bytes - 1] = 0x01;
        json!({"kty": "RSA", "kid": kid, "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB"})
    }

    #[test]
    fn jwks_rejects_rsa_1024() {
        let jwk = rsa_jwk(128, "small");
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).map(|_| ()),
            Err(JoseError::WeakKey),
            "1024-bit key alone"
        );
        let doc = json!({"keys": [jwk, test_keys().adr_es256.public_jwk()]});
        let set = JwkSet::parse(doc.to_string().as_bytes()).unwrap();
        assert!(set.get("small").is_none(), "weak key is not usable");
        assert_eq!(
            set.find("small").map(|_| ()),
            Err(JoseError::WeakKey),
            "lookup explains why"
        );
        assert_eq!(set.len(), 1, "the good key remains");
    }

    #[test]
    fn jwks_binds_each_key_to_one_alg() {
        let ps = test_keys().adr_ps256.public_jwk();
        let es = test_keys().adr_es256.public_jwk();
        let strip = |mut v: Value, kid: &str| {
            v.as_object_mut().unwrap().remove("alg");
            v["kid"] = json!(kid);
            v
        };
        let with_alg = |mut v: Value, kid: &str, alg: &str| {
            v["kid"] = json!(kid);
            v["alg"] = json!(alg);
            v
        };
        let doc = json!({"keys": [
            strip(ps.clone(), "rsa-no-alg"),
            strip(es.clone(), "ec-no-alg"),
            with_alg(ps.clone(), "rsa-rs256", "RS256"),
            with_alg(ps.clone(), "rsa-es256", "ES256"),
            with_alg(es.clone(), "ec-ps256", "PS256"),
        ]});
        let set = JwkSet::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(
            set.get("rsa-no-alg").map(VerifyingKey::alg),
            Some(Alg::PS256),
            "RSA without alg is PS256"
        );
        assert_eq!(
            set.get("ec-no-alg").map(VerifyingKey::alg),
            Some(Alg::ES256),
            "P-256 without alg is ES256"
        );
        for kid in ["rsa-rs256", "rsa-es256", "ec-ps256"] {
            assert!(
                matches!(set.find(kid), Err(JoseError::UnsupportedAlg(_))),
                "{kid} is refused"
            );
        }
        assert_eq!(
            set.kids().collect::<Vec<_>>(),
            vec!["rsa-no-alg", "ec-no-alg"]
        );
    }

    #[test]
    fn jwks_skips_keys_that_are_not_for_signatures() {
        let es = test_keys().adr_es256.public_jwk();
        let variant = |patch: Value| {
            let mut v = es.clone();
            crate::testutil::patch(&mut v, &patch);
            v
        };
        let doc = json!({"keys": [
            variant(json!({"kid": "enc", "use": "enc"})),
            variant(json!({"kid": "ops", "key_ops": ["encrypt"]})),
            variant(json!({"kid": null})),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            "not an object",
            variant(json!({"kid": "ok", "key_ops": ["verify"]})),
        ]});
        let set = JwkSet::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(
            set.kids().collect::<Vec<_>>(),
            vec!["ok"],
            "only the signature key is kept"
        );
        assert!(
            matches!(set.find("enc"), Err(JoseError::UnknownKid(_))),
            "enc keys are skipped silently"
        );
    }

    #[test]
    fn jwks_rejects_unusable_ec_keys() {
        let es = test_keys().adr_es256.public_jwk();
        let cases = [
            (json!({"crv": "P-384"}), "other curve"),
            (json!({"crv": null}), "no curve"),
            (json!({"x": "AAAA"}), "short coordinate"),
            (
                json!({"x": URL_SAFE_NO_PAD.encode([1u8; 32])}),
                "point not on curve",
            ),
            (json!({"y": null}), "missing y"),
        ];
        for (patch, msg) in cases {
            let mut jwk = es.clone();
            crate::testutil::patch(&mut jwk, &patch);
            assert!(
                matches!(VerifyingKey::from_jwk(&jwk), Err(JoseError::InvalidKey(_))),
                "{msg}"
            );
        }
    }

    #[test]
    fn jwks_document_level_errors() {
        let es = test_keys().adr_es256.public_jwk();
        let cases: [(&[u8], &str); 4] = [
            (b"nope", "not JSON"),
            (b"{}", "no keys"),
            (b"{\"keys\": {}}", "keys not an array"),
            (b"[]", "array document"),
        ];
        for (doc, msg) in cases {
            assert!(
                matches!(JwkSet::parse(doc), Err(JoseError::InvalidJwks(_))),
                "{msg}"
            );
        }
        let dup = json!({"keys": [es.clone(), es]});
        assert!(
            matches!(
                JwkSet::parse(dup.to_string().as_bytes()),
                Err(JoseError::InvalidJwks(_))
            ),
            "duplicate kid"
        );
        let empty = JwkSet::parse(b"{\"keys\": []}").unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        let k = test_keys().adr_es256.verifying_key();
        assert!(
            JwkSet::from_keys([k.clone(), k]).is_err(),
            "from_keys refuses duplicates"
        );
    }

    #[test]
    fn jwks_document_round_trips_through_parse() {
        let keys = test_keys();
        let doc = jwks_document([&keys.adr_ps256, &keys.adr_es256]);
        let set = JwkSet::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 2);
        for key in [&keys.adr_ps256, &keys.adr_es256] {
            let token = key.sign(&claims()).unwrap();
            assert!(
                verify_with_set(&token, &set).is_ok(),
                "{} verifies via its public JWK",
                key.kid()
            );
        }
    }

    #[test]
    fn public_jwk_has_the_required_members() {
        let ps = test_keys().adr_ps256.public_jwk();
        for m in ["kty", "kid", "alg", "use", "n", "e"] {
            assert!(ps.get(m).is_some(), "RSA JWK has {m}");
        }
        assert_eq!(
            (ps["kty"].as_str(), ps["alg"].as_str(), ps["use"].as_str()),
            (Some("RSA"), Some("PS256"), Some("sig"))
        );
        assert!(ps.get("d").is_none(), "no private member");
        let es = test_keys().adr_es256.public_jwk();
        for m in ["kty", "kid", "alg", "use", "crv", "x", "y"] {
            assert!(es.get(m).is_some(), "EC JWK has {m}");
        }
        assert_eq!(
            (es["crv"].as_str(), es["alg"].as_str()),
            (Some("P-256"), Some("ES256"))
        );
        assert!(es.get("d").is_none(), "no private member");
    }

    #[test]
    fn pkcs8_pem_round_trips_and_detects_alg() {
        for key in [&test_keys().adr_ps256, &test_keys().adr_es256] {
            let pem = key.to_pkcs8_pem();
            assert!(
                pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
                "PKCS#8 label"
            );
            let back = SigningKey::from_pkcs8_pem(&pem, "again").unwrap();
            assert_eq!(back.alg(), key.alg(), "alg detected from the key type");
            assert_eq!(back.kid(), "again");
            let token = back.sign(&claims()).unwrap();
            let vk = VerifyingKey::from_jwk(&patched_kid(&key.public_jwk(), "again")).unwrap();
            assert!(
                verify(&token, &vk).is_ok(),
                "reloaded {} key signs like the original",
                key.alg()
            );
        }
    }

    fn patched_kid(jwk: &Value, kid: &str) -> Value {
        let mut j = jwk.clone();
        j["kid"] = json!(kid);
        j
    }

    #[test]
    fn legacy_ec_pem_is_accepted() {
        let k = &test_keys().adr_es256;
        let SigningKey {
            inner: KeyPairInner::Ec(kp),
            ..
        } = k
        else {
            panic!("ES256 test key is EC");
        };
        let der = kp.private_key().as_der().unwrap();
        let pem = pem_encode("EC PRIVATE KEY", der.as_ref());
        let back = SigningKey::from_pkcs8_pem(&pem, k.kid()).unwrap();
        assert_eq!(back.alg(), Alg::ES256);
        assert!(
            verify(&back.sign(&claims()).unwrap(), &k.verifying_key()).is_ok(),
            "same key"
        );
    }

    #[test]
    fn from_pem_rejects_garbage() {
        let cases = [
            ("", "empty"),
            ("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n", "bad base64"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a key"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "a certificate"),
            ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n", "encrypted"),
        ];
        for (pem, msg) in cases {
            assert!(
                matches!(
                    SigningKey::from_pkcs8_pem(pem, "k"),
                    Err(JoseError::InvalidKey(_))
                ),
                "{msg}"
            );
        }
    }

    #[test]
    fn generate_ps256_checks_size() {
        assert_eq!(
            SigningKey::generate_ps256("k", 1024).map(|_| ()),
            Err(JoseError::WeakKey)
        );
        assert!(matches!(
            SigningKey::generate_ps256("k", 2500),
            Err(JoseError::InvalidKey(_))
        ));
    }

    #[test]
    fn signing_key_debug_is_redacted_and_type_is_shareable() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<SigningKey>();
        shareable::<VerifyingKey>();
        shareable::<JwkSet>();
        let k = &test_keys().adr_es256;
        let dbg = format!("{k:?}");
        assert!(
            dbg.contains("redacted") && dbg.contains("adr-es256"),
            "{dbg}"
        );
        let pem_body = k.to_pkcs8_pem().lines().nth(1).unwrap().to_owned();
        assert!(!dbg.contains(&pem_body), "no key material in Debug");
    }

    #[test]
    fn sign_requires_object_claims() {
        assert!(matches!(
            test_keys().adr_es256.sign(&json!([1])),
            Err(JoseError::Malformed(_))
        ));
    }

    #[test]
    fn thumbprint_is_base64url_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(
            thumbprint_x5t_s256(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(thumbprint_x5t_s256(b"cert").len(), 43, "no padding");
    }

    #[test]
    fn ct_eq_compares_exactly() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("", "", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(ct_eq(a, b), want, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn printable_neutralises_control_and_quote_characters() {
        assert_eq!(printable("a\"b\\c\nd\u{e9}"), "a?b?c?d?");
        assert_eq!(printable(&"x".repeat(500)).len(), 128);
    }
}
