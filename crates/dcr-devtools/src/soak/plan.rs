//! The soak's set-up: software products at the Register simulator, the registrations kept for
//! the whole run, and a portal session.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dcr_core::clock::{Clock as _, SystemClock};
use dcr_core::jose::{jwks_document, SigningKey};
use serde_json::Value;

use crate::adr::{self, DataHolder, Recipient};
use crate::register_sim::{NewProduct, SimClient};
use crate::wire::{self, TlsClients};

/// What the set-up needs.
pub(super) struct Setup {
    pub api: SocketAddr,
    pub portal: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub server_name: String,
    pub issuer: String,
    pub tls: TlsClients,
    pub certs: PathBuf,
    pub register: url::Url,
    pub cycling: usize,
    pub standing: usize,
    pub admin: (String, String),
    pub interval: Duration,
}

/// A registration kept for the whole run, and its latest access token.
pub(super) struct Standing {
    pub(super) client_id: String,
    pub(super) token: Mutex<(String, Instant)>,
}

/// A software product at the simulator.
pub(super) struct Product {
    pub(super) id: String,
    pub(super) brand: String,
}

/// Everything the connections share.
pub(super) struct Plan {
    pub(super) api: SocketAddr,
    pub(super) portal: SocketAddr,
    pub(super) metrics: Option<SocketAddr>,
    pub(super) server_name: String,
    pub(super) api_host: String,
    pub(super) issuer: String,
    pub(super) tls: TlsClients,
    pub(super) key: SigningKey,
    pub(super) ssa_http: reqwest::Client,
    pub(super) register: String,
    pub(super) standing: Vec<Standing>,
    pub(super) cycling: Vec<Product>,
    pub(super) session: String,
    pub(super) interval: Duration,
}

impl Plan {
    /// Adds the products to the simulator, registers the standing ones and signs in to the
    /// portal.
    pub(super) async fn prepare(s: Setup) -> anyhow::Result<Self> {
        let read = |name: &str| {
            let p = s.certs.join(name);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        };
        let ca = read("ca.pem")?;
        let ssa_http = adr::https_client(Some(&ca), None)?;
        let sim = SimClient::new(s.register.clone(), Some(&s.certs.join("ca.pem")))?;
        let key = SigningKey::generate_ps256(
            format!("soak-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            2048,
        )?;
        let jwks = jwks_document([&key]);
        let register = s.register.as_str().trim_end_matches('/').to_string();
        let mut products = Vec::new();
        for i in 0..s.standing + s.cycling {
            let p = Product {
                id: uuid::Uuid::new_v4().to_string(),
                brand: uuid::Uuid::new_v4().to_string(),
            };
            sim.add_product(&NewProduct {
                software_product_id: Some(p.id.clone()),
                software_product_name: format!("Soak product {i}"),
                brand_id: Some(p.brand.clone()),
                jwks: Some(jwks.clone()),
                ..NewProduct::default()
            })
            .await
            .context("adding a product to the Register simulator")?;
            products.push(p);
        }
        let cycling = products.split_off(s.standing);

        let recipient = Recipient::new(
            SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem(), key.kid().to_string())?,
            Some(&ca),
            &read("client.pem")?,
            &read("client.key")?,
        )?;
        let dh = DataHolder::at(&format!("https://{}", s.api), &s.issuer);
        let mut standing = Vec::new();
        for p in &products {
            let ssa = recipient.fetch_ssa(&register, &p.brand, &p.id).await?;
            let now = SystemClock.now();
            let a = recipient.register(&dh, &ssa, now).await?;
            let client_id = a
                .body
                .get("client_id")
                .and_then(Value::as_str)
                .with_context(|| {
                    format!("registering a standing product ({}): {}", a.status, a.body)
                })?
                .to_string();
            let token = recipient.access_token(&dh, &client_id, now).await?;
            standing.push(Standing {
                client_id,
                token: Mutex::new((token, Instant::now())),
            });
        }
        let session = wire::portal_sign_in(s.portal, None, &s.admin.0, &s.admin.1)
            .await
            .context("signing in to the portal")?;
        Ok(Self {
            api: s.api,
            portal: s.portal,
            metrics: s.metrics,
            api_host: format!("{}:{}", s.server_name, s.api.port()),
            server_name: s.server_name,
            issuer: s.issuer,
            tls: s.tls,
            key,
            ssa_http,
            register,
            standing,
            cycling,
            session,
            interval: s.interval,
        })
    }
}
