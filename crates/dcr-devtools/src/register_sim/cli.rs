//! `dcr-dev register-sim …`: the simulator's command line, and a client of a running
//! simulator's admin API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use url::Url;

use super::{start, NewProduct, SimOptions};

/// A client of a running simulator's admin API (the `register-sim` subcommands).
pub struct SimClient {
    base: Url,
    http: reqwest::Client,
}

impl SimClient {
    /// A client for the simulator at `base`, trusting `ca` in addition to the public roots.
    ///
    /// # Errors
    /// An unreadable CA.
    pub fn new(base: Url, ca: Option<&Path>) -> anyhow::Result<Self> {
        let http = server::outbound::Outbound::new(
            ca,
            Duration::from_secs(10),
            4 * 1024 * 1024,
            server::outbound::AddressGuard::default(),
        )?;
        Ok(Self {
            base,
            http: http.client().clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let res = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("calling the simulator at {}: {e}", self.base))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success(),
            "the simulator answered {status}: {body}"
        );
        Ok(body)
    }

    /// Adds a product.
    ///
    /// # Errors
    /// Transport failure or a refusal (with the simulator's answer).
    pub async fn add_product(&self, p: &NewProduct) -> anyhow::Result<Value> {
        self.send(self.http.post(self.url("/admin/products")).json(p))
            .await
    }

    /// One product.
    ///
    /// # Errors
    /// As [`SimClient::add_product`].
    pub async fn product(&self, id: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(&format!("/admin/products/{id}"))))
            .await
    }

    /// Every product and recipient.
    ///
    /// # Errors
    /// As [`SimClient::add_product`].
    pub async fn list(&self) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url("/admin/products"))).await
    }

    /// Sets a product's status.
    ///
    /// # Errors
    /// As [`SimClient::add_product`].
    pub async fn set_product_status(&self, id: &str, status: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(self.url(&format!("/admin/products/{id}/status")))
                .json(&json!({ "status": status })),
        )
        .await
    }

    /// Sets a recipient's status.
    ///
    /// # Errors
    /// As [`SimClient::add_product`].
    pub async fn set_recipient_status(&self, id: &str, status: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(self.url(&format!("/admin/recipients/{id}/status")))
                .json(&json!({ "status": status })),
        )
        .await
    }

    /// Replaces a product's hosted JWKS.
    ///
    /// # Errors
    /// As [`SimClient::add_product`].
    pub async fn set_product_jwks(&self, id: &str, jwks: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http
                .put(self.url(&format!("/admin/products/{id}/jwks")))
                .json(jwks),
        )
        .await
    }

    /// Starts (`Some(status)`) or ends a simulated outage.
    ///
    /// # Errors
    /// As [`SimClient::add_product`].
    pub async fn set_outage(&self, status: Option<u16>) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(self.url("/admin/outage"))
                .json(&json!({ "status": status })),
        )
        .await
    }
}

/// `dcr-dev register-sim`: run the simulator (the default), or drive a running one.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    /// Options of `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `register-sim` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Run the simulator (the default).
    Serve(ServeArgs),
    /// Add a software product (and its recipient when new) to a running simulator.
    AddProduct {
        /// Which simulator.
        #[command(flatten)]
        conn: ConnArgs,
        /// The product.
        #[command(flatten)]
        product: AddProductArgs,
    },
    /// Change a software product's or a data recipient's status.
    SetStatus {
        /// Which simulator.
        #[command(flatten)]
        conn: ConnArgs,
        /// Software product id.
        #[arg(
            long,
            conflicts_with = "recipient",
            required_unless_present = "recipient"
        )]
        product: Option<String>,
        /// Data recipient legal entity id.
        #[arg(long)]
        recipient: Option<String>,
        /// ACTIVE, INACTIVE, REMOVED (products); ACTIVE, SUSPENDED, REVOKED, SURRENDERED
        /// (recipients). Other values are served as given.
        status: String,
    },
    /// List the products and recipients.
    List {
        /// Which simulator.
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Upload the public JWKS the simulator hosts at a product's jwks_uri.
    SetJwks {
        /// Which simulator.
        #[command(flatten)]
        conn: ConnArgs,
        /// Software product id.
        #[arg(long)]
        product: String,
        /// The JWKS file (e.g. `dev-data/adr/jwks.json`).
        file: PathBuf,
    },
    /// Start (`--status 503`) or end (no `--status`) a simulated outage of the status and SSA APIs.
    Outage {
        /// Which simulator.
        #[command(flatten)]
        conn: ConnArgs,
        /// The status to answer with.
        #[arg(long)]
        status: Option<u16>,
    },
}

/// Options of the simulator server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "DCR_SIM_LISTEN", default_value = "127.0.0.1:7444")]
    pub listen: SocketAddr,
    /// Server certificate chain (PEM).
    #[arg(
        long,
        env = "DCR_SIM_CERT",
        default_value = "dev-data/certs/server.pem"
    )]
    pub cert: PathBuf,
    /// Server key (PEM).
    #[arg(long, env = "DCR_SIM_KEY", default_value = "dev-data/certs/server.key")]
    pub key: PathBuf,
    /// Data file (products, recipients, the Register key); in memory when absent.
    #[arg(long, env = "DCR_SIM_DATA")]
    pub data: Option<PathBuf>,
    /// Public base URL (default `https://localhost:<port>`).
    #[arg(long, env = "DCR_SIM_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Status list page size.
    #[arg(long, default_value_t = 1000)]
    pub page_size: usize,
    /// Data Holder Admin Metadata Update endpoints to call after every change (comma separated).
    #[arg(long, env = "DCR_SIM_NOTIFY", value_delimiter = ',')]
    pub notify: Vec<Url>,
    /// Extra CA trusted when calling them (PEM).
    #[arg(long = "notify-ca", env = "DCR_SIM_NOTIFY_CA")]
    pub notify_ca: Option<PathBuf>,
    /// Pre-load the demo software product, hosting this public JWKS.
    #[arg(long)]
    pub demo_jwks: Option<PathBuf>,
}

