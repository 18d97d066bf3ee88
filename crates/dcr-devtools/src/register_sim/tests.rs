use super::*;
use dcr_core::clock::{Clock, MockClock};

fn sim() -> (Simulator, MockClock) {
    let clock = MockClock::new(1_800_000_000);
    let s = Simulator::open(
        None,
        Url::parse("https://localhost:1").unwrap(),
        1000,
        Arc::new(clock.clone()),
    )
    .unwrap();
    (s, clock)
}

#[test]
fn ssas_are_signed_ps256_exactly_as_the_register_issues_them() {
    let (s, clock) = sim();
    let p = s
        .add_product(NewProduct {
            software_product_name: "Budget".into(),
            ..Default::default()
        })
        .unwrap();
    let id = p["software_product_id"].as_str().unwrap();
    let brand = p["brand_id"].as_str().unwrap();
    let ssa = s.issue_ssa(brand, id).unwrap();
    let header = dcr_core::jose::decode_header(&ssa).unwrap();
    assert_eq!(header.alg, "PS256");
    let keys = JwkSet::parse(s.jwks().to_string().as_bytes()).unwrap();
    let v = dcr_core::ssa::verify_ssa(&ssa, &keys, clock.now(), &Default::default()).unwrap();
    assert_eq!(v.iss, "cdr-register");
    assert_eq!(v.exp - v.iat, 600, "10 minutes");
    assert_eq!(v.jti.len(), 32, "a GUID without dashes");
    assert!(!v.jti.contains('-'));
    assert_eq!(v.org_id, brand, "org_id is the brand id");
    assert_eq!(v.software_id, id);
    assert_eq!(v.software_roles, "data-recipient-software-product");
    assert!(v.scope.contains("cdr:registration"));
    assert_eq!(
        v.jwks_uri,
        format!("https://localhost:1/recipients/{id}/jwks")
    );
    assert!(v.legal_entity_id.is_some() && v.legal_entity_name.is_some());
    assert!(s.issue_ssa("other-brand", id).is_err(), "brand must match");
}

#[test]
fn no_ssa_for_an_inactive_product_or_recipient() {
    let (s, _) = sim();
    let p = s
        .add_product(NewProduct {
            software_product_name: "Budget".into(),
            ..Default::default()
        })
        .unwrap();
    let (id, brand, le) = (
        p["software_product_id"].as_str().unwrap(),
        p["brand_id"].as_str().unwrap(),
        p["legal_entity_id"].as_str().unwrap(),
    );
    s.set_product_status(id, "inactive").unwrap();
    assert!(matches!(
        s.issue_ssa(brand, id),
        Err(SimError::NotActive(_))
    ));
    s.set_product_status(id, "ACTIVE").unwrap();
    s.set_recipient_status(le, "SUSPENDED").unwrap();
    assert!(matches!(
        s.issue_ssa(brand, id),
        Err(SimError::NotActive(_))
    ));
    assert_eq!(
        s.product_statuses()[0].1,
        "INACTIVE",
        "suspended cascades to inactive"
    );
    s.set_recipient_status(le, "REVOKED").unwrap();
    assert_eq!(
        s.product_statuses()[0].1,
        "REMOVED",
        "revoked cascades to removed"
    );
    assert_eq!(s.stats().ssa_refused, 2);
}

#[test]
fn products_are_validated() {
    let (s, _) = sim();
    let bad = [
        NewProduct::default(),
        NewProduct {
            software_product_name: "x".into(),
            redirect_uris: Some(vec!["http://plain".into()]),
            ..Default::default()
        },
        NewProduct {
            software_product_name: "x".into(),
            software_product_id: Some("a/b".into()),
            ..Default::default()
        },
        NewProduct {
            software_product_name: "x".into(),
            jwks: Some(json!({"keys": "no"})),
            ..Default::default()
        },
    ];
    for n in bad {
        assert!(matches!(s.add_product(n), Err(SimError::Invalid(_))));
    }
    let n = NewProduct {
        software_product_id: Some("p1".into()),
        software_product_name: "x".into(),
        ..Default::default()
    };
    s.add_product(n.clone()).unwrap();
    assert!(matches!(s.add_product(n), Err(SimError::Conflict(_))));
}

#[test]
fn etags_match_weakly_in_lists() {
    assert!(etag_matches("\"a\"", "\"a\""));
    assert!(etag_matches("W/\"a\"", "\"a\""));
    assert!(etag_matches("\"b\", \"a\"", "\"a\""));
    assert!(etag_matches("*", "\"a\""));
    assert!(!etag_matches("\"b\"", "\"a\""));
}

#[test]
fn data_file_keeps_key_and_products_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.json");
    let clock: SharedClock = Arc::new(MockClock::new(1));
    let url = Url::parse("https://localhost:1").unwrap();
    let a = Simulator::open(Some(&path), url.clone(), 10, clock.clone()).unwrap();
    a.add_product(NewProduct {
        software_product_id: Some("p1".into()),
        software_product_name: "x".into(),
        ..Default::default()
    })
    .unwrap();
    let b = Simulator::open(Some(&path), url, 10, clock).unwrap();
    assert_eq!(a.jwks(), b.jwks(), "same Register key");
    assert!(
        b.product("P1").is_ok(),
        "products kept; ids case-insensitive"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the data file holds a private key");
    }
}
