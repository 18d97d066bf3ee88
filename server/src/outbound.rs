//! Outbound HTTPS (the Register's JWKS and status APIs, recipients' JWKS and sector identifier
//! documents): a timeout, no redirects, a response size cap, the public roots plus any
//! configured extra CA (`DCR_OUTBOUND_CA`).
//!
//! URLs a recipient chose (its `jwks_uri`, its `sector_identifier_uri`) are fetched with
//! [`Outbound::get_untrusted`], which refuses loopback, private, link-local, unique-local and
//! other non-public addresses — checked on the addresses the name resolves to, in the resolver
//! the connection uses, so a name cannot resolve to a public address for the check and a private
//! one for the connection — unless `outbound.allowed_addresses` names them (development and
//! tests, where recipients run on loopback). The Register's URLs are the operator's choice and
//! are not restricted.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

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
    /// The host is, or resolves only to, an address outbound requests may not reach.
    #[error("refusing to connect to a non-public address ({0})")]
    Forbidden(String),
}

/// Which addresses a recipient's URL may lead to: public ones, and those the operator allows.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    allowed: Arc<[IpNet]>,
}

impl AddressGuard {
    /// A guard that also lets `allowed` through.
    #[must_use]
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }

    /// Whether a connection to `ip` is allowed.
    #[must_use]
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, unique-local,
/// shared, documentation, benchmarking, multicast, broadcast or unspecified).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The resolver of the untrusted client: the system's, keeping only permitted addresses.
struct GuardedResolver(AddressGuard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| guard.permits(a.ip()))
                .collect();
            if permitted.is_empty() && !all.is_empty() {
                return Err(Box::new(FetchError::Forbidden(host)) as _);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The outbound client.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    untrusted: reqwest::Client,
    guard: AddressGuard,
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
        guard: AddressGuard,
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
        let builder = || {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls.clone())
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .user_agent(concat!("dcr-server/", env!("CARGO_PKG_VERSION")))
        };
        let client = builder()
            .build()
            .context("building the outbound HTTP client")?;
        let untrusted = builder()
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .build()
            .context("building the outbound HTTP client")?;
        Ok(Self {
            client,
            untrusted,
            guard,
            max_bytes,
        })
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
        self.fetch(&self.client, url).await
    }

    /// Like [`Outbound::get`], for a URL a recipient chose: the host must be, or resolve to, an
    /// address the [`AddressGuard`] permits.
    ///
    /// # Errors
    /// See [`FetchError`]; [`FetchError::Forbidden`] for a non-public address.
    pub async fn get_untrusted(&self, url: &str) -> Result<Bytes, FetchError> {
        Ok(self.get_untrusted_cacheable(url).await?.0)
    }

    /// [`Outbound::get_untrusted`], with how long the answer says it may be kept.
    ///
    /// # Errors
    /// See [`Outbound::get_untrusted`].
    pub async fn get_untrusted_cacheable(
        &self,
        url: &str,
    ) -> Result<(Bytes, Freshness), FetchError> {
        let parsed = url::Url::parse(url).map_err(|_| FetchError::BadUrl(url.into()))?;
        // An address in the URL does not go through the resolver: check it here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal.filter(|ip| !self.guard.permits(*ip)) {
            return Err(FetchError::Forbidden(ip.to_string()));
        }
        let res = self.send(&self.untrusted, url).await?;
        let freshness = Freshness::of(res.headers());
        Ok((read_capped(res, self.max_bytes).await?, freshness))
    }

    async fn fetch(&self, client: &reqwest::Client, url: &str) -> Result<Bytes, FetchError> {
        read_capped(self.send(client, url).await?, self.max_bytes).await
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> Result<reqwest::Response, FetchError> {
        let parsed = url::Url::parse(url).map_err(|_| FetchError::BadUrl(url.into()))?;
        if parsed.scheme() != "https" {
            return Err(FetchError::BadUrl(url.into()));
        }
        let send = || {
            client
                .get(parsed.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
        };
        // A kept-alive connection the server closes just as it is reused fails at once, before
        // any answer: a GET goes once more, on a new connection. (Servers close idle connections
        // after a few seconds, this one after its header-read timeout; a rate-limited refetch can
        // come exactly that long after the last.)
        match send().await {
            Err(e) if !e.is_timeout() && !e.is_connect() => send().await,
            other => other,
        }
        .map_err(|e| {
            // The resolver's refusal, carried through reqwest's error chain.
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                if let Some(FetchError::Forbidden(host)) = s.downcast_ref::<FetchError>() {
                    return FetchError::Forbidden(host.clone());
                }
                source = s.source();
            }
            FetchError::Transport(e.without_url().to_string())
        })
    }
}

