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
    assert!(
        !dev.require_second_factor,
        "no second factor required in local development unless asked for"
    );
    assert!(
        config(&[]).unwrap().require_second_factor,
        "a second factor is required by default"
    );
    let asked = config(&[
        ("DCR_COOKIE_SECURE", "false"),
        ("DCR_PORTAL_ADDR", "127.0.0.1:8080"),
        ("DCR_REQUIRE_SECOND_FACTOR", "true"),
    ])
    .unwrap();
    assert!(asked.require_second_factor);
    let off = config(&[("DCR_REQUIRE_SECOND_FACTOR", "false")]).unwrap();
    assert!(!off.require_second_factor);
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

/// The initial access token configured.
fn initial_access_token(p: &ProvisioningConfig) -> &str {
    match &p.auth {
        RegistrationAuth::InitialAccessToken { token, .. } => token.expose(),
        RegistrationAuth::ClientCredentials(_) => panic!("an initial access token"),
    }
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
    assert_eq!(initial_access_token(p), "file-token-0123");
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
    assert_eq!(initial_access_token(p), "env-token-4567");
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
            ("DCR_PROVISIONING_RECONCILE_INTERVAL_SECS", "5"),
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
        "provisioning.reconcile_interval_secs",
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

#[test]
fn provisioning_takes_client_credentials_instead_and_never_prints_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "file-secret-0123\n").unwrap();
    let secret_path = secret_file.display().to_string();
    let base = [
        ("DCR_PROVISIONING_ENABLED", "true"),
        (
            "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
            "https://as.bank.example/reg",
        ),
        (
            "DCR_PROVISIONING_TOKEN_ENDPOINT",
            "https://as.bank.example/token",
        ),
        ("DCR_PROVISIONING_TOKEN_CLIENT_ID", "dcr-provisioner"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut vars = base.to_vec();
        vars.extend_from_slice(extra);
        with_tls(dir.path(), &vars)
    };
    let from_file = with(&[
        ("DCR_PROVISIONING_TOKEN_CLIENT_SECRET_FILE", &secret_path),
        ("DCR_PROVISIONING_TOKEN_SCOPE", " dcr:provision  admin "),
    ])
    .unwrap();
    let from_env = with(&[("DCR_PROVISIONING_TOKEN_CLIENT_SECRET", "env-secret-4567")]).unwrap();
    for (cfg, secret, scope) in [
        (&from_file, "file-secret-0123", Some("dcr:provision admin")),
        (&from_env, "env-secret-4567", None),
    ] {
        let p = cfg.provisioning.as_ref().unwrap();
        let RegistrationAuth::ClientCredentials(c) = &p.auth else {
            panic!("client credentials: {:?}", p.auth)
        };
        assert_eq!(c.token_endpoint.as_str(), "https://as.bank.example/token");
        assert_eq!(c.client_id, "dcr-provisioner");
        assert_eq!(c.client_secret.expose(), secret);
        assert_eq!(c.scope.as_deref(), scope);
        let shown = format!("{}\n{cfg:?}", cfg.redacted());
        assert!(!shown.contains(secret), "{shown}");
        assert!(
            shown.contains("token_endpoint = \"https://as.bank.example/token\"")
                && shown.contains("token_client_id = \"dcr-provisioner\""),
            "{shown}"
        );
    }
    assert!(from_file
        .redacted()
        .contains("token_scope = \"dcr:provision admin\""));
    // A secret written into the file is not a field of it.
    let toml = dir.path().join("c.toml");
    std::fs::write(
        &toml,
        "[provisioning]\ntoken_client_secret = \"in-the-file\"\n",
    )
    .unwrap();
    let err = RawConfig::load(Some(&toml), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn provisioning_needs_exactly_one_way_to_the_registration_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let enabled = [
        ("DCR_PROVISIONING_ENABLED", "true"),
        (
            "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
            "https://as.bank.example/reg",
        ),
    ];
    let err = |extra: &[(&str, &str)]| {
        let mut vars = enabled.to_vec();
        vars.extend_from_slice(extra);
        with_tls(dir.path(), &vars).unwrap_err().to_string()
    };
    let neither = err(&[]);
    for field in [
        "provisioning.initial_access_token_file: required",
        "provisioning.token_endpoint",
        "token_client_id",
        "token_client_secret_file",
    ] {
        assert!(
            neither.contains(field),
            "{field} must be named in:\n{neither}"
        );
    }
    let both = err(&[
        ("DCR_PROVISIONING_INITIAL_ACCESS_TOKEN", "secret-token-89"),
        (
            "DCR_PROVISIONING_TOKEN_ENDPOINT",
            "https://as.bank.example/token",
        ),
        ("DCR_PROVISIONING_TOKEN_CLIENT_ID", "dcr-provisioner"),
        ("DCR_PROVISIONING_TOKEN_CLIENT_SECRET", "secret-secret-89"),
    ]);
    assert!(
        both.contains("not both")
            && both.contains("provisioning.initial_access_token_file")
            && both.contains("provisioning.token_endpoint"),
        "{both}"
    );
    assert!(
        !both.contains("secret-token-89") && !both.contains("secret-secret-89"),
        "{both}"
    );
    // Client credentials, incomplete or malformed: each part named.
    let partial = err(&[
        (
            "DCR_PROVISIONING_TOKEN_ENDPOINT",
            "http://as.bank.example/token",
        ),
        ("DCR_PROVISIONING_TOKEN_SCOPE", "dcr:\"provision\""),
    ]);
    for field in [
        "provisioning.token_endpoint",
        "provisioning.token_client_id: required",
        "provisioning.token_client_secret_file: required",
        "provisioning.token_scope",
    ] {
        assert!(
            partial.contains(field),
            "{field} must be named in:\n{partial}"
        );
    }
    let secret_twice = err(&[
        (
            "DCR_PROVISIONING_TOKEN_ENDPOINT",
            "https://as.bank.example/token",
        ),
        ("DCR_PROVISIONING_TOKEN_CLIENT_ID", "dcr-provisioner"),
        ("DCR_PROVISIONING_TOKEN_CLIENT_SECRET", "secret-secret-89"),
        ("DCR_PROVISIONING_TOKEN_CLIENT_SECRET_FILE", "/nonexistent"),
    ]);
    assert!(
        secret_twice
            .contains("provisioning.token_client_secret_file: give the client secret either"),
        "{secret_twice}"
    );
    assert!(!secret_twice.contains("secret-secret-89"), "{secret_twice}");
}

#[test]
fn single_sign_on_is_off_by_default_and_names_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let off = with_tls(dir.path(), &[]).unwrap();
    assert!(off.sso.is_none() && off.local_passwords);
    let err = with_tls(
        dir.path(),
        &[("DCR_SSO_ISSUER", "https://login.bank.example")],
    )
    .unwrap_err()
    .to_string();
    for field in [
        "portal.sso.client_id",
        "portal.sso.client_secret_file",
        "portal.sso.roles",
        "portal.public_origin",
    ] {
        assert!(err.contains(field), "{field} must be named in:\n{err}");
    }
    let err = with_tls(dir.path(), &[("DCR_SSO_LOCAL_PASSWORDS", "false")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("portal.sso.local_passwords"), "{err}");
    let err = with_tls(
        dir.path(),
        &[(
            "DCR_PORTAL_PUBLIC_ORIGIN",
            "http://dcr-admin.bank.example/portal",
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("portal.public_origin"), "{err}");
}

#[test]
fn single_sign_on_reads_its_secret_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[portal]\npublic_origin = \"https://dcr-admin.bank.example\"\n\
         [portal.sso]\nissuer = \"https://login.bank.example/realms/staff\"\n\
         client_id = \"dcr-portal\"\nrole_claim = \"roles\"\n\
         [portal.sso.roles]\nadministrator = [\"dcr-admin\"]\nviewer = [\"dcr-read\", \" \"]\n",
    )
    .unwrap();
    for f in ["c.pem", "k.pem", "ca.pem"] {
        std::fs::write(dir.path().join(f), "x").unwrap();
    }
    let d = |f: &str| dir.path().join(f).display().to_string();
    let vars = [
        ("DCR_TLS_CERT", d("c.pem")),
        ("DCR_TLS_KEY", d("k.pem")),
        ("DCR_CLIENT_CA", d("ca.pem")),
        ("DCR_SSO_CLIENT_SECRET", "sso-secret-value-31".to_string()),
    ];
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cfg = Config::try_from(RawConfig::load(Some(&file), &env(&pairs)).unwrap()).unwrap();
    let sso = cfg.sso.as_ref().unwrap();
    assert_eq!(sso.client_secret.expose(), "sso-secret-value-31");
    assert_eq!(sso.role_claim, "roles");
    assert_eq!(
        sso.redirect_uri.as_str(),
        "https://dcr-admin.bank.example/auth/sso/callback"
    );
    assert_eq!(
        sso.roles,
        vec![
            (Role::Administrator, vec!["dcr-admin".to_string()]),
            (Role::Viewer, vec!["dcr-read".to_string()]),
        ]
    );
    let printed = cfg.redacted();
    assert!(printed.contains("[portal.sso]"), "{printed}");
    assert!(!printed.contains("sso-secret-value-31"), "{printed}");
    assert!(!format!("{cfg:?}").contains("sso-secret-value-31"));
}

#[test]
fn the_time_zone_is_sydney_unless_another_real_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        with_tls(dir.path(), &[]).unwrap().time_zone.name(),
        "Australia/Sydney"
    );
    let perth = with_tls(dir.path(), &[("DCR_PORTAL_TIME_ZONE", "Australia/Perth")]).unwrap();
    assert_eq!(perth.time_zone.name(), "Australia/Perth");
    assert!(perth.redacted().contains("time_zone = \"Australia/Perth\""));
    let err = with_tls(dir.path(), &[("DCR_PORTAL_TIME_ZONE", "Sydney")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("portal.time_zone"), "{err}");
}

