//! The data file: everything survives a restart, statuses keep advancing by their
//! timestamps, writes are private and atomic, bad files are reported by name.

use std::time::Duration;

use cbrflow::emulator::{self, EmulatorConfig, EmulatorError, Inventory};
use serde_json::json;

use super::{Emu, SEED_SERVER, cbr, wait_for};

fn config_with(data_file: &std::path::Path, backup_seconds: f64) -> EmulatorConfig {
    EmulatorConfig {
        data_file: Some(data_file.to_owned()),
        backup_seconds,
        restore_seconds: 0.2,
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn data_survives_a_restart_and_restore_points_complete_by_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emulator.json");

    let emu = Emu::with(config_with(&data, 0.6)).await;
    let (vault_id, checkpoint) = emu.vault_with_checkpoint("kept", SEED_SERVER).await;
    let policy = emu
        .post(
            &cbr("/policies"),
            json!({"policy": {"name": "p", "operation_type": "backup",
            "operation_definition": {"max_backups": 3},
            "trigger": {"properties": {"pattern": ["FREQ=DAILY;BYHOUR=1;BYMINUTE=0"]}}}}),
        )
        .await;
    let policy_id = policy.ok(200)["policy"]["id"].as_str().unwrap().to_owned();
    emu.shutdown().await;
    assert!(data.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "data file mode {mode:o}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files left next to the data file"
    );

    // A restarted emulator (with a much longer backup time) still uses the stored timestamps.
    let emu = Emu::with(config_with(&data, 3600.0)).await;
    let vault = emu.get(&cbr(&format!("/vaults/{vault_id}"))).await;
    assert_eq!(vault.ok(200)["vault"]["resources"][0]["id"], SEED_SERVER);
    let path = cbr(&format!(
        "/checkpoints/{}",
        checkpoint["id"].as_str().unwrap()
    ));
    let shown = wait_for(
        &emu,
        &path,
        "/checkpoint/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(shown["checkpoint"]["created_at"], checkpoint["created_at"]);
    emu.get(&cbr(&format!("/policies/{policy_id}")))
        .await
        .ok(200);
    // Rules survive too: the server is still taken.
    emu.post(
        &cbr("/vaults"),
        super::vault_body(
            "dup",
            "server",
            json!([{"id": SEED_SERVER, "type": "OS::Nova::Server"}]),
        ),
    )
    .await
    .error(400, "BackupService.6103");

    // A reset empties the file as well.
    emu.post("/_emulator/reset", json!({})).await.ok(204);
    emu.shutdown().await;
    let emu = Emu::with(config_with(&data, 0.2)).await;
    assert_eq!(emu.get(&cbr("/vaults")).await.ok(200)["count"], 0);
}

#[tokio::test]
async fn a_missing_file_is_an_empty_cloud_and_failed_requests_are_not_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data.json");
    let emu = Emu::with(config_with(&data, 0.2)).await;
    assert_eq!(emu.get(&cbr("/vaults")).await.ok(200)["count"], 0);
    emu.get(&cbr("/vaults/nope"))
        .await
        .error(404, "BackupService.6105");
    assert!(!data.exists(), "reads and failures must not write");
    emu.create_vault("first", "server", json!([])).await;
    assert!(
        data.exists(),
        "a change must be written before it is answered"
    );
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&data).unwrap()).unwrap();
    assert!(stored.to_string().contains("first"));
}

