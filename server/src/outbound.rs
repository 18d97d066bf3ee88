//! Outbound HTTPS (the Register's JWKS and status APIs, recipients' JWKS and sector identifier
//! documents): a timeout, no redirects, a response size cap, the public roots plus any
//! configured extra CA (`DCR_OUTBOUND_CA`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;

/// Why an outbound fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an https URL we may fetch.
    #[error("refusing to fetch {0}")]
    BadUrl(String),
    /// Connection, TLS or timeout.
    #[error("could not reach the server: {0}")]
    Transport(String),
    /// A non-success status.
    #[error("the server answered {0}")]
    Status(u16),
    /// The body exceeded the cap.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
}

/// The outbound client.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    max_bytes: usize,
}

impl Outbound {
    /// Builds the client.
    ///
    /// # Errors
    /// Unreadable extra CA or a TLS configuration failure.
    pub fn new(
        extra_ca: Option<&std::path::Path>,
        timeout: Duration,
        max_bytes: usize,
    ) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca) = extra_ca {
            for c in crate::tls::load_certs(ca)? {
                roots.add(c).context("adding the outbound CA")?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("dcr-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the outbound HTTP client")?;
        Ok(Self { client, max_bytes })
    }

    /// The underlying client (for the Register poller, which sets its own headers).
    #[must_use]
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The response size cap.
    #[must_use]
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// GETs an https URL and returns its body, refusing redirects, non-2xx answers and bodies
    /// over the cap (checked while reading, not only from `Content-Length`).
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        let parsed = url::Url::parse(url).map_err(|_| FetchError::BadUrl(url.into()))?;
        if parsed.scheme() != "https" {
            return Err(FetchError::BadUrl(url.into()));
        }
        let res = self
            .client
            .get(parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
        read_capped(res, self.max_bytes).await
    }
}

/// Reads a response body up to `max` bytes.
///
/// # Errors
/// Non-success status, transport error, or more than `max` bytes.
pub async fn read_capped(mut res: reqwest::Response, max: usize) -> Result<Bytes, FetchError> {
    if !res.status().is_success() {
        return Err(FetchError::Status(res.status().as_u16()));
    }
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(FetchError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| FetchError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(FetchError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Shared handle.
pub type SharedOutbound = Arc<Outbound>;
