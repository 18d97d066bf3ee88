use super::*;
use crate::jose::SigningKey;
use crate::ssa::verify_ssa;
use crate::testutil::{
    adr_jwks, patched, register_jwks, request_claims, sign_with_header, ssa_claims, test_keys,
    unsigned_jwt, ADR_JWKS_URI, DH_ISSUER, REDIRECT_URI, REDIRECT_URI_2, SOFTWARE_ID,
};
use serde_json::json;

const NOW: UnixTime = 1_700_000_000;

fn policy() -> RegistrationPolicy {
    RegistrationPolicy::new(DH_ISSUER)
}

fn ssa_with(patch: &Value) -> VerifiedSsa {
    let c = patched(&ssa_claims(SOFTWARE_ID, ADR_JWKS_URI, NOW), patch);
    let jwt = test_keys().register.sign(&c).unwrap();
    verify_ssa(&jwt, &register_jwks(), NOW, &policy().ssa).unwrap()
}

fn ssa() -> VerifiedSsa {
    ssa_with(&json!({}))
}

fn request(ssa: &VerifiedSsa, patch: &Value) -> String {
    let c = patched(
        &request_claims(SOFTWARE_ID, &ssa.jwt, DH_ISSUER, NOW),
        patch,
    );
    test_keys().adr_es256.sign(&c).unwrap()
}

fn verify(
    jwt: &str,
    ssa: &VerifiedSsa,
    now: UnixTime,
    p: &RegistrationPolicy,
) -> Result<VerifiedRequest, RegistrationError> {
    let req = parse_request(jwt)?;
    verify_request(&req, ssa, &adr_jwks(), now, p)
}

fn register(patch: &Value) -> Result<ClientMetadata, RegistrationError> {
    register_with(&ssa(), patch, &policy())
}

fn register_with(
    ssa: &VerifiedSsa,
    patch: &Value,
    p: &RegistrationPolicy,
) -> Result<ClientMetadata, RegistrationError> {
    let v = verify(&request(ssa, patch), ssa, NOW, p)?;
    validate_metadata(&v, ssa, p)
}

fn assert_err<T: fmt::Debug>(
    r: Result<T, RegistrationError>,
    code: RegistrationErrorCode,
    want: &str,
    msg: &str,
) {
    match r {
        Ok(v) => panic!("{msg}: accepted {v:?}"),
        Err(e) => {
            assert_eq!(e.code, code, "{msg}: code ({})", e.description);
            assert!(
                e.description.contains(want),
                "{msg}: {:?} lacks {want:?}",
                e.description
            );
            assert!(e.description.is_ascii(), "{msg}: description is ASCII");
        }
    }
}

#[test]
fn full_pipeline_with_mock_clock() {
    use crate::clock::{Clock, MockClock};
    use crate::ids::ClientId;
    use crate::jose::JwkSet;
    use crate::testutil::jwks_bytes;

    let clock = MockClock::new(NOW);
    let p = policy();
    let keys = test_keys();
    let ssa_jwt = keys
        .register
        .sign(&ssa_claims(SOFTWARE_ID, ADR_JWKS_URI, clock.now()))
        .unwrap();
    clock.advance(30);
    let body = request_claims(SOFTWARE_ID, &ssa_jwt, DH_ISSUER, clock.now());
    let req_jwt = keys.adr_ps256.sign(&body).unwrap();

    let req = parse_request(&req_jwt).unwrap();
    let ssa = verify_ssa(
        &req.software_statement,
        &register_jwks(),
        clock.now(),
        &p.ssa,
    )
    .unwrap();
    let adr = JwkSet::parse(&jwks_bytes(&[&keys.adr_ps256, &keys.adr_es256])).unwrap();
    let verified = verify_request(&req, &ssa, &adr, clock.now(), &p).unwrap();
    let meta = validate_metadata(&verified, &ssa, &p).unwrap();
    let client_id = ClientId::new_random();
    let response = registration_response(client_id.as_str(), clock.now(), &meta);
    assert_eq!(response["client_id"], json!(client_id.as_str()));
    assert_eq!(response["software_statement"], json!(ssa_jwt));

    // Ten minutes after issue the SSA (skew 60 s) is still fine for one more minute, then not.
    clock.set(NOW + 600 + 59);
    assert!(verify_ssa(&ssa_jwt, &register_jwks(), clock.now(), &p.ssa).is_ok());
    clock.advance(1);
    let e = verify_ssa(&ssa_jwt, &register_jwks(), clock.now(), &p.ssa).unwrap_err();
    assert_eq!(e.description, "Software statement assertion has expired");
}

