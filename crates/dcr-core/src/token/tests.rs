use super::*;
use crate::testutil::{
    client_assertion_claims, patched, sign_with_header, test_keys, unsigned_jwt, DH_ISSUER,
};
use serde_json::json;

const NOW: UnixTime = 1_700_000_000;
const CLIENT: &str = "5f0a1c52-6a3e-4f3e-9b7e-2f1d3c4b5a69";
const TOKEN_ENDPOINT: &str = "https://dh.example.com.au/connect/token";

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn request_with(assertion: &str) -> TokenRequest {
    TokenRequest {
        grant_type: GRANT_TYPE_CLIENT_CREDENTIALS.into(),
        client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER.into(),
        client_assertion: assertion.into(),
        client_id: None,
        scope: None,
    }
}

fn client_keys() -> JwkSet {
    crate::testutil::adr_jwks()
}

fn audiences() -> Vec<String> {
    vec![DH_ISSUER.to_owned(), TOKEN_ENDPOINT.to_owned()]
}

fn assertion(patch: &Value) -> String {
    let c = patched(&client_assertion_claims(CLIENT, DH_ISSUER, NOW), patch);
    test_keys().adr_es256.sign(&c).unwrap()
}

fn check(jwt: &str, keys: &JwkSet, now: UnixTime) -> Result<AssertionClaims, TokenError> {
    let times = AssertionTimes {
        skew: 10,
        max_lifetime: 300,
    };
    verify_client_assertion(&request_with(jwt), CLIENT, keys, &audiences(), now, times)
}

#[test]
fn error_codes_have_rfc6749_wire_values() {
    let cases = [
        (TokenErrorCode::InvalidRequest, "invalid_request"),
        (TokenErrorCode::InvalidClient, "invalid_client"),
        (TokenErrorCode::InvalidGrant, "invalid_grant"),
        (TokenErrorCode::InvalidScope, "invalid_scope"),
        (TokenErrorCode::UnauthorizedClient, "unauthorized_client"),
        (
            TokenErrorCode::UnsupportedGrantType,
            "unsupported_grant_type",
        ),
    ];
    for (code, wire) in cases {
        assert_eq!(code.as_str(), wire);
        assert_eq!(serde_json::to_value(code).unwrap(), json!(wire));
    }
    assert_eq!(
        TokenError::client_not_found().to_json(),
        json!({"error": "invalid_client", "error_description": "Client not found"})
    );
    assert_eq!(
        TokenError::replayed_jti().description,
        "Invalid client_assertion - 'jti' must be unique"
    );
}

#[test]
fn a_form_is_decoded_in_order() {
    let form = decode_form(b"grant_type=client_credentials&scope=cdr%3Aregistration+x").unwrap();
    assert_eq!(
        form,
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), "cdr:registration x".to_owned()),
        ]
    );
}

#[test]
fn a_repeated_parameter_is_refused_even_when_encoded_differently() {
    let e = decode_form(b"scope=a&%73cope=b").unwrap_err();
    assert_eq!(e.code, TokenErrorCode::InvalidRequest);
    assert_eq!(e.description, "The 'scope' parameter is repeated");
}

#[test]
fn a_form_of_more_than_the_cap_is_refused_and_the_cap_itself_is_accepted() {
    let form = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert_eq!(
        decode_form(form(MAX_FORM_PAIRS).as_bytes()).unwrap().len(),
        MAX_FORM_PAIRS
    );
    let e = decode_form(form(MAX_FORM_PAIRS + 1).as_bytes()).unwrap_err();
    assert_eq!(e.description, "The form has more than 32 parameters");
}

