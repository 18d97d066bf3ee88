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

mod file;
mod validate;

pub use file::*;

/// One rate limit: a sustained rate and a burst. `per_minute == 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

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

/// What each listener allows a connection (docs/deploy.md, "Connection limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Time to send a request's headers, from when the connection is ready for the request (so
    /// also the longest idle keep-alive).
    pub header_read_timeout: Duration,
    /// Time to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once from one address (an IPv6 /64); trusted proxies are exempt.
    pub max_connections_per_address: usize,
    /// HTTP/2 streams open at once on one connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 ping interval, and the time an answer may take.
    pub http2_keep_alive: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_address: 256,
            http2_max_concurrent_streams: 100,
            http2_keep_alive: Duration::from_secs(30),
        }
    }
}

/// When a registration's client is created at the downstream authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningMode {
    /// Before `POST /register` answers: 201 only once the client exists downstream.
    Sync,
    /// After: an outbox row written with the registration, delivered with retries.
    Async,
}

/// Which client_id the downstream authorization server knows a registration by
/// (docs/decisions.md, "One client_id at the Data Holder and at its authorization server").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIdPolicy {
    /// The downstream keeps the client_id this server issues (RFC 7591 §3.1 lets a server
    /// accept a client's `client_id`); another one in its answer is an error.
    Ours,
    /// The downstream assigns its own, which becomes the registration's client_id (sync mode
    /// only: the recipient is answered with it).
    Downstream,
}

/// The downstream's initial access token. Never printed (`Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct InitialAccessToken(String);

impl InitialAccessToken {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token, for the `Authorization` header only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for InitialAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitialAccessToken(REDACTED)")
    }
}

/// `[provisioning]`, when enabled.
#[derive(Debug, Clone)]
pub struct ProvisioningConfig {
    /// Sync or async creation.
    pub mode: ProvisioningMode,
    /// The downstream's RFC 7591 registration endpoint.
    pub registration_endpoint: Url,
    /// Its initial access token.
    pub initial_access_token: InitialAccessToken,
    /// Where the token came from (a file path, or the environment), for `check-config`.
    pub initial_access_token_source: String,
    /// CAs the downstream's certificate must chain to (else the public roots).
    pub ca: Option<PathBuf>,
    /// Timeout of one request to the downstream.
    pub timeout: Duration,
    /// Whose client_id the downstream uses.
    pub client_ids: ClientIdPolicy,
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
    /// Connection limits of every listener.
    pub listener: ListenerLimits,
    /// Server certificate chain.
    pub tls_cert: PathBuf,
    /// Server key.
    pub tls_key: PathBuf,
    /// Client CA bundle.
    pub client_ca: PathBuf,
    /// Revocation lists of the client CAs.
    pub client_crls: Vec<PathBuf>,
    /// How often the revocation lists are checked for changes.
    pub crl_check: Duration,
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
    /// How long a JWK set is still used past its TTL when its refresh fails.
    pub jwks_grace: Duration,
    /// How long a sector identifier document is kept, seconds (0: not kept).
    pub sector_identifier_ttl_secs: u64,
    /// Non-public networks a recipient's URLs may lead to (development and tests).
    pub outbound_allowed: Vec<ipnet::IpNet>,
    /// Skew for others' clocks, seconds.
    pub clock_skew_secs: i64,
    /// Most seconds between now and a client assertion's (or the Register's admin token's) `exp`.
    pub max_assertion_lifetime_secs: i64,
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
    /// Portal cookies `Secure` with the `__Host-` prefix.
    pub cookie_secure: bool,
    /// Password checks at once.
    pub password_check_slots: usize,
    /// Password checks waiting at most.
    pub password_check_queue: usize,
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
    /// Provisioning into the downstream authorization server (off when `None`).
    pub provisioning: Option<ProvisioningConfig>,
}

/// Every invalid field, named.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<String>);

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
        let l = &self.listener;
        let _ = writeln!(
            s,
            "header_read_timeout_secs = {}",
            l.header_read_timeout.as_secs()
        );
        let _ = writeln!(
            s,
            "tls_handshake_timeout_secs = {}",
            l.tls_handshake_timeout.as_secs()
        );
        let _ = writeln!(s, "max_connections = {}", l.max_connections);
        let _ = writeln!(
            s,
            "max_connections_per_address = {}",
            l.max_connections_per_address
        );
        let _ = writeln!(
            s,
            "http2_max_concurrent_streams = {}",
            l.http2_max_concurrent_streams
        );
        let _ = writeln!(
            s,
            "http2_keep_alive_secs = {}",
            l.http2_keep_alive.as_secs()
        );
        let _ = writeln!(s, "\n[tls]");
        let _ = writeln!(s, "cert = {:?}", self.tls_cert.display().to_string());
        let _ = writeln!(
            s,
            "key = {:?}  # contents never printed",
            self.tls_key.display().to_string()
        );
        let _ = writeln!(s, "client_ca = {:?}", self.client_ca.display().to_string());
        let crls: Vec<String> = self
            .client_crls
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let _ = writeln!(s, "client_crls = {crls:?}");
        let _ = writeln!(s, "crl_check_secs = {}", self.crl_check.as_secs());
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
        let _ = writeln!(s, "jwks_grace_secs = {}", self.jwks_grace.as_secs());
        let _ = writeln!(
            s,
            "sector_identifier_ttl_secs = {}",
            self.sector_identifier_ttl_secs
        );
        let allowed: Vec<String> = self
            .outbound_allowed
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(s, "allowed_addresses = {allowed:?}");
        let _ = writeln!(s, "\n[security]");
        let _ = writeln!(s, "clock_skew_secs = {}", self.clock_skew_secs);
        let _ = writeln!(
            s,
            "max_assertion_lifetime_secs = {}",
            self.max_assertion_lifetime_secs
        );
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
        let _ = writeln!(s, "cookie_secure = {}", self.cookie_secure);
        let _ = writeln!(s, "password_check_slots = {}", self.password_check_slots);
        let _ = writeln!(s, "password_check_queue = {}", self.password_check_queue);
        let _ = writeln!(s, "\n[log]");
        let _ = writeln!(
            s,
            "format = {:?}",
            format!("{:?}", self.log_format).to_lowercase()
        );
        let _ = writeln!(s, "filter = {:?}", self.log_filter);
        let _ = writeln!(s, "\n[provisioning]");
        let _ = writeln!(s, "enabled = {}", self.provisioning.is_some());
        if let Some(p) = &self.provisioning {
            let mode = match p.mode {
                ProvisioningMode::Sync => "sync",
                ProvisioningMode::Async => "async",
            };
            let _ = writeln!(s, "mode = {mode:?}");
            let _ = writeln!(
                s,
                "registration_endpoint = {:?}",
                p.registration_endpoint.as_str()
            );
            let _ = writeln!(
                s,
                "# initial access token: {}, never printed",
                p.initial_access_token_source
            );
            if let Some(ca) = &p.ca {
                let _ = writeln!(s, "ca = {:?}", ca.display().to_string());
            }
            let _ = writeln!(s, "timeout_ms = {}", p.timeout.as_millis());
            let client_id = match p.client_ids {
                ClientIdPolicy::Ours => "ours",
                ClientIdPolicy::Downstream => "downstream",
            };
            let _ = writeln!(s, "client_id = {client_id:?}");
        }
        s
    }
}

#[cfg(test)]
mod tests;
