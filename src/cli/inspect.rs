//! `cbrflow status` and `cbrflow runs`: reading recorded runs.

use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::output::error_text;
use super::{EXIT_OK, OutputFormat, UsageError};
use crate::engine::RunReport;
use crate::plan::duration::format_duration;
use crate::state::{RunId, RunStatus, StateStore};

/// Flags of `cbrflow status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The run to show (default: the most recent).
    #[arg(value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Show the most recent run (the default when no RUN_ID is given).
    #[arg(long, conflicts_with = "run_id")]
    pub last: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Flags of `cbrflow runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// How many runs to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

fn open(state_dir: &Path) -> Result<Box<dyn StateStore>> {
    crate::state::open_existing(state_dir)?.ok_or_else(|| {
        UsageError(format!(
            "no runs recorded in {} (no state.db); start one with `cbrflow run PLAN`",
            state_dir.display()
        ))
        .into()
    })
}

fn duration_between(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format_duration((e - s).to_std().unwrap_or_default()),
        (Some(_), None) => "…".to_owned(),
        _ => "-".to_owned(),
    }
}

/// `cbrflow status`.
pub fn status(args: &StatusArgs, state_dir: &Path) -> Result<u8> {
    let store = open(state_dir)?;
    let run = match &args.run_id {
        Some(id) => store.run(&RunId(id.clone()))?,
        None => store
            .latest_run()?
            .ok_or_else(|| UsageError(format!("no runs recorded in {}", state_dir.display())))?,
    };
    let steps = store.steps(&run.id)?;
    if args.output == OutputFormat::Json {
        let mut report = serde_json::to_value(RunReport::from_records(&run, &steps))?;
        if let Some(obj) = report.as_object_mut() {
            obj.insert(
                "plan_path".into(),
                run.plan_path.display().to_string().into(),
            );
            obj.insert("started_at".into(), run.started_at.to_rfc3339().into());
            obj.insert(
                "ended_at".into(),
                run.ended_at.map(|t| t.to_rfc3339()).into(),
            );
            obj.insert(
                "endpoint".into(),
                run.endpoint
                    .clone()
                    .unwrap_or_else(|| "embedded emulator".to_owned())
                    .into(),
            );
        }
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(EXIT_OK);
    }
    let state = match run.status {
        RunStatus::Running => match store.lease_holder(&run.id)? {
            Some((holder, expires)) if !holder.is_gone() && expires > chrono::Utc::now() => {
                format!("running ({holder})")
            }
            _ => format!(
                "interrupted (no process holds it; continue with: cbrflow resume {})",
                run.id
            ),
        },
        other => other.as_str().to_owned(),
    };
    println!("run {}  plan `{}`  {state}", run.id, run.plan_name);
    println!(
        "  file {}  started {}  endpoint {}",
        run.plan_path.display(),
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        run.endpoint.as_deref().unwrap_or("embedded emulator")
    );
    println!(
        "  {:<12} {:<18} {:<10} {:>8} {:>9}  detail",
        "step", "type", "status", "attempts", "duration"
    );
    let registry = crate::steps::Registry::builtin();
    for s in &steps {
        let detail = match (&s.outputs, &s.error) {
            (Some(o), _) if s.status == crate::state::StepStatus::Succeeded => registry
                .get(&s.step_type)
                .and_then(|t| t.summary(o))
                .unwrap_or_default(),
            (_, Some(e)) => error_text(e),
            _ => String::new(),
        };
        println!(
            "  {:<12} {:<18} {:<10} {:>8} {:>9}  {}",
            s.step_id,
            s.step_type,
            s.status.as_str(),
            s.attempts,
            duration_between(s.started_at, s.ended_at),
            detail
        );
    }
    if let Some(outputs) = run
        .outputs
        .as_ref()
        .and_then(|o| o.as_object())
        .filter(|o| !o.is_empty())
    {
        println!("outputs:");
        for (k, v) in outputs {
            println!(
                "  {k}: {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            );
        }
    }
    Ok(EXIT_OK)
}

/// `cbrflow runs`.
pub fn runs(args: &RunsArgs, state_dir: &Path) -> Result<u8> {
    let store = open(state_dir)?;
    let runs = store.list_runs(args.limit)?;
    if args.output == OutputFormat::Json {
        let list: Vec<_> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run_id": r.id,
                    "plan": r.plan_name,
                    "plan_path": r.plan_path.display().to_string(),
                    "status": r.status,
                    "started_at": r.started_at.to_rfc3339(),
                    "ended_at": r.ended_at.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(EXIT_OK);
    }
    if runs.is_empty() {
        println!("no runs recorded in {}", state_dir.display());
        return Ok(EXIT_OK);
    }
    println!(
        "{:<22} {:<20} {:<10} {:<20} {:>9}",
        "run", "plan", "status", "started (UTC)", "duration"
    );
    for r in &runs {
        println!(
            "{:<22} {:<20} {:<10} {:<20} {:>9}",
            r.id.0,
            r.plan_name,
            r.status.as_str(),
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            duration_between(Some(r.started_at), r.ended_at)
        );
    }
    Ok(EXIT_OK)
}