#[test]
fn error_codes_have_rfc7591_wire_values() {
    let cases = [
        (
            RegistrationErrorCode::InvalidRedirectUri,
            "invalid_redirect_uri",
        ),
        (
            RegistrationErrorCode::InvalidClientMetadata,
            "invalid_client_metadata",
        ),
        (
            RegistrationErrorCode::InvalidSoftwareStatement,
            "invalid_software_statement",
        ),
        (
            RegistrationErrorCode::UnapprovedSoftwareStatement,
            "unapproved_software_statement",
        ),
    ];
    for (code, wire) in cases {
        assert_eq!(code.as_str(), wire);
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            json!(wire),
            "serde agrees"
        );
    }
    let e = RegistrationError::duplicate_registration();
    assert_eq!(
        e.to_json(),
        json!({"error": "invalid_client_metadata", "error_description": "Duplicate registrations for a given software_id are not valid."})
    );
    assert_eq!(
        e.to_string(),
        "invalid_client_metadata: Duplicate registrations for a given software_id are not valid."
    );
    assert_eq!(
        RegistrationError::replayed_jti().code,
        RegistrationErrorCode::InvalidClientMetadata
    );
    assert!(!e.is_unknown_kid());
}

#[test]
fn policy_defaults() {
    let p = policy();
    assert_eq!(p.issuer, DH_ISSUER);
    assert_eq!(p.max_request_lifetime_secs, 3600);
    assert_eq!(p.signing_algs, vec![Alg::PS256, Alg::ES256]);
    assert!(p.require_authorization_signed_response_alg);
    assert_eq!(p.ssa.issuer, "cdr-register");
    assert_eq!(p.supported_scopes.len(), 19);
    assert!(p.supported_scopes.iter().any(|s| s == "cdr:registration"));
}

#[test]
fn parse_request_envelope_rules() {
    let s = ssa();
    let k = &test_keys().adr_es256;
    let body = request_claims(SOFTWARE_ID, &s.jwt, DH_ISSUER, NOW);
    let m = RegistrationErrorCode::InvalidClientMetadata;
    let i = RegistrationErrorCode::InvalidSoftwareStatement;
    let cases = [
        ("".to_owned(), m, "not a valid signed JWT", "empty body"),
        (
            "{\"a\":1}".to_owned(),
            m,
            "not a valid signed JWT",
            "JSON body",
        ),
        (
            "a.b.c".to_owned(),
            m,
            "not a valid signed JWT",
            "garbage JWS",
        ),
        (
            unsigned_jwt(&json!({"alg": "none"}), &body, b""),
            m,
            "PS256 or ES256",
            "alg none",
        ),
        (
            unsigned_jwt(&json!({"alg": "HS256", "kid": k.kid()}), &body, &[0; 32]),
            m,
            "PS256 or ES256",
            "HS256",
        ),
        (
            sign_with_header(k, &json!({"alg": "RS256", "kid": k.kid()}), &body).unwrap(),
            m,
            "PS256 or ES256",
            "RS256",
        ),
        (
            unsigned_jwt(&json!({"alg": "PS256"}), &json!([1]), b"x"),
            m,
            "not a valid signed JWT",
            "payload not an object",
        ),
        (
            request(&s, &json!({"software_statement": null})),
            i,
            "ERR-DCR-006: The software_statement is empty or invalid",
            "SSA missing",
        ),
        (
            request(&s, &json!({"software_statement": 5})),
            i,
            "ERR-DCR-006: The software_statement is empty or invalid",
            "SSA not a string",
        ),
        (
            request(&s, &json!({"software_statement": ""})),
            i,
            "ERR-DCR-006: The software_statement is empty or invalid",
            "SSA empty",
        ),
        (
            request(&s, &json!({"software_statement": "abc.def"})),
            i,
            "ERR-DCR-006: The software_statement is empty or invalid",
            "SSA not a JWS",
        ),
    ];
    for (jwt, code, want, msg) in cases {
        assert_err(parse_request(&jwt), code, want, msg);
    }
    let ok = parse_request(&format!("  {}\n", request(&s, &json!({})))).unwrap();
    assert_eq!(ok.software_statement, s.jwt, "SSA extracted");
    assert_eq!(ok.header.kid.as_deref(), Some("adr-es256"));
    assert!(!ok.raw().ends_with('\n'), "body trimmed");
}

