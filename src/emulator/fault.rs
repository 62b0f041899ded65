//! Fault injection: rules that make matching requests fail (status codes N times, 429 with
//! `Retry-After`), slow down (`delay`), lose the connection before or after the change is
//! committed. Rules come from a faults file at start and from `POST /_emulator/faults`.
//!
//! A faults file (YAML or JSON) is a list of rules, one rule, or `{faults: [...]}`:
//!
//! ```yaml
//! - method: POST
//!   path: /v3/{project_id}/checkpoints
//!   status: 503
//!   times: 2
//! - path: POST /v3/{project_id}/vaults     # method may prefix the path
//!   status: 429
//!   retry_after: 1
//!   times: 1
//! - path: /v3/*/vaults/**                  # `*` = one segment, `**` = any rest
//!   delay: 500ms
//! ```

use std::path::Path;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::EmulatorError;
use super::api_error::ApiError;

/// One fault-injection rule as written in a faults file or posted to `/_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method to match (any if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path template, e.g. `/v3/{project_id}/checkpoints`; `{name}` and `*` match one segment,
    /// a final `**` matches the rest; may be prefixed by a method (`POST /v3/...`).
    pub path: String,
    /// Answer with this HTTP status and a CBR-style error body instead of handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `error_code` of the error body (default depends on `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// `error_msg` of the error body (default depends on `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
    /// How many matching requests the rule applies to; forever if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Seconds sent as `Retry-After` with the error status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Sleep before handling: milliseconds as a number, or a string like `500ms`, `2s`.
    #[serde(default, with = "delay_serde", skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Close the connection without any response (the request is not handled).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_connection: bool,
    /// Handle the request and commit the change, then close the connection without a response.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lose_response_after_commit: bool,
}

/// What an applied rule does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultHit {
    /// Sleep this long first.
    pub(crate) delay: Option<Duration>,
    /// Then do this.
    pub(crate) action: FaultAction,
}

/// The effect of a fault after its delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Handle the request normally.
    Proceed,
    /// Answer with this error instead of handling.
    Respond(ApiError),
    /// Close the connection, do not handle.
    Drop,
    /// Handle and commit, then close the connection.
    LoseResponse,
}

/// A path template compiled for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Prefix(String),
    Any,
    Rest,
}

impl PathTemplate {
    /// Compiles `template`; a query string, if any, is ignored.
    pub(crate) fn parse(template: &str) -> Result<Self, String> {
        let path = template.split('?').next().unwrap_or_default();
        if !path.starts_with('/') {
            return Err(format!("path `{template}` must start with `/`"));
        }
        let parts: Vec<&str> = split_path(path).collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = if *part == "**" {
                if i + 1 != parts.len() {
                    return Err(format!("`**` must be the last segment of `{template}`"));
                }
                Segment::Rest
            } else if *part == "*" || (part.starts_with('{') && part.ends_with('}')) {
                Segment::Any
            } else if let Some(prefix) = part.strip_suffix('*') {
                Segment::Prefix(prefix.to_owned())
            } else {
                Segment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(Self { segments })
    }

    /// Whether the request path `path` (no query) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = split_path(path).collect();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                _ if i >= parts.len() => return false,
                Segment::Any => {}
                Segment::Literal(lit) if lit == parts[i] => {}
                Segment::Prefix(prefix) if parts[i].starts_with(prefix.as_str()) => {}
                _ => return false,
            }
            i += 1;
        }
        i == parts.len()
    }
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// A validated rule with its remaining budget.
#[derive(Debug, Clone)]
struct ActiveRule {
    rule: FaultRule,
    method: Option<Method>,
    template: PathTemplate,
    remaining: Option<u32>,
    hits: u64,
}

