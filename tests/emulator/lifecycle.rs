//! Lifecycles derived from timestamps: restore point `protecting → available`, backup
//! `restoring → available`, and what is refused in between.

use std::time::Duration;

use cbrflow::emulator::EmulatorConfig;
use serde_json::json;

use super::{DISKS, Emu, SEED_SERVER, SERVERS, cbr, wait_for};

#[tokio::test]
async fn restore_goes_through_restoring_and_back() {
    let emu = Emu::with(EmulatorConfig {
        backup_seconds: 0.2,
        restore_seconds: 0.3,
        ..EmulatorConfig::default()
    })
    .await;
    let (_, checkpoint) = emu.vault_with_checkpoint("restore", SEED_SERVER).await;
    let checkpoint_id = checkpoint["id"].as_str().unwrap();
    let list = emu
        .get(&cbr(&format!("/backups?checkpoint_id={checkpoint_id}")))
        .await;
    let backup_id = list.ok(200)["backups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let backup_path = cbr(&format!("/backups/{backup_id}"));
    let restore = cbr(&format!("/backups/{backup_id}/restore"));

    // Not restorable (nor deletable) while it is still being made.
    emu.post(&restore, json!({"restore": {"server_id": SEED_SERVER}}))
        .await
        .error(400, "BackupService.2005");
    emu.delete(&backup_path)
        .await
        .error(400, "BackupService.6201");

    wait_for(
        &emu,
        &backup_path,
        "/backup/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    emu.post(&restore, json!({}))
        .await
        .error(400, "BackupService.9900");
    emu.post(&restore, json!({"restore": {"server_id": DISKS[0]}}))
        .await
        .error(404, "BackupService.7100");
    emu.post(&restore, json!({"restore": {"server_id": SEED_SERVER, "mappings": [{"backup_id": "x", "volume_id": SERVERS[0]}]}}))
        .await
        .error(404, "BackupService.7000");

    let reply = emu
        .post(
            &restore,
            json!({"restore": {"server_id": SEED_SERVER, "power_on": true}}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert!(
        reply.text.is_empty(),
        "restore answers with an empty body: {}",
        reply.text
    );
    assert!(reply.headers.contains_key("x-request-id"));
    let shown = emu.get(&backup_path).await;
    assert_eq!(shown.ok(200)["backup"]["status"], "restoring");
    emu.post(&restore, json!({"restore": {}}))
        .await
        .error(400, "BackupService.2005");
    emu.delete(&backup_path)
        .await
        .error(400, "BackupService.6201");

    let done = wait_for(
        &emu,
        &backup_path,
        "/backup/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    assert_ne!(done["backup"]["updated_at"], done["backup"]["created_at"]);
    // Restorable again; then deletable, which also removes the emptied restore point.
    assert_eq!(emu.post(&restore, json!({"restore": {}})).await.status, 202);
    wait_for(
        &emu,
        &backup_path,
        "/backup/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    let reply = emu.delete(&backup_path).await;
    assert_eq!(reply.status, 204);
    emu.get(&backup_path).await.error(404, "BackupService.6200");
    emu.get(&cbr(&format!("/checkpoints/{checkpoint_id}")))
        .await
        .error(404, "BackupService.6217");
}

#[tokio::test]
async fn checkpoint_status_waits_for_the_backup_duration() {
    let emu = Emu::with(EmulatorConfig {
        backup_seconds: 0.5,
        ..EmulatorConfig::default()
    })
    .await;
    let (_, checkpoint) = emu.vault_with_checkpoint("slow", SEED_SERVER).await;
    let path = cbr(&format!(
        "/checkpoints/{}",
        checkpoint["id"].as_str().unwrap()
    ));
    let started = std::time::Instant::now();
    wait_for(
        &emu,
        &path,
        "/checkpoint/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "available after only {waited:?}"
    );
}

#[tokio::test]
async fn zero_backup_seconds_are_available_at_once() {
    let emu = Emu::with(EmulatorConfig {
        backup_seconds: 0.0,
        ..EmulatorConfig::default()
    })
    .await;
    let (_, checkpoint) = emu.vault_with_checkpoint("instant", SEED_SERVER).await;
    let shown = emu
        .get(&cbr(&format!(
            "/checkpoints/{}",
            checkpoint["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(shown.ok(200)["checkpoint"]["status"], "available");
}
