//! Fault injection over real HTTP: error statuses N times, throttling with `Retry-After`,
//! latency, dropped connections and responses lost after the change was committed.

use std::time::{Duration, Instant};

use cbrflow::emulator::{EmulatorConfig, FaultRule};
use serde_json::json;

use super::{Emu, SEED_SERVER, cbr, fast_config, vault_body};

#[tokio::test]
async fn status_faults_apply_n_times_then_the_request_succeeds() {
    let emu = Emu::start().await;
    emu.add_faults(
        json!({"method": "POST", "path": "/v3/{project_id}/vaults", "status": 503, "times": 2}),
    )
    .await;
    for _ in 0..2 {
        let reply = emu
            .post(&cbr("/vaults"), vault_body("v", "server", json!([])))
            .await;
        reply.error(503, "BackupService.9910");
    }
    // Other methods and paths are not affected.
    emu.get(&cbr("/vaults")).await.ok(200);
    emu.post(&cbr("/vaults"), vault_body("v", "server", json!([])))
        .await
        .ok(200);
    // The failed attempts changed nothing.
    assert_eq!(emu.state().await["vaults"].as_array().unwrap().len(), 1);
    let faults = emu.get("/_emulator/faults").await;
    let listed = faults.ok(200);
    assert_eq!(listed[0]["remaining"], 0);
    assert_eq!(listed[0]["hits"], 2);
}

#[tokio::test]
async fn throttling_sends_retry_after() {
    let emu = Emu::start().await;
    emu.add_faults(
        json!([{"path": "GET /v3/*/vaults", "status": 429, "retry_after": 2, "times": 1}]),
    )
    .await;
    let reply = emu.get(&cbr("/vaults")).await;
    let msg = reply.error(429, "APIGW.0308");
    assert!(msg.contains("throttling"), "{msg}");
    assert_eq!(reply.headers["retry-after"], "2");
    emu.get(&cbr("/vaults")).await.ok(200);
}

#[tokio::test]
async fn custom_codes_and_messages() {
    let emu = Emu::start().await;
    emu.add_faults(json!({"path": "/v3/{p}/checkpoints/{id}", "status": 500,
        "error_code": "BackupService.6132", "error_msg": "Vault creation failed."}))
        .await;
    let reply = emu.get(&cbr("/checkpoints/anything")).await;
    assert_eq!(
        reply.error(500, "BackupService.6132"),
        "Vault creation failed."
    );
    // Without `times` the rule stays.
    emu.get(&cbr("/checkpoints/other"))
        .await
        .error(500, "BackupService.6132");
    assert_eq!(emu.delete("/_emulator/faults").await.status, 204);
    emu.get(&cbr("/checkpoints/other"))
        .await
        .error(404, "BackupService.6217");
}

