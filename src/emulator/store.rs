//! The emulated service's data, scoped by project id, and its rendering into the wire
//! format of reference/cbr-models.md (statuses derived from timestamps at `now`).
//!
//! Records live in [`Table`]s: indexed by id, and remembering what changed so that the data
//! file can append the changes ([`Store::take_changes`]) instead of rewriting everything.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::clock::wire_time;
use super::records::{
    BackupRecord, CheckpointRecord, PolicyRecord, VaultRecord, provider_for_resource,
};
use super::table::{Keyed, Table, TableChanges};

/// The user id the emulated IAM reports for every caller (the seed's).
pub(crate) const USER_ID: &str = "aa2999fa5ae640f28926f8fd79188934";

/// All projects' data; this is what the data file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Store {
    /// Format version of the data file.
    pub(crate) version: u32,
    /// Data per project id.
    pub(crate) projects: BTreeMap<String, ProjectData>,
    /// Projects created since the last [`Store::take_changes`].
    #[serde(skip)]
    created: Vec<String>,
}

impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version && self.projects == other.projects
    }
}

impl Default for Store {
    fn default() -> Self {
        Self {
            version: Self::VERSION,
            projects: BTreeMap::new(),
            created: Vec::new(),
        }
    }
}

static EMPTY_PROJECT: LazyLock<ProjectData> = LazyLock::new(ProjectData::default);

/// What changed in the store since the last [`Store::take_changes`]: one line of the data
/// file's journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChangeSet {
    /// Changes per project id (a project created without records has an empty entry).
    pub(crate) projects: BTreeMap<String, ProjectChanges>,
}

/// What changed in one project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProjectChanges {
    #[serde(default, skip_serializing_if = "TableChanges::is_empty")]
    vaults: TableChanges<VaultRecord>,
    #[serde(default, skip_serializing_if = "TableChanges::is_empty")]
    checkpoints: TableChanges<CheckpointRecord>,
    #[serde(default, skip_serializing_if = "TableChanges::is_empty")]
    backups: TableChanges<BackupRecord>,
    #[serde(default, skip_serializing_if = "TableChanges::is_empty")]
    policies: TableChanges<PolicyRecord>,
}

impl ProjectChanges {
    fn is_empty(&self) -> bool {
        self.vaults.is_empty()
            && self.checkpoints.is_empty()
            && self.backups.is_empty()
            && self.policies.is_empty()
    }
}

impl Keyed for VaultRecord {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Keyed for CheckpointRecord {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Keyed for BackupRecord {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Keyed for PolicyRecord {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Store {
    /// Current data-file format version.
    pub(crate) const VERSION: u32 = 1;

    /// The project's data (empty if it has none).
    pub(crate) fn project(&self, project_id: &str) -> &ProjectData {
        self.projects.get(project_id).unwrap_or(&EMPTY_PROJECT)
    }

    /// The project's data, created on first use.
    pub(crate) fn project_mut(&mut self, project_id: &str) -> &mut ProjectData {
        if !self.projects.contains_key(project_id) {
            self.created.push(project_id.to_owned());
        }
        self.projects.entry(project_id.to_owned()).or_default()
    }

    /// What changed since the last call (and forgets it); empty when nothing did.
    pub(crate) fn take_changes(&mut self) -> ChangeSet {
        let mut changes = ChangeSet::default();
        for id in std::mem::take(&mut self.created) {
            changes.projects.insert(id, ProjectChanges::default());
        }
        for (id, project) in &mut self.projects {
            let project_changes = ProjectChanges {
                vaults: project.vaults.take_changes(),
                checkpoints: project.checkpoints.take_changes(),
                backups: project.backups.take_changes(),
                policies: project.policies.take_changes(),
            };
            if !project_changes.is_empty() {
                changes.projects.insert(id.clone(), project_changes);
            }
        }
        changes
    }

    /// Forgets the changes recorded so far (a full copy of the store is being saved).
    pub(crate) fn forget_changes(&mut self) {
        self.created.clear();
        for project in self.projects.values_mut() {
            project.vaults.forget_changes();
            project.checkpoints.forget_changes();
            project.backups.forget_changes();
            project.policies.forget_changes();
        }
    }

    /// Applies a change set read back from the data file's journal; applying one twice
    /// changes nothing more.
    pub(crate) fn apply(&mut self, changes: ChangeSet) {
        for (id, c) in changes.projects {
            let project = self.projects.entry(id).or_default();
            project.vaults.apply(c.vaults);
            project.checkpoints.apply(c.checkpoints);
            project.backups.apply(c.backups);
            project.policies.apply(c.policies);
        }
        self.forget_changes();
    }

