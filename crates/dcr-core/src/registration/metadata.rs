//! The client metadata: validated against the SSA and the policy (docs/dcr-rules.md §6 rows 11
//! and 13 to 25), stored, and answered (§7).

use super::*;

/// Everything stored for a registered client: the validated request metadata plus the SSA-derived
/// values. Serialised as JSON by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// SSA `software_id`.
    pub software_id: String,
    /// SSA `software_roles`.
    pub software_roles: String,
    /// SSA `org_id` (brand id).
    pub org_id: String,
    /// SSA `org_name`.
    pub org_name: String,
    /// SSA `legal_entity_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_entity_id: Option<String>,
    /// SSA `legal_entity_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_entity_name: Option<String>,
    /// SSA `client_name`.
    pub client_name: String,
    /// SSA `client_description`.
    pub client_description: String,
    /// SSA `client_uri`.
    pub client_uri: String,
    /// Registered redirect URIs (request subset of, or else, the SSA's).
    pub redirect_uris: Vec<String>,
    /// SSA `sector_identifier_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// SSA `logo_uri`.
    pub logo_uri: String,
    /// SSA `tos_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// SSA `policy_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// SSA `jwks_uri` (verifies client assertions).
    pub jwks_uri: String,
    /// SSA `revocation_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_uri: Option<String>,
    /// SSA `recipient_base_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_base_uri: Option<String>,
    /// `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// Client assertion algorithm.
    pub token_endpoint_auth_signing_alg: Alg,
    /// Registered grant types.
    pub grant_types: Vec<String>,
    /// Registered response types (`["code"]`).
    pub response_types: Vec<String>,
    /// `web`.
    pub application_type: String,
    /// ID token signing algorithm.
    pub id_token_signed_response_alg: Alg,
    /// JARM signing algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<Alg>,
    /// Request object signing algorithm (requested or default).
    pub request_object_signing_alg: Alg,
    /// The SSA, verbatim.
    pub software_statement: String,
    /// SSA scopes this Data Holder supports, space-separated, in SSA order.
    pub scope: String,
}

pub(crate) fn alg_claim(
    m: &Map<String, Value>,
    name: &str,
    policy: &RegistrationPolicy,
    required: bool,
) -> Result<Option<Alg>, RegistrationError> {
    // An empty string is as good as absent (as the ACCC reference treats it).
    let value = m
        .get(name)
        .filter(|v| !v.is_null() && v.as_str() != Some(""));
    match value {
        None if required => Err(missing(name)),
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(Alg::parse)
            .filter(|a| policy.signing_algs.contains(a))
            .map(Some)
            .ok_or_else(|| one_of(name, &policy.algs_list())),
    }
}

/// A string-or-array claim as a list of strings; `Err(())` when ill-typed.
pub(crate) fn string_list(v: &Value) -> Result<Vec<&str>, ()> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().ok_or(())).collect(),
        _ => Err(()),
    }
}

