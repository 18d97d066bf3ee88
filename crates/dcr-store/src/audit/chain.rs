//! The tamper-evident audit trail: a hash chain over `audit_event`.
//!
//! Each event stores `prev_hash` (the hash of the event before it in id order, NULL for the
//! first) and `hash` = SHA-256 over a canonical, length-prefixed encoding of its content and
//! `prev_hash`. Editing an event breaks its own hash; deleting or reordering one breaks the
//! `prev_hash` link of the event after it. The id is not hashed (PostgreSQL assigns it at insert),
//! the link order is.
//!
//! One chain across writers: every insert goes through [`insert_audit`], which reads the chain
//! head and inserts inside the caller's transaction. On PostgreSQL it first takes a transaction
//! advisory lock ([`CHAIN_LOCK`]) so concurrent instances append one after another; on SQLite
//! there is a single writer connection already.
//!
//! What it does not do alone: an attacker who can write the database can recompute the whole
//! chain (there is no secret), and deleting the newest events leaves a shorter valid chain.
//! Operators anchor the chain by recording the head hash that `dcr-server audit verify` prints
//! somewhere the database credentials cannot write (docs/deploy.md), and verify against it
//! later ([`Store::verify_audit_chain_to`]): a recorded head that is no longer in the chain
//! means events after it were deleted or the chain was rewritten.

use std::future::Future;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::sql::{self, Column};
use crate::{NewAuditEvent, Store, StoreError};

/// Key of the PostgreSQL transaction advisory lock that serialises audit appends ("DCRAUDIT").
pub const CHAIN_LOCK: i64 = 0x4443_5241_5544_4954;

/// Rows read per page when verifying or backfilling.
pub const AUDIT_CHAIN_PAGE: i64 = 1000;

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// Whether every event verified.
    pub ok: bool,
    /// Events that verified (all of them when `ok`; those before the first broken one otherwise).
    pub checked: u64,
    /// Id of the first event whose hash or link does not verify.
    pub first_broken: Option<i64>,
    /// What was wrong with it.
    pub problem: Option<String>,
    /// Hash of the newest event when `ok` (record it elsewhere to anchor the chain).
    pub head: Option<String>,
    /// Id of that event.
    #[serde(default)]
    pub head_event: Option<i64>,
}

/// How [`Store::walk_audit_chain`] walks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Walk<'a> {
    /// Start after this checkpoint's event (its `head_hash` the expected link, its
    /// `event_count` the events before) instead of at the first event. The caller checked its
    /// signature; the walk checks that its event is still in the chain with that hash.
    pub from: Option<&'a AuditCheckpoint>,
    /// Checkpoints to match on the way (by `audit_event_id`, ascending): each must name an
    /// event of the chain, its hash, and the number of events up to it.
    pub checkpoints: &'a [AuditCheckpoint],
    /// A head hash recorded earlier that the chain must still contain.
    pub recorded_head: Option<&'a str>,
}

/// A signed checkpoint of the chain: its head at an event, and the number of events up to it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditCheckpoint {
    /// Its id.
    pub checkpoint_id: i64,
    /// The last event it covers.
    pub audit_event_id: i64,
    /// That event's hash.
    pub head_hash: String,
    /// Events up to and including it.
    pub event_count: i64,
    /// When it was made.
    pub created_at: i64,
    /// A compact JWS over [`AuditCheckpoint::signed_claims`], made with the Data Holder's key.
    pub signature: String,
}

impl AuditCheckpoint {
    /// What the signature covers: every column but the id, and what it is.
    #[must_use]
    pub fn signed_claims(
        audit_event_id: i64,
        head_hash: &str,
        event_count: i64,
        created_at: i64,
    ) -> serde_json::Value {
        serde_json::json!({
            "purpose": "audit-checkpoint",
            "audit_event_id": audit_event_id,
            "head_hash": head_hash,
            "event_count": event_count,
            "created_at": created_at,
        })
    }
}

const CHECKPOINT_COLUMNS: &str =
    "checkpoint_id, audit_event_id, head_hash, event_count, created_at, signature";

