//! Exports of the registration list and of the audit log, as CSV (RFC 4180) or JSON lines,
//! streamed: shared by the portal (`/export/...`, [`crate::portal::export`]) and the command
//! line (`dcr-server export`, [`crate::cli::export`]).
//!
//! The rows come from the store's streams ([`dcr_store::Store::export_registrations`],
//! [`dcr_store::Store::export_audit`]), which hold at most a batch of rows, and are encoded a
//! few hundred at a time into chunks of bytes: memory stays flat whatever the number of rows.
//!
//! # CSV
//! RFC 4180: a header row, `CRLF` after each record, a field in double quotes when it holds a
//! comma, a double quote (doubled inside), `CR` or `LF`. An absent value is an empty field.
//!
//! # Security
//! Names and ids come from recipients. A spreadsheet opening the CSV would run a field that
//! starts with `=`, `+`, `-` or `@` as a formula (and a leading tab or `CR` can hide one), so
//! such a field is written with a leading apostrophe (`'=cmd`) and quoted: spreadsheets show
//! it as text (OWASP, "CSV Injection"). JSON lines are left as they are.
//!
//! Each export is an audit event (`export.registrations`, `export.audit`) naming the actor, the
//! format and the filters, written before the first row is read.

use std::borrow::Cow;

use bytes::Bytes;
use dcr_audit::{Action, Actor};
use dcr_store::{
    AdminListQuery, AuditEvent, AuditQuery, ExportedRegistration, NewAuditEvent, Sort,
    StatusFilter, Store, StoreError,
};
use futures::stream::{self, BoxStream, StreamExt as _};
use serde::Serialize;

/// How many rows go into one chunk of the body.
const ROWS_PER_CHUNK: usize = 256;

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values (RFC 4180) with a header row.
    Csv,
    /// One JSON object per line (`\n`).
    Jsonl,
}

impl Format {
    /// The name, also the file extension.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// The media type of the body.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The registration list.
    Registrations,
    /// The audit log.
    Audit,
}

impl Kind {
    /// The name, as in the file name and the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registrations => "registrations",
            Self::Audit => "audit",
        }
    }
}

/// The registration list's filters: the portal list's search, status and order.
#[derive(Debug, Clone, Default)]
pub struct RegistrationFilters {
    /// Search text (empty for none); cleaned as the list cleans it.
    pub search: String,
    /// Status, as the list shows it.
    pub status: Option<StatusFilter>,
    /// Order.
    pub sort: Sort,
}

impl RegistrationFilters {
    /// The filters from the list's URL parameters (`q`, `status`, `sort`); unknown values fall
    /// back to none and the default order, as on the list.
    #[must_use]
    pub fn from_params(q: &str, status: &str, sort: &str) -> Self {
        Self {
            search: app::dto::clean_text(q),
            status: StatusFilter::parse(status),
            sort: Sort::parse(sort).unwrap_or_default(),
        }
    }

    /// The store's query.
    #[must_use]
    pub fn query(&self) -> AdminListQuery {
        AdminListQuery {
            search: (!self.search.is_empty()).then(|| self.search.clone()),
            status: self.status,
            sort: self.sort,
            page: 1,
            per_page: 1,
        }
    }

    fn audit_json(&self) -> serde_json::Value {
        serde_json::json!({
            "q": self.search,
            "status": self.status.map(StatusFilter::as_str),
            "sort": sort_name(self.sort),
        })
    }
}

/// The URL form of an order.
fn sort_name(sort: Sort) -> &'static str {
    match sort {
        Sort::CreatedDesc => "created_desc",
        Sort::CreatedAsc => "created_asc",
        Sort::UpdatedDesc => "updated_desc",
        Sort::NameAsc => "name_asc",
        Sort::NameDesc => "name_desc",
    }
}

