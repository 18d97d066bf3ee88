use super::*;
use crate::jose::SigningKey;
use crate::registration::RegistrationErrorCode;
use crate::testutil::{
    patched, register_jwks, sign_with_header, ssa_claims, test_keys, unsigned_jwt, ADR_JWKS_URI,
    SOFTWARE_ID,
};
use serde_json::json;

const NOW: UnixTime = 1_700_000_000;

fn policy(skew: i64) -> SsaPolicy {
    SsaPolicy {
        issuer: CDR_REGISTER_ISSUER.into(),
        clock_skew_secs: skew,
    }
}

fn claims() -> Value {
    ssa_claims(SOFTWARE_ID, ADR_JWKS_URI, NOW)
}

fn sign(c: &Value) -> String {
    test_keys().register.sign(c).unwrap()
}

fn check(c: &Value, now: UnixTime, skew: i64) -> Result<VerifiedSsa, RegistrationError> {
    verify_ssa(&sign(c), &register_jwks(), now, &policy(skew))
}

fn assert_iss(r: Result<VerifiedSsa, RegistrationError>, want: &str, msg: &str) {
    match r {
        Ok(_) => panic!("{msg}: accepted"),
        Err(e) => {
            assert_eq!(
                e.code,
                RegistrationErrorCode::InvalidSoftwareStatement,
                "{msg}: code"
            );
            assert!(
                e.description.contains(want),
                "{msg}: {:?} lacks {want:?}",
                e.description
            );
        }
    }
}

#[test]
fn valid_ssa_is_verified_and_mapped() {
    let jwt = sign(&claims());
    let ssa = verify_ssa(&jwt, &register_jwks(), NOW, &policy(0)).unwrap();
    assert_eq!(ssa.jwt, jwt, "raw SSA kept verbatim");
    assert_eq!(ssa.kid, "register-1");
    assert_eq!(ssa.software_id, SOFTWARE_ID);
    assert_eq!(ssa.jwks_uri, ADR_JWKS_URI);
    assert_eq!(ssa.redirect_uris.len(), 2);
    assert_eq!(ssa.iss, "cdr-register");
    assert_eq!((ssa.iat, ssa.exp), (NOW, NOW + 600));
    assert!(ssa.legal_entity_id.is_some() && ssa.revocation_uri.is_some());
    assert_eq!(ssa.sector_identifier_uri, None);
    assert_eq!(ssa.software_roles, DEFAULT_SOFTWARE_ROLES);
    assert_eq!(
        ssa.claims.get("org_name"),
        Some(&json!("Mock Finance Tools"))
    );
    assert!(
        !format!("{ssa:?}").contains(&jwt),
        "Debug does not print the SSA"
    );
}

#[test]
fn ssa_expired_is_invalid_software_statement() {
    let exp = NOW + 600;
    let cases = [
        (exp - 1, 0, true, "one second before exp"),
        (exp, 0, false, "at exp"),
        (exp + 100, 0, false, "after exp"),
        (exp + 59, 60, true, "inside the skew"),
        (exp + 60, 60, false, "at the end of the skew"),
    ];
    for (now, skew, ok, msg) in cases {
        let r = check(&claims(), now, skew);
        if ok {
            assert!(r.is_ok(), "{msg}: {r:?}");
        } else {
            assert_iss(r, "Software statement assertion has expired", msg);
        }
    }
}

#[test]
fn ssa_issued_in_the_future_is_rejected() {
    let cases = [
        (NOW - 1, 0, false, "iat one second ahead"),
        (NOW, 0, true, "iat now"),
        (NOW - 30, 30, true, "iat ahead within skew"),
        (NOW - 31, 30, false, "iat ahead beyond skew"),
    ];
    for (now, skew, ok, msg) in cases {
        let r = check(&claims(), now, skew);
        if ok {
            assert!(r.is_ok(), "{msg}: {r:?}");
        } else {
            assert_iss(r, "issued in the future", msg);
        }
    }
    let nbf = patched(&claims(), &json!({"nbf": NOW + 100}));
    assert_iss(check(&nbf, NOW, 0), "not yet valid", "nbf in the future");
}

#[test]
fn ssa_issuer_must_be_the_register() {
    for iss in [json!("cdr-register2"), json!("CDR-REGISTER"), json!("")] {
        let c = patched(&claims(), &json!({"iss": iss}));
        let r = check(&c, NOW, 0);
        assert!(r.is_err(), "iss {iss} refused");
    }
    let c = patched(&claims(), &json!({"iss": "https://other"}));
    assert_iss(
        check(&c, NOW, 0),
        "was not issued by the CDR Register",
        "other issuer",
    );
}

#[test]
fn ssa_missing_required_claims_are_named() {
    for name in [
        "iss",
        "exp",
        "iat",
        "jti",
        "software_id",
        "org_id",
        "org_name",
        "client_name",
        "client_description",
        "client_uri",
        "redirect_uris",
        "logo_uri",
        "jwks_uri",
        "scope",
    ] {
        let c = patched(&claims(), &json!({ name: null }));
        assert_iss(
            check(&c, NOW, 0),
            &format!("Software statement assertion is missing required claim '{name}'"),
            name,
        );
    }
}

#[test]
fn ssa_optional_claims_may_be_absent() {
    let c = patched(
        &claims(),
        &json!({
            "legal_entity_id": null, "legal_entity_name": null, "tos_uri": null,
            "policy_uri": null, "revocation_uri": null, "recipient_base_uri": null,
            "software_roles": null,
        }),
    );
    let ssa = check(&c, NOW, 0).unwrap();
    assert_eq!(ssa.legal_entity_id, None);
    assert_eq!(ssa.revocation_uri, None, "revocation_uri is never required");
    assert_eq!(
        ssa.software_roles, DEFAULT_SOFTWARE_ROLES,
        "software_roles defaults"
    );
}

