//! Client authentication of the token endpoint and of CDR arrangement revocation, as an axum
//! extractor ([`ClientAuthorization`]): the endpoint's rate limit, the mutual-TLS client
//! certificate, and the form with the client's `private_key_jwt` assertion (RFC 7523; CDS "Client
//! Authentication"; docs/dcr-rules.md §10). The extractor reads and bounds the request; the
//! handler then verifies the assertion with [`ClientAuthorization::authenticate`], which needs
//! the registration and the client's keys.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use dcr_core::token::{
    assertion_client_id, decode_form, verify_client_assertion, AssertionTimes, TokenError,
    TokenRequest,
};
use dcr_store::{Registration, RegistrationStatus, StoreError};

use super::auth::{AuthError, Caller, ClientCert, Limited, RateLimit};
use super::{header_kid, ApiError, CappedBody};
use crate::jwks::Verified;
use crate::state::AppState;

/// An endpoint that authenticates its client by `private_key_jwt`.
pub trait ClientEndpoint: Limited {
    /// Its path below the issuer; the assertion's `aud` may be the issuer or this URL.
    const PATH: &'static str;
}

impl ClientEndpoint for super::auth::limited::Token {
    const PATH: &'static str = super::routes::TOKEN;
}

impl ClientEndpoint for super::auth::limited::Arrangement {
    const PATH: &'static str = super::routes::ARRANGEMENT_REVOKE;
}

/// Why a client is refused at an endpoint that authenticates by `private_key_jwt`.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// The endpoint's rate limit: 429.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request or the client authentication breaks a rule: 400 with the RFC 6749 §5.2 code.
    #[error("{}", .0.description)]
    Refused(#[from] TokenError),
    /// The body could not be read or is too large: the [`CappedBody`] answer.
    #[error("the request body was refused")]
    Body(ApiError),
    /// The store failed: 503.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        // RFC 6749 §5.2 allows 400 for invalid_client when no Authorization header was used;
        // the ACCC reference answers 400 for every client-assertion failure.
        ApiError::new(
            StatusCode::BAD_REQUEST,
            e.code.as_str(),
            e.description.into_owned(),
        )
    }
}

impl From<ClientAuthError> for ApiError {
    fn from(e: ClientAuthError) -> Self {
        match e {
            ClientAuthError::Auth(e) => e.into(),
            ClientAuthError::Refused(e) => e.into(),
            ClientAuthError::Body(e) => e,
            ClientAuthError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ClientAuthError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// A client's request to endpoint `E`: within the rate limit, over mutual TLS, a form of at most
/// [`MAX_FORM_PAIRS`](dcr_core::token::MAX_FORM_PAIRS) parameters, decoded by
/// [`decode_form`]. The client is not authenticated yet: that is
/// [`ClientAuthorization::authenticate`].
pub struct ClientAuthorization<E> {
    /// The client certificate the access token will be bound to.
    pub cert: ClientCert,
    /// The form's parameters in order, decoded.
    pub form: Vec<(String, String)>,
    endpoint: PhantomData<E>,
}

impl<E: ClientEndpoint> FromRequest<AppState> for ClientAuthorization<E> {
    type Rejection = ClientAuthError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ClientAuthError> {
        let (mut parts, body) = req.into_parts();
        RateLimit::<E>::from_request_parts(&mut parts, state).await?;
        let Ok(caller) = Caller::from_request_parts(&mut parts, state).await;
        let cert = caller.cert.ok_or_else(|| {
            TokenError::invalid_client("A client certificate is required: connect with mutual TLS.")
        })?;
        let form_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(TokenError::invalid_request(
                "The request must be application/x-www-form-urlencoded.",
            )
            .into());
        }
        let CappedBody(body) = CappedBody::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(ClientAuthError::Body)?;
        Ok(Self {
            cert,
            form: decode_form(&body)?,
            endpoint: PhantomData,
        })
    }
}

/// An authenticated client: its id and its active registration.
pub struct AuthenticatedClient {
    /// The client id.
    pub client_id: String,
    /// Its registration.
    pub registration: Registration,
}

impl<E: ClientEndpoint> ClientAuthorization<E> {
    /// The values of parameter `name`, in order (at most one: repeats are refused).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.form
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Authenticates the client of `req` by `private_key_jwt`: the assertion verified with a key
    /// from the client's registered `jwks_uri` (refetched once on an unknown `kid`), its `aud` the
    /// issuer or this endpoint's URL, signed with the algorithm the client registered, its `jti`
    /// used once.
    ///
    /// # Errors
    /// `invalid_client` and the other RFC 6749 §5.2 refusals, or the store's failure.
    pub async fn authenticate(
        &self,
        state: &AppState,
        req: &TokenRequest,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let client_id = assertion_client_id(req)?;
        tracing::Span::current().record("client_id", client_id.as_str());
        let registration = state
            .store
            .get_registration(&client_id)
            .await?
            .filter(|r| r.status == RegistrationStatus::Active)
            .ok_or_else(TokenError::client_not_found)?;
        let now = state.clock.now();
        let issuer = state.config.issuer_str();
        let endpoint = format!("{issuer}{}", E::PATH);
        let audiences = [issuer, endpoint];
        let skew = state.config.clock_skew_secs;
        let times = AssertionTimes {
            skew,
            max_lifetime: state.config.max_assertion_lifetime_secs,
        };
        let assertion = state
            .jwks
            .verify_refetching(
                &registration.jwks_uri,
                || header_kid(&req.client_assertion),
                |keys| verify_client_assertion(req, &client_id, keys, &audiences, now, times),
                TokenError::is_unknown_kid,
            )
            .await
            .map_err(|e| match e {
                Verified::Keys(e) => {
                    tracing::info!(error = %e, "client JWKS unavailable");
                    TokenError::invalid_client(
                        "Could not load the client's JWKS to verify the client assertion.",
                    )
                }
                Verified::Invalid(e) => e,
            })?;
        // The assertion is signed with the algorithm the client registered (OpenID Connect
        // Dynamic Client Registration §2, `token_endpoint_auth_signing_alg`).
        let alg = dcr_core::jose::decode_header(&req.client_assertion)
            .map(|h| h.alg)
            .unwrap_or_default();
        if registered_auth_alg(&registration.metadata).is_some_and(|registered| registered != alg) {
            return Err(TokenError::invalid_client(
                "Invalid client_assertion - not signed with the registered token_endpoint_auth_signing_alg",
            )
            .into());
        }
        let fresh = state
            .store
            .use_jti(
                &format!("ca:{client_id}:{}", assertion.jti),
                assertion.exp.max(now).saturating_add(skew),
            )
            .await?;
        if !fresh {
            return Err(TokenError::replayed_jti().into());
        }
        Ok(AuthenticatedClient {
            client_id,
            registration,
        })
    }
}

/// The `token_endpoint_auth_signing_alg` of a stored registration's metadata (read without
/// building the whole object).
fn registered_auth_alg(metadata: &dcr_store::Metadata) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct AuthAlg {
        token_endpoint_auth_signing_alg: Option<String>,
    }
    metadata
        .to::<AuthAlg>()
        .ok()
        .and_then(|m| m.token_endpoint_auth_signing_alg)
}