#[test]
fn parse_form_rules() {
    let a = ("client_assertion", "x.y.z");
    let t = ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER);
    let g = ("grant_type", "client_credentials");
    type Case<'a> = (Vec<(&'a str, &'a str)>, TokenErrorCode, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![g, a, t, ("scope", "a"), ("scope", "b")],
            TokenErrorCode::InvalidRequest,
            "'scope' parameter is repeated",
            "repeated scope",
        ),
        (
            vec![g, g, a, t],
            TokenErrorCode::InvalidRequest,
            "repeated",
            "repeated grant_type",
        ),
        (
            vec![g, a, t, ("x", "1"), ("x", "2")],
            TokenErrorCode::InvalidRequest,
            "repeated",
            "repeated unknown parameter",
        ),
        (
            vec![a, t],
            TokenErrorCode::InvalidRequest,
            "grant_type not provided",
            "no grant_type",
        ),
        (
            vec![("grant_type", ""), a, t],
            TokenErrorCode::InvalidRequest,
            "grant_type not provided",
            "empty grant_type",
        ),
        (
            vec![("grant_type", "authorization_code"), a, t],
            TokenErrorCode::UnsupportedGrantType,
            "client_credentials",
            "authorization_code",
        ),
        (
            vec![("grant_type", "password"), a, t],
            TokenErrorCode::UnsupportedGrantType,
            "client_credentials",
            "password",
        ),
        (
            vec![g, t],
            TokenErrorCode::InvalidClient,
            "client_assertion not provided",
            "no assertion",
        ),
        (
            vec![g, ("client_assertion", ""), t],
            TokenErrorCode::InvalidClient,
            "client_assertion not provided",
            "empty assertion",
        ),
        (
            vec![g, a],
            TokenErrorCode::InvalidClient,
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "no type",
        ),
        (
            vec![
                g,
                a,
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
            ],
            TokenErrorCode::InvalidClient,
            "client_assertion_type must be",
            "saml",
        ),
    ];
    for (pairs, code, want, msg) in cases {
        let e = TokenRequest::parse_form(form(&pairs)).unwrap_err();
        assert_eq!(e.code, code, "{msg}: {e}");
        assert!(
            e.description.contains(want),
            "{msg}: {:?} lacks {want:?}",
            e.description
        );
    }
    let ok = TokenRequest::parse_form(form(&[
        g,
        a,
        t,
        ("scope", "cdr:registration"),
        ("client_id", CLIENT),
        ("extra", "1"),
    ]))
    .unwrap();
    assert_eq!(ok.scope.as_deref(), Some("cdr:registration"));
    assert_eq!(ok.client_id.as_deref(), Some(CLIENT));
    assert_eq!(ok.client_assertion, "x.y.z");
    assert!(
        !format!("{ok:?}").contains("x.y.z"),
        "Debug hides the assertion"
    );
    let no_scope = TokenRequest::parse_form(form(&[g, a, t, ("scope", "")])).unwrap();
    assert_eq!(no_scope.scope, None, "empty parameters count as absent");
}

#[test]
fn assertion_client_id_rules() {
    let sub_iss = "Invalid client_assertion - 'sub' and 'iss' must be set to the client_id";
    let cases = [
        (assertion(&json!({"sub": null})), None, sub_iss, "no sub"),
        (assertion(&json!({"iss": null})), None, sub_iss, "no iss"),
        (
            assertion(&json!({"sub": "other"})),
            None,
            sub_iss,
            "sub differs",
        ),
        (
            assertion(&json!({"iss": 5, "sub": 5})),
            None,
            sub_iss,
            "numbers",
        ),
        (
            assertion(&json!({})),
            Some("someone-else"),
            "client_id does not match client_assertion",
            "form client_id differs",
        ),
        ("garbage".to_owned(), None, "not a valid JWT", "garbage"),
    ];
    for (jwt, form_id, want, msg) in cases {
        let mut req = request_with(&jwt);
        req.client_id = form_id.map(str::to_owned);
        let e = assertion_client_id(&req).unwrap_err();
        assert_eq!(e.code, TokenErrorCode::InvalidClient, "{msg}");
        assert!(e.description.contains(want), "{msg}: {}", e.description);
    }
    let mut req = request_with(&assertion(&json!({})));
    assert_eq!(
        assertion_client_id(&req).unwrap(),
        CLIENT,
        "no form client_id"
    );
    req.client_id = Some(CLIENT.into());
    assert_eq!(
        assertion_client_id(&req).unwrap(),
        CLIENT,
        "matching form client_id"
    );
}