#[test]
fn valid_request_is_verified_with_either_alg() {
    let s = ssa();
    for key in [&test_keys().adr_es256, &test_keys().adr_ps256] {
        let c = request_claims(SOFTWARE_ID, &s.jwt, DH_ISSUER, NOW);
        let jwt = key.sign(&c).unwrap();
        let v = verify(&jwt, &s, NOW, &policy()).unwrap();
        assert_eq!(v.jti(), c["jti"].as_str().unwrap());
        assert_eq!((v.iat(), v.exp()), (NOW, NOW + 300));
        assert_eq!(v.kid(), key.kid());
        assert_eq!(v.claims().get("aud"), Some(&json!(DH_ISSUER)));
    }
}

#[test]
fn request_aud_must_equal_issuer() {
    let s = ssa();
    let cases = [
        (json!("https://other.example.com"), false, "another issuer"),
        (
            json!(format!("{DH_ISSUER}/")),
            false,
            "trailing slash is a different issuer",
        ),
        (
            json!(["https://other", "x"]),
            false,
            "array without our issuer",
        ),
        (json!(5), false, "not a string"),
        (json!(DH_ISSUER), true, "our issuer"),
        (
            json!(["https://other", DH_ISSUER]),
            true,
            "array containing our issuer",
        ),
    ];
    for (aud, ok, msg) in cases {
        let r = verify(&request(&s, &json!({"aud": aud})), &s, NOW, &policy());
        if ok {
            assert!(r.is_ok(), "{msg}: {r:?}");
        } else {
            assert_err(
                r,
                RegistrationErrorCode::InvalidClientMetadata,
                "The 'aud' claim value must be set to",
                msg,
            );
        }
    }
}

#[test]
fn request_iss_must_equal_software_id() {
    let s = ssa();
    let r = verify(
        &request(&s, &json!({"iss": SOFTWARE_ID.to_uppercase()})),
        &s,
        NOW,
        &policy(),
    );
    assert!(r.is_ok(), "GUIDs compare case-insensitively: {r:?}");
    let r = verify(
        &request(&s, &json!({"iss": "c6327f87-0000-4369-99a4-eaacd3bb8210"})),
        &s,
        NOW,
        &policy(),
    );
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "The 'iss' claim value must be set to",
        "other software id",
    );
}

#[test]
fn request_required_claims_missing() {
    let s = ssa();
    for name in ["iss", "iat", "exp", "jti", "aud"] {
        let r = verify(&request(&s, &json!({ name: null })), &s, NOW, &policy());
        assert_err(
            r,
            RegistrationErrorCode::InvalidClientMetadata,
            &format!("The '{name}' claim is missing."),
            name,
        );
    }
    let r = verify(&request(&s, &json!({"jti": ""})), &s, NOW, &policy());
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "The 'jti' claim is missing.",
        "empty jti",
    );
    let r = verify(&request(&s, &json!({"jti": 7})), &s, NOW, &policy());
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "'jti' claim value must be a string",
        "numeric jti",
    );
    let r = verify(
        &request(&s, &json!({"jti": "j".repeat(256)})),
        &s,
        NOW,
        &policy(),
    );
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "must not exceed 255",
        "long jti",
    );
    let r = verify(&request(&s, &json!({"exp": "soon"})), &s, NOW, &policy());
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "'exp' claim value is invalid",
        "string exp",
    );
}

