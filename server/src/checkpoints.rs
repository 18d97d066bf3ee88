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
//! hour (skipped while the newest is younger), each only after the events since the previous
//! checkpoint verified, so a checkpoint never vouches for a broken chain.

use std::time::Duration;

use anyhow::Context as _;
use dcr_core::jose::{verify_with_set, JwkSet, SigningKey, VerifyingKey};
use dcr_store::{AuditCheckpoint, ChainStatus, Store, Walk};

use crate::state::AppState;

/// How often a running instance makes a checkpoint.
pub const EVERY: Duration = Duration::from_secs(3600);

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

/// The portal's tamper check: a routine verification with the keys in the store and the
/// running instance's.
#[must_use]
pub fn portal_verifier(keys: std::sync::Arc<crate::keys::LiveKeys>) -> app::ssr::ChainVerifier {
    std::sync::Arc::new(move |store| {
        let keys = keys.clone();
        Box::pin(async move {
            let ring = keys.load();
            let set = verification_keys(&store, Some(ring.active()))
                .await
                .map_err(|e| format!("{e:#}"))?;
            verify(&store, &set, false, None)
                .await
                .map(Verification::into_status)
                .map_err(|e| format!("{e:#}"))
        })
    })
}

/// The keys a checkpoint may be signed with: every key in the store, retired ones included (a
/// checkpoint outlives the key that signed it), and the configured key file's.
///
/// # Errors
/// Store failures or an unreadable key.
pub async fn verification_keys(
    store: &Store,
    configured: Option<&SigningKey>,
) -> anyhow::Result<JwkSet> {
    let mut keys: Vec<VerifyingKey> = Vec::new();
    let mut kids = std::collections::HashSet::new();
    for k in store.signing_keys().await.context("reading signing keys")? {
        let key = SigningKey::from_pkcs8_pem(&k.private_pem, k.kid.clone())
            .with_context(|| format!("loading key {}", k.kid))?;
        kids.insert(k.kid);
        keys.push(key.verifying_key());
    }
    // The configured key file's, unless it is one of those (the running instance's key).
    if let Some(key) = configured.filter(|c| !kids.contains(c.kid())) {
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
        for cp in &checkpoints {
            if let Some(problem) = signature_problem(cp, keys) {
                bad_checkpoints.push(BadCheckpoint::of(cp, problem));
            }
        }
        let chain = store
            .walk_audit_chain(Walk {
                from: None,
                checkpoints: &checkpoints,
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

/// Verifies the events since the last checkpoint and, when they verify and there are new ones,
/// signs a checkpoint at the head with `key`. Returns the verification, and the checkpoint made.
///
/// # Errors
/// Store or signing failures.
pub async fn make(
    store: &Store,
    keys: &JwkSet,
    key: &SigningKey,
    now: i64,
) -> anyhow::Result<(Verification, Option<AuditCheckpoint>)> {
    let found = verify(store, keys, false, None).await?;
    let (Some(head), Some(event)) = (&found.chain.head, found.chain.head_event) else {
        return Ok((found, None));
    };
    let new_events = found
        .from
        .as_ref()
        .is_none_or(|cp| cp.audit_event_id < event);
    if !found.ok() || !new_events {
        return Ok((found, None));
    }
    let count = i64::try_from(found.chain.checked).context("event count")?;
    let signature = key
        .sign(&AuditCheckpoint::signed_claims(event, head, count, now))
        .context("signing the checkpoint")?;
    let cp = store
        .add_audit_checkpoint(event, head, count, now, &signature)
        .await
        .context("storing the checkpoint")?;
    Ok((found, Some(cp)))
}

/// Makes a checkpoint every [`EVERY`] while the server runs, unless one was made less than
/// [`EVERY`] ago (by this instance or another on the same store).
pub async fn run(state: AppState, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        let now = state.clock.now();
        let recent = match state.store.latest_audit_checkpoints(1).await {
            Ok(latest) => latest
                .first()
                .is_some_and(|cp| now - cp.created_at < EVERY.as_secs().cast_signed()),
            Err(e) => {
                tracing::warn!(error = %e, "audit checkpoint: the store could not be read");
                continue;
            }
        };
        if recent {
            continue;
        }
        let ring = state.keys.load();
        let made = match verification_keys(&state.store, Some(ring.active())).await {
            Ok(keys) => make(&state.store, &keys, ring.active(), now).await,
            Err(e) => Err(e),
        };
        match made {
            Ok((_, Some(cp))) => tracing::info!(
                checkpoint = cp.checkpoint_id,
                events = cp.event_count,
                "audit checkpoint made"
            ),
            Ok((found, None)) if !found.ok() => tracing::error!(
                target: "security",
                problem = ?found.chain.problem,
                first_broken = ?found.chain.first_broken,
                bad_checkpoints = ?found.bad_checkpoints,
                "audit chain does not verify: no checkpoint made"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "audit checkpoint failed"),
        }
    }
}
