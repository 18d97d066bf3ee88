//! Builders for valid SSA, registration request and client assertion claims, and helpers to sign
//! deliberately broken tokens. Test-only: compiled for this crate's tests and with the
//! `test-util` feature (the server's integration tests and benchmarks).

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::clock::UnixTime;
use crate::jose::{jwks_document, JoseError, SigningKey};

/// A Register-style GUID software product id.
pub const SOFTWARE_ID: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";
/// A brand id.
pub const ORG_ID: &str = "20c0864b-ceef-4de0-8944-eb0962f825eb";
/// A legal entity id.
pub const LEGAL_ENTITY_ID: &str = "18b75a76-5821-4c9e-b465-4709291cf0f4";
/// The first SSA redirect URI.
pub const REDIRECT_URI: &str = "https://www.mockcompany.com.au/callback";
/// The second SSA redirect URI.
pub const REDIRECT_URI_2: &str = "https://www.mockcompany.com.au/callback2";
/// A Data Holder issuer.
pub const DH_ISSUER: &str = "https://dh.example.com.au";
/// An ADR `jwks_uri`.
pub const ADR_JWKS_URI: &str = "https://adr.example.com.au/jwks";
/// The scope the Register puts in SSAs (banking, energy, and one scope we do not support).
pub const SSA_SCOPE: &str = "openid profile bank:accounts.basic:read bank:accounts.detail:read \
bank:transactions:read bank:payees:read bank:regular_payments:read common:customer.basic:read \
common:customer.detail:read cdr:registration energy:electricity.servicepoints.basic:read \
telco:billing:read";

/// Claims of a valid SSA issued at `now` for 10 minutes.
#[must_use]
pub fn ssa_claims(software_id: &str, jwks_uri: &str, now: UnixTime) -> Value {
    json!({
        "iss": "cdr-register",
        "iat": now,
        "exp": now + 600,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "legal_entity_id": LEGAL_ENTITY_ID,
        "legal_entity_name": "Mock Company Pty Ltd.",
        "org_id": ORG_ID,
        "org_name": "Mock Finance Tools",
        "client_name": "Mock Software",
        "client_description": "A mock software product",
        "client_uri": "https://www.mockcompany.com.au",
        "redirect_uris": [REDIRECT_URI, REDIRECT_URI_2],
        "logo_uri": "https://www.mockcompany.com.au/logos/logo1.png",
        "tos_uri": "https://www.mockcompany.com.au/tos.html",
        "policy_uri": "https://www.mockcompany.com.au/policy.html",
        "jwks_uri": jwks_uri,
        "revocation_uri": "https://www.mockcompany.com.au/revocation",
        "recipient_base_uri": "https://www.mockcompany.com.au",
        "software_id": software_id,
        "software_roles": "data-recipient-software-product",
        "scope": SSA_SCOPE,
    })
}

/// Claims of a valid registration request for `ssa_jwt`, issued at `now` for 5 minutes (as the
/// ACCC test client), with `aud` = `issuer`.
#[must_use]
pub fn request_claims(software_id: &str, ssa_jwt: &str, issuer: &str, now: UnixTime) -> Value {
    json!({
        "iss": software_id,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
        "aud": issuer,
        "token_endpoint_auth_signing_alg": "PS256",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "web",
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
        "redirect_uris": [REDIRECT_URI],
        "software_statement": ssa_jwt,
    })
}

/// Claims of a valid `private_key_jwt` client assertion for `client_id` with audience `aud`.
#[must_use]
pub fn client_assertion_claims(client_id: &str, aud: &str, now: UnixTime) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// Sets (or, with `null`, removes) top-level members of `target` from `patch`.
pub fn patch(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `claims` with `patch` applied.
#[must_use]
pub fn patched(claims: &Value, p: &Value) -> Value {
    let mut c = claims.clone();
    patch(&mut c, p);
    c
}

/// Signs `claims` with `key` under an arbitrary `header` (to forge wrong `alg`/`kid`).
///
/// # Errors
/// As [`SigningKey::sign`].
pub fn sign_with_header(
    key: &SigningKey,
    header: &Value,
    claims: &Value,
) -> Result<String, JoseError> {
    key.sign_with_header(header, claims)
}

/// A token with the given header, claims and raw signature bytes (e.g. `alg: none`, HS256).
#[must_use]
pub fn unsigned_jwt(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// A JWK set document for `keys`, as bytes.
#[must_use]
pub fn jwks_bytes(keys: &[&SigningKey]) -> Vec<u8> {
    jwks_document(keys.iter().copied()).to_string().into_bytes()
}

/// Keys generated once per process (RSA generation is slow).
#[derive(Debug)]
pub struct TestKeys {
    /// The "CDR Register" SSA key (PS256, kid `register-1`).
    pub register: SigningKey,
    /// An ADR key (PS256, kid `adr-ps256`).
    pub adr_ps256: SigningKey,
    /// An ADR key (ES256, kid `adr-es256`).
    pub adr_es256: SigningKey,
    /// Another key nobody trusts (PS256, kid `register-1`, same kid as the Register's).
    pub impostor: SigningKey,
}

/// The shared [`TestKeys`].
///
/// # Panics
/// If key generation fails (never expected).
#[must_use]
#[expect(clippy::expect_used, reason = "test helper")]
pub fn test_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        register: SigningKey::generate_ps256("register-1", 2048).expect("generate register key"),
        adr_ps256: SigningKey::generate_ps256("adr-ps256", 2048).expect("generate ADR key"),
        adr_es256: SigningKey::generate_es256("adr-es256").expect("generate ADR key"),
        impostor: SigningKey::generate_ps256("register-1", 2048).expect("generate impostor key"),
    })
}

/// The Register JWK set holding [`TestKeys::register`].
///
/// # Panics
/// Never in practice (the key set is built from one generated key).
#[must_use]
#[expect(clippy::expect_used, reason = "test helper")]
pub fn register_jwks() -> crate::jose::JwkSet {
    crate::jose::JwkSet::from_keys([test_keys().register.verifying_key()]).expect("one key")
}

/// The ADR JWK set holding both ADR test keys.
///
/// # Panics
/// Never in practice.
#[must_use]
#[expect(clippy::expect_used, reason = "test helper")]
pub fn adr_jwks() -> crate::jose::JwkSet {
    let k = test_keys();
    crate::jose::JwkSet::from_keys([k.adr_ps256.verifying_key(), k.adr_es256.verifying_key()])
        .expect("distinct kids")
}
