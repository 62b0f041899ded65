//! A YAML value that remembers where each node and key came from. The whole plan file is first
//! parsed into one of these trees ([`super::parse`]); the free-form parts of a plan (`with`,
//! input defaults, outputs) stay in this form.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::source::Location;

/// A YAML node of a free-form part of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlValue {
    /// `null` or `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer or float.
    Number(serde_json::Number),
    /// A string (templates live here).
    String(String),
    /// A sequence whose items keep their locations.
    List(Vec<Spanned<YamlValue>>),
    /// A mapping whose keys and values keep their locations, in file order.
    Map(Vec<(Spanned<String>, Spanned<YamlValue>)>),
}

impl YamlValue {
    /// A short name of the node's kind, for messages ("a string", "a list").
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::List(_) => "a list",
            Self::Map(_) => "a mapping",
        }
    }

    /// The node's kind with its value when that is short, for messages: "the number `5`",
    /// "the string `soon`", "a list".
    pub fn describe(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(b) => format!("the boolean `{b}`"),
            Self::Number(n) => format!("the number `{n}`"),
            Self::String(s) if s.chars().count() <= 40 && !s.contains('\n') => {
                format!("the string `{s}`")
            }
            Self::String(_) => "a string".to_owned(),
            Self::List(_) => "a list".to_owned(),
            Self::Map(_) => "a mapping".to_owned(),
        }
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Spanned<YamlValue>> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts to plain JSON, dropping locations.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Number(n) => serde_json::Value::Number(n.clone()),
            Self::String(s) => serde_json::Value::String(s.clone()),
            Self::List(items) => items.iter().map(|i| i.value.to_json()).collect(),
            Self::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The location where a spanned node is defined.
pub fn location_of<T>(spanned: &Spanned<T>) -> Location {
    Location::from_saphyr(&spanned.referenced)
}

/// Any YAML value is allowed where the model keeps a `YamlValue`; the step-type specific rules
/// for `with` are added by [`super::schema`].
impl schemars::JsonSchema for YamlValue {
    fn schema_name() -> Cow<'static, str> {
        "AnyValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::from(true)
    }
}

impl<'de> Deserialize<'de> for YamlValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = YamlValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<YamlValue, E> {
        Ok(YamlValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<YamlValue, E> {
        Ok(YamlValue::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YamlValue, E> {
        Ok(YamlValue::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<YamlValue, E> {
        i64::try_from(v)
            .map(|v| YamlValue::Number(v.into()))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<YamlValue, E> {
        u64::try_from(v)
            .map(|v| YamlValue::Number(v.into()))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<YamlValue, E> {
        serde_json::Number::from_f64(v)
            .map(YamlValue::Number)
            .ok_or_else(|| E::custom("NaN and infinity are not allowed here"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<YamlValue, E> {
        Ok(YamlValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<YamlValue, E> {
        Ok(YamlValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<YamlValue>>()? {
            items.push(item);
        }
        Ok(YamlValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<YamlValue>>()?;
            entries.push((key, value));
        }
        Ok(YamlValue::Map(entries))
    }
}
