//! Raw connections for the abuse and soak tools: TCP from a chosen source address, TLS with or
//! without the dev client certificate, and a lenient HTTP/1.1 response reader that says what
//! the server did (a status, a closed or reset connection, a TLS alert, nothing in time) rather
//! than failing on the first surprise.

mod read;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

pub use read::{Outcome, ReadError, Reader, Response};

/// A connection: plain TCP or TLS over it.
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS (client side).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client configurations of the tools: trusting the dev CA, with and without the dev
/// client certificate, HTTP/1.1 only (ALPN).
#[derive(Clone)]
pub struct TlsClients {
    /// Presents the client certificate.
    pub with_cert: Arc<rustls::ClientConfig>,
    /// Presents none.
    pub without_cert: Arc<rustls::ClientConfig>,
    /// Presents the client certificate and asks for HTTP/2 (ALPN `h2`).
    pub h2: Arc<rustls::ClientConfig>,
}

impl TlsClients {
    /// Reads `ca.pem`, `client.pem` and `client.key` from a `dcr-dev certs` directory.
    ///
    /// # Errors
    /// Missing or unparseable files.
    pub fn from_certs_dir(dir: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        };
        let (ca, cert, key) = (read("ca.pem")?, read("client.pem")?, read("client.key")?);
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_bytes()) {
            roots.add(c.context("parsing the CA")?)?;
        }
        let builder = || {
            rustls::ClientConfig::builder_with_provider(server::tls::provider())
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots.clone()))
        };
        let certs = rustls_pemfile::certs(&mut cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the client certificate")?;
        let key = rustls_pemfile::private_key(&mut key.as_bytes())
            .context("parsing the client key")?
            .context("no private key in client.key")?;
        let mut with_cert = builder()?.with_client_auth_cert(certs, key)?;
        let mut without_cert = builder()?.with_no_client_auth();
        let mut h2 = with_cert.clone();
        with_cert.alpn_protocols = vec![b"http/1.1".to_vec()];
        without_cert.alpn_protocols = vec![b"http/1.1".to_vec()];
        h2.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            with_cert: Arc::new(with_cert),
            without_cert: Arc::new(without_cert),
            h2: Arc::new(h2),
        })
    }

    /// The bytes of the first flight a client sends with `with_cert` (its ClientHello record).
    ///
    /// # Errors
    /// A TLS configuration failure.
    pub fn client_hello(&self, server_name: &str) -> anyhow::Result<Vec<u8>> {
        let name = ServerName::try_from(server_name.to_string())?;
        let mut conn = rustls::ClientConnection::new(self.with_cert.clone(), name)?;
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out)?;
        }
        Ok(out)
    }
}

/// Opens a TCP connection to `to`, from `from` (any port) when given.
///
/// # Errors
/// The connection could not be made within `timeout`.
pub async fn tcp(
    to: SocketAddr,
    from: Option<IpAddr>,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let connect = async {
        let socket = if to.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if let Some(ip) = from {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(to).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Completes a TLS handshake over `tcp` for `server_name`.
///
/// # Errors
/// The handshake failed or took longer than `timeout`.
pub async fn tls(
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
    timeout: Duration,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Signs in to the portal at `portal` (plain HTTP) from `source`; the session cookie
/// (`dcr_session=…`, or `__Host-dcr_session=…`).
///
/// # Errors
/// No connection, no answer, or a refused sign-in.
pub async fn portal_sign_in(
    portal: SocketAddr,
    source: Option<IpAddr>,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt as _;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let body = format!("username={}&password={}", enc(user), enc(password));
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {portal}\r\nSec-Fetch-Site: same-origin\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tcp(portal, source, Duration::from_secs(10))
        .await
        .context("connecting to the portal")?;
    stream.write_all(request.as_bytes()).await?;
    let res = tokio::time::timeout(Duration::from_secs(30), Reader::new(stream).response(false))
        .await
        .context("no answer to the sign-in")?
        .map_err(|e| anyhow::anyhow!("no answer to the sign-in: {:?}", e.outcome()))?;
    let cookie = res
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .find_map(|(_, v)| {
            // `__Host-dcr_session` when the portal's cookies are `Secure`.
            v.split(';').next().filter(|c| {
                c.split_once('=').is_some_and(|(name, value)| {
                    name.trim_start_matches("__Host-") == "dcr_session" && !value.is_empty()
                })
            })
        })
        .map(str::to_string);
    match (res.status, res.header("location"), cookie) {
        (303, Some(server::portal::auth::LANDING), Some(c)) => Ok(c),
        (status, location, _) => anyhow::bail!(
            "sign-in answered {status} to {location:?}: check the administrator's name and password"
        ),
    }
}
