//! Reads the JSON documents callers hand in (the configuration, recording and replay
//! options) into their serde-derived declarations, strictly, with refusals that name the
//! key path (`persistence.durability`).
//!
//! serde_json's own deserializer is lenient where a configuration must not be (`null` for
//! an optional key, a float for an integer) and its messages echo whole values. This one
//! reads a parsed [`Value`] instead and applies the library's rules to every key:
//!
//! - integers are non-negative, fit their type and are written without fraction or
//!   exponent (each way of failing has its own message);
//! - a key that is present is read as its type: `null` is not "absent";
//! - a key the declaration does not know is refused (the declarations also say
//!   `deny_unknown_fields`);
//! - echoed values and keys are shortened ([`crate::shorten`]).
//!
//! A flat document made of several declarations (the configuration's protocol, timer and
//! queue keys share the top level) is read with [`Sections`]: each declaration takes the
//! keys it declares, and a key none of them takes is unknown.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde_json::{Map, Value};

use crate::shorten::{shorten, shorten_message};

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The text is not one JSON value.
    Document(String),
    /// A key the declaration does not know, by its full path.
    UnknownKey(String),
    /// A value that does not fit its key.
    Invalid {
        /// Dot-separated path of the key.
        path: String,
        /// Why the value is refused.
        reason: String,
    },
}

/// Parses `text` as one JSON value (trailing content is an error).
pub(crate) fn parse(text: &str) -> Result<Value, ReadError> {
    serde_json::from_str(text).map_err(|e| ReadError::Document(e.to_string()))
}

/// Reads a whole document as `T`.
pub(crate) fn read<T: DeserializeOwned>(value: &Value) -> Result<T, ReadError> {
    T::deserialize(Reader::new(value, String::new(), None)).map_err(Error::finish)
}

/// What kind of JSON value `value` is, for messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A flat JSON object read as several declarations, each taking the keys it declares.
pub(crate) struct Sections<'a> {
    object: &'a Value,
    claimed: RefCell<BTreeSet<String>>,
}

impl<'a> Sections<'a> {
    /// The sections of `object` (which should be an object).
    pub(crate) fn new(object: &'a Value) -> Self {
        Self {
            object,
            claimed: RefCell::new(BTreeSet::new()),
        }
    }

    /// Reads the keys `T` declares.
    pub(crate) fn read<T: DeserializeOwned>(&self) -> Result<T, ReadError> {
        T::deserialize(Reader::new(self.object, String::new(), Some(&self.claimed)))
            .map_err(Error::finish)
    }

    /// Refuses the first key no section took.
    pub(crate) fn finish(self) -> Result<(), ReadError> {
        let claimed = self.claimed.into_inner();
        let unknown = self
            .object
            .as_object()
            .and_then(|map| map.keys().find(|key| !claimed.contains(*key)));
        match unknown {
            Some(key) => Err(ReadError::UnknownKey(key.clone())),
            None => Ok(()),
        }
    }
}

/// The error serde's derived code and this reader pass around; located (given its path)
/// on the way out of the reader of the value it concerns.
#[derive(Debug)]
pub(crate) struct Error {
    path: Option<String>,
    /// A key of the object the error concerns (a required key it lacks, a key it should
    /// not have), appended to the object's path when located.
    key: Option<String>,
    unknown_key: bool,
    reason: String,
}

impl Error {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            path: None,
            key: None,
            unknown_key: false,
            reason: reason.into(),
        }
    }

    /// `self`, located at `path` unless it already is.
    fn at(mut self, path: &str) -> Self {
        if self.path.is_none() {
            self.path = Some(match self.key.take() {
                Some(key) => join(path, &key),
                None => path.to_owned(),
            });
        }
        self
    }

    fn finish(self) -> ReadError {
        let path = self.path.unwrap_or_default();
        if self.unknown_key {
            ReadError::UnknownKey(path)
        } else {
            ReadError::Invalid {
                path,
                reason: self.reason,
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::new(shorten_message(&message.to_string()))
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::new(format!("expected {expected}, got {}", kind(&unexpected)))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::invalid_type(unexpected, expected)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!(
            "expected one of {}, got \"{}\"",
            choices(expected),
            shorten(variant)
        ))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        let mut error = Self::new("unknown key");
        error.unknown_key = true;
        error.key = Some(field.to_owned());
        error
    }

    fn missing_field(field: &'static str) -> Self {
        let mut error = Self::new("is required");
        error.key = Some(field.to_owned());
        error
    }
}

