//! `await_checkpoint`: polls GET /v3/{project_id}/checkpoints/{checkpoint_id} until the restore
//! point is `available`; `error` fails the step. Outputs: the final restore point object.
//!
//! The checkpoint id and the deadline are saved in state when the wait begins, so that a
//! resumed or retried wait keeps waiting on the same restore point until the same deadline.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BoxFuture, StepContext, StepFailure, StepType, decode, encode};
use crate::plan::duration::{format_duration, parse_duration};
use crate::plan::{FieldKind as K, FieldSpec as F, StepSchema};

pub(super) struct AwaitCheckpoint;

const INPUTS: &[F] = &[
    F::new("checkpoint_id", true, K::String),
    F::new("timeout", false, K::Duration),
    F::new("poll_interval", false, K::Duration),
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DEFAULT_POLL: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    checkpoint_id: String,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    poll_interval: Option<String>,
}

/// What survives a restart.
#[derive(Serialize, Deserialize)]
struct Waiting {
    checkpoint_id: String,
    deadline: DateTime<Utc>,
}

impl StepType for AwaitCheckpoint {
    fn schema(&self) -> StepSchema {
        StepSchema {
            name: "await_checkpoint",
            summary: "wait until a restore point is available (GET /v3/{project_id}/checkpoints/{id})",
            inputs: INPUTS,
            outputs: &[
                "id",
                "status",
                "created_at",
                "project_id",
                "vault",
                "extra_info",
            ],
        }
    }

    fn run<'a>(
        &'a self,
        ctx: StepContext<'a>,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, StepFailure>> {
        Box::pin(async move {
            let input: Input = decode(input)?;
            let timeout = duration(input.timeout.as_deref(), DEFAULT_TIMEOUT, "timeout")?;
            let poll = duration(
                input.poll_interval.as_deref(),
                DEFAULT_POLL,
                "poll_interval",
            )?;

            let saved = ctx
                .journal
                .checkpoint()
                .and_then(|v| serde_json::from_value::<Waiting>(v).ok())
                .filter(|w| w.checkpoint_id == input.checkpoint_id);
            let deadline = match saved {
                Some(w) => w.deadline,
                None => {
                    let deadline = Utc::now()
                        + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
                    let waiting = Waiting {
                        checkpoint_id: input.checkpoint_id.clone(),
                        deadline,
                    };
                    ctx.journal.save_checkpoint(encode(&waiting)?).await?;
                    deadline
                }
            };

            let started = std::time::Instant::now();
            loop {
                let checkpoint = ctx.client.show_checkpoint(&input.checkpoint_id).await?;
                match checkpoint.status.as_str() {
                    "available" => return encode(&checkpoint),
                    "error" | "deleted" | "deleting" | "error-deleting" => {
                        return Err(StepFailure::Failed {
                            code: None,
                            message: format!(
                                "restore point {} is `{}`; it will not become available",
                                input.checkpoint_id, checkpoint.status
                            ),
                        });
                    }
                    status => {
                        let left = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                        if left.is_zero() {
                            return Err(StepFailure::Deadline(format!(
                                "restore point {} is still `{status}` at its deadline {}",
                                input.checkpoint_id,
                                deadline.format("%Y-%m-%d %H:%M:%S UTC")
                            )));
                        }
                        ctx.journal.progress(format!(
                            "restore point is {status} ({} so far, {} left)",
                            format_duration(started.elapsed()),
                            format_duration(left)
                        ));
                        tokio::time::sleep(poll.min(left)).await;
                    }
                }
            }
        })
    }

    fn summary(&self, outputs: &Value) -> Option<String> {
        let id = outputs.get("id")?.as_str()?;
        let status = outputs.get("status").and_then(Value::as_str).unwrap_or("?");
        Some(format!("checkpoint {id} {status}"))
    }

    fn describe_request(&self, input: &Value) -> (&'static str, String, Option<Value>) {
        let id = input
            .get("checkpoint_id")
            .and_then(Value::as_str)
            .unwrap_or("<checkpoint_id>");
        (
            "GET",
            format!("/checkpoints/{id}  (polled until available)"),
            None,
        )
    }
}

fn duration(text: Option<&str>, default: Duration, field: &str) -> Result<Duration, StepFailure> {
    match text {
        None => Ok(default),
        Some(t) => parse_duration(t).map_err(|e| StepFailure::Input(format!("`{field}`: {e}"))),
    }
}
