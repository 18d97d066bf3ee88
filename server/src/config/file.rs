//! The configuration as written: the TOML file's sections, every field optional, and the
//! environment variables that override them.

use super::*;

/// The configuration file as written (every field optional; defaults fill the gaps).
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
    /// Provisioning of registrations into the downstream authorization server.
    #[serde(default)]
    pub provisioning: RawProvisioning,
    /// Event notifications to the Data Holder's webhooks.
    #[serde(default)]
    pub webhooks: RawWebhooks,
}

/// `[webhooks]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhooks {
    /// The webhooks notified of every registration change, each `name=https://url` (the name
    /// letters, digits, `-` and `_`). `DCR_WEBHOOKS`, comma-separated.
    pub endpoints: Option<Vec<String>>,
    /// Attempts before an event is kept as a dead letter (default 12: about 35 minutes of
    /// retries). `DCR_WEBHOOK_MAX_ATTEMPTS`.
    pub max_attempts: Option<u32>,
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
    /// Seconds a client has to send a request's headers, counted from when the connection is
    /// ready for the request (so also the longest a keep-alive connection may sit idle).
    /// `DCR_HEADER_READ_TIMEOUT_SECS`.
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to complete the TLS handshake.
    pub tls_handshake_timeout_secs: Option<u64>,
    /// Connections open at once, per listener. `DCR_MAX_CONNECTIONS`.
    pub max_connections: Option<usize>,
    /// Connections open at once from one address (an IPv6 /64), per listener; trusted proxies
    /// are exempt. `DCR_MAX_CONNECTIONS_PER_ADDRESS`.
    pub max_connections_per_address: Option<usize>,
    /// HTTP/2 streams open at once on one connection.
    pub http2_max_concurrent_streams: Option<u32>,
    /// Seconds between HTTP/2 pings, and how long an answer may take before the connection is
    /// closed.
    pub http2_keep_alive_secs: Option<u64>,
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
    /// Certificate revocation lists of those CAs (PEM or DER files); a client certificate they
    /// list is refused. `DCR_CLIENT_CRLS` (comma separated).
    pub client_crls: Option<Vec<String>>,
    /// Seconds between checks of the CRL files for changes (default 30).
    pub crl_check_secs: Option<u64>,
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
    /// Seconds a JWK set is still used past its TTL when its refresh fails (0: none).
    pub jwks_grace_secs: Option<u64>,
    /// Seconds a recipient's sector identifier document is kept (default 300, at most 3600; 0:
    /// fetched for every registration). Its own `Cache-Control` can only shorten this.
    pub sector_identifier_ttl_secs: Option<u64>,
    /// Non-public addresses (IPs or CIDR blocks) a recipient's `jwks_uri` or
    /// `sector_identifier_uri` may lead to; none by default. `DCR_OUTBOUND_ALLOWED_ADDRESSES`
    /// (comma separated).
    pub allowed_addresses: Option<Vec<String>>,
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
    /// Most seconds between now and a client assertion's `exp` (also the Register's admin
    /// token's). `DCR_MAX_ASSERTION_LIFETIME_SECS`.
    pub max_assertion_lifetime_secs: Option<i64>,
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
    /// Mark the portal's cookies `Secure` and name them with the `__Host-` prefix (default
    /// true; false is accepted only for plain HTTP on a loopback address, for local
    /// development). `DCR_COOKIE_SECURE`.
    pub cookie_secure: Option<bool>,
    /// Accounts without a second factor may only enrol one (default: on, except in local
    /// development, where `cookie_secure` is off). `DCR_REQUIRE_SECOND_FACTOR`.
    pub require_second_factor: Option<bool>,
    /// Password checks (argon2id) run at once (default 2). `DCR_PASSWORD_CHECK_SLOTS`.
    pub password_check_slots: Option<usize>,
    /// Password checks that may wait for a slot; more are answered 503 (default 16).
    pub password_check_queue: Option<usize>,
    /// The IANA time zone the portal shows times in (default `Australia/Sydney`; UTC is on
    /// hover). `DCR_PORTAL_TIME_ZONE`.
    pub time_zone: Option<String>,
    /// The portal's origin as browsers reach it (`https://dcr-admin.bank.example`), for the
    /// redirect URI of single sign-on and as the relying party of passkeys (bound to its host
    /// name). `DCR_PORTAL_PUBLIC_ORIGIN`.
    pub public_origin: Option<String>,
    /// Single sign-on through the Data Holder's OpenID Connect provider (off unless `issuer`
    /// is set).
    #[serde(default)]
    pub sso: RawSso,
}

