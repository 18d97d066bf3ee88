//! Configuration: a TOML file, then environment overrides, validated into typed [`Config`].
//!
//! The environment names listed in [`ENV_OVERRIDES`] are fixed: deployments and outside test
//! harnesses drive them. Validation names every bad field at once; secrets are redacted when the
//! effective configuration is printed (`dcr-server check-config`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use app::dto::Role;
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

/// The client secret of the client credentials grant. Never printed (`Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret, for the `Authorization` header of the token request only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(REDACTED)")
    }
}

/// This server as a client of the downstream's token endpoint, for the bearer token of its
/// registration endpoint (the client credentials grant, RFC 6749 §4.4).
#[derive(Debug, Clone)]
pub struct TokenClient {
    /// The token endpoint (https).
    pub token_endpoint: Url,
    /// The client_id it authenticates with (`client_secret_basic`, RFC 6749 §2.3.1).
    pub client_id: String,
    /// Its secret.
    pub client_secret: ClientSecret,
    /// Where the secret came from (a file path, or the environment), for `check-config`.
    pub client_secret_source: String,
    /// The scope requested, if any.
    pub scope: Option<String>,
}

/// How the connector is authorized at the downstream's registration endpoint (RFC 7591 §3:
/// "an OAuth 2.0 access token", whose issuing is out of its scope).
#[derive(Debug, Clone)]
pub enum RegistrationAuth {
    /// An initial access token given by the downstream's operator.
    InitialAccessToken {
        /// The token.
        token: InitialAccessToken,
        /// Where it came from (a file path, or the environment), for `check-config`.
        source: String,
    },
    /// An access token obtained at the downstream's token endpoint, kept until shortly before
    /// it expires.
    ClientCredentials(TokenClient),
}

/// A webhook notified of registration changes (`[webhooks] endpoints`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its name (letters, digits, `-`, `_`), shown in the portal and the metrics.
    pub name: String,
    /// Where events are posted (https).
    pub url: Url,
}

/// `[provisioning]`, when enabled.
#[derive(Debug, Clone)]
pub struct ProvisioningConfig {
    /// Sync or async creation.
    pub mode: ProvisioningMode,
    /// The downstream's RFC 7591 registration endpoint.
    pub registration_endpoint: Url,
    /// The bearer token for it: an initial access token, or one of the client credentials
    /// grant.
    pub auth: RegistrationAuth,
    /// CAs the downstream's certificate must chain to (else the public roots).
    pub ca: Option<PathBuf>,
    /// Timeout of one request to the downstream.
    pub timeout: Duration,
    /// Whose client_id the downstream uses.
    pub client_ids: ClientIdPolicy,
    /// How often the registrations are compared with the downstream's clients (`None`: never
    /// on its own; `dcr-server provisioning reconcile` still does).
    pub reconcile_interval: Option<Duration>,
    /// Whether the periodic comparison repairs what it finds.
    pub reconcile_repair: bool,
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
    /// Accounts without a second factor may only reach the account page to enrol one.
    pub require_second_factor: bool,
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
    /// The webhooks notified of registration changes (none: off).
    pub webhooks: Vec<Webhook>,
    /// Attempts before an event is kept as a dead letter.
    pub webhook_max_attempts: i64,
    /// The portal's origin as browsers reach it, when configured.
    pub public_origin: Option<Url>,
    /// Single sign-on (off when `None`).
    pub sso: Option<SsoConfig>,
    /// Whether local accounts sign in with their passwords (off only beside single sign-on).
    pub local_passwords: bool,
    /// The zone the portal shows times in.
    pub time_zone: app::dto::DisplayZone,
}

