//! The token endpoint as far as registration management needs it (docs/dcr-rules.md §9.1): the
//! `client_credentials` grant (RFC 6749 §4.4) with `private_key_jwt` client authentication
//! (RFC 7523 §2.2, OIDC Core §9, CDS "Client Authentication"), scope `cdr:registration` only, and
//! the certificate-bound (RFC 8705 §3) access token used on `GET/PUT/DELETE /register/{ClientId}`.
//!
//! Order of use: [`decode_form`] → [`TokenRequest::parse_form`] → [`assertion_client_id`] (which client?) → load the
//! client and its keys from its `jwks_uri` → [`verify_client_assertion`] → `jti` replay check
//! (caller) → [`grant_scope`] → [`issue_access_token`]. Resource side: [`verify_access_token`],
//! then the caller compares `cnf.x5t#S256` with the presented certificate
//! ([`crate::jose::thumbprint_x5t_s256`], [`crate::jose::ct_eq`]).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::claims::{self, Claim};
use crate::clock::UnixTime;
use crate::jose::{self, printable, Alg, JoseError, JwkSet, SigningKey, VerifyingKey};

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The only grant type of this token endpoint.
pub const GRANT_TYPE_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The registration management scope (CDS "Scopes").
pub const SCOPE_CDR_REGISTRATION: &str = "cdr:registration";

/// Description of a client assertion signed with a `kid` absent from the client's JWK set.
pub const ASSERTION_UNKNOWN_KID: &str =
    "Invalid client_assertion - the signing key ('kid') is not known";

/// RFC 6749 §5.2 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenErrorCode {
    /// RFC 6749: "The request is missing a required parameter, includes an unsupported parameter
    /// value (other than grant type), repeats a parameter, … or is otherwise malformed."
    InvalidRequest,
    /// RFC 6749: "Client authentication failed (e.g., unknown client, no client authentication
    /// included, or unsupported authentication method)."
    InvalidClient,
    /// RFC 6749: "The provided authorization grant … is invalid, expired, revoked …"
    InvalidGrant,
    /// RFC 6749: "The requested scope is invalid, unknown, malformed, or exceeds the scope granted
    /// by the resource owner."
    InvalidScope,
    /// RFC 6749: "The authenticated client is not authorized to use this authorization grant
    /// type."
    UnauthorizedClient,
    /// RFC 6749: "The authorization grant type is not supported by the authorization server."
    UnsupportedGrantType,
}

impl TokenErrorCode {
    /// The wire value of `error`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidScope => "invalid_scope",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

impl fmt::Display for TokenErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token endpoint failure (HTTP 400; `invalid_client` may be 401, the caller decides).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct TokenError {
    /// The RFC 6749 error code.
    pub code: TokenErrorCode,
    /// ASCII description.
    pub description: Cow<'static, str>,
    /// The assertion is signed with a `kid` the client's JWK set lacks: refetch it once. The
    /// caller acts on this, never on the description's text.
    pub unknown_kid: bool,
}

impl TokenError {
    /// An error with this code and description.
    #[must_use]
    pub fn new(code: TokenErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            unknown_kid: false,
        }
    }

    /// `invalid_request`.
    #[must_use]
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TokenErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`.
    #[must_use]
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TokenErrorCode::InvalidClient, description)
    }

    /// `invalid_scope`.
    #[must_use]
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(TokenErrorCode::InvalidScope, description)
    }

    /// `invalid_client` "Client not found" (ACCC text) for an unknown `client_id`.
    #[must_use]
    pub fn client_not_found() -> Self {
        Self::invalid_client("Client not found")
    }

    /// `invalid_client` for a replayed assertion `jti` (ACCC text).
    #[must_use]
    pub fn replayed_jti() -> Self {
        Self::invalid_client("Invalid client_assertion - 'jti' must be unique")
    }

    /// Whether the assertion was signed with an unknown `kid` (refetch the client's JWK set once).
    #[must_use]
    pub fn is_unknown_kid(&self) -> bool {
        self.unknown_kid
    }

    /// The JSON body: `{"error", "error_description"}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "error": self.code.as_str(),
            "error_description": self.description,
        })
    }
}

