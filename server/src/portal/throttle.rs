//! Sign-in throttling: how many password guesses anyone gets, counted in the store so that every
//! instance sees the same counts.
//!
//! Three counters, each keyed by a digest (the store never holds what was typed):
//! - **account and address** ([`PAIR_POLICY`]): 5 tries per account from one address (an IPv6
//!   client by its /64) in 15 minutes, then that address may not try that account for 15
//!   minutes. A guesser elsewhere cannot lock the real administrator out this way.
//! - **address** ([`ADDRESS_POLICY`]): 20 tries from one address in 15 minutes, whatever the
//!   accounts, then 15 minutes locked (against spraying one password over many names).
//! - **account, from anywhere**: from the [`ACCOUNT_DELAY_AFTER`]th failure within 15 minutes,
//!   each further try is answered only after a delay that grows by a second per failure, up to
//!   [`MAX_ACCOUNT_DELAY`]. Never a refusal: guessing from many addresses is slowed, while the
//!   real administrator, from any address, is always let in within that delay.
//!
//! A try is reserved (counted as a failure) before the password is checked, in one statement,
//! so a burst of parallel guesses gets exactly the tries serial ones get. A success gives the
//! reservations back and clears the account's counters.

use std::net::IpAddr;
use std::time::Duration;

use dcr_store::{Attempt, Store, StoreError, ThrottlePolicy};

/// Tries per account from one address: 5 in 15 minutes, then 15 minutes locked.
pub const PAIR_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window_secs: 15 * 60,
    lockout_secs: 15 * 60,
};

/// Tries from one address: 20 in 15 minutes, then 15 minutes locked.
pub const ADDRESS_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 20,
    window_secs: 15 * 60,
    lockout_secs: 15 * 60,
};

/// The account's failures from every address are counted in this policy's window; it never
/// locks.
const ACCOUNT_COUNT: ThrottlePolicy = ThrottlePolicy {
    max_failures: i64::MAX,
    window_secs: 15 * 60,
    lockout_secs: 0,
};

/// Failures of one account (from any address) before its tries are slowed down.
pub const ACCOUNT_DELAY_AFTER: i64 = 10;
/// The longest delay before a try of a much-guessed account is answered.
pub const MAX_ACCOUNT_DELAY: Duration = Duration::from_secs(10);

/// Why a try may not go ahead.
#[derive(Debug)]
pub enum Refused {
    /// A counter is locked.
    Locked,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// One reserved try: the account's and the address's counters already count it as a failure.
#[must_use = "a reserved try is settled with succeeded, failed or abandon"]
pub struct Reservation {
    pair: String,
    address: String,
    account: String,
    /// How long to wait before checking the password (a much-guessed account).
    pub delay: Duration,
    /// The lock this try set, if it used the last one allowed (by kind: "account", "address").
    pub locks: Vec<(&'static str, i64)>,
}

/// Reserves a try of `username` from `addr` at `now`.
///
/// # Errors
/// [`Refused::Locked`] when the account is locked for this address or the address is locked
/// (nothing is then counted); store failures.
pub async fn reserve(
    store: &Store,
    username: &str,
    addr: &str,
    now: i64,
) -> Result<Reservation, Refused> {
    let account = account_key(username);
    let net = address_net(addr);
    let mut r = Reservation {
        pair: format!("{account}@{net}"),
        address: format!("addr:{net}"),
        account,
        delay: Duration::ZERO,
        locks: Vec::new(),
    };
    let lock_of = |a: Attempt| match a {
        Attempt::Allowed { locked_until, .. } => Ok(locked_until),
        Attempt::Refused { .. } => Err(Refused::Locked),
    };
    if let Some(until) = lock_of(
        store
            .reserve_login_attempt(&r.address, now, ADDRESS_POLICY)
            .await?,
    )? {
        r.locks.push(("address", until));
    }
    match store.reserve_login_attempt(&r.pair, now, PAIR_POLICY).await {
        Ok(Attempt::Allowed { locked_until, .. }) => {
            if let Some(until) = locked_until {
                r.locks.push(("account", until));
            }
        }
        Ok(Attempt::Refused { .. }) => {
            let _ = store
                .release_login_attempt(&r.address, ADDRESS_POLICY)
                .await;
            return Err(Refused::Locked);
        }
        Err(e) => {
            let _ = store
                .release_login_attempt(&r.address, ADDRESS_POLICY)
                .await;
            return Err(e.into());
        }
    }
    if let Ok(Attempt::Allowed { failures, .. }) = store
        .reserve_login_attempt(&r.account, now, ACCOUNT_COUNT)
        .await
    {
        r.delay = account_delay(failures);
    }
    Ok(r)
}

impl Reservation {
    /// The password was right: the address gets its try back and the account's counters are
    /// cleared.
    pub async fn succeeded(self, store: &Store) {
        for key in [&self.pair, &self.account] {
            if let Err(e) = store.clear_login_failures(key).await {
                tracing::warn!(error = %e, "sign-in: could not reset a failure count");
            }
        }
        if let Err(e) = store
            .release_login_attempt(&self.address, ADDRESS_POLICY)
            .await
        {
            tracing::warn!(error = %e, "sign-in: could not give back a try");
        }
    }