#[test]
fn request_lifetime_rules() {
    let s = ssa();
    let mut p = policy();
    p.clock_skew_secs = 10;
    let cases = [
        (json!({}), NOW + 309, true, "inside skew after exp"),
        (json!({}), NOW + 310, false, "expired beyond skew"),
        (
            json!({"iat": NOW + 10, "exp": NOW + 300}),
            NOW,
            true,
            "iat ahead within skew",
        ),
        (
            json!({"iat": NOW + 11, "exp": NOW + 300}),
            NOW,
            false,
            "iat ahead beyond skew",
        ),
        (
            json!({"exp": NOW + 3600}),
            NOW,
            true,
            "lifetime exactly the maximum",
        ),
        (json!({"exp": NOW + 3601}), NOW, false, "lifetime too long"),
        (
            json!({"iat": i64::MIN}),
            NOW,
            false,
            "a lifetime that overflows is too long",
        ),
        (json!({"exp": NOW}), NOW - 20, false, "exp equal to iat"),
        (json!({"nbf": NOW + 60}), NOW, false, "nbf in the future"),
        (
            json!({"iat": NOW as f64 + 0.5}),
            NOW,
            true,
            "fractional NumericDate",
        ),
    ];
    for (patch, now, ok, msg) in cases {
        let r = verify(&request(&s, &patch), &s, now, &p);
        if ok {
            assert!(r.is_ok(), "{msg}: {r:?}");
        } else {
            let e = r.unwrap_err();
            assert_eq!(
                e.code,
                RegistrationErrorCode::InvalidClientMetadata,
                "{msg}: {e}"
            );
        }
    }
    let r = verify(&request(&s, &json!({})), &s, NOW + 1000, &p);
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "The registration request has expired.",
        "expired text",
    );
}

#[test]
fn request_signature_rules() {
    let s = ssa();
    let k = test_keys();
    let body = request_claims(SOFTWARE_ID, &s.jwt, DH_ISSUER, NOW);
    let stranger = SigningKey::generate_es256("stranger").unwrap();
    let twin = SigningKey::generate_es256("adr-es256").unwrap();
    let m = RegistrationErrorCode::InvalidClientMetadata;
    let cases = [
        (
            stranger.sign(&body).unwrap(),
            "unknown 'kid'",
            "unknown kid",
        ),
        (
            twin.sign(&body).unwrap(),
            "signature could not be verified",
            "other key with a known kid",
        ),
        (
            sign_with_header(&k.adr_es256, &json!({"alg": "ES256"}), &body).unwrap(),
            "missing 'kid'",
            "no kid",
        ),
        (
            sign_with_header(
                &k.adr_ps256,
                &json!({"alg": "PS256", "kid": "adr-es256"}),
                &body,
            )
            .unwrap(),
            "signature could not be verified",
            "alg of another key",
        ),
        (
            k.register.sign(&body).unwrap(),
            "unknown 'kid'",
            "signed with the Register's key",
        ),
    ];
    for (jwt, want, msg) in cases {
        assert_err(verify(&jwt, &s, NOW, &policy()), m, want, msg);
    }
    let e = verify(&stranger.sign(&body).unwrap(), &s, NOW, &policy()).unwrap_err();
    assert!(
        e.is_unknown_kid() && e.is_unknown_request_kid() && !e.is_unknown_ssa_kid(),
        "refetch signal"
    );
}

#[test]
fn request_alg_must_be_in_policy() {
    let s = ssa();
    let mut p = policy();
    p.signing_algs = vec![Alg::PS256];
    let r = verify(&request(&s, &json!({})), &s, NOW, &p);
    assert_err(
        r,
        RegistrationErrorCode::InvalidClientMetadata,
        "one of 'PS256'",
        "ES256 not allowed by policy",
    );
}

#[test]
fn request_must_carry_the_verified_ssa() {
    let s = ssa();
    let other = ssa();
    let req = parse_request(&request(&other, &json!({}))).unwrap();
    let r = verify_request(&req, &s, &adr_jwks(), NOW, &policy());
    assert_err(
        r,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "does not match",
        "SSA swapped",
    );
}

