//! Queries of the administrators' portal (issues 5 and 6): the registration list (search, status
//! filter including "inactive at the Register", sort, paging that stays fast at 100,000 rows),
//! releasing a registration, sign-in throttling shared by every instance, administrators' own
//! password changes, and bulk inserts for development seeds.
//!
//! The list runs in two steps: the ids of one page are found first, from indexes that hold
//! every column the filter and the order need (no wide row is read), and only those rows are
//! then loaded by primary key. On SQLite the first step reads `registration_list`, a narrow copy
//! of the list columns kept off the registration write path (see
//! [`Store::sync_registration_list`], which every list query calls first so that it sees every
//! committed registration); a search of 3 characters or more is answered by its FTS5 trigram
//! index `registration_search`; a shorter one, or a filter on the Register statuses, scans the
//! narrow `registration_list_idx` (named with `INDEXED BY`). PostgreSQL matches with ILIKE on
//! the registration table itself.

use serde::{Deserialize, Serialize};

use crate::{
    insert_registration_sql, Backend, NewAuditEvent, Page, Registration, RegistrationRow,
    RegistrationStatus, Sort, Store, StoreError, REGISTRATION_COLUMNS,
};

/// The statuses an administrator filters the list by. Unlike [`crate::RegistrationStatus`] it
/// tells apart an active registration whose software product or recipient the CDR Register
/// reports as not active: such a registration gets no tokens (docs/dcr-rules.md §10.2) and is shown as
/// "inactive".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    /// Active here and not reported inactive by the Register.
    Active,
    /// Active here, but the Register reports the product or the recipient not active.
    Inactive,
    /// Revoked by an administrator.
    Revoked,
    /// Released by an administrator: the software product may register again.
    Released,
    /// Deleted by the recipient.
    Deleted,
    /// Removed because the Register removed the software product.
    Removed,
}

impl StatusFilter {
    /// The URL form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Revoked => "revoked",
            Self::Released => "released",
            Self::Deleted => "deleted",
            Self::Removed => "removed",
        }
    }

    /// Parses the URL form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "revoked" => Self::Revoked,
            "released" => Self::Released,
            "deleted" => Self::Deleted,
            "removed" => Self::Removed,
            _ => return None,
        })
    }

    /// The filter a registration falls under (the badge the portal shows).
    #[must_use]
    pub fn of(reg: &Registration) -> Self {
        match reg.status {
            crate::RegistrationStatus::Active => {
                let not_active = |s: &Option<String>| {
                    s.as_deref()
                        .is_some_and(|s| !s.eq_ignore_ascii_case("ACTIVE"))
                };
                if not_active(&reg.register_sp_status) || not_active(&reg.register_dr_status) {
                    Self::Inactive
                } else {
                    Self::Active
                }
            }
            crate::RegistrationStatus::Revoked => Self::Revoked,
            crate::RegistrationStatus::Released => Self::Released,
            crate::RegistrationStatus::Deleted => Self::Deleted,
            crate::RegistrationStatus::Removed => Self::Removed,
        }
    }

    /// The SQL condition, a constant (no input is ever spliced into SQL text).
    fn sql(self) -> &'static str {
        // Mirrors the token endpoint: a Register status other than ACTIVE (any case) blocks.
        match self {
            Self::Active => {
                "status = 'active' AND upper(coalesce(register_sp_status, 'ACTIVE')) = 'ACTIVE' \
                 AND upper(coalesce(register_dr_status, 'ACTIVE')) = 'ACTIVE'"
            }
            // Word for word the condition of the partial index `registration_inactive_idx`.
            Self::Inactive => {
                "status = 'active' AND (upper(coalesce(register_sp_status, 'ACTIVE')) <> 'ACTIVE' OR upper(coalesce(register_dr_status, 'ACTIVE')) <> 'ACTIVE')"
            }
            Self::Revoked => "status = 'revoked'",
            Self::Released => "status = 'released'",
            Self::Deleted => "status = 'deleted'",
            Self::Removed => "status = 'removed'",
        }
    }
}