#[tokio::test]
async fn delays_slow_down_and_then_handle_normally() {
    let emu = Emu::start().await;
    emu.add_faults(
        json!({"path": "/v3/{p}/vaults", "method": "GET", "delay": "300ms", "times": 1}),
    )
    .await;
    let started = Instant::now();
    let reply = emu.get(&cbr("/vaults")).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    reply.ok(200);
    let started = Instant::now();
    emu.get(&cbr("/vaults")).await.ok(200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_client_that_gives_up_during_a_delay_still_gets_its_change_committed() {
    let emu = Emu::start().await;
    emu.add_faults(json!({"path": "POST /v3/{p}/vaults", "delay": 400, "times": 1}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let result = impatient
        .post(format!("{}{}", emu.base, cbr("/vaults")))
        .json(&vault_body("late", "server", json!([])))
        .send()
        .await;
    assert!(result.is_err(), "the client should have timed out");
    // The request reached the service, so it completes after the delay.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let vaults = emu.state().await["vaults"].as_array().unwrap().len();
        if vaults == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the delayed create never happened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = emu.requests().await;
    let entry = log.iter().find(|e| e["method"] == "POST").unwrap();
    assert_eq!(entry["fault"], true);
    assert_eq!(entry["status"], 200);
}

#[tokio::test]
async fn dropped_connections_are_transport_errors_and_change_nothing() {
    let emu = Emu::start().await;
    emu.add_faults(json!({"path": "POST /v3/{p}/vaults", "drop_connection": true, "times": 1}))
        .await;
    let result = emu
        .try_send(
            reqwest::Method::POST,
            &cbr("/vaults"),
            Some(vault_body("x", "server", json!([]))),
        )
        .await;
    let err = result.expect_err("a dropped connection must not produce a response");
    assert!(err.status().is_none(), "{err:?}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    assert_eq!(emu.state().await["vaults"].as_array().unwrap().len(), 0);
    // The same client works again afterwards.
    emu.post(&cbr("/vaults"), vault_body("x", "server", json!([])))
        .await
        .ok(200);
    let log = emu.requests().await;
    assert_eq!(log[0]["fault"], true);
    assert_eq!(log[0]["dropped"], true);
    assert_eq!(log[0]["status"], serde_json::Value::Null);
}

#[tokio::test]
async fn lost_responses_happen_after_the_commit() {
    let emu = Emu::start().await;
    emu.add_faults(
        json!({"path": "POST /v3/{p}/vaults", "lose_response_after_commit": true, "times": 1}),
    )
    .await;
    let result = emu
        .try_send(
            reqwest::Method::POST,
            &cbr("/vaults"),
            Some(vault_body("committed", "server", json!([]))),
        )
        .await;
    assert!(result.is_err(), "the response should have been lost");
    let state = emu.state().await;
    let vaults = state["vaults"].as_array().unwrap();
    assert_eq!(
        vaults.len(),
        1,
        "the vault must exist although the client saw an error"
    );
    assert_eq!(vaults[0]["name"], "committed");
    let log = emu.requests().await;
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["dropped"], true);
}

#[tokio::test]
async fn faults_from_the_configuration_apply_from_the_start() {
    let rules: Vec<FaultRule> = serde_json::from_value(json!([
        {"path": "/v3/{project_id}/checkpoints", "method": "POST", "status": 500, "times": 1}
    ]))
    .unwrap();
    let emu = Emu::with(EmulatorConfig {
        faults: rules,
        ..fast_config()
    })
    .await;
    let vault = emu
        .create_vault(
            "f",
            "server",
            json!([{"id": SEED_SERVER, "type": "OS::Nova::Server"}]),
        )
        .await;
    let body = json!({"checkpoint": {"vault_id": vault["id"]}});
    emu.post(&cbr("/checkpoints"), body.clone())
        .await
        .error(500, "BackupService.9910");
    emu.post(&cbr("/checkpoints"), body).await.ok(200);
}

#[tokio::test]
async fn invalid_rules_are_refused() {
    let emu = Emu::start().await;
    for bad in [
        json!({"path": "/x"}),
        json!({"path": "/x", "status": 200}),
        json!({"path": "no-slash", "status": 500}),
        json!({"path": "/x", "status": 500, "bogus": 1}),
        json!([{"path": "/x", "status": 500}, {"path": "/y"}]),
        json!("not a rule"),
    ] {
        let reply = emu.post("/_emulator/faults", bad.clone()).await;
        assert_eq!(reply.status, 400, "{bad} was accepted: {}", reply.text);
    }
    let listed = emu.get("/_emulator/faults").await;
    assert_eq!(
        listed.ok(200),
        &json!([]),
        "a refused list must add nothing"
    );
    let invalid = vec![FaultRule {
        method: None,
        path: "/x".into(),
        status: None,
        error_code: None,
        error_msg: None,
        times: None,
        retry_after: None,
        delay: None,
        drop_connection: false,
        lose_response_after_commit: false,
    }];
    let err = cbrflow::emulator::start(
        "127.0.0.1:0".parse().unwrap(),
        EmulatorConfig {
            faults: invalid,
            ..fast_config()
        },
    )
    .await
    .expect_err("an invalid configured rule must stop the start");
    assert!(err.to_string().contains("/x"), "{err}");
}
