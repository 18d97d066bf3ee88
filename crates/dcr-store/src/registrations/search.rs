//! The portal's registration list: search, status filter including "inactive at the Register",
//! sort, and paging that stays fast at 100,000 rows.
//!
//! The list runs in two steps: the ids of one page are found first, from indexes that hold
//! every column the filter and the order need (no wide row is read), and only those rows are
//! then loaded by primary key. On SQLite the first step reads `registration_list`, a narrow copy
//! of the list columns kept off the registration write path (see
//! [`Store::sync_registration_list`], which every list query calls first so that it sees every
//! committed registration); the words of a search of 3 characters or more are answered by its
//! FTS5 trigram index `registration_search`, shorter ones by its index of short pieces
//! `registration_grams` (module `grams`); a filter on the Register statuses scans the narrow
//! `registration_list_idx` (named with `INDEXED BY`). PostgreSQL reads the registration table
//! itself for the list, and matches each word of a search, lower-cased, in its search copy
//! (module `search_copy`, brought up to date first), the searched fields joined in a narrow
//! table, with `LIKE`, which its trigram GIN index serves (`pg_trgm`) for words of three
//! characters or more, and for words of two ASCII letters or digits through the trigrams
//! around them ([`pair_regex`]).
//!
//! A search of several words finds the registrations in which every word is part of one of the
//! names or ids, in any of them and in any order (`ironbark tax` finds "Ironbark Advisory Tax
//! Helper"); at most [`MAX_SEARCH_WORDS`] words count, and one-character words count like any
//! other.

use serde::{Deserialize, Serialize};

use super::{Registration, RegistrationRow, RegistrationStatus, REGISTRATION_COLUMNS};
use crate::{dispatch, Backend, Page, Store, StoreError, COUNT_LIMIT};

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
        Self::of_parts(
            reg.status,
            reg.register_sp_status.as_deref(),
            reg.register_dr_status.as_deref(),
        )
    }

    /// The filter of a registration with this status here and these statuses at the Register
    /// (software product, recipient).
    #[must_use]
    pub fn of_parts(
        status: RegistrationStatus,
        register_sp_status: Option<&str>,
        register_dr_status: Option<&str>,
    ) -> Self {
        match status {
            RegistrationStatus::Active => {
                let not_active =
                    |s: Option<&str>| s.is_some_and(|s| !s.eq_ignore_ascii_case("ACTIVE"));
                if not_active(register_sp_status) || not_active(register_dr_status) {
                    Self::Inactive
                } else {
                    Self::Active
                }
            }
            RegistrationStatus::Revoked => Self::Revoked,
            RegistrationStatus::Released => Self::Released,
            RegistrationStatus::Deleted => Self::Deleted,
            RegistrationStatus::Removed => Self::Removed,
        }
    }

    /// The SQL condition, a constant (no input is ever spliced into SQL text).
    pub(crate) fn sql(self) -> &'static str {
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
    /// Free text. Each of its words (see [`search_words`]) must be a substring of the client
    /// name, brand name, legal entity name or one of the ids (client_id, software_id, org_id,
    /// legal_entity_id), ignoring ASCII case; different words may match different fields.
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

/// Sort orders for the registration list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Newest first.
    #[default]
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
    /// Recently changed first.
    UpdatedDesc,
    /// By name.
    NameAsc,
    /// By name, reversed.
    NameDesc,
}

impl Sort {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::CreatedDesc => "created_at DESC, client_id DESC",
            Self::CreatedAsc => "created_at ASC, client_id ASC",
            Self::UpdatedDesc => "updated_at DESC, client_id DESC",
            Self::NameAsc => "client_name ASC, client_id ASC",
            Self::NameDesc => "client_name DESC, client_id DESC",
        }
    }

    /// [`Sort::sql`] reversed: the same rows from the other end.
    pub(crate) fn reverse_sql(self) -> &'static str {
        match self {
            Self::CreatedDesc => "created_at ASC, client_id ASC",
            Self::CreatedAsc => "created_at DESC, client_id DESC",
            Self::UpdatedDesc => "updated_at ASC, client_id ASC",
            Self::NameAsc => "client_name DESC, client_id DESC",
            Self::NameDesc => "client_name ASC, client_id ASC",
        }
    }

    /// Parses the URL form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created_desc" => Self::CreatedDesc,
            "created_asc" => Self::CreatedAsc,
            "updated_desc" => Self::UpdatedDesc,
            "name_asc" => Self::NameAsc,
            "name_desc" => Self::NameDesc,
            _ => return None,
        })
    }
}

/// Most words of a search that are matched; later ones are ignored, so that a pasted paragraph
/// cannot make a query of hundreds of conditions.
pub const MAX_SEARCH_WORDS: usize = 8;

