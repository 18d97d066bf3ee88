//! The registration request JWT: parsed (docs/dcr-rules.md §6 rows 2 and 3), then verified with
//! the recipient's keys (rows 9 and 12).

use super::*;

/// A registration request decoded but not yet trusted.
#[derive(Clone)]
pub struct UnverifiedRequest {
    /// The protected header.
    pub header: JwsHeader,
    /// The unverified claims.
    pub claims: Map<String, Value>,
    /// The `software_statement` (a compact JWS, not yet verified).
    pub software_statement: String,
    raw: String,
}

impl fmt::Debug for UnverifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedRequest")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl UnverifiedRequest {
    /// The request JWT as received (trimmed).
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// Decodes a registration request without trusting it (docs/dcr-rules.md §6 rows 2-3).
///
/// # Errors
/// `invalid_client_metadata` if the body is not a compact JWS signed with `PS256`/`ES256` with a
/// JSON object payload; `invalid_software_statement` if `software_statement` is missing, not a
/// string, or not a compact JWS.
pub fn parse_request(jwt: &str) -> Result<UnverifiedRequest, RegistrationError> {
    let raw = jwt.trim();
    let malformed = || {
        RegistrationError::invalid_client_metadata(
            "The registration request is not a valid signed JWT.",
        )
    };
    let header = jose::decode_header(raw).map_err(|_| malformed())?;
    if Alg::parse(&header.alg).is_none() {
        return Err(RegistrationError::invalid_client_metadata(
            "The registration request must be signed with PS256 or ES256.",
        ));
    }
    let claims = jose::decode_claims_unverified(raw).map_err(|_| malformed())?;
    let ssa_invalid = || {
        RegistrationError::invalid_software_statement(
            "ERR-DCR-006: The software_statement is empty or invalid",
        )
    };
    let software_statement = match claims.get("software_statement") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(ssa_invalid()),
    };
    if jose::decode_header(&software_statement).is_err()
        || jose::decode_claims_unverified(&software_statement).is_err()
    {
        return Err(ssa_invalid());
    }
    Ok(UnverifiedRequest {
        header,
        claims,
        software_statement,
        raw: raw.to_owned(),
    })
}

/// A registration request whose signature (ADR key from the SSA `jwks_uri`) and protocol claims
/// have been checked.
#[derive(Clone)]
pub struct VerifiedRequest {
    kid: String,
    claims: Map<String, Value>,
    jti: String,
    iat: UnixTime,
    exp: UnixTime,
}

impl fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("kid", &self.kid)
            .field("jti", &self.jti)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

