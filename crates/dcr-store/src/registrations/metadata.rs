//! The metadata a registration was granted: a JSON object, stored as text and parsed once, when
//! the registration is read.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The registered client metadata (the JSON object the registration response is built from).
///
/// It keeps the text it was stored as, which it is written back as unchanged, and the object
/// parsed from that text: callers read fields with [`Metadata::get`] or the whole object as a
/// type with [`Metadata::to`], never by parsing the text again. Serialised, it is that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Metadata {
    text: String,
    object: Map<String, Value>,
}

impl Metadata {
    /// The metadata serialised from `value`, which must serialise to a JSON object. The text is
    /// `value`'s own serialisation (its fields in their declared order).
    ///
    /// # Errors
    /// `value` does not serialise, or not to an object.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Self::parse(serde_json::to_string(value)?)
    }

    /// Parses stored metadata.
    ///
    /// # Errors
    /// `text` is not a JSON object.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        let object = serde_json::from_str(&text)?;
        Ok(Self { text, object })
    }

    /// The text it is stored as.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The object.
    #[must_use]
    pub fn object(&self) -> &Map<String, Value> {
        &self.object
    }

    /// One field's value, if present.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.object.get(field)
    }

    /// The object as a `T` (the metadata type of the protocol crate, or a part of it).
    ///
    /// # Errors
    /// The object is not a valid `T`.
    pub fn to<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.object)
    }
}

impl Default for Metadata {
    /// No metadata: `{}`.
    fn default() -> Self {
        Self {
            text: "{}".into(),
            object: Map::new(),
        }
    }
}

impl From<Map<String, Value>> for Metadata {
    /// The metadata of an object built in code, stored as its serialisation.
    fn from(object: Map<String, Value>) -> Self {
        let text = Value::Object(object.clone()).to_string();
        Self { text, object }
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