impl FaultRule {
    /// Checks the rule and splits a method prefix off `path`.
    fn compile(&self) -> Result<ActiveRule, String> {
        let mut rule = self.clone();
        if let Some((method, path)) = rule.path.trim().split_once(char::is_whitespace) {
            let method = method.to_ascii_uppercase();
            if let Some(given) = &rule.method
                && !given.eq_ignore_ascii_case(&method)
            {
                return Err(format!(
                    "rule for `{}` names method `{given}` and `{method}` in its path",
                    rule.path
                ));
            }
            rule.method = Some(method);
            rule.path = path.trim().to_owned();
        }
        let method = match rule.method.as_deref().map(str::to_ascii_uppercase) {
            None => None,
            Some(m) if m == "*" || m == "ANY" => None,
            Some(m) => Some(
                Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method `{m}`"))?,
            ),
        };
        rule.method = method.as_ref().map(ToString::to_string);
        let template = PathTemplate::parse(&rule.path)?;
        let where_ = format!("rule for `{}`", rule.path);
        if let Some(status) = rule.status
            && !(400..=599).contains(&status)
        {
            return Err(format!(
                "{where_}: status must be between 400 and 599, got {status}"
            ));
        }
        let effects = [
            rule.status.is_some(),
            rule.drop_connection,
            rule.lose_response_after_commit,
        ];
        if effects.iter().filter(|e| **e).count() > 1 {
            return Err(format!(
                "{where_}: choose one of `status`, `drop_connection`, `lose_response_after_commit`"
            ));
        }
        if !effects.contains(&true) && rule.delay.is_none() {
            return Err(format!(
                "{where_}: needs `status`, `delay`, `drop_connection` or `lose_response_after_commit`"
            ));
        }
        if rule.status.is_none()
            && (rule.retry_after.is_some() || rule.error_code.is_some() || rule.error_msg.is_some())
        {
            return Err(format!(
                "{where_}: `retry_after`, `error_code` and `error_msg` need a `status`"
            ));
        }
        if rule.times == Some(0) {
            return Err(format!("{where_}: `times` must be at least 1"));
        }
        Ok(ActiveRule {
            remaining: rule.times,
            method,
            template,
            rule,
            hits: 0,
        })
    }

    fn hit(&self) -> FaultHit {
        let action = if let Some(status) = self.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut error = ApiError::for_status(status);
            if let Some(code) = &self.error_code {
                error.code.clone_from(code);
            }
            if let Some(msg) = &self.error_msg {
                error.msg.clone_from(msg);
            }
            error.retry_after = self.retry_after;
            FaultAction::Respond(error)
        } else if self.drop_connection {
            FaultAction::Drop
        } else if self.lose_response_after_commit {
            FaultAction::LoseResponse
        } else {
            FaultAction::Proceed
        };
        FaultHit {
            delay: self.delay,
            action,
        }
    }
}

/// The active rules, checked in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultSet {
    rules: Vec<ActiveRule>,
}

impl FaultSet {
    /// Validates all `rules` and appends them (none are added if one is invalid).
    pub(crate) fn add(&mut self, rules: &[FaultRule]) -> Result<(), String> {
        let compiled = rules
            .iter()
            .map(FaultRule::compile)
            .collect::<Result<Vec<_>, _>>()?;
        self.rules.extend(compiled);
        Ok(())
    }

    /// Removes every rule.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The first rule matching `method` and `path` that has budget left, consumed once.
    pub(crate) fn take(&mut self, method: &Method, path: &str) -> Option<FaultHit> {
        let rule = self.rules.iter_mut().find(|r| {
            r.remaining != Some(0)
                && r.method.as_ref().is_none_or(|m| m == method)
                && r.template.matches(path)
        })?;
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
        }
        rule.hits += 1;
        Some(rule.rule.hit())
    }

    /// The rules as JSON, each with `remaining` (null = unlimited) and `hits`.
    pub(crate) fn to_json(&self) -> Value {
        Value::Array(
            self.rules
                .iter()
                .map(|r| {
                    let mut value = serde_json::to_value(&r.rule).unwrap_or_else(|_| json!({}));
                    if let Value::Object(map) = &mut value {
                        map.insert("remaining".into(), json!(r.remaining));
                        map.insert("hits".into(), json!(r.hits));
                    }
                    value
                })
                .collect(),
        )
    }
}

