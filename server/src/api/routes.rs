//! Path constants of the API listener (relative to the issuer's path).

/// Liveness.
pub const HEALTHZ: &str = "/healthz";
/// Readiness (store reachable).
pub const READYZ: &str = "/readyz";
/// OpenID Provider discovery (CDS §3).
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// The Data Holder's JWKS.
pub const JWKS: &str = "/jwks";
/// Dynamic Client Registration (RFC 7591).
pub const REGISTER: &str = "/register";
/// Registration management (RFC 7592).
pub const REGISTER_CLIENT: &str = "/register/{client_id}";
/// The OpenAPI 3.1 document of discovery, registration, the token endpoint, arrangement
/// revocation and Admin Metadata Update.
pub const OPENAPI: &str = "/openapi.json";
/// Token endpoint.
pub const TOKEN: &str = "/token";
/// Admin Metadata Update, called by the CDR Register (CDS Admin APIs).
pub const ADMIN_REGISTER_METADATA: &str = "/cds-au/v1/admin/register/metadata";

/// CDR arrangement revocation (CDS; `cdr_arrangement_revocation_endpoint` in discovery).
pub const ARRANGEMENT_REVOKE: &str = "/arrangements/revoke";
