//! `cbrflow validate`, `cbrflow graph` and `cbrflow run --dry-run`: everything that checks or
//! shows a plan without sending a request.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use super::{EXIT_OK, GraphFormat, OutputFormat, parse_var};
use crate::graph::StepGraph;
use crate::plan::{self, Plan, PlanError};
use crate::steps::Registry;
use crate::template::Scope;

/// Flags of `cbrflow validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The plan file (YAML).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Set a plan input (repeatable); inputs without a default must be given.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Output format: text, or a JSON list of diagnostics.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Flags of `cbrflow graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The plan file (YAML).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Set a plan input (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Graph format.
    #[arg(long, value_enum, default_value_t)]
    pub format: GraphFormat,
}

/// Loads and checks a plan; on problems prints every diagnostic (text on stderr, or a JSON
/// list on stdout) and returns the error.
pub fn load_plan(
    path: &Path,
    vars: &[(String, String)],
    registry: &Registry,
    format: OutputFormat,
) -> Result<Plan> {
    match plan::load(path, vars, registry) {
        Ok(plan) => Ok(plan),
        Err(PlanError::Invalid { file, diagnostics }) => {
            match format {
                OutputFormat::Text => {
                    let _ = write!(std::io::stderr().lock(), "{}", diagnostics.render(&file));
                }
                OutputFormat::Json => {
                    let text = serde_json::to_string_pretty(&diagnostics.to_json(&file)).unwrap_or_default();
                    let _ = writeln!(std::io::stdout().lock(), "{text}");
                }
            }
            Err(super::Reported(super::EXIT_USAGE).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `cbrflow validate`.
pub fn validate(args: &ValidateArgs) -> Result<u8> {
    let registry = Registry::builtin();
    let plan = load_plan(&args.plan, &args.vars, &registry, args.output)?;
    let levels = StepGraph::new(&plan).levels().len();
    match args.output {
        OutputFormat::Text => println!(
            "{}: valid — plan `{}`, {} step{} in {levels} level{}",
            args.plan.display(),
            plan.name,
            plan.steps.len(),
            if plan.steps.len() == 1 { "" } else { "s" },
            if levels == 1 { "" } else { "s" }
        ),
        OutputFormat::Json => println!("[]"),
    }
    Ok(EXIT_OK)
}

/// `cbrflow graph`.
pub fn graph(args: &GraphArgs) -> Result<u8> {
    let registry = Registry::builtin();
    let plan = load_plan(&args.plan, &args.vars, &registry, OutputFormat::Text)?;
    let graph = StepGraph::new(&plan);
    let text = match args.format {
        GraphFormat::Dot => graph.to_dot(&plan),
        GraphFormat::Mermaid => graph.to_mermaid(&plan),
    };
    print!("{text}");
    Ok(EXIT_OK)
}

/// `cbrflow run --dry-run`: the execution plan, level by level, with each step's request.
/// Values known only at run time are shown as placeholders like `<steps.vault.outputs.id>`.
pub fn dry_run(plan: &Plan, registry: &Registry, format: OutputFormat) -> Result<u8> {
    let graph = StepGraph::new(plan);
    let mut scope = Scope::new(plan.inputs_json());
    for step in &plan.steps {
        scope.set_unknown(&step.id);
    }
    let mut levels_json = Vec::new();
    let mut text = format!(
        "dry run of plan `{}`: {} steps; no request is sent\n",
        plan.name,
        plan.steps.len()
    );
    for (n, level) in graph.levels().iter().enumerate() {
        text.push_str(&format!("level {n}:\n"));
        let mut steps_json = Vec::new();
        for &i in level {
            let step = &plan.steps[i];
            let input = step.with.render(&scope).unwrap_or_else(|e| json!({ "<render error>": e.to_string() }));
            let (method, path, body) = registry
                .get(&step.step_type)
                .map(|t| t.describe_request(&input))
                .unwrap_or(("?", String::new(), None));
            let path = format!("/v3/{{project_id}}{path}");
            text.push_str(&format!("  {} ({}): {method} {path}\n", step.id, step.step_type));
            if !step.needs.is_empty() {
                text.push_str(&format!("    after: {}\n", step.needs.join(", ")));
            }
            if let Some(body) = &body {
                let pretty = serde_json::to_string_pretty(body).unwrap_or_default();
                for line in pretty.lines() {
                    text.push_str(&format!("    {line}\n"));
                }
            }
            steps_json.push(json!({
                "id": step.id,
                "type": step.step_type,
                "needs": step.needs,
                "request": { "method": method, "path": path, "body": body.unwrap_or(Value::Null) },
            }));
        }
        levels_json.push(Value::Array(steps_json));
    }
    match format {
        OutputFormat::Text => print!("{text}"),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "plan": plan.name, "dry_run": true, "levels": levels_json }))
                .unwrap_or_default()
        ),
    }
    Ok(EXIT_OK)
}
