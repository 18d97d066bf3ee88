//! Private keys: generated or read from PEM, held as the library's encoding key, signing compact
//! JWS and publishing their public JWK.

use super::*;

/// A private key we sign with (access tokens, and in tests everything else).
///
/// Keeps the library's encoding key, the header every token gets, its public JWK and its
/// [`VerifyingKey`], all made once. `Send + Sync`; share it with `Arc`.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    encoding: EncodingKey,
    header: jsonwebtoken::Header,
    pub(crate) pkcs8: Vec<u8>,
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

pub(crate) fn signing_err(e: impl fmt::Display) -> JoseError {
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
        // The library signs RSA with the PKCS#1 key inside the PKCS#8 document.
        let encoding = EncodingKey::from_rsa_pem(pem_encode("PRIVATE KEY", &pkcs8).as_bytes())
            .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
        Ok(Self::assemble(
            kid,
            Alg::PS256,
            encoding,
            decoding,
            pkcs8,
            public_jwk,
        ))
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
        let encoding = EncodingKey::from_ec_der(&pkcs8);
        let decoding = ec_decoding_key(&point);
        Ok(Self::assemble(
            kid,
            Alg::ES256,
            encoding,
            decoding,
            pkcs8,
            public_jwk,
        ))
    }

    fn assemble(
        kid: String,
        alg: Alg,
        encoding: EncodingKey,
        decoding: DecodingKey,
        pkcs8: Vec<u8>,
        public_jwk: Value,
    ) -> Self {
        let mut header = jsonwebtoken::Header::new(alg.jwt());
        header.kid = Some(kid.clone());
        Self {
            verifying: VerifyingKey {
                kid: kid.clone(),
                alg,
                decoding: Arc::new(decoding),
            },
            kid,
            alg,
            encoding,
            header,
            pkcs8,
            public_jwk,
        }
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

    /// Signs `claims` (a JSON object) with header `{"typ": "JWT", "alg", "kid"}`.
    ///
    /// # Errors
    /// [`JoseError::Malformed`] if `claims` is not an object; [`JoseError::Signing`] if the
    /// library fails.
    pub fn sign(&self, claims: &Value) -> Result<String, JoseError> {
        if !claims.is_object() {
            return Err(JoseError::Malformed("claims must be a JSON object".into()));
        }
        jsonwebtoken::encode(&self.header, claims, &self.encoding).map_err(signing_err)
    }

    /// Signs with an explicit header, which is used verbatim (tests craft bad headers with it).
    #[cfg(any(test, feature = "test-util"))]
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
        let signature =
            jsonwebtoken::crypto::sign(token.as_bytes(), &self.encoding, self.alg.jwt())
                .map_err(signing_err)?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }
}
