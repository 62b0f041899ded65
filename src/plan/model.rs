//! The plan file as written: serde types that mirror the YAML one to one, with source
//! locations kept. Nothing downstream of [`super::check`] sees these types.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::yaml::YamlValue;

/// The root of a plan file (format version 1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Format version; only `1` exists.
    pub version: Spanned<u32>,
    /// Short name of the plan, shown in reports.
    pub name: Spanned<String>,
    /// What the plan does.
    #[serde(default)]
    pub description: Option<String>,
    /// Declared inputs, settable with `--var NAME=VALUE`.
    #[serde(default)]
    pub inputs: IndexMap<Spanned<String>, InputDecl>,
    /// Defaults applied to every step.
    #[serde(default)]
    pub defaults: Option<DefaultsDecl>,
    /// The steps, in the order they are listed.
    pub steps: Spanned<Vec<StepDecl>>,
    /// Values the run reports when it succeeds (templates allowed).
    #[serde(default)]
    pub outputs: IndexMap<Spanned<String>, Spanned<YamlValue>>,
}

/// One declared input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// The input's type.
    #[serde(rename = "type", default)]
    pub ty: Option<Spanned<InputType>>,
    /// Value used when `--var` does not set it; without one the input is required.
    #[serde(default)]
    pub default: Option<Spanned<YamlValue>>,
    /// What the input is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// Types an input can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsDecl {
    /// Retry policy for every step unless the step sets its own.
    #[serde(default)]
    pub retry: Option<RetryDecl>,
    /// Timeout of one attempt (one HTTP request), e.g. `60s`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Deadline of a whole step across its attempts, e.g. `30m`.
    #[serde(default)]
    pub deadline: Option<Spanned<String>>,
}

/// A retry policy as written; fields left out fall back to the plan's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryDecl {
    /// Attempts in all, including the first (≥ 1).
    #[serde(default)]
    pub max_attempts: Option<Spanned<u32>>,
    /// Delay before the first retry, e.g. `1s`.
    #[serde(default)]
    pub initial_delay: Option<Spanned<String>>,
    /// Upper bound of any delay, e.g. `30s`.
    #[serde(default)]
    pub max_delay: Option<Spanned<String>>,
    /// Growth factor between delays (≥ 1.0).
    #[serde(default)]
    pub multiplier: Option<Spanned<f64>>,
    /// `full` (random delay up to the computed one) or `none`.
    #[serde(default)]
    pub jitter: Option<Spanned<JitterDecl>>,
}

/// Jitter modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JitterDecl {
    /// Exact exponential delays.
    None,
    /// A uniformly random delay between zero and the computed delay.
    Full,
}

/// One step as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDecl {
    /// Unique id, referenced as `steps.<id>.outputs`.
    pub id: Spanned<String>,
    /// Step type, e.g. `create_vault`.
    #[serde(rename = "type")]
    pub step_type: Spanned<String>,
    /// What the step is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The step's inputs (CBR wire format; templates allowed in strings).
    #[serde(default)]
    pub with: Option<Spanned<YamlValue>>,
    /// Steps that must succeed first, beyond those its templates refer to.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// Retry policy overriding `defaults.retry` field by field.
    #[serde(default)]
    pub retry: Option<RetryDecl>,
    /// Timeout of one attempt, overriding `defaults.timeout`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Deadline of the whole step, overriding `defaults.deadline`.
    #[serde(default)]
    pub deadline: Option<Spanned<String>>,
}