/// The audit log's filters, as on the audit page: whole values in any case, and a range of
/// days (UTC, both included).
#[derive(Debug, Clone, Default)]
pub struct AuditFilters {
    /// Only events about this registration.
    pub client_id: Option<String>,
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only events on or after this day (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Only events on or before this day (`YYYY-MM-DD`).
    pub to: Option<String>,
}

impl AuditFilters {
    /// The filters from the audit page's URL parameters (`[client_id, actor, action, from,
    /// to]`); empty ones, and days that are not real days, are none.
    #[must_use]
    pub fn from_params([client_id, actor, action, from, to]: [&str; 5]) -> Self {
        let opt = |s: &str| {
            let s = app::dto::clean_text(s);
            (!s.is_empty()).then_some(s)
        };
        let day = |s: &str| {
            let d = app::dto::clean_day(s);
            app::ssr::day_start(&d).map(|_| d)
        };
        Self {
            client_id: opt(client_id),
            actor: opt(actor),
            action: opt(action),
            from: day(from),
            to: day(to),
        }
    }

    /// The store's query.
    #[must_use]
    pub fn query(&self) -> AuditQuery {
        AuditQuery {
            client_id: self.client_id.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            from: self.from.as_deref().and_then(app::ssr::day_start),
            // The last day is included: up to the start of the next.
            until: self
                .to
                .as_deref()
                .and_then(app::ssr::day_start)
                .map(|t| t + 86_400),
            page: 1,
            per_page: 1,
        }
    }

    fn audit_json(&self) -> serde_json::Value {
        serde_json::json!({
            "client_id": self.client_id,
            "actor": self.actor,
            "action": self.action,
            "from": self.from,
            "to": self.to,
        })
    }
}

/// Records that `actor` starts an export.
///
/// # Errors
/// Store failures (the export must then not start).
pub async fn audit_start(
    store: &Store,
    actor: Actor<'_>,
    kind: Kind,
    format: Format,
    filters: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    let action = match kind {
        Kind::Registrations => Action::ExportRegistrations,
        Kind::Audit => Action::ExportAudit,
    };
    store
        .append_audit(&NewAuditEvent {
            occurred_at: now,
            actor: actor.into(),
            action: action.into(),
            after_state: Some(
                serde_json::json!({ "format": format.as_str(), "filters": filters }).to_string(),
            ),
            ..Default::default()
        })
        .await
}

/// Audits the export of the registration list and returns its body.
///
/// # Errors
/// The audit event could not be written.
pub async fn registrations(
    store: &Store,
    actor: Actor<'_>,
    filters: &RegistrationFilters,
    format: Format,
    now: i64,
) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
    audit_start(
        store,
        actor,
        Kind::Registrations,
        format,
        filters.audit_json(),
        now,
    )
    .await?;
    let rows = store.export_registrations(&filters.query());
    Ok(encode(
        rows,
        format,
        &REGISTRATION_HEADER,
        registration_record,
    ))
}

/// Audits the export of the audit log and returns its body (newest event first; the export's
/// own event is among them when it matches the filters).
///
/// # Errors
/// The audit event could not be written.
pub async fn audit(
    store: &Store,
    actor: Actor<'_>,
    filters: &AuditFilters,
    format: Format,
    now: i64,
) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
    audit_start(store, actor, Kind::Audit, format, filters.audit_json(), now).await?;
    let rows = store.export_audit(&filters.query());
    Ok(encode(rows, format, &AUDIT_HEADER, audit_record))
}

/// One row of an export: its fields in column order, each as text for CSV, and the object
/// written as a JSON line.
struct Record<'a> {
    fields: Vec<Option<Cow<'a, str>>>,
    json: serde_json::Value,
}

/// The registration export's columns.
pub const REGISTRATION_HEADER: [&str; 16] = [
    "client_id",
    "software_id",
    "client_name",
    "org_id",
    "org_name",
    "legal_entity_id",
    "legal_entity_name",
    "status",
    "status_reason",
    "register_product_status",
    "register_recipient_status",
    "register_synced_at",
    "jwks_uri",
    "scope",
    "created_at",
    "updated_at",
];

