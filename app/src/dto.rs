//! Data shapes exchanged between the portal's server functions and its pages, and the URL
//! query forms of the list pages (so that a view can be bookmarked and the back button works).
//!
//! Everything here compiles for the browser too: no store types, no clock.

use leptos_router::params::ParamsMap;
use serde::{Deserialize, Serialize};

/// Registrations shown per page.
pub const PER_PAGE: u32 = 25;
/// Audit events shown per page.
pub const AUDIT_PER_PAGE: u32 = 50;
/// Longest search text accepted (characters); longer input is cut.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The signed-in administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Sign-in name.
    pub username: String,
}

/// A registration's status as the portal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Registered and usable.
    Active,
    /// Active here, but the CDR Register reports the software product or its recipient as not
    /// active: no tokens are issued.
    Inactive,
    /// Revoked by an administrator.
    Revoked,
    /// Released by an administrator: refused like a revoked one, and the software product may
    /// register again.
    Released,
    /// Deleted by the recipient.
    Deleted,
    /// Removed because the Register removed the software product.
    Removed,
}

impl Status {
    /// All, in the order the filter lists them.
    pub const ALL: [Self; 6] = [
        Self::Active,
        Self::Inactive,
        Self::Revoked,
        Self::Released,
        Self::Deleted,
        Self::Removed,
    ];

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
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The badge text.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive at Register",
            Self::Revoked => "Revoked",
            Self::Released => "Released",
            Self::Deleted => "Deleted by recipient",
            Self::Removed => "Removed at Register",
        }
    }

    /// One sentence on what the status means for the recipient.
    #[must_use]
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Active => "The recipient can obtain tokens and manage this registration.",
            Self::Inactive => "The CDR Register reports the software product or its recipient as not active, so no tokens are issued until it is active again.",
            Self::Revoked => "An administrator revoked this registration: tokens and management calls are refused, and the software product cannot register again until the registration is released.",
            Self::Released => "An administrator released this registration: its client ID no longer works (tokens and management calls are refused), and the software product may register again, getting a new client ID.",
            Self::Deleted => "The recipient deleted this registration; it may register again.",
            Self::Removed => "The CDR Register removed the software product; the registration is kept for the audit trail.",
        }
    }
}

/// Sort orders of the registration list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
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

impl SortKey {
    /// All, in the order the control lists them.
    pub const ALL: [Self; 5] = [
        Self::CreatedDesc,
        Self::CreatedAsc,
        Self::UpdatedDesc,
        Self::NameAsc,
        Self::NameDesc,
    ];

    /// The URL form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedDesc => "created_desc",
            Self::CreatedAsc => "created_asc",
            Self::UpdatedDesc => "updated_desc",
            Self::NameAsc => "name_asc",
            Self::NameDesc => "name_desc",
        }
    }

    /// Parses the URL form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// What the control shows.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::CreatedDesc => "Newest first",
            Self::CreatedAsc => "Oldest first",
            Self::UpdatedDesc => "Recently updated",
            Self::NameAsc => "Name, A to Z",
            Self::NameDesc => "Name, Z to A",
        }
    }
}

/// The registration list's query, read from and written to the URL (`?q=&status=&sort=&page=`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListParams {
    /// Search text (trimmed; empty for none).
    pub q: String,
    /// Status filter.
    pub status: Option<Status>,
    /// Order.
    pub sort: SortKey,
    /// 1-based page.
    pub page: u32,
}

impl ListParams {
    /// Reads the URL query; anything unknown or malformed falls back to the default.
    #[must_use]
    pub fn from_query(q: &ParamsMap) -> Self {
        Self {
            q: clean_text(q.get_str("q").unwrap_or_default()),
            status: q.get_str("status").and_then(Status::parse),
            sort: q
                .get_str("sort")
                .and_then(SortKey::parse)
                .unwrap_or_default(),
            page: parse_page(q.get_str("page")),
        }
    }

    /// The URL of this query at `page`, leaving out defaults.
    #[must_use]
    pub fn href(&self, page: u32) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode(&self.q)));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if self.sort != SortKey::default() {
            parts.push(format!("sort={}", self.sort.as_str()));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        with_query("/", &parts)
    }

    /// Whether any filter narrows the list.
    #[must_use]
    pub fn is_filtered(&self) -> bool {
        !self.q.is_empty() || self.status.is_some()
    }
}

