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

/// `[webhooks] endpoints`: each `name=https://url`, names unique.
pub(crate) fn webhooks(e: &mut Vec<String>, w: &RawWebhooks) -> Vec<Webhook> {
    let mut out: Vec<Webhook> = Vec::new();
    for entry in w.endpoints.iter().flatten() {
        let Some((name, url)) = entry.split_once('=') else {
            e.push(format!(
                "webhooks.endpoints: {entry:?} must be name=https://url"
            ));
            continue;
        };
        let name = name.trim();
        let good_name = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !good_name {
            e.push(format!(
                "webhooks.endpoints: the name {name:?} must be 1 to 40 letters, digits, - or _"
            ));
            continue;
        }
        if out.iter().any(|o| o.name == name) {
            e.push(format!(
                "webhooks.endpoints: the name {name:?} is given twice"
            ));
            continue;
        }
        match Url::parse(url.trim()) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() && u.password().is_none() => {
                out.push(Webhook {
                    name: name.to_string(),
                    url: u,
                });
            }
            _ => e.push(format!(
                "webhooks.endpoints: {name}: the URL must be https, with a host and no password"
            )),
        }
    }
    out
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
    let auth = registration_auth(e, p);
    let ca =
        p.ca.as_deref()
            .map(|path| file(e, "provisioning.ca", Some(path)));
    let timeout_ms = p.timeout_ms.unwrap_or(5_000);
    if !(100..=60_000).contains(&timeout_ms) {
        e.push(format!(
            "provisioning.timeout_ms: {timeout_ms} must be between 100 and 60000"
        ));
    }
    let interval = p.reconcile_interval_secs.unwrap_or(3_600);
    if interval != 0 && !(60..=7 * 86_400).contains(&interval) {
        e.push(format!(
            "provisioning.reconcile_interval_secs: {interval} must be 0 (off) or between 60 and \
             604800"
        ));
    }
    Some(ProvisioningConfig {
        reconcile_interval: (interval != 0).then(|| Duration::from_secs(interval)),
        reconcile_repair: p.reconcile_repair.unwrap_or(false),
        mode,
        registration_endpoint,
        auth,
        ca,
        timeout: Duration::from_millis(timeout_ms),
        client_ids,
    })
}

/// The bearer token of the registration endpoint: an initial access token, or client
/// credentials for the token endpoint; exactly one of them.
fn registration_auth(e: &mut Vec<String>, p: &RawProvisioning) -> RegistrationAuth {
    const IAT: &str = "provisioning.initial_access_token_file (or \
                       DCR_PROVISIONING_INITIAL_ACCESS_TOKEN)";
    const CLIENT: &str = "provisioning.token_endpoint, token_client_id and \
                          token_client_secret_file (or DCR_PROVISIONING_TOKEN_CLIENT_SECRET)";
    let iat_env = given(p.initial_access_token.as_deref());
    let secret_env = given(p.token_client_secret.as_deref());
    let has_iat = iat_env.is_some() || p.initial_access_token_file.is_some();
    let has_client = p.token_endpoint.is_some()
        || p.token_client_id.is_some()
        || p.token_client_secret_file.is_some()
        || secret_env.is_some()
        || p.token_scope.is_some();
    let unusable = || RegistrationAuth::InitialAccessToken {
        token: InitialAccessToken::new(String::new()),
        source: String::new(),
    };
    match (has_iat, has_client) {
        (true, true) => {
            e.push(format!(
                "provisioning: give either an initial access token ({IAT}) or client credentials \
                 ({CLIENT}), not both"
            ));
            unusable()
        }
        (false, false) => {
            e.push(format!(
                "provisioning.initial_access_token_file: required (or \
                 DCR_PROVISIONING_INITIAL_ACCESS_TOKEN) when provisioning is enabled, unless \
                 client credentials are given instead ({CLIENT})"
            ));
            unusable()
        }
        (true, false) => {
            let Some((token, source)) = secret(
                e,
                "initial access token",
                (
                    "provisioning.initial_access_token_file",
                    p.initial_access_token_file.as_deref(),
                ),
                ("DCR_PROVISIONING_INITIAL_ACCESS_TOKEN", iat_env),
            ) else {
                return unusable();
            };
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                e.push(
                    "provisioning: the initial access token has spaces or control characters"
                        .into(),
                );
            }
            RegistrationAuth::InitialAccessToken {
                token: InitialAccessToken::new(token),
                source,
            }
        }
        (false, true) => {
            let token_endpoint = https_url(
                e,
                "provisioning.token_endpoint",
                p.token_endpoint.as_deref(),
                None,
            );
            let client_id = p
                .token_client_id
                .as_deref()
                .map(str::trim)
                .unwrap_or_default();
            if client_id.is_empty() {
                e.push(
                    "provisioning.token_client_id: required with provisioning.token_endpoint"
                        .into(),
                );
            } else if client_id.chars().any(char::is_control) {
                e.push("provisioning.token_client_id: has control characters".into());
            }
            let scope = p
                .token_scope
                .as_deref()
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|s| !s.is_empty());
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
            if scope.as_deref().is_some_and(|s| {
                s.chars()
                    .any(|c| c != ' ' && (!c.is_ascii_graphic() || c == '"' || c == '\\'))
            }) {
                e.push(
                    "provisioning.token_scope: scope values are printable ASCII without \" or \\"
                        .into(),
                );
            }
            let (client_secret, client_secret_source) = secret(
                e,
                "client secret",
                (
                    "provisioning.token_client_secret_file",
                    p.token_client_secret_file.as_deref(),
                ),
                ("DCR_PROVISIONING_TOKEN_CLIENT_SECRET", secret_env),
            )
            .unwrap_or_default();
            RegistrationAuth::ClientCredentials(TokenClient {
                token_endpoint,
                client_id: client_id.to_string(),
                client_secret: ClientSecret::new(client_secret),
                client_secret_source,
                scope,
            })
        }
    }
}

