//! The harnesses of the `cargo fuzz` targets in `fuzz/fuzz_targets/`: one function per target,
//! taking the fuzzer's bytes. Each must return normally for every input; its assertions are the
//! properties checked beyond "no panic". `tests/fuzz_corpus.rs` runs them over the corpus kept
//! in `fuzz/corpus/`, so `cargo test` replays every input the fuzzer kept.
//!
//! The claim targets ([`ssa_request`], [`metadata`]) do not sign or verify: they call the checks
//! that [`crate::ssa::verify_ssa`] and [`crate::registration::verify_request`] run once the
//! signature has verified, so an input costs microseconds. [`jose`] verifies signatures, against
//! the public keys of `tests/fixtures/fuzz-jwks.json` (the seeds are signed with their private
//! halves, which were not kept).
//!
//! Not an API: compiled only with the `fuzzing` feature.

use std::collections::HashSet;
use std::sync::LazyLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::clock::UnixTime;
use crate::forwarded_cert::{decode_forwarded_chain, MAX_FORWARDED_CERT_LEN};
use crate::jose::{self, Alg, JwkSet, VerifyingKey};
use crate::registration::{
    self, ClientMetadata, RegistrationErrorCode, RegistrationPolicy, VerifiedRequest,
    APPLICATION_TYPE, SUPPORTED_GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHOD,
};
use crate::ssa::{self, VerifiedSsa};
use crate::token::{self, TokenErrorCode, TokenRequest, MAX_FORM_PAIRS};

/// The time every harness runs at; the seeds were issued at it.
pub const NOW: UnixTime = 1_750_000_000;
/// The Data Holder's issuer.
pub const ISSUER: &str = "https://dh.example.com.au";
/// The software product of the fixed SSA.
pub const SOFTWARE_ID: &str = "c6327f87-687a-4369-99a4-eaacd3bb8210";

/// The fixed verification keys: one `PS256`, one `ES256`.
static KEYS: LazyLock<JwkSet> = LazyLock::new(|| {
    JwkSet::parse(include_bytes!("../tests/fixtures/fuzz-jwks.json"))
        .expect("the fixture JWK set parses")
});

static POLICY: LazyLock<RegistrationPolicy> = LazyLock::new(|| RegistrationPolicy::new(ISSUER));