/// What kind of value `unexpected` is, without echoing it.
fn kind(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) | Unexpected::Float(_) => "a number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Unit | Unexpected::Option => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        _ => "another kind of value",
    }
}

/// `"a", "b"`: the names a string may take.
fn choices(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `parent.key` (`key` at the top).
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A deserializer of one value of the document, which knows where it is.
struct Reader<'a> {
    value: &'a Value,
    path: String,
    /// Set for a [`Sections`] object: a struct read from it takes only the keys it
    /// declares, and records them.
    claims: Option<&'a RefCell<BTreeSet<String>>>,
}

impl<'a> Reader<'a> {
    fn new(value: &'a Value, path: String, claims: Option<&'a RefCell<BTreeSet<String>>>) -> Self {
        Self {
            value,
            path,
            claims,
        }
    }

    fn wrong_type(&self, expected: &str) -> Error {
        Error::new(format!("expected {expected}, got {}", describe(self.value))).at(&self.path)
    }

    /// A non-negative integer of at most `limit`, written without fraction or exponent.
    fn unsigned(&self, limit: u64) -> Result<u64, Error> {
        let Value::Number(number) = self.value else {
            return Err(self.wrong_type("a non-negative integer"));
        };
        let refuse = |reason: &str| Err(Error::new(reason).at(&self.path));
        let too_big = format!("must be at most {limit}");
        if let Some(n) = number.as_u64() {
            return if n <= limit { Ok(n) } else { refuse(&too_big) };
        }
        if number.is_i64() {
            return refuse("must not be negative");
        }
        let Some(x) = number.as_f64() else {
            return Err(self.wrong_type("a non-negative integer"));
        };
        if x < 0.0 {
            refuse("must not be negative")
        } else if x.fract() != 0.0 {
            refuse("must be a whole number")
        } else if x < 18_446_744_073_709_551_616.0 && (x as u64) <= limit {
            refuse("must be written as an integer, without fraction or exponent")
        } else {
            refuse(&too_big)
        }
    }

    fn visit_unsigned<'de, V: Visitor<'de>>(
        self,
        limit: u64,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let n = self.unsigned(limit)?;
        visitor.visit_u64(n).map_err(|e: Error| e.at(&self.path))
    }

    /// The object's entries as a map access: all of them, or for a [`Sections`] struct
    /// those it declares (claimed). Outside sections, a key not in `fields` is refused.
    fn entries(
        &self,
        map: &'a Map<String, Value>,
        fields: Option<&[&str]>,
    ) -> Result<Entries<'a, '_>, Error> {
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            let declared = fields.is_none_or(|fields| fields.contains(&key.as_str()));
            match (declared, self.claims) {
                (true, Some(claims)) => {
                    claims.borrow_mut().insert(key.clone());
                    entries.push((key, value));
                }
                (true, None) => entries.push((key, value)),
                (false, Some(_)) => {}
                (false, None) => {
                    let mut error = Error::new("unknown key");
                    error.unknown_key = true;
                    return Err(error.at(&join(&self.path, key)));
                }
            }
        }
        Ok(Entries {
            entries: entries.into_iter(),
            pending: None,
            path: &self.path,
        })
    }
}