/// A value of the environment that is there and not blank.
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|t| !t.is_empty())
}

/// A secret from a file named in the configuration or from the environment (one of them,
/// `file` being `(field, path)` and `env` `(variable, value)`), and where it came from. The
/// secret itself never appears in a message.
fn secret(
    e: &mut Vec<String>,
    what: &str,
    (field, path): (&str, Option<&str>),
    (variable, from_env): (&str, Option<&str>),
) -> Option<(String, String)> {
    match (from_env, path) {
        (Some(_), Some(_)) => {
            e.push(format!(
                "{field}: give the {what} either in a file or in {variable}, not both"
            ));
            None
        }
        (Some(v), None) => Some((v.to_string(), format!("from {variable}"))),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => {
                Some((text.trim().to_string(), format!("from the file {path:?}")))
            }
            Ok(_) => {
                e.push(format!("{field}: {path:?} is empty"));
                None
            }
            Err(err) => {
                e.push(format!("{field}: {path:?} cannot be read ({})", err.kind()));
                None
            }
        },
        (None, None) => {
            e.push(format!("{field}: required (or {variable})"));
            None
        }
    }
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
        // Local development is what `cookie_secure = false` already marks (plain HTTP on a
        // loopback address): there a second factor is not required unless asked for.
        let require_second_factor = raw.portal.require_second_factor.unwrap_or(cookie_secure);
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
        let webhooks = webhooks(&mut e, &raw.webhooks);
        let webhook_max_attempts = match raw.webhooks.max_attempts.unwrap_or(12) {
            0 => {
                e.push("webhooks.max_attempts: must be at least 1".into());
                1
            }
            n => i64::from(n),
        };
        let public_origin =
            public_origin(&mut e, raw.portal.public_origin.as_deref(), cookie_secure);
        let sso = sso(&mut e, &raw.portal.sso, public_origin.as_ref());
        let local_passwords = raw.portal.sso.local_passwords.unwrap_or(true);
        let zone_name =
            given(raw.portal.time_zone.as_deref()).unwrap_or(app::dto::DEFAULT_TIME_ZONE);
        let time_zone = app::dto::DisplayZone::named(zone_name).unwrap_or_else(|| {
            e.push(format!(
                "portal.time_zone: {zone_name:?} is not an IANA time zone (like Australia/Sydney or UTC)"
            ));
            app::dto::DisplayZone::default()
        });
        if !local_passwords && sso.is_none() {
            e.push(
                "portal.sso.local_passwords: false needs single sign-on (portal.sso.issuer)".into(),
            );
        }
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
            require_second_factor,
            password_check_slots,
            password_check_queue: raw.portal.password_check_queue.unwrap_or(16),
            log_format,
            log_filter: raw.log.filter.unwrap_or_else(|| "info,sqlx=warn".into()),
            metrics_addr,
            rate_limit_cert,
            rate_limit_addr,
            provisioning,
            webhooks,
            webhook_max_attempts,
            public_origin,
            sso,
            local_passwords,
            time_zone,
        })
    }
}

