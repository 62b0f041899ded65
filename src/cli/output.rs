//! How runs look on the terminal: one line per step transition on stderr while running, and
//! the final report (text or one JSON document) on stdout.

use std::io::Write as _;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::OutputFormat;
use crate::engine::{RunEvent, RunReport};
use crate::plan::duration::format_duration;
use crate::state::{RunStatus, StepError};
use crate::steps::Registry;

/// Progress lines of long waits are shown at most this often per step.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Prints run events as they happen.
pub struct Printer {
    task: JoinHandle<()>,
}

impl Printer {
    /// Starts printing events from `rx` to stderr.
    pub fn spawn(mut rx: mpsc::UnboundedReceiver<RunEvent>, _format: OutputFormat) -> Self {
        let task = tokio::spawn(async move {
            let mut last_progress: std::collections::HashMap<String, (String, Instant)> =
                Default::default();
            while let Some(event) = rx.recv().await {
                let line = match &event {
                    RunEvent::Progress { step, message } => {
                        // Repeats of the same kind of message (a wait's "still protecting")
                        // are shown at most every PROGRESS_EVERY; other messages always.
                        let kind = message.split('(').next().unwrap_or(message).to_owned();
                        let now = Instant::now();
                        match last_progress.get(step) {
                            Some((k, t))
                                if *k == kind && now.duration_since(*t) < PROGRESS_EVERY =>
                            {
                                None
                            }
                            _ => {
                                last_progress.insert(step.clone(), (kind, now));
                                event_line(&event)
                            }
                        }
                    }
                    _ => event_line(&event),
                };
                if let Some(line) = line {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(err, "{line}");
                }
            }
        });
        Self { task }
    }

    /// Waits until every event sent so far is printed (the sender must be dropped).
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

/// The text line for one event.
fn event_line(event: &RunEvent) -> Option<String> {
    Some(match event {
        RunEvent::RunStarted {
            run_id,
            plan,
            steps,
            resumed,
        } => {
            let verb = if *resumed { "resuming" } else { "starting" };
            format!("{verb} run {run_id} of plan `{plan}` ({steps} steps)")
        }
        RunEvent::StepKept {
            step,
            step_type,
            summary,
        } => {
            format!(
                "  {step:<12} {step_type:<18} kept (succeeded earlier){}",
                suffix(summary.as_deref())
            )
        }
        RunEvent::StepInvalidated { step, reason } => format!("  {step:<12} runs again: {reason}"),
        RunEvent::AttemptStarted {
            step,
            step_type,
            attempt,
        } => {
            if *attempt == 1 {
                format!("  {step:<12} {step_type:<18} running")
            } else {
                format!("  {step:<12} {step_type:<18} running (attempt {attempt})")
            }
        }
        RunEvent::Progress { step, message } => format!("  {step:<12} {message}"),
        RunEvent::AttemptFailed {
            step,
            attempt,
            error,
            retry_in,
        } => format!(
            "  {step:<12} attempt {attempt} failed: {}; retrying in {}",
            error_text(error),
            format_duration(*retry_in)
        ),
        RunEvent::StepSucceeded {
            step,
            step_type,
            elapsed,
            summary,
        } => format!(
            "  {step:<12} {step_type:<18} succeeded in {}{}",
            format_duration(*elapsed),
            suffix(summary.as_deref())
        ),
        RunEvent::StepFailed {
            step,
            step_type,
            error,
        } => {
            format!("  {step:<12} {step_type:<18} FAILED: {}", error_text(error))
        }
        RunEvent::StepSkipped { step } => format!("  {step:<12} skipped (an earlier step failed)"),
        RunEvent::RunFinished { .. } => return None,
    })
}

fn suffix(summary: Option<&str>) -> String {
    summary.map_or_else(String::new, |s| format!("  {s}"))
}

/// A step error as one line.
pub fn error_text(error: &StepError) -> String {
    let mut text = match &error.code {
        Some(code) => format!("{code}: {}", error.message),
        None => error.message.clone(),
    };
    if let Some(status) = error.http_status {
        text.push_str(&format!(" (HTTP {status}"));
        if let Some(id) = &error.request_id {
            text.push_str(&format!(", request id {id}"));
        }
        text.push(')');
    }
    text
}

/// Prints the final report on stdout.
pub fn print_report(report: &RunReport, format: OutputFormat, registry: &Registry) {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(report)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            let _ = writeln!(out, "{text}");
        }
        OutputFormat::Text => {
            let _ = writeln!(out, "run {} {}", report.run_id, report.status.as_str());
            for step in &report.steps {
                let detail = match (&step.outputs, &step.error) {
                    (Some(outputs), _) if step.status == crate::state::StepStatus::Succeeded => {
                        registry
                            .get(&step.step_type)
                            .and_then(|t| t.summary(outputs))
                            .unwrap_or_default()
                    }
                    (_, Some(error)) => error_text(error),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  {:<12} {:<18} {:<10} {}",
                    step.id,
                    step.step_type,
                    step.status.as_str(),
                    detail
                );
            }
            if let Some(outputs) = report.outputs.as_object().filter(|o| !o.is_empty()) {
                let _ = writeln!(out, "outputs:");
                for (name, value) in outputs {
                    let shown = match value {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let _ = writeln!(out, "  {name}: {shown}");
                }
            }
            if report.status == RunStatus::Failed {
                let _ = writeln!(
                    out,
                    "the run failed; fix the cause, then continue it with: cbrflow resume {}",
                    report.run_id
                );
            }
        }
    }
}