impl<'de> de::Deserializer<'de> for Reader<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(x)) => visitor.visit_f64(x),
                (None, None, None) => Err(self.wrong_type("a number")),
            },
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.iter(),
                path: &self.path,
            }),
            Value::Object(map) => visitor.visit_map(self.entries(map, None)?),
        };
        result.map_err(|e: Error| e.at(&self.path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool(*b).map_err(|e: Error| e.at(&self.path)),
            _ => Err(self.wrong_type("a boolean")),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_unsigned(u8::MAX.into(), visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_unsigned(u16::MAX.into(), visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_unsigned(u32::MAX.into(), visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // `usize` is read through here too; the library is built for 64-bit targets.
        self.visit_unsigned(u64::MAX, visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value.as_f64() {
            Some(x) => visitor.visit_f64(x).map_err(|e: Error| e.at(&self.path)),
            None => Err(self.wrong_type("a number")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_str(s).map_err(|e: Error| e.at(&self.path)),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    /// A key that is present is read as its type: `null` is refused like any other
    /// value of the wrong type.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path.clone();
        visitor.visit_some(self).map_err(|e: Error| e.at(&path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => visitor
                .visit_seq(Items {
                    items: items.iter(),
                    path: &self.path,
                })
                .map_err(|e: Error| e.at(&self.path)),
            _ => Err(self.wrong_type("an array")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => visitor
                .visit_map(self.entries(map, None)?)
                .map_err(|e: Error| e.at(&self.path)),
            _ => Err(self.wrong_type("an object")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => visitor
                .visit_map(self.entries(map, Some(fields))?)
                .map_err(|e: Error| e.at(&self.path)),
            _ => Err(self.wrong_type("an object")),
        }
    }

    /// Unit variants, written as their (renamed) name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::String(s) = self.value else {
            return Err(self.wrong_type(&format!("one of {}", choices(variants))));
        };
        if !variants.contains(&s.as_str()) {
            return Err(<Error as de::Error>::unknown_variant(s, variants).at(&self.path));
        }
        let variant: de::value::StrDeserializer<'_, Error> = s.as_str().into_deserializer();
        visitor
            .visit_enum(variant)
            .map_err(|e: Error| e.at(&self.path))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = self.path.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: Error| e.at(&path))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct
        identifier
    }
}

/// The entries of an object, each value read at its own path.
struct Entries<'a, 'p> {
    entries: std::vec::IntoIter<(&'a String, &'a Value)>,
    pending: Option<(&'a String, &'a Value)>,
    path: &'p str,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        let key: de::value::StrDeserializer<'_, Error> = key.as_str().into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.pending.take() {
            Some((key, value)) => seed.deserialize(Reader::new(value, join(self.path, key), None)),
            None => Err(Error::new("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The items of an array, read at the array's path.
struct Items<'a, 'p> {
    items: std::slice::Iter<'a, Value>,
    path: &'p str,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(item) => seed
                .deserialize(Reader::new(item, self.path.to_owned(), None))
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::HashMap;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        count: u32,
        label: Option<String>,
        tags: Vec<String>,
        names: HashMap<String, String>,
        level: Level,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Level {
        #[default]
        Low,
        High,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        rate: f64,
        inner: Inner,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Required {
        name: String,
    }

    fn read_text<T: DeserializeOwned>(text: &str) -> Result<T, ReadError> {
        read(&parse(text)?)
    }

    fn invalid(path: &str, reason: &str) -> ReadError {
        ReadError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn reads_declared_keys_and_defaults_the_rest() {
        let outer: Outer = read_text(
            r#"{"rate": 2, "inner": {"count": 7, "label": "x", "tags": ["a"],
                "names": {"k": "v"}, "level": "high"}}"#,
        )
        .expect("valid");
        assert_eq!(outer.rate, 2.0);
        assert_eq!(outer.inner.count, 7);
        assert_eq!(outer.inner.label.as_deref(), Some("x"));
        assert_eq!(outer.inner.tags, ["a"]);
        assert_eq!(outer.inner.names["k"], "v");
        assert_eq!(outer.inner.level, Level::High);
        assert_eq!(read_text::<Outer>("{}"), Ok(Outer::default()));
    }

    #[test]
    fn refusals_name_the_key_path() {
        for (text, path, reason) in [
            (
                r#"{"inner": {"count": -1}}"#,
                "inner.count",
                "must not be negative",
            ),
            (
                r#"{"inner": {"count": 1.5}}"#,
                "inner.count",
                "must be a whole number",
            ),
            (
                r#"{"inner": {"count": -0.5}}"#,
                "inner.count",
                "must not be negative",
            ),
            (
                r#"{"inner": {"count": 1e3}}"#,
                "inner.count",
                "must be written as an integer, without fraction or exponent",
            ),
            (
                r#"{"inner": {"count": 4294967296}}"#,
                "inner.count",
                "must be at most 4294967295",
            ),
            (
                r#"{"inner": {"count": 1e30}}"#,
                "inner.count",
                "must be at most 4294967295",
            ),
            (
                r#"{"inner": {"count": "1"}}"#,
                "inner.count",
                "expected a non-negative integer, got a string",
            ),
            (
                r#"{"inner": {"label": null}}"#,
                "inner.label",
                "expected a string, got null",
            ),
            (
                r#"{"inner": {"tags": [1]}}"#,
                "inner.tags",
                "expected a string, got a number",
            ),
            (
                r#"{"inner": {"names": {"k": 1}}}"#,
                "inner.names.k",
                "expected a string, got a number",
            ),
            (
                r#"{"inner": {"level": "mid"}}"#,
                "inner.level",
                "expected one of \"low\", \"high\", got \"mid\"",
            ),
            (
                r#"{"inner": {"level": 1}}"#,
                "inner.level",
                "expected one of \"low\", \"high\", got a number",
            ),
            (
                r#"{"inner": []}"#,
                "inner",
                "expected an object, got an array",
            ),
            (
                r#"{"rate": "fast"}"#,
                "rate",
                "expected a number, got a string",
            ),
        ] {
            assert_eq!(
                read_text::<Outer>(text),
                Err(invalid(path, reason)),
                "{text}"
            );
        }
        assert_eq!(
            read_text::<Required>("{}"),
            Err(invalid("name", "is required"))
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        assert_eq!(
            read_text::<Outer>(r#"{"inner": {"size": 1}}"#),
            Err(ReadError::UnknownKey("inner.size".into()))
        );
        assert_eq!(
            read_text::<Outer>(r#"{"bogus": 1}"#),
            Err(ReadError::UnknownKey("bogus".into()))
        );
    }

    #[test]
    fn echoed_values_are_shortened() {
        let long = "v".repeat(10_000);
        let text = format!(r#"{{"inner": {{"level": "{long}"}}}}"#);
        match read_text::<Outer>(&text) {
            Err(ReadError::Invalid { reason, .. }) => assert!(reason.len() < 200, "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sections_share_one_object() {
        #[derive(Debug, Deserialize, PartialEq, Default)]
        #[serde(default, deny_unknown_fields)]
        struct A {
            a: u32,
        }
        #[derive(Debug, Deserialize, PartialEq, Default)]
        #[serde(default, deny_unknown_fields)]
        struct B {
            b: u32,
        }
        let value = parse(r#"{"a": 1, "b": 2}"#).expect("JSON");
        let sections = Sections::new(&value);
        assert_eq!(sections.read::<A>(), Ok(A { a: 1 }));
        assert_eq!(sections.read::<B>(), Ok(B { b: 2 }));
        assert_eq!(sections.finish(), Ok(()));
        let value = parse(r#"{"a": 1, "c": 2}"#).expect("JSON");
        let sections = Sections::new(&value);
        assert_eq!(sections.read::<A>(), Ok(A { a: 1 }));
        assert_eq!(sections.read::<B>(), Ok(B { b: 0 }));
        assert_eq!(sections.finish(), Err(ReadError::UnknownKey("c".into())));
    }
}
