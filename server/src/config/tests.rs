use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn every_bad_field_is_named_at_once() {
    let raw = RawConfig::load(
        None,
        &env(&[
            ("DCR_LISTEN_ADDR", "nonsense"),
            ("DCR_ISSUER", "http://plain.example"),
            ("DCR_DATABASE_URL", "mysql://u:pw@h/db"),
            ("DCR_REGISTER_POLL_SECS", "900"),
        ]),
    )
    .unwrap();
    let err = Config::try_from(raw).unwrap_err();
    let text = err.to_string();
    for field in [
        "server.listen_addr",
        "server.issuer",
        "tls.cert",
        "tls.key",
        "tls.client_ca",
        "database.url",
        "register.poll_secs",
    ] {
        assert!(text.contains(field), "{field} must be named in:\n{text}");
    }
    assert!(!text.contains("pw@"), "password must not leak:\n{text}");
}

#[test]
fn malformed_numbers_in_env_are_named() {
    let err = RawConfig::load(None, &env(&[("DCR_REGISTER_POLL_SECS", "soon")])).unwrap_err();
    assert!(err.to_string().contains("DCR_REGISTER_POLL_SECS"), "{err}");
}

#[test]
fn unknown_toml_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, "[server]\nlisten = \"x\"\n").unwrap();
    let err = RawConfig::load(Some(&p), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn env_overrides_file_and_secrets_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["c.pem", "k.pem", "ca.pem"] {
        std::fs::write(dir.path().join(f), "x").unwrap();
    }
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "[server]\nlisten_addr = \"127.0.0.1:1111\"\nissuer = \"https://dh.example/\"\n",
    )
    .unwrap();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let raw = RawConfig::load(
        Some(&p),
        &env(&[
            ("DCR_LISTEN_ADDR", "127.0.0.1:2222"),
            ("DCR_TLS_CERT", &d("c.pem")),
            ("DCR_TLS_KEY", &d("k.pem")),
            ("DCR_CLIENT_CA", &d("ca.pem")),
            ("DCR_DATABASE_URL", "postgres://dcr:hunter2@db.example/dcr"),
        ]),
    )
    .unwrap();
    let cfg = Config::try_from(raw).unwrap();
    assert_eq!(cfg.listen_addr.port(), 2222, "env wins over file");
    assert_eq!(
        cfg.issuer_str(),
        "https://dh.example",
        "trailing slash trimmed"
    );
    let shown = cfg.redacted();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("REDACTED"), "{shown}");
    assert!(!format!("{cfg:?}").contains("hunter2"));
}

#[test]
fn insecure_cookies_only_for_plain_http_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["c.pem", "k.pem", "ca.pem"] {
        std::fs::write(dir.path().join(f), "x").unwrap();
    }
    let d = |f: &str| dir.path().join(f).display().to_string();
    let config = |extra: &[(&str, &str)]| {
        let mut vars = vec![
            ("DCR_TLS_CERT", d("c.pem")),
            ("DCR_TLS_KEY", d("k.pem")),
            ("DCR_CLIENT_CA", d("ca.pem")),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Config::try_from(RawConfig::load(None, &env(&pairs)).unwrap())
    };
    assert!(config(&[]).unwrap().cookie_secure, "Secure by default");
    let dev = config(&[
        ("DCR_COOKIE_SECURE", "false"),
        ("DCR_PORTAL_ADDR", "127.0.0.1:8080"),
    ])
    .unwrap();
    assert!(!dev.cookie_secure);
    for refused in [
        vec![
            ("DCR_COOKIE_SECURE", "false"),
            ("DCR_PORTAL_ADDR", "0.0.0.0:8080"),
        ],
        vec![
            ("DCR_COOKIE_SECURE", "false"),
            ("DCR_PORTAL_ADDR", "127.0.0.1:8080"),
            ("DCR_PORTAL_TLS", "true"),
        ],
    ] {
        let err = config(&refused).unwrap_err().to_string();
        assert!(err.contains("portal.cookie_secure"), "{refused:?}: {err}");
    }
}