#[test]
fn valid_registration_builds_metadata_from_request_and_ssa() {
    let s = ssa();
    let meta = register_with(&s, &json!({}), &policy()).unwrap();
    assert_eq!(meta.software_id, SOFTWARE_ID);
    assert_eq!(meta.org_id, s.org_id);
    assert_eq!(meta.jwks_uri, ADR_JWKS_URI);
    assert_eq!(meta.redirect_uris, vec![REDIRECT_URI.to_owned()]);
    assert_eq!(meta.token_endpoint_auth_method, "private_key_jwt");
    assert_eq!(meta.token_endpoint_auth_signing_alg, Alg::PS256);
    assert_eq!(
        meta.grant_types,
        vec!["client_credentials", "authorization_code", "refresh_token"]
    );
    assert_eq!(meta.response_types, vec!["code"]);
    assert_eq!(meta.application_type, "web");
    assert_eq!(meta.authorization_signed_response_alg, Some(Alg::PS256));
    assert_eq!(meta.software_statement, s.jwt, "SSA kept verbatim");
    assert_eq!(meta.software_roles, "data-recipient-software-product");
}

#[test]
fn defaults_apply_when_optional_metadata_is_absent() {
    let meta = register(&json!({
        "request_object_signing_alg": null, "application_type": null, "redirect_uris": null,
    }))
    .unwrap();
    assert_eq!(
        meta.request_object_signing_alg,
        Alg::PS256,
        "request_object_signing_alg defaults to PS256"
    );
    assert_eq!(
        meta.application_type, "web",
        "application_type defaults to web"
    );
    assert_eq!(
        meta.redirect_uris,
        vec![REDIRECT_URI, REDIRECT_URI_2],
        "redirect_uris default to the SSA's"
    );
    let meta = register(&json!({"redirect_uris": []})).unwrap();
    assert_eq!(
        meta.redirect_uris.len(),
        2,
        "empty redirect_uris default to the SSA's"
    );
    let meta = register(&json!({"redirect_uris": [REDIRECT_URI_2, REDIRECT_URI_2]})).unwrap();
    assert_eq!(
        meta.redirect_uris,
        vec![REDIRECT_URI_2],
        "duplicates collapse"
    );
}

#[test]
fn redirect_uri_not_in_ssa_is_invalid_redirect_uri() {
    let r = RegistrationErrorCode::InvalidRedirectUri;
    let cases = [
        (json!(["https://evil.example.com/cb"]), "ERR-DCR-003: The redirect_uri 'https://evil.example.com/cb' is not valid as it is not included in the software_statement", "foreign URI"),
        (json!([REDIRECT_URI, "https://www.mockcompany.com.au/callback/"]), "is not included in the software_statement", "near miss is not an exact match"),
        (json!(["/callback"]), "is not valid", "relative URI"),
        (json!("https://www.mockcompany.com.au/callback"), "", "a string is accepted as one URI"),
        (json!([1]), "must be an array of strings", "number"),
        (json!({"a": 1}), "must be an array of strings", "object"),
        (json!(["https://x/\u{e9}\""]), "'https://x/??'", "echoed URI is sanitised"),
    ];
    for (uris, want, msg) in cases {
        let res = register(&json!({"redirect_uris": uris}));
        if want.is_empty() {
            assert!(res.is_ok(), "{msg}: {res:?}");
        } else {
            assert_err(res, r, want, msg);
        }
    }
}

#[test]
fn redirect_uri_error_comes_before_other_metadata_errors() {
    let res = register(&json!({
        "redirect_uris": ["https://evil.example.com/cb"],
        "token_endpoint_auth_signing_alg": "RS256",
        "response_types": ["code id_token"],
    }));
    assert_err(
        res,
        RegistrationErrorCode::InvalidRedirectUri,
        "ERR-DCR-003",
        "redirect first",
    );
}

