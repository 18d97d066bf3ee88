//! Development certificates: a dev CA, a server certificate for `localhost` and `127.0.0.1`, and
//! a client certificate for a test recipient. For development and tests only; a real deployment
//! uses the CDR CA-issued certificates.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// An in-memory certificate authority that issues server and client certificates.
pub struct DevPki {
    ca_cert: Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, PEM encoded.
#[derive(Clone)]
pub struct IssuedCert {
    /// Certificate (PEM).
    pub cert_pem: String,
    /// Private key (PKCS#8 PEM).
    pub key_pem: String,
    /// Certificate (DER).
    pub cert_der: Vec<u8>,
    /// Serial number (big-endian, positive), for revocation lists.
    pub serial: Vec<u8>,
}

impl DevPki {
    /// A new CA with the given common name.
    ///
    /// # Errors
    /// Key generation or signing failure.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = params.self_signed(&ca_key)?;
        Ok(Self { ca_cert, ca_key })
    }

    /// The CA certificate (PEM).
    #[must_use]
    pub fn ca_pem(&self) -> String {
        self.ca_cert.pem()
    }

    /// The CA certificate (DER).
    #[must_use]
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_cert.der().to_vec()
    }

    /// A server certificate for the given DNS names / IP addresses.
    ///
    /// # Errors
    /// Key generation or signing failure.
    pub fn server(&self, names: &[&str]) -> anyhow::Result<IssuedCert> {
        let mut params =
            CertificateParams::new(names.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.issue(params)
    }

    /// A client certificate with the given common name.
    ///
    /// # Errors
    /// Key generation or signing failure.
    pub fn client(&self, common_name: &str) -> anyhow::Result<IssuedCert> {
        self.issue(client_params(common_name)?)
    }

    /// A client certificate that expired in 2021 (valid 2020-01-01 to 2021-01-01), for tests of
    /// certificate validity.
    ///
    /// # Errors
    /// Key generation or signing failure.
    pub fn expired_client(&self, common_name: &str) -> anyhow::Result<IssuedCert> {
        let mut params = client_params(common_name)?;
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.issue(params)
    }

    /// A certificate revocation list (PEM) of this CA naming `revoked`, valid for a day.
    ///
    /// # Errors
    /// Signing failure.
    pub fn crl(&self, revoked: &[&IssuedCert]) -> anyhow::Result<String> {
        let now = time::OffsetDateTime::now_utc();
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - time::Duration::minutes(1),
            next_update: now + time::Duration::days(1),
            crl_number: rcgen::SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(&c.serial),
                    revocation_time: now - time::Duration::minutes(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.ca_cert, &self.ca_key)?.pem()?)
    }

    fn issue(&self, mut params: CertificateParams) -> anyhow::Result<IssuedCert> {
        // A random positive serial, remembered so that a revocation list can name it.
        let mut serial = uuid::Uuid::new_v4().as_bytes().to_vec();
        serial[0] = (serial[0] & 0x7f).max(1);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            serial,
        })
    }
}

/// The parameters of a client certificate (client authentication only).
fn client_params(common_name: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// Paths written by [`write_dev_certs`].
pub struct DevCertPaths {
    /// CA certificate (also the client CA and the outbound CA in development).
    pub ca: PathBuf,
    /// Server certificate.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Test recipient's client certificate.
    pub client_cert: PathBuf,
    /// Test recipient's client key.
    pub client_key: PathBuf,
}

/// Writes a dev CA, a server certificate for localhost/127.0.0.1 and a client certificate into
/// `dir`. Existing files are kept (idempotent) unless `force`.
///
/// # Errors
/// I/O or generation failure.
pub fn write_dev_certs(dir: &Path, force: bool) -> anyhow::Result<DevCertPaths> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let paths = DevCertPaths {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    };
    let all_there = [
        &paths.ca,
        &paths.server_cert,
        &paths.server_key,
        &paths.client_cert,
        &paths.client_key,
    ]
    .iter()
    .all(|p| p.is_file());
    if all_there && !force {
        return Ok(paths);
    }
    let pki = DevPki::new("DCR Development CA")?;
    let server = pki.server(&["localhost", "127.0.0.1"])?;
    let client = pki.client("Test Recipient")?;
    write(&paths.ca, &pki.ca_pem())?;
    write(&paths.server_cert, &server.cert_pem)?;
    write_secret(&paths.server_key, &server.key_pem)?;
    write(&paths.client_cert, &client.cert_pem)?;
    write_secret(&paths.client_key, &client.key_pem)?;
    Ok(paths)
}

fn write(p: &Path, s: &str) -> anyhow::Result<()> {
    std::fs::write(p, s).with_context(|| format!("writing {}", p.display()))
}

fn write_secret(p: &Path, s: &str) -> anyhow::Result<()> {
    write(p, s)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", p.display()))?;
    }
    Ok(())
}
