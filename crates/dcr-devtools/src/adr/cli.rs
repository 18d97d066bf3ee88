//! `dcr-dev adr …`: the recipient tool's command line.

use super::*;

/// The downstream authorization server `scripts/dev.sh` starts.
pub const DEFAULT_DOWNSTREAM: &str = "https://127.0.0.1:7445";

/// `dcr-dev adr`: a data recipient's side of DCR.
#[derive(Debug, clap::Args)]
pub struct AdrArgs {
    /// The recipient directory (`adr init` writes it).
    #[arg(
        long,
        global = true,
        env = "DCR_ADR_DIR",
        default_value = "dev-data/adr"
    )]
    pub dir: PathBuf,
    /// The Data Holder's base URL (discovery is read there).
    #[arg(
        long,
        global = true,
        env = "DCR_ADR_DATA_HOLDER",
        default_value = "https://localhost:7443"
    )]
    pub data_holder: String,
    /// The CDR Register (simulator) base URL.
    #[arg(
        long,
        global = true,
        env = "DCR_ADR_REGISTER",
        default_value = "https://localhost:7444"
    )]
    pub register: String,
    /// The Data Holder's issuer, when it differs from where it is reached: discovery is then
    /// skipped and the endpoints are taken under --data-holder.
    #[arg(long, global = true, env = "DCR_ADR_ISSUER")]
    pub issuer: Option<String>,
    /// CA (PEM) trusted for the Data Holder and the Register (default: the directory's ca.pem).
    #[arg(long, global = true, env = "DCR_ADR_CA")]
    pub ca: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: AdrCommand,
}

