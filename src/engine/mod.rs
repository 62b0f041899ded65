//! The executor: runs a checked plan's steps in dependency order with bounded concurrency,
//! retries with backoff, and commits every transition to the state store before moving on.
//!
//! One task (the executor loop) owns the run's state and the store; step tasks report to it
//! over a channel and wait for each commit. The engine reports progress as [`RunEvent`]s and
//! never prints. It does not know about the emulator: it talks to whatever `CbrClient` it gets.

mod executor;
mod journal;
mod ready;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use executor::{Engine, RunOptions};

use crate::state::{RunId, RunRecord, RunStatus, StateError, StepError, StepRecord};

/// Something that happened during a run, for the user interface.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The run began (or resumed).
    RunStarted {
        /// Run id.
        run_id: RunId,
        /// Plan name.
        plan: String,
        /// Number of steps.
        steps: usize,
        /// True for `resume`.
        resumed: bool,
    },
    /// On resume: a step that succeeded earlier is kept.
    StepKept {
        /// Step id.
        step: String,
        /// Step type.
        step_type: String,
        /// Short description of its outputs.
        summary: Option<String>,
    },
    /// On resume: a step runs again because the plan changed its inputs (or an upstream step
    /// runs again).
    StepInvalidated {
        /// Step id.
        step: String,
        /// Why.
        reason: String,
    },
    /// An attempt of a step began.
    AttemptStarted {
        /// Step id.
        step: String,
        /// Step type.
        step_type: String,
        /// Attempt number (1-based, across resumes).
        attempt: u32,
    },
    /// Progress of long work inside a step.
    Progress {
        /// Step id.
        step: String,
        /// What is happening.
        message: String,
    },
    /// An attempt failed and will be retried.
    AttemptFailed {
        /// Step id.
        step: String,
        /// Attempt number.
        attempt: u32,
        /// What went wrong.
        error: StepError,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// A step succeeded.
    StepSucceeded {
        /// Step id.
        step: String,
        /// Step type.
        step_type: String,
        /// Time from its first attempt in this process to success.
        elapsed: Duration,
        /// Short description of its outputs.
        summary: Option<String>,
    },
    /// A step failed for good (in this run).
    StepFailed {
        /// Step id.
        step: String,
        /// Step type.
        step_type: String,
        /// The error.
        error: StepError,
    },
    /// A step was not run because an earlier step failed.
    StepSkipped {
        /// Step id.
        step: String,
    },
    /// The run ended.
    RunFinished {
        /// Final status.
        status: RunStatus,
        /// Wall-clock time of this invocation.
        elapsed: Duration,
    },
}

/// The outcome of a run, as reported by `--output json` and `status`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: RunId,
    /// Plan name.
    pub plan: String,
    /// `succeeded`, `failed` or `running`.
    pub status: RunStatus,
    /// Every step in plan order.
    pub steps: Vec<StepReport>,
    /// Plan outputs (empty unless succeeded).
    pub outputs: Value,
}

/// One step in a [`RunReport`].
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Step id.
    pub id: String,
    /// Step type.
    #[serde(rename = "type")]
    pub step_type: String,
    /// Status.
    pub status: crate::state::StepStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Outputs, once succeeded.
    pub outputs: Option<Value>,
    /// Last error.
    pub error: Option<StepError>,
}

impl RunReport {
    /// Builds a report from stored records.
    pub fn from_records(run: &RunRecord, steps: &[StepRecord]) -> Self {
        Self {
            run_id: run.id.clone(),
            plan: run.plan_name.clone(),
            status: run.status,
            steps: steps
                .iter()
                .map(|s| StepReport {
                    id: s.step_id.clone(),
                    step_type: s.step_type.clone(),
                    status: s.status,
                    attempts: s.attempts,
                    outputs: s.outputs.clone(),
                    error: s.error.clone(),
                })
                .collect(),
            outputs: run
                .outputs
                .clone()
                .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        }
    }
}

/// Why the engine could not run (as opposed to a step failing).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed or the run is held elsewhere.
    #[error(transparent)]
    State(#[from] StateError),
    /// The run cannot be resumed as asked.
    #[error("{0}")]
    Resume(String),
}

impl EngineError {
    /// The process exit code for this error: 3 for state conflicts, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::State(e) => e.exit_code(),
            Self::Resume(_) => 2,
        }
    }
}
