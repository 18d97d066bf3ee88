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

/// The variables every configuration test needs (TLS files that exist), plus `extra`.
fn with_tls(dir: &Path, extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    for f in ["c.pem", "k.pem", "ca.pem"] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    let d = |f: &str| dir.join(f).display().to_string();
    let mut vars = vec![
        ("DCR_TLS_CERT", d("c.pem")),
        ("DCR_TLS_KEY", d("k.pem")),
        ("DCR_CLIENT_CA", d("ca.pem")),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Config::try_from(RawConfig::load(None, &env(&pairs))?)
}

#[test]
fn provisioning_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = with_tls(dir.path(), &[]).unwrap();
    assert!(cfg.provisioning.is_none());
    assert!(cfg.redacted().contains("[provisioning]\nenabled = false"));
}

#[test]
fn provisioning_reads_its_token_from_a_file_or_the_environment_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("iat");
    std::fs::write(&token_file, "file-token-0123\n").unwrap();
    let token_path = token_file.display().to_string();
    let from_file = with_tls(
        dir.path(),
        &[
            ("DCR_PROVISIONING_ENABLED", "true"),
            ("DCR_PROVISIONING_MODE", "async"),
            (
                "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
                "https://as.bank.example/reg",
            ),
            ("DCR_PROVISIONING_INITIAL_ACCESS_TOKEN_FILE", &token_path),
            ("DCR_PROVISIONING_TIMEOUT_MS", "2500"),
        ],
    )
    .unwrap();
    let p = from_file.provisioning.as_ref().unwrap();
    assert_eq!(p.mode, ProvisioningMode::Async);
    assert_eq!(p.client_ids, ClientIdPolicy::Ours, "ours by default");
    assert_eq!(p.initial_access_token.expose(), "file-token-0123");
    assert_eq!(p.timeout, Duration::from_millis(2500));
    let from_env = with_tls(
        dir.path(),
        &[
            ("DCR_PROVISIONING_ENABLED", "1"),
            (
                "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
                "https://as.bank.example/reg",
            ),
            ("DCR_PROVISIONING_INITIAL_ACCESS_TOKEN", "env-token-4567"),
            ("DCR_PROVISIONING_CLIENT_ID", "downstream"),
        ],
    )
    .unwrap();
    let p = from_env.provisioning.as_ref().unwrap();
    assert_eq!(p.mode, ProvisioningMode::Sync, "sync by default");
    assert_eq!(p.client_ids, ClientIdPolicy::Downstream);
    assert_eq!(p.initial_access_token.expose(), "env-token-4567");
    for cfg in [&from_file, &from_env] {
        let shown = format!("{}\n{cfg:?}", cfg.redacted());
        assert!(
            !shown.contains("file-token-0123") && !shown.contains("env-token-4567"),
            "{shown}"
        );
        assert!(shown.contains("https://as.bank.example/reg"), "{shown}");
    }
    // A token written into the file is not a field of it.
    let toml = dir.path().join("c.toml");
    std::fs::write(
        &toml,
        "[provisioning]\ninitial_access_token = \"in-the-file\"\n",
    )
    .unwrap();
    let err = RawConfig::load(Some(&toml), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn provisioning_names_every_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let err = with_tls(
        dir.path(),
        &[
            ("DCR_PROVISIONING_ENABLED", "true"),
            ("DCR_PROVISIONING_MODE", "later"),
            (
                "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
                "http://as.bank.example/reg",
            ),
            ("DCR_PROVISIONING_CA", "/nonexistent/ca.pem"),
            ("DCR_PROVISIONING_TIMEOUT_MS", "10"),
            ("DCR_PROVISIONING_CLIENT_ID", "theirs"),
        ],
    )
    .unwrap_err()
    .to_string();
    for field in [
        "provisioning.mode",
        "provisioning.registration_endpoint",
        "provisioning.initial_access_token_file: required",
        "provisioning.ca",
        "provisioning.timeout_ms",
        "provisioning.client_id",
    ] {
        assert!(err.contains(field), "{field} must be named in:\n{err}");
    }
    let both = with_tls(
        dir.path(),
        &[
            ("DCR_PROVISIONING_ENABLED", "true"),
            ("DCR_PROVISIONING_MODE", "async"),
            ("DCR_PROVISIONING_CLIENT_ID", "downstream"),
            (
                "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
                "https://as.bank.example/reg",
            ),
            ("DCR_PROVISIONING_INITIAL_ACCESS_TOKEN", "secret-token-89"),
            ("DCR_PROVISIONING_INITIAL_ACCESS_TOKEN_FILE", "/nonexistent"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(both.contains("not both"), "{both}");
    assert!(both.contains("needs provisioning.mode = sync"), "{both}");
    assert!(!both.contains("secret-token-89"), "{both}");
}