/// `adr` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AdrCommand {
    /// Create the recipient directory: a PS256 signing key, its public JWKS, and the client
    /// certificate and CA copied from a dev-certs directory (existing files are kept).
    Init {
        /// Directory (overrides --dir).
        target: Option<PathBuf>,
        /// A `dcr-dev certs` directory to take the client certificate and CA from.
        #[arg(long, default_value = "dev-data/certs")]
        certs: PathBuf,
        /// The software product this recipient registers.
        #[arg(long)]
        product: Option<String>,
        /// Its brand.
        #[arg(long)]
        brand: Option<String>,
        /// Generate a new key and copy the certificates again.
        #[arg(long)]
        force: bool,
    },
    /// Print a fresh SSA from the Register.
    Ssa {
        /// Software product (default: the one recorded).
        #[arg(long)]
        product: Option<String>,
        /// Brand (default: recorded, else asked of the simulator).
        #[arg(long)]
        brand: Option<String>,
    },
    /// Fetch an SSA and register at the Data Holder (POST /register); records the client_id.
    Register {
        /// Software product (default: the one recorded).
        #[arg(long)]
        product: Option<String>,
        /// Brand (default: recorded, else asked of the simulator).
        #[arg(long)]
        brand: Option<String>,
    },
    /// Get a cdr:registration access token and print the token response; with --downstream,
    /// a token from the bank's authorization server the registration was provisioned into.
    Token {
        /// Client id (default: the one recorded).
        #[arg(long)]
        client_id: Option<String>,
        /// Ask the downstream authorization server instead (docs/provisioning.md): the same
        /// client_id, key and client certificate; the token answer is printed, then its
        /// introspection, which shows the certificate it is bound to.
        #[arg(long)]
        downstream: bool,
        /// The downstream's issuer (discovery is read there); `scripts/dev.sh` runs one here.
        #[arg(long, env = "DCR_ADR_DOWNSTREAM", default_value = DEFAULT_DOWNSTREAM)]
        downstream_issuer: String,
        /// The scope asked of the downstream (one it allows and the registration holds).
        #[arg(long, default_value = "bank:accounts.basic:read")]
        scope: String,
    },
    /// Read the registration back (GET /register/{client_id}).
    Get {
        /// Client id (default: the one recorded).
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Update the registration with a fresh SSA (PUT /register/{client_id}).
    Update {
        /// Client id (default: the one recorded).
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Delete the registration (DELETE /register/{client_id}).
    Delete {
        /// Client id (default: the one recorded).
        #[arg(long)]
        client_id: Option<String>,
    },
}

/// Writes a line to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub(crate) fn out(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

pub(crate) fn print_answer(a: &Answer) -> anyhow::Result<()> {
    print_answer_of("the Data Holder", a)
}

/// Prints `who`'s answer: the status on stderr, the body on stdout; an error unless 2xx.
fn print_answer_of(who: &str, a: &Answer) -> anyhow::Result<()> {
    eprintln!("HTTP {}", a.status);
    if !a.body.is_null() {
        out(&serde_json::to_string_pretty(&a.body).unwrap_or_else(|_| a.body.to_string()));
    }
    anyhow::ensure!(a.is_success(), "{who} answered {}", a.status);
    Ok(())
}

/// `adr token --downstream`: a token from the downstream, then its introspection and whether
/// its `cnf` names the recipient's certificate.
async fn downstream_token(
    me: &Recipient,
    dir: &Path,
    issuer: &str,
    client_id: &str,
    scope: &str,
    now: impl Fn() -> i64,
) -> anyhow::Result<()> {
    const WHO: &str = "the downstream authorization server";
    let ds = Downstream::discover(&me.http, issuer)
        .await
        .with_context(|| format!("discovering the downstream at {issuer} (is it running?)"))?;
    let answer = me.downstream_token(&ds, client_id, scope, now()).await?;
    print_answer_of(WHO, &answer)?;
    let token = answer
        .body
        .get("access_token")
        .and_then(Value::as_str)
        .context("the downstream's token answer has no access_token")?;
    let Some(introspected) = me
        .downstream_introspect(&ds, client_id, token, now())
        .await?
    else {
        eprintln!(
            "(the downstream has no introspection endpoint to show what the token is bound to)"
        );
        return Ok(());
    };
    eprintln!(
        "introspection ({}):",
        ds.introspection_endpoint.as_deref().unwrap_or_default()
    );
    print_answer_of(WHO, &introspected)?;
    let cert = dir.join(CERT_FILE);
    let ours = certificate_thumbprint(
        &std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?,
    )
    .with_context(|| format!("reading {}", cert.display()))?;
    match introspected.body["cnf"]["x5t#S256"].as_str() {
        Some(bound) if bound == ours => {
            eprintln!(
                "bound to the client certificate {} (cnf.x5t#S256 {bound})",
                cert.display()
            );
        }
        Some(bound) => eprintln!(
            "bound to another certificate: cnf.x5t#S256 {bound}, {} is {ours}",
            cert.display()
        ),
        None => eprintln!("not bound to a certificate (no cnf.x5t#S256)"),
    }
    Ok(())
}

async fn product_and_brand(
    register: &str,
    ca: &Path,
    state: &AdrState,
    product: Option<String>,
    brand: Option<String>,
) -> anyhow::Result<(String, String)> {
    let product = product
        .or_else(|| state.software_product_id.clone())
        .context("no software product: pass --product (or `adr init --product`)")?;
    let brand = match brand.or_else(|| {
        state
            .brand_id
            .clone()
            .filter(|_| state.software_product_id.as_deref() == Some(product.as_str()))
    }) {
        Some(b) => b,
        None => {
            let base = url::Url::parse(register).context("--register is not a URL")?;
            let sim = crate::register_sim::SimClient::new(base, Some(ca))?;
            sim.product(&product).await?["brand_id"]
                .as_str()
                .map(ToString::to_string)
                .context("the simulator did not say which brand the product belongs to")?
        }
    };
    Ok((product, brand))
}

pub(crate) fn client_id(state: &AdrState, arg: Option<String>) -> anyhow::Result<String> {
    arg.or_else(|| state.client_id.clone())
        .context("no client_id: run `dcr-dev adr register` first, or pass --client-id")
}

/// Runs `dcr-dev adr …`.
///
/// # Errors
/// Files, transport, or a refusal by the Data Holder or the Register (after printing it).
pub async fn run_cli(args: AdrArgs) -> anyhow::Result<()> {
    use dcr_core::clock::Clock as _;
    let now = || dcr_core::clock::SystemClock.now();
    if let AdrCommand::Init {
        target,
        certs,
        product,
        brand,
        force,
    } = &args.command
    {
        let dir = target.clone().unwrap_or_else(|| args.dir.clone());
        let r = init(
            &dir,
            Some(certs),
            product.as_deref(),
            brand.as_deref(),
            *force,
        )?;
        out(&format!(
            "{} signing key {} in {}",
            if r.generated { "generated" } else { "kept" },
            r.kid,
            r.dir.display()
        ));
        out(&format!("public JWKS: {}", r.jwks.display()));
        out(&format!(
            "host it at the Register simulator: dcr-dev register-sim set-jwks --product <id> {}",
            r.jwks.display()
        ));
        return Ok(());
    }
    let AdrArgs {
        dir,
        data_holder,
        register,
        issuer,
        ca,
        command,
    } = args;
    let (me, mut state) = Recipient::load(&dir, ca.as_deref())?;
    let sim_ca = ca.clone().unwrap_or_else(|| dir.join(CA_FILE));
    let dh = || async {
        match &issuer {
            Some(issuer) => Ok(DataHolder::at(&data_holder, issuer)),
            None => DataHolder::discover(&me.http, &data_holder).await,
        }
    };
    match command {
        AdrCommand::Init { .. } => Ok(()),
        AdrCommand::Ssa { product, brand } => {
            let (product, brand) =
                product_and_brand(&register, &sim_ca, &state, product, brand).await?;
            out(&me.fetch_ssa(&register, &brand, &product).await?);
            Ok(())
        }
        AdrCommand::Register { product, brand } => {
            let (product, brand) =
                product_and_brand(&register, &sim_ca, &state, product, brand).await?;
            let dh = dh().await?;
            let ssa = me.fetch_ssa(&register, &brand, &product).await?;
            let a = me.register(&dh, &ssa, now()).await?;
            if a.status == 201 {
                state.software_product_id = Some(product);
                state.brand_id = Some(brand);
                state.client_id = a
                    .body
                    .get("client_id")
                    .and_then(Value::as_str)
                    .map(ToString::to_string);
                state.save(&dir)?;
            }
            print_answer(&a)
        }
        AdrCommand::Token {
            client_id: c,
            downstream,
            downstream_issuer,
            scope,
        } => {
            let c = client_id(&state, c)?;
            if downstream {
                return downstream_token(&me, &dir, &downstream_issuer, &c, &scope, now).await;
            }
            print_answer(&me.token(&dh().await?, &c, now()).await?)
        }
        AdrCommand::Get { client_id: c } => {
            let c = client_id(&state, c)?;
            let dh = dh().await?;
            let token = me.access_token(&dh, &c, now()).await?;
            print_answer(&me.get(&dh, &c, &token).await?)
        }
        AdrCommand::Update { client_id: c } => {
            let c = client_id(&state, c)?;
            let (product, brand) =
                product_and_brand(&register, &sim_ca, &state, None, None).await?;
            let dh = dh().await?;
            let ssa = me.fetch_ssa(&register, &brand, &product).await?;
            let token = me.access_token(&dh, &c, now()).await?;
            print_answer(&me.update(&dh, &c, &token, &ssa, now()).await?)
        }
        AdrCommand::Delete { client_id: c } => {
            let c = client_id(&state, c)?;
            let dh = dh().await?;
            let token = me.access_token(&dh, &c, now()).await?;
            let a = me.delete(&dh, &c, &token).await?;
            if a.status == 204 && state.client_id.as_deref() == Some(c.as_str()) {
                state.client_id = None;
                state.save(&dir)?;
            }
            print_answer(&a)
        }
    }
}
