//! Server-side helpers for the portal's server functions: the shared state, the session, the
//! admin check every data function starts with, and the conversions from store rows to the
//! DTOs the pages render.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::dto::{
    AuditItem, ChainBreak, ChainReport, Field, FieldValue, RegistrationSummary, Status,
};
use crate::error::AdminError;

/// Session key holding the signed-in administrator's username.
pub const SESSION_ADMIN: &str = "admin";
/// Session key holding when the session was signed in (Unix seconds), for the absolute timeout.
pub const SESSION_SIGNED_IN_AT: &str = "signed_in_at";
/// Session key holding the address the session signed in from (shown on the sessions page).
pub const SESSION_ADDRESS: &str = "address";
/// Session key holding the browser's `User-Agent` at sign-in (at most 256 characters).
pub const SESSION_USER_AGENT: &str = "user_agent";
/// Session key holding the administrator's `updated_at` at sign-in: when the account changes
/// (a new password, here or through the CLI), every session signed in before ends.
pub const SESSION_ACCOUNT_VERSION: &str = "account_version";

/// Session key holding the username whose password was right but whose second factor is still
/// to be given: the session is not signed in.
pub const SESSION_PENDING_ADMIN: &str = "pending_admin";
/// Session key: when the password of [`SESSION_PENDING_ADMIN`] was checked (the second step
/// must follow within five minutes).
pub const SESSION_PENDING_AT: &str = "pending_at";
/// Session key: the portal page to go to once the second step is done.
pub const SESSION_PENDING_NEXT: &str = "pending_next";
/// Session key: the base32 TOTP secret being enrolled, until a code from it is entered.
pub const SESSION_ENROL_SECRET: &str = "enrol_secret";
/// Session key: the recovery codes just made, shown once by the account page and then removed.
pub const SESSION_RECOVERY_CODES: &str = "recovery_codes";

/// State the portal's server functions need, provided as Leptos context by the server.
#[derive(Clone)]
pub struct PortalState {
    /// The store.
    pub store: dcr_store::Store,
    /// Injected time.
    pub clock: dcr_core::clock::SharedClock,
    /// Whether registrations are provisioned into the bank's authorization server.
    pub provisioning_enabled: bool,
}

/// How long a verification of the audit chain is reused when another is asked for (seconds):
/// pressing "Verify now" repeatedly, or several administrators at once, walks the chain once.
pub const CHAIN_REUSE_SECS: i64 = 10;

/// The audit page's chain check: the last verification this server ran, with its
/// time, and a gate that lets one verification run at a time. Walking the chain reads every
/// audit event, so it runs when an administrator asks for it, not on every page view; the page
/// shows the last result and when it was computed. Held in memory: each server instance keeps
/// its own, and a restart forgets it. Provided as context by the server.
#[derive(Clone, Default)]
pub struct ChainCheck {
    last: Arc<std::sync::Mutex<Option<ChainReport>>>,
    running: Arc<tokio::sync::Mutex<()>>,
    verifier: Option<ChainVerifier>,
}

/// How the server verifies the chain (from its newest signed checkpoint; the server holds the
/// keys that check the signatures). Without one, the whole chain is walked.
pub type ChainVerifier = Arc<
    dyn Fn(
            dcr_store::Store,
        ) -> Pin<Box<dyn Future<Output = Result<dcr_store::ChainStatus, String>> + Send>>
        + Send
        + Sync,
>;

impl ChainCheck {
    /// A check that verifies with `verifier`.
    #[must_use]
    pub fn with_verifier(verifier: ChainVerifier) -> Self {
        Self {
            verifier: Some(verifier),
            ..Self::default()
        }
    }

