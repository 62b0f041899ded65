//! The service's rules and their error codes (reference/cbr-error-codes.md).

use reqwest::Method;
use serde_json::{Value, json};

use super::{DISKS, Emu, SEED_SERVER, SERVERS, cbr, vault_body};

fn server(id: &str) -> Value {
    json!({"id": id, "type": "OS::Nova::Server"})
}

/// `vault_body` with `edit` applied to the `vault` object.
fn vault_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut body = vault_body("v1", "server", json!([]));
    edit(&mut body["vault"]);
    body
}

#[tokio::test]
async fn malformed_and_invalid_bodies_are_parameter_errors() {
    let emu = Emu::start().await;
    let path = cbr("/vaults");

    let reply = emu
        .http
        .post(format!("{}{path}", emu.base))
        .header("content-type", "application/json")
        .body("{\"vault\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error_code"], "BackupService.9900");

    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "vault"),
        (
            vault_with(|v| drop(v.as_object_mut().unwrap().remove("billing"))),
            "vault.billing",
        ),
        (
            vault_with(|v| drop(v.as_object_mut().unwrap().remove("name"))),
            "vault.name",
        ),
        (
            vault_with(|v| drop(v.as_object_mut().unwrap().remove("resources"))),
            "vault.resources",
        ),
        (vault_with(|v| v["name"] = json!("my vault")), "vault.name"),
        (
            vault_with(|v| v["name"] = json!("x".repeat(65))),
            "vault.name",
        ),
        (vault_with(|v| v["name"] = json!("")), "vault.name"),
        (
            vault_with(|v| v["billing"]["size"] = json!(0)),
            "vault.billing.size",
        ),
        (
            vault_with(|v| v["billing"]["size"] = json!(10_485_761)),
            "vault.billing.size",
        ),
        (
            vault_with(|v| v["billing"]["size"] = json!("200")),
            "vault.billing.size",
        ),
        (
            vault_with(|v| drop(v["billing"].as_object_mut().unwrap().remove("size"))),
            "vault.billing.size",
        ),
        (
            vault_with(|v| v["billing"]["object_type"] = json!("tape")),
            "vault.billing.object_type",
        ),
        (
            vault_with(|v| v["billing"]["protect_type"] = json!("archive")),
            "vault.billing.protect_type",
        ),
        (
            vault_with(|v| v["billing"]["consistent_level"] = json!("eventual")),
            "vault.billing.consistent_level",
        ),
        (
            vault_with(|v| v["billing"]["cloud_type"] = json!("private")),
            "vault.billing.cloud_type",
        ),
        (
            vault_with(|v| {
                drop(
                    v["billing"]
                        .as_object_mut()
                        .unwrap()
                        .remove("consistent_level"),
                )
            }),
            "vault.billing.consistent_level",
        ),
        (
            vault_with(|v| {
                v["resources"] = json!([{"id": SEED_SERVER, "type": "OS::Nova::Toaster"}])
            }),
            "vault.resources[0].type",
        ),
        (
            vault_with(|v| v["resources"] = json!([{"type": "OS::Nova::Server"}])),
            "vault.resources[0].id",
        ),
    ];
    for (body, field) in cases {
        let msg = emu
            .post(&path, body.clone())
            .await
            .error(400, "BackupService.9900");
        assert!(msg.starts_with("Parameter verification failed."), "{msg}");
        assert!(
            msg.contains(field),
            "message `{msg}` does not name `{field}` for {body}"
        );
    }
    // Boundaries that are allowed.
    for size in [1, 10_485_760] {
        emu.post(&path, vault_with(|v| v["billing"]["size"] = json!(size)))
            .await
            .ok(200);
    }
    emu.post(&path, vault_with(|v| v["name"] = json!("a".repeat(64))))
        .await
        .ok(200);
    assert_eq!(
        emu.state().await["vaults"].as_array().unwrap().len(),
        3,
        "failed creates left vaults"
    );
}

