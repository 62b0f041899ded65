//! Step types: one file per type with its input schema, declared outputs, action and
//! reconciliation. Adding a type means adding a file and one line in [`Registry::builtin`].
//!
//! A step's action performs ONE attempt. It reconciles intents left open by earlier attempts
//! (or by a process that died) before it re-sends anything, and records an intent before every
//! mutating request through the [`Journal`] the engine hands it. It never talks to the state
//! store or the terminal directly.

mod add_resources;
mod await_checkpoint;
mod create_checkpoint;
mod create_vault;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cbr::{CbrClient, CbrError};
use crate::plan::{StepCatalog, StepSchema};
use crate::state::{Intent, IntentOutcome, StepError};

/// A boxed, sendable future (the step trait is object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How much earlier than an intent a resource may appear to have been created and still be
/// adopted by reconciliation (clock skew between this machine and the service).
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Durable bookkeeping a step action needs; implemented by the engine over its channel to the
/// task that owns the state store. Every call returns once the change is committed.
pub trait Journal: Send + Sync {
    /// Commits an intent before a mutating request is sent; returns its id.
    fn record_intent<'a>(
        &'a self,
        operation: &'a str,
        request: &'a Value,
    ) -> BoxFuture<'a, Result<i64, StepFailure>>;
    /// Records how an intent ended.
    fn resolve_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
    ) -> BoxFuture<'_, Result<(), StepFailure>>;
    /// Intents of this step whose outcome is unknown, oldest first.
    fn open_intents(&self) -> BoxFuture<'_, Result<Vec<Intent>, StepFailure>>;
    /// Step-private durable data saved by an earlier attempt or run.
    fn checkpoint(&self) -> Option<Value>;
    /// Saves step-private durable data.
    fn save_checkpoint(&self, data: Value) -> BoxFuture<'_, Result<(), StepFailure>>;
    /// Reports progress of long work (shown to the user, not persisted).
    fn progress(&self, message: String);
}

/// Everything one attempt of a step gets.
pub struct StepContext<'a> {
    /// Step id.
    pub step_id: &'a str,
    /// Attempt number (1-based, across resumes).
    pub attempt: u32,
    /// Client with this step's per-request timeout.
    pub client: &'a CbrClient,
    /// Durable bookkeeping.
    pub journal: &'a dyn Journal,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// A CBR call failed.
    #[error(transparent)]
    Cbr(#[from] CbrError),
    /// The rendered input does not fit the step type (permanent).
    #[error("invalid input: {0}")]
    Input(String),
    /// The cloud reports the work itself failed, e.g. a restore point in status `error`
    /// (permanent).
    #[error("{message}")]
    Failed {
        /// Error code, if the service gave one.
        code: Option<String>,
        /// What happened.
        message: String,
    },
    /// The step's deadline passed.
    #[error("deadline exceeded: {0}")]
    Deadline(String),
    /// The state store failed; the run cannot continue safely.
    #[error("state store: {0}")]
    State(String),
}

impl StepFailure {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Cbr(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The least time to wait before the next attempt: the server's `Retry-After`, or after a
    /// timeout as long again as the attempt waited — the server may still be working on the
    /// request, and the next attempt reconciles before it re-sends anything.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Cbr(CbrError::Timeout { after }) => Some(*after),
            Self::Cbr(e) => e.retry_after(),
            _ => None,
        }
    }

    /// The record kept in state and shown in reports.
    pub fn to_step_error(&self) -> StepError {
        match self {
            Self::Cbr(CbrError::Api {
                status,
                code,
                message,
                request_id,
                ..
            }) => StepError {
                code: code.clone(),
                message: message.clone(),
                http_status: Some(*status),
                request_id: request_id.clone(),
            },
            Self::Failed { code, message } => StepError {
                code: code.clone(),
                message: message.clone(),
                ..StepError::default()
            },
            other => StepError {
                message: other.to_string(),
                ..StepError::default()
            },
        }
    }
}

/// A step type.
pub trait StepType: Send + Sync {
    /// Its schema: inputs and declared outputs.
    fn schema(&self) -> StepSchema;

    /// Performs one attempt with the rendered `input`; returns the step's outputs.
    fn run<'a>(
        &'a self,
        ctx: StepContext<'a>,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, StepFailure>>;

