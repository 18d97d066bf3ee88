//! Configuration: a TOML file, then environment overrides, validated into typed [`Config`].
//!
//! The environment names listed in [`ENV_OVERRIDES`] are fixed: deployments and outside test
//! harnesses drive them. Validation names every bad field at once; secrets are redacted when the
//! effective configuration is printed (`dcr-server check-config`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// The configuration file as written (every field optional; defaults fill the gaps).
/// One rate limit: a sustained rate and a burst. `per_minute == 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listeners and identity.
    #[serde(default)]
    pub server: RawServer,
    /// TLS material.
    #[serde(default)]
    pub tls: RawTls,
    /// Store.
    #[serde(default)]
    pub database: RawDatabase,
    /// CDR Register.
    #[serde(default)]
    pub register: RawRegister,
    /// Outbound HTTPS (JWKS, Register).
    #[serde(default)]
    pub outbound: RawOutbound,
    /// Protocol policy.
    #[serde(default)]
    pub security: RawSecurity,
    /// Admin portal.
    #[serde(default)]
    pub portal: RawPortal,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
}

/// `[server]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// API listener (TLS; asks for a client certificate). `DCR_LISTEN_ADDR`.
    pub listen_addr: Option<String>,
    /// Portal listener. `DCR_PORTAL_ADDR`.
    pub portal_addr: Option<String>,
    /// The Data Holder's issuer URL. `DCR_ISSUER`.
    pub issuer: Option<String>,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: Option<u64>,
    /// Per-request timeout in seconds.
    pub request_timeout_secs: Option<u64>,
    /// Prometheus scrape listener, plain HTTP, `GET /metrics` (off when unset).
    /// `DCR_METRICS_ADDR`.
    pub metrics_addr: Option<String>,
}

/// `[tls]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Server certificate chain (PEM). `DCR_TLS_CERT`.
    pub cert: Option<String>,
    /// Server private key (PEM). `DCR_TLS_KEY`.
    pub key: Option<String>,
    /// CAs client certificates must chain to (PEM). `DCR_CLIENT_CA`.
    pub client_ca: Option<String>,
    /// Serve the portal over TLS too (with the same certificate).
    pub portal_tls: Option<bool>,
}

/// `[database]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// `sqlite://path` or `postgres://...`. `DCR_DATABASE_URL`.
    pub url: Option<String>,
}

/// `[register]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegister {
    /// The Register's JWKS (verifies SSAs). `DCR_REGISTER_JWKS_URI`.
    pub jwks_uri: Option<String>,
    /// Base of the Register's APIs (status polling). `DCR_REGISTER_BASE_URI`.
    pub base_uri: Option<String>,
    /// Status poll interval. `DCR_REGISTER_POLL_SECS`.
    pub poll_secs: Option<u64>,
    /// Expected SSA issuer.
    pub ssa_issuer: Option<String>,
}

/// `[outbound]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {
    /// Extra PEM roots trusted for outbound HTTPS. `DCR_OUTBOUND_CA`.
    pub ca: Option<String>,
    /// Timeout for one outbound request, milliseconds.
    pub timeout_ms: Option<u64>,
    /// Largest JWKS or document accepted, bytes.
    pub max_response_bytes: Option<usize>,
    /// JWKS cache time to live, seconds.
    pub jwks_ttl_secs: Option<u64>,
}

