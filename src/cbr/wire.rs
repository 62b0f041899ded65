//! Wire types of the CBR v3 API (after the official SDK's models, see cbr-models.md).
//!
//! Requests are typed so that a malformed step input fails before it is sent. Responses keep
//! the fields cbrflow uses typed and everything else in `extra`, so that unknown or loosely
//! typed fields (the service returns `"40"` where the schema says int, and vice versa) never
//! break parsing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Resource types the service knows.
pub const RESOURCE_TYPES: &[&str] = &[
    "OS::Nova::Server",
    "OS::Cinder::Volume",
    "OS::Ironic::BareMetalServer",
    "OS::Native::Server",
    "OS::Sfs::Turbo",
    "OS::Workspace::DesktopV2",
];
/// `billing.object_type` values.
pub const OBJECT_TYPES: &[&str] = &[
    "server",
    "disk",
    "turbo",
    "workspace",
    "vmware",
    "rds",
    "file",
];
/// `billing.protect_type` values.
pub const PROTECT_TYPES: &[&str] = &["backup", "replication"];
/// `billing.consistent_level` values.
pub const CONSISTENT_LEVELS: &[&str] = &["crash_consistent", "app_consistent"];
/// `billing.cloud_type` values.
pub const CLOUD_TYPES: &[&str] = &["public", "hybrid"];
/// `billing.charging_mode` values.
pub const CHARGING_MODES: &[&str] = &["post_paid", "pre_paid"];
/// Policy `operation_type` values.
pub const OPERATION_TYPES: &[&str] = &["backup", "replication"];
/// Largest vault capacity in GB.
pub const MAX_VAULT_SIZE: i64 = 10_485_760;

/// Body of `POST /v3/{project_id}/vaults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultCreateReq {
    /// The vault to create.
    pub vault: VaultCreate,
}

/// A vault to create (`VaultCreate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultCreate {
    /// Vault name: 1–64 letters, digits, `_`, `-`.
    pub name: String,
    /// Billing parameters.
    pub billing: BillingCreate,
    /// Resources to associate at creation.
    #[serde(default)]
    pub resources: Vec<ResourceCreate>,
    /// Any other optional field of `VaultCreate` (description, tags, auto_bind, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Billing parameters of a new vault (`BillingCreate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BillingCreate {
    /// `public` or `hybrid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_type: Option<String>,
    /// `crash_consistent` or `app_consistent`.
    pub consistent_level: String,
    /// `server`, `disk`, `turbo`, …
    pub object_type: String,
    /// `backup` or `replication`.
    pub protect_type: String,
    /// Capacity in GB.
    pub size: i64,
    /// Any other optional billing field (charging_mode, period_type, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A resource to associate (`ResourceCreate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceCreate {
    /// Resource id (ECS id, EVS id, …).
    pub id: String,
    /// Resource type, e.g. `OS::Nova::Server`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Volumes to include or exclude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_info: Option<Value>,
}

/// Body of `POST /v3/{project_id}/vaults/{vault_id}/addresources`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultAddResourceReq {
    /// Resources to associate.
    pub resources: Vec<ResourceCreate>,
}

/// Response of addresources.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddResourcesResponse {
    /// Ids of the resources added.
    #[serde(default)]
    pub add_resource_ids: Vec<String>,
}

/// Body of `POST /v3/{project_id}/checkpoints`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultBackupReq {
    /// The backup to make.
    pub checkpoint: VaultBackup,
}

/// A restore point to create (`VaultBackup`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultBackup {
    /// Vault to back up.
    pub vault_id: String,
    /// Backup parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<CheckpointParam>,
}

/// Parameters of a restore point (`CheckpointParam`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CheckpointParam {
    /// Whether the backup was triggered automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_trigger: Option<bool>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Incremental backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<bool>,
    /// Backup name: 1–64 letters, digits, `_`, `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ids of the vault's resources to back up (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Any other optional field (resource_details, policy_id, retention_duration_days).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A vault as returned by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vault {
    /// Vault id.
    pub id: String,
    /// Vault name.
    pub name: String,
    /// Associated resources.
    #[serde(default)]
    pub resources: Vec<VaultResource>,
    /// Creation time as the service formats it (no zone, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Every other field, as returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A resource of a vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultResource {
    /// Resource id.
    pub id: String,
    /// Resource type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Every other field, as returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"vault": …}`.
#[derive(Debug, Clone, Deserialize)]
pub struct VaultEnvelope {
    /// The vault.
    pub vault: Vault,
}

/// `{"vaults": […], "count": n}`.
#[derive(Debug, Clone, Deserialize)]
pub struct VaultList {
    /// The page of vaults.
    #[serde(default)]
    pub vaults: Vec<Vault>,
    /// Total matching vaults.
    #[serde(default)]
    pub count: Option<i64>,
}

/// A restore point as returned by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Restore point id.
    pub id: String,
    /// `protecting`, `available`, `error`, …
    pub status: String,
    /// Creation time as the service formats it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Every other field, as returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"checkpoint": …}`.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointEnvelope {
    /// The restore point.
    pub checkpoint: Checkpoint,
}

/// A backup (one resource's part of a restore point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// Backup id.
    pub id: String,
    /// Restore point it belongs to.
    #[serde(default)]
    pub checkpoint_id: Option<String>,
    /// Vault it lives in.
    #[serde(default)]
    pub vault_id: Option<String>,
    /// Backup name.
    #[serde(default)]
    pub name: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Every other field, as returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"backups": […], "count": n}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BackupList {
    /// The page of backups.
    #[serde(default)]
    pub backups: Vec<Backup>,
    /// Total matching backups.
    #[serde(default)]
    pub count: Option<i64>,
}

/// The error body of the service: `{"error_code": "BackupService.6103", "error_msg": "…"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    /// Error code.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Message.
    #[serde(default)]
    pub error_msg: Option<String>,
}

/// Parses the service's timestamps (`2020-08-17T03:51:24.678916`, with or without zone or
/// fraction) as UTC.
pub fn parse_timestamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seed_responses_leniently() {
        let body = r#"{"vault": {"id": "ea7b", "name": "my_vault", "description": null,
            "resources": [], "billing": {"size": 200, "used": 0}, "tags": []}}"#;
        let v: VaultEnvelope = serde_json::from_str(body).unwrap();
        assert_eq!(v.vault.id, "ea7b");
        assert_eq!(v.vault.extra["billing"]["size"], 200);
        let body = r#"{"checkpoint": {"id": "d9ce", "status": "available", "vault": null,
            "created_at": "2020-08-17T06:49:06.260790", "extra_info": null}}"#;
        let c: CheckpointEnvelope = serde_json::from_str(body).unwrap();
        assert_eq!(c.checkpoint.status, "available");
    }

    #[test]
    fn timestamps_in_every_observed_format() {
        for t in [
            "2020-08-17T06:49:06.260790",
            "2019-05-10T07:59:12.733+00:00",
            "2020-02-23T01:00:32Z",
            "2020-02-23T01:00:32",
        ] {
            assert!(parse_timestamp(t).is_some(), "{t}");
        }
    }
}