/// The audit page's query (`?client_id=&actor=&action=&page=`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditParams {
    /// Only events about this registration.
    pub client_id: String,
    /// Only events by this actor (e.g. `admin:alice`, `recipient:<software_id>`).
    pub actor: String,
    /// Only this action (e.g. `registration.revoke`).
    pub action: String,
    /// 1-based page.
    pub page: u32,
}

impl AuditParams {
    /// Reads the URL query.
    #[must_use]
    pub fn from_query(q: &ParamsMap) -> Self {
        Self {
            client_id: clean_text(q.get_str("client_id").unwrap_or_default()),
            actor: clean_text(q.get_str("actor").unwrap_or_default()),
            action: clean_text(q.get_str("action").unwrap_or_default()),
            page: parse_page(q.get_str("page")),
        }
    }

    /// The URL of this query at `page`.
    #[must_use]
    pub fn href(&self, page: u32) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("client_id", &self.client_id),
            ("actor", &self.actor),
            ("action", &self.action),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", encode(v)));
            }
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        with_query("/audit", &parts)
    }

    /// Whether any filter narrows the list.
    #[must_use]
    pub fn is_filtered(&self) -> bool {
        !(self.client_id.is_empty() && self.actor.is_empty() && self.action.is_empty())
    }

    /// This view with the audit chain verified now (`verify=1`).
    #[must_use]
    pub fn verify_href(&self) -> String {
        let href = self.href(self.page);
        let sep = if href.contains('?') { '&' } else { '?' };
        format!("{href}{sep}verify=1")
    }
}

/// The result of walking the audit hash chain (every event's hash recomputed and its link to
/// the event before checked), and when it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// When the verification ran (Unix seconds).
    pub checked_at: i64,
    /// Events that verified: all of them when the chain is intact, those before the first
    /// broken one otherwise.
    pub verified: u64,
    /// The first event that does not verify, and why; `None` when the chain is intact.
    pub broken: Option<ChainBreak>,
}

/// Where and why the audit chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The event's id.
    pub event_id: i64,
    /// What is wrong with it.
    pub problem: String,
}

impl ChainReport {
    /// The status line: `Audit chain verified: 1,234 events` or
    /// `Audit chain BROKEN at event 17: <problem>`.
    #[must_use]
    pub fn status_line(&self) -> String {
        match &self.broken {
            None => format!(
                "Audit chain verified: {} event{}",
                format_count(self.verified),
                if self.verified == 1 { "" } else { "s" }
            ),
            Some(b) => format!("Audit chain BROKEN at event {}: {}", b.event_id, b.problem),
        }
    }
}

/// Actions recorded in the audit trail, offered as suggestions on the audit page.
pub const KNOWN_ACTIONS: [dcr_audit::Action; 14] = dcr_audit::Action::ALL;

/// One row of the registration list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationSummary {
    /// Data Holder issued client id.
    pub client_id: String,
    /// Software product name (recipient supplied).
    pub client_name: String,
    /// Software product id.
    pub software_id: String,
    /// Brand id.
    pub org_id: String,
    /// Brand name.
    pub org_name: String,
    /// Legal entity id.
    pub legal_entity_id: Option<String>,
    /// Legal entity name.
    pub legal_entity_name: Option<String>,
    /// Status as shown.
    pub status: Status,
    /// Registered (Unix seconds).
    pub created_at: i64,
    /// Last changed (Unix seconds).
    pub updated_at: i64,
}

/// One page of registrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationPage {
    /// The rows.
    pub items: Vec<RegistrationSummary>,
    /// All matching registrations.
    pub total: u64,
    /// This page (1-based).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// A named value shown on the inspect page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Claim or metadata name.
    pub name: String,
    /// Its value.
    pub value: FieldValue,
}

/// How a value is shown. Every variant is rendered as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// A string or a number.
    Text(String),
    /// A list of strings.
    List(Vec<String>),
    /// A time (Unix seconds), shown as a date.
    Time(i64),
    /// Anything else, as indented JSON.
    Json(String),
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditItem {
    /// Sequence number.
    pub id: i64,
    /// When (Unix seconds).
    pub occurred_at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Subject registration.
    pub client_id: Option<String>,
    /// Subject software product.
    pub software_id: Option<String>,
    /// A reason given by a person.
    pub reason: Option<String>,
    /// State before and after, compact JSON.
    pub details: Option<String>,
}