#[test]
fn verify_client_assertion_accepts_valid_assertions() {
    let claims = check(&assertion(&json!({})), &client_keys(), NOW).unwrap();
    assert_eq!(claims.exp, NOW + 300);
    assert!(!claims.jti.is_empty());
    let cases = [
        (json!({"aud": TOKEN_ENDPOINT}), "token endpoint audience"),
        (json!({"aud": ["https://x", DH_ISSUER]}), "array audience"),
        (json!({"iat": null}), "iat is optional"),
        (json!({"iat": NOW + 10}), "iat within skew"),
    ];
    for (patch, msg) in cases {
        assert!(
            check(&assertion(&patch), &client_keys(), NOW).is_ok(),
            "{msg}"
        );
    }
    let ps = test_keys()
        .adr_ps256
        .sign(&client_assertion_claims(CLIENT, DH_ISSUER, NOW))
        .unwrap();
    assert!(check(&ps, &client_keys(), NOW).is_ok(), "PS256 assertion");
}

#[test]
fn verify_client_assertion_rejects_bad_claims() {
    let cases = [
        (
            json!({"aud": "https://elsewhere"}),
            NOW,
            "'aud' is not valid",
            "wrong aud",
        ),
        (
            json!({"aud": ["https://elsewhere"]}),
            NOW,
            "'aud' is not valid",
            "array without us",
        ),
        (json!({"aud": null}), NOW, "'aud' is not valid", "no aud"),
        (json!({"exp": null}), NOW, "'exp' is required", "no exp"),
        (json!({}), NOW + 310, "has expired", "expired beyond skew"),
        (
            json!({"exp": NOW + 311}),
            NOW,
            "'exp' must be at most 300 seconds away",
            "exp beyond the maximum lifetime and the skew",
        ),
        (
            json!({"exp": i64::MAX}),
            NOW,
            "'exp' must be at most 300 seconds away",
            "exp at the end of time",
        ),
        (
            json!({"iat": i64::MIN, "nbf": i64::MIN}),
            i64::MAX,
            "has expired",
            "extreme times do not wrap",
        ),
        (
            json!({"iat": NOW + 11}),
            NOW,
            "'iat' is in the future",
            "iat ahead",
        ),
        (
            json!({"nbf": NOW + 60}),
            NOW,
            "'nbf' is in the future",
            "nbf ahead",
        ),
        (json!({"jti": null}), NOW, "'jti' is required", "no jti"),
        (json!({"jti": ""}), NOW, "'jti' is required", "empty jti"),
        (
            json!({"iss": "other", "sub": "other"}),
            NOW,
            "'sub' and 'iss' must be set to the client_id",
            "another client",
        ),
        (
            json!({"sub": "other"}),
            NOW,
            "'sub' and 'iss'",
            "sub differs",
        ),
    ];
    for (patch, now, want, msg) in cases {
        let e = check(&assertion(&patch), &client_keys(), now).unwrap_err();
        assert_eq!(e.code, TokenErrorCode::InvalidClient, "{msg}");
        assert!(e.description.contains(want), "{msg}: {}", e.description);
    }
    assert!(
        check(&assertion(&json!({})), &client_keys(), NOW + 309).is_ok(),
        "inside skew after exp"
    );
}