#[tokio::test]
async fn a_corrupt_data_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("broken.json");
    std::fs::write(&data, "{\"version\": 1, \"projects\": [").unwrap();
    let err = emulator::start("127.0.0.1:0".parse().unwrap(), config_with(&data, 0.2))
        .await
        .expect_err("a corrupt data file must not start");
    assert!(matches!(err, EmulatorError::DataFile { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.json"), "{err}");
}

#[tokio::test]
async fn a_custom_inventory_replaces_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inventory.yaml");
    std::fs::write(
        &file,
        "- id: srv-1\n  name: web-1\n  type: OS::Nova::Server\n  size: 25\n\
         - id: vol-1\n  name: data-1\n  type: OS::Cinder::Volume\n  size: 10\n",
    )
    .unwrap();
    let inventory = Inventory::from_yaml_file(&file).unwrap();
    let emu = Emu::with(EmulatorConfig {
        inventory,
        ..super::fast_config()
    })
    .await;
    let vault = emu
        .create_vault(
            "custom",
            "server",
            json!([{"id": "srv-1", "type": "OS::Nova::Server"}]),
        )
        .await;
    assert_eq!(vault["resources"][0]["name"], "web-1");
    assert_eq!(vault["resources"][0]["size"], 25);
    emu.post(
        &cbr(&format!(
            "/vaults/{}/addresources",
            vault["id"].as_str().unwrap()
        )),
        json!({"resources": [{"id": SEED_SERVER, "type": "OS::Nova::Server"}]}),
    )
    .await
    .error(404, "BackupService.6302");

    std::fs::write(
        &file,
        "- id: srv-1\n  name: web-1\n  type: Nope\n  size: 25\n",
    )
    .unwrap();
    let err = Inventory::from_yaml_file(&file).unwrap_err();
    assert!(matches!(err, EmulatorError::InventoryFile { .. }));
    assert!(err.to_string().contains("inventory.yaml"), "{err}");
}

/// Changes after the first are appended to a journal next to the data file; an emulator that
/// stops without a clean shutdown (as when its process is killed) leaves the journal, and the
/// next one replays it to exactly the same cloud — then folds it into the data file.
#[tokio::test]
async fn a_journal_left_by_an_unclean_stop_replays_to_the_same_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emulator.json");
    let journal = dir.path().join("emulator.json.journal");
    let first = Emu::with(config_with(&data, 0.2)).await;
    let (kept_id, checkpoint) = first.vault_with_checkpoint("kept", SEED_SERVER).await;
    let gone = first.create_vault("gone", "server", json!([])).await;
    let gone_id = gone["id"].as_str().unwrap();
    first
        .post(
            &cbr(&format!("/vaults/{gone_id}/addresources")),
            json!({"resources": [{"id": super::SERVERS[0], "type": "OS::Nova::Server"}]}),
        )
        .await
        .ok(200);
    first
        .put(
            &cbr(&format!("/vaults/{kept_id}")),
            json!({"vault": {"name": "renamed"}}),
        )
        .await
        .ok(200);
    let policy = first
        .post(
            &cbr("/policies"),
            json!({"policy": {"name": "p", "operation_type": "backup",
            "operation_definition": {"max_backups": 3},
            "trigger": {"properties": {"pattern": ["FREQ=DAILY;BYHOUR=1;BYMINUTE=0"]}}}}),
        )
        .await;
    let policy_id = policy.ok(200)["policy"]["id"].as_str().unwrap().to_owned();
    for vault in [&kept_id, gone_id] {
        first
            .post(
                &cbr(&format!("/vaults/{vault}/associatepolicy")),
                json!({"policy_id": policy_id}),
            )
            .await
            .ok(200);
    }
    first
        .delete(&cbr(&format!("/vaults/{gone_id}")))
        .await
        .ok(204);
    let path = cbr(&format!(
        "/checkpoints/{}",
        checkpoint["id"].as_str().unwrap()
    ));
    wait_for(
        &first,
        &path,
        "/checkpoint/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    let before = first.state().await;
    assert!(journal.exists(), "later changes go to the journal");

    // The first emulator is never shut down; a second one starts from what is on disk.
    let second = Emu::with(config_with(&data, 0.2)).await;
    assert_eq!(second.state().await, before);
    assert!(
        !journal.exists(),
        "the journal is folded into the data file at start"
    );
    second.shutdown().await;
    drop(first);
}