/// The audit export's columns.
pub const AUDIT_HEADER: [&str; 9] = [
    "id",
    "time",
    "actor",
    "action",
    "client_id",
    "software_id",
    "reason",
    "before",
    "after",
];

fn registration_record(r: &ExportedRegistration) -> Record<'_> {
    #[derive(Serialize)]
    struct Json<'a> {
        client_id: &'a str,
        software_id: &'a str,
        client_name: &'a str,
        org_id: &'a str,
        org_name: &'a str,
        legal_entity_id: Option<&'a str>,
        legal_entity_name: Option<&'a str>,
        status: &'static str,
        status_reason: Option<&'a str>,
        register_product_status: Option<&'a str>,
        register_recipient_status: Option<&'a str>,
        register_synced_at: Option<String>,
        jwks_uri: &'a str,
        scope: &'a str,
        created_at: String,
        updated_at: String,
    }
    let j = Json {
        client_id: &r.client_id,
        software_id: &r.software_id,
        client_name: &r.client_name,
        org_id: &r.org_id,
        org_name: &r.org_name,
        legal_entity_id: r.legal_entity_id.as_deref(),
        legal_entity_name: r.legal_entity_name.as_deref(),
        status: r.status_filter().as_str(),
        status_reason: r.status_reason.as_deref(),
        register_product_status: r.register_sp_status.as_deref(),
        register_recipient_status: r.register_dr_status.as_deref(),
        register_synced_at: r.register_synced_at.map(app::dto::rfc3339),
        jwks_uri: &r.jwks_uri,
        scope: &r.scope,
        created_at: app::dto::rfc3339(r.created_at),
        updated_at: app::dto::rfc3339(r.updated_at),
    };
    let fields = vec![
        Some(Cow::Borrowed(j.client_id)),
        Some(Cow::Borrowed(j.software_id)),
        Some(Cow::Borrowed(j.client_name)),
        Some(Cow::Borrowed(j.org_id)),
        Some(Cow::Borrowed(j.org_name)),
        j.legal_entity_id.map(Cow::Borrowed),
        j.legal_entity_name.map(Cow::Borrowed),
        Some(Cow::Borrowed(j.status)),
        j.status_reason.map(Cow::Borrowed),
        j.register_product_status.map(Cow::Borrowed),
        j.register_recipient_status.map(Cow::Borrowed),
        j.register_synced_at.clone().map(Cow::Owned),
        Some(Cow::Borrowed(j.jwks_uri)),
        Some(Cow::Borrowed(j.scope)),
        Some(Cow::Owned(j.created_at.clone())),
        Some(Cow::Owned(j.updated_at.clone())),
    ];
    Record {
        json: serde_json::to_value(&j).unwrap_or_default(),
        fields,
    }
}

fn audit_record(e: &AuditEvent) -> Record<'_> {
    // The states are JSON written by the server; a JSON line carries them as objects (as text
    // should one not parse).
    let state = |s: &Option<String>| {
        s.as_deref().map(|t| {
            serde_json::from_str::<serde_json::Value>(t)
                .unwrap_or_else(|_| serde_json::Value::String(t.to_owned()))
        })
    };
    let time = app::dto::rfc3339(e.occurred_at);
    let json = serde_json::json!({
        "id": e.audit_event_id,
        "time": time,
        "actor": e.actor,
        "action": e.action,
        "client_id": e.client_id,
        "software_id": e.software_id,
        "reason": e.reason,
        "before": state(&e.before_state),
        "after": state(&e.after_state),
    });
    Record {
        fields: vec![
            Some(Cow::Owned(e.audit_event_id.to_string())),
            Some(Cow::Owned(time)),
            Some(Cow::Borrowed(&e.actor)),
            Some(Cow::Borrowed(&e.action)),
            e.client_id.as_deref().map(Cow::Borrowed),
            e.software_id.as_deref().map(Cow::Borrowed),
            e.reason.as_deref().map(Cow::Borrowed),
            e.before_state.as_deref().map(Cow::Borrowed),
            e.after_state.as_deref().map(Cow::Borrowed),
        ],
        json,
    }
}