#[test]
fn verify_client_assertion_signature_rules() {
    let body = client_assertion_claims(CLIENT, DH_ISSUER, NOW);
    let stranger = SigningKey::generate_es256("stranger").unwrap();
    let cases = [
        (
            unsigned_jwt(&json!({"alg": "none", "kid": "adr-es256"}), &body, b""),
            "PS256 or ES256",
            "alg none",
        ),
        (
            unsigned_jwt(
                &json!({"alg": "HS256", "kid": "adr-es256"}),
                &body,
                &[0; 32],
            ),
            "PS256 or ES256",
            "HS256",
        ),
        (
            SigningKey::generate_es256("adr-es256")
                .unwrap()
                .sign(&body)
                .unwrap(),
            "signature validation failed",
            "other key, same kid",
        ),
        (
            sign_with_header(&test_keys().adr_es256, &json!({"alg": "ES256"}), &body).unwrap(),
            "signature validation failed",
            "no kid with two keys",
        ),
    ];
    for (jwt, want, msg) in cases {
        let e = check(&jwt, &client_keys(), NOW).unwrap_err();
        assert_eq!(e.code, TokenErrorCode::InvalidClient, "{msg}");
        assert!(e.description.contains(want), "{msg}: {}", e.description);
    }
    let e = check(&stranger.sign(&body).unwrap(), &client_keys(), NOW).unwrap_err();
    assert!(e.is_unknown_kid(), "unknown kid is distinguishable: {e}");
    // A single-key set verifies an assertion without `kid`.
    let one = JwkSet::from_keys([test_keys().adr_es256.verifying_key()]).unwrap();
    let no_kid = sign_with_header(&test_keys().adr_es256, &json!({"alg": "ES256"}), &body).unwrap();
    assert!(check(&no_kid, &one, NOW).is_ok(), "single key without kid");
}

#[test]
fn grant_scope_rules() {
    let reg = "openid profile cdr:registration bank:accounts.basic:read";
    let cases = [
        (None, reg, Ok("cdr:registration"), "no scope requested"),
        (
            Some("cdr:registration"),
            reg,
            Ok("cdr:registration"),
            "exactly cdr:registration",
        ),
        (
            Some("cdr:registration bank:accounts.basic:read openid"),
            reg,
            Ok("cdr:registration"),
            "data scopes dropped",
        ),
        (Some("  "), reg, Ok("cdr:registration"), "blank is absent"),
        (
            Some("bank:accounts.basic:read"),
            reg,
            Err(TokenErrorCode::InvalidScope),
            "data scope only",
        ),
        (
            Some("admin:metadata:update"),
            reg,
            Err(TokenErrorCode::InvalidScope),
            "admin scope",
        ),
        (
            None,
            "openid profile",
            Err(TokenErrorCode::InvalidScope),
            "client not registered for it",
        ),
        (
            Some("cdr:registration"),
            "openid",
            Err(TokenErrorCode::InvalidScope),
            "requested but not registered",
        ),
        (
            Some("cdr:registrationX"),
            reg,
            Err(TokenErrorCode::InvalidScope),
            "no prefix matching",
        ),
    ];
    for (requested, registered, want, msg) in cases {
        let got = grant_scope(requested, registered);
        match want {
            Ok(s) => assert_eq!(got.as_deref(), Ok(s), "{msg}"),
            Err(code) => assert_eq!(got.map_err(|e| e.code), Err(code), "{msg}"),
        }
    }
}

fn at_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: DH_ISSUER.into(),
        sub: CLIENT.into(),
        client_id: CLIENT.into(),
        scope: "cdr:registration".into(),
        iat: NOW,
        exp: NOW + 300,
        jti: "at-1".into(),
        cnf: Cnf {
            x5t_s256: crate::jose::thumbprint_x5t_s256(b"cert"),
        },
        aud: DH_ISSUER.into(),
    }
}

#[test]
fn access_token_round_trips() {
    let key = &test_keys().adr_es256;
    let token = issue_access_token(key, &at_claims()).unwrap();
    let verified = verify_access_token(&token, &[key.verifying_key()], DH_ISSUER, NOW).unwrap();
    assert_eq!(verified.kid, key.kid());
    let got = verified.claims;
    assert_eq!(got, at_claims());
    assert!(got.has_scope("cdr:registration"));
    let raw = crate::jose::decode_claims_unverified(&token).unwrap();
    assert!(
        raw["cnf"].get("x5t#S256").is_some(),
        "cnf uses the RFC 8705 member name"
    );
}

