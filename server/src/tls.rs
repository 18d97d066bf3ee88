//! TLS listeners. The API listener asks every client for a certificate without requiring one in
//! the handshake (so that discovery, JWKS and health checks work without one) and verifies any
//! certificate presented against the configured client CAs. The verified leaf certificate
//! travels with each request as [`ConnectionInfo`] (RFC 8705 certificate binding).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

mod client_verifier;
pub use client_verifier::{reload_loop, ClientVerifier};

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The client certificate (DER of the leaf), verified against the client CAs during the
    /// handshake. `None` when the client sent none.
    pub client_cert: Option<Arc<Vec<u8>>>,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// The crypto provider used everywhere (aws-lc-rs).
#[must_use]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .retain(|suite| FAPI_CIPHER_SUITES.contains(&suite.suite()));
    Arc::new(provider)
}

/// The cipher suites offered and accepted: every TLS 1.3 suite, and on TLS 1.2 only those FAPI
/// 1.0 Advanced §8.5 allows (ECDHE with AES-GCM, for RSA certificates, and their ECDSA
/// equivalents; rustls has no DHE), so that CHACHA20 and CBC suites are refused on TLS 1.2.
pub const FAPI_CIPHER_SUITES: &[rustls::CipherSuite] = &[
    rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
];

/// An HTTPS client for a party the configuration names (the downstream authorization server,
/// the identity provider): certificates checked against `ca` (PEM) instead of the public roots
/// when given, no redirects followed, `timeout` for connecting and for the whole request.
///
/// # Errors
/// An unreadable CA file, or a TLS configuration failure; `what` names the party.
pub fn https_client(
    ca: Option<&Path>,
    timeout: std::time::Duration,
    what: &str,
) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            for c in load_certs(ca)? {
                roots
                    .add(c)
                    .with_context(|| format!("adding the CA of the {what}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("dcr-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .with_context(|| format!("building the HTTP client of the {what}"))
}

/// Reads PEM certificates.
///
/// # Errors
/// Unreadable file or no certificate in it.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "no certificate found in {}",
        path.display()
    );
    Ok(certs)
}

fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("parsing the private key in {}", path.display()))?
        .with_context(|| format!("no private key found in {}", path.display()))
}

/// Server TLS config; with a client certificate verifier, asks for (but does not require) a
/// client certificate.
///
/// # Errors
/// Unreadable or invalid PEM material.
pub fn server_config(
    cert: &Path,
    key: &Path,
    clients: Option<Arc<ClientVerifier>>,
) -> anyhow::Result<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .context("server certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
