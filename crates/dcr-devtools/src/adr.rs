//! `dcr-dev adr …`: an Accredited Data Recipient in a box, to try a Data Holder by hand and to
//! drive it from tests and the benchmark.
//!
//! A recipient directory (`adr init <dir>`) holds the recipient's PS256 signing key, its public
//! JWKS (which the Register simulator hosts at the product's `jwks_uri`), its mTLS client
//! certificate and the CA it trusts, and a small `state.json` (software product, brand, the
//! `client_id` once registered). The commands fetch an SSA from the Register (simulator), then
//! register, read, update and delete the registration at a Data Holder and request the
//! `cdr:registration` token, printing the Data Holder's JSON answers. With provisioning on
//! (docs/provisioning.md) the same client exists at the bank's authorization server, the
//! *downstream*, and the recipient can ask it for a token too ([`Downstream`]).
//!
//! The request builders ([`registration_request_claims`], [`client_assertion_claims`],
//! [`token_form`], [`client_credentials_form`]) are pure and public, for the benchmark and
//! tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use dcr_core::jose::{jwks_document, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod cli;

pub use cli::*;

/// The recipient's private signing key (PKCS#8 PEM).
pub const KEY_FILE: &str = "signing-key.pem";
/// Its public JWKS.
pub const JWKS_FILE: &str = "jwks.json";
/// Its mTLS client certificate.
pub const CERT_FILE: &str = "client.pem";
/// The client certificate's key.
pub const CERT_KEY_FILE: &str = "client.key";
/// The CA trusted for the Data Holder and the Register (simulator).
pub const CA_FILE: &str = "ca.pem";
/// The recipient's state.
pub const STATE_FILE: &str = "state.json";

/// `client_assertion_type` of `private_key_jwt` (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a recipient directory remembers between commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdrState {
    /// `kid` of the signing key.
    pub kid: String,
    /// Software product id at the Register.
    #[serde(default)]
    pub software_product_id: Option<String>,
    /// Brand id at the Register.
    #[serde(default)]
    pub brand_id: Option<String>,
    /// The Data Holder's client id, once registered.
    #[serde(default)]
    pub client_id: Option<String>,
}

impl AdrState {
    /// Reads `dir/state.json`.
    ///
    /// # Errors
    /// Missing or unreadable file.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let p = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "reading {} (run `dcr-dev adr init {}` first)",
                p.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }

    /// Writes `dir/state.json`.
    ///
    /// # Errors
    /// I/O failure.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let p = dir.join(STATE_FILE);
        std::fs::write(&p, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", p.display()))
    }
}

/// What `adr init` wrote.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The directory.
    pub dir: PathBuf,
    /// `kid` of the signing key.
    pub kid: String,
    /// Whether a new key was generated (else the existing one was kept).
    pub generated: bool,
    /// The public JWKS file.
    pub jwks: PathBuf,
}

