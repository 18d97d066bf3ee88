//! Administrator passwords: argon2id (OWASP parameters: 19 MiB, 2 passes), computed off the
//! async threads, a few at a time ([`PasswordChecks`]). Verification of an unknown user runs
//! against a dummy hash so that it costs the same as a wrong password.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::telemetry::spawn_blocking_in_span;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (blocking; call from a blocking context or use [`hash`]).
///
/// # Errors
/// Only if the hasher fails, which the constant parameters rule out in practice.
pub fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Hashes a password off the async threads.
///
/// # Errors
/// Hashing failure or a panicked worker.
pub async fn hash(password: String) -> anyhow::Result<String> {
    Ok(spawn_blocking_in_span(move || hash_blocking(&password)).await??)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("not a real password; evens out timing").unwrap_or_default())
}

/// Verifies `password` against `stored` (or against a dummy hash when `None`, returning false).
/// Never panics; a malformed stored hash counts as a mismatch.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let real = stored.is_some();
    spawn_blocking_in_span(move || {
        let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real
    })
    .await
    .unwrap_or(false)
}

/// At most this long in the queue for a password check before the request is turned away.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Bounds the CPU and memory that password checks can take (each is 19 MiB and tens of
/// milliseconds of a core): a few run at once, a few more wait, the rest are turned away at
/// once (the portal answers 503 with `Retry-After`).
#[derive(Clone)]
pub struct PasswordChecks {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// Every slot and queue place is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl PasswordChecks {
    /// `slots` checks at once (at least one), `queue` more waiting.
    #[must_use]
    pub fn new(slots: usize, queue: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: queue,
        }
    }

    /// A slot, now or after a short wait in the queue.
    ///
    /// # Errors
    /// [`Busy`] when the queue is full or the wait too long.
    pub async fn slot(&self) -> Result<SemaphorePermit<'_>, Busy> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = tokio::time::timeout(MAX_QUEUE_WAIT, self.slots.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }

    /// [`verify`] in a slot.
    ///
    /// # Errors
    /// [`Busy`]: the password was not checked.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, Busy> {
        let _slot = self.slot().await?;
        Ok(verify(password, stored).await)
    }

    /// [`hash`] in a slot.
    ///
    /// # Errors
    /// [`Busy`]: the password was not hashed.
    pub async fn hash(&self, password: String) -> Result<anyhow::Result<String>, Busy> {
        let _slot = self.slot().await?;
        Ok(hash(password).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong".into(), Some(h)).await);
    }

    #[tokio::test]
    async fn checks_beyond_the_slots_and_the_queue_are_turned_away() {
        let checks = PasswordChecks::new(1, 1);
        let held = checks.slot().await.unwrap();
        let queued = {
            let checks = checks.clone();
            tokio::spawn(async move { checks.slot().await.map(drop) })
        };
        while checks.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(checks.slot().await.err(), Some(Busy), "the queue is full");
        drop(held);
        assert_eq!(
            queued.await.unwrap(),
            Ok(()),
            "the queued check got the slot"
        );
        assert!(checks.slot().await.is_ok());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify("not a real password; evens out timing".into(), None).await);
        assert!(!verify("x".into(), Some("garbage".into())).await);
    }
}