    /// A short description of the outputs for progress lines, e.g. `vault 3f2a… (my_vault)`.
    fn summary(&self, outputs: &Value) -> Option<String> {
        outputs
            .get("id")
            .and_then(Value::as_str)
            .map(|id| format!("id {id}"))
    }

    /// The request this step would send, for `--dry-run`: (method, path after
    /// `/v3/{project_id}`, body).
    fn describe_request(&self, input: &Value) -> (&'static str, String, Option<Value>);
}

/// All step types by name.
pub struct Registry {
    types: Vec<Box<dyn StepType>>,
}

impl Registry {
    /// The built-in step types.
    pub fn builtin() -> Self {
        Self {
            types: vec![
                Box::new(create_vault::CreateVault),
                Box::new(add_resources::AddResources),
                Box::new(create_checkpoint::CreateCheckpoint),
                Box::new(await_checkpoint::AwaitCheckpoint),
            ],
        }
    }

    /// The step type with this name.
    pub fn get(&self, name: &str) -> Option<&dyn StepType> {
        self.types
            .iter()
            .find(|t| t.schema().name == name)
            .map(AsRef::as_ref)
    }
}

impl StepCatalog for Registry {
    fn schema(&self, step_type: &str) -> Option<StepSchema> {
        self.get(step_type).map(StepType::schema)
    }

    fn names(&self) -> Vec<&'static str> {
        self.types.iter().map(|t| t.schema().name).collect()
    }
}

/// Deserializes a rendered input into a wire type, naming the field that does not fit.
fn decode<T: DeserializeOwned>(input: Value) -> Result<T, StepFailure> {
    serde_json::from_value(input).map_err(|e| StepFailure::Input(e.to_string()))
}

/// A JSON value of a wire type.
fn encode<T: serde::Serialize>(value: &T) -> Result<Value, StepFailure> {
    serde_json::to_value(value).map_err(|e| StepFailure::Input(e.to_string()))
}

/// True when a service timestamp is at or after `since` minus the clock-skew allowance.
fn created_since(created_at: Option<&str>, since: DateTime<Utc>) -> bool {
    let Some(created) = created_at.and_then(crate::cbr::wire::parse_timestamp) else {
        return false;
    };
    let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
    created >= since - skew
}

/// Performs a mutating call at most once in effect: first reconciles intents left open by
/// earlier attempts (adopting what `find` discovers), then records a new intent and sends.
/// An intent whose outcome is ambiguous (lost response, timeout, 5xx) stays open so that the
/// next attempt reconciles before re-sending; a certain failure resolves it as not applied.
/// A success leaves it open too: the engine resolves it in the same transaction that records
/// the step's outputs, so a crash in between is reconciled (and adopted) on resume instead of
/// creating the resource twice.
async fn apply_once<Find, FindFut, Send_, SendFut>(
    ctx: &StepContext<'_>,
    operation: &str,
    request: &Value,
    find: Find,
    send: Send_,
) -> Result<Value, StepFailure>
where
    Find: Fn(DateTime<Utc>) -> FindFut,
    FindFut: Future<Output = Result<Option<Value>, StepFailure>>,
    Send_: FnOnce() -> SendFut,
    SendFut: Future<Output = Result<Value, CbrError>>,
{
    for intent in ctx.journal.open_intents().await? {
        ctx.journal.progress(format!(
            "reconciling an earlier {operation} request (sent {})",
            intent.recorded_at.format("%H:%M:%S")
        ));
        match find(intent.recorded_at).await? {
            Some(found) => {
                // Left open: resolved as applied together with the step's outputs.
                ctx.journal.progress(format!(
                    "adopted the result of the earlier {operation} request"
                ));
                return Ok(found);
            }
            None => {
                ctx.journal
                    .resolve_intent(intent.id, IntentOutcome::NotApplied)
                    .await?;
                ctx.journal.progress(format!(
                    "the earlier {operation} request had no effect; sending it again"
                ));
            }
        }
    }
    let intent = ctx.journal.record_intent(operation, request).await?;
    match send().await {
        Ok(value) => Ok(value),
        Err(err) if !err.may_have_applied() => {
            ctx.journal
                .resolve_intent(intent, IntentOutcome::NotApplied)
                .await?;
            Err(err.into())
        }
        Err(err) => Err(err.into()),
    }
}
