//! The generic connector: RFC 7591 client registration at the downstream authorization server
//! with a bearer token (§3, "protected registration": an initial access token, or one of the
//! client credentials grant at its token endpoint, [`client_credentials`]), and RFC 7592 read,
//! update and delete of the client with the registration access token at the
//! `registration_client_uri` the downstream returned (§2).
//!
//! The downstream is the operator's configuration, not a recipient's choice: no address guard
//! (unlike [`crate::outbound::Outbound::get_untrusted`]), and its certificate chains to
//! `provisioning.ca` when configured (else the public roots). Like every outbound call: a
//! timeout, no redirects (a redirect would carry a bearer token elsewhere), and a size cap on
//! answers.
//!
//! # Security
//! The initial access token, the client secret, the access token it buys and the registration
//! access tokens go in the `Authorization` header only: no error message, log line or `Debug`
//! output contains them.

mod client_credentials;

use std::sync::Arc;

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use self::client_credentials::TokenSource;
use crate::config::{InitialAccessToken, ProvisioningConfig, RegistrationAuth};
use crate::outbound::{read_body_capped, FetchError};

/// Largest answer read from the downstream.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a call to the downstream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownstreamError {
    /// No answer: connection refused, TLS failure, timeout.
    #[error("{operation}: the authorization server could not be reached: {detail}")]
    Unreachable {
        /// What was attempted.
        operation: &'static str,
        /// The transport's reason.
        detail: String,
    },
    /// An answer that is not a success.
    #[error("{operation}: the authorization server answered {status}{}", describe(.error.as_deref(), .description.as_deref()))]
    Refused {
        /// What was attempted.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, if the body had one.
        error: Option<String>,
        /// Its `error_description`.
        description: Option<String>,
        /// `Retry-After` in seconds, if given.
        retry_after: Option<u64>,
    },
    /// A success whose body is not what RFC 7591/7592 says it is.
    #[error("{operation}: the authorization server's answer is unusable: {detail}")]
    BadAnswer {
        /// What was attempted.
        operation: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

fn describe(error: Option<&str>, description: Option<&str>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(" {e}: {d}"),
        (Some(e), None) => format!(" {e}"),
        _ => String::new(),
    }
}

impl DownstreamError {
    /// Whether trying again later may succeed: no answer, a 5xx, or 429 (RFC 6585). Other
    /// refusals (4xx) are the downstream's decision about this request, and answers it could
    /// not read are a mismatch of configuration: neither changes by waiting.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => *status >= 500 || *status == 429,
            Self::BadAnswer { .. } => false,
        }
    }

    /// The downstream's `Retry-After`, if it gave one.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The downstream refused the client's metadata with an RFC 7591 §3.2.2 code
    /// (`invalid_client_metadata`, `invalid_redirect_uri`): its code and description.
    #[must_use]
    pub fn metadata_refusal(&self) -> Option<(&str, &str)> {
        match self {
            Self::Refused {
                status: 400,
                error: Some(code),
                description,
                ..
            } if code == "invalid_client_metadata" || code == "invalid_redirect_uri" => {
                Some((code.as_str(), description.as_deref().unwrap_or_default()))
            }
            _ => None,
        }
    }

    /// Whether the client is not (or no longer) there: 404, or 401 on a registration access
    /// token the downstream no longer knows (RFC 7592 §2: a server may answer 401 for a client
    /// that does not exist, so as not to say whether it did). A refusal of the token endpoint
    /// says nothing about the client.
    #[must_use]
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                operation,
                status: 401 | 404,
                ..
            } if *operation != client_credentials::OP
        )
    }
}

/// A client as the downstream answered its creation (RFC 7591 §3.2.1).
#[derive(Clone, PartialEq, Eq)]
pub struct DownstreamClient {
    /// The client_id it knows the client by.
    pub client_id: String,
    /// Where the client is managed (RFC 7592 §3).
    pub registration_client_uri: String,
    /// The credential that manages it. Never logged: `Debug` redacts it.
    pub registration_access_token: String,
}

impl std::fmt::Debug for DownstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownstreamClient")
            .field("client_id", &self.client_id)
            .field("registration_client_uri", &self.registration_client_uri)
            .field("registration_access_token", &"REDACTED")
            .finish()
    }
}

/// The bearer token of the registration endpoint.
#[derive(Clone)]
enum Authorization {
    InitialAccessToken(InitialAccessToken),
    /// Shared by the connector's clones, and so is the token it holds.
    ClientCredentials(Arc<TokenSource>),
}