/// `[portal.sso]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSso {
    /// The provider's issuer (https; its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`). `DCR_SSO_ISSUER`.
    pub issuer: Option<String>,
    /// The portal's client_id there. `DCR_SSO_CLIENT_ID`.
    pub client_id: Option<String>,
    /// A file holding its client secret. `DCR_SSO_CLIENT_SECRET_FILE`.
    pub client_secret_file: Option<String>,
    /// The client secret itself: from the environment only (`DCR_SSO_CLIENT_SECRET`), never
    /// from the file, never printed.
    #[serde(skip)]
    pub client_secret: Option<String>,
    /// Scopes asked for besides `openid` (default `profile`, `email`). `DCR_SSO_SCOPES`
    /// (comma-separated).
    pub scopes: Option<Vec<String>>,
    /// The ID token claim that names the person's groups or roles (default `groups`): a string
    /// or an array of strings. `DCR_SSO_ROLE_CLAIM`.
    pub role_claim: Option<String>,
    /// The ID token claim shown as the username (default `preferred_username`, then `email`,
    /// then `sub`). `DCR_SSO_USERNAME_CLAIM`.
    pub username_claim: Option<String>,
    /// Values of the role claim that give each role; the highest role any value gives wins.
    #[serde(default)]
    pub roles: RawSsoRoles,
    /// The sign-in button's text (default "Sign in with single sign-on"). `DCR_SSO_LABEL`.
    pub label: Option<String>,
    /// CAs (PEM) the provider's certificate must chain to, instead of the public roots.
    /// `DCR_SSO_CA`.
    pub ca: Option<String>,
    /// Timeout of one request to the provider, milliseconds (default 5000).
    pub timeout_ms: Option<u64>,
    /// Whether local passwords still sign in (default true); false leaves single sign-on only
    /// (recovery: `dcr-server admin` on the command line). `DCR_SSO_LOCAL_PASSWORDS`.
    pub local_passwords: Option<bool>,
}

/// `[portal.sso.roles]`: claim values per role (`DCR_SSO_ADMINISTRATORS`, `DCR_SSO_OPERATORS`,
/// `DCR_SSO_VIEWERS`: comma-separated).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsoRoles {
    /// Values that make an administrator.
    #[serde(default)]
    pub administrator: Vec<String>,
    /// Values that make an operator.
    #[serde(default)]
    pub operator: Vec<String>,
    /// Values that make a viewer.
    #[serde(default)]
    pub viewer: Vec<String>,
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