#[test]
fn metadata_rules_in_spec_order() {
    let m = RegistrationErrorCode::InvalidClientMetadata;
    let cases = [
        // Row 13.
        (json!({"token_endpoint_auth_signing_alg": null}), "The 'token_endpoint_auth_signing_alg' claim is missing.", "13 missing"),
        (json!({"token_endpoint_auth_signing_alg": "RS256"}), "The 'token_endpoint_auth_signing_alg' claim value must be one of 'PS256,ES256'.", "13 RS256"),
        (json!({"token_endpoint_auth_signing_alg": 1}), "must be one of 'PS256,ES256'", "13 number"),
        // Row 14.
        (json!({"token_endpoint_auth_method": null}), "The 'token_endpoint_auth_method' claim is missing.", "14 missing"),
        (json!({"token_endpoint_auth_method": "client_secret_basic"}), "The 'token_endpoint_auth_method' claim value must be one of 'private_key_jwt'.", "14 secret"),
        // Row 15.
        (json!({"id_token_signed_response_alg": null}), "The 'id_token_signed_response_alg' claim is missing.", "15 missing"),
        (json!({"id_token_signed_response_alg": "none"}), "The 'id_token_signed_response_alg' claim value must be one of 'PS256,ES256'.", "15 none"),
        // Row 16.
        (json!({"grant_types": null}), "The 'grant_types' claim is missing.", "16 missing"),
        (json!({"grant_types": ["client_credentials"]}), "The 'grant_types' claim value must contain the 'authorization_code' value.", "16 no authorization_code"),
        (json!({"grant_types": ["authorization_code", "implicit"]}), "The 'grant_types' claim value must be one of 'client_credentials,authorization_code,refresh_token'.", "16 implicit"),
        (json!({"grant_types": [1]}), "'grant_types' claim value must be one of", "16 number"),
        (json!({"grant_types": ["foo"]}), "The 'grant_types' claim value must contain the 'authorization_code' value.", "16 foo (ACCC JARM AC43)"),
        // Row 17.
        (json!({"request_object_signing_alg": "HS256"}), "The 'request_object_signing_alg' claim value must be one of 'PS256,ES256'.", "17 HS256"),
        // Row 18.
        (json!({"response_types": null}), "The 'response_types' claim is missing.", "18 missing"),
        (json!({"response_types": ["code id_token"]}), "The 'response_types' claim value must be one of 'code'.", "18 hybrid"),
        (json!({"response_types": ["code", "token"]}), "The 'response_types' claim value must be one of 'code'.", "18 extra"),
        (json!({"response_types": []}), "The 'response_types' claim value must be one of 'code'.", "18 empty"),
        // Row 19.
        (json!({"authorization_signed_response_alg": null}), "The 'authorization_signed_response_alg' claim is missing.", "19 missing"),
        (json!({"authorization_signed_response_alg": ""}), "The 'authorization_signed_response_alg' claim is missing.", "19 empty (ACCC JARM AC05)"),
        (json!({"id_token_signed_response_alg": ""}), "The 'id_token_signed_response_alg' claim is missing.", "15 empty"),
        (json!({"authorization_signed_response_alg": "none"}), "The 'authorization_signed_response_alg' claim value must be one of 'PS256,ES256'.", "19 none"),
        // Row 20.
        (json!({"authorization_encrypted_response_enc": "A256GCM"}), "The 'authorization_encrypted_response_alg' claim is missing.", "20 enc without alg"),
        (json!({"authorization_encrypted_response_enc": "A128GCM", "authorization_encrypted_response_alg": "RSA-OAEP"}), "The 'authorization_encrypted_response_enc' claim value must be one of 'A256GCM,A128CBC-HS256'.", "20 bad enc"),
        (json!({"authorization_encrypted_response_alg": "RSA1_5"}), "The 'authorization_encrypted_response_alg' claim value must be one of 'RSA-OAEP,RSA-OAEP-256'.", "20 bad alg"),
        // Row 22.
        (json!({"application_type": "native"}), "The 'application_type' claim value must be set to 'web'.", "22 native"),
    ];
    for (patch, want, msg) in cases {
        assert_err(register(&patch), m, want, msg);
    }
}