/// The RFC 7591/7592 client of one downstream registration endpoint.
#[derive(Clone)]
pub struct Connector {
    http: reqwest::Client,
    endpoint: Url,
    authorization: Authorization,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// The connector of `[provisioning]`.
    ///
    /// # Errors
    /// An unreadable CA file, or a TLS configuration failure.
    pub fn new(config: &ProvisioningConfig) -> anyhow::Result<Self> {
        let http = crate::tls::https_client(
            config.ca.as_deref(),
            config.timeout,
            "downstream authorization server",
        )?;
        Ok(Self {
            http,
            endpoint: config.registration_endpoint.clone(),
            authorization: match &config.auth {
                RegistrationAuth::InitialAccessToken { token, .. } => {
                    Authorization::InitialAccessToken(token.clone())
                }
                RegistrationAuth::ClientCredentials(client) => {
                    Authorization::ClientCredentials(Arc::new(TokenSource::new(client.clone())))
                }
            },
        })
    }

    /// Creates a client (RFC 7591 §3.1) with the initial access token, or with the access
    /// token of the client credentials grant.
    ///
    /// # Errors
    /// See [`DownstreamError`]; an answer without `client_id`, `registration_client_uri` (an
    /// https URL) or `registration_access_token` is [`DownstreamError::BadAnswer`]; a failure
    /// of the token endpoint is one of operation `token request`.
    pub async fn create(&self, metadata: &Value) -> Result<DownstreamClient, DownstreamError> {
        const OP: &str = "client registration";
        let post = |bearer: &str| {
            self.http
                .post(self.endpoint.clone())
                .bearer_auth(bearer)
                .json(metadata)
        };
        let (status, body) = match &self.authorization {
            Authorization::InitialAccessToken(token) => send(OP, post(token.expose())).await?,
            Authorization::ClientCredentials(source) => {
                let (token, fetched) = source.token(&self.http).await?;
                match send(OP, post(token.expose())).await {
                    // A token held from before that the endpoint no longer takes: one new
                    // token, one more try (a 401 created nothing). A token fetched just now and
                    // refused is the downstream's configuration, not staleness.
                    Err(DownstreamError::Refused { status: 401, .. }) if !fetched => {
                        tracing::info!(
                            "provisioning: the registration endpoint refused the access token \
                             held; fetching another"
                        );
                        source.forget(&token).await;
                        let (token, _) = source.token(&self.http).await?;
                        send(OP, post(token.expose())).await?
                    }
                    answer => answer?,
                }
            }
        };
        if status != StatusCode::CREATED && status != StatusCode::OK {
            return Err(bad(OP, format!("status {status} instead of 201")));
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|e| bad(OP, e.to_string()))?;
        let text = |name: &str| {
            answer[name]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| bad(OP, format!("no {name}")))
        };
        let client = DownstreamClient {
            client_id: text("client_id")?,
            registration_client_uri: text("registration_client_uri")?,
            registration_access_token: text("registration_access_token")?,
        };
        match Url::parse(&client.registration_client_uri) {
            Ok(u) if u.scheme() == "https" => Ok(client),
            _ => Err(bad(
                OP,
                "the registration_client_uri is not an https URL".into(),
            )),
        }
    }

    /// Replaces the client's metadata (RFC 7592 §2.2): `metadata` must carry its `client_id`
    /// and no `registration_access_token` or `registration_client_uri`. Answers the new
    /// registration access token when the downstream issued one (RFC 7592 §2.2 lets it rotate
    /// the token at each update, and Keycloak does): the old one no longer works then.
    ///
    /// # Errors
    /// See [`DownstreamError`].
    pub async fn update(
        &self,
        registration_client_uri: &str,
        registration_access_token: &str,
        metadata: &Value,
    ) -> Result<Option<String>, DownstreamError> {
        const OP: &str = "client update";
        let url = management_url(OP, registration_client_uri)?;
        let req = self
            .http
            .put(url)
            .bearer_auth(registration_access_token)
            .json(metadata);
        let (_, body) = send(OP, req).await?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(answer["registration_access_token"]
            .as_str()
            .filter(|t| !t.is_empty() && *t != registration_access_token)
            .map(str::to_string))
    }

    /// Deletes the client (RFC 7592 §2.3).
    ///
    /// # Errors
    /// See [`DownstreamError`].
    pub async fn delete(
        &self,
        registration_client_uri: &str,
        registration_access_token: &str,
    ) -> Result<(), DownstreamError> {
        const OP: &str = "client deletion";
        let url = management_url(OP, registration_client_uri)?;
        let req = self.http.delete(url).bearer_auth(registration_access_token);
        send(OP, req).await.map(|_| ())
    }

    /// Reads the client's metadata (RFC 7592 §2.1).
    ///
    /// # Errors
    /// See [`DownstreamError`].
    pub async fn read(
        &self,
        registration_client_uri: &str,
        registration_access_token: &str,
    ) -> Result<Value, DownstreamError> {
        const OP: &str = "client read";
        let url = management_url(OP, registration_client_uri)?;
        let req = self.http.get(url).bearer_auth(registration_access_token);
        let (_, body) = send(OP, req).await?;
        serde_json::from_slice(&body).map_err(|e| bad(OP, e.to_string()))
    }
}

