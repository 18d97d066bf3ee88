//! Shared state of the API listener.

use std::sync::Arc;

use dcr_core::clock::SharedClock;

use crate::config::Config;
use crate::keys::LiveKeys;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: dcr_store::Store,
    /// Injected time.
    pub clock: SharedClock,
    /// Our signing keys, reloaded from the store periodically (rotation without restart).
    pub keys: Arc<LiveKeys>,
    /// Discovery document, built once.
    pub discovery: Arc<serde_json::Value>,
    /// Remote JWK sets (Register, recipients).
    pub jwks: Arc<crate::jwks::JwksCache>,
    /// Outbound HTTPS client.
    pub outbound: crate::outbound::Outbound,
    /// Recipients' sector identifier documents, kept for a while.
    pub sector_documents: Arc<crate::sector::SectorDocuments>,
    /// Access tokens issued or verified here (skips repeat signature checks).
    pub token_cache: Arc<crate::token_cache::TokenCache>,
    /// Counts for the portal's overview, added to the store every few seconds.
    pub stats: Arc<crate::stats::Counts>,
    /// Registration validation policy.
    pub registration_policy: Arc<dcr_core::registration::RegistrationPolicy>,
    /// The CDR Register status sync (refresh trigger, instance id).
    pub register_sync: Arc<crate::cdr_register::SyncHandle>,
    /// Rate limits of `POST /register` and the token endpoint (per instance).
    pub rate_limiter: Arc<crate::rate_limit::RateLimiter>,
    /// Provisioning into the downstream authorization server (off when `None`).
    pub provisioning: Option<crate::provisioning::SharedProvisioner>,
    /// In gateway mode, the check of a forwarded client certificate (chain to `DCR_CLIENT_CA`,
    /// validity, client authentication); `None` when no certificate header is configured.
    pub forwarded_cert_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
}

impl AppState {
    /// The issuer's path ("" or "/something"), under which the API is mounted.
    #[must_use]
    pub fn path_prefix(&self) -> String {
        self.config.issuer.path().trim_end_matches('/').to_string()
    }

    /// The discovery document.
    #[must_use]
    pub fn discovery_document(&self) -> &serde_json::Value {
        &self.discovery
    }

    /// The registration policy for a configuration.
    #[must_use]
    pub fn build_policy(config: &Config) -> dcr_core::registration::RegistrationPolicy {
        let mut p = dcr_core::registration::RegistrationPolicy::new(config.issuer_str());
        p.clock_skew_secs = config.clock_skew_secs;
        p.ssa.clock_skew_secs = config.clock_skew_secs;
        p.ssa.issuer = config.ssa_issuer.clone();
        p
    }

    /// Builds the discovery document (CDS §3) for an issuer.
    #[must_use]
    pub fn build_discovery(config: &Config) -> serde_json::Value {
        let issuer = config.issuer_str();
        serde_json::json!({
            "issuer": issuer,
            "registration_endpoint": format!("{issuer}/register"),
            "token_endpoint": format!("{issuer}/token"),
            "cdr_arrangement_revocation_endpoint": format!("{issuer}/arrangements/revoke"),
            "jwks_uri": format!("{issuer}/jwks"),
            "scopes_supported": dcr_core::registration::DEFAULT_SUPPORTED_SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["jwt"],
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["PS256", "ES256"],
            "id_token_signing_alg_values_supported": ["PS256", "ES256"],
            "request_object_signing_alg_values_supported": ["PS256", "ES256"],
            "authorization_signing_alg_values_supported": ["PS256", "ES256"],
            "subject_types_supported": ["pairwise"],
            "claims_supported": ["sub", "acr", "auth_time", "refresh_token_expires_at", "sharing_expires_at"],
            "tls_client_certificate_bound_access_tokens": true,
        })
    }
}
