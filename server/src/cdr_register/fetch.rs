//! The Register's status APIs as a client sees them (CDS Register APIs "Get Data Recipients
//! Statuses" and "Get Software Products Statuses", docs/dcr-rules.md §10.1): `x-v`/`x-min-v` on every call,
//! `If-None-Match` with the last ETag (304: unchanged), retries with exponential backoff and
//! jitter on transport errors, 5xx, 408 and 429, a response size cap, and `links.next` followed
//! on the Register's own origin only.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use serde_json::Value;
use url::Url;

/// `x-v` sent to the status APIs: the current version (v3 in CDS v1.36.0).
pub const X_V: &str = "3";
/// `x-min-v` sent to the status APIs: v2 has the same body, so either is understood.
pub const X_MIN_V: &str = "2";
/// The largest status page accepted.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// The most pages followed for one list.
pub const MAX_PAGES: usize = 100;

/// Which status list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Get Data Recipients Statuses: `legalEntityId` → `status`.
    DataRecipients,
    /// Get Software Products Statuses: `softwareProductId` → `status`.
    SoftwareProducts,
}

impl ListKind {
    /// The field names this list's entries use (current first, then the obsolete v1 names).
    fn fields(
        self,
    ) -> (
        &'static [&'static str],
        &'static [&'static str],
        &'static str,
    ) {
        match self {
            Self::DataRecipients => (
                &["legalEntityId", "dataRecipientId"],
                &["status", "dataRecipientStatus"],
                "dataRecipients",
            ),
            Self::SoftwareProducts => (
                &["softwareProductId"],
                &["status", "softwareProductStatus"],
                "softwareProducts",
            ),
        }
    }
}

/// A complete status list: lower-cased id → status as the Register wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusList {
    /// ETag of the first page, for the next `If-None-Match`.
    pub etag: Option<String>,
    /// The statuses.
    pub statuses: BTreeMap<String, String>,
    /// Entries that had no id or no status (skipped).
    pub skipped: usize,
}

/// The answer to one refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304: the list has not changed since the ETag sent.
    NotModified,
    /// 200: the whole list, every page.
    Fresh(StatusList),
}

/// Why a list could not be had (the last good one is kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterFetchError {
    /// Connection, TLS or timeout.
    #[error("could not reach the Register: {0}")]
    Transport(String),
    /// A non-success status.
    #[error("the Register answered {status}")]
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds, when sent.
        retry_after: Option<u64>,
    },
    /// The body is not a status list.
    #[error("the Register's answer is not a status list: {0}")]
    Invalid(String),
    /// A page exceeded the size cap.
    #[error("a status page is larger than {0} bytes")]
    TooLarge(usize),
    /// `links.next` points elsewhere or loops.
    #[error("refusing to follow links.next: {0}")]
    BadNext(String),
}

impl RegisterFetchError {
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Self::Invalid(_) | Self::TooLarge(_) | Self::BadNext(_) => false,
        }
    }
}

