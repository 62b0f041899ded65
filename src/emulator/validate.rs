//! Request-body validation as the service does it: typed field access on a JSON body that
//! names the offending field (`vault.billing.size`) in a `BackupService.9900` error, plus the
//! service's enums and name rules.

use serde_json::{Map, Value};

use super::api_error::ApiError;

pub(crate) use crate::cbr::wire::{
    CHARGING_MODES, CLOUD_TYPES, CONSISTENT_LEVELS, MAX_VAULT_SIZE, OBJECT_TYPES, OPERATION_TYPES,
    PROTECT_TYPES, RESOURCE_TYPES,
};

/// The resource type a vault of `object_type` accepts, if any.
pub(crate) fn resource_type_for(object_type: &str) -> Option<&'static str> {
    match object_type {
        "server" => Some("OS::Nova::Server"),
        "disk" => Some("OS::Cinder::Volume"),
        "turbo" => Some("OS::Sfs::Turbo"),
        "workspace" => Some("OS::Workspace::DesktopV2"),
        _ => None,
    }
}

/// Parses a request body that must be a JSON object.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::param("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::param("the request body must be a JSON object")),
        Err(err) => Err(ApiError::param(format!(
            "the request body is not valid JSON: {err}"
        ))),
    }
}

/// Whether `name` has 1 to 64 characters of `[A-Za-z0-9_-]`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A JSON object being read at a known path (`vault.billing`); every accessor fails with a
/// `BackupService.9900` naming the field. `null` counts as absent.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

/// A nested object found by [`Fields::object`] (the same reader, named for readability).
pub(crate) type Nested<'a> = Fields<'a>;

impl<'a> Fields<'a> {
    /// The body root.
    pub(crate) fn root(map: &'a Map<String, Value>) -> Self {
        Self {
            path: String::new(),
            map,
        }
    }

    /// This reader again (kept so nested reads read as `nested.fields().string(..)`).
    pub(crate) fn fields(&self) -> Self {
        self.clone()
    }

    /// The underlying JSON object.
    pub(crate) fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The dotted path of this object (empty at the root).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The dotted path of `key` below this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn missing(&self, key: &str) -> ApiError {
        ApiError::param(format!("{} is required", self.path_of(key)))
    }

    fn wrong_type(&self, key: &str, expected: &str) -> ApiError {
        ApiError::param(format!("{} must be {expected}", self.path_of(key)))
    }