fn write_secret(p: &Path, s: &str) -> anyhow::Result<()> {
    std::fs::write(p, s).with_context(|| format!("writing {}", p.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", p.display()))?;
    }
    Ok(())
}

/// Creates (or completes) a recipient directory: a PS256 signing key and its JWKS (kept when
/// present, unless `force`), and the client certificate, its key and the CA copied from
/// `certs` (a `dcr-dev certs` directory) when missing. Records `product`/`brand` when
/// given.
///
/// # Errors
/// I/O, key generation, or no client certificate to be had.
pub fn init(
    dir: &Path,
    certs: Option<&Path>,
    product: Option<&str>,
    brand: Option<&str>,
    force: bool,
) -> anyhow::Result<InitReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key_path = dir.join(KEY_FILE);
    let mut state = AdrState::load(dir).unwrap_or_default();
    let (key, generated) = if key_path.is_file() && !force && !state.kid.is_empty() {
        let pem = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        (
            SigningKey::from_pkcs8_pem(&pem, state.kid.clone())
                .with_context(|| format!("loading {}", key_path.display()))?,
            false,
        )
    } else {
        let rand = uuid::Uuid::new_v4().simple().to_string();
        let key = SigningKey::generate_ps256(format!("adr-{}", &rand[..12]), 2048)
            .context("generating the recipient's signing key")?;
        write_secret(&key_path, &key.to_pkcs8_pem())?;
        (key, true)
    };
    let jwks = dir.join(JWKS_FILE);
    std::fs::write(&jwks, serde_json::to_string_pretty(&jwks_document([&key]))?)
        .with_context(|| format!("writing {}", jwks.display()))?;
    for (name, secret) in [(CERT_FILE, false), (CERT_KEY_FILE, true), (CA_FILE, false)] {
        let target = dir.join(name);
        if target.is_file() && !force {
            continue;
        }
        let source = certs
            .map(|c| c.join(name))
            .filter(|p| p.is_file())
            .with_context(|| {
                format!(
                    "{} is missing: pass --certs with a `dcr-dev certs` directory holding {name}",
                    target.display()
                )
            })?;
        let text = std::fs::read_to_string(&source)
            .with_context(|| format!("reading {}", source.display()))?;
        if secret {
            write_secret(&target, &text)?;
        } else {
            std::fs::write(&target, text)
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    state.kid = key.kid().to_string();
    if let Some(p) = product {
        state.software_product_id = Some(p.to_string());
    }
    if let Some(b) = brand {
        state.brand_id = Some(b.to_string());
    }
    state.save(dir)?;
    Ok(InitReport {
        dir: dir.to_path_buf(),
        kid: state.kid,
        generated,
        jwks,
    })
}

/// An HTTPS client trusting the public roots plus `ca_pem`, presenting `identity` (certificate
/// chain PEM, key PEM) when given; 10 s timeout, no redirects.
///
/// # Errors
/// Unparseable PEM or a TLS configuration failure.
pub fn https_client(
    ca_pem: Option<&str>,
    identity: Option<(&str, &str)>,
) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_pem {
        for c in rustls_pemfile::certs(&mut ca.as_bytes()) {
            roots
                .add(c.context("parsing the CA")?)
                .context("adding the CA")?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(server::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots);
    let cfg = match identity {
        Some((cert, key)) => {
            let certs = rustls_pemfile::certs(&mut cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .context("parsing the client certificate")?;
            let key = rustls_pemfile::private_key(&mut key.as_bytes())
                .context("parsing the client key")?
                .context("no private key in the client key file")?;
            builder
                .with_client_auth_cert(certs, key)
                .context("the client certificate and key do not match")?
        }
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("dcr-adr/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTPS client")
}

/// Claims of a registration request (CDS "Client Registration", docs/dcr-rules.md §4): `iss` the SSA's
/// `software_id`, `aud` the Data Holder's issuer, 5 minutes, a fresh `jti`, the metadata the
/// Data Holder requires, every redirect URI of the SSA, and the SSA itself.
///
/// # Errors
/// An SSA whose claims cannot be read, or without `software_id`.
pub fn registration_request_claims(ssa: &str, issuer: &str, now: i64) -> anyhow::Result<Value> {
    let claims = dcr_core::jose::decode_claims_unverified(ssa).context("reading the SSA")?;
    let software_id = claims
        .get("software_id")
        .and_then(Value::as_str)
        .context("the SSA has no software_id")?;
    let redirect_uris = claims.get("redirect_uris").cloned().unwrap_or(json!([]));
    Ok(json!({
        "iss": software_id,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
        "aud": issuer,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "web",
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
        "redirect_uris": redirect_uris,
        "software_statement": ssa,
    }))
}

/// Claims of a `private_key_jwt` client assertion (CDS client authentication): `iss` = `sub` =
/// `client_id`, `aud` (the issuer or the token endpoint), 5 minutes, a fresh `jti`.
#[must_use]
pub fn client_assertion_claims(client_id: &str, aud: &str, now: i64) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// The form of a `client_credentials` token request for `cdr:registration`.
#[must_use]
pub fn token_form(assertion: &str) -> Vec<(&'static str, String)> {
    client_credentials_form(assertion, "cdr:registration")
}

/// The form of a `client_credentials` token request for `scope`, the client authenticated by
/// the `private_key_jwt` `assertion` (RFC 7523 §2.2).
#[must_use]
pub fn client_credentials_form(assertion: &str, scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_assertion_type", JWT_BEARER.into()),
        ("client_assertion", assertion.into()),
        ("scope", scope.into()),
    ]
}

/// The RFC 8705 `x5t#S256` thumbprint of the first certificate in `cert_pem`: what a token
/// bound to that certificate carries in `cnf`.
///
/// # Errors
/// No certificate in the PEM.
pub fn certificate_thumbprint(cert_pem: &str) -> anyhow::Result<String> {
    let der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .next()
        .context("no certificate in the PEM")?
        .context("parsing the certificate")?;
    Ok(dcr_core::jose::thumbprint_x5t_s256(&der))
}

/// The URL of the Register's Get SSA (v3 path, industry `all`).
#[must_use]
pub fn ssa_url(register_base: &str, brand_id: &str, software_product_id: &str) -> String {
    format!(
        "{}/cdr-register/v1/all/data-recipients/brands/{brand_id}/software-products/{software_product_id}/ssa",
        register_base.trim_end_matches('/')
    )
}

/// Fetches an SSA for a product of a brand from the Register (Get SSA; the simulator needs no
/// Register access token, the real Register does).
///
/// # Errors
/// Transport failure or a refusal (with the Register's answer).
pub async fn fetch_ssa(
    http: &reqwest::Client,
    register_base: &str,
    brand_id: &str,
    software_product_id: &str,
) -> anyhow::Result<String> {
    let url = ssa_url(register_base, brand_id, software_product_id);
    let res = http
        .get(&url)
        .header("x-v", "3")
        .header(reqwest::header::ACCEPT, "application/jwt, application/json")
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "the Register refused the SSA ({status}): {text}"
    );
    // The JWT itself, or (as some Registers answer) a JSON string holding it.
    let ssa = serde_json::from_str::<String>(&text).unwrap_or(text);
    Ok(ssa.trim().to_string())
}

/// An authorization server's discovery document (OpenID Connect Discovery 1.0 §4).
struct Discovery(Value);

impl Discovery {
    /// Reads `{base}/.well-known/openid-configuration`.
    async fn read(http: &reqwest::Client, base: &str) -> anyhow::Result<Self> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        );
        let doc = http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .with_context(|| format!("GET {url}"))?
            .json()
            .await
            .with_context(|| format!("reading {url}"))?;
        Ok(Self(doc))
    }

    /// A string member the document must have.
    fn field(&self, name: &str) -> anyhow::Result<String> {
        self.optional(name)
            .with_context(|| format!("the discovery document has no {name}"))
    }

    /// A string member the document may have.
    fn optional(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .and_then(Value::as_str)
            .map(ToString::to_string)
    }
}

/// Where a Data Holder's endpoints are, and its issuer (the `aud` of everything we send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataHolder {
    /// `issuer` from discovery.
    pub issuer: String,
    /// `registration_endpoint`.
    pub registration_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
}

