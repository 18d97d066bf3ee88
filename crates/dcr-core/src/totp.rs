//! The portal's second factor: time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits,
//! 30-second steps, the parameters every authenticator app assumes) and one-time recovery codes.
//!
//! No I/O and no clock: the caller passes `now` and the last time step the account used.
//!
//! # Security
//! - A code is accepted for the current step and one step either side (RFC 6238 §5.2 allows
//!   "at most one time step" of network delay), and only for a step later than the last one
//!   used, so a code cannot be replayed (§5.2: the verifier "MUST NOT accept the second attempt
//!   of the same OTP").
//! - Every step of the window is compared, in constant time, whether or not one matched.
//! - Recovery codes are 80 random bits; only their SHA-256 digest is kept (docs/decisions.md).
//! - [`TotpSecret`] and [`RecoveryCode`] never show their value in `Debug`.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds in a time step.
pub const STEP_SECS: i64 = 30;
/// Steps accepted either side of the current one.
pub const WINDOW_STEPS: i64 = 1;
/// Bytes of a new secret (160 bits, the HMAC-SHA-1 output size RFC 4226 §4 recommends).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// Why a secret could not be made or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TotpError {
    /// The system's random generator failed.
    #[error("no randomness available")]
    Random,
    /// Not base32, or shorter than 128 bits.
    #[error("not a TOTP secret")]
    Malformed,
}

/// A TOTP shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A new random secret.
    ///
    /// # Errors
    /// [`TotpError::Random`] when the system's random generator fails.
    pub fn generate() -> Result<Self, TotpError> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| TotpError::Random)?;
        Ok(Self(bytes))
    }

    /// Reads a base32 secret (RFC 4648, with or without padding, any case).
    ///
    /// # Errors
    /// [`TotpError::Malformed`] when it is not base32 or holds less than 128 bits.
    pub fn from_base32(encoded: &str) -> Result<Self, TotpError> {
        let upper = encoded.trim().trim_end_matches('=').to_ascii_uppercase();
        let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &upper)
            .ok_or(TotpError::Malformed)?;
        if bytes.len() < 16 {
            return Err(TotpError::Malformed);
        }
        Ok(Self(bytes))
    }

    /// The secret in base32 without padding, as authenticator apps take it when typed.
    #[must_use]
    pub fn to_base32(&self) -> String {
        base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &self.0)
    }

    /// The `otpauth://totp/` URI an authenticator app reads (the Key Uri Format): the label is
    /// `issuer:account`, with the parameters spelled out.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            enc(issuer),
            enc(account),
            self.to_base32(),
            enc(issuer)
        )
    }

    fn totp(&self) -> TOTP {
        // The parameters are fixed and valid; `new_unchecked` only skips the length check,
        // which `generate` and `from_base32` already made.
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            u64::try_from(STEP_SECS).unwrap_or(30),
            self.0.clone(),
        )
    }

    /// The code of time step `step`.
    #[must_use]
    pub fn code_at_step(&self, step: i64) -> String {
        let time = u64::try_from(step.max(0)).unwrap_or(0) * u64::try_from(STEP_SECS).unwrap_or(30);
        self.totp().generate(time)
    }

    /// The code at `now` (Unix seconds).
    #[must_use]
    pub fn code_at(&self, now: i64) -> String {
        self.code_at_step(step_of(now))
    }

    /// The step `code` belongs to, if it is the code of a step within [`WINDOW_STEPS`] of
    /// `now`'s and later than `last_used`; the caller records that step as used.
    #[must_use]
    pub fn check(&self, code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_of(now);
        let mut found = None;
        for step in current - WINDOW_STEPS..=current + WINDOW_STEPS {
            let same: bool = self
                .code_at_step(step)
                .as_bytes()
                .ct_eq(code.as_bytes())
                .into();
            if same && found.is_none() && last_used.is_none_or(|last| step > last) {
                found = Some(step);
            }
        }
        found
    }
}

/// The time step of `now` (Unix seconds).
#[must_use]
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// A recovery code as shown once: 16 base32 characters in groups of four.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

