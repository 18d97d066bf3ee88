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
/// Shortest and longest revocation or release reason, in characters, spaces around it aside.
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 4..=500;

/// What is wrong with a revocation or release reason, in words, or `None` when the server
/// takes it: 4 to 500 characters once the spaces around it are trimmed, so that a reason of
/// spaces only is refused.
#[must_use]
pub fn reason_problem(reason: &str) -> Option<&'static str> {
    let n = reason.trim().chars().count();
    if n == 0 {
        Some("Give a reason: spaces alone are not one.")
    } else if n < *REASON_CHARS.start() {
        Some("Give a reason of at least 4 characters, spaces aside.")
    } else if n > *REASON_CHARS.end() {
        Some("Give a reason of at most 500 characters.")
    } else {
        None
    }
}

/// The signed-in administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Sign-in name.
    pub username: String,
    /// What they may do.
    pub role: Role,
}

/// How people sign in to this portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// The single sign-on button's text, when single sign-on is configured.
    pub single_sign_on: Option<String>,
    /// Whether local accounts sign in with a password.
    pub local_passwords: bool,
}

impl Default for SignInOptions {
    fn default() -> Self {
        Self {
            single_sign_on: None,
            local_passwords: true,
        }
    }
}

/// An account of the portal, as the administrators page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Where it signs in: `local` (a password here) or `single sign-on` (the identity
    /// provider).
    pub source: String,
    /// Its second factors (none yet for any account).
    pub second_factors: Vec<String>,
    /// Disabled since.
    pub disabled_at: Option<i64>,
    /// Must replace a first password set by someone else.
    pub must_change_password: bool,
    /// Created.
    pub created_at: i64,
    /// Last successful sign-in.
    pub last_sign_in_at: Option<i64>,
    /// From where.
    pub last_sign_in_address: Option<String>,
    /// Unexpired sessions.
    pub sessions: usize,
    /// The signed-in person's own account.
    pub is_me: bool,
}

/// The signed-in person's second factor, for the account page.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecondFactorState {
    /// When the authenticator app was enrolled; none without a second factor.
    pub enrolled_at: Option<i64>,
    /// Unused recovery codes left.
    pub recovery_codes_left: usize,
    /// An enrolment under way: the `otpauth://` URI and the base32 secret to give the app.
    pub pending: Option<(String, String)>,
    /// Recovery codes just made, shown this once.
    pub new_recovery_codes: Vec<String>,
    /// Accounts without a second factor may only enrol one.
    pub required: bool,
    /// The account's passkeys.
    pub passkeys: Vec<PasskeyItem>,
    /// Whether the portal offers passkeys (it knows its public origin).
    pub passkeys_offered: bool,
}

/// One of the signed-in person's passkeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyItem {
    /// Names it in the removal form.
    pub id: String,
    /// What the person called it.
    pub name: String,
    /// Added.
    pub created_at: i64,
    /// Last used to sign in or confirm.
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for SecondFactorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactorState")
            .field("enrolled_at", &self.enrolled_at)
            .field("recovery_codes_left", &self.recovery_codes_left)
            .field("pending", &self.pending.as_ref().map(|_| ".."))
            .field("new_recovery_codes", &self.new_recovery_codes.len())
            .field("required", &self.required)
            .field("passkeys", &self.passkeys)
            .field("passkeys_offered", &self.passkeys_offered)
            .finish()
    }
}

/// One of the signed-in person's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionItem {
    /// Names it to end it (a hash of the session id; not usable as a cookie).
    pub key: String,
    /// Signed in.
    pub signed_in_at: Option<i64>,
    /// Last used.
    pub last_seen_at: Option<i64>,
    /// From where.
    pub address: Option<String>,
    /// The browser, as it described itself at sign-in.
    pub user_agent: Option<String>,
    /// This browser's session.
    pub current: bool,
}

/// What a person signed in to the portal may do (docs/portal.md, "Roles"). Each role may do
/// everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads registrations, the audit log and the provisioning state.
    Viewer,
    /// Also revokes and releases registrations and asks for provisioning deliveries.
    Operator,
    /// Also manages the people who sign in to the portal.
    Administrator,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Administrator];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Administrator => "administrator",
        }
    }

    /// The role a stored name stands for.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// For people.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Viewer => "Viewer",
            Self::Operator => "Operator",
            Self::Administrator => "Administrator",
        }
    }

    /// What it may do, in a sentence.
    #[must_use]
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Viewer => "Reads registrations, the audit log and the provisioning state.",
            Self::Operator => {
                "Also revokes and releases registrations and asks for provisioning deliveries."
            }
            Self::Administrator => {
                "Also adds, changes and disables the people who sign in to the portal."
            }
        }
    }
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

    /// The export of this list (every page) in `format` (`csv` or `jsonl`).
    #[must_use]
    pub fn export_href(&self, format: &str) -> String {
        let page = self.href(1);
        let query = page.strip_prefix('/').unwrap_or_default();
        format!("/export/registrations.{format}{query}")
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
    /// Only events on or after this day (`YYYY-MM-DD`, UTC).
    pub from: String,
    /// Only events on or before this day (`YYYY-MM-DD`, UTC).
    pub to: String,
    /// 1-based page.
    pub page: u32,
}