impl DataHolder {
    /// Reads `{base}/.well-known/openid-configuration`.
    ///
    /// # Errors
    /// Transport failure or a document without those fields.
    pub async fn discover(http: &reqwest::Client, base: &str) -> anyhow::Result<Self> {
        let doc = Discovery::read(http, base).await?;
        Ok(Self {
            issuer: doc.field("issuer")?,
            registration_endpoint: doc.field("registration_endpoint")?,
            token_endpoint: doc.field("token_endpoint")?,
        })
    }

    /// The endpoints under `base` (where the listener is reached) for a Data Holder whose issuer
    /// is `issuer` (they differ behind a proxy or in tests).
    #[must_use]
    pub fn at(base: &str, issuer: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            issuer: issuer.trim_end_matches('/').to_string(),
            registration_endpoint: format!("{base}/register"),
            token_endpoint: format!("{base}/token"),
        }
    }

    fn client_url(&self, client_id: &str) -> String {
        format!(
            "{}/{}",
            self.registration_endpoint.trim_end_matches('/'),
            url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>()
        )
    }
}

/// The bank's authorization server that the Data Holder provisions every registration into
/// (docs/provisioning.md): the registration's client_id, keys and client certificate work
/// there too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downstream {
    /// `issuer` from discovery.
    pub issuer: String,
    /// `token_endpoint`, also the `aud` of the client assertions sent there (RFC 7523 §3
    /// accepts it; node-oidc-provider takes the issuer, the token endpoint or the endpoint
    /// called).
    pub token_endpoint: String,
    /// `introspection_endpoint` (RFC 7662), when it has one.
    pub introspection_endpoint: Option<String>,
}

