//! The client metadata sent to the downstream (RFC 7591 §2), built from the registration as
//! stored: what the downstream needs for the recipient's software product to work there with
//! the keys, certificate and redirect URIs it registered here.
//!
//! | sent | from |
//! |---|---|
//! | `client_id` | ours (policy `ours`, RFC 7591 §3.1 lets a server accept it; RFC 7592 §2.2 requires it in updates) |
//! | `client_name`, `jwks_uri`, `redirect_uris`, `grant_types`, `response_types`, `scope`, `software_id` | the registration |
//! | `token_endpoint_auth_method` | `private_key_jwt`, the only one CDR allows |
//! | `token_endpoint_auth_signing_alg`, `id_token_signed_response_alg`, `request_object_signing_alg` | the registration |
//! | `tls_client_certificate_bound_access_tokens` | `true` (RFC 8705; CDR requires certificate-bound tokens) |
//!
//! Not sent: the SSA (the downstream does not verify it; we did), our own bookkeeping, and
//! `registration_access_token` or `registration_client_uri` (RFC 7592 §2.2 forbids them in an
//! update). A disabled client keeps its metadata with no grant types, response types or
//! redirect URIs, so it can obtain no token (RFC 7592 has no "disabled" state).

use dcr_core::registration::ClientMetadata;
use dcr_store::Registration;
use serde_json::{json, Value};

/// The metadata of `reg` for the downstream, with `client_id` when given; `disabled` empties
/// its grant types, response types and redirect URIs.
///
/// # Errors
/// The stored metadata cannot be read as registered metadata.
pub fn client_metadata(
    reg: &Registration,
    client_id: Option<&str>,
    disabled: bool,
) -> Result<Value, String> {
    let meta: ClientMetadata = reg.metadata.to().map_err(|e| e.to_string())?;
    let empty: &[String] = &[];
    let (grant_types, response_types, redirect_uris) = if disabled {
        (empty, empty, empty)
    } else {
        (
            meta.grant_types.as_slice(),
            meta.response_types.as_slice(),
            meta.redirect_uris.as_slice(),
        )
    };
    let mut body = json!({
        "client_name": meta.client_name,
        "jwks_uri": meta.jwks_uri,
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": meta.token_endpoint_auth_signing_alg.as_str(),
        "tls_client_certificate_bound_access_tokens": true,
        "id_token_signed_response_alg": meta.id_token_signed_response_alg.as_str(),
        "request_object_signing_alg": meta.request_object_signing_alg.as_str(),
        "scope": meta.scope,
        "software_id": meta.software_id,
    });
    if let (Some(id), Some(map)) = (client_id, body.as_object_mut()) {
        map.insert("client_id".into(), Value::String(id.to_string()));
    }
    Ok(body)
}