/// How long a response may be kept, from its `Cache-Control`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing said: the cache's own lifetime applies.
    Unspecified,
    /// At most this many seconds (`max-age`).
    MaxAge(u64),
    /// Not to be kept (`no-store`, `no-cache`, or `max-age` of 0 or unreadable).
    DoNotKeep,
}

impl Freshness {
    /// Reads `Cache-Control`: `no-store` or `no-cache` win over `max-age`.
    #[must_use]
    pub fn of(headers: &reqwest::header::HeaderMap) -> Self {
        let mut max_age = None;
        for directive in headers
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return Self::DoNotKeep;
            }
            if let Some(secs) = directive.strip_prefix("max-age=") {
                max_age = Some(secs.trim_matches('"').parse::<u64>().unwrap_or(0));
            }
        }
        match max_age {
            Some(0) => Self::DoNotKeep,
            Some(secs) => Self::MaxAge(secs),
            None => Self::Unspecified,
        }
    }
}

/// Reads a response body up to `max` bytes.
///
/// # Errors
/// Non-success status, transport error, or more than `max` bytes.
pub async fn read_capped(res: reqwest::Response, max: usize) -> Result<Bytes, FetchError> {
    if !res.status().is_success() {
        return Err(FetchError::Status(res.status().as_u16()));
    }
    read_body_capped(res, max).await
}

/// Reads a response body of any status up to `max` bytes (checked while reading, not only from
/// `Content-Length`).
///
/// # Errors
/// Transport error, or more than `max` bytes.
pub async fn read_body_capped(mut res: reqwest::Response, max: usize) -> Result<Bytes, FetchError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_says_how_long_to_keep_an_answer() {
        let of = |values: &[&str]| {
            let mut h = reqwest::header::HeaderMap::new();
            for v in values {
                h.append(
                    reqwest::header::CACHE_CONTROL,
                    reqwest::header::HeaderValue::from_str(v).unwrap(),
                );
            }
            Freshness::of(&h)
        };
        assert_eq!(of(&[]), Freshness::Unspecified);
        assert_eq!(of(&["public, max-age=60"]), Freshness::MaxAge(60));
        assert_eq!(of(&["max-age=0"]), Freshness::DoNotKeep);
        assert_eq!(of(&["max-age=60", "No-Cache"]), Freshness::DoNotKeep);
        assert_eq!(of(&["no-store, max-age=600"]), Freshness::DoNotKeep);
        assert_eq!(of(&["max-age=soon"]), Freshness::DoNotKeep);
    }

    #[test]
    fn only_public_addresses_pass_unless_allowed() {
        let guard = AddressGuard::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!guard.permits(ip.parse().unwrap()), "{ip} is not public");
        }
        for ip in [
            "1.1.1.1",
            "203.0.112.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(guard.permits(ip.parse().unwrap()), "{ip} is public");
        }
        let guard = AddressGuard::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        assert!(guard.permits("127.0.0.1".parse().unwrap()));
        assert!(guard.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(guard.permits("fd12::1".parse().unwrap()));
        assert!(!guard.permits("127.0.0.2".parse().unwrap()));
    }

    /// An HTTPS server whose connections each answer one GET, keep the connection open, and
    /// close it without an answer when a second request comes: a keep-alive connection ended
    /// by the server just as the client reuses it.
    async fn one_answer_per_connection() -> (String, tempfile::TempDir) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let dir = tempfile::tempdir().unwrap();
        let ca = dcr_devtools::devcerts::DevPki::new("Outbound test CA").unwrap();
        let cert = ca.server(&["localhost"]).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        write("ca.pem", &ca.ca_pem());
        let config = crate::tls::server_config(
            &write("server.pem", &cert.cert_pem),
            &write("server.key", &cert.key_pem),
            None,
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/jwks",
            listener.local_addr().unwrap().port()
        );
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut tls = acceptor.accept(tcp).await.unwrap();
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let body = r#"{"keys":[]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    tls.write_all(answer.as_bytes()).await.unwrap();
                    let _ = tls.read(&mut buf).await;
                });
            }
        });
        (url, dir)
    }

    #[tokio::test]
    async fn a_get_on_a_connection_the_server_just_closed_goes_again_on_a_new_one() {
        let (url, dir) = one_answer_per_connection().await;
        let outbound = Outbound::new(
            Some(&dir.path().join("ca.pem")),
            Duration::from_secs(5),
            1024,
            AddressGuard::default(),
        )
        .unwrap();
        for i in 0..3 {
            let body = outbound.get(&url).await;
            assert_eq!(body.unwrap().as_ref(), br#"{"keys":[]}"#, "GET {i}");
        }
    }
}