#[test]
fn webhooks_are_named_https_urls() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = with_tls(
        dir.path(),
        &[
            (
                "DCR_WEBHOOKS",
                "siem=https://siem.bank.example/dcr, ops=https://events.bank.example/e",
            ),
            ("DCR_WEBHOOK_MAX_ATTEMPTS", "5"),
        ],
    )
    .unwrap();
    let names: Vec<&str> = cfg.webhooks.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["siem", "ops"]);
    assert_eq!(
        cfg.webhooks[0].url.as_str(),
        "https://siem.bank.example/dcr"
    );
    assert_eq!(cfg.webhook_max_attempts, 5);
    assert!(cfg.redacted().contains("[webhooks]"));
    let none = with_tls(dir.path(), &[]).unwrap();
    assert!(none.webhooks.is_empty());
    assert_eq!(none.webhook_max_attempts, 12);

    for (bad, named) in [
        ("siem=http://siem.bank.example/dcr", "must be https"),
        ("https://siem.bank.example/dcr", "must be name=https://url"),
        ("si em=https://siem.bank.example/dcr", "1 to 40 letters"),
        ("a=https://x.example,a=https://y.example", "given twice"),
        ("a=https://user:pw@x.example/", "no password"),
    ] {
        let err = with_tls(dir.path(), &[("DCR_WEBHOOKS", bad)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(named), "{bad}: {err}");
    }
    let err = with_tls(dir.path(), &[("DCR_WEBHOOK_MAX_ATTEMPTS", "0")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhooks.max_attempts"), "{err}");
}
