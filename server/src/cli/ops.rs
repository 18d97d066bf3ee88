//! Operator commands on the store: `audit verify`, `keys list|rotate|retire-expired` and
//! `provisioning reconcile`.

use anyhow::Context as _;
use clap::Subcommand;
use dcr_core::clock::{Clock as _, SystemClock};

use crate::keys::KeyAlg;

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit chain: check the newest signed checkpoint and recompute the hash of
    /// every event after it (with `--full`, of every event, matching every checkpoint). Names
    /// the first event that does not verify and every checkpoint whose signature does not
    /// (exit status 1). Prints the head hash of an intact chain: record it elsewhere.
    Verify {
        /// A head hash printed by an earlier verification: the chain must still contain it
        /// (otherwise events after it were deleted or the chain was rewritten; exit status 1).
        /// Walks the whole chain.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        /// Walk every event from the first, not only those after the newest checkpoint.
        #[arg(long)]
        full: bool,
    },
    /// Verify the events since the newest checkpoint and, when they verify, sign a checkpoint
    /// at the head with the Data Holder's signing key (running instances make one an hour).
    Checkpoint,
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

/// `provisioning` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProvisioningCommand {
    /// Compare every provisioned registration with its client at the downstream authorization
    /// server and list the drift (missing, extra, disabled state or metadata that differs, or
    /// not checked). Exit status 1 while any drift is left unrepaired.
    Reconcile {
        /// Also queue the change that repairs each drifted client; the server's deliverer
        /// carries the repairs out (within a second when it runs).
        #[arg(long)]
        repair: bool,
    },
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
    let store = connect(config).await?;
    let out = run_audit(&store, config, cmd).await;
    store.close().await;
    out
}

