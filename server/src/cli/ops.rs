//! Operator commands on the store: `audit verify` and `keys list|rotate|retire-expired`.

use anyhow::Context as _;
use clap::Subcommand;
use dcr_core::clock::{Clock as _, SystemClock};

use crate::keys::KeyAlg;

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the whole audit chain, recompute every hash, and name the first event that does not
    /// verify (exit status 1). Prints the head hash of an intact chain: record it elsewhere.
    Verify {
        /// A head hash printed by an earlier verification: the chain must still contain it
        /// (otherwise events after it were deleted or the chain was rewritten; exit status 1).
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the Data Holder's signing keys: the signing one, published ones, retired ones.
    List,
    /// Add a new signing key. Running instances publish it and sign with it within 30 s; the
    /// older keys are retired automatically once the longest token lifetime has passed.
    Rotate {
        /// Algorithm of the new key.
        #[arg(long, value_enum, default_value = "ES256")]
        alg: KeyAlg,
    },
    /// Retire the keys superseded longer ago than the longest token lifetime (running
    /// instances also do this on their own).
    RetireExpired,
}

async fn connect(config: Option<&std::path::Path>) -> anyhow::Result<dcr_store::Store> {
    let url = crate::cli::store_url(config)?;
    dcr_store::Store::connect(&url)
        .await
        .with_context(|| format!("connecting to the store {}", dcr_store::redact_url(&url)))
}

/// Runs an `audit` subcommand.
///
/// # Errors
/// Store failures, or a chain that does not verify.
pub async fn audit(config: Option<&std::path::Path>, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { head } => {
            let store = connect(config).await?;
            let status = match head.as_deref().map(str::trim) {
                Some(recorded) => store.verify_audit_chain_to(recorded).await,
                None => store.verify_audit_chain().await,
            };
            store.close().await;
            let status = status.context("reading the audit trail")?;
            if status.ok {
                println!("audit chain intact: {} events", status.checked);
                if let Some(head) = status.head {
                    println!("head: {head}");
                }
                Ok(())
            } else if let Some(id) = status.first_broken {
                anyhow::bail!(
                    "audit chain broken at event {id}: {} ({} events before it verify)",
                    status.problem.unwrap_or_default(),
                    status.checked
                )
            } else {
                anyhow::bail!(
                    "audit chain does not verify: {} ({} events verify)",
                    status.problem.unwrap_or_default(),
                    status.checked
                )
            }
        }
    }
}

/// Runs a `keys` subcommand.
///
/// # Errors
/// Store failures or key generation failures.
pub async fn keys(config: Option<&std::path::Path>, cmd: KeysCommand) -> anyhow::Result<()> {
    let store = connect(config).await?;
    let now = SystemClock.now();
    let out = run_keys(&store, cmd, now).await;
    store.close().await;
    if crate::cli::configured_signing_key(config)? {
        eprintln!(
            "warning: a signing key file is configured (DCR_SIGNING_KEY); the server signs with it \
             and ignores the keys in the store"
        );
    }
    out
}

async fn run_keys(store: &dcr_store::Store, cmd: KeysCommand, now: i64) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List => {}
        KeysCommand::Rotate { alg } => {
            let row = crate::keys::rotate(store, alg, now).await?;
            println!("added signing key {} ({})", row.kid, row.alg);
        }
        KeysCommand::RetireExpired => {
            let retired = crate::keys::retire_expired(store, now).await?;
            if retired.is_empty() {
                println!("no key to retire");
            }
            for kid in retired {
                println!("retired {kid}");
            }
        }
    }
    let keys = store.signing_keys().await.context("reading signing keys")?;
    let signing = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.kid.as_str())
        .next_back();
    println!(
        "{:<40} {:<6} {:>12} {:>12}  state",
        "kid", "alg", "created_at", "retired_at"
    );
    for k in &keys {
        let state = match (k.retired_at, Some(k.kid.as_str()) == signing) {
            (Some(_), _) => "retired",
            (None, true) => "signing, published",
            (None, false) => "published (superseded)",
        };
        let retired = k
            .retired_at
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<40} {:<6} {:>12} {:>12}  {state}",
            k.kid, k.alg, k.created_at, retired
        );
    }
    Ok(())
}