#[test]
fn first_metadata_error_wins() {
    let res = register(&json!({
        "application_type": "native",
        "response_types": ["code id_token"],
        "token_endpoint_auth_method": "none",
    }));
    assert_err(
        res,
        RegistrationErrorCode::InvalidClientMetadata,
        "'token_endpoint_auth_method'",
        "row 14 before 18 and 22",
    );
}

#[test]
fn authorization_signed_response_alg_defaults_when_policy_allows() {
    let mut p = policy();
    p.require_authorization_signed_response_alg = false;
    let meta = register_with(
        &ssa(),
        &json!({"authorization_signed_response_alg": null}),
        &p,
    )
    .unwrap();
    assert_eq!(meta.authorization_signed_response_alg, Some(Alg::PS256));
    let meta = register_with(
        &ssa(),
        &json!({"authorization_signed_response_alg": "ES256"}),
        &p,
    )
    .unwrap();
    assert_eq!(meta.authorization_signed_response_alg, Some(Alg::ES256));
}

#[test]
fn jarm_encryption_is_validated_then_not_persisted() {
    let meta = register(&json!({
        "authorization_encrypted_response_alg": "RSA-OAEP-256",
        "authorization_encrypted_response_enc": "A256GCM",
    }))
    .unwrap();
    let body = registration_response("c", NOW, &meta);
    assert!(
        body.get("authorization_encrypted_response_alg").is_none(),
        "not returned"
    );
    assert!(
        body.get("authorization_encrypted_response_enc").is_none(),
        "not returned"
    );
    assert!(
        register(&json!({"authorization_encrypted_response_alg": "RSA-OAEP"})).is_ok(),
        "alg alone is fine"
    );
}

#[test]
fn unsupported_and_hybrid_only_claims_are_ignored() {
    let meta = register(&json!({
        "id_token_encrypted_response_alg": "RSA-OAEP",
        "id_token_encrypted_response_enc": "bogus",
        "client_name": "Overridden?",
        "scope": "bank:everything",
        "x-custom": {"a": 1},
        "client_id": SOFTWARE_ID,
    }))
    .unwrap();
    assert_eq!(meta.client_name, "Mock Software", "SSA value wins");
    let body = registration_response("c", NOW, &meta);
    for k in [
        "id_token_encrypted_response_alg",
        "id_token_encrypted_response_enc",
        "x-custom",
    ] {
        assert!(body.get(k).is_none(), "{k} not returned");
    }
    assert!(
        !body["scope"].as_str().unwrap().contains("bank:everything"),
        "request scope ignored"
    );
}

#[test]
fn scopes_filtered_to_supported() {
    let cases = [
        (
            "openid profile cdr:registration",
            "openid profile cdr:registration",
            "all supported",
        ),
        (
            "openid telco:billing:read cdr:registration",
            "openid cdr:registration",
            "unsupported scope dropped",
        ),
        (
            "telco:billing:read",
            "",
            "nothing supported is not an error",
        ),
        (
            "cdr:registration  openid openid",
            "cdr:registration openid",
            "SSA order kept, duplicates dropped",
        ),
    ];
    for (ssa_scope, want, msg) in cases {
        let meta = register_with(
            &ssa_with(&json!({"scope": ssa_scope})),
            &json!({}),
            &policy(),
        )
        .unwrap();
        assert_eq!(meta.scope, want, "{msg}");
    }
    let meta = register(&json!({})).unwrap();
    assert!(
        !meta.scope.contains("telco"),
        "default SSA's telco scope dropped: {}",
        meta.scope
    );
    assert!(meta
        .scope
        .starts_with("openid profile bank:accounts.basic:read"));
}

