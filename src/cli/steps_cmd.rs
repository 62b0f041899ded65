//! `cbrflow steps`: the step types a plan can use, their `with` fields and outputs.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::json;

use super::{EXIT_OK, OutputFormat, UsageError};
use crate::plan::{FieldKind, StepCatalog, StepSchema};
use crate::steps::Registry;

/// Flags of `cbrflow steps`.
#[derive(Debug, clap::Args)]
pub struct StepsArgs {
    /// Show one step type in full (default: list them all).
    #[arg(value_name = "TYPE")]
    pub step_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `cbrflow steps`.
pub fn steps(args: &StepsArgs) -> Result<u8> {
    let registry = Registry::builtin();
    let schemas: Vec<StepSchema> = match &args.step_type {
        Some(name) => match registry.schema(name) {
            Some(schema) => vec![schema],
            None => {
                let names = registry.names();
                let hint = crate::plan::suggestion(name, names.iter().copied());
                return Err(UsageError(format!(
                    "no step type `{name}`{hint}; known step types: {}",
                    names.join(", ")
                ))
                .into());
            }
        },
        None => registry
            .names()
            .iter()
            .filter_map(|n| registry.schema(n))
            .collect(),
    };
    match args.output {
        OutputFormat::Json => {
            let list: Vec<_> = schemas.iter().map(schema_json).collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        OutputFormat::Text if args.step_type.is_none() => {
            for s in &schemas {
                println!("{:<20} {}", s.name, s.summary);
            }
            println!("\n`cbrflow steps TYPE` shows a type's fields and outputs.");
        }
        OutputFormat::Text => {
            for s in &schemas {
                print!("{}", describe(s));
            }
        }
    }
    Ok(EXIT_OK)
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String => "string",
        FieldKind::Integer => "integer",
        FieldKind::Bool => "boolean",
        FieldKind::Duration => "duration",
        FieldKind::List => "list",
        FieldKind::Object => "mapping",
        FieldKind::Any => "any",
    }
}

fn describe(s: &StepSchema) -> String {
    let mut out = format!("{}: {}\n\nwith:\n", s.name, s.summary);
    for f in s.inputs {
        let mut rules = Vec::new();
        if !f.one_of.is_empty() {
            rules.push(format!("one of {}", f.one_of.join(", ")));
        }
        if let Some((min, max)) = f.range {
            rules.push(format!("{min}..={max}"));
        }
        if let Some(max) = f.name_max_len {
            rules.push(format!("1-{max} letters, digits, _ or -"));
        }
        let _ = writeln!(
            out,
            "  {:<34} {:<9} {:<9} {}",
            f.path,
            kind_name(f.kind),
            if f.required { "required" } else { "" },
            rules.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "\noutputs (steps.<id>.outputs.<name>):\n  {}\n",
        s.outputs.join(", ")
    );
    out
}

fn schema_json(s: &StepSchema) -> serde_json::Value {
    json!({
        "type": s.name,
        "summary": s.summary,
        "with": s.inputs.iter().map(|f| json!({
            "path": f.path,
            "kind": kind_name(f.kind),
            "required": f.required,
            "one_of": f.one_of,
            "range": f.range,
            "name_max_len": f.name_max_len,
        })).collect::<Vec<_>>(),
        "outputs": s.outputs,
    })
}