/// `[provisioning]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvisioning {
    /// Create, update and delete each registration's client at the downstream authorization
    /// server (default false). `DCR_PROVISIONING_ENABLED`.
    pub enabled: Option<bool>,
    /// `sync` (a registration is answered once its client exists downstream) or `async`
    /// (delivered from the outbox after the answer). `DCR_PROVISIONING_MODE`.
    pub mode: Option<String>,
    /// The downstream's RFC 7591 registration endpoint (https).
    /// `DCR_PROVISIONING_REGISTRATION_ENDPOINT`.
    pub registration_endpoint: Option<String>,
    /// A file holding the initial access token for that endpoint.
    /// `DCR_PROVISIONING_INITIAL_ACCESS_TOKEN_FILE`.
    pub initial_access_token_file: Option<String>,
    /// The initial access token itself: from the environment only
    /// (`DCR_PROVISIONING_INITIAL_ACCESS_TOKEN`), never from the file, never printed.
    #[serde(skip)]
    pub initial_access_token: Option<String>,
    /// Instead of an initial access token: the downstream's token endpoint, where the bearer
    /// token for the registration endpoint is obtained with the client credentials grant
    /// (https). `DCR_PROVISIONING_TOKEN_ENDPOINT`.
    pub token_endpoint: Option<String>,
    /// The client_id this server authenticates with there (`client_secret_basic`).
    /// `DCR_PROVISIONING_TOKEN_CLIENT_ID`.
    pub token_client_id: Option<String>,
    /// A file holding its client secret. `DCR_PROVISIONING_TOKEN_CLIENT_SECRET_FILE`.
    pub token_client_secret_file: Option<String>,
    /// The client secret itself: from the environment only
    /// (`DCR_PROVISIONING_TOKEN_CLIENT_SECRET`), never from the file, never printed.
    #[serde(skip)]
    pub token_client_secret: Option<String>,
    /// The scope requested with the token (space separated; none by default).
    /// `DCR_PROVISIONING_TOKEN_SCOPE`.
    pub token_scope: Option<String>,
    /// CAs (PEM) the downstream's certificate must chain to, instead of the public roots.
    /// `DCR_PROVISIONING_CA`.
    pub ca: Option<String>,
    /// Timeout of one request to the downstream, milliseconds (default 5000).
    /// `DCR_PROVISIONING_TIMEOUT_MS`.
    pub timeout_ms: Option<u64>,
    /// `ours` (default: the downstream keeps the client_id we issue) or `downstream` (it
    /// assigns its own, which becomes the registration's client_id; sync mode only).
    /// `DCR_PROVISIONING_CLIENT_ID`.
    pub client_id: Option<String>,
    /// How often the registrations are compared with the downstream's clients, seconds
    /// (default 3600; 0 turns the periodic check off).
    /// `DCR_PROVISIONING_RECONCILE_INTERVAL_SECS`.
    pub reconcile_interval_secs: Option<u64>,
    /// Whether the periodic check also repairs what it finds (default false: it reports).
    /// `DCR_PROVISIONING_RECONCILE_REPAIR`.
    pub reconcile_repair: Option<bool>,
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
    ("DCR_CLIENT_CRLS", "tls.client_crls"),
    ("DCR_PORTAL_TLS", "tls.portal_tls"),
    ("DCR_REGISTER_JWKS_URI", "register.jwks_uri"),
    ("DCR_REGISTER_BASE_URI", "register.base_uri"),
    ("DCR_REGISTER_POLL_SECS", "register.poll_secs"),
    ("DCR_OUTBOUND_CA", "outbound.ca"),
    (
        "DCR_OUTBOUND_ALLOWED_ADDRESSES",
        "outbound.allowed_addresses",
    ),
    ("DCR_CLOCK_SKEW_SECS", "security.clock_skew_secs"),
    ("DCR_TOKEN_LIFETIME_SECS", "security.token_lifetime_secs"),
    ("DCR_CLIENT_CERT_HEADER", "security.client_cert_header"),
    ("DCR_TRUSTED_PROXIES", "security.trusted_proxies"),
    ("DCR_SIGNING_KEY", "security.signing_key"),
    ("DCR_PORTAL_SITE_ROOT", "portal.site_root"),
    ("DCR_SESSION_IDLE_SECS", "portal.session_idle_secs"),
    ("DCR_SESSION_ABSOLUTE_SECS", "portal.session_absolute_secs"),
    ("DCR_COOKIE_SECURE", "portal.cookie_secure"),
    ("DCR_REQUIRE_SECOND_FACTOR", "portal.require_second_factor"),
    ("DCR_PASSWORD_CHECK_SLOTS", "portal.password_check_slots"),
    ("DCR_PORTAL_PUBLIC_ORIGIN", "portal.public_origin"),
    ("DCR_PORTAL_TIME_ZONE", "portal.time_zone"),
    ("DCR_SSO_ISSUER", "portal.sso.issuer"),
    ("DCR_SSO_CLIENT_ID", "portal.sso.client_id"),
    (
        "DCR_SSO_CLIENT_SECRET_FILE",
        "portal.sso.client_secret_file",
    ),
    ("DCR_SSO_CLIENT_SECRET", "portal.sso.client_secret"),
    ("DCR_SSO_SCOPES", "portal.sso.scopes"),
    ("DCR_SSO_ROLE_CLAIM", "portal.sso.role_claim"),
    ("DCR_SSO_USERNAME_CLAIM", "portal.sso.username_claim"),
    ("DCR_SSO_LABEL", "portal.sso.label"),
    ("DCR_SSO_CA", "portal.sso.ca"),
    ("DCR_SSO_LOCAL_PASSWORDS", "portal.sso.local_passwords"),
    ("DCR_SSO_ADMINISTRATORS", "portal.sso.roles.administrator"),
    ("DCR_SSO_OPERATORS", "portal.sso.roles.operator"),
    ("DCR_SSO_VIEWERS", "portal.sso.roles.viewer"),
    ("DCR_LOG_FORMAT", "log.format"),
    ("DCR_METRICS_ADDR", "server.metrics_addr"),
    (
        "DCR_HEADER_READ_TIMEOUT_SECS",
        "server.header_read_timeout_secs",
    ),
    ("DCR_MAX_CONNECTIONS", "server.max_connections"),
    (
        "DCR_MAX_ASSERTION_LIFETIME_SECS",
        "security.max_assertion_lifetime_secs",
    ),
    (
        "DCR_MAX_CONNECTIONS_PER_ADDRESS",
        "server.max_connections_per_address",
    ),
    (
        "DCR_RATE_LIMIT_PER_MINUTE",
        "security.rate_limit_per_minute",
    ),
    ("DCR_RATE_LIMIT_BURST", "security.rate_limit_burst"),
    (
        "DCR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
        "security.rate_limit_per_address_per_minute",
    ),
    ("DCR_WEBHOOKS", "webhooks.endpoints"),
    ("DCR_WEBHOOK_MAX_ATTEMPTS", "webhooks.max_attempts"),
    ("DCR_PROVISIONING_ENABLED", "provisioning.enabled"),
    ("DCR_PROVISIONING_MODE", "provisioning.mode"),
    (
        "DCR_PROVISIONING_REGISTRATION_ENDPOINT",
        "provisioning.registration_endpoint",
    ),
    (
        "DCR_PROVISIONING_INITIAL_ACCESS_TOKEN_FILE",
        "provisioning.initial_access_token_file",
    ),
    (
        "DCR_PROVISIONING_INITIAL_ACCESS_TOKEN",
        "provisioning.initial_access_token",
    ),
    (
        "DCR_PROVISIONING_TOKEN_ENDPOINT",
        "provisioning.token_endpoint",
    ),
    (
        "DCR_PROVISIONING_TOKEN_CLIENT_ID",
        "provisioning.token_client_id",
    ),
    (
        "DCR_PROVISIONING_TOKEN_CLIENT_SECRET_FILE",
        "provisioning.token_client_secret_file",
    ),
    (
        "DCR_PROVISIONING_TOKEN_CLIENT_SECRET",
        "provisioning.token_client_secret",
    ),
    ("DCR_PROVISIONING_TOKEN_SCOPE", "provisioning.token_scope"),
    ("DCR_PROVISIONING_CA", "provisioning.ca"),
    ("DCR_PROVISIONING_TIMEOUT_MS", "provisioning.timeout_ms"),
    ("DCR_PROVISIONING_CLIENT_ID", "provisioning.client_id"),
    (
        "DCR_PROVISIONING_RECONCILE_INTERVAL_SECS",
        "provisioning.reconcile_interval_secs",
    ),
    (
        "DCR_PROVISIONING_RECONCILE_REPAIR",
        "provisioning.reconcile_repair",
    ),
];

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
        let count = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("expected a whole number, got {v:?}"))
        };
        let int = |v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("expected a whole number, got {v:?}"))
        };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let boolean = |v: &str| match v.trim() {
            "1" | "true" | "yes" => Ok(true),
            "0" | "false" | "no" => Ok(false),
            _ => Err(format!("expected true or false, got {v:?}")),
        };
        match field {
            "database.url" => self.database.url = Some(v),
            "server.issuer" => self.server.issuer = Some(v),
            "server.listen_addr" => self.server.listen_addr = Some(v),
            "server.portal_addr" => self.server.portal_addr = Some(v),
            "server.metrics_addr" => self.server.metrics_addr = Some(v),
            "server.header_read_timeout_secs" => {
                self.server.header_read_timeout_secs = Some(num(&v)?);
            }
            "server.max_connections" => self.server.max_connections = Some(count(&v)?),
            "server.max_connections_per_address" => {
                self.server.max_connections_per_address = Some(count(&v)?);
            }
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
            "tls.client_crls" => self.tls.client_crls = Some(list(&v)),
            "tls.portal_tls" => self.tls.portal_tls = Some(boolean(&v)?),
            "register.jwks_uri" => self.register.jwks_uri = Some(v),
            "register.base_uri" => self.register.base_uri = Some(v),
            "register.poll_secs" => self.register.poll_secs = Some(num(&v)?),
            "outbound.ca" => self.outbound.ca = Some(v),
            "webhooks.endpoints" => self.webhooks.endpoints = Some(list(&v)),
            "webhooks.max_attempts" => self.webhooks.max_attempts = Some(small(&v)?),
            "outbound.allowed_addresses" => self.outbound.allowed_addresses = Some(list(&v)),
            "security.clock_skew_secs" => self.security.clock_skew_secs = Some(int(&v)?),
            "security.max_assertion_lifetime_secs" => {
                self.security.max_assertion_lifetime_secs = Some(int(&v)?);
            }
            "security.token_lifetime_secs" => self.security.token_lifetime_secs = Some(int(&v)?),
            "security.client_cert_header" => self.security.client_cert_header = Some(v),
            "security.trusted_proxies" => self.security.trusted_proxies = Some(list(&v)),
            "security.signing_key" => self.security.signing_key = Some(v),
            "portal.site_root" => self.portal.site_root = Some(v),
            "portal.session_idle_secs" => self.portal.session_idle_secs = Some(int(&v)?),
            "portal.session_absolute_secs" => self.portal.session_absolute_secs = Some(int(&v)?),
            "portal.cookie_secure" => self.portal.cookie_secure = Some(boolean(&v)?),
            "portal.require_second_factor" => {
                self.portal.require_second_factor = Some(boolean(&v)?);
            }
            "portal.password_check_slots" => {
                self.portal.password_check_slots = Some(count(&v)?);
            }
            "portal.public_origin" => self.portal.public_origin = Some(v),
            "portal.time_zone" => self.portal.time_zone = Some(v),
            "portal.sso.issuer" => self.portal.sso.issuer = Some(v),
            "portal.sso.client_id" => self.portal.sso.client_id = Some(v),
            "portal.sso.client_secret_file" => self.portal.sso.client_secret_file = Some(v),
            "portal.sso.client_secret" => self.portal.sso.client_secret = Some(v),
            "portal.sso.scopes" => self.portal.sso.scopes = Some(list(&v)),
            "portal.sso.role_claim" => self.portal.sso.role_claim = Some(v),
            "portal.sso.username_claim" => self.portal.sso.username_claim = Some(v),
            "portal.sso.label" => self.portal.sso.label = Some(v),
            "portal.sso.ca" => self.portal.sso.ca = Some(v),
            "portal.sso.roles.administrator" => self.portal.sso.roles.administrator = list(&v),
            "portal.sso.roles.operator" => self.portal.sso.roles.operator = list(&v),
            "portal.sso.roles.viewer" => self.portal.sso.roles.viewer = list(&v),
            "portal.sso.local_passwords" => {
                self.portal.sso.local_passwords = Some(boolean(&v)?);
            }
            "log.format" => self.log.format = Some(v),
            "provisioning.enabled" => self.provisioning.enabled = Some(boolean(&v)?),
            "provisioning.mode" => self.provisioning.mode = Some(v),
            "provisioning.registration_endpoint" => {
                self.provisioning.registration_endpoint = Some(v);
            }
            "provisioning.initial_access_token_file" => {
                self.provisioning.initial_access_token_file = Some(v);
            }
            "provisioning.initial_access_token" => {
                self.provisioning.initial_access_token = Some(v);
            }
            "provisioning.token_endpoint" => self.provisioning.token_endpoint = Some(v),
            "provisioning.token_client_id" => self.provisioning.token_client_id = Some(v),
            "provisioning.token_client_secret_file" => {
                self.provisioning.token_client_secret_file = Some(v);
            }
            "provisioning.token_client_secret" => {
                self.provisioning.token_client_secret = Some(v);
            }
            "provisioning.token_scope" => self.provisioning.token_scope = Some(v),
            "provisioning.ca" => self.provisioning.ca = Some(v),
            "provisioning.timeout_ms" => self.provisioning.timeout_ms = Some(num(&v)?),
            "provisioning.client_id" => self.provisioning.client_id = Some(v),
            "provisioning.reconcile_interval_secs" => {
                self.provisioning.reconcile_interval_secs = Some(num(&v)?);
            }
            "provisioning.reconcile_repair" => {
                self.provisioning.reconcile_repair = Some(boolean(&v)?);
            }
            other => return Err(format!("unknown field {other}")),
        }
        Ok(())
    }
}
