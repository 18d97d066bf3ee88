//! The command line: `serve`, `check-config`, `admin add`, `audit`, `keys`, `provisioning`,
//! `export`. Development tools
//! (certificates, the Register simulator, the recipient tool, seeding, the benchmark) are the
//! separate `dcr-dev` binary of `crates/dcr-devtools`.

pub mod export;
pub mod ops;

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dcr_audit::{Action, Actor};
use dcr_core::clock::{Clock as _, SystemClock};

use crate::config::{Config, RawConfig};

/// The Data Holder's CDR Dynamic Client Registration server.
#[derive(Debug, Parser)]
#[command(name = "dcr-server", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables (DCR_*) override it.
    #[arg(long, global = true, env = "DCR_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API listener and the admin portal.
    Serve,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Manage administrator accounts.
    Admin {
        /// What to do.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The tamper-evident audit trail.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli::ops::AuditCommand,
    },
    /// The Data Holder's signing keys: list, rotate, retire.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli::ops::KeysCommand,
    },
    /// Provisioning into the downstream authorization server.
    Provisioning {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli::ops::ProvisioningCommand,
    },
    /// Export the registration list or the audit log as CSV or JSON lines (audited).
    Export {
        /// What to export.
        #[command(subcommand)]
        command: crate::cli::export::ExportCommand,
    },
}

/// Admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator (or set a new password for an existing one). The password is
    /// read from stdin when it is not a terminal, otherwise prompted for.
    Add {
        /// Sign-in name.
        username: String,
    },
    /// List the accounts with their role and state.
    List,
    /// Give an account a role: viewer, operator or administrator (the last enabled
    /// administrator keeps theirs).
    Role {
        /// Sign-in name.
        username: String,
        /// viewer, operator or administrator.
        role: String,
    },
    /// Disable an account: it cannot sign in, and its sessions end.
    Disable {
        /// Sign-in name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// Sign-in name.
        username: String,
    },
    /// End every session of an account.
    EndSessions {
        /// Sign-in name.
        username: String,
    },
    /// Remove an account's second factor and recovery codes (a lost device): it signs in with
    /// its password and enrols a new one.
    ResetSecondFactor {
        /// Sign-in name.
        username: String,
    },
}

/// Entry point.
#[must_use]
pub fn main() -> ExitCode {
    run_to_exit(run(Cli::parse()))
}

/// Runs `command` on a multi-threaded runtime and turns its outcome into the exit status, the
/// error and its causes printed on stderr (shared with `dcr-dev`).
pub fn run_to_exit(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            crate::telemetry::init(config.log_format, &config.log_filter);
            let app = crate::startup::Application::build(config, Arc::new(SystemClock)).await?;
            app.run_until_stopped(crate::startup::shutdown_signal())
                .await
        }
        Command::CheckConfig => {
            let config = Config::load(cli.config.as_deref())?;
            print!("{}", config.redacted());
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Add { username },
        } => admin_add(cli.config.as_deref(), &username).await,
        Command::Admin { command } => crate::cli::ops::admin(cli.config.as_deref(), command).await,
        Command::Audit { command } => crate::cli::ops::audit(cli.config.as_deref(), command).await,
        Command::Keys { command } => crate::cli::ops::keys(cli.config.as_deref(), command).await,
        Command::Provisioning { command } => {
            crate::cli::ops::provisioning(cli.config.as_deref(), command).await
        }
        Command::Export { command } => {
            crate::cli::export::export(cli.config.as_deref(), command).await
        }
    }
}

/// The store URL from the configuration file and environment, for commands that only need the
/// store.
///
/// # Errors
/// Unreadable configuration.
pub(crate) fn store_url(config: Option<&std::path::Path>) -> anyhow::Result<String> {
    database_url(config)
}

/// Whether a signing key file is configured (the store's keys are then not used).
///
/// # Errors
/// Unreadable configuration.
pub(crate) fn configured_signing_key(config: Option<&std::path::Path>) -> anyhow::Result<bool> {
    let raw = RawConfig::load(config, &|k| std::env::var(k).ok())?;
    Ok(raw.security.signing_key.is_some())
}

fn database_url(config: Option<&std::path::Path>) -> anyhow::Result<String> {
    let raw = RawConfig::load(config, &|k| std::env::var(k).ok())?;
    Ok(raw.database.url.unwrap_or_else(|| "sqlite://dcr.db".into()))
}

async fn admin_add(config: Option<&std::path::Path>, username: &str) -> anyhow::Result<()> {
    let username = username.trim();
    anyhow::ensure!(
        !username.is_empty()
            && username.len() <= 64
            && username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)),
        "the username must be 1 to 64 characters of letters, digits and . _ - @"
    );
    let password = if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Password for {username}: "))
            .context("reading the password")?;
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        anyhow::ensure!(p == again, "the passwords differ");
        p
    } else {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the password from stdin")?;
        s.lines().next().unwrap_or_default().to_string()
    };
    anyhow::ensure!(
        password.chars().count() >= 12,
        "the password must be at least 12 characters"
    );
    anyhow::ensure!(
        password.len() <= 1024,
        "the password must be at most 1024 bytes"
    );
    let url = database_url(config)?;
    let store = dcr_store::Store::connect(&url)
        .await
        .context("connecting to the store")?;
    let hash = crate::portal::password::hash(password).await?;
    let now = SystemClock.now();
    let created = store
        .upsert_admin(&uuid::Uuid::new_v4().to_string(), username, &hash, now)
        .await?;
    store
        .append_audit(&dcr_store::NewAuditEvent {
            occurred_at: now,
            actor: Actor::Cli.into(),
            action: if created {
                Action::AdminCreate
            } else {
                Action::AdminPasswordReset
            }
            .into(),
            after_state: Some(serde_json::json!({ "username": username }).to_string()),
            ..Default::default()
        })
        .await?;
    store.close().await;
    println!(
        "{} administrator {username}",
        if created {
            "created"
        } else {
            "updated the password of"
        }
    );
    Ok(())
}