/// One page of audit events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The events, newest first.
    pub items: Vec<AuditItem>,
    /// All matching events.
    pub total: u64,
    /// This page (1-based).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// Everything the inspect page shows about one registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationDetail {
    /// The list fields.
    pub summary: RegistrationSummary,
    /// Why the status last changed.
    pub status_reason: Option<String>,
    /// The recipient's JWKS location.
    pub jwks_uri: String,
    /// Granted scope.
    pub scope: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `client_id_issued_at`.
    pub client_id_issued_at: i64,
    /// Software product status at the Register.
    pub register_sp_status: Option<String>,
    /// Recipient status at the Register.
    pub register_dr_status: Option<String>,
    /// When the Register statuses were last synced.
    pub register_synced_at: Option<i64>,
    /// The registered metadata, one field per top-level member.
    pub metadata: Vec<Field>,
    /// The SSA's JOSE header.
    pub ssa_header: Vec<Field>,
    /// The SSA's claims (decoded, not verified again here).
    pub ssa_claims: Vec<Field>,
    /// Why the SSA could not be decoded, if it could not.
    pub ssa_problem: Option<String>,
    /// The newest audit events about this registration.
    pub history: Vec<AuditItem>,
    /// All audit events about this registration.
    pub history_total: u64,
}

/// A key listed at a recipient's `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Key type.
    pub kty: String,
    /// Algorithm, if stated.
    pub alg: Option<String>,
    /// Intended use, if stated.
    pub key_use: Option<String>,
}

/// The keys found at a `jwks_uri`, fetched now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysReport {
    /// Where they were fetched from.
    pub jwks_uri: String,
    /// The keys, in document order.
    pub keys: Vec<KeyInfo>,
}

/// Drops control characters, caps the length and trims text typed into a filter.
#[must_use]
pub fn clean_text(s: &str) -> String {
    // Trimmed after the control characters are removed and again after the cap: either can
    // expose whitespace (`"\u{1} x"`, a space at the cut), and clean text must stay clean.
    let kept: String = s.chars().filter(|c| !c.is_control()).collect();
    let capped: String = kept.trim_start().chars().take(MAX_SEARCH_CHARS).collect();
    capped.trim_end().to_owned()
}

fn parse_page(s: Option<&str>) -> u32 {
    s.and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
        .min(1_000_000)
}

fn with_query(path: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

/// Percent-encodes a query or path component (everything but unreserved characters).
#[must_use]
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `s` could be a client ID this server issued: 1 to 255 characters, none of them a
/// control character. Anything else names no registration and is not looked up (PostgreSQL
/// refuses a NUL in text outright).
#[must_use]
pub fn could_be_client_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control)
}

/// The inspect page of a registration.
#[must_use]
pub fn registration_href(client_id: &str) -> String {
    format!("/registrations/{}", encode(client_id))
}

/// A Unix time as `2026-11-30 14:05 UTC` (the same on the server and in the browser, so that
/// hydration matches).
#[must_use]
pub fn format_time(secs: i64) -> String {
    let (date, h, m, _) = split_time(secs);
    format!("{date} {h:02}:{m:02} UTC")
}

/// A Unix time as an RFC 3339 string, for `<time datetime>`.
#[must_use]
pub fn rfc3339(secs: i64) -> String {
    let (date, h, m, s) = split_time(secs);
    format!("{date}T{h:02}:{m:02}:{s:02}Z")
}

fn split_time(secs: i64) -> (String, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
    )
}

/// Text for a `<title>`. leptos_meta 0.8 writes the title into the server-rendered `<head>`
/// without escaping it, so a recipient-supplied name such as `</title><script>` would become
/// markup. The title is cosmetic, so the three characters that matter are swapped for look-alikes
/// (the same on the server and in the browser).
#[must_use]
pub fn title_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            '&' => '＆',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// A count with thousands separators: `100,000`.
#[must_use]
pub fn format_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
