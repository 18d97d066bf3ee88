//! The overview's counts that only the server sees: rejected registrations by error code and
//! token requests by outcome (docs/portal.md "Overview"). The request paths add one to a count
//! in memory (a short lock, no I/O); [`run`] adds the counts to the store's quarter hours every
//! [`FLUSH_EVERY`] and once more when the server stops (after its last request), so a crash loses at most those seconds
//! of counts. Each instance adds its own: on PostgreSQL the counts of all of them add up.
//!
//! The labels are this server's own error codes, a fixed set: the map holds a handful of
//! entries per quarter hour, and keeps them while the store is unreachable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dcr_store::{stat, StatCount, Store, STAT_BUCKET_SECS};

/// How often the counts go to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Most distinct counts kept while the store cannot take them (then new ones are dropped and
/// logged): far beyond a day of quarter hours of every error code.
const MAX_PENDING: usize = 50_000;

/// Counts not yet in the store, by quarter hour, name and label.
#[derive(Debug, Default)]
pub struct Counts {
    pending: Mutex<HashMap<(i64, &'static str, String), i64>>,
}

impl Counts {
    /// Counts one `name` (`stat::...`) with `label` at Unix time `now`.
    pub fn add(&self, now: i64, name: &'static str, label: &str) {
        let key = (now.div_euclid(STAT_BUCKET_SECS), name, label.to_owned());
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let full = pending.len() >= MAX_PENDING;
        match pending.get_mut(&key) {
            Some(n) => *n += 1,
            None if full => tracing::warn!(name, "overview counts: too many pending; one dropped"),
            None => {
                pending.insert(key, 1);
            }
        }
    }

    /// A `POST /register` answered: created, or refused with `error`.
    pub fn registration(&self, now: i64, error: Option<&str>) {
        // Registrations created are counted by the store, from the rows themselves.
        if let Some(error) = error {
            self.add(now, stat::REGISTRATION_REJECTED, error);
        }
    }

    /// A token request answered: issued, or refused with `error`.
    pub fn token(&self, now: i64, error: Option<&str>) {
        match error {
            None => self.add(now, stat::TOKEN_ISSUED, ""),
            Some(error) => self.add(now, stat::TOKEN_REFUSED, error),
        }
    }

    /// Adds the pending counts to the store; kept for the next time if it fails.
    ///
    /// # Errors
    /// The store's.
    pub async fn flush(&self, store: &Store) -> Result<(), dcr_store::StoreError> {
        let taken = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if taken.is_empty() {
            return Ok(());
        }
        let mut counts: Vec<StatCount> = taken
            .iter()
            .map(|((bucket, name, label), n)| StatCount {
                bucket: *bucket,
                name: (*name).to_owned(),
                label: label.clone(),
                n: *n,
            })
            .collect();
        // In key order: two instances adding at once lock the rows in the same order.
        counts.sort_unstable_by(|a, b| {
            (a.bucket, &a.name, &a.label).cmp(&(b.bucket, &b.name, &b.label))
        });
        let result = store.add_stat_counts(&counts).await;
        if result.is_err() {
            // Put them back, added to whatever came in meanwhile.
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, n) in taken {
                *pending.entry(key).or_insert(0) += n;
            }
        }
        result
    }
}

/// Adds the counts to the store every [`FLUSH_EVERY`], and folds the store's own (see
/// `Store::fold_counts`), until `stopped` (the server adds the last ones itself once its
/// requests have finished).
pub async fn run(
    counts: std::sync::Arc<Counts>,
    store: Store,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(FLUSH_EVERY) => {}
        }
        if let Err(e) = counts.flush(&store).await {
            tracing::warn!(error = %e, "overview counts could not be stored; kept for the next try");
        }
        // And the registrations' changes counted by the store (PostgreSQL), so that its
        // deltas stay few.
        if let Err(e) = store.fold_counts().await {
            tracing::warn!(error = %e, "overview counts: the latest changes could not be counted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_into_quarter_hours_by_name_and_label() {
        let c = Counts::default();
        c.token(900, None);
        c.token(1_799, None);
        c.token(1_800, Some("invalid_client"));
        c.registration(1_800, None);
        c.registration(1_801, Some("invalid_software_statement"));
        let p = c.pending.lock().unwrap();
        assert_eq!(p.get(&(1, stat::TOKEN_ISSUED, String::new())), Some(&2));
        assert_eq!(
            p.get(&(2, stat::TOKEN_REFUSED, "invalid_client".into())),
            Some(&1)
        );
        assert_eq!(
            p.get(&(
                2,
                stat::REGISTRATION_REJECTED,
                "invalid_software_statement".into()
            )),
            Some(&1)
        );
        // A registration made is the store's to count.
        assert_eq!(p.len(), 3);
    }
}