#[tokio::test]
async fn association_rules() {
    let emu = Emu::start().await;
    let vault = emu
        .create_vault("v1", "server", json!([server(SEED_SERVER)]))
        .await;
    let vault_id = vault["id"].as_str().unwrap();
    let add = cbr(&format!("/vaults/{vault_id}/addresources"));

    // Resource already in a vault, this one or another.
    emu.post(&add, json!({"resources": [server(SEED_SERVER)]}))
        .await
        .error(400, "BackupService.6103");
    emu.post(
        &cbr("/vaults"),
        vault_body("v2", "server", json!([server(SEED_SERVER)])),
    )
    .await
    .error(400, "BackupService.6103");
    // Not in the inventory.
    emu.post(
        &add,
        json!({"resources": [server("00000000-0000-4000-8000-000000000000")]}),
    )
    .await
    .error(404, "BackupService.6302");
    // A disk id claimed to be a server is not a server the cloud has.
    emu.post(&add, json!({"resources": [server(DISKS[0])]}))
        .await
        .error(404, "BackupService.6302");
    // Type not matching the vault's object type.
    emu.post(
        &add,
        json!({"resources": [{"id": DISKS[0], "type": "OS::Cinder::Volume"}]}),
    )
    .await
    .error(400, "BackupService.6102");
    // Duplicate within one request.
    emu.post(
        &add,
        json!({"resources": [server(SERVERS[0]), server(SERVERS[0])]}),
    )
    .await
    .error(400, "BackupService.6104");
    // Unknown vault.
    emu.post(
        &cbr("/vaults/nope/addresources"),
        json!({"resources": [server(SERVERS[0])]}),
    )
    .await
    .error(404, "BackupService.6105");
    // Empty or missing list.
    emu.post(&add, json!({"resources": []}))
        .await
        .error(400, "BackupService.9900");
    emu.post(&add, json!({}))
        .await
        .error(400, "BackupService.9900");
    // None of the failures associated anything.
    let shown = emu.get(&cbr(&format!("/vaults/{vault_id}"))).await;
    assert_eq!(
        shown.ok(200)["vault"]["resources"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Success, then removal rules.
    let reply = emu
        .post(
            &add,
            json!({"resources": [server(SERVERS[0]), server(SERVERS[1])]}),
        )
        .await;
    assert_eq!(
        reply.ok(200)["add_resource_ids"],
        json!([SERVERS[0], SERVERS[1]])
    );
    let remove = cbr(&format!("/vaults/{vault_id}/removeresources"));
    emu.post(&remove, json!({"resource_ids": [SERVERS[2]]}))
        .await
        .error(400, "BackupService.6135");
    let reply = emu
        .post(&remove, json!({"resource_ids": [SERVERS[0]]}))
        .await;
    assert_eq!(reply.ok(200), &json!({"remove_resource_ids": [SERVERS[0]]}));
    // A removed resource can join another vault.
    emu.create_vault("v3", "server", json!([server(SERVERS[0])]))
        .await;
}

#[tokio::test]
async fn resources_are_scoped_per_project() {
    let emu = Emu::start().await;
    emu.create_vault("v1", "server", json!([server(SEED_SERVER)]))
        .await;
    let other = emu
        .post(
            "/v3/other-project/vaults",
            vault_body("v1", "server", json!([server(SEED_SERVER)])),
        )
        .await;
    let vault_id = other.ok(200)["vault"]["id"].as_str().unwrap().to_owned();
    // Each project sees only its own vaults.
    emu.get(&cbr(&format!("/vaults/{vault_id}")))
        .await
        .error(404, "BackupService.6105");
    let listed = emu.get("/v3/other-project/vaults").await;
    assert_eq!(listed.ok(200)["count"], 1);
}

#[tokio::test]
async fn checkpoint_rules() {
    let emu = Emu::start().await;
    let empty = emu.create_vault("empty", "server", json!([])).await;
    let path = cbr("/checkpoints");
    emu.post(&path, json!({"checkpoint": {"vault_id": empty["id"]}}))
        .await
        .error(400, "BackupService.0001");
    emu.post(&path, json!({"checkpoint": {"vault_id": "nope"}}))
        .await
        .error(404, "BackupService.6105");
    emu.post(&path, json!({"checkpoint": {}}))
        .await
        .error(400, "BackupService.9900");
    emu.post(&path, json!({"vault_id": empty["id"]}))
        .await
        .error(400, "BackupService.9900");

    let full = emu
        .create_vault(
            "full",
            "server",
            json!([server(SEED_SERVER), server(SERVERS[0])]),
        )
        .await;
    for name in ["has space", "", "dot.ted", &"n".repeat(65)] {
        let msg = emu
            .post(
                &path,
                json!({"checkpoint": {"vault_id": full["id"], "parameters": {"name": name}}}),
            )
            .await
            .error(400, "BackupService.9900");
        assert!(msg.contains("checkpoint.parameters.name"), "{msg}");
    }
    // A resource that is not in the vault.
    emu.post(
        &path,
        json!({"checkpoint": {"vault_id": full["id"], "parameters": {"resources": [SERVERS[1]]}}}),
    )
    .await
    .error(400, "BackupService.6135");
    // Without a resource list, every resource of the vault is backed up.
    let reply = emu
        .post(&path, json!({"checkpoint": {"vault_id": full["id"]}}))
        .await;
    let checkpoint = &reply.ok(200)["checkpoint"];
    assert_eq!(
        checkpoint["vault"]["resources"].as_array().unwrap().len(),
        2
    );
    assert!(
        checkpoint["extra_info"]["name"]
            .as_str()
            .unwrap()
            .starts_with("manualbk_")
    );
    let id = checkpoint["id"].as_str().unwrap();
    let backups = emu.get(&cbr(&format!("/backups?checkpoint_id={id}"))).await;
    assert_eq!(backups.ok(200)["count"], 2);
    // Only the named resources via resource_details.
    let reply = emu
        .post(
            &path,
            json!({"checkpoint": {"vault_id": full["id"], "parameters": {
            "resource_details": [{"id": SERVERS[0], "type": "OS::Nova::Server"}]}}}),
        )
        .await;
    assert_eq!(
        reply.ok(200)["checkpoint"]["vault"]["resources"][0]["id"],
        SERVERS[0]
    );
    assert_eq!(
        reply.body["checkpoint"]["vault"]["resources"][0]["backup_count"],
        "1"
    );
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let emu = Emu::start().await;
    emu.get(&cbr("/vaults/nope"))
        .await
        .error(404, "BackupService.6105");
    emu.put(&cbr("/vaults/nope"), json!({"vault": {"name": "x"}}))
        .await
        .error(404, "BackupService.6105");
    emu.delete(&cbr("/vaults/nope"))
        .await
        .error(404, "BackupService.6105");
    emu.get(&cbr("/checkpoints/nope"))
        .await
        .error(404, "BackupService.6217");
    emu.get(&cbr("/backups/nope"))
        .await
        .error(404, "BackupService.6200");
    emu.delete(&cbr("/backups/nope"))
        .await
        .error(404, "BackupService.6200");
    emu.post(&cbr("/backups/nope/restore"), json!({"restore": {}}))
        .await
        .error(404, "BackupService.6200");
    emu.get(&cbr("/policies/nope"))
        .await
        .error(404, "BackupService.6000");
    emu.delete(&cbr("/policies/nope"))
        .await
        .error(404, "BackupService.6000");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let emu = Emu::start().await;
    let reply = emu.get(&cbr("/nothing-here")).await;
    reply.error(404, "APIGW.0101");
    let reply = emu.get("/").await;
    reply.error(404, "APIGW.0101");
    let reply = emu
        .send(Method::PATCH, &cbr("/vaults"), Some(json!({})))
        .await;
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert!(reply.body["error_code"].is_string(), "{}", reply.text);
    let reply = emu.get(&cbr("/vaults/x/addresources")).await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let emu = Emu::start().await;
    let mut body = vault_body("big", "server", json!([]));
    body["vault"]["description"] = json!("x".repeat(1024 * 1024 + 10));
    let reply = emu.post(&cbr("/vaults"), body).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(reply.body["error_code"].is_string());
    assert!(reply.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn vault_update_and_delete() {
    let emu = Emu::start().await;
    let (vault_id, checkpoint) = emu.vault_with_checkpoint("before", SEED_SERVER).await;
    let path = cbr(&format!("/vaults/{vault_id}"));
    let reply = emu
        .put(
            &path,
            json!({"vault": {"name": "after", "billing": {"size": 300}, "auto_bind": true,
            "bind_rules": {"tags": [{"key": "env", "value": "prod"}]}}}),
        )
        .await;
    let vault = &reply.ok(200)["vault"];
    assert_eq!(vault["name"], "after");
    assert_eq!(vault["billing"]["size"], 300);
    assert_eq!(vault["auto_bind"], true);
    assert_eq!(vault["bind_rules"]["tags"][0]["key"], "env");
    emu.put(&path, json!({"vault": {"name": "bad name"}}))
        .await
        .error(400, "BackupService.9900");
    emu.put(&path, json!({"vault": {"billing": {"size": 0}}}))
        .await
        .error(400, "BackupService.9900");
    emu.put(&path, json!({}))
        .await
        .error(400, "BackupService.9900");

    let reply = emu.delete(&path).await;
    assert_eq!(reply.status, 204);
    assert!(reply.text.is_empty());
    emu.get(&path).await.error(404, "BackupService.6105");
    // Its restore point and backups went with it; its server is free again.
    let id = checkpoint["id"].as_str().unwrap();
    emu.get(&cbr(&format!("/checkpoints/{id}")))
        .await
        .error(404, "BackupService.6217");
    let backups = emu
        .get(&cbr(&format!("/backups?vault_id={vault_id}")))
        .await;
    assert_eq!(backups.ok(200)["count"], 0);
    emu.create_vault("again", "server", json!([server(SEED_SERVER)]))
        .await;
}

#[tokio::test]
async fn policy_rules_and_association() {
    let emu = Emu::start().await;
    let policy = json!({"policy": {"name": "daily", "operation_type": "backup",
        "operation_definition": {"retention_duration_days": 7, "timezone": "UTC+08:00"},
        "trigger": {"properties": {"pattern": ["FREQ=DAILY;BYHOUR=14;BYMINUTE=00"]}}}});
    let reply = emu.post(&cbr("/policies"), policy.clone()).await;
    let created = reply.ok(200)["policy"].clone();
    let policy_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["enabled"], true);
    assert_eq!(created["operation_type"], "backup");
    assert_eq!(
        created["operation_definition"]["retention_duration_days"],
        7
    );
    assert_eq!(
        created["trigger"]["properties"]["pattern"][0],
        "FREQ=DAILY;BYHOUR=14;BYMINUTE=00"
    );
    assert!(created["trigger"]["id"].is_string());
    assert_eq!(created["associated_vaults"], json!([]));

    for (edit, field) in [
        (
            json!({"operation_type": "archive"}),
            "policy.operation_type",
        ),
        (
            json!({"trigger": {"properties": {"pattern": []}}}),
            "policy.trigger.properties.pattern",
        ),
        (
            json!({"trigger": {"properties": {}}}),
            "policy.trigger.properties.pattern",
        ),
        (
            json!({"trigger": {"properties": {"pattern": ["FREQ=HOURLY"]}}}),
            "policy.trigger.properties.pattern[0]",
        ),
        (
            json!({"operation_definition": {"max_backups": -5}}),
            "policy.operation_definition.max_backups",
        ),
        (
            json!({"operation_definition": {"day_backups": 3}}),
            "policy.operation_definition.timezone",
        ),
        (json!({"name": null}), "policy.name"),
    ] {
        let mut body = policy.clone();
        for (key, value) in edit.as_object().unwrap() {
            body["policy"][key] = value.clone();
        }
        let msg = emu
            .post(&cbr("/policies"), body)
            .await
            .error(400, "BackupService.9900");
        assert!(msg.contains(field), "`{msg}` does not name {field}");
    }

    let vault = emu.create_vault("pv", "server", json!([])).await;
    let vault_id = vault["id"].as_str().unwrap();
    let associate = cbr(&format!("/vaults/{vault_id}/associatepolicy"));
    let reply = emu.post(&associate, json!({"policy_id": policy_id})).await;
    assert_eq!(
        reply.ok(200),
        &json!({"associate_policy": {"vault_id": vault_id, "policy_id": policy_id}})
    );
    emu.post(&associate, json!({"policy_id": "nope"}))
        .await
        .error(404, "BackupService.6000");
    emu.post(
        &cbr("/vaults/nope/associatepolicy"),
        json!({"policy_id": policy_id}),
    )
    .await
    .error(404, "BackupService.6105");
    let shown = emu.get(&cbr(&format!("/policies/{policy_id}"))).await;
    assert_eq!(
        shown.ok(200)["policy"]["associated_vaults"],
        json!([{"vault_id": vault_id}])
    );
    let listed = emu
        .get(&cbr(&format!("/policies?vault_id={vault_id}")))
        .await;
    assert_eq!(listed.ok(200)["count"], 1);
    let listed = emu.get(&cbr("/policies?operation_type=replication")).await;
    assert_eq!(listed.ok(200)["count"], 0);
    let listed = emu
        .get(&cbr(&format!("/vaults?policy_id={policy_id}")))
        .await;
    assert_eq!(listed.ok(200)["count"], 1);

    let reply = emu
        .put(&cbr(&format!("/policies/{policy_id}")), json!({"policy": {"enabled": false,
            "operation_definition": {"max_backups": 10},
            "trigger": {"properties": {"pattern": ["FREQ=WEEKLY;BYDAY=MO;BYHOUR=1;BYMINUTE=30"]}}}}))
        .await;
    let updated = &reply.ok(200)["policy"];
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["operation_definition"]["max_backups"], 10);
    assert_eq!(
        updated["operation_definition"]["retention_duration_days"],
        7
    );
    assert_eq!(
        updated["trigger"]["properties"]["pattern"][0],
        "FREQ=WEEKLY;BYDAY=MO;BYHOUR=1;BYMINUTE=30"
    );

    let dissociate = cbr(&format!("/vaults/{vault_id}/dissociatepolicy"));
    let reply = emu.post(&dissociate, json!({"policy_id": policy_id})).await;
    assert_eq!(
        reply.ok(200),
        &json!({"dissociate_policy": {"vault_id": vault_id, "policy_id": policy_id}})
    );
    emu.post(&dissociate, json!({"policy_id": policy_id}))
        .await
        .error(404, "BackupService.6002");
    emu.post(&dissociate, json!({}))
        .await
        .error(400, "BackupService.9900");

    assert_eq!(
        emu.delete(&cbr(&format!("/policies/{policy_id}")))
            .await
            .status,
        204
    );
    emu.get(&cbr(&format!("/policies/{policy_id}")))
        .await
        .error(404, "BackupService.6000");
}
