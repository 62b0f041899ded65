//! Durable run state: runs, steps, attempts, intents and leases.
//!
//! The engine owns one [`StateStore`] and commits every transition through it before moving on.
//! Each method is one small transaction whose cost does not grow with the number of steps in a
//! run. The SQLite backend lives in `sqlite.rs`; a PostgreSQL backend would implement the same
//! trait. This module knows nothing about plans, templates or HTTP: it stores what it is given.
//! Credentials are never handed to it.

mod lease;
mod sqlite;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use sqlite::SqliteStore;

/// Opens the state store in `state_dir`, creating the directory and the database if needed.
pub fn open(state_dir: &Path) -> Result<Box<dyn StateStore>, StateError> {
    Ok(Box::new(SqliteStore::open(state_dir)?))
}

/// Opens the state store in `state_dir` without creating anything; `Ok(None)` when there is no
/// store there yet (for `status`, `runs` and `resume`).
pub fn open_existing(state_dir: &Path) -> Result<Option<Box<dyn StateStore>>, StateError> {
    Ok(SqliteStore::open_existing(state_dir)?.map(|store| Box::new(store) as Box<dyn StateStore>))
}

/// Identifier of one run, e.g. `20261204-154812-3f9a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    /// A fresh, sortable run id built from the current UTC time and a random suffix.
    pub fn generate() -> Self {
        let now = Utc::now();
        let suffix: u16 = rand::random();
        Self(format!("{}-{suffix:04x}", now.format("%Y%m%d-%H%M%S")))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Status of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (or killed while running).
    Running,
    /// Every step succeeded.
    Succeeded,
    /// At least one step failed; the run can be resumed.
    Failed,
}

impl RunStatus {
    /// The lower-case name used in state, reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses [`RunStatus::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Status of one step within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started yet.
    Pending,
    /// An attempt is in progress (or the process died during one).
    Running,
    /// Finished; outputs are recorded.
    Succeeded,
    /// Gave up after its attempts or on a permanent error.
    Failed,
    /// Not run because the run stopped scheduling after a failure.
    Skipped,
}

impl StepStatus {
    /// The lower-case name used in state, reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Parses [`StepStatus::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }
}

/// The error a step failed with, as kept in state and shown by `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StepError {
    /// CBR or gateway error code, e.g. `BackupService.6103`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable message (never contains credentials).
    pub message: String,
    /// HTTP status of the failing response, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// `X-Request-Id` of the failing response, if the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What is recorded when a run starts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The run's id.
    pub id: RunId,
    /// Plan file as given on the command line (absolute path).
    pub plan_path: PathBuf,
    /// The plan's `name`.
    pub plan_name: String,
    /// SHA-256 (hex) of the plan file's bytes.
    pub plan_hash: String,
    /// Resolved plan inputs (never secrets).
    pub inputs: Value,
    /// Endpoint the run talks to; `None` for the embedded emulator.
    pub endpoint: Option<String>,
    /// Project id the run works in.
    pub project_id: String,
    /// Steps in plan order: (step id, step type).
    pub steps: Vec<(String, String)>,
}

/// A run as read back from the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// Plan file path.
    pub plan_path: PathBuf,
    /// The plan's `name`.
    pub plan_name: String,
    /// SHA-256 (hex) of the plan file when the run began.
    pub plan_hash: String,
    /// Resolved plan inputs.
    pub inputs: Value,
    /// Endpoint, `None` for the embedded emulator.
    pub endpoint: Option<String>,
    /// Project id.
    pub project_id: String,
    /// Current status.
    pub status: RunStatus,
    /// When the run was created.
    pub started_at: DateTime<Utc>,
    /// When the run last finished (succeeded or failed), if it has.
    pub ended_at: Option<DateTime<Utc>>,
    /// Plan outputs, once the run succeeded.
    pub outputs: Option<Value>,
}