#[test]
fn registration_response_has_all_fields_and_no_nulls() {
    let s =
        ssa_with(&json!({"sector_identifier_uri": "https://www.mockcompany.com.au/sector.json"}));
    let meta = register_with(&s, &json!({}), &policy()).unwrap();
    let body = registration_response("client-1", NOW, &meta);
    let mandatory = [
        "client_id",
        "client_id_issued_at",
        "client_name",
        "client_description",
        "client_uri",
        "org_id",
        "org_name",
        "redirect_uris",
        "logo_uri",
        "jwks_uri",
        "token_endpoint_auth_method",
        "token_endpoint_auth_signing_alg",
        "grant_types",
        "response_types",
        "application_type",
        "id_token_signed_response_alg",
        "request_object_signing_alg",
        "software_statement",
        "software_id",
        "software_roles",
        "scope",
        "legal_entity_id",
        "legal_entity_name",
        "sector_identifier_uri",
        "tos_uri",
        "policy_uri",
        "revocation_uri",
        "recipient_base_uri",
        "authorization_signed_response_alg",
    ];
    for k in mandatory {
        assert!(body.get(k).is_some_and(|v| !v.is_null()), "{k} present");
    }
    assert_eq!(body["client_id"], json!("client-1"));
    assert_eq!(body["client_id_issued_at"], json!(NOW));
    assert_eq!(body["software_statement"], json!(s.jwt), "SSA verbatim");
    assert_eq!(body["token_endpoint_auth_signing_alg"], json!("PS256"));

    let bare = register_with(
        &ssa_with(&json!({"tos_uri": null, "revocation_uri": null})),
        &json!({}),
        &policy(),
    )
    .unwrap();
    let body = registration_response("c", NOW, &bare);
    assert!(
        body.as_object().unwrap().values().all(|v| !v.is_null()),
        "no nulls"
    );
    assert!(
        body.get("tos_uri").is_none()
            && body.get("revocation_uri").is_none()
            && body.get("sector_identifier_uri").is_none()
    );
}

#[test]
fn client_metadata_round_trips_as_json() {
    let meta = register(&json!({})).unwrap();
    let stored = serde_json::to_string(&meta).unwrap();
    let back: ClientMetadata = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, meta);
}

#[test]
fn check_sector_identifier_rules() {
    let uris = vec![REDIRECT_URI.to_owned(), REDIRECT_URI_2.to_owned()];
    let cases: [(&[u8], bool, &str); 6] = [
        (br#"["https://www.mockcompany.com.au/callback","https://www.mockcompany.com.au/callback2"]"#, true, "exact list"),
        (br#"["https://other/cb","https://www.mockcompany.com.au/callback","https://www.mockcompany.com.au/callback2"]"#, true, "superset"),
        (br#"["https://www.mockcompany.com.au/callback"]"#, false, "missing one"),
        (br#"{"redirect_uris": []}"#, false, "object"),
        (br#"[1, 2]"#, false, "numbers"),
        (b"<html>", false, "not JSON"),
    ];
    for (doc, ok, msg) in cases {
        let r = check_sector_identifier(doc, &uris);
        if ok {
            assert!(r.is_ok(), "{msg}");
        } else {
            assert_err(
                r,
                RegistrationErrorCode::InvalidClientMetadata,
                "Invalid sector_identifier_uri",
                msg,
            );
        }
    }
}

#[test]
fn check_update_allowed_rules() {
    let existing = register(&json!({})).unwrap();
    let same_upper = register_with(
        &ssa_with(&json!({"software_id": SOFTWARE_ID.to_uppercase()})),
        &json!({"iss": SOFTWARE_ID}),
        &policy(),
    )
    .unwrap();
    let renamed = register_with(
        &ssa_with(&json!({"client_name": "New name", "legal_entity_id": "other"})),
        &json!({}),
        &policy(),
    )
    .unwrap();
    let mut other_sw = existing.clone();
    other_sw.software_id = "00000000-0000-0000-0000-000000000000".into();
    let mut other_org = existing.clone();
    other_org.org_id = "00000000-0000-0000-0000-000000000000".into();
    let cases = [
        (&same_upper, true, "software_id differs only in case"),
        (
            &renamed,
            true,
            "modifiable fields and legal entity may change",
        ),
        (&other_sw, false, "other software product"),
        (&other_org, false, "other brand"),
    ];
    for (new, ok, msg) in cases {
        let r = check_update_allowed(&existing, new);
        if ok {
            assert!(r.is_ok(), "{msg}: {r:?}");
        } else {
            assert_err(
                r,
                RegistrationErrorCode::InvalidClientMetadata,
                "does not match the registration",
                msg,
            );
        }
    }
}