/// The words of a search: split at whitespace, repeated words (ignoring case) dropped, at most
/// [`MAX_SEARCH_WORDS`]. Every word counts, one character long or more: a registration matches
/// when each word is part of one of its names or ids.
#[must_use]
pub fn search_words(search: &str) -> Vec<&str> {
    let mut words: Vec<&str> = Vec::new();
    for word in search.split_whitespace() {
        if words.len() == MAX_SEARCH_WORDS {
            break;
        }
        if !words
            .iter()
            .any(|w| w.to_lowercase() == word.to_lowercase())
        {
            words.push(word);
        }
    }
    words
}

/// The SQL of one list query and what to bind.
pub(super) struct ListSql {
    /// The table (and on SQLite the index) the ids are read from.
    from: &'static str,
    /// `WHERE ...` or empty.
    where_sql: String,
    /// Bound in order as `$1`, `$2`, ...; limit and offset follow them (page query only).
    pub(super) patterns: Vec<String>,
    /// `$1` is a trigram index lookup (SQLite, words of 3 characters or more).
    fts: bool,
    /// The matches are counted by the trigram index alone (SQLite, a search of long words
    /// only, no status filter).
    count_by_index: bool,
    /// The matches are gathered from PostgreSQL's search copy alone, with this condition (a
    /// search with no status filter).
    count_in_copy: Option<String>,
    sort: Sort,
    limit: i64,
    offset: i64,
}

/// Which rows a list query reads. PostgreSQL knows the lookups (its search copy) and the walk
/// of the order; the rest is SQLite's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The matches of index lookups, sorted: the words of 3 characters or more through the
    /// trigram index (`trigram`), shorter ones through the index of short pieces (`grams`); a
    /// word neither finds is matched with `LIKE` among them.
    Lookups { trigram: bool, grams: bool },
    /// The list's order walked, every word matched on the way (the page of a common search).
    InOrder,
    /// For a count: the index of short pieces read in its order (the short words and the
    /// bigrams of the long ones), each row looked up in the list as it comes, the long words
    /// matched with `LIKE`.
    Counted,
}

/// How a search's matches are counted.
enum SearchCount {
    /// Already counted (up to [`COUNT_LIMIT`], and whether there are more).
    Known((u64, bool)),
    /// By this query with these patterns.
    Query(String, Vec<String>),
    /// Already counted by this query with these patterns (PostgreSQL's matches gathered, or
    /// its bounded count taken first).
    Found((u64, bool), (String, Vec<String>)),
}

impl ListSql {
    /// The ids of one page, in the list's order or, with `reverse`, from the other end.
    fn ids(&self, reverse: bool) -> String {
        let Self {
            from, where_sql, ..
        } = self;
        let order = if reverse {
            self.sort.reverse_sql()
        } else {
            self.sort.sql()
        };
        let limit_p = self.patterns.len() + 1;
        let offset_p = self.patterns.len() + 2;
        format!(
            "SELECT client_id FROM {from} {where_sql} ORDER BY {order} LIMIT ${limit_p} OFFSET ${offset_p}"
        )
    }

    /// Every matching id, in order (the export).
    pub(super) fn all_ids(&self) -> String {
        let Self {
            from, where_sql, ..
        } = self;
        format!(
            "SELECT client_id FROM {from} {where_sql} ORDER BY {}",
            self.sort.sql()
        )
    }

    /// SQLite: the matches counted up to one more than [`COUNT_LIMIT`] (PostgreSQL counts what
    /// [`ListSql::matching_ids`] gathers).
    fn bounded_count(&self) -> String {
        let bound = COUNT_LIMIT + 1;
        if self.count_by_index {
            Self::trigram_count()
        } else {
            let Self {
                from, where_sql, ..
            } = self;
            format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} {where_sql} LIMIT {bound}) AS m")
        }
    }
}

impl ListSql {
    /// PostgreSQL: the ids of the matches, at most `limit` (from the search copy alone without a
    /// status filter).
    fn matching_ids(&self, limit: u64) -> String {
        if let Some(words) = &self.count_in_copy {
            format!("SELECT client_id FROM registration_search {words} LIMIT {limit}")
        } else {
            let Self {
                from, where_sql, ..
            } = self;
            format!("SELECT client_id FROM {from} {where_sql} LIMIT {limit}")
        }
    }

    /// PostgreSQL: the page of `q` among the registrations with these ids (a search's matches,
    /// gathered), bound as one text of ids a line each (an id never holds a line feed).
    fn of_ids(ids: &[String], q: &AdminListQuery) -> Self {
        let limit = i64::from(q.per_page.clamp(1, 200));
        Self {
            from: "registration",
            where_sql: "WHERE client_id = ANY(string_to_array($1, E'\\n'))".to_owned(),
            patterns: vec![ids.join("\n")],
            fts: false,
            count_by_index: false,
            count_in_copy: None,
            sort: q.sort,
            limit,
            offset: i64::from(q.page.max(1) - 1) * limit,
        }
    }

    /// The registrations the trigram lookup `$1` finds, counted up to one more than
    /// [`COUNT_LIMIT`] (every registration has one row in the trigram index).
    fn trigram_count() -> String {
        Self::trigram_count_to(COUNT_LIMIT)
    }

