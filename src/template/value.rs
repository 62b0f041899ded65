//! `TemplateValue`: a JSON-shaped tree whose strings may be templates.

use indexmap::IndexMap;
use serde_json::Value;

use super::{Located, Scope, Template, TemplateError};

/// A plan value whose strings are parsed templates.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateValue {
    /// JSON null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string: literal, single expression (typed) or text template.
    String(Template),
    /// A list.
    List(Vec<TemplateValue>),
    /// A mapping in file order.
    Map(IndexMap<String, TemplateValue>),
}

/// A rendering failure with the dotted path of the value that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {error}")]
pub struct RenderError {
    /// Dotted path inside the value, e.g. `billing.size` or `resources[0].id`.
    pub path: String,
    /// What went wrong.
    pub error: TemplateError,
}

impl TemplateValue {
    /// Renders every template in the tree.
    pub fn render(&self, scope: &Scope) -> Result<Value, RenderError> {
        self.render_at(scope, &mut String::new())
    }

    fn render_at(&self, scope: &Scope, path: &mut String) -> Result<Value, RenderError> {
        Ok(match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::String(t) => t.render(scope).map_err(|error| RenderError {
                path: path.clone(),
                error,
            })?,
            Self::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    out.push(item.render_at(scope, path)?);
                    path.truncate(len);
                }
                Value::Array(out)
            }
            Self::Map(entries) => {
                let mut out = serde_json::Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    out.insert(key.clone(), value.render_at(scope, path)?);
                    path.truncate(len);
                }
                Value::Object(out)
            }
        })
    }

    /// Every reference of every template in the tree.
    pub fn references(&self) -> Vec<Located> {
        let mut out = Vec::new();
        self.visit_templates(&mut |t| out.extend(t.references()));
        out
    }

    /// Calls `f` for every template string in the tree.
    pub fn visit_templates(&self, f: &mut dyn FnMut(&Template)) {
        match self {
            Self::String(t) => f(t),
            Self::List(items) => items.iter().for_each(|i| i.visit_templates(f)),
            Self::Map(entries) => entries.values().for_each(|v| v.visit_templates(f)),
            Self::Null | Self::Bool(_) | Self::Number(_) => {}
        }
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&TemplateValue> {
        match self {
            Self::Map(entries) => entries.get(key),
            _ => None,
        }
    }

    /// Builds a tree of literals from JSON (no template parsing).
    pub fn literal(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(Template::literal(s)),
            Value::Array(items) => Self::List(items.iter().map(Self::literal).collect()),
            Value::Object(map) => Self::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::literal(v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_nested_and_reports_path() {
        let mut map = IndexMap::new();
        map.insert(
            "size".to_owned(),
            TemplateValue::String(Template::parse("{{ inputs.size }}").unwrap()),
        );
        map.insert(
            "resources".to_owned(),
            TemplateValue::List(vec![TemplateValue::String(
                Template::parse("{{ inputs.nope }}").unwrap(),
            )]),
        );
        let value = TemplateValue::Map(map);
        let scope = Scope::new(json!({"size": 10}));
        let err = value.render(&scope).unwrap_err();
        assert_eq!(err.path, "resources[0]");
    }
}
