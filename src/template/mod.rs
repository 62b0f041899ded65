//! Templates in plan values: parsing, reference extraction, and typed rendering (minijinja,
//! strict undefined).
//!
//! A string that is exactly one `{{ expr }}` evaluates to the expression's typed value
//! (number, bool, list, object); any other string containing `{{`/`{%` renders to a string;
//! a string without either is a literal. The scope is `inputs` and `steps.<id>.outputs`.
//! This module knows nothing about plans or steps beyond those two names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Serde, Value as JinjaValue};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

mod value;

pub use value::{RenderError, TemplateValue};

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What kind of problem it is.
    pub kind: TemplateErrorKind,
    /// Lower-case description of the problem.
    pub message: String,
    /// Byte offset in the template's source where the problem is, when known.
    pub offset: Option<usize>,
}

/// Kinds of template errors, by when they can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template does not parse.
    Syntax,
    /// It uses a filter, function or test that does not exist, whatever the values.
    UnknownName,
    /// Rendering failed with these values (undefined value, invalid operation, …).
    Render,
}

impl TemplateError {
    fn new(message: String) -> Self {
        Self {
            kind: TemplateErrorKind::Render,
            message,
            offset: None,
        }
    }

    /// A syntax error of `text`, which starts at byte `base` of the template's source.
    fn syntax(err: &minijinja::Error, base: usize) -> Self {
        let mut e = Self::from_jinja(err);
        e.kind = TemplateErrorKind::Syntax;
        e.offset = err.range().map(|r| base + r.start);
        e
    }

    fn from_jinja(err: &minijinja::Error) -> Self {
        use minijinja::ErrorKind as K;
        let mut message = match (err.kind(), err.detail()) {
            // The detail already says it: "filter uper is unknown".
            (K::UnknownFilter | K::UnknownFunction | K::UnknownTest, Some(detail)) => {
                detail.to_owned()
            }
            (kind, Some(detail)) => format!("{}: {detail}", kind_text(kind)),
            (kind, None) => kind_text(kind).to_owned(),
        };
        if let Some(line) = err.line().filter(|l| *l > 1) {
            message.push_str(&format!(" (template line {line})"));
        }
        let kind = match err.kind() {
            K::SyntaxError => TemplateErrorKind::Syntax,
            K::UnknownFilter | K::UnknownFunction | K::UnknownTest => {
                TemplateErrorKind::UnknownName
            }
            _ => TemplateErrorKind::Render,
        };
        Self {
            kind,
            message,
            offset: None,
        }
    }
}

fn kind_text(kind: minijinja::ErrorKind) -> &'static str {
    use minijinja::ErrorKind as K;
    match kind {
        K::SyntaxError => "template syntax error",
        K::UndefinedError => "undefined value",
        K::UnknownFilter => "unknown filter",
        K::UnknownFunction => "unknown function",
        K::UnknownTest => "unknown test",
        K::InvalidOperation => "invalid operation",
        K::BadSerialization => "value cannot be serialized",
        _ => "template error",
    }
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_recursion_limit(64);
    env.set_fuel(Some(1_000_000));
    env
});

/// What a template refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reference {
    /// `inputs.<name>`.
    Input {
        /// Input name.
        name: String,
    },
    /// `inputs` used as a whole or with a non-trivial lookup.
    Inputs,
    /// `steps.<step>.outputs.<output>` (`output` is `None` for `steps.<step>.outputs` as a
    /// whole).
    StepOutput {
        /// Step id.
        step: String,
        /// Output name.
        output: Option<String>,
    },
    /// `steps.<step>` not followed by `.outputs`.
    StepWithoutOutputs {
        /// Step id.
        step: String,
        /// What followed the step id, if anything.
        attribute: Option<String>,
    },
    /// `steps` used as a whole.
    Steps,
    /// Any other top-level name (undefined in plan templates).
    Unknown {
        /// The name.
        name: String,
    },
}

/// A reference together with its byte offset in the template source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The reference.
    pub reference: Reference,
    /// Byte offset of the reference in the template source (best effort; 0 if not found).
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Literal,
    Expression(String),
    Text,
}

/// A parsed string value of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    kind: Kind,
}