/// A day as the date inputs send it (`YYYY-MM-DD`), or empty when it is not one.
#[must_use]
pub fn clean_day(s: &str) -> String {
    let s = s.trim();
    let digits = |r: std::ops::Range<usize>| {
        s.get(r)
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    };
    if s.len() == 10
        && &s[4..5] == "-"
        && &s[7..8] == "-"
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
    {
        s.to_string()
    } else {
        String::new()
    }
}

impl AuditParams {
    /// Reads the URL query.
    #[must_use]
    pub fn from_query(q: &ParamsMap) -> Self {
        Self {
            client_id: clean_text(q.get_str("client_id").unwrap_or_default()),
            actor: clean_text(q.get_str("actor").unwrap_or_default()),
            action: clean_text(q.get_str("action").unwrap_or_default()),
            from: clean_day(q.get_str("from").unwrap_or_default()),
            to: clean_day(q.get_str("to").unwrap_or_default()),
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
            ("from", &self.from),
            ("to", &self.to),
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
        !(self.client_id.is_empty()
            && self.actor.is_empty()
            && self.action.is_empty()
            && self.from.is_empty()
            && self.to.is_empty())
    }

    /// The export of these events (every page) in `format` (`csv` or `jsonl`).
    #[must_use]
    pub fn export_href(&self, format: &str) -> String {
        let page = self.href(1);
        let query = page.strip_prefix("/audit").unwrap_or_default();
        format!("/export/audit.{format}{query}")
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
pub const KNOWN_ACTIONS: [dcr_audit::Action; 35] = dcr_audit::Action::ALL;

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
    /// All matching registrations; with `more`, the first that many.
    pub total: u64,
    /// More match than `total`: counting stopped there, and so do the pages.
    pub more: bool,
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
    /// What changed, field by field, when the states are JSON objects.
    pub changes: Vec<Change>,
    /// State before and after, compact JSON, when they are not both objects (or absent).
    pub details: Option<String>,
}

/// One field of an audit event's state, before and after (absent on that side: `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The field's name.
    pub field: String,
    /// Its value before, as text.
    pub before: Option<String>,
    /// Its value after, as text.
    pub after: Option<String>,
}

/// A JSON value as text: a string as it is, anything else as compact JSON.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields that differ between two states (objects; a missing state is an empty object),
/// in the order of `after`'s fields, then those only in `before`. `None` when either state is
/// not an object (the caller shows it as JSON).
#[must_use]
pub fn changes(
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> Option<Vec<Change>> {
    fn object<'a>(
        v: Option<&'a serde_json::Value>,
        empty: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a serde_json::Map<String, serde_json::Value>> {
        match v {
            None => Some(empty),
            Some(serde_json::Value::Object(m)) => Some(m),
            Some(_) => None,
        }
    }
    let empty = serde_json::Map::new();
    let (b, a) = (object(before, &empty)?, object(after, &empty)?);
    let mut out: Vec<Change> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| Change {
            field: k.clone(),
            before: b.get(k).map(value_text),
            after: Some(value_text(v)),
        })
        .collect();
    out.extend(
        b.iter()
            .filter(|(k, _)| !a.contains_key(*k))
            .map(|(k, v)| Change {
                field: k.clone(),
                before: Some(value_text(v)),
                after: None,
            }),
    );
    Some(out)
}

/// One page of audit events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The events, newest first.
    pub items: Vec<AuditItem>,
    /// All matching events; with `more`, the first that many.
    pub total: u64,
    /// More match than `total`: counting stopped there, and so do the pages.
    pub more: bool,
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
    /// Its client at the bank's authorization server, when provisioning made one.
    pub provisioning: Option<ProvisioningDetail>,
    /// Whether the signed-in person's role lets them revoke, release and deliver.
    pub can_act: bool,
    /// Active registrations of its brand (this one included), for the brand's revocation.
    pub brand_active: u64,
    /// Active registrations of its legal entity, when it names one.
    pub legal_entity_active: Option<u64>,
}