pub(crate) fn dedup(list: Vec<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// The request's `redirect_uris` (each one of the SSA's; docs/dcr-rules.md §6 row 23), for the
/// `sector_identifier_uri` check (row 11), which comes before the other metadata rules.
///
/// # Errors
/// `invalid_redirect_uri` as in [`validate_metadata`].
pub fn requested_redirect_uris(
    req: &VerifiedRequest,
    ssa: &VerifiedSsa,
) -> Result<Vec<String>, RegistrationError> {
    redirect_uris(req.claims(), ssa)
}

pub(crate) fn redirect_uris(
    m: &Map<String, Value>,
    ssa: &VerifiedSsa,
) -> Result<Vec<String>, RegistrationError> {
    let requested = match m.get("redirect_uris") {
        None | Some(Value::Null) => return Ok(ssa.redirect_uris.clone()),
        Some(Value::Array(a)) if a.is_empty() => return Ok(ssa.redirect_uris.clone()),
        Some(v) => string_list(v).map_err(|()| {
            RegistrationError::invalid_redirect_uri(
                "The 'redirect_uris' claim value must be an array of strings.",
            )
        })?,
    };
    for uri in &requested {
        let absolute = url::Url::parse(uri).is_ok();
        if !absolute || !ssa.redirect_uris.iter().any(|s| s == uri) {
            return Err(RegistrationError::invalid_redirect_uri(format!(
                "ERR-DCR-003: The redirect_uri '{}' is not valid as it is not included in the software_statement",
                printable(uri)
            )));
        }
    }
    Ok(dedup(requested))
}

/// SSA scopes that `supported` contains, in SSA order, without duplicates (docs/dcr-rules.md §6 row 25: never
/// an error).
#[must_use]
pub fn filter_scopes(ssa_scope: &str, supported: &[String]) -> String {
    let kept: Vec<&str> = ssa_scope
        .split_ascii_whitespace()
        .filter(|s| supported.iter().any(|x| x == s))
        .collect();
    dedup(kept).join(" ")
}

/// Validates the client metadata of a verified request against the SSA and the policy (docs/dcr-rules.md §6
/// rows 13-23, 25) and builds what is to be stored.
///
/// A redirect URI problem (row 23) is reported before any other metadata problem, as ACCC does;
/// otherwise the first failing rule in spec order is reported.
///
/// # Errors
/// `invalid_redirect_uri` or `invalid_client_metadata`.
pub fn validate_metadata(
    req: &VerifiedRequest,
    ssa: &VerifiedSsa,
    policy: &RegistrationPolicy,
) -> Result<ClientMetadata, RegistrationError> {
    let m = req.claims();
    let redirect_uris = redirect_uris(m, ssa)?;

    // Row 13.
    let token_endpoint_auth_signing_alg =
        alg_claim(m, "token_endpoint_auth_signing_alg", policy, true)?
            .ok_or_else(|| missing("token_endpoint_auth_signing_alg"))?;
    // Row 14.
    match m.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => return Err(missing("token_endpoint_auth_method")),
        Some(v) if v.as_str() == Some(TOKEN_ENDPOINT_AUTH_METHOD) => {}
        Some(_) => {
            return Err(one_of(
                "token_endpoint_auth_method",
                TOKEN_ENDPOINT_AUTH_METHOD,
            ))
        }
    }
    // Row 15.
    let id_token_signed_response_alg = alg_claim(m, "id_token_signed_response_alg", policy, true)?
        .ok_or_else(|| missing("id_token_signed_response_alg"))?;
    // Row 16.
    let grant_types = match m.get("grant_types") {
        None | Some(Value::Null) => return Err(missing("grant_types")),
        Some(v) => {
            let unsupported = || one_of("grant_types", &SUPPORTED_GRANT_TYPES.join(","));
            let list = string_list(v).map_err(|()| unsupported())?;
            // The missing `authorization_code` is named first (as the ACCC reference does).
            if !list.contains(&"authorization_code") {
                return Err(meta(
                    "The 'grant_types' claim value must contain the 'authorization_code' value.",
                ));
            }
            if !list.iter().all(|g| SUPPORTED_GRANT_TYPES.contains(g)) {
                return Err(unsupported());
            }
            dedup(list)
        }
    };
    // Row 17.
    let request_object_signing_alg = alg_claim(m, "request_object_signing_alg", policy, false)?
        .unwrap_or_else(|| policy.default_alg());
    // Row 18.
    let response_types = match m.get("response_types") {
        None | Some(Value::Null) => return Err(missing("response_types")),
        Some(v) => {
            let list = string_list(v)
                .ok()
                .filter(|l| !l.is_empty() && l.iter().all(|r| SUPPORTED_RESPONSE_TYPES.contains(r)))
                .ok_or_else(|| one_of("response_types", &SUPPORTED_RESPONSE_TYPES.join(",")))?;
            dedup(list)
        }
    };
    // Row 19.
    let authorization_signed_response_alg = if response_types.iter().any(|r| r == "code") {
        let required = policy.require_authorization_signed_response_alg;
        Some(
            alg_claim(m, "authorization_signed_response_alg", policy, required)?
                .unwrap_or_else(|| policy.default_alg()),
        )
    } else {
        alg_claim(m, "authorization_signed_response_alg", policy, false)?
    };
    // Row 20: validated, then not persisted (no JARM encryption).
    let enc_alg = m
        .get("authorization_encrypted_response_alg")
        .filter(|v| !v.is_null());
    let enc_enc = m
        .get("authorization_encrypted_response_enc")
        .filter(|v| !v.is_null());
    if let Some(enc) = enc_enc {
        if !enc
            .as_str()
            .is_some_and(|e| AUTHORIZATION_ENCRYPTION_ENCS.contains(&e))
        {
            return Err(one_of(
                "authorization_encrypted_response_enc",
                &AUTHORIZATION_ENCRYPTION_ENCS.join(","),
            ));
        }
        if enc_alg.is_none() {
            return Err(missing("authorization_encrypted_response_alg"));
        }
    }
    if let Some(alg) = enc_alg {
        if !alg
            .as_str()
            .is_some_and(|a| AUTHORIZATION_ENCRYPTION_ALGS.contains(&a))
        {
            return Err(one_of(
                "authorization_encrypted_response_alg",
                &AUTHORIZATION_ENCRYPTION_ALGS.join(","),
            ));
        }
    }
    // Row 21 does not apply: Hybrid (`code id_token`) was rejected at row 18, so the
    // `id_token_encrypted_response_*` claims are ignored.
    // Row 22.
    match m.get("application_type") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_str() == Some(APPLICATION_TYPE) => {}
        Some(_) => {
            return Err(meta(
                "The 'application_type' claim value must be set to 'web'.",
            ))
        }
    }

    Ok(ClientMetadata {
        software_id: ssa.software_id.clone(),
        software_roles: ssa.software_roles.clone(),
        org_id: ssa.org_id.clone(),
        org_name: ssa.org_name.clone(),
        legal_entity_id: ssa.legal_entity_id.clone(),
        legal_entity_name: ssa.legal_entity_name.clone(),
        client_name: ssa.client_name.clone(),
        client_description: ssa.client_description.clone(),
        client_uri: ssa.client_uri.clone(),
        redirect_uris,
        sector_identifier_uri: ssa.sector_identifier_uri.clone(),
        logo_uri: ssa.logo_uri.clone(),
        tos_uri: ssa.tos_uri.clone(),
        policy_uri: ssa.policy_uri.clone(),
        jwks_uri: ssa.jwks_uri.clone(),
        revocation_uri: ssa.revocation_uri.clone(),
        recipient_base_uri: ssa.recipient_base_uri.clone(),
        token_endpoint_auth_method: TOKEN_ENDPOINT_AUTH_METHOD.to_owned(),
        token_endpoint_auth_signing_alg,
        grant_types,
        response_types,
        application_type: APPLICATION_TYPE.to_owned(),
        id_token_signed_response_alg,
        authorization_signed_response_alg,
        request_object_signing_alg,
        software_statement: ssa.jwt.clone(),
        scope: filter_scopes(&ssa.scope, &policy.supported_scopes),
    })
}