    /// A required nested object.
    pub(crate) fn object(&self, key: &str) -> Result<Nested<'a>, ApiError> {
        self.opt_object(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional nested object.
    pub(crate) fn opt_object(&self, key: &str) -> Result<Option<Nested<'a>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields {
                path: self.path_of(key),
                map,
            })),
            Some(_) => Err(self.wrong_type(key, "an object")),
        }
    }

    /// A required string.
    pub(crate) fn string(&self, key: &str) -> Result<&'a str, ApiError> {
        self.opt_string(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional string.
    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong_type(key, "a string")),
        }
    }

    /// A required, non-empty string.
    pub(crate) fn non_empty(&self, key: &str) -> Result<&'a str, ApiError> {
        let value = self.string(key)?;
        if value.trim().is_empty() {
            return Err(ApiError::param(format!(
                "{} must not be empty",
                self.path_of(key)
            )));
        }
        Ok(value)
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong_type(key, "a boolean")),
        }
    }

    /// An optional integer.
    pub(crate) fn opt_int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, "an integer")),
            Some(_) => Err(self.wrong_type(key, "an integer")),
        }
    }

    /// An optional integer within `range`.
    pub(crate) fn opt_int_in(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let value = self.opt_int(key)?;
        if let Some(v) = value
            && !range.contains(&v)
        {
            return Err(ApiError::param(format!(
                "{} must be between {} and {}, got {v}",
                self.path_of(key),
                range.start(),
                range.end()
            )));
        }
        Ok(value)
    }

    /// A required array.
    pub(crate) fn array(&self, key: &str) -> Result<&'a [Value], ApiError> {
        self.opt_array(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional array.
    pub(crate) fn opt_array(&self, key: &str) -> Result<Option<&'a [Value]>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.wrong_type(key, "a list")),
        }
    }

    /// An optional list of strings.
    pub(crate) fn opt_strings(&self, key: &str) -> Result<Option<Vec<&'a str>>, ApiError> {
        let Some(items) = self.opt_array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().ok_or_else(|| {
                    ApiError::param(format!("{}[{i}] must be a string", self.path_of(key)))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The objects of the list at `key`, each with its indexed path (`resources[0]`).
    pub(crate) fn objects(
        &self,
        key: &str,
        items: &'a [Value],
    ) -> Result<Vec<Nested<'a>>, ApiError> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Fields {
                    path: format!("{}[{i}]", self.path_of(key)),
                    map,
                }),
                _ => Err(ApiError::param(format!(
                    "{}[{i}] must be an object",
                    self.path_of(key)
                ))),
            })
            .collect()
    }

    /// A required string that must be one of `allowed`.
    pub(crate) fn one_of(&self, key: &str, allowed: &[&str]) -> Result<&'a str, ApiError> {
        self.opt_one_of(key, allowed)?
            .ok_or_else(|| self.missing(key))
    }

    /// An optional string that must be one of `allowed`.
    pub(crate) fn opt_one_of(
        &self,
        key: &str,
        allowed: &[&str],
    ) -> Result<Option<&'a str>, ApiError> {
        let value = self.opt_string(key)?;
        if let Some(v) = value
            && !allowed.contains(&v)
        {
            return Err(ApiError::param(format!(
                "{} must be one of {}, got `{v}`",
                self.path_of(key),
                allowed.join(", ")
            )));
        }
        Ok(value)
    }

    /// A required name of 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub(crate) fn name(&self, key: &str) -> Result<&'a str, ApiError> {
        self.opt_name(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional name of 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub(crate) fn opt_name(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        let value = self.opt_string(key)?;
        if let Some(v) = value
            && !is_valid_name(v)
        {
            return Err(ApiError::param(format!(
                "{} must have 1 to 64 characters of letters, digits, `_` and `-`, got `{v}`",
                self.path_of(key)
            )));
        }
        Ok(value)
    }

    /// An optional string of at most `max` characters.
    pub(crate) fn opt_text(&self, key: &str, max: usize) -> Result<Option<&'a str>, ApiError> {
        let value = self.opt_string(key)?;
        if let Some(v) = value
            && v.chars().count() > max
        {
            return Err(ApiError::param(format!(
                "{} must have at most {max} characters",
                self.path_of(key)
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn names_follow_the_service_rule() {
        assert!(is_valid_name("my_vault"));
        assert!(is_valid_name("backup-auto_01"));
        assert!(is_valid_name(&"a".repeat(64)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(65)));
        assert!(!is_valid_name("my vault"));
        assert!(!is_valid_name("vault.1"));
    }

    #[test]
    fn errors_name_the_nested_field() {
        let body = map(json!({"vault": {"billing": {"size": "200", "object_type": "tape"}}}));
        let root = Fields::root(&body);
        let vault = root.object("vault").unwrap();
        let billing = vault.fields().object("billing").unwrap();
        let err = billing.fields().opt_int("size").unwrap_err();
        assert!(
            err.msg.ends_with("vault.billing.size must be an integer"),
            "{}",
            err.msg
        );
        let err = billing
            .fields()
            .one_of("object_type", OBJECT_TYPES)
            .unwrap_err();
        assert!(
            err.msg.contains("vault.billing.object_type must be one of"),
            "{}",
            err.msg
        );
        let err = vault.fields().string("name").unwrap_err();
        assert!(err.msg.ends_with("vault.name is required"), "{}", err.msg);
        assert_eq!(err.code, "BackupService.9900");
    }

    #[test]
    fn null_counts_as_absent_and_ranges_are_checked() {
        let body = map(json!({"description": null, "size": 0, "list": [{"id": 1}]}));
        let root = Fields::root(&body);
        assert_eq!(root.opt_string("description").unwrap(), None);
        assert!(root.opt_int_in("size", 1..=MAX_VAULT_SIZE).is_err());
        let list = root.array("list").unwrap();
        let items = root.objects("list", list).unwrap();
        let err = items[0].fields().string("id").unwrap_err();
        assert!(
            err.msg.ends_with("list[0].id must be a string"),
            "{}",
            err.msg
        );
    }

    #[test]
    fn malformed_bodies_are_parameter_errors() {
        assert_eq!(parse_body(b"{").unwrap_err().code, "BackupService.9900");
        assert_eq!(parse_body(b"[]").unwrap_err().code, "BackupService.9900");
        assert_eq!(parse_body(b"").unwrap_err().code, "BackupService.9900");
        assert!(parse_body(br#"{"a": 1}"#).is_ok());
    }
}
