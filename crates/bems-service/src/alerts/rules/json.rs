//! The strict JSON reader under [`AlertRules::from_json`](super::AlertRules::from_json): a
//! value tree that refuses repeated keys, and typed accessors whose errors name the key path.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{RulesError, invalid};

/// A value quoted for a message: escaped, and cut to 64 characters.
pub(super) fn show(text: &str) -> String {
    const KEEP: usize = 64;
    match text.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A key as it appears in a path: plain when it is a plain word, else quoted.
fn show_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain { key.to_owned() } else { show(key) }
}

/// A JSON value as read, with an object's members in order. Unlike `serde_json::Value`, it
/// refuses a repeated key (`{"important": true, "important": false}`) instead of keeping the
/// last. Numbers are never valid in a rules document, so their value is not kept.
pub(super) enum Json {
    Null,
    Bool(bool),
    Number,
    String(String),
    Array(Vec<Self>),
    Object(Vec<(String, Self)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "true/false",
            Self::Number => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

fn wrong_type(value: &Json, path: &str, expected: &str) -> RulesError {
    invalid(path, format!("expected {expected}, found {}", value.kind()))
}

pub(super) fn boolean(value: &Json, path: &str) -> Result<bool, RulesError> {
    match value {
        Json::Bool(b) => Ok(*b),
        other => Err(wrong_type(other, path, "true/false")),
    }
}

pub(super) fn string<'j>(value: &'j Json, path: &str) -> Result<&'j str, RulesError> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(wrong_type(other, path, "a string")),
    }
}

pub(super) fn array<'j>(value: &'j Json, path: &str) -> Result<&'j [Json], RulesError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(wrong_type(other, path, "an array")),
    }
}

/// An object whose keys are all in `allowed`; an unknown key is reported at `prefix` + key.
pub(super) fn object<'j>(
    value: &'j Json,
    path: &str,
    prefix: &str,
    allowed: &[&str],
) -> Result<&'j [(String, Json)], RulesError> {
    let Json::Object(members) = value else {
        return Err(wrong_type(value, path, "an object"));
    };
    if let Some((key, _)) = members
        .iter()
        .find(|(key, _)| !allowed.contains(&key.as_str()))
    {
        let problem = format!("unknown key (expected {})", allowed.join(", "));
        return Err(invalid(format!("{prefix}{}", show_key(key)), problem));
    }
    Ok(members)
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "repeated key {}",
                    show(&key)
                )));
            }
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}