    /// The registrations the lookup `$1` of short pieces finds, counted up to one more than
    /// [`COUNT_LIMIT`].
    fn grams_count() -> String {
        format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM registration_grams \
             WHERE registration_grams MATCH $1 LIMIT {}) AS m",
            COUNT_LIMIT + 1
        )
    }

    /// The registrations the trigram lookup `$1` finds, counted up to one more than `bound`.
    fn trigram_count_to(bound: u64) -> String {
        format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM registration_search \
             WHERE registration_search MATCH $1 LIMIT {}) AS m",
            bound + 1
        )
    }
}

/// The most matches of the store's `registrations` a PostgreSQL search looks up and sorts for
/// its page (`found` rows) rather than finding it by walking the list's order (about
/// `50 × registrations ÷ found` rows, each a look-up of the search copy): with a few
/// microseconds for either, walking wins once `found²` exceeds about twenty times the store. At
/// a million registrations that is 4,472 matches, at 20,000 about 630.
fn looked_up_at_most(registrations: u64) -> u64 {
    registrations.saturating_mul(20).isqrt()
}

/// Most registrations a search's trigram lookup may find for the search to be counted among
/// them when it has other conditions (see [`Store::search_registrations`]).
const CANDIDATES_COUNTED: u64 = 50_000;

impl Store {
    /// Lists registrations for the portal. See the module documentation for how it stays fast.
    ///
    /// The unfiltered list and a status filter are counted exactly from the counts the store
    /// keeps (no scan), and a page in their second half is read from the other end of the
    /// order, so that the last page costs what the first does. A search is counted up to
    /// [`COUNT_LIMIT`] (`more` set beyond), its pages stop there, and its page and its count
    /// are read at once.
    ///
    /// # Errors
    /// Database failures or an unreadable row.
    pub async fn search_registrations(
        &self,
        q: &AdminListQuery,
    ) -> Result<Page<Registration>, StoreError> {
        self.sync_for_list(q).await?;
        let sql = self.list_sql(q);
        let limit = u64::try_from(sql.limit).unwrap_or(1);
        let offset = u64::try_from(sql.offset).unwrap_or(0);
        if !sql.patterns.is_empty() {
            // A search: its page and its bounded count at once, on two connections (when the
            // count is not already known). A page at or past the count's limit is past the end
            // whatever the count (pages stop there).
            let (page, count) = self.plan_search(q, sql).await?;
            let count = async {
                match count {
                    SearchCount::Known(counted) | SearchCount::Found(counted, _) => Ok(counted),
                    SearchCount::Query(text, patterns) => self.count_search(&text, &patterns).await,
                }
            };
            let (ids, (total, more)) = if offset >= COUNT_LIMIT {
                (Vec::new(), count.await?)
            } else {
                tokio::try_join!(self.list_ids(&page, false, limit, offset), count)?
            };
            let items = self.registrations_by_ids(&ids).await?;
            return Ok(Page { items, total, more });
        }
        let total = self.kept_registration_count(q.status).await?;
        if offset >= total {
            return Ok(Page {
                items: Vec::new(),
                total,
                more: false,
            });
        }
        // From the end nearer to the page: its offset from that end, and how many rows.
        let reverse = offset > total / 2;
        let mut ids = if reverse {
            let rows = (total - offset).min(limit);
            self.list_ids(&sql, true, rows, total - offset - rows)
                .await?
        } else {
            self.list_ids(&sql, false, limit, offset).await?
        };
        if reverse {
            ids.reverse();
        }
        let items = self.registrations_by_ids(&ids).await?;
        Ok(Page {
            items,
            total,
            more: false,
        })
    }

    /// A search's page query and how it is counted, chosen from the sizes of what its index
    /// lookups find (`sql` is [`Store::list_sql`] of `q`).
    async fn plan_search(
        &self,
        q: &AdminListQuery,
        sql: ListSql,
    ) -> Result<(ListSql, SearchCount), StoreError> {
        if self.backend() == Backend::Postgres {
            return self.plan_postgres_search(q, sql).await;
        }
        if let Some(planned) = self.plan_with_grams(q, &sql).await? {
            return Ok(planned);
        }
        // SQLite: words the trigram index finds in more than COUNT_LIMIT registrations are
        // matched while the list's order is walked instead (see `list_sql_with`): the lookup
        // would gather every match before the page or the count could be taken.
        let looked_up = if sql.fts {
            Some(
                self.count_search(&ListSql::trigram_count(), &sql.patterns[..1])
                    .await?,
            )
        } else {
            None
        };
        // With other conditions (short words, a status) a search whose lookup finds more than
        // COUNT_LIMIT is still counted among what the lookup finds when that is at most
        // CANDIDATES_COUNTED: walking the list to count it would read every row when the other
        // conditions leave fewer than COUNT_LIMIT (measured at a million registrations:
        // `Product 42` 0.4 s so, 15 ms among the lookup's 10,001).
        let count_sql = match looked_up {
            Some((_, true)) if !sql.count_by_index => {
                let found = self
                    .count_search_to(
                        &ListSql::trigram_count_to(CANDIDATES_COUNTED),
                        &sql.patterns[..1],
                        CANDIDATES_COUNTED,
                    )
                    .await?;
                (found <= CANDIDATES_COUNTED).then(|| (sql.bounded_count(), sql.patterns.clone()))
            }
            _ => None,
        };
        let walk = matches!(looked_up, Some((_, true)));
        // Nothing but the lookup to count, and it is counted (walked for the page or not).
        let counted_by_lookup = sql.count_by_index;
        let page = if walk {
            self.list_sql_with(q, Shape::InOrder)
        } else {
            sql
        };
        let count = match looked_up {
            Some(counted) if counted_by_lookup => SearchCount::Known(counted),
            // The count's plan and the page's may differ, each with its own patterns.
            _ => {
                let (text, patterns) =
                    count_sql.unwrap_or_else(|| (page.bounded_count(), page.patterns.clone()));
                SearchCount::Query(text, patterns)
            }
        };
        Ok((page, count))
    }

