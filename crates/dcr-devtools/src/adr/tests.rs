use super::*;

#[test]
fn request_claims_come_from_the_ssa() {
    let key = SigningKey::generate_es256("k").unwrap();
    let ssa = key
        .sign(&json!({"software_id": "SW", "redirect_uris": ["https://a/cb"]}))
        .unwrap();
    let c = registration_request_claims(&ssa, "https://dh", 100).unwrap();
    assert_eq!(c["iss"], "SW");
    assert_eq!(c["aud"], "https://dh");
    assert_eq!(c["exp"], 400);
    assert_eq!(c["redirect_uris"], json!(["https://a/cb"]));
    assert_eq!(c["software_statement"], ssa);
    assert!(registration_request_claims("nope", "https://dh", 1).is_err());
    let a = client_assertion_claims("cid", "https://dh", 5);
    assert_eq!(
        (a["iss"].as_str(), a["sub"].as_str()),
        (Some("cid"), Some("cid"))
    );
    assert_ne!(
        client_assertion_claims("cid", "x", 5)["jti"],
        a["jti"],
        "every assertion has its own jti"
    );
}

#[test]
fn token_forms_ask_for_their_scope_with_the_assertion() {
    let form = token_form("A");
    assert!(form.contains(&("scope", "cdr:registration".into())));
    assert!(form.contains(&("client_assertion", "A".into())));
    assert!(form.contains(&("client_assertion_type", JWT_BEARER.into())));
    assert!(form.contains(&("grant_type", "client_credentials".into())));
    let downstream = client_credentials_form("B", "bank:accounts.basic:read");
    assert!(downstream.contains(&("scope", "bank:accounts.basic:read".into())));
    assert!(downstream.contains(&("client_assertion", "B".into())));
}

#[test]
fn certificate_thumbprint_is_the_x5t_s256_of_the_first_certificate() {
    let pki = crate::devcerts::DevPki::new("Test CA").unwrap();
    let cert = pki.client("Recipient").unwrap();
    assert_eq!(
        certificate_thumbprint(&format!("{}{}", cert.cert_pem, pki.ca_pem())).unwrap(),
        dcr_core::jose::thumbprint_x5t_s256(&cert.cert_der)
    );
    assert!(certificate_thumbprint("no PEM here").is_err());
}

#[test]
fn recipient_and_simulator_commands_parse() {
    use clap::{CommandFactory as _, Parser as _};
    crate::cli::Cli::command().debug_assert();
    let ok: &[&[&str]] = &[
        &[
            "adr",
            "init",
            "d",
            "--certs",
            "c",
            "--product",
            "p",
            "--brand",
            "b",
        ],
        &["adr", "register", "--product", "p"],
        &["adr", "--dir", "d", "get"],
        &[
            "adr",
            "token",
            "--client-id",
            "x",
            "--data-holder",
            "https://dh",
        ],
        &["adr", "token", "--downstream"],
        &[
            "adr",
            "token",
            "--downstream",
            "--downstream-issuer",
            "https://as.bank.example",
            "--scope",
            "bank:transactions:read",
        ],
        &["adr", "update"],
        &["adr", "delete", "--register", "https://r"],
        &["adr", "ssa"],
        &["scopes"],
        &["register-sim"],
        &[
            "register-sim",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "f.json",
        ],
        &["register-sim", "serve", "--page-size", "5"],
        &[
            "register-sim",
            "--notify",
            "https://a/x,https://b/y",
            "--notify-ca",
            "ca.pem",
        ],
        &["register-sim", "set-status", "--product", "p", "INACTIVE"],
        &[
            "register-sim",
            "set-status",
            "--recipient",
            "r",
            "SUSPENDED",
        ],
        &[
            "register-sim",
            "add-product",
            "--name",
            "n",
            "--redirect-uri",
            "https://a",
            "--redirect-uri",
            "https://b",
        ],
        &["register-sim", "set-jwks", "--product", "p", "jwks.json"],
        &["register-sim", "outage", "--status", "503"],
        &[
            "register-sim",
            "list",
            "--url",
            "https://localhost:1",
            "--ca",
            "ca.pem",
        ],
    ];
    for args in ok {
        let argv = std::iter::once("dcr-dev").chain(args.iter().copied());
        if let Err(e) = crate::cli::Cli::try_parse_from(argv) {
            panic!("{args:?}: {e}");
        }
    }
    let bad: &[&[&str]] = &[
        &["register-sim", "set-status", "INACTIVE"],
        &[
            "register-sim",
            "set-status",
            "--product",
            "p",
            "--recipient",
            "r",
            "X",
        ],
        &["register-sim", "--listen", "127.0.0.1:1", "list"],
        &["adr"],
    ];
    for args in bad {
        let argv = std::iter::once("dcr-dev").chain(args.iter().copied());
        assert!(crate::cli::Cli::try_parse_from(argv).is_err(), "{args:?}");
    }
}

#[test]
fn init_keeps_the_key_and_copies_dev_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    crate::devcerts::write_dev_certs(&certs, false).unwrap();
    let adr = dir.path().join("adr");
    assert!(
        init(&adr, None, None, None, false).is_err(),
        "no certificate to be had"
    );
    let first = init(&adr, Some(&certs), Some("P"), Some("B"), false).unwrap();
    assert!(first.generated);
    let again = init(&adr, None, None, None, false).unwrap();
    assert!(!again.generated, "idempotent");
    assert_eq!(first.kid, again.kid);
    let (_, state) = Recipient::load(&adr, None).unwrap();
    assert_eq!(state.software_product_id.as_deref(), Some("P"));
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(adr.join(JWKS_FILE)).unwrap()).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], first.kid.as_str());
    assert!(jwks["keys"][0].get("d").is_none(), "public only");
}