fn bad(operation: &'static str, detail: String) -> DownstreamError {
    DownstreamError::BadAnswer { operation, detail }
}

fn management_url(operation: &'static str, uri: &str) -> Result<Url, DownstreamError> {
    match Url::parse(uri) {
        Ok(u) if u.scheme() == "https" => Ok(u),
        _ => Err(bad(
            operation,
            "the stored registration_client_uri is not an https URL".into(),
        )),
    }
}

/// Sends a request and reads its answer (capped); a refusal keeps the answer's `Retry-After`.
async fn send(
    operation: &'static str,
    req: reqwest::RequestBuilder,
) -> Result<(StatusCode, bytes::Bytes), DownstreamError> {
    let res = req
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| DownstreamError::Unreachable {
            operation,
            detail: e.without_url().to_string(),
        })?;
    let status = res.status();
    let headers = res.headers().clone();
    let body = read_body_capped(res, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| match e {
            FetchError::TooLarge(max) => bad(operation, format!("larger than {max} bytes")),
            other => DownstreamError::Unreachable {
                operation,
                detail: other.to_string(),
            },
        })?;
    if !status.is_success() {
        return Err(refused(operation, status, &headers, &body));
    }
    if !body.is_empty()
        && headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.to_ascii_lowercase().contains("json"))
    {
        return Err(bad(operation, "the answer is not JSON".into()));
    }
    Ok((status, body))
}

/// A refusal, with the OAuth error of its body when it has one (RFC 7591 §3.2.2).
fn refused(
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> DownstreamError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[name].as_str())
            .map(dcr_core::jose::printable)
    };
    DownstreamError::Refused {
        operation,
        status: status.as_u16(),
        error: field("error"),
        description: field("error_description"),
        retry_after: headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, error: Option<&str>) -> DownstreamError {
        DownstreamError::Refused {
            operation: "client registration",
            status,
            error: error.map(str::to_string),
            description: Some("scope must only contain supported values".into()),
            retry_after: None,
        }
    }

    #[test]
    fn only_unreachable_5xx_and_429_are_retried() {
        let unreachable = DownstreamError::Unreachable {
            operation: "client registration",
            detail: "connection refused".into(),
        };
        assert!(unreachable.is_retryable());
        for status in [500, 502, 503, 504, 429] {
            assert!(refusal(status, None).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 413] {
            assert!(!refusal(status, None).is_retryable(), "{status}");
        }
        assert!(!bad("client registration", "no client_id".into()).is_retryable());
    }

    #[test]
    fn a_refusal_of_the_metadata_keeps_its_rfc_7591_code() {
        let e = refusal(400, Some("invalid_client_metadata"));
        assert_eq!(
            e.metadata_refusal(),
            Some((
                "invalid_client_metadata",
                "scope must only contain supported values"
            ))
        );
        assert_eq!(
            e.to_string(),
            "client registration: the authorization server answered 400 invalid_client_metadata: \
             scope must only contain supported values"
        );
        assert_eq!(
            refusal(400, Some("invalid_request")).metadata_refusal(),
            None
        );
        assert_eq!(refusal(401, Some("invalid_token")).metadata_refusal(), None);
        assert!(refusal(401, Some("invalid_token")).is_gone());
        assert!(refusal(404, None).is_gone());
        assert!(!refusal(400, None).is_gone());
        let token_refused = DownstreamError::Refused {
            operation: client_credentials::OP,
            status: 401,
            error: Some("invalid_client".into()),
            description: None,
            retry_after: None,
        };
        assert!(!token_refused.is_gone(), "says nothing about the client");
        assert!(!token_refused.is_retryable());
    }

    #[test]
    fn a_refusal_reads_the_oauth_error_and_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        let e = refused(
            "client update",
            StatusCode::SERVICE_UNAVAILABLE,
            &headers,
            br#"{"error":"temporarily_unavailable","error_description":"down\nfor maintenance"}"#,
        );
        assert_eq!(e.retry_after(), Some(7));
        assert!(e.is_retryable());
        assert!(!e.to_string().contains('\n'), "printable: {e}");
        let plain = refused(
            "client update",
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>",
        );
        assert_eq!(
            plain.to_string(),
            "client update: the authorization server answered 502"
        );
    }

    #[test]
    fn a_created_client_never_shows_its_token() {
        let client = DownstreamClient {
            client_id: "c".into(),
            registration_client_uri: "https://as.example/reg/c".into(),
            registration_access_token: "secret-rat".into(),
        };
        assert!(!format!("{client:?}").contains("secret-rat"));
    }
}