impl Downstream {
    /// Reads `{issuer}/.well-known/openid-configuration`.
    ///
    /// # Errors
    /// Transport failure or a document without `issuer` or `token_endpoint`.
    pub async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Self> {
        let doc = Discovery::read(http, issuer).await?;
        Ok(Self {
            issuer: doc.field("issuer")?,
            token_endpoint: doc.field("token_endpoint")?,
            introspection_endpoint: doc.optional("introspection_endpoint"),
        })
    }
}

/// A server's answer (the Data Holder's or the downstream's): the status and the JSON body
/// (`null` when there is none).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Answer {
    async fn read(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self { status, body }
    }

    /// 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A recipient: its signing key and an mTLS HTTPS client.
pub struct Recipient {
    /// Signs registration requests and client assertions.
    pub key: SigningKey,
    /// Presents the client certificate.
    pub http: reqwest::Client,
}

impl Recipient {
    /// A recipient with `key`, presenting `cert_pem`/`key_pem` and trusting `ca_pem`.
    ///
    /// # Errors
    /// As [`https_client`].
    pub fn new(
        key: SigningKey,
        ca_pem: Option<&str>,
        cert_pem: &str,
        cert_key_pem: &str,
    ) -> anyhow::Result<Self> {
        let http = https_client(ca_pem, Some((cert_pem, cert_key_pem)))?;
        Ok(Self { key, http })
    }