/// Most parameters a client form may carry. The token request has five and revocation four;
/// the cap keeps the work per request bounded whatever the body holds.
pub const MAX_FORM_PAIRS: usize = 32;

/// Decodes an `application/x-www-form-urlencoded` body in one pass: at most [`MAX_FORM_PAIRS`]
/// parameters, none repeated (RFC 6749 §3.2: "Request and response parameters MUST NOT be
/// included more than once"), in order.
///
/// # Errors
/// `invalid_request` for a form of more than [`MAX_FORM_PAIRS`] parameters or a repeated one
/// (however it is encoded).
///
/// # Security
/// The body is read before the client is authenticated: the work is bounded by the body size
/// cap and stops at the first parameter over the cap.
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, TokenError> {
    let mut form = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form.len() == MAX_FORM_PAIRS {
            return Err(TokenError::invalid_request(format!(
                "The form has more than {MAX_FORM_PAIRS} parameters"
            )));
        }
        if !seen.insert(k.clone()) {
            return Err(TokenError::invalid_request(format!(
                "The '{}' parameter is repeated",
                printable(&k)
            )));
        }
        form.push((k.into_owned(), v.into_owned()));
    }
    Ok(form)
}

/// A `client_credentials` token request with `private_key_jwt` authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `grant_type` (always `client_credentials` once parsed).
    pub grant_type: String,
    /// `client_assertion_type` (always the jwt-bearer URN once parsed).
    pub client_assertion_type: String,
    /// `client_assertion`, a compact JWS.
    pub client_assertion: String,
    /// `client_id`, optional since CDS v1.24.0 (must match the assertion when sent).
    pub client_id: Option<String>,
    /// `scope`, optional.
    pub scope: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// Reads the `application/x-www-form-urlencoded` parameters (already decoded).
    ///
    /// Parameters without a value count as absent (RFC 6749 §3.1); unknown ones are ignored.
    ///
    /// # Errors
    /// `invalid_request` for a repeated parameter or a missing `grant_type`;
    /// `unsupported_grant_type` for anything but `client_credentials`; `invalid_client` for a
    /// missing `client_assertion` or a wrong `client_assertion_type`.
    pub fn parse_form(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, TokenError> {
        let mut seen = std::collections::HashSet::new();
        let (mut grant_type, mut assertion_type, mut assertion, mut client_id, mut scope) =
            (None, None, None, None, None);
        for (k, v) in pairs {
            // RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
            if seen.contains(&k) {
                return Err(TokenError::invalid_request(format!(
                    "The '{}' parameter is repeated",
                    printable(&k)
                )));
            }
            let slot = match k.as_str() {
                "grant_type" => &mut grant_type,
                "client_assertion_type" => &mut assertion_type,
                "client_assertion" => &mut assertion,
                "client_id" => &mut client_id,
                "scope" => &mut scope,
                _ => {
                    seen.insert(k);
                    continue;
                }
            };
            if !v.is_empty() {
                *slot = Some(v);
            }
            seen.insert(k);
        }
        let grant_type =
            grant_type.ok_or_else(|| TokenError::invalid_request("grant_type not provided"))?;
        if grant_type != GRANT_TYPE_CLIENT_CREDENTIALS {
            return Err(TokenError::new(
                TokenErrorCode::UnsupportedGrantType,
                "Only the client_credentials grant type is supported",
            ));
        }
        let client_assertion =
            assertion.ok_or_else(|| TokenError::invalid_client("client_assertion not provided"))?;
        let client_assertion_type = assertion_type
            .filter(|t| t == CLIENT_ASSERTION_TYPE_JWT_BEARER)
            .ok_or_else(|| {
                TokenError::invalid_client(
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
            })?;
        Ok(Self {
            grant_type,
            client_assertion_type,
            client_assertion,
            client_id,
            scope,
        })
    }
}

impl TokenRequest {
    /// The client authentication of a form posted to another endpoint of the authorisation
    /// server (CDR arrangement revocation): `client_assertion_type`, `client_assertion` and an
    /// optional `client_id`, checked as [`Self::parse_form`] checks them; no `grant_type`.
    ///
    /// # Errors
    /// As [`Self::parse_form`], but for the grant type.
    pub fn parse_client_authentication(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, TokenError> {
        let pairs = pairs
            .into_iter()
            .filter(|(k, _)| k != "grant_type")
            .chain(std::iter::once((
                "grant_type".to_owned(),
                GRANT_TYPE_CLIENT_CREDENTIALS.to_owned(),
            )));
        Self::parse_form(pairs)
    }
}

const ISS_SUB_MESSAGE: &str =
    "Invalid client_assertion - 'sub' and 'iss' must be set to the client_id";

/// The client the assertion claims to be, read **without verification** to find its keys.
///
/// # Errors
/// `invalid_client` if the assertion is not a JWT, `iss`/`sub` are missing or differ, or the form
/// `client_id` differs from them.
pub fn assertion_client_id(req: &TokenRequest) -> Result<String, TokenError> {
    let m = jose::decode_claims_unverified(&req.client_assertion)
        .map_err(|_| TokenError::invalid_client("Invalid client_assertion - not a valid JWT"))?;
    let (Claim::Present(iss), Claim::Present(sub)) =
        (claims::string(&m, "iss"), claims::string(&m, "sub"))
    else {
        return Err(TokenError::invalid_client(ISS_SUB_MESSAGE));
    };
    if iss != sub {
        return Err(TokenError::invalid_client(ISS_SUB_MESSAGE));
    }
    if let Some(form_id) = &req.client_id {
        if form_id != iss {
            return Err(TokenError::invalid_client(
                "client_id does not match client_assertion",
            ));
        }
    }
    Ok(iss.to_owned())
}

/// The time rules of a client assertion: the clock skew allowed on `exp`, `iat` and `nbf`, and
/// how far in the future `exp` may be (docs/dcr-rules.md §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssertionTimes {
    /// Seconds of clock skew allowed.
    pub skew: i64,
    /// Most seconds between now and `exp`.
    pub max_lifetime: i64,
}

impl Default for AssertionTimes {
    /// 30 seconds of skew, `exp` at most 5 minutes away.
    fn default() -> Self {
        Self {
            skew: 30,
            max_lifetime: 300,
        }
    }
}

/// The verified claims the caller needs: `jti` for the single-use check, kept until `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionClaims {
    /// `jti`.
    pub jti: String,
    /// `exp`.
    pub exp: UnixTime,
}