async fn run_audit(
    store: &dcr_store::Store,
    config: Option<&std::path::Path>,
    cmd: AuditCommand,
) -> anyhow::Result<()> {
    use crate::checkpoints;
    let raw = crate::config::RawConfig::load(config, &|k| std::env::var(k).ok())?;
    let key_file = raw
        .security
        .signing_key
        .as_deref()
        .map(std::path::Path::new);
    let now = SystemClock.now();
    // The key that signs: the key file, or the store's newest live key (never one made here:
    // the server makes the first at its first start).
    let ring = match (&cmd, key_file) {
        (_, Some(path)) => Some(
            crate::keys::KeyRing::load(
                store,
                now,
                Some((path, raw.security.signing_kid.as_deref())),
            )
            .await?,
        ),
        (AuditCommand::Checkpoint, None) => {
            let stored = store.signing_keys().await.context("reading signing keys")?;
            anyhow::ensure!(
                stored.iter().any(|k| k.retired_at.is_none()),
                "no signing key in the store: start the server once (it makes one), or configure \
                 security.signing_key"
            );
            Some(crate::keys::KeyRing::load(store, now, None).await?)
        }
        (AuditCommand::Verify { .. }, None) => None,
    };
    let signing = ring.as_ref().map(crate::keys::KeyRing::active);
    let keys = checkpoints::verification_keys(store, key_file.and(signing)).await?;
    let found = match (&cmd, signing) {
        (AuditCommand::Verify { head, full }, _) => {
            checkpoints::verify(store, &keys, *full, head.as_deref().map(str::trim)).await?
        }
        (AuditCommand::Checkpoint, Some(key)) => {
            let (found, made) = checkpoints::make(store, &keys, key, now, 0).await?;
            match made {
                Some(cp) => println!(
                    "checkpoint {} signed at event {} ({} events)",
                    cp.checkpoint_id, cp.audit_event_id, cp.event_count
                ),
                None if found.chain.ok && found.chain.head_event.is_none() => {
                    println!("the audit trail is empty: nothing to sign");
                }
                None if found.chain.ok => println!("no new event since the newest checkpoint"),
                None => {}
            }
            found
        }
        (AuditCommand::Checkpoint, None) => anyhow::bail!("no signing key"),
    };
    for bad in &found.bad_checkpoints {
        eprintln!("{bad}");
    }
    let status = &found.chain;
    if let Some(cp) = &found.from {
        println!(
            "from checkpoint {} (event {}, {} events, signed): {} events after it",
            cp.checkpoint_id,
            cp.audit_event_id,
            cp.event_count,
            status.checked.saturating_sub(cp.event_count.unsigned_abs())
        );
    }
    if status.ok {
        println!("audit chain intact: {} events", status.checked);
        if let Some(head) = &status.head {
            println!("head: {head}");
        }
        anyhow::ensure!(
            found.bad_checkpoints.is_empty(),
            "{} checkpoint(s) not trusted",
            found.bad_checkpoints.len()
        );
        Ok(())
    } else if let Some(id) = status.first_broken {
        anyhow::bail!(
            "audit chain broken at event {id}: {} ({} events before it verify)",
            status.problem.clone().unwrap_or_default(),
            status.checked
        )
    } else {
        anyhow::bail!(
            "audit chain does not verify: {} ({} events verify)",
            status.problem.clone().unwrap_or_default(),
            status.checked
        )
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

/// Runs a `provisioning` subcommand.
///
/// # Errors
/// Provisioning is not configured, the store failed, or drift was left unrepaired.
pub async fn provisioning(
    config: Option<&std::path::Path>,
    cmd: ProvisioningCommand,
) -> anyhow::Result<()> {
    use crate::provisioning::{reconcile, Provisioner};
    let ProvisioningCommand::Reconcile { repair } = cmd;
    let config = crate::config::Config::load(config)?;
    let Some(p) = config.provisioning.clone() else {
        anyhow::bail!("provisioning is not enabled in the configuration ([provisioning] enabled)");
    };
    let provisioner =
        Provisioner::new(p).context("the downstream authorization server's client")?;
    let url = config.database_url.expose();
    let store = dcr_store::Store::connect(url)
        .await
        .with_context(|| format!("connecting to the store {}", dcr_store::redact_url(url)))?;
    let run = reconcile::Run {
        actor: dcr_audit::Actor::Cli,
        repair,
        lease_holder: None,
    };
    let report = reconcile::reconcile(&store, &provisioner, || SystemClock.now(), run).await;
    store.close().await;
    let report = report.context("reconciling")?;
    for d in &report.drift {
        let repaired = if d.repaired_at.is_some() {
            " [repair queued]"
        } else {
            ""
        };
        println!(
            "{:<9} {}  {}{repaired}",
            d.kind.as_str(),
            d.client_id,
            d.detail
        );
    }
    let r = &report.run;
    println!(
        "checked {} registrations: {} drifted, {} repairs queued",
        r.checked, r.drifted, r.repaired
    );
    let left = r.drifted - r.repaired;
    if left > 0 {
        anyhow::bail!("{left} registrations differ at the authorization server");
    }
    Ok(())
}

/// Runs an `admin` subcommand other than `add`.
///
/// # Errors
/// Store failures, an unknown account or role, or a change that would leave no enabled
/// administrator.
pub async fn admin(
    config: Option<&std::path::Path>,
    cmd: crate::cli::AdminCommand,
) -> anyhow::Result<()> {
    use crate::cli::AdminCommand;
    use dcr_audit::{Action, Actor};
    use dcr_store::{AdminChange, EndSessions, NewAuditEvent};
    let store = connect(config).await?;
    let now = SystemClock.now();
    let event = |action: Action, after: serde_json::Value| NewAuditEvent {
        occurred_at: now,
        actor: Actor::Cli.into(),
        action: action.into(),
        after_state: Some(after.to_string()),
        ..Default::default()
    };
    let outcome = match &cmd {
        // `admin add` reads a password: `crate::cli` runs it.
        AdminCommand::Add { .. } => {
            store.close().await;
            anyhow::bail!("admin add is run by the command line's entry point");
        }
        AdminCommand::List => {
            let admins = store.list_admins().await.context("reading the accounts");
            store.close().await;
            for a in admins? {
                let state = match (a.disabled_at, a.must_change_password) {
                    (Some(_), _) => "disabled",
                    (None, true) => "must change password",
                    (None, false) => "enabled",
                };
                let factor = match (a.totp_secret.is_some(), a.passkeys > 0) {
                    (true, true) => "password and authenticator app or passkey",
                    (true, false) => "password and authenticator app",
                    (false, true) => "password and passkey",
                    (false, false) => "password only",
                };
                println!("{:<24} {:<13} {state:<21} {factor}", a.username, a.role);
            }
            return Ok(());
        }
        AdminCommand::Role { username, role } => {
            anyhow::ensure!(
                dcr_store::ROLES.contains(&role.as_str()),
                "the role must be one of {}",
                dcr_store::ROLES.join(", ")
            );
            let audit = event(
                Action::AdminRoleChange,
                serde_json::json!({ "username": username, "role": role }),
            );
            store.set_admin_role(username, role, &audit).await
        }
        AdminCommand::Disable { username } | AdminCommand::Enable { username } => {
            let disable = matches!(cmd, AdminCommand::Disable { .. });
            let action = if disable {
                Action::AdminDisable
            } else {
                Action::AdminEnable
            };
            let audit = event(action, serde_json::json!({ "username": username }));
            store.set_admin_disabled(username, disable, &audit).await
        }
        AdminCommand::EndSessions { username } => {
            let ended = store
                .end_sessions_of(username, EndSessions::AllBut(None))
                .await;
            if let Ok(n) = ended {
                if n > 0 {
                    let audit = event(
                        Action::AdminSessionsEnded,
                        serde_json::json!({ "username": username, "sessions": n }),
                    );
                    store.append_audit(&audit).await.context("auditing")?;
                }
                println!("ended {n} sessions of {username}");
            }
            ended.map(|_| AdminChange::Done)
        }
        AdminCommand::ResetSecondFactor { username } => {
            let audit = event(
                Action::AdminSecondFactorReset,
                serde_json::json!({ "username": username }),
            );
            match store.find_admin(username).await {
                Ok(None) => Ok(AdminChange::NotFound),
                Ok(Some(_)) => store
                    .reset_second_factors(username, &audit)
                    .await
                    .map(|done| {
                        if done {
                            AdminChange::Done
                        } else {
                            AdminChange::Unchanged
                        }
                    }),
                Err(e) => Err(e),
            }
        }
    };
    store.close().await;
    match outcome.context("changing the account")? {
        AdminChange::Done => println!("done"),
        AdminChange::Unchanged => println!("nothing to change"),
        AdminChange::NotFound => anyhow::bail!("there is no such account"),
        AdminChange::LastAdministrator => anyhow::bail!(
            "this is the last enabled administrator: make another account an administrator first"
        ),
        AdminChange::FromProvider => anyhow::bail!(
            "this account signs in through single sign-on: its role follows the identity \
             provider's claim (change it there, or in portal.sso.roles)"
        ),
    }
    Ok(())
}
