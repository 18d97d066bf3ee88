//! Signed checkpoints of the audit chain (docs/deploy.md, section 9, "Signed checkpoints").
//!
//! A checkpoint is the chain's head at an event and the number of events up to it, signed with
//! the Data Holder's active key and stored beside the events. A routine verification checks the
//! newest checkpoint's signature and walks only the events after it, so its cost follows the
//! events written since, not the size of the trail; `--full` walks every event and matches
//! every checkpoint on the way. A checkpoint whose signature does not verify (edited, unsigned,
//! signed by an unknown key) is reported and never trusted: the walk starts from the newest one
//! that verifies, or from the first event.
//!
//! Checkpoints are made by `dcr-server audit checkpoint` and by every running instance once an
//! hour (skipped while the newest trusted one is younger), each only after the events since the
//! previous trusted checkpoint verified: a checkpoint vouches for the events it adds, and
//! `--full` is the walk that finds an edit among the events an earlier checkpoint covers.

use std::time::Duration;

use anyhow::Context as _;
use dcr_core::jose::{verify_with_set, JwkSet, SigningKey, VerifyingKey};
use dcr_store::{AuditCheckpoint, ChainStatus, Store, Walk};

use crate::state::AppState;

/// How often a running instance makes a checkpoint.
pub const EVERY: Duration = Duration::from_secs(3600);

/// When a running instance first tries, after its start.
const FIRST: Duration = Duration::from_secs(60);

/// Checkpoints a routine verification looks back through for one whose signature verifies.
const LOOK_BACK: i64 = 100;

/// What a verification found.
#[derive(Debug)]
pub struct Verification {
    /// The walk.
    pub chain: ChainStatus,
    /// The checkpoint the walk started after (its signature verified).
    pub from: Option<AuditCheckpoint>,
    /// Checkpoints whose signature does not verify.
    pub bad_checkpoints: Vec<BadCheckpoint>,
}

/// A checkpoint whose signature does not vouch for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCheckpoint {
    /// Its id.
    pub checkpoint_id: i64,
    /// The event it names.
    pub audit_event_id: i64,
    /// Why it is not trusted.
    pub problem: String,
}

impl std::fmt::Display for BadCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checkpoint {} is not trusted: {}",
            self.checkpoint_id, self.problem
        )
    }
}

impl BadCheckpoint {
    fn of(cp: &AuditCheckpoint, problem: String) -> Self {
        Self {
            checkpoint_id: cp.checkpoint_id,
            audit_event_id: cp.audit_event_id,
            problem,
        }
    }
}

impl Verification {
    /// Whether the chain and every checkpoint looked at verify.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.chain.ok && self.bad_checkpoints.is_empty()
    }

    /// The chain's status with the first untrusted checkpoint as its break (when the chain
    /// itself verifies): what the portal's tamper check shows.
    #[must_use]
    pub fn into_status(self) -> ChainStatus {
        match self.bad_checkpoints.into_iter().next() {
            Some(bad) if self.chain.ok => ChainStatus {
                ok: false,
                checked: self.chain.checked,
                first_broken: Some(bad.audit_event_id),
                problem: Some(bad.to_string()),
                head: None,
                head_event: None,
            },
            _ => self.chain,
        }
    }
}

/// The portal's tamper check: a routine verification with the key file's key (`key_file`) or
/// the keys in the store.
#[must_use]
pub fn portal_verifier(
    keys: std::sync::Arc<crate::keys::LiveKeys>,
    key_file: bool,
) -> app::ssr::ChainVerifier {
    std::sync::Arc::new(move |store| {
        let keys = keys.clone();
        Box::pin(async move {
            let ring = keys.load();
            let set = verification_keys(&store, key_file.then(|| ring.active()))
                .await
                .map_err(|e| format!("{e:#}"))?;
            verify(&store, &set, false, None)
                .await
                .map(Verification::into_status)
                .map_err(|e| format!("{e:#}"))
        })
    })
}

/// The keys a checkpoint may be signed with. With a key file configured (`key_file`), its key
/// only: the keys in the database are as writable as the events, and a key file outside it is
/// what makes a checkpoint worth more than the events it vouches for. Otherwise every key in
/// the store, retired ones included (a checkpoint outlives the key that signed it).
///
/// # Errors
/// Store failures or an unreadable key.
pub async fn verification_keys(
    store: &Store,
    key_file: Option<&SigningKey>,
) -> anyhow::Result<JwkSet> {
    if let Some(key) = key_file {
        return JwkSet::from_keys([key.verifying_key()]).context("the verification key");
    }
    let mut keys: Vec<VerifyingKey> = Vec::new();
    for k in store.signing_keys().await.context("reading signing keys")? {
        let key = SigningKey::from_pkcs8_pem(&k.private_pem, k.kid.clone())
            .with_context(|| format!("loading key {}", k.kid))?;
        keys.push(key.verifying_key());
    }
    JwkSet::from_keys(keys).context("the verification keys")
}

/// Why `cp`'s signature does not vouch for it, if it does not.
#[must_use]
pub fn signature_problem(cp: &AuditCheckpoint, keys: &JwkSet) -> Option<String> {
    match verify_with_set(&cp.signature, keys) {
        Err(e) => Some(format!("its signature does not verify: {e}")),
        Ok((_, claims)) => {
            let signed = AuditCheckpoint::signed_claims(
                cp.audit_event_id,
                &cp.head_hash,
                cp.event_count,
                cp.created_at,
            );
            (serde_json::Value::Object(claims) != signed)
                .then(|| "what it says is not what was signed".to_string())
        }
    }
}

