//! Administrator passwords: argon2id (OWASP parameters: 19 MiB, 2 passes), computed off the
//! async threads. Verification of an unknown user runs against a dummy hash so that it costs
//! the same as a wrong password.

use std::sync::OnceLock;

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
    async fn unknown_user_never_verifies() {
        assert!(!verify("not a real password; evens out timing".into(), None).await);
        assert!(!verify("x".into(), Some("garbage".into())).await);
    }
}