fn map_assertion_jose(e: &JoseError) -> TokenError {
    match e {
        JoseError::UnknownKid(_) => TokenError {
            unknown_kid: true,
            ..TokenError::invalid_client(ASSERTION_UNKNOWN_KID)
        },
        JoseError::Malformed(_) => {
            TokenError::invalid_client("Invalid client_assertion - not a valid JWT")
        }
        JoseError::UnsupportedAlg(_) => TokenError::invalid_client(
            "Invalid client_assertion - must be signed with PS256 or ES256",
        ),
        _ => TokenError::invalid_client("Invalid client_assertion - signature validation failed"),
    }
}

/// Verifies a `private_key_jwt` client assertion (CDS "Client Authentication").
///
/// The key is chosen by the header `kid`; when the header has none and the client's set holds a
/// single key, that key is used. `iss` and `sub` must equal `client_id`; `aud` (string or array)
/// must name one of `accepted_audiences` (the issuer, the token endpoint URL…); `exp` is required
/// and must not have passed, `iat` (optional) and `nbf` (optional) must not be in the future, all
/// within `skew` seconds; `jti` is required.
///
/// # Errors
/// `invalid_client`; [`TokenError::is_unknown_kid`] when the `kid` is not in `keys`.
pub fn verify_client_assertion(
    req: &TokenRequest,
    client_id: &str,
    keys: &JwkSet,
    accepted_audiences: &[String],
    now: UnixTime,
    times: AssertionTimes,
) -> Result<AssertionClaims, TokenError> {
    let AssertionTimes { skew, max_lifetime } = times;
    let token = req.client_assertion.as_str();
    let header = jose::decode_header(token).map_err(|e| map_assertion_jose(&e))?;
    let m = match (&header.kid, keys.len()) {
        (None, 1) => {
            let key = keys
                .keys()
                .next()
                .ok_or_else(|| map_assertion_jose(&JoseError::MissingKid))?;
            jose::verify(token, key).map_err(|e| map_assertion_jose(&e))?
        }
        _ => {
            jose::verify_with_set(token, keys)
                .map_err(|e| map_assertion_jose(&e))?
                .1
        }
    };
    let iss = claims::string(&m, "iss");
    let sub = claims::string(&m, "sub");
    if !matches!((iss, sub), (Claim::Present(i), Claim::Present(s)) if i == client_id && s == client_id)
    {
        return Err(TokenError::invalid_client(ISS_SUB_MESSAGE));
    }
    let accepted: Vec<&str> = accepted_audiences.iter().map(String::as_str).collect();
    if !claims::aud_contains(m.get("aud"), &accepted) {
        return Err(TokenError::invalid_client(
            "Invalid client_assertion - 'aud' is not valid",
        ));
    }
    let Claim::Present(exp) = claims::date(&m, "exp") else {
        return Err(TokenError::invalid_client(
            "Invalid client_assertion - 'exp' is required",
        ));
    };
    if now >= exp.saturating_add(skew) {
        return Err(TokenError::invalid_client(
            "Invalid client_assertion - the assertion has expired",
        ));
    }
    // A single-use `jti` is remembered until `exp`: a far `exp` would keep it for years.
    if exp.saturating_sub(now) > max_lifetime.saturating_add(skew) {
        return Err(TokenError::invalid_client(format!(
            "Invalid client_assertion - 'exp' must be at most {max_lifetime} seconds away"
        )));
    }
    for name in ["iat", "nbf"] {
        match claims::date(&m, name) {
            Claim::Present(t) if t > now.saturating_add(skew) => {
                return Err(TokenError::invalid_client(format!(
                    "Invalid client_assertion - '{name}' is in the future"
                )));
            }
            Claim::Invalid => {
                return Err(TokenError::invalid_client(format!(
                    "Invalid client_assertion - '{name}' is invalid"
                )));
            }
            _ => {}
        }
    }
    let jti = match claims::string(&m, "jti") {
        Claim::Present(j) if j.chars().count() <= 255 => j.to_owned(),
        _ => {
            return Err(TokenError::invalid_client(
                "Invalid client_assertion - 'jti' is required",
            ))
        }
    };
    Ok(AssertionClaims { jti, exp })
}

