//! From the configuration as written to the typed [`Config`]: defaults, checks of every field
//! (all problems named at once), files read.

use super::*;

pub(crate) fn addr(
    errors: &mut Vec<String>,
    field: &str,
    v: Option<&str>,
    default: &str,
) -> SocketAddr {
    let v = v.unwrap_or(default);
    v.parse().unwrap_or_else(|_| {
        errors.push(format!(
            "{field}: {v:?} is not an address like 127.0.0.1:7443"
        ));
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// The per-certificate and per-address limits; a per-certificate rate of 0 turns both off.
pub(crate) fn rate_limits(s: &RawSecurity) -> (Limit, Limit) {
    let per_minute = s.rate_limit_per_minute.unwrap_or(600);
    let burst = s.rate_limit_burst.unwrap_or(100);
    let cert = Limit { per_minute, burst };
    let addr = if per_minute == 0 {
        Limit {
            per_minute: 0,
            burst: 0,
        }
    } else {
        Limit {
            per_minute: s
                .rate_limit_per_address_per_minute
                .unwrap_or(per_minute.saturating_mul(10)),
            burst: s
                .rate_limit_address_burst
                .unwrap_or(burst.saturating_mul(10)),
        }
    };
    (cert, addr)
}

/// The listeners' connection limits, each within a range that keeps the server usable.
pub(crate) fn listener_limits(e: &mut Vec<String>, s: &RawServer) -> ListenerLimits {
    let d = ListenerLimits::default();
    let mut within = |field: &str, v: Option<u64>, default: u64, lo: u64, hi: u64| {
        let v = v.unwrap_or(default);
        if !(lo..=hi).contains(&v) {
            e.push(format!("server.{field}: {v} must be between {lo} and {hi}"));
        }
        v
    };
    let secs = |d: Duration| d.as_secs();
    let header = within(
        "header_read_timeout_secs",
        s.header_read_timeout_secs,
        secs(d.header_read_timeout),
        1,
        300,
    );
    let handshake = within(
        "tls_handshake_timeout_secs",
        s.tls_handshake_timeout_secs,
        secs(d.tls_handshake_timeout),
        1,
        60,
    );
    let total = within(
        "max_connections",
        s.max_connections.map(|n| n as u64),
        d.max_connections as u64,
        1,
        1_000_000,
    );
    let per_address = within(
        "max_connections_per_address",
        s.max_connections_per_address.map(|n| n as u64),
        d.max_connections_per_address as u64,
        1,
        1_000_000,
    );
    let streams = within(
        "http2_max_concurrent_streams",
        s.http2_max_concurrent_streams.map(u64::from),
        u64::from(d.http2_max_concurrent_streams),
        1,
        1_000,
    );
    let keep_alive = within(
        "http2_keep_alive_secs",
        s.http2_keep_alive_secs,
        secs(d.http2_keep_alive),
        5,
        3_600,
    );
    ListenerLimits {
        header_read_timeout: Duration::from_secs(header),
        tls_handshake_timeout: Duration::from_secs(handshake),
        max_connections: usize::try_from(total).unwrap_or(d.max_connections),
        max_connections_per_address: usize::try_from(per_address)
            .unwrap_or(d.max_connections_per_address),
        http2_max_concurrent_streams: u32::try_from(streams)
            .unwrap_or(d.http2_max_concurrent_streams),
        http2_keep_alive: Duration::from_secs(keep_alive),
    }
}

pub(crate) fn https_url(
    errors: &mut Vec<String>,
    field: &str,
    v: Option<&str>,
    default: Option<&str>,
) -> Url {
    let fallback = || Url::parse("https://invalid.invalid/").expect("constant URL parses");
    let Some(v) = v.or(default) else {
        errors.push(format!("{field}: required"));
        return fallback();
    };
    match Url::parse(v) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => u,
        Ok(_) => {
            errors.push(format!("{field}: {v:?} must be an absolute https URL"));
            fallback()
        }
        Err(e) => {
            errors.push(format!("{field}: {v:?} is not a URL ({e})"));
            fallback()
        }
    }
}

pub(crate) fn file(errors: &mut Vec<String>, field: &str, v: Option<&str>) -> PathBuf {
    match v {
        None => {
            errors.push(format!(
                "{field}: required (run `dcr-dev certs <dir>` for development certificates)"
            ));
            PathBuf::new()
        }
        Some(p) => {
            let path = PathBuf::from(p);
            if !path.is_file() {
                errors.push(format!("{field}: {p:?} is not a readable file"));
            }
            path
        }
    }
}

/// `[provisioning]`: `None` when off; every problem named in `e`.
pub(crate) fn provisioning(e: &mut Vec<String>, p: &RawProvisioning) -> Option<ProvisioningConfig> {
    if !p.enabled.unwrap_or(false) {
        return None;
    }
    let mode = match p.mode.as_deref().unwrap_or("sync") {
        "sync" => ProvisioningMode::Sync,
        "async" => ProvisioningMode::Async,
        other => {
            e.push(format!(
                "provisioning.mode: {other:?} must be sync or async"
            ));
            ProvisioningMode::Sync
        }
    };
    let client_ids = match p.client_id.as_deref().unwrap_or("ours") {
        "ours" => ClientIdPolicy::Ours,
        "downstream" => ClientIdPolicy::Downstream,
        other => {
            e.push(format!(
                "provisioning.client_id: {other:?} must be ours or downstream"
            ));
            ClientIdPolicy::Ours
        }
    };
    if client_ids == ClientIdPolicy::Downstream && mode != ProvisioningMode::Sync {
        e.push(
            "provisioning.client_id: downstream needs provisioning.mode = sync (the recipient is \
             answered with the client_id the downstream assigns)"
                .into(),
        );
    }
    let registration_endpoint = https_url(
        e,
        "provisioning.registration_endpoint",
        p.registration_endpoint.as_deref(),
        None,
    );
    // The token itself never appears in a message.
    let from_env = p
        .initial_access_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let (token, source) = match (from_env, p.initial_access_token_file.as_deref()) {
        (Some(_), Some(_)) => {
            e.push(
                "provisioning.initial_access_token_file: give the initial access token either \
                 in a file or in DCR_PROVISIONING_INITIAL_ACCESS_TOKEN, not both"
                    .into(),
            );
            (String::new(), String::new())
        }
        (Some(t), None) => (
            t.to_string(),
            "from DCR_PROVISIONING_INITIAL_ACCESS_TOKEN".to_string(),
        ),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => {
                (text.trim().to_string(), format!("from the file {path:?}"))
            }
            Ok(_) => {
                e.push(format!(
                    "provisioning.initial_access_token_file: {path:?} is empty"
                ));
                (String::new(), String::new())
            }
            Err(err) => {
                e.push(format!(
                    "provisioning.initial_access_token_file: {path:?} cannot be read ({})",
                    err.kind()
                ));
                (String::new(), String::new())
            }
        },
        (None, None) => {
            e.push(
                "provisioning.initial_access_token_file: required (or \
                 DCR_PROVISIONING_INITIAL_ACCESS_TOKEN) when provisioning is enabled"
                    .into(),
            );
            (String::new(), String::new())
        }
    };
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        e.push("provisioning: the initial access token has spaces or control characters".into());
    }
    let ca =
        p.ca.as_deref()
            .map(|path| file(e, "provisioning.ca", Some(path)));
    let timeout_ms = p.timeout_ms.unwrap_or(5_000);
    if !(100..=60_000).contains(&timeout_ms) {
        e.push(format!(
            "provisioning.timeout_ms: {timeout_ms} must be between 100 and 60000"
        ));
    }
    Some(ProvisioningConfig {
        mode,
        registration_endpoint,
        initial_access_token: InitialAccessToken::new(token),
        initial_access_token_source: source,
        ca,
        timeout: Duration::from_millis(timeout_ms),
        client_ids,
    })
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let mut e = Vec::new();
        let listen_addr = addr(
            &mut e,
            "server.listen_addr",
            raw.server.listen_addr.as_deref(),
            "127.0.0.1:7443",
        );
        let portal_addr = addr(
            &mut e,
            "server.portal_addr",
            raw.server.portal_addr.as_deref(),
            "127.0.0.1:7080",
        );
        let metrics_addr = raw
            .server
            .metrics_addr
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(|v| addr(&mut e, "server.metrics_addr", Some(v), ""));
        let (rate_limit_cert, rate_limit_addr) = rate_limits(&raw.security);
        let default_issuer = format!("https://localhost:{}", listen_addr.port());
        let mut issuer = https_url(
            &mut e,
            "server.issuer",
            raw.server.issuer.as_deref(),
            Some(&default_issuer),
        );
        if issuer.query().is_some() || issuer.fragment().is_some() {
            e.push("server.issuer: must not have a query or fragment".into());
        }
        // The issuer is compared as a string with `aud` claims: keep one canonical form.
        let trimmed = issuer.as_str().trim_end_matches('/').to_string();
        if let Ok(u) = Url::parse(&trimmed) {
            issuer = u;
        }
        let tls_cert = file(&mut e, "tls.cert", raw.tls.cert.as_deref());
        let tls_key = file(&mut e, "tls.key", raw.tls.key.as_deref());
        let client_ca = file(&mut e, "tls.client_ca", raw.tls.client_ca.as_deref());
        let client_crls: Vec<PathBuf> = raw
            .tls
            .client_crls
            .iter()
            .flatten()
            .map(|p| file(&mut e, "tls.client_crls", Some(p)))
            .collect();
        let crl_check_secs = raw.tls.crl_check_secs.unwrap_or(30);
        if crl_check_secs == 0 {
            e.push("tls.crl_check_secs: must be at least 1".into());
        }
        let database_url = match raw.database.url.as_deref().unwrap_or("sqlite://dcr.db") {
            u if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                DatabaseUrl::Postgres(u.into())
            }
            u if u.starts_with("sqlite:") => DatabaseUrl::Sqlite(u.into()),
            u => {
                e.push(format!(
                    "database.url: {:?} must start with sqlite: or postgres://",
                    dcr_store::redact_url(u)
                ));
                DatabaseUrl::Sqlite(String::new())
            }
        };
        let register_jwks_uri = https_url(
            &mut e,
            "register.jwks_uri",
            raw.register.jwks_uri.as_deref(),
            Some("https://api.cdr.gov.au/cdr-register/v1/jwks"),
        );
        let register_base_uri = https_url(
            &mut e,
            "register.base_uri",
            raw.register.base_uri.as_deref(),
            Some("https://api.cdr.gov.au"),
        );
        let poll = raw.register.poll_secs.unwrap_or(60);
        if !(5..=300).contains(&poll) {
            e.push(format!("register.poll_secs: {poll} must be between 5 and 300 (the Register's 5-minute obligation)"));
        }
        let outbound_ca = raw
            .outbound
            .ca
            .as_deref()
            .map(|p| file(&mut e, "outbound.ca", Some(p)));
        let timeout_ms = raw.outbound.timeout_ms.unwrap_or(3_000);
        if !(100..=30_000).contains(&timeout_ms) {
            e.push(format!(
                "outbound.timeout_ms: {timeout_ms} must be between 100 and 30000"
            ));
        }
        let listener = listener_limits(&mut e, &raw.server);
        let mut outbound_allowed = Vec::new();
        for a in raw.outbound.allowed_addresses.clone().unwrap_or_default() {
            let net = a
                .parse::<ipnet::IpNet>()
                .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match net {
                Ok(net) => outbound_allowed.push(net),
                Err(_) => e.push(format!(
                    "outbound.allowed_addresses: {a:?} is not an IP address or CIDR block"
                )),
            }
        }
        let sector_identifier_ttl_secs = raw.outbound.sector_identifier_ttl_secs.unwrap_or(300);
        if sector_identifier_ttl_secs > 3_600 {
            e.push(format!(
                "outbound.sector_identifier_ttl_secs: {sector_identifier_ttl_secs} must be at most 3600"
            ));
        }
        let jwks_grace_secs = raw.outbound.jwks_grace_secs.unwrap_or(3_600);
        if jwks_grace_secs > 86_400 {
            e.push(format!(
                "outbound.jwks_grace_secs: {jwks_grace_secs} must be at most 86400 (a day)"
            ));
        }
        let skew = raw.security.clock_skew_secs.unwrap_or(30);
        if !(0..=300).contains(&skew) {
            e.push(format!(
                "security.clock_skew_secs: {skew} must be between 0 and 300"
            ));
        }
        let max_assertion_lifetime_secs = raw.security.max_assertion_lifetime_secs.unwrap_or(300);
        if !(60..=3_600).contains(&max_assertion_lifetime_secs) {
            e.push(format!(
                "security.max_assertion_lifetime_secs: {max_assertion_lifetime_secs} must be between 60 and 3600"
            ));
        }
        let lifetime = raw.security.token_lifetime_secs.unwrap_or(300);
        if !(120..=600).contains(&lifetime) {
            e.push(format!("security.token_lifetime_secs: {lifetime} must be between 120 and 600 (CDS: 2 to 10 minutes)"));
        }
        let mut trusted_proxies = Vec::new();
        for p in raw.security.trusted_proxies.clone().unwrap_or_default() {
            match p.parse() {
                Ok(ip) => trusted_proxies.push(ip),
                Err(_) => e.push(format!(
                    "security.trusted_proxies: {p:?} is not an IP address"
                )),
            }
        }
        let client_cert_header = raw
            .security
            .client_cert_header
            .clone()
            .filter(|h| !h.is_empty());
        if let Some(h) = &client_cert_header {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                e.push(format!(
                    "security.client_cert_header: {h:?} is not a header name"
                ));
            }
            if trusted_proxies.is_empty() {
                e.push(
                    "security.trusted_proxies: required when security.client_cert_header is set"
                        .into(),
                );
            }
        }
        let signing_key = raw
            .security
            .signing_key
            .as_deref()
            .map(|p| file(&mut e, "security.signing_key", Some(p)));
        let idle = raw.portal.session_idle_secs.unwrap_or(15 * 60);
        let absolute = raw.portal.session_absolute_secs.unwrap_or(8 * 3600);
        // 5 s is far too short for people; it exists so that browser tests can watch a session
        // time out.
        if idle < 5 || absolute < idle {
            e.push(format!("portal.session_idle_secs/session_absolute_secs: {idle}/{absolute} need idle >= 5 and absolute >= idle"));
        }
        let portal_tls = raw.tls.portal_tls.unwrap_or(false);
        let cookie_secure = raw.portal.cookie_secure.unwrap_or(true);
        if !cookie_secure && (portal_tls || !portal_addr.ip().is_loopback()) {
            e.push(
                "portal.cookie_secure: false is only for plain HTTP on a loopback address (local development)"
                    .into(),
            );
        }
        let password_check_slots = raw.portal.password_check_slots.unwrap_or(2);
        if password_check_slots == 0 {
            e.push("portal.password_check_slots: must be at least 1".into());
        }
        let log_format = match raw.log.format.as_deref().unwrap_or("pretty") {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                e.push(format!("log.format: {other:?} must be pretty or json"));
                LogFormat::Pretty
            }
        };
        let provisioning = provisioning(&mut e, &raw.provisioning);
        if !e.is_empty() {
            return Err(ConfigError(e));
        }
        Ok(Config {
            listen_addr,
            portal_addr,
            issuer,
            shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_secs.unwrap_or(20)),
            request_timeout: Duration::from_secs(raw.server.request_timeout_secs.unwrap_or(30)),
            listener,
            tls_cert,
            tls_key,
            client_ca,
            portal_tls,
            client_crls,
            crl_check: Duration::from_secs(crl_check_secs.max(1)),
            database_url,
            register_jwks_uri,
            register_base_uri,
            register_poll: Duration::from_secs(poll),
            ssa_issuer: raw
                .register
                .ssa_issuer
                .unwrap_or_else(|| "cdr-register".into()),
            outbound_ca,
            outbound_timeout: Duration::from_millis(timeout_ms),
            max_response_bytes: raw.outbound.max_response_bytes.unwrap_or(256 * 1024),
            jwks_ttl: Duration::from_secs(raw.outbound.jwks_ttl_secs.unwrap_or(600)),
            jwks_grace: Duration::from_secs(jwks_grace_secs),
            sector_identifier_ttl_secs,
            outbound_allowed,
            clock_skew_secs: skew,
            max_assertion_lifetime_secs,
            token_lifetime_secs: lifetime,
            max_body_bytes: raw.security.max_body_bytes.unwrap_or(64 * 1024),
            client_cert_header,
            trusted_proxies,
            signing_key,
            signing_kid: raw.security.signing_kid.clone(),
            site_root: PathBuf::from(raw.portal.site_root.unwrap_or_else(|| "target/site".into())),
            session_idle_secs: idle,
            session_absolute_secs: absolute,
            cookie_secure,
            password_check_slots,
            password_check_queue: raw.portal.password_check_queue.unwrap_or(16),
            log_format,
            log_filter: raw.log.filter.unwrap_or_else(|| "info,sqlx=warn".into()),
            metrics_addr,
            rate_limit_cert,
            rate_limit_addr,
            provisioning,
        })
    }
}
