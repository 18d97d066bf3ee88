//! Public keys: a JWK checked against the CDR policy (RSA of 2048 to 8192 bits, P-256 points, one
//! algorithm per key), turned once into the library's decoding key ([`VerifyingKey`]), and JWK
//! sets with unique `kid`s.

use super::*;

/// A public key bound to one `kid` and one algorithm, held as the library's decoding key so that
/// verification never re-reads the JWK.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) kid: String,
    pub(crate) alg: Alg,
    pub(crate) decoding: Arc<DecodingKey>,
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

pub(crate) fn b64_field(jwk: &Claims, name: &str) -> Result<Vec<u8>, JoseError> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::InvalidKey(format!("missing '{name}'")))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::InvalidKey(format!("'{name}' is not base64url")))
}

pub(crate) fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

pub(crate) fn bit_len(be: &[u8]) -> usize {
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
        Ok((alg, decoding)) => JwkOutcome::Key(VerifyingKey {
            kid,
            alg,
            decoding: Arc::new(decoding),
        }),
        Err(e) => JwkOutcome::Rejected(kid, e),
    }
}

pub(crate) fn check_declared(declared: Option<&str>, bound: Alg) -> Result<(), JoseError> {
    match declared {
        None => Ok(()),
        Some(a) if a == bound.as_str() => Ok(()),
        Some(a) => Err(JoseError::UnsupportedAlg(printable(a))),
    }
}

/// An RSA JWK as a `PS256` key. The modulus and exponent are checked by the cryptography library
/// here, once, so that a bad key is refused with its `kid` rather than failing every signature.
pub(crate) fn rsa_key(
    jwk: &Claims,
    declared: Option<&str>,
) -> Result<(Alg, DecodingKey), JoseError> {
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
    let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
    RsaPublicKeyComponents { n, e }
        .to_parsed_public_key(&sig::RSA_PSS_2048_8192_SHA256)
        .map_err(|e| JoseError::InvalidKey(format!("RSA key rejected: {e}")))?;
    Ok((Alg::PS256, DecodingKey::from_rsa_raw_components(n, e)))
}

/// A P-256 JWK as an `ES256` key; the point is checked to be on the curve here, once.
pub(crate) fn ec_key(
    jwk: &Claims,
    declared: Option<&str>,
) -> Result<(Alg, DecodingKey), JoseError> {
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
    ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point)
        .map_err(|e| JoseError::InvalidKey(format!("EC key rejected: {e}")))?;
    Ok((Alg::ES256, ec_decoding_key(&point)))
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

/// The library's decoding key for an uncompressed P-256 point (`04 || x || y`).
pub(crate) fn ec_decoding_key(point: &[u8]) -> DecodingKey {
    DecodingKey::from_ec_der(point)
}
