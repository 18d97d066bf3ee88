//! `dcr-dev`, run as a developer would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dcr-dev");

#[test]
fn dev_certs_are_written_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["certs"])
        .arg(dir.path().join("certs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = std::fs::read_to_string(dir.path().join("certs/ca.pem")).unwrap();
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let out = Command::new(BIN)
        .args(["certs"])
        .arg(dir.path().join("certs"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("certs/ca.pem")).unwrap(),
        ca,
        "idempotent"
    );
    let server = std::fs::read_to_string(dir.path().join("certs/server.pem")).unwrap();
    let der = rustls_pemfile::certs(&mut server.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        san.contains("DNSName(\"localhost\")") && san.contains("IPAddress([127, 0, 0, 1])"),
        "{san}"
    );
}
