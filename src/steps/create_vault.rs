//! `create_vault`: POST /v3/{project_id}/vaults. Outputs: the vault object.
//!
//! Reconciliation looks the vault up by name and adopts one created at or after the intent.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    BoxFuture, StepContext, StepFailure, StepType, apply_once, created_since, decode, encode,
};
use crate::cbr::client::VaultQuery;
use crate::cbr::wire::{
    CHARGING_MODES, CLOUD_TYPES, CONSISTENT_LEVELS, MAX_VAULT_SIZE, OBJECT_TYPES, PROTECT_TYPES,
    RESOURCE_TYPES, VaultCreate, VaultCreateReq,
};
use crate::cbr::{CbrClient, CbrError};
use crate::plan::{FieldKind as K, FieldSpec as F, StepSchema};

pub(super) struct CreateVault;

const INPUTS: &[F] = &[
    F::new("name", true, K::String).name(64),
    F::new("description", false, K::String),
    F::new("billing", true, K::Object),
    F::new("billing.cloud_type", false, K::String).one_of(CLOUD_TYPES),
    F::new("billing.consistent_level", true, K::String).one_of(CONSISTENT_LEVELS),
    F::new("billing.object_type", true, K::String).one_of(OBJECT_TYPES),
    F::new("billing.protect_type", true, K::String).one_of(PROTECT_TYPES),
    F::new("billing.size", true, K::Integer).range(1, MAX_VAULT_SIZE),
    F::new("billing.charging_mode", false, K::String).one_of(CHARGING_MODES),
    F::new("billing.period_type", false, K::String),
    F::new("billing.period_num", false, K::Integer),
    F::new("billing.is_auto_renew", false, K::Bool),
    F::new("billing.is_auto_pay", false, K::Bool),
    F::new("billing.console_url", false, K::String),
    F::new("billing.is_multi_az", false, K::Bool),
    F::new("resources", true, K::List),
    F::new("resources[].id", true, K::String),
    F::new("resources[].type", true, K::String).one_of(RESOURCE_TYPES),
    F::new("resources[].name", false, K::String),
    F::new("resources[].extra_info", false, K::Any),
    F::new("tags", false, K::Any),
    F::new("enterprise_project_id", false, K::String),
    F::new("backup_policy_id", false, K::String),
    F::new("auto_bind", false, K::Bool),
    F::new("bind_rules", false, K::Any),
    F::new("auto_expand", false, K::Bool),
    F::new("threshold", false, K::Integer),
    F::new("smn_notify", false, K::Bool),
    F::new("backup_name_prefix", false, K::String),
    F::new("demand_billing", false, K::Bool),
    F::new("sys_lock_source_service", false, K::String),
    F::new("locked", false, K::Bool),
    F::new("availability_zone", false, K::String),
];

const OUTPUTS: &[&str] = &[
    "id",
    "name",
    "description",
    "billing",
    "resources",
    "project_id",
    "provider_id",
    "created_at",
    "tags",
    "enterprise_project_id",
    "auto_bind",
    "bind_rules",
    "user_id",
    "auto_expand",
    "smn_notify",
    "threshold",
];

impl StepType for CreateVault {
    fn schema(&self) -> StepSchema {
        StepSchema {
            name: "create_vault",
            summary: "create a vault (POST /v3/{project_id}/vaults)",
            inputs: INPUTS,
            outputs: OUTPUTS,
        }
    }

    fn run<'a>(
        &'a self,
        ctx: StepContext<'a>,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, StepFailure>> {
        Box::pin(async move {
            let vault: VaultCreate = decode(input)?;
            let name = vault.name.clone();
            let request = VaultCreateReq { vault };
            let body = encode(&request)?;
            let client = ctx.client;
            apply_once(
                &ctx,
                "create_vault",
                &body,
                |since| find_vault(client, &name, since),
                || async {
                    client
                        .create_vault(&request)
                        .await
                        .and_then(|v| to_value(&v))
                },
            )
            .await
        })
    }

    fn summary(&self, outputs: &Value) -> Option<String> {
        let id = outputs.get("id")?.as_str()?;
        let name = outputs.get("name").and_then(Value::as_str).unwrap_or("?");
        Some(format!("vault {id} ({name})"))
    }

    fn describe_request(&self, input: &Value) -> (&'static str, String, Option<Value>) {
        (
            "POST",
            "/vaults".to_owned(),
            Some(serde_json::json!({ "vault": input })),
        )
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, CbrError> {
    serde_json::to_value(v).map_err(|e| CbrError::Decode {
        status: 200,
        operation: "create_vault",
        message: e.to_string(),
    })
}

/// The vault named `name` created at or after `since` (the oldest such), if any.
async fn find_vault(
    client: &CbrClient,
    name: &str,
    since: DateTime<Utc>,
) -> Result<Option<Value>, StepFailure> {
    let mut offset = 0;
    let mut found = Vec::new();
    loop {
        let page = client
            .list_vaults(&VaultQuery {
                name: Some(name.to_owned()),
                limit: Some(100),
                offset: Some(offset),
            })
            .await?;
        let n = page.vaults.len();
        found.extend(
            page.vaults
                .into_iter()
                .filter(|v| v.name == name && created_since(v.created_at.as_deref(), since)),
        );
        if n < 100 {
            break;
        }
        offset += 100;
    }
    found.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    match found.into_iter().next() {
        Some(v) => Ok(Some(encode(&v)?)),
        None => Ok(None),
    }
}