/// The portal's registration list query.
#[derive(Debug, Clone, Default)]
pub struct AdminListQuery {
    /// Free text, matched as a substring of the client name, brand name, legal entity name and
    /// the ids (client_id, software_id, org_id, legal_entity_id), ignoring ASCII case.
    pub search: Option<String>,
    /// Status filter.
    pub status: Option<StatusFilter>,
    /// Order.
    pub sort: Sort,
    /// 1-based page.
    pub page: u32,
    /// Page size (1 to 200).
    pub per_page: u32,
}

/// Limits of sign-in throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed within the window before the key is locked.
    pub max_failures: i64,
    /// Length of the counting window, seconds.
    pub window_secs: i64,
    /// How long a lock lasts, seconds.
    pub lockout_secs: i64,
}

/// The SQL of one list query and what to bind.
struct ListSql {
    ids: String,
    count: String,
    pattern: Option<String>,
    limit: i64,
    offset: i64,
}

/// What [`Store::release_registration`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The registration had status `from` (active or revoked) and is now released, with its
    /// audit event.
    Released {
        /// The status it had.
        from: RegistrationStatus,
        /// Its software product id, which is free again.
        software_id: String,
    },
    /// The registration holds no software product id already (it is released, deleted or
    /// removed, as given): nothing changed and nothing was audited.
    Unchanged(RegistrationStatus),
    /// No registration has this client id.
    NotFound,
}

/// A registration with its Register statuses, for [`Store::insert_registrations_bulk`].
#[derive(Debug, Clone)]
pub struct SeedRegistration {
    /// The registration (its `register_*` fields are written too).
    pub registration: Registration,
    /// Its creation audit event.
    pub audit: Option<NewAuditEvent>,
}