impl VerifiedRequest {
    /// The `jti` (for the replay check, which must hold it at least until [`Self::exp`]).
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// The `exp`.
    #[must_use]
    pub fn exp(&self) -> UnixTime {
        self.exp
    }
    /// The `iat`.
    #[must_use]
    pub fn iat(&self) -> UnixTime {
        self.iat
    }
    /// The ADR key that signed it.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// All claims.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

pub(crate) fn meta(desc: impl Into<Cow<'static, str>>) -> RegistrationError {
    RegistrationError::invalid_client_metadata(desc)
}

pub(crate) fn missing(name: &str) -> RegistrationError {
    meta(format!("The '{name}' claim is missing."))
}

pub(crate) fn one_of(name: &str, list: &str) -> RegistrationError {
    meta(format!("The '{name}' claim value must be one of '{list}'."))
}

pub(crate) fn map_request_jose(e: &JoseError) -> RegistrationError {
    match e {
        JoseError::Malformed(_) => meta("The registration request is not a valid signed JWT."),
        JoseError::UnsupportedAlg(_) => {
            meta("The registration request must be signed with PS256 or ES256.")
        }
        JoseError::MissingKid => meta("The registration request header is missing 'kid'."),
        JoseError::UnknownKid(_) => meta(REQUEST_UNKNOWN_KID).because(Cause::UnknownRequestKid),
        JoseError::WeakKey | JoseError::InvalidKey(_) => {
            meta("The registration request signing key is not acceptable.")
        }
        _ => meta("The registration request signature could not be verified."),
    }
}

/// Verifies the registration request signature with the ADR key named by its `kid`, then its
/// protocol claims (docs/dcr-rules.md §4.2, §6 rows 9 and 12).
///
/// `iss` must equal the SSA `software_id` (case-insensitively), `aud` must be (or contain)
/// `policy.issuer`, `exp` must be in the future and `iat` not, within `policy.clock_skew_secs`,
/// `exp - iat` at most `policy.max_request_lifetime_secs`, and `jti` a non-empty string of at most
/// 255 characters.
///
/// # Errors
/// `invalid_client_metadata`; when the `kid` is not in `adr_keys`,
/// [`RegistrationError::is_unknown_kid`] is true (refetch the ADR JWK set once and retry).
/// `invalid_software_statement` if `req` does not carry `ssa`.
pub fn verify_request(
    req: &UnverifiedRequest,
    ssa: &VerifiedSsa,
    adr_keys: &JwkSet,
    now: UnixTime,
    policy: &RegistrationPolicy,
) -> Result<VerifiedRequest, RegistrationError> {
    if req.software_statement != ssa.jwt {
        return Err(RegistrationError::invalid_software_statement(
            "The software_statement does not match the verified software statement.",
        ));
    }
    let (header, m) =
        jose::verify_with_set(&req.raw, adr_keys).map_err(|e| map_request_jose(&e))?;
    let alg_ok = Alg::parse(&header.alg).is_some_and(|a| policy.signing_algs.contains(&a));
    if !alg_ok {
        return Err(meta(format!(
            "The registration request must be signed with one of '{}'.",
            policy.algs_list()
        )));
    }
    check_claims(header.kid.unwrap_or_default(), m, ssa, now, policy)
}

/// The checks of [`verify_request`] after the signature and its algorithm, on the claims of a
/// request signed by the ADR key `kid`.
pub(crate) fn check_claims(
    kid: String,
    m: Map<String, Value>,
    ssa: &VerifiedSsa,
    now: UnixTime,
    policy: &RegistrationPolicy,
) -> Result<VerifiedRequest, RegistrationError> {
    let skew = policy.clock_skew_secs;

    // Presence first, in the ACCC order, with its wording.
    let Claim::Present(iss) = claims::string(&m, "iss") else {
        return Err(missing("iss"));
    };
    let iat = match claims::date(&m, "iat") {
        Claim::Present(t) => t,
        Claim::Missing => return Err(missing("iat")),
        Claim::Invalid => return Err(meta("The 'iat' claim value is invalid.")),
    };
    let exp = match claims::date(&m, "exp") {
        Claim::Present(t) => t,
        Claim::Missing => return Err(missing("exp")),
        Claim::Invalid => return Err(meta("The 'exp' claim value is invalid.")),
    };
    let jti = match claims::string(&m, "jti") {
        Claim::Present(s) => s,
        Claim::Missing => return Err(missing("jti")),
        Claim::Invalid => return Err(meta("The 'jti' claim value must be a string.")),
    };
    if !m.contains_key("aud") {
        return Err(missing("aud"));
    }

    if !iss.eq_ignore_ascii_case(&ssa.software_id) {
        return Err(meta(format!(
            "The 'iss' claim value must be set to '{}'.",
            printable(&ssa.software_id)
        )));
    }
    if !claims::aud_contains(m.get("aud"), &[policy.issuer.as_str()]) {
        return Err(meta(format!(
            "The 'aud' claim value must be set to '{}'.",
            printable(&policy.issuer)
        )));
    }
    if now >= exp.saturating_add(skew) {
        return Err(meta("The registration request has expired."));
    }
    if iat > now.saturating_add(skew) {
        return Err(meta("The 'iat' claim value must not be in the future."));
    }
    match claims::date(&m, "nbf") {
        Claim::Present(nbf) if nbf > now.saturating_add(skew) => {
            return Err(meta("The registration request is not yet valid."));
        }
        Claim::Invalid => return Err(meta("The 'nbf' claim value is invalid.")),
        _ => {}
    }
    if exp <= iat {
        return Err(meta(
            "The 'exp' claim value must be after the 'iat' claim value.",
        ));
    }
    if exp
        .checked_sub(iat)
        .is_none_or(|lifetime| lifetime > policy.max_request_lifetime_secs)
    {
        return Err(meta(format!(
            "The registration request lifetime ('exp' - 'iat') must not exceed {} seconds.",
            policy.max_request_lifetime_secs
        )));
    }
    if jti.chars().count() > 255 {
        return Err(meta(
            "The 'jti' claim value must not exceed 255 characters.",
        ));
    }

    Ok(VerifiedRequest {
        kid,
        jti: jti.to_owned(),
        iat,
        exp,
        claims: m,
    })
}
