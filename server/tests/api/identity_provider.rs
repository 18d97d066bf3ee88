//! The identity provider of the single sign-on tests: node-oidc-provider
//! (`tests/downstream-as/identity-provider.mjs`) on a loopback port over HTTPS with a
//! certificate of a CA of its own, with the portal as its client, killed when dropped; and a
//! person's browser that signs in through it.

use std::path::PathBuf;
use std::process::Child;

use dcr_devtools::devcerts::DevPki;
use reqwest::header::LOCATION;
use serde_json::Value;
use server::config::RawConfig;

use crate::downstream_as::{free_port, start_node};
use crate::portal::Browser;

/// The portal's client_id at the provider.
pub const CLIENT_ID: &str = "dcr-portal";
/// Its client secret.
pub const CLIENT_SECRET: &str = "portal-client-secret-4c1d";

/// How the provider spoils the ID tokens it issues (`OP_ID_TOKEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokens {
    /// As issued.
    Honest,
    /// A claim changed after signing.
    Tampered,
    /// Re-signed with another nonce.
    WrongNonce,
    /// Re-signed for another client.
    WrongAudience,
}

/// A provider (running or not).
pub struct IdentityProvider {
    /// `https://127.0.0.1:<port>`.
    pub issuer: String,
    port: u16,
    pki: DevPki,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

impl IdentityProvider {
    /// Prepares a provider on a free port (not started) whose people are `accounts`
    /// (`{"<username>": {claims}}`).
    pub fn new(accounts: &Value) -> Self {
        let pki = DevPki::new("Identity provider CA").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = pki.server(&["localhost", "127.0.0.1"]).unwrap();
        std::fs::write(dir.path().join("server.pem"), &cert.cert_pem).unwrap();
        std::fs::write(dir.path().join("server.key"), &cert.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
        let port = free_port();
        let this = Self {
            issuer: format!("https://127.0.0.1:{port}"),
            port,
            pki,
            dir,
            child: None,
        };
        this.set_accounts(accounts);
        this
    }

    /// Replaces its people (read at each sign-in).
    pub fn set_accounts(&self, accounts: &Value) {
        std::fs::write(self.accounts_file(), accounts.to_string()).unwrap();
    }

    fn accounts_file(&self) -> PathBuf {
        self.dir.path().join("accounts.json")
    }

    /// Its CA, as a file for `portal.sso.ca`.
    pub fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("idp.log")).unwrap_or_default()
    }

    /// The portal's configuration for this provider, with the portal on `portal_port`: roles
    /// from `groups` (`dcr-administrators`, `dcr-operators`, `dcr-viewers`).
    pub fn configure(&self, raw: &mut RawConfig, portal_port: u16) {
        raw.server.portal_addr = Some(format!("127.0.0.1:{portal_port}"));
        raw.portal.public_origin = Some(format!("http://127.0.0.1:{portal_port}"));
        let secret = self.dir.path().join("client-secret");
        std::fs::write(&secret, CLIENT_SECRET).unwrap();
        let sso = &mut raw.portal.sso;
        sso.issuer = Some(self.issuer.clone());
        sso.client_id = Some(CLIENT_ID.into());
        sso.client_secret_file = Some(secret.display().to_string());
        sso.ca = Some(self.ca_file());
        // A loaded machine (the whole suite at once) can keep node waiting for seconds; the
        // provider down is a refused connection, answered at once.
        sso.timeout_ms = Some(30_000);
        sso.label = Some("Sign in with Bank SSO".into());
        sso.scopes = Some(vec!["profile".into(), "email".into(), "groups".into()]);
        sso.roles.administrator = vec!["dcr-administrators".into()];
        sso.roles.operator = vec!["dcr-operators".into()];
        sso.roles.viewer = vec!["dcr-viewers".into()];
    }