/// The scope a `client_credentials` token gets: only `cdr:registration`, and only if the client
/// registered it (docs/dcr-rules.md §9.1, §13 A10). Registration scopes are never mixed with data scopes (CDS
/// "Scopes"), so other requested scopes are dropped.
///
/// # Errors
/// `invalid_scope` if a scope was requested without `cdr:registration`, or the client's registered
/// scope lacks it.
pub fn grant_scope(requested: Option<&str>, registered_scope: &str) -> Result<String, TokenError> {
    let registered = registered_scope
        .split_ascii_whitespace()
        .any(|s| s == SCOPE_CDR_REGISTRATION);
    let asked = match requested.map(str::trim).filter(|s| !s.is_empty()) {
        None => true,
        Some(r) => r
            .split_ascii_whitespace()
            .any(|s| s == SCOPE_CDR_REGISTRATION),
    };
    if !asked {
        return Err(TokenError::invalid_scope(
            "Only the 'cdr:registration' scope may be requested with client_credentials",
        ));
    }
    if !registered {
        return Err(TokenError::invalid_scope(
            "The client is not registered for the 'cdr:registration' scope",
        ));
    }
    Ok(SCOPE_CDR_REGISTRATION.to_owned())
}

/// RFC 8705 §3.1 confirmation claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cnf {
    /// base64url SHA-256 thumbprint of the client certificate.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// Claims of our registration-management access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Our issuer.
    pub iss: String,
    /// The client (same as `client_id`).
    pub sub: String,
    /// The client.
    pub client_id: String,
    /// Granted scope (`cdr:registration`).
    pub scope: String,
    /// Issued at.
    pub iat: UnixTime,
    /// Expiry: the token is valid iff `now < exp`.
    pub exp: UnixTime,
    /// Token id.
    pub jti: String,
    /// Certificate binding.
    pub cnf: Cnf,
    /// Audience (our issuer / resource).
    pub aud: String,
}