    /// Loads a recipient directory written by [`init`], trusting `ca` (default: the
    /// directory's `ca.pem`) besides the public roots.
    ///
    /// # Errors
    /// Missing or unreadable files.
    pub fn load(dir: &Path, ca: Option<&Path>) -> anyhow::Result<(Self, AdrState)> {
        let state = AdrState::load(dir)?;
        let read_path = |p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        };
        let read = |name: &str| read_path(&dir.join(name));
        let key = SigningKey::from_pkcs8_pem(&read(KEY_FILE)?, state.kid.clone())
            .context("loading the recipient's signing key")?;
        let ca = match ca {
            Some(p) => Some(read_path(p)?),
            None => read(CA_FILE).ok(),
        };
        let me = Self::new(key, ca.as_deref(), &read(CERT_FILE)?, &read(CERT_KEY_FILE)?)?;
        Ok((me, state))
    }

    /// Fetches an SSA for the product from the Register (simulator), see [`fetch_ssa`].
    ///
    /// # Errors
    /// Transport failure or a refusal (with the Register's answer).
    pub async fn fetch_ssa(
        &self,
        register_base: &str,
        brand_id: &str,
        software_product_id: &str,
    ) -> anyhow::Result<String> {
        fetch_ssa(&self.http, register_base, brand_id, software_product_id).await
    }

    /// `POST /register` with a request built from `ssa`.
    ///
    /// # Errors
    /// Transport failure or a signing failure.
    pub async fn register(&self, dh: &DataHolder, ssa: &str, now: i64) -> anyhow::Result<Answer> {
        let jwt = self.sign(&registration_request_claims(ssa, &dh.issuer, now)?)?;
        let res = self
            .http
            .post(&dh.registration_endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/jwt")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(jwt)
            .send()
            .await
            .with_context(|| format!("POST {}", dh.registration_endpoint))?;
        Ok(Answer::read(res).await)
    }

    /// The token request (`client_credentials`, `private_key_jwt`, `cdr:registration`).
    ///
    /// # Errors
    /// Transport failure or a signing failure.
    pub async fn token(
        &self,
        dh: &DataHolder,
        client_id: &str,
        now: i64,
    ) -> anyhow::Result<Answer> {
        let assertion = self.sign(&client_assertion_claims(client_id, &dh.issuer, now))?;
        self.post_form(&dh.token_endpoint, &token_form(&assertion))
            .await
    }

    /// A `client_credentials` token request for `scope` at the downstream, authenticated with
    /// `private_key_jwt` signed by the key registered at the Data Holder, over mTLS with the
    /// client certificate, so that the token is bound to it (RFC 8705 §3).
    ///
    /// # Errors
    /// Transport failure or a signing failure.
    pub async fn downstream_token(
        &self,
        ds: &Downstream,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> anyhow::Result<Answer> {
        let assertion = self.sign(&client_assertion_claims(client_id, &ds.token_endpoint, now))?;
        self.post_form(
            &ds.token_endpoint,
            &client_credentials_form(&assertion, scope),
        )
        .await
    }

    /// Introspects `token` at the downstream (RFC 7662), authenticated as for a token request:
    /// what the access token is bound to (`cnf`), which its opaque value does not show. `None`
    /// when the downstream has no introspection endpoint.
    ///
    /// # Errors
    /// Transport failure or a signing failure.
    pub async fn downstream_introspect(
        &self,
        ds: &Downstream,
        client_id: &str,
        token: &str,
        now: i64,
    ) -> anyhow::Result<Option<Answer>> {
        let Some(endpoint) = &ds.introspection_endpoint else {
            return Ok(None);
        };
        let assertion = self.sign(&client_assertion_claims(client_id, &ds.token_endpoint, now))?;
        let form = [
            ("token", token.to_string()),
            ("client_assertion_type", JWT_BEARER.into()),
            ("client_assertion", assertion),
        ];
        self.post_form(endpoint, &form).await.map(Some)
    }

    async fn post_form(&self, url: &str, form: &[(&str, String)]) -> anyhow::Result<Answer> {
        let res = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        Ok(Answer::read(res).await)
    }

    /// An access token, or an error carrying the Data Holder's answer.
    ///
    /// # Errors
    /// As [`Recipient::token`], or a refusal.
    pub async fn access_token(
        &self,
        dh: &DataHolder,
        client_id: &str,
        now: i64,
    ) -> anyhow::Result<String> {
        let a = self.token(dh, client_id, now).await?;
        match a.body.get("access_token").and_then(Value::as_str) {
            Some(t) if a.status == 200 => Ok(t.to_string()),
            _ => anyhow::bail!("the token request was refused ({}): {}", a.status, a.body),
        }
    }

    /// `GET /register/{client_id}`.
    ///
    /// # Errors
    /// Transport failure.
    pub async fn get(
        &self,
        dh: &DataHolder,
        client_id: &str,
        token: &str,
    ) -> anyhow::Result<Answer> {
        let url = dh.client_url(client_id);
        let res = self
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        Ok(Answer::read(res).await)
    }

    /// `PUT /register/{client_id}` with a request built from a (fresh) `ssa`.
    ///
    /// # Errors
    /// Transport or signing failure.
    pub async fn update(
        &self,
        dh: &DataHolder,
        client_id: &str,
        token: &str,
        ssa: &str,
        now: i64,
    ) -> anyhow::Result<Answer> {
        let jwt = self.sign(&registration_request_claims(ssa, &dh.issuer, now)?)?;
        let url = dh.client_url(client_id);
        let res = self
            .http
            .put(&url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/jwt")
            .body(jwt)
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        Ok(Answer::read(res).await)
    }

    /// `DELETE /register/{client_id}`.
    ///
    /// # Errors
    /// Transport failure.
    pub async fn delete(
        &self,
        dh: &DataHolder,
        client_id: &str,
        token: &str,
    ) -> anyhow::Result<Answer> {
        let url = dh.client_url(client_id);
        let res = self
            .http
            .delete(&url)
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("DELETE {url}"))?;
        Ok(Answer::read(res).await)
    }

    fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.key.sign(claims).context("signing")
    }
}

#[cfg(test)]
mod tests;