/// The body: the header row (CSV), then the rows, [`ROWS_PER_CHUNK`] to a chunk. A failure of
/// the store ends the body with that error (a download cut short, a failed command).
fn encode<T: Send + 'static>(
    rows: BoxStream<'static, Result<T, StoreError>>,
    format: Format,
    header: &'static [&'static str],
    record: fn(&T) -> Record<'_>,
) -> BoxStream<'static, Result<Bytes, StoreError>> {
    let head = match format {
        Format::Csv => {
            let mut buf = Vec::new();
            write_csv_record(&mut buf, header.iter().map(|h| Some(*h)));
            Some(Ok(Bytes::from(buf)))
        }
        Format::Jsonl => None,
    };
    let body = rows.ready_chunks(ROWS_PER_CHUNK).map(move |chunk| {
        let mut buf = Vec::with_capacity(chunk.len() * 256);
        for row in chunk {
            let row = row?;
            let rec = record(&row);
            match format {
                Format::Csv => write_csv_record(&mut buf, rec.fields.iter().map(Option::as_deref)),
                Format::Jsonl => write_json_line(&mut buf, &rec.json),
            }
        }
        Ok(Bytes::from(buf))
    });
    stream::iter(head).chain(body).boxed()
}

fn write_json_line(buf: &mut Vec<u8>, value: &serde_json::Value) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, value);
    buf.push(b'\n');
}

/// Writes one CSV record (RFC 4180) and its `CRLF`.
fn write_csv_record<'a>(buf: &mut Vec<u8>, fields: impl Iterator<Item = Option<&'a str>>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if let Some(f) = field {
            write_csv_field(buf, f);
        }
    }
    buf.extend_from_slice(b"\r\n");
}

/// Writes one CSV field: quoted when it holds a comma, a quote, `CR` or `LF`, with a leading
/// apostrophe (and quoted) when a spreadsheet would take it for a formula.
pub fn write_csv_field(buf: &mut Vec<u8>, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || field.contains([',', '"', '\r', '\n']);
    if quote {
        buf.push(b'"');
    }
    if formula {
        buf.push(b'\'');
    }
    for b in field.bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    if quote {
        buf.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &str) -> String {
        let mut buf = Vec::new();
        write_csv_field(&mut buf, s);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn csv_fields_are_quoted_only_when_rfc_4180_needs_it() {
        for (input, expected, why) in [
            ("plain", "plain", "nothing to quote"),
            ("", "", "empty"),
            ("a,b", "\"a,b\"", "comma"),
            ("say \"hi\"", "\"say \"\"hi\"\"\"", "quotes doubled"),
            ("two\nlines", "\"two\nlines\"", "LF"),
            ("two\r\nlines", "\"two\r\nlines\"", "CRLF"),
            ("Ünïcode ✓", "Ünïcode ✓", "UTF-8 kept"),
            ("a'b", "a'b", "an apostrophe inside is text"),
        ] {
            assert_eq!(field(input), expected, "{why}");
        }
    }

    #[test]
    fn csv_fields_a_spreadsheet_would_run_are_neutralised() {
        for (input, expected) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1+2", "\"'+1+2\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\t=1", "\"'\t=1\""),
            ("\r=1", "\"'\r=1\""),
            ("a=1", "a=1"),
        ] {
            assert_eq!(field(input), expected, "{input:?}");
        }
    }

    #[test]
    fn a_csv_record_ends_with_crlf_and_leaves_absent_values_empty() {
        let mut buf = Vec::new();
        write_csv_record(&mut buf, [Some("a"), None, Some("b,c")].into_iter());
        assert_eq!(buf, b"a,,\"b,c\"\r\n");
    }
}
