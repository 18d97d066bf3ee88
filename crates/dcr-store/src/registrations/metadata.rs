//! The metadata a registration was granted: a JSON object, stored as text. Reading a
//! registration checks that the text is an object without building it; the object is built only
//! when a field is asked for, and a whole type is read straight from the text.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The registered client metadata (the JSON object the registration response is built from).
///
/// It keeps the text it was stored as, which it is written back as unchanged: callers read
/// fields with [`Metadata::get`] (the object is parsed once, on first use) or the whole object as
/// a type with [`Metadata::to`] (one pass over the text). Serialised, it is that text; two
/// metadata are equal when their texts are.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Metadata {
    text: String,
    object: OnceLock<Map<String, Value>>,
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Metadata").field(&self.text).finish()
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Metadata {}

/// Accepts a JSON object and nothing else, without building it.
struct AnObject;

impl<'de> Deserialize<'de> for AnObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = AnObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnObject)
            }
        }
        d.deserialize_map(Shape)
    }
}

impl Metadata {
    /// The metadata serialised from `value`, which must serialise to a JSON object. The text is
    /// `value`'s own serialisation (its fields in their declared order).
    ///
    /// # Errors
    /// `value` does not serialise, or not to an object.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let text = serde_json::to_string(value)?;
        if text.starts_with('{') {
            Ok(Self::unchecked(text))
        } else {
            Self::parse(text)
        }
    }

    fn unchecked(text: String) -> Self {
        Self {
            text,
            object: OnceLock::new(),
        }
    }

    /// Stored metadata, checked to be a JSON object.
    ///
    /// # Errors
    /// `text` is not a JSON object.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<AnObject>(&text)?;
        Ok(Self::unchecked(text))
    }

    /// The text it is stored as.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The object (parsed on first use; the text was checked to be an object when made).
    #[must_use]
    pub fn object(&self) -> &Map<String, Value> {
        self.object
            .get_or_init(|| serde_json::from_str(&self.text).unwrap_or_default())
    }

    /// One field's value, if present.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.object().get(field)
    }

    /// The object as a `T` (the metadata type of the protocol crate, or a part of it), read
    /// straight from the text.
    ///
    /// # Errors
    /// The object is not a valid `T`.
    pub fn to<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.text)
    }
}

/// How the member holding the software statement starts in a metadata text.
const SSA_KEY: &str = "\"software_statement\":\"";

/// The member as it is stored: its value emptied, the statement being in the registration's
/// own `ssa` column (a registration's software statement is never empty).
const SSA_EMPTIED: &str = "\"software_statement\":\"\"";

/// The first character of a stored text whose statement was taken out: JSON whitespace, so the
/// stored text is still the JSON object (for anyone reading the column), and never the first
/// character of a text this server makes (serialised, it starts with `{`).
const TAKEN_OUT: char = '\t';

impl Metadata {
    /// The text to store beside the registration's `ssa` column: when the value of its
    /// `software_statement` member is `ssa`, the text with that value emptied and [`TAKEN_OUT`]
    /// before it, so that the statement (about a third of a registration's bytes) is written
    /// once, not twice. Any other text is stored as it is. [`Metadata::from_stored`] gives the
    /// statement back.
    pub(crate) fn stored(&self, ssa: &str) -> Cow<'_, str> {
        let text = self.text.as_str();
        if ssa.is_empty() || !text.starts_with('{') {
            return Cow::Borrowed(text);
        }
        let Some(at) = text.find(SSA_KEY) else {
            return Cow::Borrowed(text);
        };
        let value = at + SSA_KEY.len();
        let holds_ssa = text[value..]
            .strip_prefix(ssa)
            .is_some_and(|rest| rest.starts_with('"'));
        // Reading fills the first emptied member: one before this one keeps the text whole.
        if !holds_ssa || text[..at].contains(SSA_EMPTIED) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 1 - ssa.len());
        out.push(TAKEN_OUT);
        out.push_str(&text[..value]);
        out.push_str(&text[value + ssa.len()..]);
        Cow::Owned(out)
    }

    /// Metadata read from its stored text ([`Metadata::stored`]) beside the registration's
    /// `ssa`: a text whose statement was taken out gets it back in its emptied member. (In a
    /// JSON text the member's pattern can only be a key and its value: a quote inside a string
    /// is escaped.)
    ///
    /// # Errors
    /// `text` is not a JSON object.
    pub(crate) fn from_stored(text: String, ssa: &str) -> Result<Self, serde_json::Error> {
        let Some(at) = text
            .strip_prefix(TAKEN_OUT)
            .filter(|t| t.starts_with('{'))
            .and_then(|t| t.find(SSA_EMPTIED))
        else {
            return Self::parse(text);
        };
        let value = TAKEN_OUT.len_utf8() + at + SSA_KEY.len();
        let mut full = String::with_capacity(text.len() + ssa.len());
        full.push_str(&text[TAKEN_OUT.len_utf8()..value]);
        full.push_str(ssa);
        full.push_str(&text[value..]);
        Self::parse(full)
    }
}