/// `[security]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    /// Allowed skew for others' clocks (recipients', the Register's). `DCR_CLOCK_SKEW_SECS`.
    pub clock_skew_secs: Option<i64>,
    /// Access token lifetime, 120 to 600 seconds. `DCR_TOKEN_LIFETIME_SECS`.
    pub token_lifetime_secs: Option<i64>,
    /// Largest request body, bytes.
    pub max_body_bytes: Option<usize>,
    /// Header carrying the client certificate from a TLS-terminating gateway (off by default).
    pub client_cert_header: Option<String>,
    /// Addresses trusted to set that header.
    pub trusted_proxies: Option<Vec<String>>,
    /// The Data Holder's signing key (PKCS#8 PEM, RSA or P-256). `DCR_SIGNING_KEY`. When unset,
    /// a key is generated on first start and kept in the store.
    pub signing_key: Option<String>,
    /// Key id for `signing_key` (default: derived from the key).
    pub signing_kid: Option<String>,
    /// Requests per minute per client certificate on `POST /register` and the token endpoint
    /// (default 600; 0 turns every rate limit off). `DCR_RATE_LIMIT_PER_MINUTE`.
    pub rate_limit_per_minute: Option<u32>,
    /// Burst per client certificate (default 100). `DCR_RATE_LIMIT_BURST`.
    pub rate_limit_burst: Option<u32>,
    /// Requests per minute per peer address (default 10 times the per-certificate rate; 0 off).
    /// `DCR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE`.
    pub rate_limit_per_address_per_minute: Option<u32>,
    /// Burst per peer address (default 10 times the per-certificate burst).
    pub rate_limit_address_burst: Option<u32>,
}

/// `[portal]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortal {
    /// Built site (HTML assets, `pkg/`). `DCR_PORTAL_SITE_ROOT`.
    pub site_root: Option<String>,
    /// Sign out after this long without activity.
    pub session_idle_secs: Option<i64>,
    /// Sign out this long after sign-in, whatever the activity.
    pub session_absolute_secs: Option<i64>,
}

/// `[log]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `pretty` (default) or `json`. `DCR_LOG_FORMAT`.
    pub format: Option<String>,
    /// Filter directives (like `RUST_LOG`, which wins when set).
    pub filter: Option<String>,
}

/// Environment variables that override the file, and the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("DCR_DATABASE_URL", "database.url"),
    ("DCR_ISSUER", "server.issuer"),
    ("DCR_LISTEN_ADDR", "server.listen_addr"),
    ("DCR_PORTAL_ADDR", "server.portal_addr"),
    ("DCR_TLS_CERT", "tls.cert"),
    ("DCR_TLS_KEY", "tls.key"),
    ("DCR_CLIENT_CA", "tls.client_ca"),
    ("DCR_PORTAL_TLS", "tls.portal_tls"),
    ("DCR_REGISTER_JWKS_URI", "register.jwks_uri"),
    ("DCR_REGISTER_BASE_URI", "register.base_uri"),
    ("DCR_REGISTER_POLL_SECS", "register.poll_secs"),
    ("DCR_OUTBOUND_CA", "outbound.ca"),
    ("DCR_CLOCK_SKEW_SECS", "security.clock_skew_secs"),
    ("DCR_TOKEN_LIFETIME_SECS", "security.token_lifetime_secs"),
    ("DCR_CLIENT_CERT_HEADER", "security.client_cert_header"),
    ("DCR_TRUSTED_PROXIES", "security.trusted_proxies"),
    ("DCR_SIGNING_KEY", "security.signing_key"),
    ("DCR_PORTAL_SITE_ROOT", "portal.site_root"),
    ("DCR_SESSION_IDLE_SECS", "portal.session_idle_secs"),
    ("DCR_SESSION_ABSOLUTE_SECS", "portal.session_absolute_secs"),
    ("DCR_LOG_FORMAT", "log.format"),
    ("DCR_METRICS_ADDR", "server.metrics_addr"),
    (
        "DCR_RATE_LIMIT_PER_MINUTE",
        "security.rate_limit_per_minute",
    ),
    ("DCR_RATE_LIMIT_BURST", "security.rate_limit_burst"),
    (
        "DCR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
        "security.rate_limit_per_address_per_minute",
    ),
];

/// Where the database lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Embedded SQLite file.
    Sqlite(String),
    /// PostgreSQL.
    Postgres(String),
}

