//! The fake servers and disks the emulated cloud knows about. Only resources in the inventory
//! can be associated with a vault; the inventory is the same for every project.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::EmulatorError;
use super::validate::RESOURCE_TYPES;

/// One server, disk or file system of the emulated cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryItem {
    /// Resource id (usually a UUID).
    pub id: String,
    /// Display name, e.g. `ecs-9f93-0002`.
    pub name: String,
    /// Resource type, e.g. `OS::Nova::Server` or `OS::Cinder::Volume`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in GB.
    pub size: u64,
    /// Availability zone; defaults to `eu-de-01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub az: Option<String>,
}

impl InventoryItem {
    /// The availability zone the resource lives in.
    pub fn availability_zone(&self) -> &str {
        self.az.as_deref().unwrap_or(DEFAULT_AZ)
    }
}

const DEFAULT_AZ: &str = "eu-de-01";

/// The resources of the emulated cloud, looked up by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    items: Vec<InventoryItem>,
}

/// The shapes an inventory file may take: a plain list, or `{resources: [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum InventoryFile {
    List(Vec<InventoryItem>),
    Wrapped { resources: Vec<InventoryItem> },
}

impl Inventory {
    /// Builds an inventory, checking that ids are unique, types known and sizes positive.
    pub fn new(items: Vec<InventoryItem>) -> Result<Self, String> {
        let mut seen = HashSet::new();
        for item in &items {
            if item.id.trim().is_empty() {
                return Err(format!("resource `{}` has an empty id", item.name));
            }
            if !seen.insert(item.id.as_str()) {
                return Err(format!("resource id `{}` appears twice", item.id));
            }
            if !RESOURCE_TYPES.contains(&item.kind.as_str()) {
                return Err(format!(
                    "resource `{}` has unknown type `{}` (expected one of {})",
                    item.id,
                    item.kind,
                    RESOURCE_TYPES.join(", ")
                ));
            }
            if item.size == 0 {
                return Err(format!("resource `{}` has size 0", item.id));
            }
        }
        Ok(Self { items })
    }

    /// Reads an inventory from a YAML (or JSON) file: a list of `{id, name, type, size}`.
    pub fn from_yaml_file(path: &Path) -> Result<Self, EmulatorError> {
        let fail = |reason: String| EmulatorError::InventoryFile {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let parsed: InventoryFile =
            serde_saphyr::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let items = match parsed {
            InventoryFile::List(items) | InventoryFile::Wrapped { resources: items } => items,
        };
        Self::new(items).map_err(fail)
    }

    /// The built-in inventory: the seed's server `ecs-9f93-0002`, eleven more servers, four
    /// disks and one SFS Turbo file system.
    pub fn builtin() -> Self {
        let server = |id: &str, name: &str, size| item(id, name, "OS::Nova::Server", size);
        let disk = |id: &str, name: &str, size| item(id, name, "OS::Cinder::Volume", size);
        Self {
            items: vec![
                server("e8cc6bfd-d324-4b88-9109-9fb0ba70676f", "ecs-9f93-0002", 40),
                server("1b2d3f4a-0001-4c5d-8e9f-000000000001", "ecs-web-0001", 40),
                server("1b2d3f4a-0002-4c5d-8e9f-000000000002", "ecs-web-0002", 40),
                server("1b2d3f4a-0003-4c5d-8e9f-000000000003", "ecs-web-0003", 40),
                server("1b2d3f4a-0004-4c5d-8e9f-000000000004", "ecs-app-0001", 80),
                server("1b2d3f4a-0005-4c5d-8e9f-000000000005", "ecs-app-0002", 80),
                server("1b2d3f4a-0006-4c5d-8e9f-000000000006", "ecs-app-0003", 80),
                server("1b2d3f4a-0007-4c5d-8e9f-000000000007", "ecs-db-0001", 100),
                server("1b2d3f4a-0008-4c5d-8e9f-000000000008", "ecs-db-0002", 100),
                server("1b2d3f4a-0009-4c5d-8e9f-000000000009", "ecs-cache-0001", 40),
                server("1b2d3f4a-0010-4c5d-8e9f-000000000010", "ecs-batch-0001", 60),
                server(
                    "1b2d3f4a-0011-4c5d-8e9f-000000000011",
                    "ecs-bastion-0001",
                    20,
                ),
                disk("7c6b5a49-0001-4d3e-9f8a-000000000001", "evs-data-0001", 100),
                disk("7c6b5a49-0002-4d3e-9f8a-000000000002", "evs-data-0002", 200),
                disk("7c6b5a49-0003-4d3e-9f8a-000000000003", "evs-log-0001", 50),
                disk(
                    "7c6b5a49-0004-4d3e-9f8a-000000000004",
                    "evs-archive-0001",
                    500,
                ),
                item(
                    "5e4d3c2b-0001-4a1b-8c9d-000000000001",
                    "sfs-turbo-0001",
                    "OS::Sfs::Turbo",
                    500,
                ),
            ],
        }
    }

    /// The resource with `id`, if the cloud has one.
    pub fn get(&self, id: &str) -> Option<&InventoryItem> {
        self.items.iter().find(|item| item.id == id)
    }

    /// All resources, in file order.
    pub fn items(&self) -> &[InventoryItem] {
        &self.items
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Self::builtin()
    }
}

fn item(id: &str, name: &str, kind: &str, size: u64) -> InventoryItem {
    InventoryItem {
        id: id.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        size,
        az: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_holds_the_seed_server() {
        let inventory = Inventory::builtin();
        let seed = inventory
            .get("e8cc6bfd-d324-4b88-9109-9fb0ba70676f")
            .unwrap();
        assert_eq!(seed.name, "ecs-9f93-0002");
        assert_eq!(seed.kind, "OS::Nova::Server");
        assert_eq!(seed.size, 40);
        let servers = inventory
            .items()
            .iter()
            .filter(|i| i.kind == "OS::Nova::Server")
            .count();
        assert!(servers >= 11, "{servers} servers");
        assert!(
            inventory
                .items()
                .iter()
                .any(|i| i.kind == "OS::Cinder::Volume")
        );
        // The built-in list passes its own checks.
        assert_eq!(
            Inventory::new(inventory.items().to_vec()).unwrap(),
            inventory
        );
    }

    #[test]
    fn rejects_duplicate_ids_and_unknown_types() {
        let a = item("a", "one", "OS::Nova::Server", 1);
        let err = Inventory::new(vec![a.clone(), a.clone()]).unwrap_err();
        assert!(err.contains("appears twice"), "{err}");
        let bad = item("b", "two", "OS::Nova::Toaster", 1);
        assert!(
            Inventory::new(vec![bad])
                .unwrap_err()
                .contains("unknown type")
        );
    }

    #[test]
    fn reads_a_yaml_list_and_names_the_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.yaml");
        std::fs::write(
            &path,
            "- {id: s1, name: one, type: 'OS::Nova::Server', size: 10}\n",
        )
        .unwrap();
        let inventory = Inventory::from_yaml_file(&path).unwrap();
        assert_eq!(inventory.get("s1").unwrap().size, 10);

        std::fs::write(&path, "- {id: s1, name: one}\n").unwrap();
        let err = Inventory::from_yaml_file(&path).unwrap_err().to_string();
        assert!(err.contains("inventory.yaml"), "{err}");
    }
}