impl Store {
    /// Every checkpoint, by the event it covers (oldest first).
    ///
    /// # Errors
    /// Database failures.
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoint ORDER BY audit_event_id, checkpoint_id"
        );
        Ok(crate::dispatch!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await
        })?)
    }

    /// The newest `limit` checkpoints, newest first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn latest_audit_checkpoints(
        &self,
        limit: i64,
    ) -> Result<Vec<AuditCheckpoint>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoint \
             ORDER BY audit_event_id DESC, checkpoint_id DESC LIMIT $1"
        );
        Ok(crate::dispatch!(self, pool => {
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await
        })?)
    }

    /// The newest event's id and hash (`None` for an empty trail, or a newest event without a
    /// hash).
    ///
    /// # Errors
    /// Database failures.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        let row: Option<(i64, Option<String>)> = crate::dispatch!(self, pool => {
            sqlx::query_as(
                "SELECT audit_event_id, hash FROM audit_event ORDER BY audit_event_id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.and_then(|(id, hash)| Some((id, hash?))))
    }

    /// How many audit events there are (a full count: for tools, not for requests).
    ///
    /// # Errors
    /// Database failures.
    pub async fn count_audit_events(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = crate::dispatch!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM audit_event").fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// Stores a checkpoint made by the caller (its id is assigned); returns it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn add_audit_checkpoint(
        &self,
        audit_event_id: i64,
        head_hash: &str,
        event_count: i64,
        created_at: i64,
        signature: &str,
    ) -> Result<AuditCheckpoint, StoreError> {
        let sql = format!(
            "INSERT INTO audit_checkpoint (audit_event_id, head_hash, event_count, created_at, \
             signature) VALUES ($1, $2, $3, $4, $5) RETURNING {CHECKPOINT_COLUMNS}"
        );
        Ok(crate::dispatch_write!(self, pool => {
            sqlx::query_as(&sql)
                .bind(audit_event_id)
                .bind(head_hash)
                .bind(event_count)
                .bind(created_at)
                .bind(signature)
                .fetch_one(pool)
                .await
        })?)
    }
}