    /// The last result, if this server has verified the chain since it started.
    #[must_use]
    pub fn last(&self) -> Option<ChainReport> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Verifies the chain now, unless a verification finished less than [`CHAIN_REUSE_SECS`]
    /// ago (its result is returned). Requests that arrive while one runs wait for it.
    ///
    /// # Errors
    /// Store failures (or the verifier's), as a message for the log.
    pub async fn verify(
        &self,
        store: &dcr_store::Store,
        clock: &dcr_core::clock::SharedClock,
    ) -> Result<ChainReport, String> {
        let _one_at_a_time = self.running.lock().await;
        if let Some(last) = self.last() {
            if clock.now() - last.checked_at < CHAIN_REUSE_SECS {
                return Ok(last);
            }
        }
        let status = match &self.verifier {
            Some(verify) => verify(store.clone()).await?,
            None => store
                .verify_audit_chain()
                .await
                .map_err(|e| e.to_string())?,
        };
        let report = ChainReport {
            checked_at: clock.now(),
            verified: status.checked,
            broken: status.first_broken.map(|event_id| ChainBreak {
                event_id,
                problem: status.problem.clone().unwrap_or_default(),
            }),
        };
        match &report.broken {
            None => tracing::info!(events = report.verified, "portal: audit chain verified"),
            Some(b) => {
                tracing::warn!(target: "security", event_id = b.event_id, problem = %b.problem, "portal: audit chain does not verify");
            }
        }
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(report.clone());
        Ok(report)
    }
}

/// Why fetching a recipient's JWKS failed, in terms an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFetchError {
    /// The `jwks_uri` is not an https URL.
    NotHttps,
    /// Connection, TLS or timeout failure.
    Unreachable,
    /// The server answered with this HTTP status.
    Status(u16),
    /// The document is larger than the server accepts.
    TooLarge,
}

/// What [`KeyFetcher`] returns: the document's bytes, or why it could not be had.
pub type KeyFetch = Pin<Box<dyn Future<Output = Result<Vec<u8>, KeyFetchError>> + Send>>;

/// Fetches a document over HTTPS with the server's outbound client (timeout, no redirects,
/// size cap). Provided as context by the server, which owns the HTTP client.
#[derive(Clone)]
pub struct KeyFetcher(
    /// The fetch function.
    pub Arc<dyn Fn(String) -> KeyFetch + Send + Sync>,
);

/// The signed-in administrator's username, if the request carries a valid session.
pub async fn current_admin() -> Option<String> {
    current_principal().await.map(|p| p.username)
}

/// Who is signed in, as the portal's session gate found them on this request (their role read
/// from the store on each request, so a change of role applies at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Sign-in name.
    pub username: String,
    /// Their role.
    pub role: crate::dto::Role,
    /// The key the session is stored under (to tell it apart on the sessions list).
    pub session_key: String,
}

/// Whether the portal requires a second factor (`portal.require_second_factor`), provided as
/// context by the server.
#[derive(Debug, Clone, Copy)]
pub struct SecondFactorRequired(pub bool);

/// Whether the portal offers passkeys (it has a relying party: `portal.public_origin`, or
/// `http://localhost` in development), provided as context by the server.
#[derive(Debug, Clone, Copy)]
pub struct PasskeysOffered(pub bool);

/// The signed-in person of this request, if the session gate found one.
pub async fn current_principal() -> Option<Principal> {
    let parts = match leptos::prelude::use_context::<http::request::Parts>() {
        Some(parts) => parts,
        None => leptos_axum::extract::<http::request::Parts>().await.ok()?,
    };
    parts.extensions.get::<Principal>().cloned()
}

/// The first step of every data server function: the signed-in administrator, or
/// [`AdminError::Unauthenticated`]. (The portal's session gate already refuses requests
/// without a session; this keeps each function safe on its own.) Every role may read.
///
/// # Errors
/// [`AdminError::Unauthenticated`] without a signed-in session.
pub async fn require_admin() -> Result<String, AdminError> {
    current_admin().await.ok_or(AdminError::Unauthenticated)
}

/// The signed-in person, if their role is at least `least`; otherwise the attempt is audited
/// (`admin.forbidden`, naming `what`) and [`AdminError::Forbidden`] answered.
///
/// # Errors
/// [`AdminError::Unauthenticated`] without a signed-in session, [`AdminError::Forbidden`].
pub async fn require_role(least: crate::dto::Role, what: &str) -> Result<Principal, AdminError> {
    let p = current_principal()
        .await
        .ok_or(AdminError::Unauthenticated)?;
    if p.role >= least {
        return Ok(p);
    }
    let st = state()?;
    audit_forbidden(&st.store, st.clock.now(), &p, what).await;
    Err(AdminError::Forbidden)
}