/// How to reach a running simulator.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// The simulator's base URL.
    #[arg(long, env = "DCR_SIM_URL", default_value = "https://localhost:7444")]
    pub url: Url,
    /// CA its certificate chains to (PEM).
    #[arg(long, env = "DCR_SIM_CA", default_value = "dev-data/certs/ca.pem")]
    pub ca: PathBuf,
}

/// A product to add, as flags.
#[derive(Debug, Clone, clap::Args)]
pub struct AddProductArgs {
    /// Software product name (SSA client_name).
    #[arg(long)]
    pub name: String,
    /// Software product id (a new GUID when absent).
    #[arg(long)]
    pub id: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Brand id (a new GUID when absent).
    #[arg(long)]
    pub brand_id: Option<String>,
    /// Brand name.
    #[arg(long)]
    pub brand_name: Option<String>,
    /// Recipient legal entity id (an existing one, or a new recipient).
    #[arg(long)]
    pub legal_entity_id: Option<String>,
    /// Recipient legal entity name (for a new recipient).
    #[arg(long)]
    pub legal_entity_name: Option<String>,
    /// Redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// The recipient's own JWKS URL (else the simulator hosts `--jwks-file`).
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// A public JWKS file for the simulator to host.
    #[arg(long)]
    pub jwks_file: Option<PathBuf>,
    /// Scope (space separated).
    #[arg(long)]
    pub scope: Option<String>,
    /// Initial status.
    #[arg(long)]
    pub status: Option<String>,
}

fn print_json(v: &Value) {
    crate::adr::out(&serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

/// Runs `dcr-dev register-sim …`.
///
/// # Errors
/// Start-up failures, or the simulator's refusal of a command.
pub async fn run_cli(args: SimArgs) -> anyhow::Result<()> {
    let command = args.command.unwrap_or(SimCommand::Serve(args.serve));
    match command {
        SimCommand::Serve(a) => {
            server::telemetry::init(server::config::LogFormat::Pretty, "info,register_sim=info");
            let running = start(
                SimOptions {
                    listen: a.listen,
                    cert: a.cert,
                    key: a.key,
                    data: a.data,
                    public_url: a.public_url,
                    page_size: a.page_size,
                    notify: a.notify,
                    outbound_ca: a.notify_ca,
                    demo_jwks: a.demo_jwks,
                },
                Arc::new(dcr_core::clock::SystemClock),
            )
            .await?;
            tracing::info!(url = %running.url, "CDR Register simulator serving");
            let base = running.url.as_str().trim_end_matches('/');
            crate::adr::out(&format!("CDR Register simulator: {base}"));
            crate::adr::out(&format!("  JWKS:     {base}/cdr-register/v1/jwks"));
            for p in running.sim.products() {
                crate::adr::out(&format!(
                    "  product:  {} ({}) brand {} status {}",
                    p["software_product_id"].as_str().unwrap_or_default(),
                    p["software_product_name"].as_str().unwrap_or_default(),
                    p["brand_id"].as_str().unwrap_or_default(),
                    p["effective_status"].as_str().unwrap_or_default(),
                ));
            }
            server::startup::shutdown_signal().await;
            running.stop().await;
            Ok(())
        }
        SimCommand::AddProduct { conn, product: a } => {
            let jwks = match &a.jwks_file {
                Some(p) => Some(
                    serde_json::from_str::<Value>(
                        &std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    )
                    .with_context(|| format!("parsing {}", p.display()))?,
                ),
                None => None,
            };
            let n = NewProduct {
                software_product_id: a.id,
                software_product_name: a.name,
                software_product_description: a.description,
                legal_entity_id: a.legal_entity_id,
                legal_entity_name: a.legal_entity_name,
                brand_id: a.brand_id,
                brand_name: a.brand_name,
                redirect_uris: (!a.redirect_uris.is_empty()).then_some(a.redirect_uris),
                jwks_uri: a.jwks_uri,
                jwks,
                scope: a.scope,
                status: a.status,
                ..Default::default()
            };
            print_json(
                &SimClient::new(conn.url, Some(&conn.ca))?
                    .add_product(&n)
                    .await?,
            );
            Ok(())
        }
        SimCommand::SetStatus {
            conn,
            product,
            recipient,
            status,
        } => {
            let c = SimClient::new(conn.url, Some(&conn.ca))?;
            let v = match (product, recipient) {
                (Some(p), _) => c.set_product_status(&p, &status).await?,
                (None, Some(r)) => c.set_recipient_status(&r, &status).await?,
                (None, None) => anyhow::bail!("--product or --recipient is required"),
            };
            print_json(&v);
            Ok(())
        }
        SimCommand::List { conn } => {
            print_json(&SimClient::new(conn.url, Some(&conn.ca))?.list().await?);
            Ok(())
        }
        SimCommand::SetJwks {
            conn,
            product,
            file,
        } => {
            let jwks: Value = serde_json::from_str(
                &std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("parsing {}", file.display()))?;
            print_json(
                &SimClient::new(conn.url, Some(&conn.ca))?
                    .set_product_jwks(&product, &jwks)
                    .await?,
            );
            Ok(())
        }
        SimCommand::Outage { conn, status } => {
            print_json(
                &SimClient::new(conn.url, Some(&conn.ca))?
                    .set_outage(status)
                    .await?,
            );
            Ok(())
        }
    }
}