/// `portal.public_origin`: an origin (scheme, host, port; no path), https unless the portal's
/// cookies are not `Secure` (local development).
fn public_origin(e: &mut Vec<String>, v: Option<&str>, secure: bool) -> Option<Url> {
    const FIELD: &str = "portal.public_origin";
    let v = given(v)?;
    let Ok(url) = Url::parse(v) else {
        e.push(format!("{FIELD}: {v:?} is not a URL"));
        return None;
    };
    let origin_only = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.host().is_some();
    let scheme_ok = url.scheme() == "https" || (!secure && url.scheme() == "http");
    if !origin_only || !scheme_ok {
        e.push(format!(
            "{FIELD}: {v:?} must be an origin like https://dcr-admin.bank.example (http only \
             for local development, where portal.cookie_secure is false)"
        ));
        return None;
    }
    Some(url)
}

/// `[portal.sso]`: `None` without an issuer.
pub(crate) fn sso(
    e: &mut Vec<String>,
    p: &RawSso,
    public_origin: Option<&Url>,
) -> Option<SsoConfig> {
    let issuer = given(p.issuer.as_deref())?;
    let issuer_url = https_url(e, "portal.sso.issuer", Some(issuer), None);
    if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
        e.push("portal.sso.issuer: must not have a query or fragment".into());
    }
    let client_id = given(p.client_id.as_deref()).unwrap_or_default();
    if client_id.is_empty() {
        e.push("portal.sso.client_id: required with portal.sso.issuer".into());
    } else if client_id.chars().any(char::is_control) {
        e.push("portal.sso.client_id: has control characters".into());
    }
    let (client_secret, client_secret_source) = secret(
        e,
        "client secret",
        (
            "portal.sso.client_secret_file",
            p.client_secret_file.as_deref(),
        ),
        ("DCR_SSO_CLIENT_SECRET", given(p.client_secret.as_deref())),
    )
    .unwrap_or_default();
    let scopes: Vec<String> = p
        .scopes
        .clone()
        .unwrap_or_else(|| vec!["profile".into(), "email".into()])
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "openid")
        .collect();
    if scopes.iter().any(|s| {
        s.chars()
            .any(|c| !c.is_ascii_graphic() || c == '"' || c == '\\')
    }) {
        e.push(
            "portal.sso.scopes: scope values are printable ASCII without spaces, \" or \\".into(),
        );
    }
    let claim_name = |field: &str, v: Option<&str>, e: &mut Vec<String>| {
        let v = given(v)?;
        if v.chars().any(char::is_control) || v.len() > 128 {
            e.push(format!("{field}: {v:?} is not a claim name"));
        }
        Some(v.to_string())
    };
    let role_claim = claim_name("portal.sso.role_claim", p.role_claim.as_deref(), e)
        .unwrap_or_else(|| "groups".into());
    let username_claim = claim_name("portal.sso.username_claim", p.username_claim.as_deref(), e);
    let roles: Vec<(Role, Vec<String>)> = [
        (Role::Administrator, &p.roles.administrator),
        (Role::Operator, &p.roles.operator),
        (Role::Viewer, &p.roles.viewer),
    ]
    .into_iter()
    .map(|(role, values)| {
        let values = values
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>();
        (role, values)
    })
    .filter(|(_, values)| !values.is_empty())
    .collect();
    if roles.is_empty() {
        e.push(
            "portal.sso.roles: map at least one value of the role claim to a role \
             (administrator, operator or viewer)"
                .into(),
        );
    }
    let ca =
        p.ca.as_deref()
            .map(|path| file(e, "portal.sso.ca", Some(path)));
    let timeout_ms = p.timeout_ms.unwrap_or(5_000);
    if !(100..=60_000).contains(&timeout_ms) {
        e.push(format!(
            "portal.sso.timeout_ms: {timeout_ms} must be between 100 and 60000"
        ));
    }
    let redirect_uri = match public_origin.map(|o| o.join("/auth/sso/callback")) {
        Some(Ok(u)) => u,
        _ => {
            e.push(
                "portal.public_origin: required with single sign-on (the provider sends browsers \
                 back to <public_origin>/auth/sso/callback)"
                    .into(),
            );
            Url::parse("https://invalid.invalid/auth/sso/callback").ok()?
        }
    };
    let label = given(p.label.as_deref())
        .unwrap_or("Sign in with single sign-on")
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    Some(SsoConfig {
        issuer: issuer.to_string(),
        client_id: client_id.to_string(),
        client_secret: ClientSecret::new(client_secret),
        client_secret_source,
        scopes,
        role_claim,
        username_claim,
        roles,
        label,
        ca,
        timeout: Duration::from_millis(timeout_ms),
        redirect_uri,
    })
}