/// Verifies the chain: from the newest checkpoint whose signature verifies (routine), or every
/// event and every checkpoint (`full`, or when a `recorded_head` must be found).
///
/// # Errors
/// Store failures.
pub async fn verify(
    store: &Store,
    keys: &JwkSet,
    full: bool,
    recorded_head: Option<&str>,
) -> anyhow::Result<Verification> {
    let mut bad_checkpoints = Vec::new();
    if full || recorded_head.is_some() {
        let checkpoints = store
            .audit_checkpoints()
            .await
            .context("reading checkpoints")?;
        // Only the trusted ones are matched on the way; the others are reported.
        let mut trusted = Vec::with_capacity(checkpoints.len());
        for cp in checkpoints {
            match signature_problem(&cp, keys) {
                Some(problem) => bad_checkpoints.push(BadCheckpoint::of(&cp, problem)),
                None => trusted.push(cp),
            }
        }
        let chain = store
            .walk_audit_chain(Walk {
                from: None,
                checkpoints: &trusted,
                recorded_head,
            })
            .await
            .context("reading the audit trail")?;
        return Ok(Verification {
            chain,
            from: None,
            bad_checkpoints,
        });
    }
    let mut from = None;
    for cp in store
        .latest_audit_checkpoints(LOOK_BACK)
        .await
        .context("reading checkpoints")?
    {
        match signature_problem(&cp, keys) {
            Some(problem) => bad_checkpoints.push(BadCheckpoint::of(&cp, problem)),
            None => {
                from = Some(cp);
                break;
            }
        }
    }
    let chain = store
        .walk_audit_chain(Walk {
            from: from.as_ref(),
            ..Walk::default()
        })
        .await
        .context("reading the audit trail")?;
    Ok(Verification {
        chain,
        from,
        bad_checkpoints,
    })
}

/// Verifies the events since the newest trusted checkpoint and, when they verify and there are
/// new ones, signs a checkpoint at the head with `key`, unless the newest trusted checkpoint is
/// younger than `min_age` seconds. Untrusted checkpoints are reported in the verification and do
/// not stop a new one: the chain since the last trusted checkpoint verified. Returns the
/// verification, and the checkpoint made.
///
/// # Errors
/// Store or signing failures.
pub async fn make(
    store: &Store,
    keys: &JwkSet,
    key: &SigningKey,
    now: i64,
    min_age: i64,
) -> anyhow::Result<(Verification, Option<AuditCheckpoint>)> {
    let found = verify(store, keys, false, None).await?;
    let (Some(head), Some(event)) = (&found.chain.head, found.chain.head_event) else {
        return Ok((found, None));
    };
    let due = found
        .from
        .as_ref()
        .is_none_or(|cp| cp.audit_event_id < event && now - cp.created_at >= min_age);
    if !found.chain.ok || !due {
        return Ok((found, None));
    }
    let count = i64::try_from(found.chain.checked).context("event count")?;
    let cp = sign_and_store(store, key, event, head, count, now).await?;
    Ok((found, Some(cp)))
}

/// Signs a checkpoint of `count` events up to `event`, whose hash is `head`, and stores it.
///
/// # Errors
/// Signing or store failures.
pub async fn sign_and_store(
    store: &Store,
    key: &SigningKey,
    event: i64,
    head: &str,
    count: i64,
    now: i64,
) -> anyhow::Result<AuditCheckpoint> {
    let signature = key
        .sign(&AuditCheckpoint::signed_claims(event, head, count, now))
        .context("signing the checkpoint")?;
    store
        .add_audit_checkpoint(event, head, count, now, &signature)
        .await
        .context("storing the checkpoint")
}

/// Makes a checkpoint a minute after start and then every [`EVERY`] while the server runs,
/// unless the newest trusted one (made by any instance on the store) is younger than that.
pub async fn run(state: AppState, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    let mut wait = FIRST;
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        let ring = state.keys.load();
        let key_file = state.config.signing_key.is_some().then(|| ring.active());
        let now = state.clock.now();
        let min_age = EVERY.as_secs().cast_signed() - 60;
        let made = match verification_keys(&state.store, key_file).await {
            Ok(keys) => make(&state.store, &keys, ring.active(), now, min_age).await,
            Err(e) => Err(e),
        };
        match made {
            Ok((found, made)) => {
                for bad in &found.bad_checkpoints {
                    tracing::error!(target: "security", checkpoint = bad.checkpoint_id, problem = %bad.problem, "audit checkpoint not trusted");
                }
                if !found.chain.ok {
                    tracing::error!(
                        target: "security",
                        problem = ?found.chain.problem,
                        first_broken = ?found.chain.first_broken,
                        "audit chain does not verify: no checkpoint made"
                    );
                }
                if let Some(cp) = made {
                    tracing::info!(
                        checkpoint = cp.checkpoint_id,
                        events = cp.event_count,
                        "audit checkpoint made"
                    );
                }
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "audit checkpoint failed"),
        }
    }
}