impl AccessTokenClaims {
    /// Whether the granted scope contains `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_ascii_whitespace().any(|s| s == scope)
    }
}

/// Signs an access token.
///
/// # Errors
/// [`JoseError::Signing`] if signing fails.
pub fn issue_access_token(
    key: &SigningKey,
    claims: &AccessTokenClaims,
) -> Result<String, JoseError> {
    let value = serde_json::to_value(claims).map_err(|e| JoseError::Signing(e.to_string()))?;
    key.sign(&value)
}

/// Why an access token was refused (all 401 `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    /// Not a JWT of ours, or claims missing.
    #[error("The access token is malformed")]
    Malformed,
    /// Signature does not verify with any of our keys (or the `kid` is not ours).
    #[error("The access token signature is invalid")]
    BadSignature,
    /// `now >= exp`.
    #[error("The access token has expired")]
    Expired {
        /// When it expired.
        exp: UnixTime,
    },
    /// `iss` is not ours.
    #[error("The access token issuer is invalid")]
    WrongIssuer,
    /// `aud` is not ours.
    #[error("The access token audience is invalid")]
    WrongAudience,
    /// The header's `typ` is not `JWT`, the type we issue.
    #[error("The access token type is invalid")]
    WrongType,
    /// `exp - iat` is not between 1 second and [`MAX_ACCESS_TOKEN_LIFETIME_SECS`].
    #[error("The access token lifetime is invalid")]
    BadLifetime,
}

/// The longest access token lifetime we issue (CDS: 2 to 10 minutes); a token claiming more is
/// not one of ours.
pub const MAX_ACCESS_TOKEN_LIFETIME_SECS: i64 = 600;

/// A verified access token: its claims and the `kid` of the key that signed it (a cache of
/// verified tokens keeps it, to stop honouring the token once that key is withdrawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    /// The claims.
    pub claims: AccessTokenClaims,
    /// The signing key's id.
    pub kid: String,
}

/// Verifies one of our access tokens: `typ` `JWT`, signature with the key named by `kid` among
/// `keys`, `iss` and `aud` equal to `issuer`, a lifetime (`exp - iat`) of at most
/// [`MAX_ACCESS_TOKEN_LIFETIME_SECS`], and expiry **exact**: valid iff `now < exp` (no leeway; we
/// issued it).
///
/// # Errors
/// See [`AccessTokenError`].
pub fn verify_access_token(
    token: &str,
    keys: &[VerifyingKey],
    issuer: &str,
    now: UnixTime,
) -> Result<VerifiedAccessToken, AccessTokenError> {
    let header = jose::decode_header(token).map_err(|_| AccessTokenError::Malformed)?;
    if Alg::parse(&header.alg).is_none() {
        return Err(AccessTokenError::BadSignature);
    }
    let kid = header.kid.ok_or(AccessTokenError::Malformed)?;
    if !header.typ.is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
        return Err(AccessTokenError::WrongType);
    }
    let key = keys
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or(AccessTokenError::BadSignature)?;
    let m = jose::verify(token, key).map_err(|e| match e {
        JoseError::Malformed(_) => AccessTokenError::Malformed,
        _ => AccessTokenError::BadSignature,
    })?;
    let claims: AccessTokenClaims =
        serde_json::from_value(Value::Object(m)).map_err(|_| AccessTokenError::Malformed)?;
    if claims.iss != issuer {
        return Err(AccessTokenError::WrongIssuer);
    }
    if claims.aud != issuer {
        return Err(AccessTokenError::WrongAudience);
    }
    if !claims
        .exp
        .checked_sub(claims.iat)
        .is_some_and(|lifetime| (1..=MAX_ACCESS_TOKEN_LIFETIME_SECS).contains(&lifetime))
    {
        return Err(AccessTokenError::BadLifetime);
    }
    if now >= claims.exp {
        return Err(AccessTokenError::Expired { exp: claims.exp });
    }
    Ok(VerifiedAccessToken { claims, kid })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