impl Store {
    /// Lists registrations for the portal. See the module documentation for how it stays fast.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn search_registrations(
        &self,
        q: &AdminListQuery,
    ) -> Result<Page<Registration>, StoreError> {
        self.sync_registration_list().await?;
        let sql = self.list_sql(q);
        let (ids, total): (Vec<(String,)>, (i64,)) = crate::dispatch!(self, pool => {
            let mut ids = sqlx::query_as(&sql.ids);
            let mut count = sqlx::query_as(&sql.count);
            if let Some(s) = &sql.pattern {
                ids = ids.bind(s.clone());
                count = count.bind(s.clone());
            }
            let ids = ids.bind(sql.limit).bind(sql.offset).fetch_all(pool).await?;
            let total = count.fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((ids, total))
        })?;
        let items = self.registrations_by_ids(&ids).await?;
        Ok(Page {
            items,
            total: u64::try_from(total.0).unwrap_or(0),
        })
    }

    /// The query plans of [`Store::search_registrations`] for `q` (SQLite's `EXPLAIN QUERY
    /// PLAN`, PostgreSQL's `EXPLAIN`), one line per step: the page query's plan, then the
    /// count's. For checking that a list query is served by an index.
    ///
    /// # Errors
    /// Database failures.
    pub async fn explain_search_registrations(
        &self,
        q: &AdminListQuery,
    ) -> Result<Vec<String>, StoreError> {
        self.sync_registration_list().await?;
        let sql = self.list_sql(q);
        let mut out = Vec::new();
        for (text, paged) in [(&sql.ids, true), (&sql.count, false)] {
            let sqlite_text = format!("EXPLAIN QUERY PLAN {text}");
            let pg_text = format!("EXPLAIN {text}");
            let lines: Vec<String> = match self {
                Store::Sqlite(pool, ..) => {
                    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&sqlite_text);
                    if let Some(s) = &sql.pattern {
                        query = query.bind(s.clone());
                    }
                    if paged {
                        query = query.bind(sql.limit).bind(sql.offset);
                    }
                    query
                        .fetch_all(pool)
                        .await?
                        .into_iter()
                        .map(|r| r.3)
                        .collect()
                }
                Store::Postgres(pool, _) => {
                    let mut query = sqlx::query_as::<_, (String,)>(&pg_text);
                    if let Some(s) = &sql.pattern {
                        query = query.bind(s.clone());
                    }
                    if paged {
                        query = query.bind(sql.limit).bind(sql.offset);
                    }
                    query
                        .fetch_all(pool)
                        .await?
                        .into_iter()
                        .map(|r| r.0)
                        .collect()
                }
            };
            out.extend(lines);
        }
        Ok(out)
    }

    /// The SQL text of a list query. Only constant fragments go into the text; the search
    /// pattern, limit and offset are bound.
    fn list_sql(&self, q: &AdminListQuery) -> ListSql {
        let term = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        // SQLite answers a search of 3 characters or more from its trigram index
        // (`registration_search`); shorter ones, and PostgreSQL, match with LIKE / ILIKE.
        let fts = self.backend() == Backend::Sqlite && term.is_some_and(|t| t.chars().count() >= 3);
        let pattern = term.map(|s| {
            if fts {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                format!("%{}%", crate::escape_like(s))
            }
        });
        let mut conds: Vec<&'static str> = Vec::new();
        if let Some(s) = q.status {
            conds.push(s.sql());
        }
        if pattern.is_some() {
            conds.push(match self.backend() {
                Backend::Sqlite if fts => {
                    "client_id IN (SELECT client_id FROM registration_search \
                     WHERE registration_search MATCH $1)"
                }
                // SQLite's LIKE ignores ASCII case; PostgreSQL needs ILIKE.
                Backend::Sqlite => {
                    "(client_name LIKE $1 ESCAPE '\\' OR org_name LIKE $1 ESCAPE '\\' \
                     OR legal_entity_name LIKE $1 ESCAPE '\\' OR client_id LIKE $1 ESCAPE '\\' \
                     OR software_key LIKE $1 ESCAPE '\\' OR org_id LIKE $1 ESCAPE '\\' \
                     OR legal_entity_id LIKE $1 ESCAPE '\\')"
                }
                Backend::Postgres => {
                    "(client_name ILIKE $1 ESCAPE '\\' OR org_name ILIKE $1 ESCAPE '\\' \
                     OR legal_entity_name ILIKE $1 ESCAPE '\\' OR client_id ILIKE $1 ESCAPE '\\' \
                     OR software_key ILIKE $1 ESCAPE '\\' OR org_id ILIKE $1 ESCAPE '\\' \
                     OR legal_entity_id ILIKE $1 ESCAPE '\\')"
                }
            });
        }
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        // SQLite is told which index to use where its planner would read the wide rows: the
        // trigram lookup's matches are sorted and filtered from an index keyed by client_id; a
        // LIKE search or the Active filter scans the narrow list index; Inactive has a partial
        // index.
        let from = if self.backend() == Backend::Postgres {
            "registration"
        } else if fts {
            "registration_list INDEXED BY registration_search_key_idx"
        } else if pattern.is_some() || q.status == Some(StatusFilter::Active) {
            "registration_list INDEXED BY registration_list_idx"
        } else if q.status == Some(StatusFilter::Inactive) {
            "registration_list INDEXED BY registration_inactive_idx"
        } else {
            "registration_list"
        };
        // With a search the first parameter is the pattern; limit and offset follow it.
        let (limit_p, offset_p) = if pattern.is_some() {
            ("$2", "$3")
        } else {
            ("$1", "$2")
        };
        let limit = i64::from(q.per_page.clamp(1, 200));
        let offset = i64::from(q.page.max(1) - 1) * limit;
        let order = q.sort.sql();
        ListSql {
            ids: format!(
                "SELECT client_id FROM {from} {where_sql} ORDER BY {order} LIMIT {limit_p} OFFSET {offset_p}"
            ),
            // Every registration has one row in the trigram index, so without a status filter
            // the index counts the matches by itself.
            count: if fts && q.status.is_none() {
                "SELECT COUNT(*) FROM registration_search WHERE registration_search MATCH $1".into()
            } else {
                format!("SELECT COUNT(*) FROM {from} {where_sql}")
            },
            pattern,
            limit,
            offset,
        }
    }

    /// Loads registrations by client id, in the order given.
    async fn registrations_by_ids(
        &self,
        ids: &[(String,)],
    ) -> Result<Vec<Registration>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {REGISTRATION_COLUMNS} FROM registration WHERE client_id IN ({placeholders})"
        );
        let rows: Vec<RegistrationRow> = crate::dispatch!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for (id,) in ids {
                query = query.bind(id.clone());
            }
            query.fetch_all(pool).await
        })?;
        let mut regs = rows
            .into_iter()
            .map(Registration::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        regs.sort_by_key(|r| ids.iter().position(|(id,)| *id == r.client_id));
        Ok(regs)
    }

    // ----- release ----------------------------------------------------------------------------

    /// Releases a registration (CDS standards-maintenance#581): an `active` or
    /// `revoked` registration becomes `released`, with `reason` as its status reason, and an
    /// audit event is appended (action `registration.release` by `actor`, the status before and
    /// after, the reason), in one transaction. From then on its tokens and management calls are
    /// refused (every API path requires `active`), and its software product may register again:
    /// the unique index on the software product covers `active` and `revoked` only.
    ///
    /// Each status that can be released is tried by its own conditional `UPDATE`, so the first
    /// statement takes the write lock (SQLite) or the row lock (PostgreSQL) and the status
    /// recorded as "before" is the one replaced, whatever runs concurrently.
    ///
    /// # Errors
    /// Database failures, or an unreadable status.
    pub async fn release_registration(
        &self,
        client_id: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<ReleaseOutcome, StoreError> {
        crate::in_tx!(self, tx => {
            let mut released = None;
            for from in [RegistrationStatus::Active, RegistrationStatus::Revoked] {
                let row: Option<(String,)> = sqlx::query_as(
                    "UPDATE registration SET status = 'released', status_reason = $3, updated_at = $4 \
                     WHERE client_id = $1 AND status = $2 RETURNING software_id",
                )
                .bind(client_id)
                .bind(from.as_str())
                .bind(reason)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((software_id,)) = row {
                    released = Some((from, software_id));
                    break;
                }
            }
            let outcome = if let Some((from, software_id)) = released {
                let event = NewAuditEvent {
                    occurred_at: now,
                    actor: actor.to_string(),
                    action: "registration.release".into(),
                    client_id: Some(client_id.to_string()),
                    software_id: Some(software_id.clone()),
                    reason: Some(reason.to_string()),
                    before_state: Some(serde_json::json!({ "status": from.as_str() }).to_string()),
                    after_state: Some(serde_json::json!({ "status": "released" }).to_string()),
                };
                crate::audit_chain::insert_audit(&mut *tx, &event).await?;
                ReleaseOutcome::Released { from, software_id }
            } else {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT status FROM registration WHERE client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match row {
                    None => ReleaseOutcome::NotFound,
                    Some((status,)) => ReleaseOutcome::Unchanged(
                        RegistrationStatus::parse(&status).ok_or_else(|| StoreError::Inconsistent {
                            table: "registration",
                            column: "status",
                            message: format!("unknown status {status:?} for {client_id}"),
                        })?,
                    ),
                }
            };
            Ok::<ReleaseOutcome, StoreError>(outcome)
        })
    }

    // ----- sign-in throttling ----------------------------------------------------------------

    /// The latest time until which any of `keys` is locked, if one is locked at `now`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn login_locked_until(
        &self,
        keys: &[&str],
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut until = None;
        for key in keys {
            let row: Option<(Option<i64>,)> = crate::dispatch!(self, pool => {
                sqlx::query_as(
                    "SELECT locked_until FROM login_throttle WHERE throttle_key = $1 AND locked_until > $2",
                )
                .bind(*key)
                .bind(now)
                .fetch_optional(pool)
                .await
            })?;
            if let Some((Some(t),)) = row {
                until = until.max(Some(t));
            }
        }
        Ok(until)
    }

    /// Counts a failed sign-in against `key`, starting a new window when the last one is over,
    /// and locks the key when the count reaches the policy's limit. Atomic (one statement), so
    /// concurrent failures on several instances are all counted. Returns the lock's end when
    /// the key is locked after this failure.
    ///
    /// # Errors
    /// Database failures.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: i64,
        policy: ThrottlePolicy,
    ) -> Result<Option<i64>, StoreError> {
        let row: (i64, Option<i64>) = crate::dispatch_write!(self, pool => {
            sqlx::query_as(
                "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) \
                 VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $2 + $5 ELSE NULL END) \
                 ON CONFLICT (throttle_key) DO UPDATE SET \
                 failures = CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 \
                     ELSE login_throttle.failures + 1 END, \
                 window_start = CASE WHEN login_throttle.window_start <= $2 - $3 THEN $2 \
                     ELSE login_throttle.window_start END, \
                 locked_until = CASE WHEN (CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 \
                     ELSE login_throttle.failures + 1 END) >= $4 THEN $2 + $5 \
                     ELSE login_throttle.locked_until END \
                 RETURNING failures, locked_until",
            )
            .bind(key)
            .bind(now)
            .bind(policy.window_secs)
            .bind(policy.max_failures)
            .bind(policy.lockout_secs)
            .fetch_one(pool)
            .await
        })?;
        Ok(row.1.filter(|t| *t > now))
    }

    /// Forgets the failures counted against `key` (after a successful sign-in).
    ///
    /// # Errors
    /// Database failures.
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        crate::dispatch_write!(self, pool => {
            sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes throttle entries whose window started before `window_before` and that are not
    /// locked at `now`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn purge_login_throttle(
        &self,
        window_before: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let n = crate::dispatch_write!(self, pool => {
            sqlx::query(
                "DELETE FROM login_throttle WHERE window_start < $1 \
                 AND (locked_until IS NULL OR locked_until <= $2)",
            )
            .bind(window_before)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    // ----- administrators --------------------------------------------------------------------

    /// Replaces an administrator's password hash, with its audit event, in one transaction.
    /// Returns false when there is no such administrator.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        crate::in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE admin_user SET password_hash = $2, updated_at = $3 WHERE username = $1",
            )
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let changed = done.rows_affected() > 0;
            if changed {
                crate::audit_chain::insert_audit(&mut *tx, audit).await?;
            }
            Ok::<bool, StoreError>(changed)
        })
    }

    // ----- development seeds -----------------------------------------------------------------

    /// Inserts registrations (with their Register statuses and audit events) in transactions of
    /// a thousand rows. For development and tests only: nothing is validated.
    ///
    /// # Errors
    /// Database failures, or a conflict with an existing registration.
    pub async fn insert_registrations_bulk(
        &self,
        regs: &[SeedRegistration],
    ) -> Result<(), StoreError> {
        for chunk in regs.chunks(1000) {
            crate::in_tx!(self, tx => {
                for seed in chunk {
                    let r = &seed.registration;
                    insert_registration_sql(r).execute(&mut *tx).await?;
                    let extra = r.status_reason.is_some()
                        || r.register_sp_status.is_some()
                        || r.register_dr_status.is_some()
                        || r.register_synced_at.is_some();
                    if extra {
                        sqlx::query(
                            "UPDATE registration SET status_reason = $2, register_sp_status = $3, \
                             register_dr_status = $4, register_synced_at = $5 WHERE client_id = $1",
                        )
                        .bind(&r.client_id)
                        .bind(&r.status_reason)
                        .bind(&r.register_sp_status)
                        .bind(&r.register_dr_status)
                        .bind(r.register_synced_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(a) = &seed.audit {
                        crate::audit_chain::insert_audit(&mut *tx, a).await?;
                    }
                }
                Ok::<(), StoreError>(())
            })?;
        }
        self.sync_registration_list().await
    }
}