impl Template {
    /// Parses a string; templates are compiled to check their syntax.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let kind = if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            Kind::Literal
        } else if let Some(expr) = single_expression(source) {
            let base = expr.as_ptr() as usize - source.as_ptr() as usize;
            ENV.compile_expression(expr)
                .map_err(|e| TemplateError::syntax(&e, base))?;
            Kind::Expression(expr.to_owned())
        } else {
            ENV.template_from_str(source)
                .map_err(|e| TemplateError::syntax(&e, 0))?;
            Kind::Text
        };
        Ok(Self {
            source: source.to_owned(),
            kind,
        })
    }

    /// A literal string (no template parsing).
    pub fn literal(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            kind: Kind::Literal,
        }
    }

    /// The original string.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the string has no template syntax.
    pub fn is_literal(&self) -> bool {
        self.kind == Kind::Literal
    }

    /// True when the string is exactly one `{{ expr }}` (and so keeps the value's type).
    pub fn is_single_expression(&self) -> bool {
        matches!(self.kind, Kind::Expression(_))
    }

    /// The names this template looks up, with their offsets in the source.
    pub fn references(&self) -> Vec<Located> {
        let names: BTreeSet<String> = match &self.kind {
            Kind::Literal => return Vec::new(),
            Kind::Expression(expr) => ENV
                .compile_expression(expr)
                .map(|e| e.undeclared_variables(true).into_iter().collect())
                .unwrap_or_default(),
            Kind::Text => ENV
                .template_from_str(&self.source)
                .map(|t| t.undeclared_variables(true).into_iter().collect())
                .unwrap_or_default(),
        };
        let mut refs: Vec<Located> = names
            .iter()
            .map(|name| Located {
                reference: classify(name),
                offset: self.source.find(name.as_str()).unwrap_or(0),
            })
            .collect();
        refs.sort_by_key(|r| r.offset);
        refs
    }

    /// Renders with `scope`: a single expression keeps its type, other templates give a
    /// string, literals are returned as they are.
    pub fn render(&self, scope: &Scope) -> Result<Value, TemplateError> {
        match &self.kind {
            Kind::Literal => Ok(Value::String(self.source.clone())),
            Kind::Expression(expr) => {
                let compiled = ENV
                    .compile_expression(expr)
                    .map_err(|e| TemplateError::from_jinja(&e))?;
                let value = compiled
                    .eval(scope.context())
                    .map_err(|e| TemplateError::from_jinja(&e))?;
                if value.is_undefined() {
                    return Err(TemplateError::new(format!("`{expr}` is undefined")));
                }
                to_json(&value)
            }
            Kind::Text => {
                let template = ENV
                    .template_from_str(&self.source)
                    .map_err(|e| TemplateError::from_jinja(&e))?;
                template
                    .render(scope.context())
                    .map(Value::String)
                    .map_err(|e| TemplateError::from_jinja(&e))
            }
        }
    }
}

/// If `source` is exactly `{{ expr }}` with nothing else, the expression text.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    let inner = inner.trim();
    (!inner.is_empty()).then_some(inner)
}

fn classify(name: &str) -> Reference {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["inputs"] => Reference::Inputs,
        ["inputs", input, ..] => Reference::Input {
            name: (*input).to_owned(),
        },
        ["steps"] => Reference::Steps,
        ["steps", step, "outputs"] => Reference::StepOutput {
            step: (*step).to_owned(),
            output: None,
        },
        ["steps", step, "outputs", output, ..] => Reference::StepOutput {
            step: (*step).to_owned(),
            output: Some((*output).to_owned()),
        },
        ["steps", step] => Reference::StepWithoutOutputs {
            step: (*step).to_owned(),
            attribute: None,
        },
        ["steps", step, attribute, ..] => Reference::StepWithoutOutputs {
            step: (*step).to_owned(),
            attribute: Some((*attribute).to_owned()),
        },
        [first, ..] => Reference::Unknown {
            name: (*first).to_owned(),
        },
        [] => Reference::Unknown {
            name: String::new(),
        },
    }
}

fn to_json(value: &JinjaValue) -> Result<Value, TemplateError> {
    if let Some(placeholder) = value.downcast_object_ref::<Placeholder>() {
        return Ok(Value::String(placeholder.to_string()));
    }
    serde_json::to_value(value)
        .map_err(|e| TemplateError::new(format!("value cannot be converted to JSON: {e}")))
}

/// The values templates can see.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    inputs: Value,
    steps: IndexMap<String, StepScope>,
}

#[derive(Debug, Clone)]
enum StepScope {
    Outputs(Value),
    Unknown,
}

impl Scope {
    /// A scope with the plan's resolved inputs.
    pub fn new(inputs: Value) -> Self {
        Self {
            inputs,
            steps: IndexMap::new(),
        }
    }

    /// Makes `steps.<step>.outputs` available.
    pub fn set_outputs(&mut self, step: &str, outputs: Value) {
        self.steps
            .insert(step.to_owned(), StepScope::Outputs(outputs));
    }

    /// Makes `steps.<step>.outputs.*` render as placeholders like
    /// `<steps.vault.outputs.id>` (used by `--dry-run` for values only known at run time).
    pub fn set_unknown(&mut self, step: &str) {
        self.steps.insert(step.to_owned(), StepScope::Unknown);
    }

    /// Outputs of a step, if known.
    pub fn outputs(&self, step: &str) -> Option<&Value> {
        match self.steps.get(step)? {
            StepScope::Outputs(v) => Some(v),
            StepScope::Unknown => None,
        }
    }

    fn context(&self) -> JinjaValue {
        let steps: BTreeMap<String, JinjaValue> = self
            .steps
            .iter()
            .map(|(id, scope)| {
                let value = match scope {
                    StepScope::Outputs(outputs) => {
                        let mut map = BTreeMap::new();
                        map.insert("outputs".to_owned(), JinjaValue::from(Serde(outputs)));
                        JinjaValue::from(map)
                    }
                    StepScope::Unknown => {
                        JinjaValue::from_object(Placeholder(format!("steps.{id}")))
                    }
                };
                (id.clone(), value)
            })
            .collect();
        let mut ctx = BTreeMap::new();
        ctx.insert("inputs".to_owned(), JinjaValue::from(Serde(&self.inputs)));
        ctx.insert("steps".to_owned(), JinjaValue::from(steps));
        JinjaValue::from(ctx)
    }
}