/// The retry policy of one page request.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubles each time, with jitter.
    pub base: Duration,
    /// Longest single delay (also caps `Retry-After`).
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// The delay after failed attempt `n` (1-based): `base·2^(n-1)` with "equal jitter" (half
    /// fixed, half random) so that instances restarted together do not retry in step, or the
    /// server's `Retry-After` when it gave one, capped at `max`.
    #[must_use]
    pub fn delay(&self, n: u32, retry_after: Option<u64>) -> Duration {
        if let Some(secs) = retry_after {
            return Duration::from_secs(secs).min(self.max);
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
            .min(self.max);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

enum Page {
    NotModified,
    Body {
        etag: Option<String>,
        body: bytes::Bytes,
    },
}

/// Fetches a whole status list starting at `url`, sending `If-None-Match: etag` on the first page.
///
/// # Errors
/// [`RegisterFetchError`] after the retries; nothing partial is returned.
pub async fn fetch_list(
    http: &reqwest::Client,
    url: &Url,
    kind: ListKind,
    etag: Option<&str>,
    retry: Retry,
) -> Result<Fetched, RegisterFetchError> {
    let mut list = StatusList::default();
    let mut next = Some(url.clone());
    let mut seen = Vec::new();
    let mut first = true;
    while let Some(page_url) = next.take() {
        if seen.len() >= MAX_PAGES {
            return Err(RegisterFetchError::BadNext(format!(
                "more than {MAX_PAGES} pages"
            )));
        }
        if seen.contains(&page_url) {
            return Err(RegisterFetchError::BadNext("the pages loop".into()));
        }
        seen.push(page_url.clone());
        let page = get_page(http, &page_url, if first { etag } else { None }, retry).await?;
        let (page_etag, body) = match page {
            Page::NotModified if first => return Ok(Fetched::NotModified),
            Page::NotModified => {
                return Err(RegisterFetchError::Invalid(
                    "304 for a page after the first".into(),
                ))
            }
            Page::Body { etag, body } => (etag, body),
        };
        if first {
            list.etag = page_etag;
            first = false;
        }
        let (entries, skipped, next_link) = parse_page(&body, kind)?;
        list.skipped += skipped;
        list.statuses.extend(entries);
        if let Some(link) = next_link {
            let resolved = page_url
                .join(&link)
                .map_err(|_| RegisterFetchError::BadNext("not a URL".into()))?;
            if resolved.origin() != url.origin() {
                return Err(RegisterFetchError::BadNext(
                    "it points to another origin".into(),
                ));
            }
            next = Some(resolved);
        }
    }
    Ok(Fetched::Fresh(list))
}

async fn get_page(
    http: &reqwest::Client,
    url: &Url,
    etag: Option<&str>,
    retry: Retry,
) -> Result<Page, RegisterFetchError> {
    let mut attempt = 1;
    loop {
        match get_once(http, url, etag).await {
            Ok(p) => return Ok(p),
            Err(e) if e.retryable() && attempt < retry.attempts.max(1) => {
                let retry_after = match &e {
                    RegisterFetchError::Status { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let delay = retry.delay(attempt, retry_after);
                tracing::debug!(url = %url, attempt, error = %e, delay_ms = delay.as_millis() as u64, "Register request failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn get_once(
    http: &reqwest::Client,
    url: &Url,
    etag: Option<&str>,
) -> Result<Page, RegisterFetchError> {
    let mut req = http
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .header("x-v", X_V)
        .header("x-min-v", X_MIN_V);
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        req = req.header(IF_NONE_MATCH, v);
    }
    let res = req
        .send()
        .await
        .map_err(|e| RegisterFetchError::Transport(e.without_url().to_string()))?;
    let status = res.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Page::NotModified);
    }
    if !status.is_success() {
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        return Err(RegisterFetchError::Status {
            status: status.as_u16(),
            retry_after,
        });
    }
    let etag = res
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 256)
        .map(ToString::to_string);
    let body = crate::outbound::read_capped(res, MAX_PAGE_BYTES)
        .await
        .map_err(|e| match e {
            crate::outbound::FetchError::TooLarge(n) => RegisterFetchError::TooLarge(n),
            other => RegisterFetchError::Transport(other.to_string()),
        })?;
    Ok(Page::Body { etag, body })
}

type ParsedPage = (Vec<(String, String)>, usize, Option<String>);

/// Reads one page: `{"data": [{id, status}], "links": {"next"}}` (v2/v3), or the v1 shape
/// `{"dataRecipients"|"softwareProducts": [...]}`.
///
/// # Errors
/// [`RegisterFetchError::Invalid`] when the body is not such a document.
pub fn parse_page(body: &[u8], kind: ListKind) -> Result<ParsedPage, RegisterFetchError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| RegisterFetchError::Invalid(format!("not JSON ({e})")))?;
    let (id_fields, status_fields, v1_array) = kind.fields();
    let items = doc
        .get("data")
        .or_else(|| doc.get(v1_array))
        .and_then(Value::as_array)
        .ok_or_else(|| RegisterFetchError::Invalid("no data array".into()))?;
    let mut entries = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for item in items {
        let pick = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| item.get(*n).and_then(Value::as_str))
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 128)
        };
        match (pick(id_fields), pick(status_fields)) {
            (Some(id), Some(status)) => {
                entries.push((id.to_ascii_lowercase(), status.to_string()));
            }
            _ => skipped += 1,
        }
    }
    let next = doc
        .get("links")
        .and_then(|l| l.get("next"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(ToString::to_string);
    Ok((entries, skipped, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_current_and_v1_shapes() {
        let v3 = br#"{"data":[{"legalEntityId":"ABC-1","status":"ACTIVE"},{"legalEntityId":"x"}],
            "links":{"self":"https://r/s","next":"https://r/s?page=2"},"meta":{}}"#;
        let (e, skipped, next) = parse_page(v3, ListKind::DataRecipients).unwrap();
        assert_eq!(
            e,
            vec![("abc-1".to_string(), "ACTIVE".to_string())],
            "ids lower-cased"
        );
        assert_eq!(skipped, 1, "an entry without status is skipped");
        assert_eq!(next.as_deref(), Some("https://r/s?page=2"));
        let v1 = br#"{"softwareProducts":[{"softwareProductId":"SP","softwareProductStatus":"INACTIVE"}]}"#;
        let (e, _, next) = parse_page(v1, ListKind::SoftwareProducts).unwrap();
        assert_eq!(e, vec![("sp".to_string(), "INACTIVE".to_string())]);
        assert_eq!(next, None);
    }

    #[test]
    fn rejects_documents_that_are_not_status_lists() {
        for body in [&b"<html>"[..], b"{}", br#"{"data":{}}"#] {
            assert!(matches!(
                parse_page(body, ListKind::SoftwareProducts),
                Err(RegisterFetchError::Invalid(_))
            ));
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let r = Retry::default();
        for _ in 0..50 {
            let d1 = r.delay(1, None);
            assert!(
                d1 >= Duration::from_millis(250) && d1 <= Duration::from_millis(500),
                "{d1:?}"
            );
            let d3 = r.delay(3, None);
            assert!(
                d3 >= Duration::from_secs(1) && d3 <= Duration::from_secs(2),
                "{d3:?}"
            );
        }
        assert_eq!(r.delay(1, Some(2)), Duration::from_secs(2));
        assert_eq!(r.delay(1, Some(3600)), r.max, "Retry-After is capped");
        assert!(r.delay(40, None) <= r.max);
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let s = |status| RegisterFetchError::Status {
            status,
            retry_after: None,
        };
        assert!(
            s(503).retryable() && s(500).retryable() && s(429).retryable() && s(408).retryable()
        );
        assert!(!s(404).retryable() && !s(400).retryable() && !s(406).retryable());
        assert!(RegisterFetchError::Transport("x".into()).retryable());
        assert!(!RegisterFetchError::Invalid("x".into()).retryable());
    }
}