/// The RFC 7591 §3.2.1 / CDS `RegistrationProperties` body for a stored client: every registered
/// value, `software_statement` verbatim, absent optional values omitted (not `null`).
#[must_use]
pub fn registration_response(
    client_id: &str,
    client_id_issued_at: UnixTime,
    meta: &ClientMetadata,
) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    let s = |v: &str| Value::String(v.to_owned());
    let list = |v: &[String]| Value::Array(v.iter().map(|x| Value::String(x.clone())).collect());
    put("client_id", s(client_id));
    put("client_id_issued_at", Value::from(client_id_issued_at));
    put("client_name", s(&meta.client_name));
    put("client_description", s(&meta.client_description));
    put("client_uri", s(&meta.client_uri));
    put("org_id", s(&meta.org_id));
    put("org_name", s(&meta.org_name));
    put("redirect_uris", list(&meta.redirect_uris));
    put("logo_uri", s(&meta.logo_uri));
    put("jwks_uri", s(&meta.jwks_uri));
    put(
        "token_endpoint_auth_method",
        s(&meta.token_endpoint_auth_method),
    );
    put(
        "token_endpoint_auth_signing_alg",
        s(meta.token_endpoint_auth_signing_alg.as_str()),
    );
    put("grant_types", list(&meta.grant_types));
    put("response_types", list(&meta.response_types));
    put("application_type", s(&meta.application_type));
    put(
        "id_token_signed_response_alg",
        s(meta.id_token_signed_response_alg.as_str()),
    );
    put(
        "request_object_signing_alg",
        s(meta.request_object_signing_alg.as_str()),
    );
    put("software_statement", s(&meta.software_statement));
    put("software_id", s(&meta.software_id));
    put("software_roles", s(&meta.software_roles));
    put("scope", s(&meta.scope));
    let optional = [
        ("legal_entity_id", meta.legal_entity_id.as_deref()),
        ("legal_entity_name", meta.legal_entity_name.as_deref()),
        (
            "sector_identifier_uri",
            meta.sector_identifier_uri.as_deref(),
        ),
        ("tos_uri", meta.tos_uri.as_deref()),
        ("policy_uri", meta.policy_uri.as_deref()),
        ("revocation_uri", meta.revocation_uri.as_deref()),
        ("recipient_base_uri", meta.recipient_base_uri.as_deref()),
        (
            "authorization_signed_response_alg",
            meta.authorization_signed_response_alg.map(Alg::as_str),
        ),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            put(k, s(v));
        }
    }
    Value::Object(out)
}

/// Checks a fetched `sector_identifier_uri` document (OIDC Registration §5: a JSON array of
/// URIs) contains every registered redirect URI (docs/dcr-rules.md §6 row 11).
///
/// # Errors
/// `invalid_client_metadata` `"ERR-DCR-007: Invalid sector_identifier_uri"` (the ACCC text).
pub fn check_sector_identifier(
    doc: &[u8],
    redirect_uris: &[String],
) -> Result<(), RegistrationError> {
    let invalid = || meta("ERR-DCR-007: Invalid sector_identifier_uri");
    let listed: Vec<String> = serde_json::from_slice(doc).map_err(|_| invalid())?;
    if redirect_uris.iter().all(|r| listed.contains(r)) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// PUT rule (docs/dcr-rules.md §7, §13 A8): the new SSA must be for the same software product and brand.
/// `legal_entity_*` may change (GH-SM-679).
///
/// # Errors
/// `invalid_client_metadata` when `software_id` (case-insensitive) or `org_id` differ.
pub fn check_update_allowed(
    existing: &ClientMetadata,
    new: &ClientMetadata,
) -> Result<(), RegistrationError> {
    if !existing.software_id.eq_ignore_ascii_case(&new.software_id) {
        return Err(meta(
            "The software_id of the software statement does not match the registration.",
        ));
    }
    if !existing.org_id.eq_ignore_ascii_case(&new.org_id) {
        return Err(meta(
            "The org_id of the software statement does not match the registration.",
        ));
    }
    Ok(())
}
