//! `cbrflow validate`, `cbrflow graph` and `cbrflow run --dry-run`: everything that checks or
//! shows a plan without sending a request.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use super::{EXIT_OK, GraphFormat, OutputFormat, parse_var};
use crate::graph::StepGraph;
use crate::plan::duration::format_duration;
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
    let diagnostics_json = match plan::load(path, vars, registry) {
        Ok(plan) => return Ok(plan),
        Err(PlanError::Invalid { file, diagnostics }) => match format {
            OutputFormat::Text => {
                let _ = write!(std::io::stderr().lock(), "{}", diagnostics.render(&file));
                return Err(super::Reported(super::EXIT_USAGE).into());
            }
            OutputFormat::Json => diagnostics.to_json(&file),
        },
        Err(err @ PlanError::Io { .. }) => match format {
            OutputFormat::Text => return Err(err.into()),
            // Machine readers get the unreadable file as one diagnostic, in the same shape.
            OutputFormat::Json => json!([{
                "severity": "error",
                "code": "unreadable",
                "message": err.to_string(),
                "file": path.display().to_string(),
                "line": null,
                "column": null,
                "step": null,
                "path": null,
            }]),
        },
    };
    let text = serde_json::to_string_pretty(&diagnostics_json).unwrap_or_default();
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Err(super::Reported(super::EXIT_USAGE).into())
}

/// `cbrflow validate`.
pub fn validate(args: &ValidateArgs) -> Result<u8> {
    let registry = Registry::builtin();
    let plan = load_plan(&args.plan, &args.vars, &registry, args.output)?;
    let levels = StepGraph::new(&plan).levels().len();
    match args.output {
        OutputFormat::Text => println!(
            "{}: valid — plan `{}`, {} in {}",
            args.plan.display(),
            plan.name,
            count(plan.steps.len(), "step"),
            count(levels, "level"),
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
/// Nothing here opens a socket.
pub fn dry_run(plan: &Plan, registry: &Registry, format: OutputFormat) -> Result<u8> {
    let graph = StepGraph::new(plan);
    let levels = graph.levels();
    let mut scope = Scope::new(plan.inputs_json());
    for step in &plan.steps {
        scope.set_unknown(&step.id);
    }
    let requests: Vec<PlannedRequest> = plan
        .steps
        .iter()
        .map(|step| PlannedRequest::new(step, registry, &scope))
        .collect();
    let outputs: serde_json::Map<String, Value> = plan
        .outputs
        .iter()
        .map(|(name, value)| {
            let rendered = value
                .render(&scope)
                .unwrap_or_else(|e| Value::String(format!("<cannot render: {}>", e.error)));
            (name.clone(), rendered)
        })
        .collect();
    match format {
        OutputFormat::Text => {
            let mut out = format!(
                "dry run of plan `{}` ({}): {} in {}\n",
                plan.name,
                plan.source.display_path().display(),
                count(plan.steps.len(), "step"),
                count(levels.len(), "level"),
            );
            if !plan.inputs.is_empty() {
                out.push_str("inputs:\n");
                for (name, value) in &plan.inputs {
                    out.push_str(&format!("  {name} = {}\n", inline(value)));
                }
            }
            for (n, level) in levels.iter().enumerate() {
                out.push_str(&format!("level {n}:\n"));
                for &i in level {
                    requests[i].write_text(&plan.steps[i], &mut out);
                }
            }
            if !outputs.is_empty() {
                out.push_str("outputs:\n");
                for (name, value) in &outputs {
                    out.push_str(&format!("  {name} = {}\n", inline(value)));
                }
            }
            out.push_str("no request was sent (dry run)\n");
            print!("{out}");
        }
        OutputFormat::Json => {
            let mut level_of = vec![0; plan.steps.len()];
            for (n, level) in levels.iter().enumerate() {
                for &i in level {
                    level_of[i] = n;
                }
            }
            let steps: Vec<Value> = plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, step)| requests[i].to_json(step, level_of[i]))
                .collect();
            let report = json!({
                "plan": plan.name,
                "file": plan.source.display_path().display().to_string(),
                "dry_run": true,
                "inputs": plan.inputs_json(),
                "levels": levels
                    .iter()
                    .map(|l| l.iter().map(|&i| plan.steps[i].id.as_str()).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                "steps": steps,
                "outputs": outputs,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
    }
    Ok(EXIT_OK)
}

/// What one step would send.
struct PlannedRequest {
    method: &'static str,
    path: String,
    /// What the step does beyond the request, e.g. "polled until available".
    note: Option<String>,
    body: Option<Value>,
    /// Why the step's inputs cannot be rendered before the run, if they cannot.
    render_error: Option<String>,
}

impl PlannedRequest {
    fn new(step: &plan::Step, registry: &Registry, scope: &Scope) -> Self {
        let (input, render_error) = match step.with.render(scope) {
            Ok(input) => (input, None),
            Err(e) => (Value::Null, Some(e.to_string())),
        };
        let Some(step_type) = registry.get(&step.step_type) else {
            return Self {
                method: "?",
                path: String::new(),
                note: None,
                body: None,
                render_error,
            };
        };
        let (method, path, body) = step_type.describe_request(&input);
        // Step types append what they do beyond the request to the path, after two spaces,
        // e.g. `/checkpoints/{id}  (polled until available)`.
        let (path, note) = match path.split_once("  ") {
            Some((path, note)) => {
                let note = note.trim().trim_start_matches('(').trim_end_matches(')');
                (path.to_owned(), Some(note.to_owned()))
            }
            None => (path, None),
        };
        Self {
            method,
            path: format!("/v3/{{project_id}}{path}"),
            note,
            body,
            render_error,
        }
    }

    fn write_text(&self, step: &plan::Step, out: &mut String) {
        out.push_str(&format!(
            "  {} ({}): {} {}\n",
            step.id, step.step_type, self.method, self.path
        ));
        if let Some(note) = &self.note {
            out.push_str(&format!("    {note}\n"));
        }
        if !step.needs.is_empty() {
            out.push_str(&format!("    after: {}\n", step.needs.join(", ")));
        }
        out.push_str(&format!(
            "    up to {} attempts, {} per attempt\n",
            step.retry.max_attempts,
            format_duration(step.timeout)
        ));
        if let Some(error) = &self.render_error {
            out.push_str(&format!(
                "    inputs cannot be rendered before the run: {error}\n"
            ));
        }
        if let Some(body) = &self.body {
            let pretty = serde_json::to_string_pretty(body).unwrap_or_default();
            for line in pretty.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }

    fn to_json(&self, step: &plan::Step, level: usize) -> Value {
        let mut request = json!({
            "method": self.method,
            "path": self.path,
            "body": self.body.clone().unwrap_or(Value::Null),
        });
        if let Some(note) = &self.note {
            request["note"] = json!(note);
        }
        let mut value = json!({
            "id": step.id,
            "type": step.step_type,
            "level": level,
            "needs": step.needs,
            "max_attempts": step.retry.max_attempts,
            "timeout_seconds": step.timeout.as_secs_f64(),
            "request": request,
        });
        if let Some(error) = &self.render_error {
            value["render_error"] = json!(error);
        }
        value
    }
}

/// `1 step`, `4 steps`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A value on one line: strings as they are, everything else as JSON.
fn inline(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
