//! A JSON reader for JOSE headers, JWKs and claims that refuses duplicate member names.
//!
//! Owns: turning bytes into a `serde_json` object, refusing anything that is not exactly one
//! JSON object, and refusing an object (at any depth) that names a member twice. serde_json
//! alone keeps the last of two equal names, so `{"alg":"ES256","alg":"none"}` would mean
//! different things to different readers. RFC 7515 §4, RFC 7517 §4 and RFC 7519 §4 let a
//! parser either refuse duplicates or keep the last; refusing is the choice on which no two
//! implementations can disagree.
//! Names are compared after unescaping, so `"alg"` and `"\u0061lg"` are the same name.
//! Does not own: what the members mean. Depth is bounded by serde_json's own recursion limit
//! (128), which applies to this visitor as it does to `Value`.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why bytes are not one JSON object with distinct member names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonRefusal {
    /// Not JSON, or JSON followed by more than whitespace.
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// Some object names a member twice.
    DuplicateMember,
}

/// One JSON object from `bytes`, with no duplicate member names anywhere inside it.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonRefusal> {
    let duplicate_seen = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed(&duplicate_seen)
        .deserialize(&mut deserializer)
        .map_err(|_| {
            if duplicate_seen.get() {
                JsonRefusal::DuplicateMember
            } else {
                JsonRefusal::NotJson
            }
        })?;
    deserializer.end().map_err(|_| JsonRefusal::NotJson)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonRefusal::NotObject),
    }
}

/// Reads one `serde_json::Value`, checking each object for repeated names as it is read; the
/// cell records that a refusal was for a repeated name rather than for bad JSON.
#[derive(Clone, Copy)]
struct StrictSeed<'a>(&'a Cell<bool>);

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // serde_json never reads a non-finite f64 from text, so this is always a number.
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let value = access.next_value_seed(self)?;
            if map.insert(name, value).is_some() {
                self.0.set(true);
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(map))
    }
}

/// The member `name` of `members` read by `read` (`Value::as_str`, `Value::as_i64`, ...):
/// `Ok(None)` when absent, `Err(())` when present but not of the type `read` accepts.
pub(crate) fn typed_member<'a, T>(
    members: &'a Map<String, Value>,
    name: &str,
    read: impl FnOnce(&'a Value) -> Option<T>,
) -> Result<Option<T>, ()> {
    members
        .get(name)
        .map(|value| read(value).ok_or(()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_parses_with_its_members() {
        let map = parse_object(br#" {"alg":"ES256","n":[1,2.5,{"a":null}],"t":true} "#).unwrap();
        assert_eq!(map["alg"], "ES256");
        assert_eq!(map["n"][1], 2.5);
        assert_eq!(map["t"], true);
    }

    #[test]
    fn a_repeated_name_is_refused_at_any_depth_and_after_unescaping() {
        for text in [
            &br#"{"alg":"ES256","alg":"none"}"#[..],
            br#"{"alg":"ES256","\u0061lg":"none"}"#,
            br#"{"a":{"b":1,"b":2}}"#,
            br#"{"a":[{"b":1,"b":2}]}"#,
        ] {
            assert_eq!(parse_object(text), Err(JsonRefusal::DuplicateMember));
        }
    }

    #[test]
    fn anything_but_one_object_is_refused() {
        assert_eq!(parse_object(b"[1]"), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"\"alg\""), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"{} {}"), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b"{"), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b""), Err(JsonRefusal::NotJson));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonRefusal::NotJson));
        assert_eq!(
            parse_object(br#"{"a":"\ud800"}"#),
            Err(JsonRefusal::NotJson)
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonRefusal::NotJson));
    }
}
