//! Plans: the YAML model, loading with locations, checking, and diagnostics.
//!
//! `load` reads a file, parses it with serde-saphyr into [`model`] types (1:1 with the YAML),
//! and `check` turns those into a validated [`Plan`] that downstream code trusts without
//! re-checking — or into [`Diagnostics`] listing every problem with its place. The checker uses
//! `template` to compile templates and extract references, a [`StepCatalog`] (implemented by
//! `steps`) for step types, and `graph`'s pure cycle finder. It never touches the network.

mod catalog;
mod check;
mod decode;
pub mod duration;
pub mod model;
mod parse;
mod retry;
mod schema;
mod source;
pub mod yaml;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use catalog::{FieldKind, FieldSpec, StepCatalog, StepSchema};
pub use parse::{MAX_ALIASES, MAX_DEPTH, MAX_NODES};
pub use retry::{Jitter, RetryPolicy};
pub use schema::json_schema;
pub use source::{
    Diagnostic, Diagnostics, Location, Severity, SourceFile, did_you_mean, suggestion,
};

use crate::template::TemplateValue;

/// Plans larger than this are refused before parsing.
pub const MAX_PLAN_BYTES: u64 = 4 * 1024 * 1024;

/// A checked plan: ids unique, step types known, templates compiled, references resolved,
/// inputs resolved, no cycles.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file it came from.
    pub source: SourceFile,
    /// SHA-256 (hex) of the file's bytes.
    pub hash: String,
    /// The plan's name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// Resolved input values (defaults overridden by `--var`).
    pub inputs: IndexMap<String, Value>,
    /// Steps in file order.
    pub steps: Vec<Step>,
    /// Plan outputs (templates).
    pub outputs: IndexMap<String, TemplateValue>,
}

impl Plan {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Resolved inputs as one JSON object.
    pub fn inputs_json(&self) -> Value {
        Value::Object(
            self.inputs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// A checked step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique id.
    pub id: String,
    /// Step type name (known to the catalog).
    pub step_type: String,
    /// What it is for.
    pub description: Option<String>,
    /// Inputs (templates compiled).
    pub with: TemplateValue,
    /// Steps that must succeed first: template references and `depends_on`, deduplicated,
    /// in file order of first mention.
    pub needs: Vec<String>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Timeout of one attempt (one HTTP request).
    pub timeout: Duration,
    /// Deadline for the whole step across attempts, if any.
    pub deadline: Option<Duration>,
    /// Where the step starts in the file.
    pub location: Location,
}

/// Why a plan could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("cannot read plan {}: {error}", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The plan has problems; every one is listed.
    #[error("{} has {} problem(s)", file.path.display(), diagnostics.error_count())]
    Invalid {
        /// The file, for rendering.
        file: SourceFile,
        /// Every problem found.
        diagnostics: Diagnostics,
    },
}

/// Reads, parses and checks a plan. `vars` are `--var NAME=VALUE` pairs in the order given.
pub fn load(
    path: &Path,
    vars: &[(String, String)],
    catalog: &dyn StepCatalog,
) -> Result<Plan, PlanError> {
    let io = |error| PlanError::Io {
        path: path.to_owned(),
        error,
    };
    let too_large = |size: u64| {
        let mut diagnostics = Diagnostics::default();
        diagnostics.push(
            Diagnostic::error(
                "plan-too-large",
                format!("the plan file is {size} bytes; plans may be at most {MAX_PLAN_BYTES} bytes"),
            )
            .with_help("a plan this large is not hand-written; split it or check that this is the right file"),
        );
        PlanError::Invalid {
            file: SourceFile::new(path, String::new()),
            diagnostics,
        }
    };
    // Refuse a huge file from its metadata, before reading any of it; then read at most one
    // byte past the limit in case the file grows or is not a regular file.
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.len() > MAX_PLAN_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let before = &err.as_bytes()[..valid];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = String::from_utf8_lossy(
                &before[before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)..],
            )
            .chars()
            .count()
                + 1;
            let source =
                SourceFile::new(path, String::from_utf8_lossy(err.as_bytes()).into_owned());
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(
                Diagnostic::error("not-utf8", "the plan is not valid UTF-8 text")
                    .at(Location::new(
                        u32::try_from(line).unwrap_or(u32::MAX),
                        u32::try_from(column).unwrap_or(u32::MAX),
                    ))
                    .with_help("save the plan as UTF-8"),
            );
            return Err(PlanError::Invalid {
                file: source,
                diagnostics,
            });
        }
    };
    let source = SourceFile::new(path, text);
    check::check(source, vars, catalog)
}

/// Parses and checks plan text (as [`load`] does after reading the file).
pub fn parse_str(
    path: impl Into<PathBuf>,
    text: &str,
    vars: &[(String, String)],
    catalog: &dyn StepCatalog,
) -> Result<Plan, PlanError> {
    check::check(SourceFile::new(path, text), vars, catalog)
}

/// SHA-256 (hex) of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