/// Records that `p` tried `what`, which their role does not allow.
pub async fn audit_forbidden(store: &dcr_store::Store, now: i64, p: &Principal, what: &str) {
    tracing::warn!(target: "security", username = %p.username, role = p.role.as_str(), what, "portal: refused by role");
    let event = dcr_store::NewAuditEvent {
        occurred_at: now,
        actor: dcr_audit::Actor::Admin(&p.username).into(),
        action: dcr_audit::Action::AdminForbidden.into(),
        reason: Some(what.to_string()),
        after_state: Some(serde_json::json!({ "role": p.role.as_str() }).to_string()),
        ..Default::default()
    };
    if let Err(e) = store.append_audit(&event).await {
        tracing::error!(error = %e, "portal: a refusal could not be audited");
    }
}

/// The portal state from context.
///
/// # Errors
/// [`AdminError::Unavailable`] if the server did not provide it (a wiring bug, logged).
pub fn state() -> Result<PortalState, AdminError> {
    leptos::prelude::use_context::<PortalState>().ok_or_else(|| {
        tracing::error!("portal state missing from the server function context");
        AdminError::Unavailable
    })
}

/// Logs a store failure once and turns it into the message the browser sees.
pub fn unavailable(context: &'static str) -> impl FnOnce(dcr_store::StoreError) -> AdminError {
    move |e| {
        tracing::error!(error = %e, context, "portal: store failure");
        AdminError::Unavailable
    }
}

/// The status shown for a registration.
#[must_use]
pub fn status_of(reg: &dcr_store::Registration) -> Status {
    match dcr_store::StatusFilter::of(reg) {
        dcr_store::StatusFilter::Active => Status::Active,
        dcr_store::StatusFilter::Inactive => Status::Inactive,
        dcr_store::StatusFilter::Revoked => Status::Revoked,
        dcr_store::StatusFilter::Released => Status::Released,
        dcr_store::StatusFilter::Deleted => Status::Deleted,
        dcr_store::StatusFilter::Removed => Status::Removed,
    }
}

/// The store's filter for a status.
#[must_use]
pub fn filter_of(status: Status) -> dcr_store::StatusFilter {
    match status {
        Status::Active => dcr_store::StatusFilter::Active,
        Status::Inactive => dcr_store::StatusFilter::Inactive,
        Status::Revoked => dcr_store::StatusFilter::Revoked,
        Status::Released => dcr_store::StatusFilter::Released,
        Status::Deleted => dcr_store::StatusFilter::Deleted,
        Status::Removed => dcr_store::StatusFilter::Removed,
    }
}

/// A list row.
#[must_use]
pub fn summary(reg: &dcr_store::Registration) -> RegistrationSummary {
    RegistrationSummary {
        client_id: reg.client_id.clone(),
        client_name: reg.client_name.clone(),
        software_id: reg.software_id.clone(),
        org_id: reg.org_id.clone(),
        org_name: reg.org_name.clone(),
        legal_entity_id: reg.legal_entity_id.clone(),
        legal_entity_name: reg.legal_entity_name.clone(),
        status: status_of(reg),
        created_at: reg.created_at,
        updated_at: reg.updated_at,
    }
}

/// The start of a day given as `YYYY-MM-DD` (UTC), in Unix seconds; `None` when it is not a
/// real day.
#[must_use]
pub fn day_start(day: &str) -> Option<i64> {
    let day = crate::dto::clean_day(day);
    let mut parts = day.split('-').map(str::parse::<i32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// An audit event as shown.
#[must_use]
pub fn audit_item(ev: dcr_store::AuditEvent) -> AuditItem {
    let parse = |s: Option<String>| {
        s.map(|s| serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s)))
    };
    let (before, after) = (parse(ev.before_state), parse(ev.after_state));
    let changes = crate::dto::changes(before.as_ref(), after.as_ref());
    let details = match (changes.is_some(), before, after) {
        (true, ..) | (false, None, None) => None,
        (false, None, Some(after)) => Some(after.to_string()),
        (false, Some(before), None) => Some(serde_json::json!({ "before": before }).to_string()),
        (false, Some(before), Some(after)) => {
            Some(serde_json::json!({ "before": before, "after": after }).to_string())
        }
    };
    AuditItem {
        id: ev.audit_event_id,
        occurred_at: ev.occurred_at,
        actor: ev.actor,
        action: ev.action,
        client_id: ev.client_id,
        software_id: ev.software_id,
        reason: ev.reason,
        changes: changes.unwrap_or_default(),
        details,
    }
}