/// A registration's client at the bank's authorization server (docs/provisioning.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningDetail {
    /// `provisioned`, `pending` or `failed`.
    pub state: String,
    /// The client_id there.
    pub downstream_client_id: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub attempts: i64,
    /// Last changed.
    pub updated_at: i64,
    /// Changes waiting for delivery, oldest first.
    pub waiting: Vec<WaitingChange>,
    /// What the last reconciliation found, if this registration drifted.
    pub drift: Option<DriftItem>,
}

/// A change waiting in the provisioning outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingChange {
    /// `create`, `update`, `disable` or `delete`.
    pub operation: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Not tried again before.
    pub next_attempt_at: i64,
    /// Written.
    pub created_at: i64,
}

/// A registration whose client differs at the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftItem {
    /// The registration.
    pub client_id: String,
    /// `missing`, `extra`, `disabled`, `metadata` or `unchecked`.
    pub kind: String,
    /// In words.
    pub detail: String,
    /// Found.
    pub found_at: i64,
    /// Repair queued, if it was.
    pub repaired_at: Option<i64>,
}

/// A registration not (yet) in step with the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionItem {
    /// The registration.
    pub client_id: String,
    /// `pending` or `failed`.
    pub state: String,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub attempts: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// The last reconciliation run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationRun {
    /// Finished.
    pub finished_at: i64,
    /// `provisioning` (the periodic check) or `cli`.
    pub actor: String,
    /// Whether it queued repairs.
    pub repair: bool,
    /// Registrations compared.
    pub checked: i64,
    /// Found drifted.
    pub drifted: i64,
    /// Repairs queued.
    pub repaired: i64,
}

/// The provisioning page: how the registrations stand at the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningOverview {
    /// Whether this server provisions at all.
    pub enabled: bool,
    /// Registrations in step.
    pub provisioned: i64,
    /// With a change waiting.
    pub pending: i64,
    /// Whose change the authorization server refused.
    pub failed: i64,
    /// The failed, then the longest waiting (at most [`ATTENTION_SHOWN`]).
    pub attention: Vec<AttentionItem>,
    /// The last reconciliation.
    pub last_run: Option<ReconciliationRun>,
    /// What it found (at most [`DRIFT_SHOWN`]).
    pub drift: Vec<DriftItem>,
    /// How many it found.
    pub drift_total: u64,
}

/// Most registrations listed as needing attention on the provisioning page.
pub const ATTENTION_SHOWN: i64 = 100;
/// Most drifted registrations listed on the provisioning page.
pub const DRIFT_SHOWN: u32 = 200;

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
/// The zone the portal shows times in (`portal.time_zone`): provided as context by the server,
/// and read from the page (`<html data-time-zone>`) in the browser, so both write the same.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

/// The zone shown when none is configured.
pub const DEFAULT_TIME_ZONE: &str = "Australia/Sydney";

impl Default for DisplayZone {
    fn default() -> Self {
        Self::named(DEFAULT_TIME_ZONE).unwrap_or_else(|| Self {
            name: "UTC".into(),
            zone: jiff::tz::TimeZone::UTC,
        })
    }
}

impl DisplayZone {
    /// The IANA zone `name` (e.g. `Australia/Perth`, `UTC`), if the built-in database has it.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        let zone = jiff::tz::TimeZone::get(name).ok()?;
        Some(Self {
            name: name.to_string(),
            zone,
        })
    }

    /// Its IANA name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `secs` in this zone, to the minute or, with `seconds`, to the second, with the zone's
    /// abbreviation: `2026-12-07 08:15 AEDT`.
    #[must_use]
    pub fn format(&self, secs: i64, seconds: bool) -> String {
        let Ok(at) = jiff::Timestamp::from_second(secs) else {
            return format_time(secs);
        };
        let zoned = at.to_zoned(self.zone.clone());
        let pattern = if seconds {
            "%Y-%m-%d %H:%M:%S %Z"
        } else {
            "%Y-%m-%d %H:%M %Z"
        };
        zoned.strftime(pattern).to_string()
    }
}

/// `secs` in UTC to the second: `2026-12-06 21:15:30 UTC`.
#[must_use]
pub fn format_utc_seconds(secs: i64) -> String {
    let (date, h, m, s) = split_time(secs);
    format!("{date} {h:02}:{m:02}:{s:02} UTC")
}

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

/// The ranges the overview offers, in days.
pub const OVERVIEW_RANGES: [u32; 3] = [7, 30, 90];

/// The overview's range when none is chosen.
pub const OVERVIEW_DEFAULT_DAYS: u32 = 90;

/// The overview's range from its `days` parameter: one of [`OVERVIEW_RANGES`], else the default.
#[must_use]
pub fn overview_days(param: Option<&str>) -> u32 {
    param
        .and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|d| OVERVIEW_RANGES.contains(d))
        .unwrap_or(OVERVIEW_DEFAULT_DAYS)
}

