//! The bearer token of the registration endpoint from the downstream's token endpoint: the
//! client credentials grant (RFC 6749 §4.4) with `client_secret_basic` (§2.3.1), for a
//! downstream whose registration endpoint takes an access token of its own issuing rather than
//! an initial access token (RFC 7591 §3 leaves how the token is obtained open).
//!
//! The token is kept until shortly before its `expires_in` (§5.1) and fetched again sooner when
//! the registration endpoint refuses it (the downstream may have restarted or revoked it); one
//! fetch at a time, so concurrent registrations share it. The request goes through the
//! connector's HTTP client and its [`send`](super::send): the same CA, timeout, no redirects
//! and answer cap as every call to the downstream.
//!
//! # Security
//! The client secret goes in the token request's `Authorization` header only, and the token it
//! buys in the registration request's: neither is in an error, a log line or `Debug` output.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::form_urlencoded;

use super::{bad, send, DownstreamError};
use crate::config::TokenClient;

/// What a failed token request says it was.
pub(super) const OP: &str = "token request";

/// How long a token whose answer has no `expires_in` is kept (RFC 6749 §5.1 only recommends the
/// field; a refusal by the registration endpoint ends it sooner).
const LIFETIME_UNSTATED: Duration = Duration::from_secs(60);

/// The longest a token is kept, whatever its `expires_in`.
const LIFETIME_MAX: Duration = Duration::from_secs(24 * 3600);

/// How long before its expiry a token is replaced: a minute, or half its lifetime when that
/// is shorter, so that it is not refused on the way.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// An access token of the downstream. Never printed: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct AccessToken(String);

impl AccessToken {
    /// The token, for the `Authorization` header only.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(REDACTED)")
    }
}

/// A token and when to replace it.
struct Cached {
    token: AccessToken,
    renew_at: Instant,
}

/// The token endpoint client, with the token it holds.
pub(super) struct TokenSource {
    client: TokenClient,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_endpoint", &self.client.token_endpoint.as_str())
            .field("client_id", &self.client.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source with no token yet.
    pub(super) fn new(client: TokenClient) -> Self {
        Self {
            client,
            cached: Mutex::new(None),
        }
    }

    /// The token held while it is fresh, else a new one from the token endpoint; and whether it
    /// was fetched by this call.
    ///
    /// # Errors
    /// The token endpoint failed or refused ([`DownstreamError`], operation `token request`),
    /// or answered something other than a bearer token.
    ///
    /// # Cancel safety
    /// Dropped during a fetch, nothing is kept and the next call fetches again.
    pub(super) async fn token(
        &self,
        http: &reqwest::Client,
    ) -> Result<(AccessToken, bool), DownstreamError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok((c.token.clone(), false));
        }
        *cached = None;
        let (token, lifetime) = self.fetch(http).await?;
        *cached = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + keep_for(lifetime),
        });
        Ok((token, true))
    }

    /// Drops `token` if it is still the one held (the registration endpoint refused it; a newer
    /// one, fetched meanwhile for a concurrent request, is kept).
    pub(super) async fn forget(&self, token: &AccessToken) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == token) {
            *cached = None;
        }
    }

    /// One token request (RFC 6749 §4.4.2): the client authenticated with HTTP Basic, its id
    /// and secret form-encoded first (§2.3.1).
    async fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> Result<(AccessToken, Option<Duration>), DownstreamError> {
        let c = &self.client;
        let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &c.scope {
            form.push(("scope", scope));
        }
        let req = http
            .post(c.token_endpoint.clone())
            .basic_auth(encode(&c.client_id), Some(encode(c.client_secret.expose())))
            .form(&form);
        let (status, body) = send(OP, req).await?;
        if status != StatusCode::OK {
            return Err(bad(OP, format!("status {status} instead of 200")));
        }
        let answer = token_answer(&body)?;
        tracing::debug!(
            token_endpoint = %c.token_endpoint,
            expires_in = answer.1.map(|d| d.as_secs()),
            "access token for the registration endpoint obtained"
        );
        Ok(answer)
    }
}

/// How long to keep a token that lives `lifetime`.
fn keep_for(lifetime: Option<Duration>) -> Duration {
    let lifetime = lifetime.unwrap_or(LIFETIME_UNSTATED).min(LIFETIME_MAX);
    lifetime - RENEW_BEFORE.min(lifetime / 2)
}

/// The token and its lifetime from a successful token answer (RFC 6749 §5.1): a bearer token
/// (§7.1: a client must not use a token type it does not understand) that can go in a header.
fn token_answer(body: &[u8]) -> Result<(AccessToken, Option<Duration>), DownstreamError> {
    let answer: Value = serde_json::from_slice(body).map_err(|e| bad(OP, e.to_string()))?;
    if !answer["token_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(bad(OP, "the token_type is not Bearer".into()));
    }
    // RFC 6750 §2.1 b64token, loosely: visible ASCII.
    let token = answer["access_token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| bad(OP, "no usable access_token".into()))?;
    let lifetime = answer["expires_in"].as_u64().map(Duration::from_secs);
    Ok((AccessToken(token.to_string()), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_replaced_before_it_expires() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(keep_for(secs(600)), Duration::from_secs(540));
        assert_eq!(keep_for(secs(60)), Duration::from_secs(30));
        assert_eq!(keep_for(secs(0)), Duration::ZERO, "not kept");
        assert_eq!(
            keep_for(None),
            Duration::from_secs(30),
            "unstated: a minute"
        );
        assert_eq!(
            keep_for(secs(u64::MAX)),
            LIFETIME_MAX - RENEW_BEFORE,
            "at most a day"
        );
    }

    #[test]
    fn only_a_bearer_token_that_fits_a_header_is_used() {
        let (token, lifetime) = token_answer(
            br#"{"access_token":"abc.DEF-123","token_type":"bearer","expires_in":300}"#,
        )
        .unwrap();
        assert_eq!(token.expose(), "abc.DEF-123");
        assert_eq!(lifetime, Some(Duration::from_secs(300)));
        assert!(!format!("{token:?}").contains("abc"), "Debug redacts it");
        for (body, why) in [
            (
                &br#"{"access_token":"abc","token_type":"DPoP"}"#[..],
                "another token type",
            ),
            (br#"{"access_token":"abc"}"#, "no token type"),
            (br#"{"token_type":"Bearer"}"#, "no token"),
            (
                br#"{"access_token":"a b","token_type":"Bearer"}"#,
                "a space",
            ),
            (
                br#"{"access_token":"a\nb","token_type":"Bearer"}"#,
                "a line break",
            ),
            (b"<html>", "not JSON"),
        ] {
            let e = token_answer(body).unwrap_err();
            assert!(
                matches!(e, DownstreamError::BadAnswer { operation: OP, .. }),
                "{why}: {e}"
            );
            assert!(!e.is_retryable(), "{why}");
        }
    }
}