/// Claims that hold a time (Unix seconds) and are shown as dates.
const TIME_CLAIMS: &[&str] = &["iat", "exp", "nbf", "client_id_issued_at", "auth_time"];

/// One field per member of a JSON object, every value ready to be shown as text.
#[must_use]
pub fn fields(map: &serde_json::Map<String, Value>) -> Vec<Field> {
    map.iter()
        .map(|(name, v)| Field {
            name: name.clone(),
            value: match v {
                Value::String(s) => FieldValue::Text(s.clone()),
                Value::Number(n) if TIME_CLAIMS.contains(&name.as_str()) => n
                    .as_i64()
                    .map_or_else(|| FieldValue::Text(n.to_string()), FieldValue::Time),
                Value::Number(_) | Value::Bool(_) | Value::Null => FieldValue::Text(v.to_string()),
                Value::Array(items) if items.iter().all(Value::is_string) => FieldValue::List(
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_string))
                        .collect(),
                ),
                _ => FieldValue::Json(
                    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()),
                ),
            },
        })
        .collect()
}

/// Key ids and types listed in a JWKS document. Tolerant: the point is to show what is there,
/// not to validate it (registration and token requests validate).
///
/// # Errors
/// A sentence saying what is wrong with the document.
pub fn keys_in(doc: &[u8]) -> Result<Vec<crate::dto::KeyInfo>, String> {
    let v: Value = serde_json::from_slice(doc)
        .map_err(|_| "The document at jwks_uri is not JSON.".to_string())?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "The document at jwks_uri has no \"keys\" list.".to_string())?;
    let text = |k: &Value, name: &str| k.get(name).and_then(Value::as_str).map(str::to_string);
    Ok(keys
        .iter()
        .map(|k| crate::dto::KeyInfo {
            kid: text(k, "kid").unwrap_or_default(),
            kty: text(k, "kty").unwrap_or_default(),
            alg: text(k, "alg"),
            key_use: text(k, "use"),
        })
        .collect())
}

/// Sets the Content-Security-Policy of the page being rendered, allowing Leptos' inline
/// hydration script through its per-response nonce and the WASM through `'wasm-unsafe-eval'`.
pub fn content_security_policy() {
    use leptos::prelude::use_context;
    let Some(res) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{nonce}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'; object-src 'none'"
    );
    if let Ok(v) = http::HeaderValue::from_str(&csp) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}

/// A drift finding as the portal shows it.
#[must_use]
pub fn drift_item(d: dcr_store::Drift) -> crate::dto::DriftItem {
    crate::dto::DriftItem {
        client_id: d.client_id,
        kind: d.kind.as_str().to_string(),
        detail: d.detail,
        found_at: d.found_at,
        repaired_at: d.repaired_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_render_every_json_shape_as_text() {
        let v = serde_json::json!({
            "client_name": "<img src=x onerror=alert(1)>",
            "iat": 1_795_996_800,
            "redirect_uris": ["https://a.example/cb", "javascript:alert(1)"],
            "nested": {"a": [1, 2]},
            "flag": true,
        });
        let f = fields(v.as_object().unwrap());
        let get = |n: &str| f.iter().find(|x| x.name == n).unwrap().value.clone();
        assert_eq!(
            get("client_name"),
            FieldValue::Text("<img src=x onerror=alert(1)>".into())
        );
        assert_eq!(get("iat"), FieldValue::Time(1_795_996_800));
        assert!(matches!(get("redirect_uris"), FieldValue::List(l) if l.len() == 2));
        assert!(matches!(get("nested"), FieldValue::Json(s) if s.contains("\"a\"")));
        assert_eq!(get("flag"), FieldValue::Text("true".into()));
    }

    #[test]
    fn keys_are_listed_tolerantly() {
        let doc = br#"{"keys":[{"kid":"k1","kty":"RSA","alg":"PS256","use":"sig"},{"kty":"EC"}]}"#;
        let keys = keys_in(doc).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].kid, "k1");
        assert_eq!(keys[1].alg, None);
        assert!(keys_in(b"<html>").is_err());
        assert!(keys_in(b"{}").is_err());
    }
}