impl DatabaseUrl {
    /// The URL to connect with.
    #[must_use]
    pub fn expose(&self) -> &str {
        match self {
            Self::Sqlite(u) | Self::Postgres(u) => u,
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&dcr_store::redact_url(self.expose()))
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Validated, typed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// API listener.
    pub listen_addr: SocketAddr,
    /// Portal listener.
    pub portal_addr: SocketAddr,
    /// Issuer (no trailing slash).
    pub issuer: Url,
    /// Shutdown grace.
    pub shutdown_grace: Duration,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Server certificate chain.
    pub tls_cert: PathBuf,
    /// Server key.
    pub tls_key: PathBuf,
    /// Client CA bundle.
    pub client_ca: PathBuf,
    /// Serve the portal over TLS.
    pub portal_tls: bool,
    /// Store.
    pub database_url: DatabaseUrl,
    /// Register JWKS.
    pub register_jwks_uri: Url,
    /// Register API base.
    pub register_base_uri: Url,
    /// Status poll interval.
    pub register_poll: Duration,
    /// Expected SSA `iss`.
    pub ssa_issuer: String,
    /// Extra outbound roots.
    pub outbound_ca: Option<PathBuf>,
    /// Outbound timeout.
    pub outbound_timeout: Duration,
    /// Outbound response cap.
    pub max_response_bytes: usize,
    /// JWKS cache TTL.
    pub jwks_ttl: Duration,
    /// Skew for others' clocks, seconds.
    pub clock_skew_secs: i64,
    /// Access token lifetime, seconds.
    pub token_lifetime_secs: i64,
    /// Body cap.
    pub max_body_bytes: usize,
    /// Gateway client certificate header (off when `None`).
    pub client_cert_header: Option<String>,
    /// Proxies trusted to set it.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A configured signing key file (else generated and stored).
    pub signing_key: Option<PathBuf>,
    /// Its key id.
    pub signing_kid: Option<String>,
    /// Built portal site.
    pub site_root: PathBuf,
    /// Idle session timeout, seconds.
    pub session_idle_secs: i64,
    /// Absolute session timeout, seconds.
    pub session_absolute_secs: i64,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
    /// Prometheus scrape listener (off when `None`).
    pub metrics_addr: Option<SocketAddr>,
    /// Rate limit per client certificate.
    pub rate_limit_cert: Limit,
    /// Rate limit per peer address.
    pub rate_limit_addr: Limit,
}

/// Every invalid field, named.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<String>);

impl RawConfig {
    /// Reads the TOML file at `path` (if given), then applies the environment overrides.
    ///
    /// # Errors
    /// Unreadable file, bad TOML, unknown fields, or a malformed environment value.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut raw = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(vec![format!("config file {}: {e}", p.display())]))?;
                toml::from_str::<RawConfig>(&text)
                    .map_err(|e| ConfigError(vec![format!("config file {}: {e}", p.display())]))?
            }
            None => RawConfig::default(),
        };
        let mut errors = Vec::new();
        for (name, field) in ENV_OVERRIDES {
            if let Some(v) = env(name).filter(|v| !v.is_empty()) {
                if let Err(e) = raw.set(field, v) {
                    errors.push(format!("{name} ({field}): {e}"));
                }
            }
        }
        if errors.is_empty() {
            Ok(raw)
        } else {
            Err(ConfigError(errors))
        }
    }

    fn set(&mut self, field: &str, v: String) -> Result<(), String> {
        let num = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("expected a whole number, got {v:?}"))
        };
        let small = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected a whole number, got {v:?}"))
        };
        let int = |v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("expected a whole number, got {v:?}"))
        };
        match field {
            "database.url" => self.database.url = Some(v),
            "server.issuer" => self.server.issuer = Some(v),
            "server.listen_addr" => self.server.listen_addr = Some(v),
            "server.portal_addr" => self.server.portal_addr = Some(v),
            "server.metrics_addr" => self.server.metrics_addr = Some(v),
            "security.rate_limit_per_minute" => {
                self.security.rate_limit_per_minute = Some(small(&v)?);
            }
            "security.rate_limit_burst" => self.security.rate_limit_burst = Some(small(&v)?),
            "security.rate_limit_per_address_per_minute" => {
                self.security.rate_limit_per_address_per_minute = Some(small(&v)?);
            }
            "tls.cert" => self.tls.cert = Some(v),
            "tls.key" => self.tls.key = Some(v),
            "tls.client_ca" => self.tls.client_ca = Some(v),
            "tls.portal_tls" => {
                self.tls.portal_tls = Some(match v.trim() {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" => false,
                    _ => return Err(format!("expected true or false, got {v:?}")),
                });
            }
            "register.jwks_uri" => self.register.jwks_uri = Some(v),
            "register.base_uri" => self.register.base_uri = Some(v),
            "register.poll_secs" => self.register.poll_secs = Some(num(&v)?),
            "outbound.ca" => self.outbound.ca = Some(v),
            "security.clock_skew_secs" => self.security.clock_skew_secs = Some(int(&v)?),
            "security.token_lifetime_secs" => self.security.token_lifetime_secs = Some(int(&v)?),
            "security.client_cert_header" => self.security.client_cert_header = Some(v),
            "security.trusted_proxies" => {
                self.security.trusted_proxies = Some(
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                );
            }
            "security.signing_key" => self.security.signing_key = Some(v),
            "portal.site_root" => self.portal.site_root = Some(v),
            "portal.session_idle_secs" => self.portal.session_idle_secs = Some(int(&v)?),
            "portal.session_absolute_secs" => self.portal.session_absolute_secs = Some(int(&v)?),
            "log.format" => self.log.format = Some(v),
            other => return Err(format!("unknown field {other}")),
        }
        Ok(())
    }
}