    /// The dump served by `GET /_emulator/state`, optionally for one project only.
    pub(crate) fn state_json(&self, only: Option<&str>, now: DateTime<Utc>) -> Value {
        let projects: Map<String, Value> = self
            .projects
            .iter()
            .filter(|(id, _)| only.is_none_or(|o| o == id.as_str()))
            .map(|(id, p)| {
                let dump = json!({
                    "vaults": p.vaults.iter().map(|v| p.vault_json(v, now)).collect::<Vec<_>>(),
                    "checkpoints":
                        p.checkpoints.iter().map(|c| p.checkpoint_json(c, now)).collect::<Vec<_>>(),
                    "backups": p.backups.iter().map(|b| backup_json(b, now)).collect::<Vec<_>>(),
                    "policies": p.policies.iter().map(policy_json).collect::<Vec<_>>(),
                });
                (id.clone(), dump)
            })
            .collect();
        json!({ "projects": projects })
    }
}

/// One project's vaults, restore points, backups and policies, in creation order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProjectData {
    pub(crate) vaults: Table<VaultRecord>,
    pub(crate) checkpoints: Table<CheckpointRecord>,
    pub(crate) backups: Table<BackupRecord>,
    pub(crate) policies: Table<PolicyRecord>,
}

impl ProjectData {
    /// The vault with `id`.
    pub(crate) fn vault(&self, id: &str) -> Option<&VaultRecord> {
        self.vaults.get(id)
    }

    /// The vault with `id`, mutably.
    pub(crate) fn vault_mut(&mut self, id: &str) -> Option<&mut VaultRecord> {
        self.vaults.get_mut(id)
    }

    /// The vault `resource_id` is associated with, if any.
    pub(crate) fn vault_holding(&self, resource_id: &str) -> Option<&VaultRecord> {
        self.vaults
            .iter()
            .find(|v| v.resources.iter().any(|r| r.id == resource_id))
    }

    /// The policy with `id`.
    pub(crate) fn policy(&self, id: &str) -> Option<&PolicyRecord> {
        self.policies.get(id)
    }

    /// The policy with `id`, mutably.
    pub(crate) fn policy_mut(&mut self, id: &str) -> Option<&mut PolicyRecord> {
        self.policies.get_mut(id)
    }

    /// Backups of `resource_id` kept in `vault_id`.
    fn backups_of<'a>(
        &'a self,
        vault_id: &'a str,
        resource_id: &'a str,
    ) -> impl Iterator<Item = &'a BackupRecord> + 'a {
        self.backups
            .iter()
            .filter(move |b| b.vault_id == vault_id && b.resource_id == resource_id)
    }

    /// How many backups of `resource_id` the vault holds.
    pub(crate) fn backup_count(&self, vault_id: &str, resource_id: &str) -> usize {
        self.backups_of(vault_id, resource_id).count()
    }

    /// Deletes a vault with its restore points and backups, and detaches its policies.
    pub(crate) fn remove_vault(&mut self, vault_id: &str) -> bool {
        let before = self.vaults.len();
        self.vaults.retain(|v| v.id != vault_id);
        if self.vaults.len() == before {
            return false;
        }
        self.checkpoints.retain(|c| c.vault_id != vault_id);
        self.backups.retain(|b| b.vault_id != vault_id);
        for mut policy in self
            .policies
            .iter_mut()
            .filter(|p| p.associated_vaults.iter().any(|a| a.vault_id == vault_id))
        {
            policy.associated_vaults.retain(|a| a.vault_id != vault_id);
        }
        true
    }

    /// Deletes a backup; a restore point left without backups goes with it.
    pub(crate) fn remove_backup(&mut self, backup_id: &str) -> Option<BackupRecord> {
        let backup = self.backups.remove(backup_id)?;
        if !self
            .backups
            .iter()
            .any(|b| b.checkpoint_id == backup.checkpoint_id)
        {
            self.checkpoints.retain(|c| c.id != backup.checkpoint_id);
        }
        Some(backup)
    }

