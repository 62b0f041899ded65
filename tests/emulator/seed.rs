//! The seed's four calls (reference/seed-cbr_04_0026.rst) with its request bodies; the
//! responses must have every key the seed's responses have, with the same fixed values.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Emu, PROJECT, SEED_SERVER, cbr, wait_for};

/// Asserts that every key of `expected` (recursively, first element of lists) is in `actual`.
#[track_caller]
fn assert_has_keys(expected: &Value, actual: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let child = format!("{at}.{key}");
                let Some(found) = a.get(key) else {
                    panic!("missing key {child} in {actual}")
                };
                assert_has_keys(value, found, &child);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e), Some(a)) = (e.first(), a.first()) {
                assert_has_keys(e, a, &format!("{at}[0]"));
            }
        }
        _ => {}
    }
}

/// The wire timestamp format: `2020-08-17T03:51:24.678916`.
#[track_caller]
fn assert_wire_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert_eq!(text.len(), 26, "{text}");
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6f")
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

#[tokio::test]
async fn seed_workflow_matches_the_documented_responses() {
    let emu = Emu::start().await;

    // 1. Create a vault.
    let reply = emu
        .post(
            &format!("/v3/{PROJECT}/vaults"),
            json!({"vault": {"billing": {"cloud_type": "public", "consistent_level": "crash_consistent",
                "object_type": "server", "protect_type": "backup", "size": 200},
                "name": "my_vault", "resources": []}}),
        )
        .await;
    let body = reply.ok(200).clone();
    let seed_vault = json!({"vault": {"id": "", "name": "my_vault", "description": null, "resources": [],
        "provider_id": "", "created_at": "", "project_id": "", "enterprise_project_id": "0",
        "auto_bind": false, "bind_rules": {}, "user_id": "",
        "billing": {"allocated": 0, "cloud_type": "public", "consistent_level": "crash_consistent",
            "frozen_scene": null, "charging_mode": "post_paid", "order_id": null, "product_id": null,
            "protect_type": "backup", "object_type": "server", "spec_code": "vault.backup.server.normal",
            "used": 0, "storage_unit": null, "status": "available", "size": 200},
        "tags": []}});
    assert_has_keys(&seed_vault, &body, "");
    let vault = &body["vault"];
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&vault_id).is_ok_and(|u| u.get_version_num() == 4),
        "{vault_id}"
    );
    assert_eq!(vault["provider_id"], "0daac4c5-6707-4851-97ba-169e36266b66");
    assert_eq!(vault["project_id"], PROJECT);
    assert_eq!(vault["billing"], seed_vault["vault"]["billing"]);
    for key in [
        "name",
        "description",
        "resources",
        "enterprise_project_id",
        "auto_bind",
        "bind_rules",
        "tags",
    ] {
        assert_eq!(vault[key], seed_vault["vault"][key], "{key}");
    }
    assert_wire_time(&vault["created_at"]);

    // 2. Associate the server.
    let reply = emu
        .post(
            &cbr(&format!("/vaults/{vault_id}/addresources")),
            json!({"resources": [{"id": SEED_SERVER, "type": "OS::Nova::Server", "name": "server-4690-0002"}]}),
        )
        .await;
    assert_eq!(reply.ok(200), &json!({"add_resource_ids": [SEED_SERVER]}));

    // 3. Create a restore point.
    let reply = emu
        .post(
            &cbr("/checkpoints"),
            json!({"checkpoint": {"parameters": {"auto_trigger": false, "description": "backupauto",
                "incremental": true, "name": "backup_auto", "resources": [SEED_SERVER]},
                "vault_id": vault_id}}),
        )
        .await;
    let checkpoint = reply.ok(200)["checkpoint"].clone();
    assert_eq!(checkpoint["status"], "protecting");
    assert_eq!(checkpoint["project_id"], PROJECT);
    assert_wire_time(&checkpoint["created_at"]);
    assert_eq!(
        checkpoint["vault"],
        json!({"id": vault_id, "name": "my_vault", "resources": [{"id": SEED_SERVER,
            "type": "OS::Nova::Server", "name": "ecs-9f93-0002", "extra_info": "{}",
            "resource_size": "40", "backup_size": "0", "backup_count": "0",
            "protect_status": "available"}], "skipped_resources": []})
    );
    assert_eq!(
        checkpoint["extra_info"],
        json!({"name": "backup_auto", "description": "backupauto", "retention_duration": -1})
    );
    let checkpoint_id = checkpoint["id"].as_str().unwrap();

    // 4. Query it until it is available (backup_seconds = 0.2).
    let path = cbr(&format!("/checkpoints/{checkpoint_id}"));
    let first = emu.get(&path).await;
    assert_eq!(first.ok(200)["checkpoint"]["status"], "protecting");
    let shown = wait_for(
        &emu,
        &path,
        "/checkpoint/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    let shown = &shown["checkpoint"];
    assert_eq!(shown["id"], checkpoint_id);
    assert_eq!(shown["project_id"], PROJECT);
    assert_eq!(shown["created_at"], checkpoint["created_at"]);

    // The vault now lists the server with one backup.
    let vault = emu.get(&cbr(&format!("/vaults/{vault_id}"))).await;
    let resource = &vault.ok(200)["vault"]["resources"][0];
    assert_eq!(resource["id"], SEED_SERVER);
    assert_eq!(resource["name"], "ecs-9f93-0002");
    assert_eq!(resource["type"], "OS::Nova::Server");
    assert_eq!(resource["backup_count"], 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn backups_carry_every_required_field() {
    let emu = Emu::start().await;
    let (vault_id, checkpoint) = emu.vault_with_checkpoint("fields", SEED_SERVER).await;
    let list = emu
        .get(&cbr(&format!(
            "/backups?checkpoint_id={}",
            checkpoint["id"].as_str().unwrap()
        )))
        .await;
    let body = list.ok(200);
    assert_eq!(body["count"], 1);
    let backup = &body["backups"][0];
    for key in [
        "checkpoint_id",
        "created_at",
        "description",
        "expired_at",
        "extend_info",
        "id",
        "image_type",
        "name",
        "parent_id",
        "project_id",
        "protected_at",
        "resource_az",
        "resource_id",
        "resource_name",
        "resource_size",
        "resource_type",
        "status",
        "updated_at",
        "vault_id",
        "provider_id",
        "children",
    ] {
        assert!(backup.get(key).is_some(), "backup lacks {key}: {backup}");
    }
    assert_eq!(backup["checkpoint_id"], checkpoint["id"]);
    assert_eq!(backup["vault_id"], json!(vault_id));
    assert_eq!(backup["image_type"], "backup");
    assert_eq!(backup["resource_id"], SEED_SERVER);
    assert_eq!(backup["resource_name"], "ecs-9f93-0002");
    assert_eq!(backup["resource_size"], 40);
    assert_eq!(backup["resource_type"], "OS::Nova::Server");
    assert_eq!(
        backup["provider_id"],
        "0daac4c5-6707-4851-97ba-169e36266b66"
    );
    assert_eq!(backup["name"], "bk_test");
    assert_eq!(backup["status"], "protecting");
    assert_eq!(backup["children"], json!([]));
    assert_wire_time(&backup["created_at"]);
    assert_wire_time(&backup["updated_at"]);
    let shown = emu
        .get(&cbr(&format!(
            "/backups/{}",
            backup["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(shown.ok(200)["backup"]["id"], backup["id"]);
}

#[tokio::test]
async fn disk_vaults_get_the_disk_provider_and_spec() {
    let emu = Emu::start().await;
    let vault = emu
        .create_vault(
            "disks",
            "disk",
            json!([{"id": super::DISKS[0], "type": "OS::Cinder::Volume"}]),
        )
        .await;
    assert_eq!(vault["provider_id"], "d1603440-187d-4516-af25-121250c7cc97");
    assert_eq!(vault["billing"]["spec_code"], "vault.backup.volume.normal");
    assert_eq!(vault["resources"][0]["id"], super::DISKS[0]);
    assert_eq!(vault["resources"][0]["name"], "evs-data-0001");
    assert_eq!(vault["resources"][0]["size"], 100);
}