fn addr(errors: &mut Vec<String>, field: &str, v: Option<&str>, default: &str) -> SocketAddr {
    let v = v.unwrap_or(default);
    v.parse().unwrap_or_else(|_| {
        errors.push(format!(
            "{field}: {v:?} is not an address like 127.0.0.1:7443"
        ));
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// The per-certificate and per-address limits; a per-certificate rate of 0 turns both off.
fn rate_limits(s: &RawSecurity) -> (Limit, Limit) {
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

fn https_url(errors: &mut Vec<String>, field: &str, v: Option<&str>, default: Option<&str>) -> Url {
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

fn file(errors: &mut Vec<String>, field: &str, v: Option<&str>) -> PathBuf {
    match v {
        None => {
            errors.push(format!(
                "{field}: required (run `dcr-server dev-certs <dir>` for development certificates)"
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
        let skew = raw.security.clock_skew_secs.unwrap_or(30);
        if !(0..=300).contains(&skew) {
            e.push(format!(
                "security.clock_skew_secs: {skew} must be between 0 and 300"
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
        let log_format = match raw.log.format.as_deref().unwrap_or("pretty") {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                e.push(format!("log.format: {other:?} must be pretty or json"));
                LogFormat::Pretty
            }
        };
        if !e.is_empty() {
            return Err(ConfigError(e));
        }
        Ok(Config {
            listen_addr,
            portal_addr,
            issuer,
            shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_secs.unwrap_or(20)),
            request_timeout: Duration::from_secs(raw.server.request_timeout_secs.unwrap_or(30)),
            tls_cert,
            tls_key,
            client_ca,
            portal_tls: raw.tls.portal_tls.unwrap_or(false),
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
            clock_skew_secs: skew,
            token_lifetime_secs: lifetime,
            max_body_bytes: raw.security.max_body_bytes.unwrap_or(64 * 1024),
            client_cert_header,
            trusted_proxies,
            signing_key,
            signing_kid: raw.security.signing_kid.clone(),
            site_root: PathBuf::from(raw.portal.site_root.unwrap_or_else(|| "target/site".into())),
            session_idle_secs: idle,
            session_absolute_secs: absolute,
            log_format,
            log_filter: raw.log.filter.unwrap_or_else(|| "info,sqlx=warn".into()),
            metrics_addr,
            rate_limit_cert,
            rate_limit_addr,
        })
    }
}

impl Config {
    /// Loads from an optional file and the process environment, then validates.
    ///
    /// # Errors
    /// Every problem found, named.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let raw = RawConfig::load(path, &|k| std::env::var(k).ok())?;
        Config::try_from(raw)
    }

    /// The issuer as a string without a trailing slash (the `aud` value recipients use).
    #[must_use]
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_string()
    }

    /// The effective configuration, secrets redacted, as TOML-like text.
    #[must_use]
    pub fn redacted(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "[server]");
        let _ = writeln!(s, "listen_addr = {:?}", self.listen_addr.to_string());
        let _ = writeln!(s, "portal_addr = {:?}", self.portal_addr.to_string());
        if let Some(m) = self.metrics_addr {
            let _ = writeln!(s, "metrics_addr = {:?}", m.to_string());
        }
        let _ = writeln!(s, "issuer = {:?}", self.issuer_str());
        let _ = writeln!(s, "shutdown_grace_secs = {}", self.shutdown_grace.as_secs());
        let _ = writeln!(
            s,
            "request_timeout_secs = {}",
            self.request_timeout.as_secs()
        );
        let _ = writeln!(s, "\n[tls]");
        let _ = writeln!(s, "cert = {:?}", self.tls_cert.display().to_string());
        let _ = writeln!(
            s,
            "key = {:?}  # contents never printed",
            self.tls_key.display().to_string()
        );
        let _ = writeln!(s, "client_ca = {:?}", self.client_ca.display().to_string());
        let _ = writeln!(s, "portal_tls = {}", self.portal_tls);
        let _ = writeln!(s, "\n[database]");
        let _ = writeln!(
            s,
            "url = {:?}",
            dcr_store::redact_url(self.database_url.expose())
        );
        let _ = writeln!(s, "\n[register]");
        let _ = writeln!(s, "jwks_uri = {:?}", self.register_jwks_uri.as_str());
        let _ = writeln!(s, "base_uri = {:?}", self.register_base_uri.as_str());
        let _ = writeln!(s, "poll_secs = {}", self.register_poll.as_secs());
        let _ = writeln!(s, "ssa_issuer = {:?}", self.ssa_issuer);
        let _ = writeln!(s, "\n[outbound]");
        if let Some(ca) = &self.outbound_ca {
            let _ = writeln!(s, "ca = {:?}", ca.display().to_string());
        }
        let _ = writeln!(s, "timeout_ms = {}", self.outbound_timeout.as_millis());
        let _ = writeln!(s, "max_response_bytes = {}", self.max_response_bytes);
        let _ = writeln!(s, "jwks_ttl_secs = {}", self.jwks_ttl.as_secs());
        let _ = writeln!(s, "\n[security]");
        let _ = writeln!(s, "clock_skew_secs = {}", self.clock_skew_secs);
        let _ = writeln!(s, "token_lifetime_secs = {}", self.token_lifetime_secs);
        let _ = writeln!(s, "max_body_bytes = {}", self.max_body_bytes);
        let _ = writeln!(
            s,
            "rate_limit_per_minute = {}",
            self.rate_limit_cert.per_minute
        );
        let _ = writeln!(s, "rate_limit_burst = {}", self.rate_limit_cert.burst);
        let _ = writeln!(
            s,
            "rate_limit_per_address_per_minute = {}",
            self.rate_limit_addr.per_minute
        );
        let _ = writeln!(
            s,
            "rate_limit_address_burst = {}",
            self.rate_limit_addr.burst
        );
        if let Some(h) = &self.client_cert_header {
            let _ = writeln!(s, "client_cert_header = {h:?}");
            let proxies: Vec<String> = self
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            let _ = writeln!(s, "trusted_proxies = {proxies:?}");
        }
        if let Some(k) = &self.signing_key {
            let _ = writeln!(
                s,
                "signing_key = {:?}  # contents never printed",
                k.display().to_string()
            );
        }
        let _ = writeln!(s, "\n[portal]");
        let _ = writeln!(s, "site_root = {:?}", self.site_root.display().to_string());
        let _ = writeln!(s, "session_idle_secs = {}", self.session_idle_secs);
        let _ = writeln!(s, "session_absolute_secs = {}", self.session_absolute_secs);
        let _ = writeln!(s, "\n[log]");
        let _ = writeln!(
            s,
            "format = {:?}",
            format!("{:?}", self.log_format).to_lowercase()
        );
        let _ = writeln!(s, "filter = {:?}", self.log_filter);
        s
    }
}

#[cfg(test)]
mod tests;