/// Lowercase hex SHA-256 of an event's canonical content and the previous event's hash.
#[must_use]
pub fn event_hash(prev_hash: Option<&str>, ev: &NewAuditEvent) -> String {
    fn field(h: &mut Sha256, v: Option<&[u8]>) {
        match v {
            None => h.update([0u8]),
            Some(b) => {
                h.update([1u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
    let mut h = Sha256::new();
    h.update(b"dcr-audit-v1");
    field(&mut h, prev_hash.map(str::as_bytes));
    h.update(ev.occurred_at.to_be_bytes());
    field(&mut h, Some(ev.actor.as_bytes()));
    field(&mut h, Some(ev.action.as_bytes()));
    for v in [
        &ev.client_id,
        &ev.software_id,
        &ev.reason,
        &ev.before_state,
        &ev.after_state,
    ] {
        field(&mut h, v.as_deref().map(str::as_bytes));
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// A connection that can append to the chain (implemented for both backends' connections, so a
/// transaction's `&mut *tx` is accepted).
pub(crate) trait ChainConn: Send {
    /// Serialises appenders until the transaction ends (PostgreSQL; nothing on SQLite).
    fn lock_chain(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Reads the head and inserts the event with its hash.
    fn append(
        &mut self,
        ev: &NewAuditEvent,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// The newest event's hash: the head every append chains onto (each path reads it in the
/// transaction that appends).
pub(crate) const SELECT_HEAD: &str =
    "SELECT hash FROM audit_event ORDER BY audit_event_id DESC LIMIT 1";

/// Takes PostgreSQL's transaction advisory lock [`CHAIN_LOCK`], which serialises appenders.
pub(crate) const LOCK_CHAIN: &str = "SELECT pg_advisory_xact_lock($1)";

/// An event as it is appended: its content and its link to the event before it.
pub(crate) struct ChainedEvent<'e> {
    /// The content.
    pub(crate) event: &'e NewAuditEvent,
    /// The hash of the event before it (`None` for the first).
    pub(crate) prev_hash: Option<&'e str>,
    /// Its hash ([`event_hash`] over the content and `prev_hash`).
    pub(crate) hash: &'e str,
}

impl ChainedEvent<'_> {
    /// The columns an event is written with, in the order of [`INSERT_EVENT`], which the sqlx
    /// path and SQLite's batch run; PostgreSQL's batches ([`append_pg_batch`]) send one array
    /// per column in this order.
    pub(crate) const COLUMNS: [Column<Self>; 10] = [
        Column::int("occurred_at", |c| c.event.occurred_at),
        Column::text("actor", |c| sql::text(&c.event.actor)),
        Column::text("action", |c| sql::text(&c.event.action)),
        Column::text("client_id", |c| sql::opt_text(c.event.client_id.as_deref())),
        Column::text("software_id", |c| {
            sql::opt_text(c.event.software_id.as_deref())
        }),
        Column::text("reason", |c| sql::opt_text(c.event.reason.as_deref())),
        Column::text("before_state", |c| {
            sql::opt_text(c.event.before_state.as_deref())
        }),
        Column::text("after_state", |c| {
            sql::opt_text(c.event.after_state.as_deref())
        }),
        Column::text("prev_hash", |c| sql::opt_text(c.prev_hash)),
        Column::text("hash", |c| sql::text(c.hash)),
    ];
}

/// The INSERT of an event, from [`ChainedEvent::COLUMNS`].
pub(crate) static INSERT_EVENT: LazyLock<String> =
    LazyLock::new(|| sql::insert("audit_event", &ChainedEvent::COLUMNS));

macro_rules! append_body {
    ($conn:expr, $ev:expr) => {{
        let head: Option<(Option<String>,)> = sqlx::query_as(SELECT_HEAD)
            .fetch_optional(&mut *$conn)
            .await?;
        let prev = head.and_then(|h| h.0);
        let hash = event_hash(prev.as_deref(), $ev);
        let link = ChainedEvent {
            event: $ev,
            prev_hash: prev.as_deref(),
            hash: &hash,
        };
        sql::bind_row(
            sqlx::query(INSERT_EVENT.as_str()),
            &ChainedEvent::COLUMNS,
            &link,
        )
        .execute(&mut *$conn)
        .await?;
        Ok(())
    }};
}

impl ChainConn for sqlx::SqliteConnection {
    async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
        // One writer connection: the transaction already excludes other appenders.
        Ok(())
    }

    async fn append(&mut self, ev: &NewAuditEvent) -> Result<(), sqlx::Error> {
        append_body!(self, ev)
    }
}

impl ChainConn for sqlx::PgConnection {
    async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query(LOCK_CHAIN)
            .bind(CHAIN_LOCK)
            .execute(&mut *self)
            .await
            .map(|_| ())
    }

    async fn append(&mut self, ev: &NewAuditEvent) -> Result<(), sqlx::Error> {
        append_body!(self, ev)
    }
}

/// A batch of chained events, one array per column of [`ChainedEvent::COLUMNS`].
static INSERT_EVENTS_UNNEST: LazyLock<String> =
    LazyLock::new(|| sql::insert_unnest("audit_event", &ChainedEvent::COLUMNS, &[]));

/// Appends `events` to PostgreSQL's chain under the chain's lock, in the caller's transaction:
/// the links computed here, the rows sent as one array per column (one statement). The
/// batches of registrations and the development seeds append this way.
pub(crate) async fn append_pg_batch<E: std::borrow::Borrow<NewAuditEvent>>(
    tx: &mut sqlx::PgConnection,
    events: &[E],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(LOCK_CHAIN)
        .bind(CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let head: Option<(Option<String>,)> =
        sqlx::query_as(SELECT_HEAD).fetch_optional(&mut *tx).await?;
    let mut prev = head.and_then(|h| h.0);
    let mut hashes = Vec::with_capacity(events.len());
    let mut prevs = Vec::with_capacity(events.len());
    for ev in events {
        let hash = event_hash(prev.as_deref(), ev.borrow());
        prevs.push(prev.replace(hash.clone()));
        hashes.push(hash);
    }
    let links: Vec<ChainedEvent<'_>> = events
        .iter()
        .zip(&prevs)
        .zip(&hashes)
        .map(|((event, prev_hash), hash)| ChainedEvent {
            event: event.borrow(),
            prev_hash: prev_hash.as_deref(),
            hash,
        })
        .collect();
    let query = sqlx::query_as::<_, (i64,)>(INSERT_EVENTS_UNNEST.as_str());
    let (added,) = crate::postgres::bind_arrays(query, &ChainedEvent::COLUMNS, links.iter())
        .fetch_one(&mut *tx)
        .await?;
    debug_assert_eq!(usize::try_from(added).ok(), Some(events.len()));
    Ok(())
}

/// Appends an audit event to the chain inside the caller's transaction: the only way an audit
/// event is written. The transaction must be committed by the caller.
pub(crate) async fn insert_audit<C: ChainConn + ?Sized>(
    conn: &mut C,
    ev: &NewAuditEvent,
) -> Result<(), StoreError> {
    conn.lock_chain().await?;
    conn.append(ev).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ChainRow {
    audit_event_id: i64,
    occurred_at: i64,
    actor: String,
    action: String,
    client_id: Option<String>,
    software_id: Option<String>,
    reason: Option<String>,
    before_state: Option<String>,
    after_state: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl ChainRow {
    fn content(self) -> (i64, Option<String>, Option<String>, NewAuditEvent) {
        (
            self.audit_event_id,
            self.prev_hash,
            self.hash,
            NewAuditEvent {
                occurred_at: self.occurred_at,
                actor: self.actor,
                action: self.action,
                client_id: self.client_id,
                software_id: self.software_id,
                reason: self.reason,
                before_state: self.before_state,
                after_state: self.after_state,
            },
        )
    }
}

const PAGE_SQL: &str =
    "SELECT audit_event_id, occurred_at, actor, action, client_id, software_id, \
    reason, before_state, after_state, prev_hash, hash FROM audit_event \
    WHERE audit_event_id > $1 ORDER BY audit_event_id LIMIT $2";

impl Store {
    /// Walks the whole audit chain in id order, recomputing every hash, and reports the first
    /// event that does not verify.
    ///
    /// # Errors
    /// Database failures.
    pub async fn verify_audit_chain(&self) -> Result<ChainStatus, StoreError> {
        self.walk_audit_chain(Walk::default()).await
    }

    /// Like [`Store::verify_audit_chain`], and the chain must still contain `recorded_head`, a
    /// head hash printed by an earlier verification: when it does not, events after it were
    /// deleted (the tail truncated) or the chain was rewritten, and the status is not `ok`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn verify_audit_chain_to(
        &self,
        recorded_head: &str,
    ) -> Result<ChainStatus, StoreError> {
        self.walk_audit_chain(Walk {
            recorded_head: Some(recorded_head),
            ..Walk::default()
        })
        .await
    }

    /// Walks the chain as [`Walk`] says: from its start or from a checkpoint (whose signature
    /// the caller checked), matching the checkpoints passed on the way.
    ///
    /// # Errors
    /// Database failures.
    pub async fn walk_audit_chain(&self, walk: Walk<'_>) -> Result<ChainStatus, StoreError> {
        let mut anchored = walk.recorded_head.is_none();
        let (mut after, mut expected_prev, mut checked) = match walk.from {
            None => (0_i64, None, 0_u64),
            Some(cp) => {
                // The checkpoint's event must still be in the chain with the hash signed.
                let at: Option<(Option<String>,)> = crate::dispatch!(self, pool => {
                    sqlx::query_as("SELECT hash FROM audit_event WHERE audit_event_id = $1")
                        .bind(cp.audit_event_id)
                        .fetch_optional(pool)
                        .await
                })?;
                if at.and_then(|(h,)| h).as_deref() != Some(cp.head_hash.as_str()) {
                    return Ok(ChainStatus {
                        ok: false,
                        checked: 0,
                        first_broken: Some(cp.audit_event_id),
                        problem: Some(format!(
                            "the event of checkpoint {} is gone or changed (its hash is not the one signed)",
                            cp.checkpoint_id
                        )),
                        head: None,
                    head_event: None,
                    });
                }
                (
                    cp.audit_event_id,
                    Some(cp.head_hash.clone()),
                    u64::try_from(cp.event_count).unwrap_or(0),
                )
            }
        };
        // The next checkpoint to match (they are sorted by event).
        let mut next_checkpoint = walk
            .checkpoints
            .partition_point(|c| c.audit_event_id <= after);
        loop {
            let rows: Vec<ChainRow> = crate::dispatch!(self, pool => {
                sqlx::query_as(PAGE_SQL).bind(after).bind(AUDIT_CHAIN_PAGE).fetch_all(pool).await
            })?;
            let Some(last) = rows.last() else { break };
            after = last.audit_event_id;
            for row in rows {
                let (id, prev, hash, ev) = row.content();
                let broken = |problem: String, checked: u64| ChainStatus {
                    ok: false,
                    checked,
                    first_broken: Some(id),
                    problem: Some(problem),
                    head: None,
                    head_event: None,
                };
                if prev != expected_prev {
                    return Ok(broken(
                        "prev_hash does not match the previous event (an event before it was deleted, inserted or changed)".into(),
                        checked,
                    ));
                }
                let Some(hash) = hash else {
                    return Ok(broken("the event has no hash".into(), checked));
                };
                if event_hash(prev.as_deref(), &ev) != hash {
                    return Ok(broken(
                        "the event's content does not match its hash (edited)".into(),
                        checked,
                    ));
                }
                checked += 1;
                while let Some(cp) = walk
                    .checkpoints
                    .get(next_checkpoint)
                    .filter(|c| c.audit_event_id <= id)
                {
                    next_checkpoint += 1;
                    let count = u64::try_from(cp.event_count).unwrap_or(u64::MAX);
                    if cp.audit_event_id != id || cp.head_hash != hash || count != checked {
                        return Ok(broken(
                            format!(
                                "checkpoint {} does not match the chain (signed: event {}, {} events, head {})",
                                cp.checkpoint_id, cp.audit_event_id, cp.event_count, cp.head_hash
                            ),
                            checked,
                        ));
                    }
                }
                anchored = anchored || walk.recorded_head == Some(hash.as_str());
                expected_prev = Some(hash);
            }
        }
        if let Some(cp) = walk.checkpoints.get(next_checkpoint) {
            return Ok(ChainStatus {
                ok: false,
                checked,
                first_broken: Some(cp.audit_event_id),
                problem: Some(format!(
                    "checkpoint {} is past the chain's end (events after event {after} were deleted)",
                    cp.checkpoint_id
                )),
                head: None,
                head_event: None,
            });
        }
        if !anchored {
            return Ok(ChainStatus {
                ok: false,
                checked,
                first_broken: None,
                problem: Some(
                    "the recorded head is not in the chain (events after it were deleted, or the chain was rewritten)"
                        .to_string(),
                ),
                head: None,
                head_event: None,
            });
        }
        Ok(ChainStatus {
            ok: true,
            checked,
            first_broken: None,
            problem: None,
            head: expected_prev,
            head_event: (after > 0).then_some(after),
        })
    }

    /// Hashes the events written before the chain existed, once: only while no event has a
    /// hash yet (the first start after the migration), so a hash removed later is reported by
    /// [`Store::verify_audit_chain`] instead of being silently recomputed.
    pub(crate) async fn backfill_audit_chain(&self) -> Result<u64, StoreError> {
        crate::in_tx!(self, tx => {
            ChainConn::lock_chain(&mut *tx).await?;
            // Whether any event has a hash: the first one found ends the scan (a count would
            // read every event at every start).
            let hashed: Option<(i64,)> = sqlx::query_as("SELECT audit_event_id FROM audit_event WHERE hash IS NOT NULL LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            let mut done = 0_u64;
            if hashed.is_none() {
                let mut after = 0_i64;
                let mut prev: Option<String> = None;
                loop {
                    let rows: Vec<ChainRow> = sqlx::query_as(PAGE_SQL)
                        .bind(after)
                        .bind(AUDIT_CHAIN_PAGE)
                        .fetch_all(&mut *tx)
                        .await?;
                    let Some(last) = rows.last() else { break };
                    after = last.audit_event_id;
                    for row in rows {
                        let (id, _, _, ev) = row.content();
                        let hash = event_hash(prev.as_deref(), &ev);
                        sqlx::query("UPDATE audit_event SET prev_hash = $2, hash = $3 WHERE audit_event_id = $1")
                            .bind(id)
                            .bind(&prev)
                            .bind(&hash)
                            .execute(&mut *tx)
                            .await?;
                        prev = Some(hash);
                        done += 1;
                    }
                }
            }
            Ok::<u64, StoreError>(done)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_field_and_the_link() {
        let ev = NewAuditEvent {
            occurred_at: 1,
            actor: "a".into(),
            action: "b".into(),
            ..Default::default()
        };
        let base = event_hash(None, &ev);
        assert_eq!(base.len(), 64);
        assert_eq!(base, event_hash(None, &ev), "deterministic");
        assert_ne!(base, event_hash(Some(""), &ev), "None and empty differ");
        let mut moved = ev.clone();
        moved.actor = "ab".into();
        moved.action = String::new();
        assert_ne!(base, event_hash(None, &moved), "length-prefixed fields");
        let mut reason = ev;
        reason.reason = Some("x".into());
        assert_ne!(base, event_hash(None, &reason));
    }
}
