//! List operations: filters, repeated query keys, `limit`/`offset` paging and `count`.

use std::time::Duration;

use serde_json::{Value, json};

use super::{DISKS, Emu, SEED_SERVER, SERVERS, cbr, wait_for};

fn names(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn vault_filters_and_paging() {
    let emu = Emu::start().await;
    let a = emu
        .create_vault(
            "alpha",
            "server",
            json!([{"id": SEED_SERVER, "type": "OS::Nova::Server"}]),
        )
        .await;
    let b = emu.create_vault("beta", "server", json!([])).await;
    emu.create_vault(
        "gamma",
        "disk",
        json!([{"id": DISKS[0], "type": "OS::Cinder::Volume"}]),
    )
    .await;
    emu.create_vault("alpha2", "disk", json!([])).await;

    let all = emu.get(&cbr("/vaults")).await;
    let body = all.ok(200);
    assert_eq!(body["count"], 4);
    assert_eq!(names(body, "vaults"), ["alpha", "beta", "gamma", "alpha2"]);
    assert!(body.get("limit").is_some() && body.get("offset").is_some());

    let page = emu.get(&cbr("/vaults?limit=2&offset=1")).await;
    let body = page.ok(200);
    assert_eq!(names(body, "vaults"), ["beta", "gamma"]);
    assert_eq!(body["count"], 4, "count is the total, not the page size");
    assert_eq!(body["limit"], 2);
    assert_eq!(body["offset"], 1);
    let beyond = emu.get(&cbr("/vaults?offset=10")).await;
    assert_eq!(beyond.ok(200)["vaults"], json!([]));

    let by_type = emu.get(&cbr("/vaults?object_type=disk")).await;
    assert_eq!(names(by_type.ok(200), "vaults"), ["gamma", "alpha2"]);
    let by_name = emu.get(&cbr("/vaults?name=alpha")).await;
    assert_eq!(names(by_name.ok(200), "vaults"), ["alpha", "alpha2"]);
    let by_ids = emu
        .get(&cbr(&format!(
            "/vaults?id={}&id={}",
            a["id"].as_str().unwrap(),
            b["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(names(by_ids.ok(200), "vaults"), ["alpha", "beta"]);
    let by_resource = emu
        .get(&cbr(&format!("/vaults?resource_ids={SEED_SERVER}")))
        .await;
    assert_eq!(names(by_resource.ok(200), "vaults"), ["alpha"]);
    let none = emu.get(&cbr("/vaults?protect_type=replication")).await;
    assert_eq!(none.ok(200)["count"], 0);
    let public = emu
        .get(&cbr("/vaults?cloud_type=public&status=available"))
        .await;
    assert_eq!(public.ok(200)["count"], 4);

    emu.get(&cbr("/vaults?limit=0"))
        .await
        .error(400, "BackupService.9900");
    emu.get(&cbr("/vaults?limit=1001"))
        .await
        .error(400, "BackupService.9900");
    emu.get(&cbr("/vaults?offset=x"))
        .await
        .error(400, "BackupService.9900");
}

#[tokio::test]
async fn backup_filters_and_paging() {
    let emu = Emu::start().await;
    let vault = emu
        .create_vault(
            "many",
            "server",
            json!([{"id": SERVERS[0], "type": "OS::Nova::Server"}, {"id": SERVERS[1], "type": "OS::Nova::Server"}]),
        )
        .await;
    let vault_id = vault["id"].as_str().unwrap();
    let mut checkpoints = Vec::new();
    for name in ["first", "second"] {
        let reply = emu
            .post(
                &cbr("/checkpoints"),
                json!({"checkpoint": {"vault_id": vault_id, "parameters": {"name": name}}}),
            )
            .await;
        checkpoints.push(
            reply.ok(200)["checkpoint"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other = emu
        .create_vault(
            "other",
            "server",
            json!([{"id": SERVERS[2], "type": "OS::Nova::Server"}]),
        )
        .await;
    emu.post(
        &cbr("/checkpoints"),
        json!({"checkpoint": {"vault_id": other["id"], "parameters": {"name": "third"}}}),
    )
    .await
    .ok(200);

    let all = emu.get(&cbr("/backups")).await;
    let body = all.ok(200);
    assert_eq!(body["count"], 5);
    assert_eq!(names(body, "backups")[0], "third", "newest first");

    let by_vault = emu
        .get(&cbr(&format!("/backups?vault_id={vault_id}")))
        .await;
    assert_eq!(by_vault.ok(200)["count"], 4);
    let by_checkpoint = emu
        .get(&cbr(&format!("/backups?checkpoint_id={}", checkpoints[0])))
        .await;
    let body = by_checkpoint.ok(200);
    assert_eq!(body["count"], 2);
    assert!(
        body["backups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["checkpoint_id"] == json!(checkpoints[0]))
    );
    let by_resource = emu
        .get(&cbr(&format!("/backups?resource_id={}", SERVERS[1])))
        .await;
    let body = by_resource.ok(200);
    assert_eq!(body["count"], 2);
    // The first backup of a resource is full, the next one incremental.
    let incremental: Vec<&Value> = body["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["incremental"])
        .collect();
    assert_eq!(incremental, [&json!(true), &json!(false)]);
    let by_name = emu.get(&cbr("/backups?name=second")).await;
    assert_eq!(by_name.ok(200)["count"], 2);
    let page = emu.get(&cbr("/backups?limit=2&offset=4")).await;
    let body = page.ok(200);
    assert_eq!(body["backups"].as_array().unwrap().len(), 1);
    assert_eq!(body["count"], 5);
    assert_eq!(body["offset"], 4);
    assert_eq!(body["limit"], 2);

    let protecting = emu.get(&cbr("/backups?status=protecting")).await;
    assert_eq!(protecting.ok(200)["count"], 5);
    let both = emu
        .get(&cbr("/backups?status=available&status=protecting"))
        .await;
    assert_eq!(both.ok(200)["count"], 5);
    // Once the simulated backup time has passed, all of them are available.
    wait_for(
        &emu,
        &cbr("/backups?limit=1"),
        "/backups/0/status",
        "available",
        Duration::from_secs(3),
    )
    .await;
    let available = emu.get(&cbr("/backups?status=available")).await;
    assert_eq!(available.ok(200)["count"], 5);
    let protecting = emu.get(&cbr("/backups?status=protecting")).await;
    assert_eq!(protecting.ok(200)["count"], 0);
}