/// `[portal.sso]`, when an issuer is set: the portal as a confidential client of the Data
/// Holder's OpenID Connect provider (authorization code flow with PKCE).
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The provider's issuer, exactly as its ID tokens' `iss` says it.
    pub issuer: String,
    /// The portal's client_id there.
    pub client_id: String,
    /// Its client secret (`client_secret_basic`).
    pub client_secret: ClientSecret,
    /// Where the secret came from (a file path, or the environment), for `check-config`.
    pub client_secret_source: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The claim that names groups or roles.
    pub role_claim: String,
    /// The claim shown as the username (`None`: `preferred_username`, `email`, then `sub`).
    pub username_claim: Option<String>,
    /// Claim values per role, highest role first.
    pub roles: Vec<(app::dto::Role, Vec<String>)>,
    /// The sign-in button's text.
    pub label: String,
    /// CAs the provider's certificate must chain to (else the public roots).
    pub ca: Option<PathBuf>,
    /// Timeout of one request to the provider.
    pub timeout: Duration,
    /// `<public origin>/auth/sso/callback`, registered at the provider.
    pub redirect_uri: Url,
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
        let _ = writeln!(s, "require_second_factor = {}", self.require_second_factor);
        let _ = writeln!(s, "password_check_slots = {}", self.password_check_slots);
        let _ = writeln!(s, "password_check_queue = {}", self.password_check_queue);
        let _ = writeln!(s, "time_zone = {:?}", self.time_zone.name());
        if let Some(o) = &self.public_origin {
            let _ = writeln!(s, "public_origin = {:?}", o.as_str().trim_end_matches('/'));
        }
        if let Some(sso) = &self.sso {
            let _ = writeln!(s, "\n[portal.sso]");
            let _ = writeln!(s, "issuer = {:?}", sso.issuer);
            let _ = writeln!(s, "client_id = {:?}", sso.client_id);
            let _ = writeln!(
                s,
                "# client secret: {}, never printed",
                sso.client_secret_source
            );
            let _ = writeln!(s, "scopes = {:?}", sso.scopes);
            let _ = writeln!(s, "role_claim = {:?}", sso.role_claim);
            if let Some(claim) = &sso.username_claim {
                let _ = writeln!(s, "username_claim = {claim:?}");
            }
            let _ = writeln!(s, "label = {:?}", sso.label);
            if let Some(ca) = &sso.ca {
                let _ = writeln!(s, "ca = {:?}", ca.display().to_string());
            }
            let _ = writeln!(s, "timeout_ms = {}", sso.timeout.as_millis());
            let _ = writeln!(s, "local_passwords = {}", self.local_passwords);
            let _ = writeln!(s, "# redirect URI: {}", sso.redirect_uri);
            let _ = writeln!(s, "\n[portal.sso.roles]");
            for (role, values) in &sso.roles {
                let _ = writeln!(s, "{} = {values:?}", role.as_str());
            }
        }
        let _ = writeln!(s, "\n[log]");
        let _ = writeln!(
            s,
            "format = {:?}",
            format!("{:?}", self.log_format).to_lowercase()
        );
        let _ = writeln!(s, "filter = {:?}", self.log_filter);
        let _ = writeln!(s, "\n[webhooks]");
        let endpoints: Vec<String> = self
            .webhooks
            .iter()
            .map(|w| format!("{}={}", w.name, w.url))
            .collect();
        let _ = writeln!(s, "endpoints = {endpoints:?}");
        let _ = writeln!(s, "max_attempts = {}", self.webhook_max_attempts);
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
            match &p.auth {
                RegistrationAuth::InitialAccessToken { source, .. } => {
                    let _ = writeln!(s, "# initial access token: {source}, never printed");
                }
                RegistrationAuth::ClientCredentials(c) => {
                    let _ = writeln!(s, "token_endpoint = {:?}", c.token_endpoint.as_str());
                    let _ = writeln!(s, "token_client_id = {:?}", c.client_id);
                    let _ = writeln!(
                        s,
                        "# token client secret: {}, never printed",
                        c.client_secret_source
                    );
                    if let Some(scope) = &c.scope {
                        let _ = writeln!(s, "token_scope = {scope:?}");
                    }
                }
            }
            if let Some(ca) = &p.ca {
                let _ = writeln!(s, "ca = {:?}", ca.display().to_string());
            }
            let _ = writeln!(s, "timeout_ms = {}", p.timeout.as_millis());
            let client_id = match p.client_ids {
                ClientIdPolicy::Ours => "ours",
                ClientIdPolicy::Downstream => "downstream",
            };
            let _ = writeln!(s, "client_id = {client_id:?}");
            let interval = p.reconcile_interval.map_or(0, |d| d.as_secs());
            let _ = writeln!(s, "reconcile_interval_secs = {interval}");
            let _ = writeln!(s, "reconcile_repair = {}", p.reconcile_repair);
        }
        s
    }
}

#[cfg(test)]
mod tests;