/// The cookie that brings the username of a failed sign-in back to the sign-in form (set by the
/// server's sign-in handler, for the sign-in page only, for a few minutes; never the password).
pub const SIGN_IN_USERNAME_COOKIE: &str = "dcr_sign_in_username";

/// The username a failed sign-in sent back in [`SIGN_IN_USERNAME_COOKIE`], to fill the form
/// again; `None` without one (or with one that is not a percent-encoded username).
#[must_use]
pub fn sign_in_username() -> Option<String> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    let value = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(SIGN_IN_USERNAME_COOKIE)?
                .strip_prefix('=')
        })?;
    percent_decode(value).filter(|u| !u.is_empty() && u.len() <= 128)
}

/// Decodes `%XX` escapes (as [`crate::dto::encode`] writes them); `None` when malformed or not
/// UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod percent_tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_reverses_the_portals_encoding() {
        for s in ["alice", "a b%c", "ünï;code=", ""] {
            assert_eq!(percent_decode(&crate::dto::encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}

// The portal adds up the store's count buckets: both must mean the same quarter hour.
const _: () = assert!(dcr_store::STAT_BUCKET_SECS == crate::dto::BUCKET_SECS);

/// How many administrator actions the overview lists.
pub const RECENT_SHOWN: usize = 10;

/// The overview's figures (see [`crate::api::overview`]).
///
/// # Errors
/// [`AdminError::Unavailable`] when the store fails.
pub async fn overview_of(
    st: &PortalState,
    zone: &crate::dto::DisplayZone,
    days: u32,
) -> Result<crate::dto::Overview, AdminError> {
    use crate::dto::{overview_days, DailyCounts, Overview, RegisterHealth, Series};
    use dcr_store::stat;
    let days = overview_days(Some(&days.to_string()));
    let range = DailyCounts::new(zone, st.clock.now(), days);
    let bounds = range.bucket_bounds();
    // PostgreSQL's latest changes, not yet counted, are counted first.
    st.store
        .fold_counts()
        .await
        .map_err(unavailable("counting the latest changes"))?;
    let (statuses, disagreements, counts, register, recent) = tokio::try_join!(
        st.store.registration_counts(),
        st.store.register_disagreements(),
        st.store.stat_counts_by_day(&bounds),
        st.store.register_sync_states(),
        st.store.recent_admin_actions(RECENT_SHOWN),
    )
    .map_err(unavailable("reading the overview"))?;
    let mut created = range.zeros();
    let mut issued = range.zeros();
    let mut refused = range.zeros();
    let mut rejected: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for c in counts {
        let Some(day) = usize::try_from(c.day).ok().filter(|d| *d < created.len()) else {
            continue;
        };
        let slot = match c.name.as_str() {
            stat::REGISTRATION_CREATED => &mut created[day],
            stat::TOKEN_ISSUED => &mut issued[day],
            stat::TOKEN_REFUSED => &mut refused[day],
            stat::REGISTRATION_REJECTED => {
                &mut rejected.entry(c.label).or_insert_with(|| range.zeros())[day]
            }
            _ => continue,
        };
        *slot += c.n;
    }
    Ok(Overview {
        days,
        statuses,
        disagreements,
        dates: range.dates,
        created,
        rejected: rejected
            .into_iter()
            .map(|(label, values)| Series { label, values })
            .collect(),
        tokens: vec![
            Series {
                label: "issued".into(),
                values: issued,
            },
            Series {
                label: "refused".into(),
                values: refused,
            },
        ],
        register: register
            .into_iter()
            .map(|s| RegisterHealth {
                resource: s.resource,
                synced_at: s.synced_at,
                attempted_at: s.attempted_at,
                failures: s.failures,
                last_error: s.last_error,
            })
            .collect(),
        recent: recent.into_iter().map(audit_item).collect(),
    })
}