/// A step as read back from the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Step id from the plan.
    pub step_id: String,
    /// Step type from the plan.
    pub step_type: String,
    /// Position in the plan's step list.
    pub position: u32,
    /// Current status.
    pub status: StepStatus,
    /// Attempts made so far (across resumes).
    pub attempts: u32,
    /// Outputs, once succeeded.
    pub outputs: Option<Value>,
    /// Last error, if any attempt failed.
    pub error: Option<StepError>,
    /// SHA-256 (hex) of the step's rendered inputs when it last started; used on resume to
    /// notice that a changed plan changed this step.
    pub input_hash: Option<String>,
    /// Step-private durable data (e.g. `await_checkpoint`'s checkpoint id and deadline).
    pub checkpoint: Option<Value>,
    /// When the first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the step last finished.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A mutating request about to be sent, recorded before it is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    /// Store-assigned id.
    pub id: i64,
    /// Step that sends it.
    pub step_id: String,
    /// Attempt number (1-based) within the step.
    pub attempt: u32,
    /// Operation name, e.g. `create_vault`.
    pub operation: String,
    /// The request body or the key facts needed to reconcile (no credentials).
    pub request: Value,
    /// When the intent was committed (server-side time of the client machine, UTC).
    pub recorded_at: DateTime<Utc>,
    /// `None` while the request's outcome is unknown.
    pub outcome: Option<IntentOutcome>,
}

/// How an intent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentOutcome {
    /// The request succeeded (or reconciliation found its effect).
    Applied,
    /// The request certainly had no effect (error response, or reconciliation found nothing).
    NotApplied,
}

impl IntentOutcome {
    /// The lower-case name used in state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::NotApplied => "not_applied",
        }
    }
}

/// Who holds a run's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseOwner {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Random token distinguishing two processes with the same pid (e.g. after a reboot).
    pub token: String,
}

impl LeaseOwner {
    /// This process: its pid, the host name and a random token drawn once per process, so that
    /// every call in one process names the same owner.
    pub fn current() -> Self {
        static CURRENT: OnceLock<LeaseOwner> = OnceLock::new();
        CURRENT
            .get_or_init(|| Self {
                pid: std::process::id(),
                host: host_name(),
                token: format!("{:032x}", rand::random::<u128>()),
            })
            .clone()
    }
}

impl LeaseOwner {
    /// True when this owner is a process of this host that no longer exists, so its lease can
    /// be taken over at once. Unknown (no `/proc`, another host) counts as alive: a live lease
    /// is never broken on a guess.
    pub fn is_gone(&self) -> bool {
        if self.host != host_name() {
            return false;
        }
        let proc_root = std::path::Path::new("/proc");
        proc_root.join("self").exists() && !proc_root.join(self.pid.to_string()).exists()
    }
}

/// The kernel's host name, else `$HOSTNAME`, else `localhost`. Only used to tell an operator
/// where a lease holder runs; the token is what identifies it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl fmt::Display for LeaseOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database could not be opened or read (corrupt, not a database, I/O error).
    #[error("state database {path} is unreadable: {reason}")]
    Unreadable {
        /// Path of the database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The database was written by a newer cbrflow.
    #[error(
        "state database {path} has schema version {found}, newer than this cbrflow supports ({supported}); upgrade cbrflow"
    )]
    NewerSchema {
        /// Path of the database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// Another live process holds the run.
    #[error(
        "run {run_id} is held by {holder} until {expires_at}; wait for it to finish or for the lease to expire"
    )]
    Locked {
        /// The run.
        run_id: RunId,
        /// Current holder.
        holder: LeaseOwner,
        /// When its lease expires unless renewed.
        expires_at: DateTime<Utc>,
    },
    /// This process no longer holds the lease it expected to hold (it expired and was taken).
    #[error("lost the lease on run {run_id} to {holder}")]
    LeaseLost {
        /// The run.
        run_id: RunId,
        /// New holder.
        holder: LeaseOwner,
    },
    /// No run with this id.
    #[error("no run `{0}` in the state store")]
    UnknownRun(RunId),
    /// Any other database error.
    #[error("state database error: {0}")]
    Database(String),
}

impl StateError {
    /// Exit code for the CLI: every state error is a state conflict (3).
    pub fn exit_code(&self) -> u8 {
        3
    }
}

/// The store the engine commits transitions to.
///
/// Every method is one transaction. Methods that take a `step_id` fail with
/// [`StateError::Database`] if the step does not belong to the run.
pub trait StateStore: Send {
    /// Records a new run in status `running` with all its steps `pending`.
    fn create_run(&mut self, run: &NewRun) -> Result<(), StateError>;
    /// Reads a run.
    fn run(&self, id: &RunId) -> Result<RunRecord, StateError>;
    /// The most recently started run, if any.
    fn latest_run(&self) -> Result<Option<RunRecord>, StateError>;
    /// The most recent runs, newest first.
    fn list_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError>;
    /// All steps of a run in plan order.
    fn steps(&self, id: &RunId) -> Result<Vec<StepRecord>, StateError>;
    /// Adds steps that a changed plan introduced on resume (status `pending`), and updates the
    /// plan hash of the run. `steps` holds the plan's new steps in plan order, or all its steps:
    /// steps not stored yet are added after the stored ones; a stored step listed here keeps its
    /// state and place and takes the type given.
    fn update_plan(
        &mut self,
        id: &RunId,
        plan_hash: &str,
        steps: &[(String, String)],
    ) -> Result<(), StateError>;
    /// Sets the run's status (and `ended_at` when it is final; clears it on `running`).
    fn set_run_status(
        &mut self,
        id: &RunId,
        status: RunStatus,
        outputs: Option<&Value>,
    ) -> Result<(), StateError>;

