//! Identifier newtypes, so a client id is never passed where a software id is expected.
//!
//! - [`ClientId`]: issued by this Data Holder at registration (RFC 7591 §3.2.1 `client_id`); a
//!   random UUID, as the ACCC reference server does.
//! - [`SoftwareId`]: the Software Product id assigned by the CDR Register (SSA `software_id`, a
//!   GUID). The Register's GUIDs are compared case-insensitively (docs/dcr-rules.md §13 A12).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A `client_id` issued by this Data Holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Wraps an existing client id (e.g. read from the store or a path).
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A fresh random client id (UUID v4, lower-case hyphenated).
    #[must_use]
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the string.
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for ClientId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// A Software Product id assigned by the CDR Register.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SoftwareId(String);

impl SoftwareId {
    /// Wraps a software id.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the string.
    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }

    /// Whether `other` names the same software product (GUIDs compare case-insensitively).
    #[must_use]
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for SoftwareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SoftwareId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for SoftwareId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn client_id_random_is_uuid_and_unique() {
        let a = ClientId::new_random();
        let b = ClientId::new_random();
        assert_ne!(a, b, "two random client ids differ");
        assert!(
            uuid::Uuid::parse_str(a.as_str()).is_ok(),
            "client id is a UUID"
        );
        assert_eq!(a.to_string(), a.as_str(), "Display is the raw id");
    }

    #[test]
    fn ids_serialize_transparently() {
        let id = ClientId::new("abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        let sw: SoftwareId = serde_json::from_str("\"XYZ\"").unwrap();
        assert_eq!(sw.as_str(), "XYZ");
    }

    #[test]
    fn software_id_matches_case_insensitively() {
        let sw = SoftwareId::new("C6327F87-687A-4369-99A4-EAACD3BB8210");
        assert!(sw.matches("c6327f87-687a-4369-99a4-eaacd3bb8210"));
        assert!(!sw.matches("c6327f87-687a-4369-99a4-eaacd3bb8211"));
    }
}