#[test]
fn access_token_expires_exactly_at_exp() {
    let key = &test_keys().adr_es256;
    let token = issue_access_token(key, &at_claims()).unwrap();
    let keys = [key.verifying_key()];
    let cases = [
        (NOW, Ok(()), "at issue"),
        (NOW + 299, Ok(()), "one second before exp"),
        (
            NOW + 300,
            Err(AccessTokenError::Expired { exp: NOW + 300 }),
            "at exp",
        ),
        (
            NOW + 301,
            Err(AccessTokenError::Expired { exp: NOW + 300 }),
            "after exp",
        ),
    ];
    for (now, want, msg) in cases {
        assert_eq!(
            verify_access_token(&token, &keys, DH_ISSUER, now).map(|_| ()),
            want,
            "{msg}"
        );
    }
}

#[test]
fn access_token_rejections() {
    let key = &test_keys().adr_es256;
    let keys = [key.verifying_key(), test_keys().adr_ps256.verifying_key()];
    let good = issue_access_token(key, &at_claims()).unwrap();
    let mut other_iss = at_claims();
    other_iss.iss = "https://other".into();
    let no_cnf = patched(
        &serde_json::to_value(at_claims()).unwrap(),
        &json!({"cnf": null}),
    );
    let cases = [
        (
            issue_access_token(
                &SigningKey::generate_es256("adr-es256").unwrap(),
                &at_claims(),
            )
            .unwrap(),
            AccessTokenError::BadSignature,
            "forged with our kid",
        ),
        (
            issue_access_token(
                &SigningKey::generate_es256("elsewhere").unwrap(),
                &at_claims(),
            )
            .unwrap(),
            AccessTokenError::BadSignature,
            "unknown kid",
        ),
        (
            unsigned_jwt(
                &json!({"alg": "none", "kid": "adr-es256"}),
                &serde_json::to_value(at_claims()).unwrap(),
                b"",
            ),
            AccessTokenError::BadSignature,
            "alg none",
        ),
        (
            issue_access_token(key, &other_iss).unwrap(),
            AccessTokenError::WrongIssuer,
            "other issuer",
        ),
        (
            key.sign(&no_cnf).unwrap(),
            AccessTokenError::Malformed,
            "no cnf",
        ),
        (
            sign_with_header(
                key,
                &json!({"alg": "ES256"}),
                &serde_json::to_value(at_claims()).unwrap(),
            )
            .unwrap(),
            AccessTokenError::Malformed,
            "no kid",
        ),
        ("garbage".to_owned(), AccessTokenError::Malformed, "garbage"),
        (
            sign_with_header(
                key,
                &json!({"alg": "ES256", "kid": key.kid(), "typ": "at+jwt"}),
                &serde_json::to_value(at_claims()).unwrap(),
            )
            .unwrap(),
            AccessTokenError::WrongType,
            "another typ",
        ),
        (
            sign_with_header(
                key,
                &json!({"alg": "ES256", "kid": key.kid()}),
                &serde_json::to_value(at_claims()).unwrap(),
            )
            .unwrap(),
            AccessTokenError::WrongType,
            "no typ",
        ),
        (
            issue_access_token(
                key,
                &AccessTokenClaims {
                    aud: "https://elsewhere".into(),
                    ..at_claims()
                },
            )
            .unwrap(),
            AccessTokenError::WrongAudience,
            "another audience",
        ),
        (
            issue_access_token(
                key,
                &AccessTokenClaims {
                    exp: NOW + 601,
                    ..at_claims()
                },
            )
            .unwrap(),
            AccessTokenError::BadLifetime,
            "longer than we issue",
        ),
        (
            issue_access_token(
                key,
                &AccessTokenClaims {
                    iat: i64::MIN,
                    ..at_claims()
                },
            )
            .unwrap(),
            AccessTokenError::BadLifetime,
            "a lifetime that overflows",
        ),
    ];
    for (token, want, msg) in cases {
        assert_eq!(
            verify_access_token(&token, &keys, DH_ISSUER, NOW),
            Err(want),
            "{msg}"
        );
    }
    assert!(verify_access_token(&good, &keys, DH_ISSUER, NOW).is_ok());
}
