//! `create_checkpoint`: POST /v3/{project_id}/checkpoints. Outputs: the restore point object.
//!
//! Reconciliation lists the vault's backups with the restore point's name, created at or
//! after the intent, and adopts their restore point.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    BoxFuture, StepContext, StepFailure, StepType, apply_once, created_since, decode, encode,
};
use crate::cbr::CbrClient;
use crate::cbr::client::BackupQuery;
use crate::cbr::wire::{CheckpointParam, VaultBackup, VaultBackupReq};
use crate::plan::{FieldKind as K, FieldSpec as F, StepSchema};

pub(super) struct CreateCheckpoint;

const INPUTS: &[F] = &[
    F::new("vault_id", true, K::String),
    F::new("parameters", false, K::Object),
    F::new("parameters.auto_trigger", false, K::Bool),
    F::new("parameters.description", false, K::String),
    F::new("parameters.incremental", false, K::Bool),
    F::new("parameters.name", false, K::String).name(64),
    F::new("parameters.resources", false, K::List),
    F::new("parameters.resources[]", false, K::String),
    F::new("parameters.resource_details", false, K::Any),
    F::new("parameters.policy_id", false, K::String),
    F::new("parameters.retention_duration_days", false, K::Integer),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    vault_id: String,
    #[serde(default)]
    parameters: Option<CheckpointParam>,
}

impl StepType for CreateCheckpoint {
    fn schema(&self) -> StepSchema {
        StepSchema {
            name: "create_checkpoint",
            summary: "create a restore point, i.e. back up a vault (POST /v3/{project_id}/checkpoints)",
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
            let Input {
                vault_id,
                parameters,
            } = decode(input)?;
            let name = parameters.as_ref().and_then(|p| p.name.clone());
            let request = VaultBackupReq {
                checkpoint: VaultBackup {
                    vault_id: vault_id.clone(),
                    parameters,
                },
            };
            let body = encode(&request)?;
            let client = ctx.client;
            let (vault, name) = (&vault_id, &name);
            apply_once(
                &ctx,
                "create_checkpoint",
                &body,
                |since| find_checkpoint(client, vault, name.as_deref(), since),
                || async {
                    let checkpoint = client.create_checkpoint(&request).await?;
                    Ok(serde_json::to_value(&checkpoint)
                        .unwrap_or_else(|_| json!({ "id": checkpoint.id })))
                },
            )
            .await
        })
    }

    fn summary(&self, outputs: &Value) -> Option<String> {
        let id = outputs.get("id")?.as_str()?;
        let status = outputs.get("status").and_then(Value::as_str).unwrap_or("?");
        Some(format!("checkpoint {id} ({status})"))
    }

    fn describe_request(&self, input: &Value) -> (&'static str, String, Option<Value>) {
        (
            "POST",
            "/checkpoints".to_owned(),
            Some(json!({ "checkpoint": input })),
        )
    }
}

/// The restore point of `vault_id` whose backups are named `name` and were created at or
/// after `since`.
async fn find_checkpoint(
    client: &CbrClient,
    vault_id: &str,
    name: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Option<Value>, StepFailure> {
    let mut offset = 0;
    let mut candidates = Vec::new();
    loop {
        let page = client
            .list_backups(&BackupQuery {
                vault_id: Some(vault_id.to_owned()),
                name: name.map(str::to_owned),
                limit: Some(100),
                offset: Some(offset),
                ..BackupQuery::default()
            })
            .await?;
        let n = page.backups.len();
        candidates.extend(page.backups.into_iter().filter(|b| {
            b.vault_id.as_deref().is_none_or(|v| v == vault_id)
                && name.is_none_or(|n| b.name.as_deref() == Some(n))
                && created_since(b.created_at.as_deref(), since)
        }));
        if n < 100 {
            break;
        }
        offset += 100;
    }
    candidates.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let Some(checkpoint_id) = candidates.into_iter().find_map(|b| b.checkpoint_id) else {
        return Ok(None);
    };
    let checkpoint = client.show_checkpoint(&checkpoint_id).await?;
    Ok(Some(encode(&checkpoint)?))
}