/// A value known only at run time; any attribute of it is another placeholder.
#[derive(Debug)]
struct Placeholder(String);

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

impl Object for Placeholder {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        Some(JinjaValue::from_object(Placeholder(format!(
            "{}.{key}",
            self.0
        ))))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        let mut scope = Scope::new(json!({"size": 200, "name": "my_vault", "flag": true}));
        scope.set_outputs("vault", json!({"id": "v-1", "resources": [{"id": "r"}]}));
        scope
    }

    #[test]
    fn single_expression_keeps_type() {
        let t = Template::parse("{{ inputs.size }}").unwrap();
        assert_eq!(t.render(&scope()).unwrap(), json!(200));
        let t = Template::parse(" {{ inputs.flag }} ").unwrap();
        assert_eq!(t.render(&scope()).unwrap(), json!(true));
        let t = Template::parse("{{ steps.vault.outputs.resources }}").unwrap();
        assert_eq!(t.render(&scope()).unwrap(), json!([{"id": "r"}]));
    }

    #[test]
    fn mixed_text_renders_string() {
        let t = Template::parse("size-{{ inputs.size }}").unwrap();
        assert_eq!(t.render(&scope()).unwrap(), json!("size-200"));
        let t = Template::parse("{{ inputs.name }}-{{ inputs.size }}").unwrap();
        assert!(!t.is_single_expression());
        assert_eq!(t.render(&scope()).unwrap(), json!("my_vault-200"));
    }

    #[test]
    fn literal_is_untouched() {
        let t = Template::parse("plain { text }").unwrap();
        assert!(t.is_literal());
        assert_eq!(t.render(&scope()).unwrap(), json!("plain { text }"));
    }

    #[test]
    fn undefined_is_an_error() {
        let t = Template::parse("{{ steps.vault.outputs.idd }}").unwrap();
        let err = t.render(&scope()).unwrap_err();
        assert!(err.message.contains("undefined"), "{err}");
        let t = Template::parse("x-{{ inputs.nope }}").unwrap();
        assert!(t.render(&scope()).is_err());
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = Template::parse("{{ inputs.size }").unwrap_err();
        assert!(err.message.contains("syntax"), "{err}");
        assert!(Template::parse("{% if %}").is_err());
    }

    #[test]
    fn syntax_error_points_into_the_source() {
        let err = Template::parse("{{ inputs.size + }}").unwrap_err();
        assert_eq!(err.offset, Some(15), "{err:?}"); // the dangling `+`
        let err = Template::parse("a {{ inputs.x }} {% if %}").unwrap_err();
        assert!(err.offset.is_some_and(|o| o >= 17), "{err:?}");
    }

    #[test]
    fn unknown_filters_are_told_apart_from_value_errors() {
        let t = Template::parse("{{ inputs.name | uper }}").unwrap();
        assert_eq!(
            t.render(&scope()).unwrap_err().kind,
            TemplateErrorKind::UnknownName
        );
        let t = Template::parse("{{ inputs.nope }}").unwrap();
        assert_eq!(
            t.render(&scope()).unwrap_err().kind,
            TemplateErrorKind::Render
        );
        // A filter applied to a run-time value still names the unknown filter.
        let mut scope = Scope::new(json!({}));
        scope.set_unknown("vault");
        let t = Template::parse("x-{{ steps.vault.outputs.id | uper }}").unwrap();
        assert_eq!(
            t.render(&scope).unwrap_err().kind,
            TemplateErrorKind::UnknownName
        );
    }

    #[test]
    fn references_are_classified_with_offsets() {
        let t = Template::parse("{{ steps.vault.outputs.id }}/{{ inputs.server_id }}").unwrap();
        let refs = t.references();
        assert_eq!(
            refs,
            vec![
                Located {
                    reference: Reference::StepOutput {
                        step: "vault".into(),
                        output: Some("id".into())
                    },
                    offset: 3
                },
                Located {
                    reference: Reference::Input {
                        name: "server_id".into()
                    },
                    offset: 32
                },
            ]
        );
        let t = Template::parse("{{ steps.vault.id }}").unwrap();
        assert_eq!(
            t.references()[0].reference,
            Reference::StepWithoutOutputs {
                step: "vault".into(),
                attribute: Some("id".into())
            }
        );
    }

    #[test]
    fn placeholders_for_unknown_steps() {
        let mut scope = Scope::new(json!({}));
        scope.set_unknown("vault");
        let t = Template::parse("{{ steps.vault.outputs.id }}").unwrap();
        assert_eq!(t.render(&scope).unwrap(), json!("<steps.vault.outputs.id>"));
        let t = Template::parse("/vaults/{{ steps.vault.outputs.id }}").unwrap();
        assert_eq!(
            t.render(&scope).unwrap(),
            json!("/vaults/<steps.vault.outputs.id>")
        );
    }
}