    /// PostgreSQL's plan for a search: its matches are gathered first, up to the most that are
    /// looked up rather than found by walking the list's order ([`looked_up_at_most`]: 4,472 at
    /// a million registrations). When they are all in hand, they are the count and the page is
    /// read from their ids, sorted: one lookup of the search copy, not one for the count and one
    /// for the page (each 16–20 ms for `Product 4242` at a million registrations), and a plan
    /// that the planner's statistics, which lag behind a word new to the store or take a rare
    /// one for common, cannot turn into a walk of the list to its end (measured: 20,000 new
    /// registrations with a new word, the page 56 ms looked up and sorted, under 1 ms walked;
    /// a rare short word estimated at 0.4 % of the rows, the whole list walked). When there are
    /// more, the page walks the list's order; the same statement gathers up to [`COUNT_LIMIT`]
    /// and one more, so that it is also the count (`42` at a million registrations: a lookup
    /// of 30 ms, then a count of 32 ms, when they were two statements).
    async fn plan_postgres_search(
        &self,
        q: &AdminListQuery,
        sql: ListSql,
    ) -> Result<(ListSql, SearchCount), StoreError> {
        let most = looked_up_at_most(self.kept_registration_count(None).await?);
        // Gathered up to the count's limit too: a search with more matches than are looked up
        // is then counted by the same statement.
        let gather = sql.matching_ids(most.max(COUNT_LIMIT) + 1);
        let ids: Vec<(String,)> = dispatch!(self, pool => {
            let mut ids = sqlx::query_as(&gather).persistent(false);
            for p in &sql.patterns {
                ids = ids.bind(p.clone());
            }
            ids.fetch_all(pool).await
        })?;
        let found = u64::try_from(ids.len()).unwrap_or(u64::MAX);
        let counted = (found.min(COUNT_LIMIT), found > COUNT_LIMIT);
        let by = SearchCount::Found(counted, (gather, sql.patterns));
        if found <= most {
            let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
            return Ok((ListSql::of_ids(&ids, q), by));
        }
        Ok((self.list_sql_with(q, Shape::InOrder), by))
    }

    /// SQLite's plan for a search with a word of one or two characters, once every row of the
    /// list copy is in the index of short pieces (module `grams`; else `None`, and such words
    /// are matched with `LIKE`; `sql` is [`Store::list_sql`] of `q`). The trigram lookup of
    /// the long words and the short pieces' lookup are each counted up to [`COUNT_LIMIT`];
    /// those within it are the page's lookups (the other words matched with `LIKE` among their
    /// rows, counted with the page's conditions). When both find more, the list's order is
    /// walked for the page, and the count reads the short pieces' index in its order (the long
    /// words' bigrams narrowing it), each row looked up as it comes, until it has its limit:
    /// the words are common there, so it stops soon (measured at a million registrations: `42`
    /// counted in 0.4 ms against 85 ms walking the list, `tracker 42` in 33 ms against 461 ms).
    async fn plan_with_grams(
        &self,
        q: &AdminListQuery,
        sql: &ListSql,
    ) -> Result<Option<(ListSql, SearchCount)>, StoreError> {
        let Self::Sqlite(pool, ..) = self else {
            return Ok(None);
        };
        let words = q.search.as_deref().map(search_words).unwrap_or_default();
        let (long, short): (Vec<&str>, Vec<&str>) =
            words.iter().partition(|w| w.chars().count() >= 3);
        let Some(lookup) = super::grams::lookup(&short, &[], q.status) else {
            return Ok(None);
        };
        let (ready,): (bool,) =
            sqlx::query_as("SELECT NOT EXISTS (SELECT 1 FROM registration_grams_pending)")
                .fetch_one(pool)
                .await?;
        if !ready {
            return Ok(None);
        }
        let trigram = if long.is_empty() {
            None
        } else {
            Some(
                self.count_search(&ListSql::trigram_count(), &sql.patterns[..1])
                    .await?,
            )
        };
        let grams = self
            .count_search(&ListSql::grams_count(), &[lookup])
            .await?;
        let by_trigram = trigram.is_some_and(|(_, more)| !more);
        let by_grams = !grams.1;
        // The short words alone (and a status): what their lookup found is the count.
        let counted = long.is_empty().then_some(grams);
        if by_trigram || by_grams {
            let page = self.list_sql_with(
                q,
                Shape::Lookups {
                    trigram: by_trigram,
                    grams: by_grams,
                },
            );
            let count = match counted {
                Some(counted) => SearchCount::Known(counted),
                None => SearchCount::Query(page.bounded_count(), page.patterns.clone()),
            };
            return Ok(Some((page, count)));
        }
        let count = match counted {
            Some(counted) => SearchCount::Known(counted),
            None => {
                let counting = self.list_sql_with(q, Shape::Counted);
                SearchCount::Query(counting.bounded_count(), counting.patterns)
            }
        };
        Ok(Some((self.list_sql_with(q, Shape::InOrder), count)))
    }