    /// Marks a step `running` and records the hash of its rendered inputs; sets `started_at`
    /// if unset.
    fn step_started(&mut self, id: &RunId, step: &str, input_hash: &str) -> Result<(), StateError>;
    /// Increments the step's attempt counter and returns the new attempt number.
    fn attempt_started(&mut self, id: &RunId, step: &str) -> Result<u32, StateError>;
    /// Records the error of a failed attempt (the step stays `running` if it will retry).
    fn attempt_failed(
        &mut self,
        id: &RunId,
        step: &str,
        error: &StepError,
    ) -> Result<(), StateError>;
    /// Marks the step `succeeded` with its outputs and, in the same transaction, resolves its
    /// open intents as applied.
    fn step_succeeded(&mut self, id: &RunId, step: &str, outputs: &Value)
    -> Result<(), StateError>;
    /// Marks the step `failed` with its final error.
    fn step_failed(&mut self, id: &RunId, step: &str, error: &StepError) -> Result<(), StateError>;
    /// Sets a step's status without other changes (e.g. `skipped`, or back to `pending` when a
    /// changed plan invalidates it — which also clears outputs and the checkpoint).
    fn set_step_status(
        &mut self,
        id: &RunId,
        step: &str,
        status: StepStatus,
    ) -> Result<(), StateError>;
    /// Stores step-private durable data (replacing what was there).
    fn set_step_checkpoint(
        &mut self,
        id: &RunId,
        step: &str,
        checkpoint: &Value,
    ) -> Result<(), StateError>;

    /// Commits an intent before a mutating request is sent; returns its id.
    fn record_intent(
        &mut self,
        id: &RunId,
        step: &str,
        attempt: u32,
        operation: &str,
        request: &Value,
    ) -> Result<i64, StateError>;
    /// Records how an intent ended.
    fn resolve_intent(&mut self, intent_id: i64, outcome: IntentOutcome) -> Result<(), StateError>;
    /// Intents of a step whose outcome is still unknown, oldest first.
    fn open_intents(&self, id: &RunId, step: &str) -> Result<Vec<Intent>, StateError>;

    /// Takes the run's lease for `ttl`. Succeeds if the run is unheld, held by `owner`, or held
    /// by a lease that has expired; otherwise fails with [`StateError::Locked`].
    fn acquire_lease(
        &mut self,
        id: &RunId,
        owner: &LeaseOwner,
        ttl: Duration,
    ) -> Result<(), StateError>;
    /// Extends the lease held by `owner`; fails with [`StateError::LeaseLost`] if another
    /// owner holds it now.
    fn renew_lease(
        &mut self,
        id: &RunId,
        owner: &LeaseOwner,
        ttl: Duration,
    ) -> Result<(), StateError>;
    /// Releases the lease if `owner` holds it.
    fn release_lease(&mut self, id: &RunId, owner: &LeaseOwner) -> Result<(), StateError>;

    /// The current holder of the run's lease and when it expires; `None` if the run was
    /// never held or its lease was released.
    fn lease_holder(&self, id: &RunId) -> Result<Option<(LeaseOwner, DateTime<Utc>)>, StateError>;

    /// Takes over a lease still held by `previous`, whose process is known to be gone.
    /// If someone else took it first, fails with [`StateError::Locked`] naming them.
    fn take_over_lease(
        &mut self,
        id: &RunId,
        owner: &LeaseOwner,
        previous: &LeaseOwner,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.release_lease(id, previous)?;
        self.acquire_lease(id, owner, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_owner_is_one_owner_for_the_whole_process() {
        let owner = LeaseOwner::current();
        assert_eq!(owner, LeaseOwner::current());
        assert_eq!(owner.pid, std::process::id());
        assert!(!owner.host.is_empty() && !owner.host.contains('\n'));
        assert_eq!(owner.token.len(), 32);
    }
}