    /// Starts it for the portal at `portal` (its origin), and waits until it listens.
    pub async fn run(&mut self, portal: &str, id_tokens: IdTokens) {
        assert!(
            self.child.is_none(),
            "the identity provider is already running"
        );
        let mut envs = vec![
            ("OP_PORT", self.port.to_string()),
            (
                "OP_TLS_CERT",
                self.dir.path().join("server.pem").display().to_string(),
            ),
            (
                "OP_TLS_KEY",
                self.dir.path().join("server.key").display().to_string(),
            ),
            ("OP_CLIENT_ID", CLIENT_ID.to_string()),
            ("OP_CLIENT_SECRET", CLIENT_SECRET.to_string()),
            ("OP_REDIRECT_URI", format!("{portal}/auth/sso/callback")),
            (
                "OP_ACCOUNTS_FILE",
                self.accounts_file().display().to_string(),
            ),
        ];
        let spoiled = match id_tokens {
            IdTokens::Honest => None,
            IdTokens::Tampered => Some("tampered"),
            IdTokens::WrongNonce => Some("wrong-nonce"),
            IdTokens::WrongAudience => Some("wrong-audience"),
        };
        if let Some(mode) = spoiled {
            envs.push(("OP_ID_TOKEN", mode.to_string()));
        }
        let log = self.dir.path().join("idp.log");
        self.child = Some(start_node("identity-provider.mjs", &envs, &log, &self.issuer).await);
    }

    /// Stops it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A person's browser at the provider: keeps the provider's cookies, follows nothing.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(
                rustls::ClientConfig::builder_with_provider(server::tls::provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(crate::helpers::roots(&self.pki.ca_pem()))
                    .with_no_client_auth(),
            )
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

/// Where a response sends the browser, made absolute against `base`.
fn next_url(res: &reqwest::Response, base: &str) -> String {
    let to = res
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no Location in a {} answer", res.status()));
    url::Url::parse(base)
        .unwrap()
        .join(&to)
        .unwrap()
        .to_string()
}

/// Signs `person` in through the provider as a browser would, from the portal's
/// "Sign in with …" link to the provider's answer at the portal's callback, and returns that
/// answer (the portal's response to the callback). `start` is the portal path the link
/// names (`/auth/sso/start`, with any `next`).
pub async fn sso_sign_in(
    browser: &Browser,
    idp: &IdentityProvider,
    person: &str,
    start: &str,
) -> reqwest::Response {
    let path = sso_answer(browser, idp, person, start).await;
    browser.get(&path).await
}

/// [`sso_sign_in`] up to the provider's answer: the path (with its query) of the portal's
/// callback that the provider sends the browser to, not yet opened.
pub async fn sso_answer(
    browser: &Browser,
    idp: &IdentityProvider,
    person: &str,
    start: &str,
) -> String {
    let at_idp = idp.browser();
    let res = browser.get(start).await;
    assert_eq!(
        res.status(),
        303,
        "the start sends the browser to the provider"
    );
    let authorize = next_url(&res, &browser.base);
    assert!(
        authorize.starts_with(&idp.issuer),
        "sent to the provider: {authorize}"
    );
    // The provider's authorization endpoint sends the browser to its sign-in page.
    let res = at_idp.get(&authorize).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", idp.log());
    let interaction = next_url(&res, &idp.issuer);
    let page = at_idp.get(&interaction).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", idp.log());
    let res = at_idp
        .post(format!("{interaction}/login"))
        .form(&[("login", person)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "signed in at the provider: {}",
        idp.log()
    );
    // Back to the authorization endpoint, which now answers the portal.
    let mut to = next_url(&res, &idp.issuer);
    while to.starts_with(&idp.issuer) {
        let res = at_idp.get(&to).send().await.unwrap();
        assert!(
            res.status().is_redirection(),
            "{} at {to}: {}",
            res.status(),
            idp.log()
        );
        to = next_url(&res, &idp.issuer);
    }
    to.strip_prefix(&browser.base)
        .unwrap_or_else(|| panic!("the provider answers the portal: {to}"))
        .to_string()
}
