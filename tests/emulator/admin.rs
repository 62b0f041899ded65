//! Administrative routes: the request log, the state dump, the inventory and reset.

use serde_json::json;

use super::{Emu, PROJECT, SEED_SERVER, cbr, vault_body};

#[tokio::test]
async fn the_request_log_records_cbr_requests_in_order() {
    let emu = Emu::start().await;
    emu.get(&cbr("/vaults?limit=5")).await.ok(200);
    emu.post(&cbr("/vaults"), vault_body("logged", "server", json!([])))
        .await
        .ok(200);
    emu.get(&cbr("/vaults/nope"))
        .await
        .error(404, "BackupService.6105");
    // Administrative requests are not logged.
    emu.get("/_emulator/state").await.ok(200);

    let log = emu.requests().await;
    assert_eq!(log.len(), 3, "{log:?}");
    let summary: Vec<(String, String, u64)> = log
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET".to_owned(), cbr("/vaults"), 200),
            ("POST".to_owned(), cbr("/vaults"), 200),
            ("GET".to_owned(), cbr("/vaults/nope"), 404),
        ]
    );
    assert_eq!(log[0]["query"], "limit=5");
    assert_eq!(log[1]["query"], serde_json::Value::Null);
    let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(
        log.iter()
            .all(|e| e["fault"] == false && e["time"].is_string())
    );

    let since = emu.get("/_emulator/requests?since=2").await;
    let since = since.ok(200).as_array().unwrap().clone();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0]["seq"], 3);

    assert_eq!(emu.delete("/_emulator/requests").await.status, 204);
    assert!(emu.requests().await.is_empty());
    emu.get(&cbr("/vaults")).await.ok(200);
    assert_eq!(emu.requests().await.len(), 1);
}

#[tokio::test]
async fn request_ids_are_unique_and_logged() {
    let emu = Emu::start().await;
    let first = emu.get(&cbr("/vaults")).await;
    let second = emu.get(&cbr("/vaults")).await;
    let a = first.headers["x-request-id"].to_str().unwrap().to_owned();
    let b = second.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(a, b);
    assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    let log = emu.requests().await;
    assert_eq!(log[0]["request_id"], json!(a));
}

#[tokio::test]
async fn reset_clears_data_faults_and_log() {
    let emu = Emu::start().await;
    emu.vault_with_checkpoint("gone", SEED_SERVER).await;
    emu.add_faults(json!({"path": "/v3/*/policies", "status": 500}))
        .await;
    assert_eq!(emu.post("/_emulator/reset", json!({})).await.status, 204);
    let state = emu.get("/_emulator/state").await;
    assert_eq!(state.ok(200), &json!({"projects": {}}));
    assert!(emu.requests().await.is_empty());
    assert_eq!(emu.get("/_emulator/faults").await.ok(200), &json!([]));
    // The server is free to be associated again.
    emu.create_vault(
        "again",
        "server",
        json!([{"id": SEED_SERVER, "type": "OS::Nova::Server"}]),
    )
    .await;
}

#[tokio::test]
async fn state_dump_lists_everything_per_project() {
    let emu = Emu::start().await;
    let (vault_id, checkpoint) = emu.vault_with_checkpoint("dumped", SEED_SERVER).await;
    emu.post("/v3/p2/vaults", vault_body("other", "disk", json!([])))
        .await
        .ok(200);
    let all = emu.get("/_emulator/state").await;
    let projects = all.ok(200)["projects"].as_object().unwrap();
    assert_eq!(projects.len(), 2);
    let mine = &projects[PROJECT];
    assert_eq!(mine["vaults"][0]["id"], json!(vault_id));
    assert_eq!(mine["checkpoints"][0]["id"], checkpoint["id"]);
    assert_eq!(mine["backups"].as_array().unwrap().len(), 1);
    assert_eq!(mine["policies"], json!([]));
    let only = emu.get("/_emulator/state?project_id=p2").await;
    assert_eq!(only.ok(200)["projects"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn inventory_and_unknown_admin_routes() {
    let emu = Emu::start().await;
    let inventory = emu.get("/_emulator/inventory").await;
    let items = inventory.ok(200).as_array().unwrap().clone();
    assert!(
        items
            .iter()
            .any(|i| i["id"] == SEED_SERVER && i["name"] == "ecs-9f93-0002")
    );
    assert!(items.len() >= 15);
    assert_eq!(emu.get("/_emulator/nothing").await.status, 404);
    assert!(emu.requests().await.is_empty());
}
