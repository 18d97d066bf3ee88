//! The verifier of client certificates: X.509, a chain to a CA of `DCR_CLIENT_CA`, within its
//! validity, for client authentication, and not revoked by a configured certificate revocation
//! list (`DCR_CLIENT_CRLS`). CRL files are read again when they change (checked every
//! `tls.crl_check_secs`), so a revocation takes effect without a restart; a file that cannot be
//! read or parsed leaves the last good lists in force and is logged.
//!
//! Revocation is checked for every certificate of the chain that a list covers; a certificate
//! whose issuer has no configured list is not refused for that (a list for one CA does not cut
//! off the clients of another). A list past its next update is still used.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::{load_certs, provider};

/// Client certificate verification with revocation lists that are reloaded when they change.
pub struct ClientVerifier {
    ca: PathBuf,
    crls: Vec<PathBuf>,
    current: RwLock<Arc<dyn ClientCertVerifier>>,
    /// The client CAs' names, sent in the certificate request (they do not change on reload).
    hints: Vec<DistinguishedName>,
    /// Modification time and length of each CRL file when last loaded.
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

impl fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("ca", &self.ca)
            .field("crls", &self.crls)
            .finish_non_exhaustive()
    }
}

impl ClientVerifier {
    /// Loads the client CAs of `ca` and the revocation lists of `crls` (PEM or DER files).
    ///
    /// # Errors
    /// An unreadable or invalid file.
    pub fn load(ca: &Path, crls: &[PathBuf]) -> anyhow::Result<Arc<Self>> {
        let stamps = crls.iter().map(|p| stamp(p)).collect();
        let current = build(ca, crls)?;
        Ok(Arc::new(Self {
            ca: ca.to_path_buf(),
            crls: crls.to_vec(),
            hints: current.root_hint_subjects().to_vec(),
            current: RwLock::new(current),
            stamps: Mutex::new(stamps),
        }))
    }

    /// Reads the revocation lists again if a file changed since they were loaded. Returns
    /// whether new lists are in force.
    ///
    /// # Errors
    /// A changed file that cannot be read or parsed (the lists in force stay).
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now: Vec<_> = self.crls.iter().map(|p| stamp(p)).collect();
        {
            let mut stamps = self
                .stamps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *stamps == now {
                return Ok(false);
            }
            // Whatever the outcome, this version of the files was seen: a broken file is
            // reported once, not every check.
            *stamps = now;
        }
        let fresh = build(&self.ca, &self.crls)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(true)
    }

    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Checks the CRL files every `every` until `stopped`, swapping in new lists when they change.
pub async fn reload_loop(
    verifier: Arc<ClientVerifier>,
    every: Duration,
    stopped: impl std::future::Future<Output = ()>,
) {
    if verifier.crls.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = ticks.tick() => {}
        }
        let v = verifier.clone();
        match tokio::task::spawn_blocking(move || v.reload_if_changed()).await {
            Ok(Ok(true)) => {
                tracing::info!(target: "security", "client certificate revocation lists reloaded")
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::error!(target: "security", error = %format!("{e:#}"), "client certificate revocation lists not reloaded; the previous lists stay in force")
            }
            Err(e) => tracing::error!(error = %e, "revocation list reload failed"),
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn build(ca: &Path, crl_files: &[PathBuf]) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(ca)? {
        roots.add(c).context("adding a client CA")?;
    }
    let mut crls = Vec::new();
    for path in crl_files {
        crls.extend(load_crls(path)?);
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .with_crls(crls)
        .allow_unknown_revocation_status()
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")
}

/// The revocation lists of a PEM file (one or more `X509 CRL` blocks) or of a DER file.
fn load_crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"-----") || bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let crls = rustls_pemfile::crls(&mut bytes.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing the revocation lists in {}", path.display()))?;
        anyhow::ensure!(
            !crls.is_empty(),
            "no revocation list found in {}",
            path.display()
        );
        return Ok(crls);
    }
    Ok(vec![CertificateRevocationListDer::from(bytes)])
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.current().offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.current().client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcr_devtools::devcerts::{DevPki, IssuedCert};
    use rustls::CertificateError;

    fn verify(v: &ClientVerifier, cert: &IssuedCert) -> Result<(), rustls::Error> {
        let der = CertificateDer::from(cert.cert_der.clone());
        v.verify_client_cert(&der, &[], UnixTime::now()).map(drop)
    }

    #[test]
    fn revocation_lists_are_reloaded_when_they_change_and_kept_when_broken() {
        let ca = DevPki::new("Client CA").unwrap();
        let (a, b) = (ca.client("A").unwrap(), ca.client("B").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.ca_pem()).unwrap();
        let crl = dir.path().join("crl");
        std::fs::write(&crl, ca.crl(&[]).unwrap()).unwrap();
        let v = ClientVerifier::load(&ca_path, std::slice::from_ref(&crl)).unwrap();
        assert_eq!(verify(&v, &a), Ok(()));
        assert!(!v.reload_if_changed().unwrap(), "nothing changed");

        // the same list in DER, now naming A
        let pem = ca.crl(&[&a]).unwrap();
        let der = rustls_pemfile::crls(&mut pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        std::fs::write(&crl, der.as_ref()).unwrap();
        assert!(v.reload_if_changed().unwrap());
        assert_eq!(
            verify(&v, &a),
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
        );
        assert_eq!(verify(&v, &b), Ok(()), "B is not listed");

        std::fs::write(
            &crl,
            "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        )
        .unwrap();
        assert!(v.reload_if_changed().is_err(), "a broken list is reported");
        assert!(
            verify(&v, &a).is_err(),
            "and the last good list stays in force"
        );
        assert!(!v.reload_if_changed().unwrap(), "once");

        let other = DevPki::new("Other CA").unwrap();
        assert!(
            verify(&v, &other.client("C").unwrap()).is_err(),
            "another CA's certificate"
        );
    }
}