/// The claims of a valid SSA issued at [`NOW`] (as `testutil::ssa_claims`, fixed).
fn ssa_claims() -> Map<String, Value> {
    let claims = json!({
        "iss": "cdr-register",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "6a1c1bd3a4f94c8b9a3c2a8f0f0e7d11",
        "legal_entity_id": "18b75a76-5821-4c9e-b465-4709291cf0f4",
        "legal_entity_name": "Mock Company Pty Ltd.",
        "org_id": "20c0864b-ceef-4de0-8944-eb0962f825eb",
        "org_name": "Mock Finance Tools",
        "client_name": "Mock Software",
        "client_description": "A mock software product",
        "client_uri": "https://www.mockcompany.com.au",
        "redirect_uris": [
            "https://www.mockcompany.com.au/callback",
            "https://www.mockcompany.com.au/callback2"
        ],
        "logo_uri": "https://www.mockcompany.com.au/logos/logo1.png",
        "tos_uri": "https://www.mockcompany.com.au/tos.html",
        "policy_uri": "https://www.mockcompany.com.au/policy.html",
        "jwks_uri": "https://adr.example.com.au/jwks",
        "revocation_uri": "https://www.mockcompany.com.au/revocation",
        "recipient_base_uri": "https://www.mockcompany.com.au",
        "software_id": SOFTWARE_ID,
        "software_roles": "data-recipient-software-product",
        "scope": "openid profile bank:accounts.basic:read cdr:registration telco:billing:read",
    });
    match claims {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The SSA of [`ssa_claims`], as `verify_ssa` returns it.
static SSA: LazyLock<VerifiedSsa> = LazyLock::new(|| {
    ssa::check_claims(
        "fixed.ssa.jwt",
        "register-1".to_owned(),
        ssa_claims(),
        NOW,
        &POLICY.ssa,
    )
    .expect("the fixed SSA claims are valid")
});

/// Compact JWS and JWK sets: the input as a JWK set document, and as a token decoded
/// (header, claims, registration request) and verified with the fixed keys.
///
/// # Panics
/// When a property does not hold: a JWK set with two keys of one `kid`, a decoded header that
/// does not re-serialise to itself, a verified token whose `alg` is not its key's, or an access
/// token accepted outside its lifetime.
pub fn jose(data: &[u8]) {
    jwk_set(data);
    if let Ok(token) = std::str::from_utf8(data) {
        compact_jws(token);
    }
}

fn jwk_set(data: &[u8]) {
    let Ok(set) = JwkSet::parse(data) else {
        return;
    };
    let kids: Vec<&str> = set.kids().collect();
    let unique: HashSet<&str> = kids.iter().copied().collect();
    assert_eq!(unique.len(), kids.len(), "one key per kid");
    assert_eq!(set.len(), kids.len());
    for key in set.keys() {
        let found = set
            .find(key.kid())
            .expect("a usable key is found by its kid");
        assert_eq!(found.alg(), key.alg());
    }
    // Each JWK parsed alone is the key the set holds under its `kid`.
    let doc: Value = serde_json::from_slice(data).expect("a parsed JWK set is JSON");
    for jwk in doc["keys"].as_array().into_iter().flatten() {
        if let Ok(key) = VerifyingKey::from_jwk(jwk) {
            let held = set.get(key.kid()).expect("a usable JWK is in the set");
            assert_eq!(held.alg(), key.alg());
        }
    }
}

fn compact_jws(token: &str) {
    let header = jose::decode_header(token);
    if let Ok(h) = &header {
        let json = serde_json::to_vec(h).expect("a header serialises");
        let again = jose::decode_header(&format!("{}.e30.", URL_SAFE_NO_PAD.encode(json)));
        assert_eq!(
            again.as_ref(),
            Ok(h),
            "a decoded header re-serialises to itself"
        );
    }
    let claims = jose::decode_claims_unverified(token);
    match registration::parse_request(token) {
        Ok(req) => {
            assert!(Alg::parse(&req.header.alg).is_some());
            assert!(jose::decode_claims_unverified(&req.software_statement).is_ok());
        }
        Err(e) => assert!(matches!(
            e.code,
            RegistrationErrorCode::InvalidClientMetadata
                | RegistrationErrorCode::InvalidSoftwareStatement
        )),
    }
    if let Ok((h, c)) = jose::verify_with_set(token, &KEYS) {
        let kid = h.kid.as_deref().expect("a token verified by kid has one");
        let key = KEYS.get(kid).expect("the key it names");
        assert_eq!(Alg::parse(&h.alg), Some(key.alg()), "alg bound to the key");
        assert_eq!(
            header.as_ref().ok(),
            Some(&h),
            "the header verified is the one decoded"
        );
        assert_eq!(
            claims.as_ref().ok(),
            Some(&c),
            "the claims verified are the ones decoded"
        );
    }
    let keys: Vec<VerifyingKey> = KEYS.keys().cloned().collect();
    if let Ok(t) = token::verify_access_token(token, &keys, ISSUER, NOW) {
        assert!(NOW < t.claims.exp, "not expired");
        assert!(t.claims.exp - t.claims.iat <= token::MAX_ACCESS_TOKEN_LIFETIME_SECS);
        assert_eq!(t.claims.iss, ISSUER);
    }
}

/// SSA claims and registration request claims, checked as after their signatures. The input is
/// a JSON object; its `ssa` and `request` members (or, without them, the object itself) are the
/// claims. A request is checked against the SSA the input's claims make, or the fixed one, and
/// an accepted request's metadata is validated.
///
/// # Panics
/// When an accepted SSA or request breaks a rule it was checked for (lifetime, issuer, redirect
/// URIs, `jwks_uri`), or an error has a code other than the rule's.
pub fn ssa_request(data: &[u8]) {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let part = |name: &str| match doc.get(name) {
        Some(Value::Object(m)) => m.clone(),
        _ => doc.clone(),
    };
    let policy = &*POLICY;
    let own_ssa = match ssa::check_claims("fuzz.ssa.jwt", "k".into(), part("ssa"), NOW, &policy.ssa)
    {
        Ok(s) => {
            check_ssa(&s, policy);
            Some(s)
        }
        Err(e) => {
            assert_eq!(e.code, RegistrationErrorCode::InvalidSoftwareStatement);
            assert_eq!(ssa::public_error(&e).code, e.code);
            None
        }
    };
    let ssa = own_ssa.as_ref().unwrap_or(&SSA);
    match registration::check_claims("k".into(), part("request"), ssa, NOW, policy) {
        Ok(req) => {
            check_request(&req, policy);
            validate(&req, ssa, policy);
        }
        Err(e) => assert_eq!(e.code, RegistrationErrorCode::InvalidClientMetadata),
    }
}

fn check_ssa(s: &VerifiedSsa, policy: &RegistrationPolicy) {
    let skew = policy.ssa.clock_skew_secs;
    assert_eq!(s.iss, policy.ssa.issuer);
    assert!(NOW < s.exp.saturating_add(skew), "not expired");
    assert!(
        s.iat <= NOW.saturating_add(skew),
        "not issued in the future"
    );
    assert!(!s.redirect_uris.is_empty());
    assert!(s.redirect_uris.iter().all(|u| !u.is_empty()));
    assert!(ssa::is_https_url(&s.jwks_uri));
    for required in [
        &s.jti,
        &s.software_id,
        &s.org_id,
        &s.scope,
        &s.software_roles,
    ] {
        assert!(!required.is_empty());
    }
}

fn check_request(req: &VerifiedRequest, policy: &RegistrationPolicy) {
    let skew = policy.clock_skew_secs;
    assert!(NOW < req.exp().saturating_add(skew), "not expired");
    assert!(
        req.iat() <= NOW.saturating_add(skew),
        "not issued in the future"
    );
    assert!(req.exp() > req.iat());
    assert!(req.exp() - req.iat() <= policy.max_request_lifetime_secs);
    assert!(!req.jti().is_empty() && req.jti().chars().count() <= 255);
}

/// Validates the metadata of an accepted request and checks what would be stored.
fn validate(req: &VerifiedRequest, ssa: &VerifiedSsa, policy: &RegistrationPolicy) {
    let requested = registration::requested_redirect_uris(req, ssa);
    match registration::validate_metadata(req, ssa, policy) {
        Ok(meta) => {
            assert_eq!(requested.as_ref(), Ok(&meta.redirect_uris));
            check_metadata(&meta, ssa, policy);
        }
        Err(e) => assert!(matches!(
            e.code,
            RegistrationErrorCode::InvalidClientMetadata
                | RegistrationErrorCode::InvalidRedirectUri
        )),
    }
}

fn check_metadata(meta: &ClientMetadata, ssa: &VerifiedSsa, policy: &RegistrationPolicy) {
    let unique = |v: &[String]| v.iter().collect::<HashSet<_>>().len() == v.len();
    assert!(!meta.redirect_uris.is_empty() && unique(&meta.redirect_uris));
    assert!(meta
        .redirect_uris
        .iter()
        .all(|u| ssa.redirect_uris.contains(u)));
    assert_eq!(meta.token_endpoint_auth_method, TOKEN_ENDPOINT_AUTH_METHOD);
    assert_eq!(meta.application_type, APPLICATION_TYPE);
    assert_eq!(meta.response_types, ["code"]);
    assert!(meta.grant_types.iter().any(|g| g == "authorization_code"));
    assert!(meta
        .grant_types
        .iter()
        .all(|g| SUPPORTED_GRANT_TYPES.contains(&g.as_str())));
    assert!(unique(&meta.grant_types));
    let algs = [
        Some(meta.token_endpoint_auth_signing_alg),
        Some(meta.id_token_signed_response_alg),
        Some(meta.request_object_signing_alg),
        meta.authorization_signed_response_alg,
    ];
    assert!(algs
        .iter()
        .all(|a| a.is_some_and(|a| policy.signing_algs.contains(&a))));
    assert_eq!(
        meta.scope,
        registration::filter_scopes(&ssa.scope, &policy.supported_scopes)
    );
    assert_eq!(meta.software_statement, ssa.jwt);
    // Stored as JSON and read back.
    let text = serde_json::to_string(meta).expect("metadata serialises");
    let back: ClientMetadata = serde_json::from_str(&text).expect("stored metadata reads back");
    assert_eq!(&back, meta);
    let response = registration::registration_response("client-1", NOW, meta);
    assert_eq!(response["redirect_uris"], json!(meta.redirect_uris));
    assert_eq!(response["software_statement"], json!(ssa.jwt));
    assert!(registration::check_update_allowed(meta, meta).is_ok());
}

/// Registration metadata: the input as request claims (with fixed valid `iss`, `aud`, `iat`,
/// `exp` and `jti`, so that every input reaches the metadata rules) validated against the fixed
/// SSA; as stored metadata read back; as a `sector_identifier_uri` document; and as an SSA scope
/// filtered to the supported scopes.
///
/// # Panics
/// When accepted metadata breaks a rule (a redirect URI not in the SSA, an unsupported grant or
/// algorithm, metadata that does not read back as stored), or filtered scopes are unsupported or
/// repeated.
pub fn metadata(data: &[u8]) {
    let policy = &*POLICY;
    let ssa = &*SSA;
    if let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(data) {
        let fixed = json!({
            "iss": SOFTWARE_ID, "aud": ISSUER, "iat": NOW, "exp": NOW + 300, "jti": "fuzz",
        });
        for (k, v) in fixed.as_object().into_iter().flatten() {
            m.insert(k.clone(), v.clone());
        }
        m.remove("nbf");
        let req = registration::check_claims("k".into(), m, ssa, NOW, policy)
            .expect("valid protocol claims pass");
        validate(&req, ssa, policy);
    }
    if let Ok(meta) = serde_json::from_slice::<ClientMetadata>(data) {
        let text = serde_json::to_string(&meta).expect("metadata serialises");
        let back: ClientMetadata = serde_json::from_str(&text).expect("it reads back");
        assert_eq!(back, meta);
    }
    if let Err(e) = registration::check_sector_identifier(data, &ssa.redirect_uris) {
        assert_eq!(e.code, RegistrationErrorCode::InvalidClientMetadata);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let kept = registration::filter_scopes(text, &policy.supported_scopes);
        let kept: Vec<&str> = kept.split(' ').filter(|s| !s.is_empty()).collect();
        assert!(kept
            .iter()
            .all(|s| policy.supported_scopes.iter().any(|x| x == s)));
        assert_eq!(kept.iter().collect::<HashSet<_>>().len(), kept.len());
    }
}

/// The token endpoint's form: the body decoded ([`token::decode_form`]), then read as a token
/// request and as the client authentication of another endpoint.
///
/// # Panics
/// When a decoded form has more than [`MAX_FORM_PAIRS`] parameters or a repeated one, does not
/// encode and decode back to itself, or an accepted request lacks what it was checked for.
pub fn token_form(data: &[u8]) {
    let pairs = match token::decode_form(data) {
        Ok(pairs) => pairs,
        Err(e) => {
            assert_eq!(e.code, TokenErrorCode::InvalidRequest);
            return;
        }
    };
    assert!(pairs.len() <= MAX_FORM_PAIRS);
    let names: HashSet<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names.len(), pairs.len(), "no repeated parameter");
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    assert_eq!(
        token::decode_form(encoded.as_bytes()).as_ref(),
        Ok(&pairs),
        "a decoded form encodes and decodes to itself"
    );
    let parsed = TokenRequest::parse_form(pairs.clone());
    let authentication = TokenRequest::parse_client_authentication(pairs);
    match &parsed {
        Ok(req) => {
            assert_eq!(req.grant_type, token::GRANT_TYPE_CLIENT_CREDENTIALS);
            assert_eq!(
                req.client_assertion_type,
                token::CLIENT_ASSERTION_TYPE_JWT_BEARER
            );
            assert!(!req.client_assertion.is_empty());
            assert!(req.client_id.as_ref().is_none_or(|c| !c.is_empty()));
            assert_eq!(
                authentication.as_ref(),
                Ok(req),
                "the grant type aside, the same"
            );
            if let Ok(client_id) = token::assertion_client_id(req) {
                assert!(req.client_id.as_ref().is_none_or(|c| *c == client_id));
            }
            if let Ok(scope) = token::grant_scope(req.scope.as_deref(), "openid cdr:registration") {
                assert_eq!(scope, token::SCOPE_CDR_REGISTRATION);
            }
        }
        Err(e) => assert!(!e.description.contains("repeated"), "{e}"),
    }
}

/// The forwarded client certificate header.
///
/// # Panics
/// When a header over [`MAX_FORWARDED_CERT_LEN`] is read, a chain is empty or holds an empty
/// certificate, or a decoded chain does not decode to itself again from PEM and its leaf from
/// base64 DER.
pub fn forwarded_cert(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let chain = decode_forwarded_chain(raw);
    if raw.len() > MAX_FORWARDED_CERT_LEN {
        assert!(chain.is_none(), "over the cap");
    }
    let Some(chain) = chain else {
        return;
    };
    assert!(!chain.is_empty());
    assert!(chain.iter().all(|c| !c.is_empty()), "no empty certificate");
    let leaf = STANDARD.encode(&chain[0]);
    if leaf.len() <= MAX_FORWARDED_CERT_LEN {
        assert_eq!(decode_forwarded_chain(&leaf).as_deref(), Some(&chain[..1]));
    }
    let pem: String = chain
        .iter()
        .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.to_vec())))
        .collect();
    if pem.len() <= MAX_FORWARDED_CERT_LEN {
        assert_eq!(decode_forwarded_chain(&pem), Some(chain));
    }
}
