//! The `dcr-dev` command line: `certs`, `scopes`, `register-sim`, `adr`, `seed`, `bench`, `abuse`,
//! `soak`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Development tools for the DCR Data Holder: a CDR Register simulator, a data recipient,
/// development certificates, synthetic registrations, the load benchmark, and the abuse and
/// soak tests.
#[derive(Debug, Parser)]
#[command(name = "dcr-dev", version, about)]
pub struct Cli {
    /// The server's configuration file (TOML), for `seed`. Environment variables (DCR_*)
    /// override it.
    #[arg(long, global = true, env = "DCR_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a development CA, a server certificate for localhost and a recipient client
    /// certificate into a directory (kept if already there).
    Certs {
        /// Target directory.
        dir: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the scopes the Data Holder grants, space separated: what a downstream
    /// authorization server must allow for registrations to be provisioned into it
    /// (`scripts/dev.sh` starts one with them).
    Scopes,
    /// Run a CDR Register simulator (HTTPS), or add products and change statuses in a running one.
    RegisterSim(Box<crate::register_sim::SimArgs>),
    /// A data recipient: keys and certificate, SSA, register/get/update/delete, token.
    Adr(crate::adr::AdrArgs),
    /// Add synthetic registrations straight into the server's store.
    Seed(crate::seed::SeedArgs),
    /// Load benchmark of the DCR API, with the server in this process.
    Bench(crate::bench::BenchArgs),
    /// Times the store's reads behind the portal's overview (on a seeded store).
    OverviewBench(crate::overview_bench::OverviewBenchArgs),
    /// Times a routine verification of the audit chain after a signed checkpoint.
    AuditBench(crate::audit_bench::AuditBenchArgs),
    /// Hostile requests against a running server: fails on a 5xx or if it stops answering.
    Abuse(crate::abuse::AbuseArgs),
    /// Many keep-alive connections of mixed traffic against a running server, watching its
    /// memory and file descriptors.
    Soak(Box<crate::soak::SoakArgs>),
}

/// Entry point.
#[must_use]
pub fn main() -> ExitCode {
    server::cli::run_to_exit(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Certs { dir, force } => {
            let p = crate::devcerts::write_dev_certs(&dir, force)?;
            println!("CA:           {}", p.ca.display());
            println!("server cert:  {}", p.server_cert.display());
            println!("server key:   {}", p.server_key.display());
            println!("client cert:  {}", p.client_cert.display());
            println!("client key:   {}", p.client_key.display());
            Ok(())
        }
        Command::Scopes => {
            crate::adr::out(&dcr_core::registration::DEFAULT_SUPPORTED_SCOPES.join(" "));
            Ok(())
        }
        Command::RegisterSim(args) => crate::register_sim::run_cli(*args).await,
        Command::Adr(args) => crate::adr::run_cli(args).await,
        Command::Seed(args) => crate::seed::run_cli(cli.config.as_deref(), args).await,
        Command::AuditBench(args) => crate::audit_bench::run_cli(cli.config.as_deref(), args).await,
        Command::OverviewBench(args) => {
            crate::overview_bench::run_cli(cli.config.as_deref(), args).await
        }
        Command::Bench(args) => crate::bench::run(args).await,
        Command::Abuse(args) => crate::abuse::run(args).await,
        Command::Soak(args) => crate::soak::run(*args).await,
    }
}
