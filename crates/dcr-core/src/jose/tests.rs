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
    let token = sign_with_header(k, &json!({"alg": "RS256", "kid": k.kid()}), &claims()).unwrap();
    assert!(matches!(
        verify(&token, &k.verifying_key()),
        Err(JoseError::UnsupportedAlg(_))
    ));
}

#[test]
fn verify_binds_alg_to_key() {
    let es = &test_keys().adr_es256;
    let ps = &test_keys().adr_ps256;
    let token = sign_with_header(ps, &json!({"alg": "PS256", "kid": es.kid()}), &claims()).unwrap();
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
    let other = sign_with_header(k, &json!({"alg": "ES256", "kid": "nope"}), &claims()).unwrap();
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
    let kp = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &k.pkcs8).unwrap();
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