#[test]
fn ssa_ill_typed_claims_are_rejected() {
    let cases = [
        (
            json!({"redirect_uris": []}),
            "'redirect_uris' is invalid",
            "empty redirect_uris",
        ),
        (
            json!({"redirect_uris": "https://a"}),
            "'redirect_uris' is invalid",
            "redirect_uris string",
        ),
        (
            json!({"redirect_uris": ["https://a", 1]}),
            "'redirect_uris' is invalid",
            "non-string redirect uri",
        ),
        (
            json!({"org_id": 42}),
            "'org_id' is invalid",
            "number org_id",
        ),
        (json!({"exp": "tomorrow"}), "'exp' is invalid", "string exp"),
        (
            json!({"tos_uri": false}),
            "'tos_uri' is invalid",
            "bool tos_uri",
        ),
        (
            json!({"software_roles": 1}),
            "'software_roles' is invalid",
            "number roles",
        ),
        (
            json!({"jwks_uri": "http://adr.example.com/jwks"}),
            "'jwks_uri' must be an absolute https URL",
            "http jwks_uri",
        ),
        (
            json!({"jwks_uri": "/jwks"}),
            "'jwks_uri' must be an absolute https URL",
            "relative jwks_uri",
        ),
        (
            json!({"jwks_uri": "https://"}),
            "'jwks_uri' must be an absolute https URL",
            "no host",
        ),
        (
            json!({"sector_identifier_uri": "http://adr.example.com/s"}),
            "'sector_identifier_uri' must be an absolute https URL",
            "http sector uri",
        ),
    ];
    for (patch, want, msg) in cases {
        assert_iss(check(&patched(&claims(), &patch), NOW, 0), want, msg);
    }
}

#[test]
fn ssa_loopback_http_urls_are_allowed_in_tests_only() {
    let c = patched(
        &claims(),
        &json!({"jwks_uri": "http://127.0.0.1:8080/jwks"}),
    );
    assert!(
        check(&c, NOW, 0).is_ok(),
        "mock servers can stand in under test-util"
    );
}

#[test]
fn ssa_software_roles_array_is_tolerated() {
    let c = patched(
        &claims(),
        &json!({"software_roles": ["data-recipient-software-product"]}),
    );
    assert_eq!(
        check(&c, NOW, 0).unwrap().software_roles,
        DEFAULT_SOFTWARE_ROLES
    );
}

#[test]
fn ssa_software_roles_array_with_an_empty_role_is_invalid() {
    // As an empty string is: the roles must not come out empty.
    for roles in [
        json!([""]),
        json!(["data-recipient-software-product", ""]),
        json!(""),
    ] {
        let c = patched(&claims(), &json!({ "software_roles": roles }));
        assert_iss(
            check(&c, NOW, 0),
            "'software_roles' is invalid",
            &roles.to_string(),
        );
    }
}

#[test]
fn ssa_with_unknown_kid_is_distinguishable() {
    let other = SigningKey::generate_es256("rotated").unwrap();
    let jwt = other.sign(&claims()).unwrap();
    let e = verify_ssa(&jwt, &register_jwks(), NOW, &policy(0)).unwrap_err();
    assert_eq!(e.code, RegistrationErrorCode::InvalidSoftwareStatement);
    assert!(
        e.is_unknown_kid() && e.is_unknown_ssa_kid(),
        "caller can refetch: {e}"
    );
    assert!(!e.is_unknown_request_kid());
}

#[test]
fn ssa_signature_failures_are_invalid_software_statement() {
    let k = test_keys();
    let cases = [
        (
            k.impostor.sign(&claims()).unwrap(),
            "signature could not be verified",
            "impostor key with the Register's kid",
        ),
        (
            unsigned_jwt(&json!({"alg": "none", "kid": "register-1"}), &claims(), b""),
            "must be signed with PS256",
            "alg none",
        ),
        (
            unsigned_jwt(
                &json!({"alg": "HS256", "kid": "register-1"}),
                &claims(),
                &[1; 32],
            ),
            "must be signed with PS256",
            "HS256",
        ),
        (
            sign_with_header(
                &k.register,
                &json!({"alg": "RS256", "kid": "register-1"}),
                &claims(),
            )
            .unwrap(),
            "must be signed with PS256",
            "RS256",
        ),
        (
            sign_with_header(&k.register, &json!({"alg": "PS256"}), &claims()).unwrap(),
            "missing 'kid'",
            "no kid",
        ),
        ("not.a.jwt".to_owned(), "malformed", "garbage"),
    ];
    for (jwt, want, msg) in cases {
        let r = verify_ssa(&jwt, &register_jwks(), NOW, &policy(0));
        assert_iss(r, want, msg);
    }
}

#[test]
fn ssa_signed_with_an_es256_key_of_the_register_is_refused() {
    // The Register signs SSAs with PS256 only (docs/dcr-rules.md §6 row 5), whatever keys it publishes.
    let es = SigningKey::generate_es256("reg-es").unwrap();
    let set = JwkSet::from_keys([es.verifying_key()]).unwrap();
    let jwt = es.sign(&claims()).unwrap();
    let r = verify_ssa(&jwt, &set, NOW, &policy(0));
    assert_iss(r, "must be signed with PS256", "ES256 SSA");
}
