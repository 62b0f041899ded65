//! What the emulated service stores: vaults, restore points (checkpoints), backups and
//! policies, as persisted in the data file. Lifecycle statuses are never stored; they are
//! derived from timestamps at read time, so they advance across restarts without timers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VaultRecord {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) billing: BillingRecord,
    pub(crate) resources: Vec<VaultResource>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) enterprise_project_id: String,
    pub(crate) auto_bind: bool,
    pub(crate) bind_rules: Map<String, Value>,
    pub(crate) auto_expand: Option<bool>,
    pub(crate) smn_notify: Option<bool>,
    pub(crate) threshold: Option<i64>,
    pub(crate) locked: Option<bool>,
    pub(crate) backup_name_prefix: Option<String>,
}

/// A vault's billing (capacity and kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BillingRecord {
    pub(crate) cloud_type: String,
    pub(crate) consistent_level: String,
    pub(crate) object_type: String,
    pub(crate) protect_type: String,
    pub(crate) charging_mode: String,
    pub(crate) size: i64,
    pub(crate) is_multi_az: Option<bool>,
}

impl BillingRecord {
    /// The service's `spec_code` for this kind of vault.
    pub(crate) fn spec_code(&self) -> &'static str {
        if self.protect_type == "replication" {
            return "vault.replication.server.normal";
        }
        if self.cloud_type == "hybrid" || self.object_type == "vmware" {
            return "vault.hybrid.server.normal";
        }
        match self.object_type.as_str() {
            "disk" => "vault.backup.volume.normal",
            "turbo" => "vault.backup.turbo.normal",
            "rds" => "vault.backup.database.normal",
            _ => "vault.backup.server.normal",
        }
    }

    /// The backup provider of this kind of vault.
    pub(crate) fn provider_id(&self) -> &'static str {
        match self.object_type.as_str() {
            "disk" => provider_for_resource("OS::Cinder::Volume"),
            "turbo" => provider_for_resource("OS::Sfs::Turbo"),
            "vmware" => "a13639de-00be-4e94-af30-26912d75e4a2",
            _ => provider_for_resource("OS::Nova::Server"),
        }
    }
}

/// The backup provider id for a resource type.
pub(crate) fn provider_for_resource(kind: &str) -> &'static str {
    match kind {
        "OS::Cinder::Volume" => "d1603440-187d-4516-af25-121250c7cc97",
        "OS::Sfs::Turbo" => "3f3c3220-245c-4805-b811-758870015881",
        _ => "0daac4c5-6707-4851-97ba-169e36266b66",
    }
}

/// A resource associated with a vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VaultResource {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) size: u64,
    pub(crate) extra_info: Option<Value>,
}

/// A key/value tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tag {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// A restore point: one backup run over some of a vault's resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointRecord {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) vault_id: String,
    pub(crate) vault_name: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) created_at: DateTime<Utc>,
    /// When the backups finish; `protecting` before, `available` from then on.
    pub(crate) ready_at: DateTime<Utc>,
    pub(crate) retention_days: Option<i64>,
    pub(crate) resources: Vec<CheckpointResource>,
}

impl CheckpointRecord {
    /// The status at `now`.
    pub(crate) fn status(&self, now: DateTime<Utc>) -> &'static str {
        if now < self.ready_at {
            "protecting"
        } else {
            "available"
        }
    }
}

/// A resource as captured by a restore point when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CheckpointResource {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) size: u64,
    /// Backups of the resource in the vault before this one.
    pub(crate) backup_count: usize,
}

/// The backup of one resource, made by a restore point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BackupRecord {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) checkpoint_id: String,
    pub(crate) vault_id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) resource_id: String,
    pub(crate) resource_name: String,
    pub(crate) resource_type: String,
    pub(crate) resource_size: u64,
    pub(crate) resource_az: String,
    pub(crate) created_at: DateTime<Utc>,
    /// When the backup finishes (`protecting` until then).
    pub(crate) ready_at: DateTime<Utc>,
    pub(crate) expired_at: Option<DateTime<Utc>>,
    pub(crate) incremental: bool,
    pub(crate) auto_trigger: bool,
    /// The latest restore from this backup.
    pub(crate) restore: Option<RestoreRecord>,
}

/// A restore from a backup: `restoring` from `started_at` until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RestoreRecord {
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) until: DateTime<Utc>,
    pub(crate) target_id: String,
}