    /// The try was never judged (the server was busy): every counter gets it back.
    pub async fn abandon(self, store: &Store) {
        for (key, policy) in [
            (&self.pair, PAIR_POLICY),
            (&self.address, ADDRESS_POLICY),
            (&self.account, ACCOUNT_COUNT),
        ] {
            if let Err(e) = store.release_login_attempt(key, policy).await {
                tracing::warn!(error = %e, "sign-in: could not give back a try");
            }
        }
    }

    /// The password was wrong: the reservation stands as a failure. Clears out counters whose
    /// window is over, now and then.
    pub async fn failed(self, store: &Store, now: i64) {
        let longest = PAIR_POLICY.window_secs.max(ADDRESS_POLICY.window_secs);
        if let Err(e) = store.purge_login_throttle(now - longest, now).await {
            tracing::warn!(error = %e, "sign-in: throttle purge failed");
        }
    }
}

/// Second-factor codes per account, from anywhere: 5 wrong codes in 15 minutes, then 15
/// minutes locked. Only someone who knows the password reaches this step, so a lock of the
/// account (not of an address) costs the real owner nothing a guesser could impose without the
/// password, and spreading guesses over addresses gains nothing. Kept apart from the password
/// counters, which a right password clears.
pub const CODE_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window_secs: 15 * 60,
    lockout_secs: 15 * 60,
};

/// One reserved second-factor try of an account: counted as a failure until settled.
#[must_use = "a reserved try is settled with succeeded, failed or abandon"]
pub struct CodeReservation {
    key: String,
    /// When this try used the last one allowed: the end of the lock it set.
    pub locked_until: Option<i64>,
}

/// Reserves a second-factor try of `username` at `now`.
///
/// # Errors
/// [`Refused::Locked`] when the account's codes are locked (nothing is then counted); store
/// failures.
pub async fn reserve_code(
    store: &Store,
    username: &str,
    now: i64,
) -> Result<CodeReservation, Refused> {
    let key = format!("code:{}", account_key(username));
    match store.reserve_login_attempt(&key, now, CODE_POLICY).await? {
        Attempt::Allowed { locked_until, .. } => Ok(CodeReservation { key, locked_until }),
        Attempt::Refused { .. } => Err(Refused::Locked),
    }
}

impl CodeReservation {
    /// The code was right: the account's code failures are cleared.
    pub async fn succeeded(self, store: &Store) {
        if let Err(e) = store.clear_login_failures(&self.key).await {
            tracing::warn!(error = %e, "second factor: could not reset a failure count");
        }
    }

    /// The code was never judged: the try is given back.
    pub async fn abandon(self, store: &Store) {
        if let Err(e) = store.release_login_attempt(&self.key, CODE_POLICY).await {
            tracing::warn!(error = %e, "second factor: could not give back a try");
        }
    }
}

/// The delay before a try of an account with `failures` failures (this try included) in its
/// window: none up to [`ACCOUNT_DELAY_AFTER`], then a second more per failure, capped.
fn account_delay(failures: i64) -> Duration {
    let over = failures.saturating_sub(ACCOUNT_DELAY_AFTER);
    if over <= 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(u64::try_from(over).unwrap_or(u64::MAX)).min(MAX_ACCOUNT_DELAY)
}

/// The throttle key of a typed username: a digest, so that the throttle table never holds what
/// was typed (a mistyped password, often). Case-insensitive, like account names.
fn account_key(username: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(username.to_lowercase().as_bytes());
    format!(
        "user:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The network an address is counted under: an IPv4 address by itself, an IPv6 address by its
/// /64 (one subscriber's allocation, which its holder can spread requests over at will).
fn address_net(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(net))
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_fold_case_and_hide_the_name() {
        assert_eq!(account_key("Alice"), account_key("alice"));
        assert!(!account_key("alice").contains("alice"));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(address_net("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_net("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            address_net("2001:db8:1:2::")
        );
        assert_ne!(
            address_net("2001:db8:1:3::1"),
            address_net("2001:db8:1:2::1")
        );
        assert_eq!(address_net("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_net("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_net("unknown"), "unknown");
    }

    #[test]
    fn the_account_delay_grows_then_stops() {
        assert_eq!(account_delay(ACCOUNT_DELAY_AFTER), Duration::ZERO);
        assert_eq!(
            account_delay(ACCOUNT_DELAY_AFTER + 1),
            Duration::from_secs(1)
        );
        assert_eq!(
            account_delay(ACCOUNT_DELAY_AFTER + 3),
            Duration::from_secs(3)
        );
        assert_eq!(account_delay(i64::MAX), MAX_ACCOUNT_DELAY);
    }
}