    /// Brings the copies that `q` reads up to date with every committed registration: SQLite's
    /// list copy, and for a search PostgreSQL's search copy.
    pub(super) async fn sync_for_list(&self, q: &AdminListQuery) -> Result<(), StoreError> {
        self.sync_registration_list().await?;
        if q.search
            .as_deref()
            .is_some_and(|s| !search_words(s).is_empty())
        {
            self.sync_search_copy().await?;
        }
        Ok(())
    }

    /// The ids of one page of `sql`, in its order or reversed.
    async fn list_ids(
        &self,
        sql: &ListSql,
        reverse: bool,
        limit: u64,
        offset: u64,
    ) -> Result<Vec<(String,)>, StoreError> {
        let text = sql.ids(reverse);
        let ids = dispatch!(self, pool => {
            // A search is planned with its words (an unnamed statement, never a generic plan):
            // a word in every row and a rare one want different plans.
            let mut ids = sqlx::query_as(&text).persistent(sql.patterns.is_empty());
            for p in &sql.patterns {
                ids = ids.bind(p.clone());
            }
            ids.bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
        })?;
        Ok(ids)
    }

    /// The rows `text` counts with `patterns`, `bound` + 1 when there are more than `bound`
    /// (the text's own limit).
    async fn count_search_to(
        &self,
        text: &str,
        patterns: &[String],
        bound: u64,
    ) -> Result<u64, StoreError> {
        let (n,): (i64,) = dispatch!(self, pool => {
            let mut count = sqlx::query_as(text).persistent(false);
            for p in patterns {
                count = count.bind(p.clone());
            }
            count.fetch_one(pool).await
        })?;
        Ok(u64::try_from(n).unwrap_or(0).min(bound + 1))
    }

    /// A search's matches counted by `text` with `patterns` (up to [`COUNT_LIMIT`]), and
    /// whether there are more.
    async fn count_search(
        &self,
        text: &str,
        patterns: &[String],
    ) -> Result<(u64, bool), StoreError> {
        let n = self.count_search_to(text, patterns, COUNT_LIMIT).await?;
        Ok((n.min(COUNT_LIMIT), n > COUNT_LIMIT))
    }