impl Default for Metadata {
    /// No metadata: `{}`.
    fn default() -> Self {
        Self::unchecked("{}".into())
    }
}

impl From<Map<String, Value>> for Metadata {
    /// The metadata of an object built in code, stored as its serialisation.
    fn from(object: Map<String, Value>) -> Self {
        let text = Value::Object(object.clone()).to_string();
        Self {
            text,
            object: OnceLock::from(object),
        }
    }
}

impl TryFrom<String> for Metadata {
    type Error = serde_json::Error;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

impl From<Metadata> for String {
    fn from(m: Metadata) -> Self {
        m.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Meta {
        zeta: String,
        alpha: Option<u32>,
    }

    #[test]
    fn keeps_its_text_and_reads_fields_from_the_parsed_object() {
        let meta = Meta {
            zeta: "z".into(),
            alpha: Some(1),
        };
        let m = Metadata::new(&meta).unwrap();
        // The text is the value's own serialisation, fields in declared order.
        assert_eq!(m.as_str(), r#"{"zeta":"z","alpha":1}"#);
        assert_eq!(m.get("alpha"), Some(&Value::from(1)));
        assert_eq!(m.to::<Meta>().unwrap(), meta);
        let stored = Metadata::parse(m.as_str().to_string()).unwrap();
        assert_eq!(stored, m);
        // Serialised as the text, and read back from it.
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, serde_json::to_string(m.as_str()).unwrap());
        assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), m);
        assert!(Metadata::parse("[1]".into()).is_err(), "an object only");
        assert!(Metadata::parse("{".into()).is_err());
        assert_eq!(Metadata::default().as_str(), "{}");
        let built = Metadata::from(Map::from_iter([("b".into(), Value::from(2))]));
        assert_eq!(built, Metadata::parse(r#"{"b":2}"#.into()).unwrap());
    }
}

#[cfg(test)]
mod stored {
    #![allow(clippy::unwrap_used)]
    use super::Metadata;

    const SSA: &str = "h.p.s";

    fn meta(text: &str) -> Metadata {
        Metadata::parse(text.into()).unwrap()
    }

    #[test]
    fn the_statement_is_stored_once_and_given_back() {
        let m = meta(r#"{"a":1,"software_statement":"h.p.s","b":"x"}"#);
        let stored = m.stored(SSA);
        assert_eq!(
            stored,
            "\t{\"a\":1,\"software_statement\":\"\",\"b\":\"x\"}"
        );
        assert_eq!(Metadata::from_stored(stored.into_owned(), SSA).unwrap(), m);
    }

    #[test]
    fn other_texts_are_stored_as_they_are() {
        for text in [
            r#"{"a":1}"#,
            // Another statement, or one that only begins with it.
            r#"{"software_statement":"h.p.t"}"#,
            r#"{"software_statement":"h.p.s2"}"#,
            // An emptied member already there, before or after.
            r#"{"x":{"software_statement":""},"software_statement":"h.p.s"}"#,
            r#"{"x":{"software_statement":""}}"#,
            // Not made by this server: stored as given.
            r#" {"software_statement":"h.p.s"}"#,
            // The pattern inside a string is escaped.
            r#"{"d":"\"software_statement\":\"h.p.s\""}"#,
        ] {
            let m = meta(text);
            assert_eq!(m.stored(SSA), text, "{text}");
            assert_eq!(Metadata::from_stored(text.into(), SSA).unwrap(), m);
        }
        let empty = r#"{"software_statement":""}"#;
        assert_eq!(meta(empty).stored(""), empty);
        // The member after an emptied one is not taken out.
        let after = r#"{"software_statement":"h.p.s","x":{"software_statement":""}}"#;
        let m = meta(after);
        let stored = m.stored(SSA);
        assert!(stored.starts_with('\t'));
        assert_eq!(Metadata::from_stored(stored.into_owned(), SSA).unwrap(), m);
    }

    #[test]
    fn a_stored_text_that_is_not_an_object_is_refused() {
        assert!(Metadata::from_stored("[]".into(), SSA).is_err());
        assert!(Metadata::from_stored(r#""software_statement":"""#.into(), SSA).is_err());
        assert!(Metadata::from_stored("\t\"software_statement\":\"\"".into(), SSA).is_err());
    }
}