/// The landing page after sign-in (`/overview`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// The range shown, in days (the last being today).
    pub days: u32,
    /// Registrations by status, as stored (`active`, `revoked`, ...).
    pub statuses: Vec<(String, i64)>,
    /// Registrations active here that the Register reports not active.
    pub disagreements: i64,
    /// The days of the range, oldest first, as dates in the portal's time zone.
    pub dates: Vec<String>,
    /// Registrations created, one value per day.
    pub created: Vec<i64>,
    /// Refused registration requests, one series per error code.
    pub rejected: Vec<Series>,
    /// Token requests: issued, then refused.
    pub tokens: Vec<Series>,
    /// The Register sync, one entry per status list.
    pub register: Vec<RegisterHealth>,
    /// The latest actions of administrators, newest first.
    pub recent: Vec<AuditItem>,
}

/// One series of a chart: a label and a value per day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    /// What it counts.
    pub label: String,
    /// One value per day of the range.
    pub values: Vec<i64>,
}

impl Series {
    /// The sum over the range.
    #[must_use]
    pub fn total(&self) -> i64 {
        self.values.iter().sum()
    }
}

/// How the Register sync of one of its lists stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterHealth {
    /// `data_recipients` or `software_products`.
    pub resource: String,
    /// The last good answer (Unix seconds), if any.
    pub synced_at: Option<i64>,
    /// The last attempt.
    pub attempted_at: i64,
    /// Failed attempts since the last good answer.
    pub failures: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// Quarter hours of counts (as the store keeps them) added up into the days of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCounts {
    /// Each day's date, oldest first.
    pub dates: Vec<String>,
    /// Each day's first second (Unix), oldest first, then the end of the last day.
    bounds: Vec<i64>,
}

/// Seconds in one of the store's count buckets.
pub const BUCKET_SECS: i64 = 900;

impl DailyCounts {
    /// The `days` days of `zone` ending with the one holding `now`.
    #[must_use]
    pub fn new(zone: &DisplayZone, now: i64, days: u32) -> Self {
        let tz = zone.zone.clone();
        let today = jiff::Timestamp::from_second(now)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(tz.clone())
            .date();
        let start_of = |d: jiff::civil::Date| {
            d.to_zoned(tz.clone())
                .map(|z| z.timestamp().as_second())
                .ok()
        };
        let mut dates = Vec::new();
        let mut bounds = Vec::new();
        for back in (0..i64::from(days.max(1))).rev() {
            let Ok(d) = today.checked_sub(jiff::Span::new().days(back)) else {
                continue;
            };
            if let Some(s) = start_of(d) {
                dates.push(d.to_string());
                bounds.push(s);
            }
        }
        let end = today
            .tomorrow()
            .ok()
            .and_then(start_of)
            .unwrap_or(now + 86_400);
        bounds.push(end);
        Self { dates, bounds }
    }

    /// Where each day begins as a count bucket (day starts are whole quarter hours in every
    /// zone), then where the last one ends: `days + 1` bounds.
    #[must_use]
    pub fn bucket_bounds(&self) -> Vec<i64> {
        self.bounds
            .iter()
            .map(|b| b.div_euclid(BUCKET_SECS))
            .collect()
    }

    /// A series of zeros, one per day.
    #[must_use]
    pub fn zeros(&self) -> Vec<i64> {
        vec![0; self.dates.len()]
    }
}

/// The webhooks page: where events go, how many wait, and the dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksOverview {
    /// The configured webhooks: name and URL.
    pub webhooks: Vec<(String, String)>,
    /// Events waiting to be delivered.
    pub waiting: i64,
    /// When the oldest waiting event happened.
    pub oldest: Option<i64>,
    /// Events given up after their last attempt.
    pub dead: i64,
    /// The latest dead letters (at most [`DEAD_LETTERS_SHOWN`]), newest first.
    pub dead_letters: Vec<DeadLetter>,
    /// Whether the signed-in person may send dead letters again (operator and up).
    pub can_act: bool,
}

/// How many dead letters the webhooks page lists.
pub const DEAD_LETTERS_SHOWN: i64 = 100;

/// An event given up after its last attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its id.
    pub event_id: i64,
    /// The webhook it was for.
    pub webhook: String,
    /// The registration.
    pub client_id: String,
    /// What happened (`registration.revoked`, ...).
    pub event: String,
    /// When it happened.
    pub occurred_at: i64,
    /// Attempts made.
    pub attempts: i64,
    /// Why the last one failed.
    pub last_error: Option<String>,
    /// When it was given up.
    pub dead_at: i64,
}

#[cfg(test)]
mod tests;
