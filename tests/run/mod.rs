//! The foundation end to end: the real binary runs plans against a real emulator over
//! loopback, and the emulator's state proves what happened.

use serde_json::Value;

use crate::util::{Cbrflow, EmulatorProcess, SEED_SERVER};

const EMPTY_VAULT_BACKUP: &str = r#"version: 1
name: empty-vault-backup
steps:
  - id: vault
    type: create_vault
    with:
      name: empty_vault
      billing: { consistent_level: crash_consistent, object_type: server, protect_type: backup, size: 10 }
      resources: []
  - id: backup
    type: create_checkpoint
    with:
      vault_id: "{{ steps.vault.outputs.id }}"
      parameters: { name: nothing_to_back_up }
"#;

#[tokio::test]
async fn seed_plan_backs_up_the_server_end_to_end() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    let out = cli
        .endpoint(&emu)
        .args(["run", "plans/backup-ecs.yaml"])
        .run()
        .await;
    out.assert_code(0);

    let vaults = emu.vaults().await;
    assert_eq!(vaults.len(), 1, "exactly one vault: {vaults:#?}");
    let vault = &vaults[0];
    assert_eq!(vault["name"], "my_vault");
    let resources: Vec<&str> = vault["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(resources, vec![SEED_SERVER]);
    assert_eq!(vault["billing"]["size"], 200);

    let checkpoints = emu.checkpoints().await;
    assert_eq!(
        checkpoints.len(),
        1,
        "exactly one restore point: {checkpoints:#?}"
    );
    assert_eq!(checkpoints[0]["status"], "available");

    let vault_id = vault["id"].as_str().unwrap();
    let checkpoint_id = checkpoints[0]["id"].as_str().unwrap();
    assert!(
        out.stdout.contains(&format!("vault_id: {vault_id}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("checkpoint_id: {checkpoint_id}")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("status: available"), "{}", out.stdout);
    assert!(out.stdout.contains("succeeded"), "{}", out.stdout);
    emu.stop().await;
}

#[tokio::test]
async fn embedded_emulator_is_the_default_and_keeps_its_cloud_in_the_state_dir() {
    let mut cli = Cbrflow::new();
    let out = cli.args(["run", "plans/backup-ecs.yaml"]).run().await;
    out.assert_code(0);
    assert!(
        out.stderr.contains("embedded CBR emulator"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("simulated cloud"), "{}", out.stderr);
    assert!(cli.state_dir().join("emulator.json").exists());
    assert!(out.stdout.contains("status: available"), "{}", out.stdout);

    // The emulated cloud persisted: the server is now bound, so a second vault cannot take it.
    let out = cli
        .args(["run", "plans/backup-ecs.yaml", "--var", "vault_name=second"])
        .run()
        .await;
    out.assert_code(1);
    assert!(out.stdout.contains("BackupService.6103"), "{}", out.stdout);
}

#[tokio::test]
async fn checkpoint_of_an_empty_vault_fails_with_the_cbr_code() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    let plan = cli.write("empty.yaml", EMPTY_VAULT_BACKUP);
    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--output", "json"])
        .run()
        .await;
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["status"], "failed");
    let backup = &report["steps"][1];
    assert_eq!(backup["id"], "backup");
    assert_eq!(backup["status"], "failed");
    assert_eq!(backup["error"]["code"], "BackupService.0001");
    assert_eq!(backup["error"]["http_status"], 400);
    assert!(
        backup["error"]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    // A validation error is permanent: one attempt, no retries.
    assert_eq!(backup["attempts"], 1);
    assert!(out.stderr.contains("BackupService.0001"), "{}", out.stderr);
    emu.stop().await;
}

#[tokio::test]
async fn a_resource_already_in_a_vault_fails_with_6103() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    cli.endpoint(&emu);
    cli.args(["run", "plans/backup-ecs.yaml"])
        .run()
        .await
        .assert_code(0);
    let out = cli
        .args([
            "run",
            "plans/backup-ecs.yaml",
            "--var",
            "vault_name=other_vault",
        ])
        .run()
        .await;
    out.assert_code(1);
    assert!(out.stdout.contains("BackupService.6103"), "{}", out.stdout);
    assert!(
        out.stdout.contains("cbrflow resume"),
        "the failure says how to continue: {}",
        out.stdout
    );
    assert_eq!(
        emu.checkpoints().await.len(),
        1,
        "no second backup was made"
    );
    emu.stop().await;
}

#[tokio::test]
async fn json_report_has_the_documented_fields() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    let out = cli
        .endpoint(&emu)
        .args(["run", "plans/backup-ecs.yaml", "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    let report = out.json();
    for key in ["run_id", "plan", "status", "steps", "outputs"] {
        assert!(report.get(key).is_some(), "missing `{key}` in {report:#}");
    }
    assert_eq!(report["plan"], "backup-ecs");
    assert_eq!(report["status"], "succeeded");
    let steps = report["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["vault", "attach", "backup", "wait"]);
    for step in steps {
        for key in ["id", "type", "status", "attempts", "outputs", "error"] {
            assert!(step.get(key).is_some(), "missing `{key}` in {step:#}");
        }
        assert_eq!(step["status"], "succeeded");
        assert_eq!(step["attempts"], 1);
        assert!(step["error"].is_null());
    }
    assert_eq!(steps[0]["type"], "create_vault");
    assert_eq!(report["outputs"]["status"], "available");
    assert_eq!(report["outputs"]["vault_id"], steps[0]["outputs"]["id"]);
    assert_eq!(
        report["outputs"]["checkpoint_id"],
        steps[2]["outputs"]["id"]
    );
    emu.stop().await;
}

#[tokio::test]
async fn a_number_input_stays_a_number_on_the_wire() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    let out = cli
        .endpoint(&emu)
        .args([
            "run",
            "plans/backup-ecs.yaml",
            "--var",
            "vault_size=300",
            "--output",
            "json",
        ])
        .run()
        .await;
    out.assert_code(0);
    // The emulator rejects a string `size` with BackupService.9900, and stores what it got.
    let vaults = emu.vaults().await;
    assert_eq!(vaults[0]["billing"]["size"], Value::from(300));
    assert_eq!(
        out.json()["steps"][0]["outputs"]["billing"]["size"],
        Value::from(300)
    );
    emu.stop().await;
}

#[tokio::test]
async fn a_broken_plan_is_refused_before_any_request() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    let plan = cli.write(
        "broken.yaml",
        "version: 1\nname: broken\nsteps:\n  - id: vault\n    type: create_vaultt\n    with: { name: x }\n  - id: wait\n    type: await_checkpoint\n    with: { checkpoint_id: \"{{ steps.backup.outputs.id }}\" }\n",
    );
    let out = cli.endpoint(&emu).args(["run", &plan]).run().await;
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("unknown type `create_vaultt` (did you mean `create_vault`?)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("broken.yaml:5:11"), "{}", out.stderr);
    assert!(out.stderr.contains("no step `backup`"), "{}", out.stderr);
    assert!(out.stderr.contains("broken.yaml:9:32"), "{}", out.stderr);
    assert!(
        emu.requests().await.is_empty(),
        "no request may be sent for an invalid plan"
    );

    let plan = cli.write("bad-yaml.yaml", "version: 1\nname: [unclosed\n");
    let out = cli.args(["run", &plan]).run().await;
    out.assert_code(2);
    assert!(out.stderr.contains("bad-yaml.yaml:"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    emu.stop().await;
}

#[tokio::test]
async fn steps_lists_the_types_and_explains_one() {
    let mut cli = Cbrflow::new();
    let out = cli.args(["steps"]).run().await;
    out.assert_code(0);
    for t in [
        "create_vault",
        "add_resources",
        "create_checkpoint",
        "await_checkpoint",
    ] {
        assert!(out.stdout.contains(t), "{}", out.stdout);
    }
    let out = cli
        .args(["steps", "create_vault", "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    let schema = &out.json()[0];
    let size = schema["with"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "billing.size")
        .unwrap();
    assert_eq!(size["required"], true);
    assert_eq!(size["range"], serde_json::json!([1, 10_485_760]));
    assert!(
        schema["outputs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("id"))
    );
    let out = cli.args(["steps", "create_vaul"]).run().await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("did you mean `create_vault`"),
        "{}",
        out.stderr
    );
}

/// A busy run keeps renewing its lease. The executor loop always has a step message waiting
/// while it is saturated; a renewal polled after those never ran, so the lease of a live run
/// expired after its TTL and another process could take the run over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_run_keeps_its_lease_from_other_processes() {
    use std::sync::Arc;
    use std::time::Duration;

    use cbrflow::cbr::{CbrClient, auth::Auth};
    use cbrflow::engine::{Engine, RunOptions};
    use cbrflow::state::{RunId, RunStatus};
    use cbrflow::steps::Registry;

    let emulator = cbrflow::emulator::start(
        "127.0.0.1:0".parse().unwrap(),
        cbrflow::emulator::EmulatorConfig::default(),
    )
    .await
    .unwrap();
    let mut plan = String::from("version: 1\nname: busy\nsteps:\n");
    for i in 0..1500 {
        plan.push_str(&format!(
            "  - {{ id: v{i}, type: create_vault, with: {{ name: v{i}, resources: [], billing: \
             {{ consistent_level: crash_consistent, object_type: server, protect_type: backup, size: 1 }} }} }}\n"
        ));
    }
    let registry = Arc::new(Registry::builtin());
    let plan = cbrflow::plan::parse_str("busy.yaml", &plan, &[], registry.as_ref()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = CbrClient::new(
        cbrflow::cbr::http_client(),
        url::Url::parse(&emulator.url()).unwrap(),
        "0605767b5780d5762fc5c0118072a564",
        Auth::None,
    );
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let ttl = Duration::from_millis(500);
    let options = RunOptions {
        concurrency: 16,
        lease_ttl: ttl,
    };
    let store = cbrflow::state::open(dir.path()).unwrap();
    let engine = Engine::new(plan, registry, client, store, tx, options);
    let id = RunId("busy-run".into());
    let run = tokio::spawn(engine.start(id.clone(), "busy.yaml".into(), None));

    // Another process watches the lease while the run is going on: it must never lapse.
    let other = cbrflow::state::open(dir.path()).unwrap();
    let mut checks = 0;
    let mut watched_since = None;
    while !run.is_finished() {
        if let Ok(Some((holder, expires_at))) = other.lease_holder(&id) {
            let now = chrono::Utc::now();
            assert!(
                expires_at > now || run.is_finished(),
                "the lease of {holder} lapsed at {expires_at} under a live run ({checks} checks)"
            );
            checks += 1;
            watched_since.get_or_insert_with(std::time::Instant::now);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    let watched = watched_since.map_or(Duration::ZERO, |t| t.elapsed());
    assert!(
        watched > ttl,
        "the run was too short to tell ({watched:?}, {checks} checks)"
    );
    emulator.shutdown().await;
}