impl BackupRecord {
    /// The status at `now`: `protecting` until ready, `restoring` during a restore, else
    /// `available`.
    pub(crate) fn status(&self, now: DateTime<Utc>) -> &'static str {
        if now < self.ready_at {
            "protecting"
        } else if self.restore.as_ref().is_some_and(|r| now < r.until) {
            "restoring"
        } else {
            "available"
        }
    }

    /// The last time the backup changed as seen at `now`.
    pub(crate) fn updated_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut updated = self.created_at;
        if now >= self.ready_at {
            updated = self.ready_at;
        }
        if let Some(restore) = &self.restore {
            updated = updated.max(if now >= restore.until {
                restore.until
            } else {
                restore.started_at
            });
        }
        updated
    }
}

/// A backup or replication policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    pub(crate) operation_type: String,
    pub(crate) operation_definition: Map<String, Value>,
    pub(crate) trigger_id: String,
    pub(crate) pattern: Vec<String>,
    pub(crate) start_window_minutes: Option<i64>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) associated_vaults: Vec<AssociatedVault>,
}

/// A vault a policy is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AssociatedVault {
    pub(crate) vault_id: String,
    pub(crate) destination_vault_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_600_000_000 + seconds, 0).unwrap()
    }

    fn backup() -> BackupRecord {
        BackupRecord {
            id: "b".into(),
            project_id: "p".into(),
            checkpoint_id: "c".into(),
            vault_id: "v".into(),
            name: "n".into(),
            description: String::new(),
            resource_id: "r".into(),
            resource_name: "r".into(),
            resource_type: "OS::Nova::Server".into(),
            resource_size: 40,
            resource_az: "eu-de-01".into(),
            created_at: at(0),
            ready_at: at(3),
            expired_at: None,
            incremental: false,
            auto_trigger: false,
            restore: None,
        }
    }

    #[test]
    fn checkpoint_status_follows_the_clock() {
        let checkpoint = CheckpointRecord {
            id: "c".into(),
            project_id: "p".into(),
            vault_id: "v".into(),
            vault_name: "v".into(),
            name: "n".into(),
            description: String::new(),
            created_at: at(0),
            ready_at: at(3),
            retention_days: None,
            resources: vec![],
        };
        assert_eq!(checkpoint.status(at(0)), "protecting");
        assert_eq!(
            checkpoint.status(at(3) - TimeDelta::microseconds(1)),
            "protecting"
        );
        assert_eq!(checkpoint.status(at(3)), "available");
        assert_eq!(checkpoint.status(at(1000)), "available");
    }

    #[test]
    fn backup_status_goes_through_restoring_and_back() {
        let mut b = backup();
        assert_eq!(b.status(at(1)), "protecting");
        assert_eq!(b.updated_at(at(1)), at(0));
        assert_eq!(b.status(at(5)), "available");
        assert_eq!(b.updated_at(at(5)), at(3));
        b.restore = Some(RestoreRecord {
            started_at: at(10),
            until: at(12),
            target_id: "r".into(),
        });
        assert_eq!(b.status(at(11)), "restoring");
        assert_eq!(b.updated_at(at(11)), at(10));
        assert_eq!(b.status(at(12)), "available");
        assert_eq!(b.updated_at(at(13)), at(12));
    }

    #[test]
    fn spec_codes_and_providers_follow_the_object_type() {
        let mut billing = BillingRecord {
            cloud_type: "public".into(),
            consistent_level: "crash_consistent".into(),
            object_type: "server".into(),
            protect_type: "backup".into(),
            charging_mode: "post_paid".into(),
            size: 200,
            is_multi_az: None,
        };
        assert_eq!(billing.spec_code(), "vault.backup.server.normal");
        assert_eq!(
            billing.provider_id(),
            "0daac4c5-6707-4851-97ba-169e36266b66"
        );
        billing.object_type = "disk".into();
        assert_eq!(billing.spec_code(), "vault.backup.volume.normal");
        assert_eq!(
            billing.provider_id(),
            "d1603440-187d-4516-af25-121250c7cc97"
        );
        billing.object_type = "turbo".into();
        assert_eq!(billing.spec_code(), "vault.backup.turbo.normal");
        billing.protect_type = "replication".into();
        assert_eq!(billing.spec_code(), "vault.replication.server.normal");
    }
}