impl RecoveryCode {
    /// A new random code (80 bits).
    ///
    /// # Errors
    /// [`TotpError::Random`] when the system's random generator fails.
    pub fn generate() -> Result<Self, TotpError> {
        let mut bytes = [0u8; 10];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| TotpError::Random)?;
        let plain = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &bytes)
            .to_ascii_lowercase();
        let grouped = plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-");
        Ok(Self(grouped))
    }

    /// The code, to show its owner once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its stored digest.
    #[must_use]
    pub fn digest(&self) -> String {
        recovery_code_digest(&self.0)
    }
}

/// Whether `input` looks like a recovery code rather than a TOTP code.
#[must_use]
pub fn is_recovery_code(input: &str) -> bool {
    normalise(input).len() == 16
}

fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The SHA-256 digest (hex) of a recovery code as typed: case, spaces and hyphens ignored.
#[must_use]
pub fn recovery_code_digest(input: &str) -> String {
    Sha256::digest(normalise(input).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which of `stored` digests `input` matches, compared in constant time with each.
#[must_use]
pub fn match_recovery_code<'a>(input: &str, stored: &'a [String]) -> Option<&'a str> {
    let digest = recovery_code_digest(input);
    let mut found = None;
    for s in stored {
        let same: bool = s.as_bytes().ct_eq(digest.as_bytes()).into();
        if same && found.is_none() {
            found = Some(s.as_str());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key, "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret(b"12345678901234567890".to_vec())
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // Appendix B gives 8 digits; ours are the last 6 of them.
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(rfc_secret().code_at(time), eight[2..], "at {time}");
        }
    }

    #[test]
    fn the_window_is_one_step_either_side() {
        let s = rfc_secret();
        let now = 1_111_111_111;
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = s.code_at_step(step + offset);
            assert_eq!(
                s.check(&code, now, None),
                accepted.then_some(step + offset),
                "a code {offset} steps from now"
            );
        }
    }

    #[test]
    fn a_used_step_and_earlier_ones_are_refused() {
        let s = rfc_secret();
        let now = 1_111_111_111;
        let step = step_of(now);
        let code = s.code_at(now);
        assert_eq!(s.check(&code, now, Some(step - 1)), Some(step));
        assert_eq!(s.check(&code, now, Some(step)), None, "replayed");
        let previous = s.code_at_step(step - 1);
        assert_eq!(
            s.check(&previous, now, Some(step)),
            None,
            "older than the last used"
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        let s = rfc_secret();
        for code in ["", "12345", "1234567", "abcdef", "12 34 5x"] {
            assert_eq!(s.check(code, 59, None), None, "{code:?}");
        }
        let spaced = format!("{} {}", &s.code_at(59)[..3], &s.code_at(59)[3..]);
        assert!(s.check(&spaced, 59, None).is_some(), "spaces are ignored");
    }

    #[test]
    fn secrets_round_trip_through_base32_and_are_redacted() {
        let s = TotpSecret::generate().unwrap();
        assert_eq!(TotpSecret::from_base32(&s.to_base32()).unwrap(), s);
        assert_eq!(
            TotpSecret::from_base32(&s.to_base32().to_lowercase()).unwrap(),
            s
        );
        assert_eq!(format!("{s:?}"), "TotpSecret(..)");
        assert_eq!(TotpSecret::from_base32("AAAA"), Err(TotpError::Malformed));
        assert_eq!(
            TotpSecret::from_base32("not base32!"),
            Err(TotpError::Malformed)
        );
        let uri = s.otpauth_uri("DCR Admin", "alice@example");
        assert!(uri.starts_with("otpauth://totp/DCR%20Admin:alice%40example?secret="));
        assert!(uri.contains("&digits=6&period=30"));
    }

    #[test]
    fn recovery_codes_match_once_typed_loosely() {
        let code = RecoveryCode::generate().unwrap();
        assert_eq!(code.expose().len(), 19);
        assert_eq!(format!("{code:?}"), "RecoveryCode(..)");
        let stored = vec![recovery_code_digest("other"), code.digest()];
        let typed = code.expose().to_uppercase().replace('-', " ");
        assert!(is_recovery_code(&typed));
        assert_eq!(
            match_recovery_code(&typed, &stored),
            Some(stored[1].as_str())
        );
        assert_eq!(match_recovery_code("aaaa-bbbb-cccc-dddd", &stored), None);
        assert!(!is_recovery_code("123456"));
    }
}
