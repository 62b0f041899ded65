//! `add_resources`: POST /v3/{project_id}/vaults/{vault_id}/addresources.
//! Outputs: `add_resource_ids` (and `vault_id`).
//!
//! Reconciliation reads the vault: if every requested resource is associated, the earlier
//! request took effect.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, StepContext, StepFailure, StepType, apply_once, decode};
use crate::cbr::wire::{RESOURCE_TYPES, ResourceCreate, VaultAddResourceReq};
use crate::plan::{FieldKind as K, FieldSpec as F, StepSchema};

pub(super) struct AddResources;

const INPUTS: &[F] = &[
    F::new("vault_id", true, K::String),
    F::new("resources", true, K::List),
    F::new("resources[].id", true, K::String),
    F::new("resources[].type", true, K::String).one_of(RESOURCE_TYPES),
    F::new("resources[].name", false, K::String),
    F::new("resources[].extra_info", false, K::Any),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    vault_id: String,
    resources: Vec<ResourceCreate>,
}

impl StepType for AddResources {
    fn schema(&self) -> StepSchema {
        StepSchema {
            name: "add_resources",
            summary: "associate resources with a vault (POST …/vaults/{vault_id}/addresources)",
            inputs: INPUTS,
            outputs: &["add_resource_ids", "vault_id"],
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
                resources,
            } = decode(input)?;
            if resources.is_empty() {
                return Err(StepFailure::Input(
                    "`resources` must list at least one resource".into(),
                ));
            }
            let wanted: Vec<String> = resources.iter().map(|r| r.id.clone()).collect();
            let request = VaultAddResourceReq { resources };
            let body = json!({ "vault_id": vault_id, "body": request });
            let client = ctx.client;
            let (vault, wanted_ref) = (&vault_id, &wanted);
            apply_once(
                &ctx,
                "add_resources",
                &body,
                |_since| async move {
                    let current = client.show_vault(vault).await?;
                    let all_there = wanted_ref
                        .iter()
                        .all(|id| current.resources.iter().any(|r| &r.id == id));
                    Ok(all_there
                        .then(|| json!({ "add_resource_ids": wanted_ref, "vault_id": vault })))
                },
                || async {
                    let response = client.add_resources(vault, &request).await?;
                    Ok(json!({ "add_resource_ids": response.add_resource_ids, "vault_id": vault }))
                },
            )
            .await
        })
    }

    fn summary(&self, outputs: &Value) -> Option<String> {
        let ids = outputs.get("add_resource_ids")?.as_array()?;
        let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
        Some(format!("associated {}", ids.join(", ")))
    }

    fn describe_request(&self, input: &Value) -> (&'static str, String, Option<Value>) {
        let vault = input
            .get("vault_id")
            .and_then(Value::as_str)
            .unwrap_or("<vault_id>");
        (
            "POST",
            format!("/vaults/{vault}/addresources"),
            Some(json!({ "resources": input.get("resources").cloned().unwrap_or(Value::Null) })),
        )
    }
}