    /// How many registrations the unfiltered list or a status filter holds, from the counts
    /// the store keeps (module `overview`): on PostgreSQL the folded counts plus the deltas not
    /// yet folded, read in one statement. "Inactive at the Register" is counted through its
    /// partial index, and "active" is the active registrations less those.
    async fn kept_registration_count(
        &self,
        status: Option<StatusFilter>,
    ) -> Result<u64, StoreError> {
        let kept = |status: Option<&'static str>| async move {
            let filter = if status.is_some() {
                "WHERE status = $1"
            } else {
                ""
            };
            let sql = match self {
                Self::Sqlite(..) => {
                    format!("SELECT COALESCE(SUM(n), 0) FROM registration_count {filter}")
                }
                Self::Postgres(..) => format!(
                    "SELECT (COALESCE((SELECT SUM(n) FROM registration_count {filter}), 0) \
                     + COALESCE((SELECT SUM(n) FROM registration_count_delta {filter}), 0))::BIGINT"
                ),
            };
            let (n,): (i64,) = dispatch!(self, pool => {
                let mut query = sqlx::query_as(&sql);
                if let Some(status) = status {
                    query = query.bind(status);
                }
                query.fetch_one(pool).await
            })?;
            Ok::<_, StoreError>(n)
        };
        let n = match status {
            None => kept(None).await?,
            Some(StatusFilter::Inactive) => self.register_disagreements().await?,
            Some(StatusFilter::Active) => {
                kept(Some("active")).await? - self.register_disagreements().await?
            }
            Some(other) => kept(Some(other.as_str())).await?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The query plans of [`Store::search_registrations`] for `q` (SQLite's `EXPLAIN QUERY
    /// PLAN`, PostgreSQL's `EXPLAIN`), one line per step: the page query's plan, then the
    /// bounded count's (a search's, when it is not already known from an index lookup's own
    /// count), each as the search would choose it now. For checking that a list query is served by an index.
    ///
    /// # Errors
    /// Database failures.
    pub async fn explain_search_registrations(
        &self,
        q: &AdminListQuery,
    ) -> Result<Vec<String>, StoreError> {
        self.sync_for_list(q).await?;
        let sql = self.list_sql(q);
        let (limit, offset) = (sql.limit, sql.offset);
        let mut out = Vec::new();
        // The list and a status filter are counted from the kept counts, not by a query.
        let texts = if sql.patterns.is_empty() {
            vec![(sql.ids(false), sql.patterns, true)]
        } else {
            let (page, count) = self.plan_search(q, sql).await?;
            let mut texts = vec![(page.ids(false), page.patterns.clone(), true)];
            match count {
                SearchCount::Query(text, patterns) | SearchCount::Found(_, (text, patterns)) => {
                    texts.push((text, patterns, false));
                }
                SearchCount::Known(_) => {}
            }
            texts
        };
        for (text, patterns, paged) in texts {
            let sqlite_text = format!("EXPLAIN QUERY PLAN {text}");
            let pg_text = format!("EXPLAIN {text}");
            let lines: Vec<String> = match self {
                Store::Sqlite(pool, ..) => {
                    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&sqlite_text);
                    for p in &patterns {
                        query = query.bind(p.clone());
                    }
                    if paged {
                        query = query.bind(limit).bind(offset);
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
                    for p in &patterns {
                        query = query.bind(p.clone());
                    }
                    if paged {
                        query = query.bind(limit).bind(offset);
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

    /// The SQL text of a list query. Only constant fragments and parameter numbers go into the
    /// text; the search patterns, limit and offset are bound.
    ///
    /// A search matches the registrations in which every word (see [`search_words`]) is part of
    /// one of the searched names or ids, each word in any of them. On SQLite the words of 3
    /// characters or more are looked up together in the trigram index (one `MATCH` of phrases
    /// joined by `AND`); shorter words, which a trigram cannot find, are matched with `LIKE`
    /// among what the index found, or, when every word is short, by a scan of the narrow list
    /// index. PostgreSQL matches each word, lower-cased, with `LIKE` against the lower-cased
    /// text of its search copy, which its trigram index serves for words of 3 characters or
    /// more.
    pub(super) fn list_sql(&self, q: &AdminListQuery) -> ListSql {
        self.list_sql_with(
            q,
            Shape::Lookups {
                trigram: true,
                grams: false,
            },
        )
    }

    /// [`Store::list_sql`] in a given [`Shape`]. With [`Shape::InOrder`] every word is matched
    /// while the list's order index is walked: for a search that matches many registrations
    /// (SQLite: more than [`COUNT_LIMIT`]; PostgreSQL: see [`looked_up_at_most`]), whose first
    /// page is found within a few thousand rows of that index, where an index lookup would
    /// gather and sort every match. SQLite matches each row's own columns with `LIKE`;
    /// PostgreSQL looks each row up in its search copy.
    fn list_sql_with(&self, q: &AdminListQuery, shape: Shape) -> ListSql {
        let words = q.search.as_deref().map(search_words).unwrap_or_default();
        let sqlite = self.backend() == Backend::Sqlite;
        let (long, short): (Vec<&str>, Vec<&str>) = if sqlite {
            words.iter().partition(|w| w.chars().count() >= 3)
        } else {
            (Vec::new(), words.clone())
        };
        // SQLite: which words an index finds, and which are matched row by row.
        let (trigram, grams, like): (bool, Option<String>, Vec<&str>) = match shape {
            _ if !sqlite => (false, None, short.clone()),
            Shape::InOrder => (false, None, words.clone()),
            Shape::Lookups { trigram, grams } => {
                let trigram = trigram && !long.is_empty();
                let grams = if grams {
                    super::grams::lookup(&short, &[], q.status)
                } else {
                    None
                };
                let like = words
                    .iter()
                    .copied()
                    .filter(|w| {
                        if w.chars().count() >= 3 {
                            !trigram
                        } else {
                            grams.is_none()
                        }
                    })
                    .collect();
                (trigram, grams, like)
            }
            Shape::Counted => (
                false,
                super::grams::lookup(&short, &long, q.status),
                long.clone(),
            ),
        };
        let mut patterns = Vec::new();
        let mut conds: Vec<String> = Vec::new();
        if let Some(s) = q.status {
            conds.push(s.sql().to_owned());
        }
        if trigram {
            let phrases: Vec<String> = long
                .iter()
                .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                .collect();
            patterns.push(phrases.join(" AND "));
            // The lookup's rowids are the list copy's (external content): one primary-key
            // look-up per match. Its `client_id` column would cost a look-up of the content
            // row first and then one of the copy by `client_id` (three times slower at 30,000
            // matches, docs/benchmarks.md).
            conds.push(format!(
                "reg_rowid IN (SELECT rowid FROM registration_search \
                 WHERE registration_search MATCH ${})",
                patterns.len()
            ));
        }
        if let Some(lookup) = &grams {
            patterns.push(lookup.clone());
            let p = patterns.len();
            conds.push(if shape == Shape::Counted {
                // Read in the index's order, each match looked up in the list as it comes, so
                // that the count stops at its limit.
                format!("registration_grams MATCH ${p}")
            } else {
                format!(
                    "reg_rowid IN (SELECT rowid FROM registration_grams \
                     WHERE registration_grams MATCH ${p})"
                )
            });
        }
        let in_order = shape == Shape::InOrder;
        // PostgreSQL looks a word of two characters up through the trigrams around it only in a
        // search of short words: beside a longer word, whose own trigrams find its rows, the
        // planner reads both lookups together, and the common trigrams around a common pair
        // made `Product 42` twice as slow (docs/benchmarks.md).
        let pairs_looked_up = !in_order && words.iter().all(|w| w.chars().count() < 3);
        let mut copy_conds = Vec::new();
        for word in &like {
            patterns.push(format!("%{}%", escape_like(word)));
            let p = format!("${}", patterns.len());
            if sqlite {
                // SQLite's LIKE ignores ASCII case.
                conds.push(format!(
                    "(client_name LIKE {p} ESCAPE '\\' OR org_name LIKE {p} ESCAPE '\\' \
                     OR legal_entity_name LIKE {p} ESCAPE '\\' OR client_id LIKE {p} ESCAPE '\\' \
                     OR software_key LIKE {p} ESCAPE '\\' OR org_id LIKE {p} ESCAPE '\\' \
                     OR legal_entity_id LIKE {p} ESCAPE '\\')"
                ));
            } else {
                // The copy's text is lower-cased: LIKE of the lower-cased word ignores case as
                // ILIKE would, without lower-casing every row read. The backslash is
                // PostgreSQL's default escape; an explicit ESCAPE clause would hide the pattern
                // from the trigram index.
                copy_conds.push(format!(
                    "words LIKE regexp_replace(lower({p}), {})",
                    super::search_copy::PG_SEPARATE
                ));
                // A word of two letters or digits holds no trigram: a condition that holds
                // wherever it does and that the trigram index serves finds its rows (not on a
                // walk of the order, where each row is matched by itself).
                if let Some(regex) = pair_regex(word).filter(|_| pairs_looked_up) {
                    patterns.push(regex);
                    copy_conds.push(format!("words ~ ${}", patterns.len()));
                }
            }
        }
        // PostgreSQL: the words are matched in the search copy, whose rows are a few hundred
        // bytes (the registration's are kilobytes).
        if !copy_conds.is_empty() {
            conds.push(if in_order {
                // One look-up of the copy per row of the list's order, which the planner walks
                // and stops at the page: a scalar subquery is never turned into a join.
                format!(
                    "(SELECT {} FROM registration_search AS s \
                     WHERE s.client_id = registration.client_id)",
                    copy_conds.join(" AND ")
                )
            } else {
                format!(
                    "client_id IN (SELECT client_id FROM registration_search WHERE {})",
                    copy_conds.join(" AND ")
                )
            });
        }
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let lookup = trigram || grams.is_some();
        // SQLite is told which index to use where its planner would read the wide rows: an
        // index lookup's matches are read by rowid (no index: an order's index would be walked
        // whole), then filtered and sorted; a LIKE search or the Active filter scans the
        // narrow list index; Inactive has a partial index.
        let from = if !sqlite {
            "registration"
        } else if shape == Shape::Counted {
            "registration_grams CROSS JOIN registration_list \
             ON registration_list.reg_rowid = registration_grams.rowid"
        } else if q.status == Some(StatusFilter::Inactive) && !lookup {
            // Few registrations are inactive at the Register: their partial index, whatever
            // the words.
            "registration_list INDEXED BY registration_inactive_idx"
        } else if in_order {
            // SQLite's planner walks the index of the order (no INDEXED BY: each order has its
            // own), checking each row.
            "registration_list"
        } else if lookup {
            "registration_list NOT INDEXED"
        } else if !patterns.is_empty() || q.status == Some(StatusFilter::Active) {
            "registration_list INDEXED BY registration_list_idx"
        } else if q.status == Some(StatusFilter::Inactive) {
            "registration_list INDEXED BY registration_inactive_idx"
        } else {
            "registration_list"
        };
        let limit = i64::from(q.per_page.clamp(1, 200));
        ListSql {
            from,
            where_sql,
            fts: trigram,
            count_by_index: trigram && q.status.is_none() && like.is_empty() && grams.is_none(),
            count_in_copy: (!copy_conds.is_empty() && q.status.is_none())
                .then(|| format!("WHERE {}", copy_conds.join(" AND "))),
            patterns,
            sort: q.sort,
            limit,
            offset: i64::from(q.page.max(1) - 1) * limit,
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
        let placeholders = crate::sql::placeholders(ids.len());
        let sql = format!(
            "SELECT {REGISTRATION_COLUMNS} FROM registration WHERE client_id IN ({placeholders})"
        );
        let rows: Vec<RegistrationRow> = dispatch!(self, pool => {
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
}

/// PostgreSQL: for a search word of two ASCII letters or digits, a regular expression that
/// holds for every text of the search copy holding the word, and from which `pg_trgm` takes
/// trigrams to look up: each place of the word has a letter or digit before it (the trigrams
/// `a42` ... `942`), or after it, or neither, when the characters on either side are other
/// ASCII characters or the text's ends (the word padded as `pg_trgm` pads words, ` 42` and
/// `42 `). The copy sets every character beyond ASCII between two unit separators
/// (`search_copy::PG_SEPARATE`), so no other character stands beside the word. `None` for any
/// other word: one character holds no trigram even padded, and other characters are word
/// breaks to `pg_trgm`.
fn pair_regex(word: &str) -> Option<String> {
    const OTHER: &str = r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]";
    let w = word.to_ascii_lowercase();
    (w.len() == 2 && w.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| format!("[a-zA-Z0-9]{w}|{w}[a-zA-Z0-9]|(^|{OTHER}){w}({OTHER}|$)"))
}

/// `s` with the LIKE wildcards (and the escape character) escaped by a backslash.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::search_copy::{PG_SEARCH_TEXT, PG_SEPARATE};
    use super::{looked_up_at_most, pair_regex};

    #[test]
    fn a_search_walks_the_order_when_its_matches_are_many_for_the_store() {
        // A million registrations: the bench's 9,156 matches walk, a brand's 1,000 are looked up.
        assert_eq!(looked_up_at_most(1_000_000), 4_472);
        // A small store: most of it matching walks, a handful does not.
        assert_eq!(looked_up_at_most(20_001), 632);
        assert_eq!(looked_up_at_most(10), 14);
        assert_eq!(looked_up_at_most(0), 0);
        assert_eq!(looked_up_at_most(u64::MAX), u64::MAX.isqrt());
    }

    #[test]
    fn only_two_ascii_letters_or_digits_have_a_pair_regex() {
        assert_eq!(
            pair_regex("Q7").as_deref(),
            Some(
                r"[a-zA-Z0-9]q7|q7[a-zA-Z0-9]|(^|[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f])q7([\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]|$)"
            )
        );
        for word in ["q", "abc", "a-", "é4", "4_", "%%"] {
            assert_eq!(pair_regex(word), None, "{word}");
        }
    }

    #[test]
    fn the_search_copy_and_the_search_separate_alike() {
        assert!(PG_SEARCH_TEXT.ends_with(&format!(", {PG_SEPARATE})")));
    }

    /// On PostgreSQL a pair is found through the trigrams around it: where no row holds it,
    /// the trigram index yields no candidate (an expression `pg_trgm` takes no trigram from
    /// yields every row, checked here too), and what the expression finds in the copy's text
    /// (characters beyond ASCII set apart) is what `LIKE` finds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pair_is_looked_up_through_the_trigrams_around_it_on_postgres() {
        let url = test_support::TempPostgres::shared().fresh_database();
        let store = crate::Store::connect(&url).await.unwrap();
        let crate::Store::Postgres(pool, _) = &store else {
            unreachable!("a PostgreSQL store")
        };
        sqlx::query(&format!(
            "INSERT INTO registration_search (client_id, words) SELECT 'c-' || i, \
             regexp_replace(format(E'product %s\nbrand q%s z%s\nquiz-zone (%s)%s', i, i % 7, \
             i % 5, i % 11, CASE WHEN i % 100 = 0 THEN 'é42ü' ELSE '' END), {PG_SEPARATE}) \
             FROM generate_series(1, 2000) AS i"
        ))
        .execute(pool)
        .await
        .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        // The rows the trigram index yields for `words ~ $1`.
        let mut candidates = async |regex: &str| -> i64 {
            let plan: Vec<(String,)> = sqlx::query_as(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) \
                 SELECT count(*) FROM registration_search WHERE words ~ $1",
            )
            .bind(regex)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            let line = plan
                .iter()
                .map(|(l,)| l)
                .find(|l| l.contains("Bitmap Index Scan on registration_search_idx"))
                .unwrap_or_else(|| panic!("no trigram index scan: {plan:?}"));
            let rows = line.rsplit("rows=").next().unwrap();
            rows.split(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(candidates(&pair_regex("qz").unwrap()).await, 0);
        assert_eq!(candidates("qz").await, 2000, "the index is read whole");
        // One row in a hundred has `42` between characters beyond ASCII.
        for word in ["qz", "42", "q3", "10", "z4", "e4", "zo", "2ü"] {
            let like: (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM registration_search \
                 WHERE words LIKE regexp_replace('%' || $1 || '%', {PG_SEPARATE})"
            ))
            .bind(word)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
            let Some(regex) = pair_regex(word) else {
                assert_eq!(like.0, 20, "{word}");
                continue;
            };
            let found: (i64,) =
                sqlx::query_as("SELECT count(*) FROM registration_search WHERE words ~ $1")
                    .bind(regex)
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
            assert_eq!(found, like, "{word}");
        }
        drop(conn);
        store.close().await;
    }
}
