//! The plan file as written: types that mirror the YAML one to one, with source locations
//! kept. [`super::decode`] builds them from the parsed YAML tree (reporting every unknown,
//! duplicate, missing or mistyped field instead of stopping at the first), and
//! [`super::schema`] derives `schemas/plan.schema.json` from them. The `serde` attributes
//! name the fields as the file spells them; schemars reads them. Nothing downstream of
//! [`super::check`] sees these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde_saphyr::Spanned;

use super::yaml::YamlValue;

/// A cbrflow plan (format version 1): steps against the CBR v3 API.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "cbrflow plan")]
pub struct PlanFile {
    /// Format version; only `1` exists.
    #[schemars(with = "u32", extend("const" = 1))]
    pub version: Spanned<u32>,
    /// Short name of the plan, shown in reports.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What the plan does.
    #[serde(default)]
    pub description: Option<String>,
    /// Declared inputs, settable with `--var NAME=VALUE`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, InputDecl>")]
    pub inputs: Vec<(Spanned<String>, InputDecl)>,
    /// Defaults applied to every step.
    #[serde(default)]
    pub defaults: Option<DefaultsDecl>,
    /// The steps, in the order they are listed.
    #[schemars(with = "Vec<StepDecl>", length(min = 1))]
    pub steps: Spanned<Vec<StepDecl>>,
    /// Values the run reports when it succeeds (templates allowed).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, YamlValue>")]
    pub outputs: Vec<(Spanned<String>, Spanned<YamlValue>)>,
}

/// One declared input.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// The input's type; `--var` values are converted to it.
    #[serde(rename = "type", default)]
    #[schemars(with = "Option<InputType>")]
    pub ty: Option<Spanned<InputType>>,
    /// Value used when `--var` does not set it; without one the input is required.
    #[serde(default)]
    #[schemars(with = "Option<YamlValue>")]
    pub default: Option<Spanned<YamlValue>>,
    /// What the input is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// Types an input can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Any string.
    String,
    /// An integer.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list.
    List,
    /// A mapping.
    Object,
}

impl InputType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [Self; 6] = [
        Self::String,
        Self::Integer,
        Self::Number,
        Self::Boolean,
        Self::List,
        Self::Object,
    ];

    /// The name used in the plan format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::List => "list",
            Self::Object => "object",
        }
    }
}

/// `defaults:` of a plan.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsDecl {
    /// Retry policy for every step unless the step sets its own.
    #[serde(default)]
    pub retry: Option<RetryDecl>,
    /// Timeout of one attempt (one HTTP request), e.g. `60s`.
    #[serde(default)]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<Spanned<String>>,
    /// Deadline of a whole step across its attempts, e.g. `30m`.
    #[serde(default)]
    #[schemars(with = "Option<DurationText>")]
    pub deadline: Option<Spanned<String>>,
}

/// A retry policy as written; fields left out fall back to the plan's defaults.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryDecl {
    /// Attempts in all, including the first (≥ 1).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_attempts: Option<Spanned<u32>>,
    /// Delay before the first retry, e.g. `1s`.
    #[serde(default)]
    #[schemars(with = "Option<DurationText>")]
    pub initial_delay: Option<Spanned<String>>,
    /// Upper bound of any delay, e.g. `30s` (at least `initial_delay`).
    #[serde(default)]
    #[schemars(with = "Option<DurationText>")]
    pub max_delay: Option<Spanned<String>>,
    /// Growth factor between delays (1.0 to 100.0).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 1.0, max = 100.0))]
    pub multiplier: Option<Spanned<f64>>,
    /// `full` (random delay up to the computed one) or `none`.
    #[serde(default)]
    #[schemars(with = "Option<JitterDecl>")]
    pub jitter: Option<Spanned<JitterDecl>>,
}

/// Jitter modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JitterDecl {
    /// Exact exponential delays.
    None,
    /// A uniformly random delay between zero and the computed delay.
    Full,
}

impl JitterDecl {
    /// Every mode with its name in the plan format.
    pub const ALL: [(Self, &'static str); 2] = [(Self::None, "none"), (Self::Full, "full")];
}

/// One step as written.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDecl {
    /// Unique id, referenced as `steps.<id>.outputs`.
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub id: Spanned<String>,
    /// Step type, e.g. `create_vault`.
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub step_type: Spanned<String>,
    /// What the step is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The step's inputs (CBR wire format; templates allowed in strings).
    #[serde(default)]
    #[schemars(with = "Option<YamlValue>")]
    pub with: Option<Spanned<YamlValue>>,
    /// Steps that must succeed first, beyond those its templates refer to.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub depends_on: Vec<Spanned<String>>,
    /// Retry policy overriding `defaults.retry` field by field.
    #[serde(default)]
    pub retry: Option<RetryDecl>,
    /// Timeout of one attempt, overriding `defaults.timeout`.
    #[serde(default)]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<Spanned<String>>,
    /// Deadline of the whole step, overriding `defaults.deadline`.
    #[serde(default)]
    #[schemars(with = "Option<DurationText>")]
    pub deadline: Option<Spanned<String>>,
}

/// A duration with units, e.g. `500ms`, `30s`, `5m`, `1h30m` (schema only: the model keeps
/// the text and the checker parses it).
pub struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration with a unit: `500ms`, `30s`, `5m`, `2h`, `1h30m`, `1d`.",
            "type": "string",
            "pattern": super::schema::DURATION_PATTERN,
        })
    }
}