/// Reads the rules of a faults document: a list of rules, one rule, or `{faults: [...]}`.
pub(crate) fn rules_from_value(value: Value) -> Result<Vec<FaultRule>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) if map.len() == 1 && map.contains_key("faults") => {
            match map.remove("faults") {
                Some(Value::Array(items)) => items,
                _ => return Err("`faults` must be a list of rules".to_owned()),
            }
        }
        rule @ Value::Object(_) => vec![rule],
        _ => return Err("expected a fault rule, a list of rules or `{faults: [...]}`".to_owned()),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| serde_json::from_value(item).map_err(|e| format!("rule {}: {e}", i + 1)))
        .collect()
}

/// Reads fault rules from a YAML or JSON file and validates them.
pub fn load_faults_file(path: &Path) -> Result<Vec<FaultRule>, EmulatorError> {
    let fail = |reason: String| EmulatorError::FaultsFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let document: Value = if is_json {
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?
    } else {
        serde_saphyr::from_str(&text).map_err(|e| fail(e.to_string()))?
    };
    let rules = rules_from_value(document).map_err(fail)?;
    FaultSet::default().add(&rules).map_err(fail)?;
    Ok(rules)
}

/// Parses a delay: a bare number is milliseconds; units `ms`, `s`, `m` are accepted.
pub(crate) fn parse_delay(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid delay `{text}`"))?;
    let seconds = match unit.trim() {
        "" | "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        other => {
            return Err(format!(
                "invalid delay unit `{other}` in `{text}` (use ms, s or m)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid delay `{text}`"))
}

mod delay_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Float(f64),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let raw: Option<Raw> = Option::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(Raw::Millis(ms)) => Ok(Some(Duration::from_millis(ms))),
            Some(Raw::Float(ms)) => Duration::try_from_secs_f64(ms / 1000.0)
                .map(Some)
                .map_err(|_| D::Error::custom(format!("invalid delay {ms}"))),
            Some(Raw::Text(text)) => super::parse_delay(&text)
                .map(Some)
                .map_err(D::Error::custom),
        }
    }

    #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`
    pub(super) fn serialize<S: Serializer>(
        delay: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match delay {
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: Value) -> FaultRule {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn templates_match_single_segments_and_rests() {
        let t = PathTemplate::parse("/v3/{project_id}/checkpoints").unwrap();
        assert!(t.matches("/v3/abc/checkpoints"));
        assert!(t.matches("/v3/abc/checkpoints/"));
        assert!(!t.matches("/v3/abc/checkpoints/123"));
        assert!(!t.matches("/v3/checkpoints"));
        let t = PathTemplate::parse("/v3/*/vaults/**").unwrap();
        assert!(t.matches("/v3/p/vaults/1/addresources"));
        assert!(t.matches("/v3/p/vaults"));
        assert!(!t.matches("/v3/p/backups/1"));
        let t = PathTemplate::parse("/v3/*/vault*").unwrap();
        assert!(t.matches("/v3/p/vaults"));
        assert!(!t.matches("/v3/p/backups"));
        assert!(PathTemplate::parse("v3/x").is_err());
        assert!(PathTemplate::parse("/v3/**/x").is_err());
    }

    #[test]
    fn rules_apply_in_order_and_run_out() {
        let mut set = FaultSet::default();
        set.add(&[
            rule(json!({"method": "POST", "path": "/v3/{p}/vaults", "status": 503, "times": 2})),
            rule(json!({"path": "/v3/{p}/vaults", "status": 500})),
        ])
        .unwrap();
        let post = Method::POST;
        for _ in 0..2 {
            let hit = set.take(&post, "/v3/x/vaults").unwrap();
            let FaultAction::Respond(err) = hit.action else {
                panic!("{hit:?}")
            };
            assert_eq!(err.status.as_u16(), 503);
            assert_eq!(err.code, "BackupService.9910");
        }
        // The first rule is spent; the catch-all applies to every method from now on.
        let hit = set.take(&post, "/v3/x/vaults").unwrap();
        assert!(matches!(hit.action, FaultAction::Respond(ref e) if e.status.as_u16() == 500));
        assert!(set.take(&Method::GET, "/v3/x/backups").is_none());
        let listed = set.to_json();
        assert_eq!(listed[0]["remaining"], json!(0));
        assert_eq!(listed[0]["hits"], json!(2));
        assert_eq!(listed[1]["remaining"], Value::Null);
    }

    #[test]
    fn throttling_defaults_and_retry_after() {
        let mut set = FaultSet::default();
        set.add(&[rule(
            json!({"path": "POST /v3/*/checkpoints", "status": 429, "retry_after": 2}),
        )])
        .unwrap();
        assert!(set.take(&Method::GET, "/v3/x/checkpoints").is_none());
        let hit = set.take(&Method::POST, "/v3/x/checkpoints").unwrap();
        let FaultAction::Respond(err) = hit.action else {
            panic!()
        };
        assert_eq!(err.code, "APIGW.0308");
        assert_eq!(err.retry_after, Some(2));
    }

    #[test]
    fn delays_parse_from_numbers_and_strings() {
        assert_eq!(parse_delay("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_delay("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_delay("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_delay("250").unwrap(), Duration::from_millis(250));
        assert!(parse_delay("fast").is_err());
        assert!(parse_delay("3h").is_err());
        let r = rule(json!({"path": "/x", "delay": 300}));
        assert_eq!(r.delay, Some(Duration::from_millis(300)));
        let r = rule(json!({"path": "/x", "delay": "1s"}));
        assert_eq!(r.delay, Some(Duration::from_secs(1)));
        assert_eq!(serde_json::to_value(&r).unwrap()["delay"], json!("1000ms"));
        let mut set = FaultSet::default();
        set.add(&[r]).unwrap();
        let hit = set.take(&Method::GET, "/x").unwrap();
        assert_eq!(hit.action, FaultAction::Proceed);
    }

    #[test]
    fn invalid_rules_are_refused_whole() {
        let mut set = FaultSet::default();
        let good = rule(json!({"path": "/x", "status": 500}));
        for bad in [
            json!({"path": "/x"}),
            json!({"path": "/x", "status": 200}),
            json!({"path": "/x", "status": 500, "drop_connection": true}),
            json!({"path": "/x", "delay": 5, "retry_after": 1}),
            json!({"path": "/x", "status": 500, "times": 0}),
            json!({"method": "GET", "path": "POST /x", "status": 500}),
        ] {
            let err = set.add(&[good.clone(), rule(bad.clone())]).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
        assert!(set.rules.is_empty());
        assert!(serde_json::from_value::<FaultRule>(json!({"path": "/x", "stauts": 500})).is_err());
    }

    #[test]
    fn faults_files_in_yaml_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("faults.yaml");
        std::fs::write(
            &yaml,
            "- method: POST\n  path: /v3/{project_id}/checkpoints\n  status: 503\n  times: 2\n\
             - path: /v3/*/vaults\n  delay: 500ms\n",
        )
        .unwrap();
        let rules = load_faults_file(&yaml).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].delay, Some(Duration::from_millis(500)));
        let json_file = dir.path().join("faults.json");
        std::fs::write(
            &json_file,
            r#"{"faults": [{"path": "/x", "drop_connection": true}]}"#,
        )
        .unwrap();
        assert!(load_faults_file(&json_file).unwrap()[0].drop_connection);
        std::fs::write(&json_file, r#"[{"path": "/x"}]"#).unwrap();
        let err = load_faults_file(&json_file).unwrap_err().to_string();
        assert!(err.contains("faults.json"), "{err}");
    }
}
