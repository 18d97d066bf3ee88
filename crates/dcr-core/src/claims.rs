//! Small readers for JWT claims shared by the SSA, registration and token rules.

use serde_json::{Map, Value};

use crate::clock::UnixTime;

/// Reads a `NumericDate` (RFC 7519 §2): a JSON number of seconds; fractions are truncated.
pub(crate) fn numeric_date(v: &Value) -> Option<UnixTime> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f.abs() < 1e15 {
        #[expect(clippy::cast_possible_truncation, reason = "bounded above")]
        Some(f.trunc() as i64)
    } else {
        None
    }
}

/// What a claim looks like.
pub(crate) enum Claim<T> {
    Missing,
    Invalid,
    Present(T),
}

pub(crate) fn date(m: &Map<String, Value>, name: &str) -> Claim<UnixTime> {
    match m.get(name) {
        None | Some(Value::Null) => Claim::Missing,
        Some(v) => numeric_date(v).map_or(Claim::Invalid, Claim::Present),
    }
}

/// A string claim; empty strings count as missing.
pub(crate) fn string<'a>(m: &'a Map<String, Value>, name: &str) -> Claim<&'a str> {
    match m.get(name) {
        None | Some(Value::Null) => Claim::Missing,
        Some(Value::String(s)) if s.is_empty() => Claim::Missing,
        Some(Value::String(s)) => Claim::Present(s),
        Some(_) => Claim::Invalid,
    }
}

/// Whether an `aud` claim (string or array of strings, RFC 7519 §4.1.3) names one of `accepted`.
pub(crate) fn aud_contains(aud: Option<&Value>, accepted: &[&str]) -> bool {
    match aud {
        Some(Value::String(s)) => accepted.contains(&s.as_str()),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|s| accepted.contains(&s)),
        _ => false,
    }
}