    /// A vault as the service returns it (`Vault` / `VaultCreateResource`).
    pub(crate) fn vault_json(&self, vault: &VaultRecord, now: DateTime<Utc>) -> Value {
        let resources: Vec<Value> = vault
            .resources
            .iter()
            .map(|r| {
                let backups: Vec<&BackupRecord> = self.backups_of(&vault.id, &r.id).collect();
                let protect_status = if backups.iter().any(|b| b.status(now) == "restoring") {
                    "restoring"
                } else if backups.iter().any(|b| b.status(now) == "protecting") {
                    "protecting"
                } else {
                    "available"
                };
                let mut resource = json!({
                    "id": r.id,
                    "name": r.name,
                    "type": r.kind,
                    "protect_status": protect_status,
                    "size": r.size,
                    "backup_size": 0,
                    "backup_count": backups.len(),
                    "auto_protect": false,
                });
                if let Some(extra) = &r.extra_info {
                    resource["extra_info"] = extra.clone();
                }
                resource
            })
            .collect();
        let billing = &vault.billing;
        let mut billing_json = json!({
            "allocated": 0,
            "cloud_type": billing.cloud_type,
            "consistent_level": billing.consistent_level,
            "frozen_scene": null,
            "charging_mode": billing.charging_mode,
            "order_id": null,
            "product_id": null,
            "protect_type": billing.protect_type,
            "object_type": billing.object_type,
            "spec_code": billing.spec_code(),
            "used": 0,
            "storage_unit": null,
            "status": "available",
            "size": billing.size,
        });
        if let Some(multi_az) = billing.is_multi_az {
            billing_json["is_multi_az"] = json!(multi_az);
        }
        let mut out = json!({
            "id": vault.id,
            "name": vault.name,
            "description": vault.description,
            "resources": resources,
            "provider_id": billing.provider_id(),
            "created_at": wire_time(vault.created_at),
            "project_id": vault.project_id,
            "enterprise_project_id": vault.enterprise_project_id,
            "auto_bind": vault.auto_bind,
            "bind_rules": vault.bind_rules,
            "user_id": USER_ID,
            "billing": billing_json,
            "tags": vault.tags,
        });
        let optional = [
            ("auto_expand", vault.auto_expand.map(Value::from)),
            ("smn_notify", vault.smn_notify.map(Value::from)),
            ("threshold", vault.threshold.map(Value::from)),
            ("locked", vault.locked.map(Value::from)),
            (
                "backup_name_prefix",
                vault.backup_name_prefix.clone().map(Value::from),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                out[key] = value;
            }
        }
        out
    }

    /// A restore point as the service returns it (`CheckpointCreate`).
    pub(crate) fn checkpoint_json(
        &self,
        checkpoint: &CheckpointRecord,
        now: DateTime<Utc>,
    ) -> Value {
        let resources: Vec<Value> = checkpoint
            .resources
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "type": r.kind,
                    "name": r.name,
                    "extra_info": "{}",
                    "resource_size": r.size.to_string(),
                    "backup_size": "0",
                    "backup_count": r.backup_count.to_string(),
                    "protect_status": "available",
                })
            })
            .collect();
        json!({
            "id": checkpoint.id,
            "project_id": checkpoint.project_id,
            "status": checkpoint.status(now),
            "vault": {
                "id": checkpoint.vault_id,
                "name": checkpoint.vault_name,
                "resources": resources,
                "skipped_resources": [],
            },
            "created_at": wire_time(checkpoint.created_at),
            "extra_info": {
                "name": checkpoint.name,
                "description": checkpoint.description,
                "retention_duration": checkpoint.retention_days.unwrap_or(-1),
            },
        })
    }
}

/// A backup as the service returns it (`BackupResp`).
pub(crate) fn backup_json(backup: &BackupRecord, now: DateTime<Utc>) -> Value {
    let is_server = backup.resource_type == "OS::Nova::Server";
    json!({
        "checkpoint_id": backup.checkpoint_id,
        "created_at": wire_time(backup.created_at),
        "description": backup.description,
        "expired_at": backup.expired_at.map(wire_time),
        "extend_info": {
            "auto_trigger": backup.auto_trigger,
            "bootable": is_server,
            "snapshot_id": null,
            "support_lld": false,
            "supported_restore_mode": "backup",
            "os_images_data": [],
            "contain_system_disk": is_server,
            "encrypted": false,
            "system_disk": false,
            "is_multi_az": false,
        },
        "id": backup.id,
        "image_type": "backup",
        "name": backup.name,
        "parent_id": null,
        "project_id": backup.project_id,
        "protected_at": wire_time(backup.created_at),
        "resource_az": backup.resource_az,
        "resource_id": backup.resource_id,
        "resource_name": backup.resource_name,
        "resource_size": backup.resource_size,
        "resource_type": backup.resource_type,
        "status": backup.status(now),
        "updated_at": wire_time(backup.updated_at(now)),
        "vault_id": backup.vault_id,
        "replication_records": [],
        "enterprise_project_id": "0",
        "provider_id": provider_for_resource(&backup.resource_type),
        "children": [],
        "incremental": backup.incremental,
    })
}

/// A policy as the service returns it (`Policy`).
pub(crate) fn policy_json(policy: &PolicyRecord) -> Value {
    let mut properties = json!({
        "pattern": policy.pattern,
        "start_time": policy.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
    });
    if let Some(minutes) = policy.start_window_minutes {
        properties["start_window_minutes"] = json!(minutes);
    }
    let associated: Vec<Value> = policy
        .associated_vaults
        .iter()
        .map(|a| {
            let mut v = json!({ "vault_id": a.vault_id });
            if let Some(dest) = &a.destination_vault_id {
                v["destination_vault_id"] = json!(dest);
            }
            v
        })
        .collect();
    json!({
        "id": policy.id,
        "name": policy.name,
        "enabled": policy.enabled,
        "operation_type": policy.operation_type,
        "operation_definition": policy.operation_definition,
        "trigger": {
            "id": policy.trigger_id,
            "name": "default",
            "type": "time",
            "properties": properties,
        },
        "associated_vaults": associated,
    })
}
