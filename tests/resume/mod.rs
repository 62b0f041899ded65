//! Durable runs: retries with backoff, resume after a failure or a kill, reconciliation of
//! lost responses, run locking and unreadable state. Real processes, loopback only.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::util::{Cbrflow, EmulatorProcess};

/// The seed plan with short retry delays and polling, so tests stay fast.
fn fast_plan(cli: &Cbrflow) -> String {
    let plan = std::fs::read_to_string(crate::util::repo().join("plans/backup-ecs.yaml")).unwrap();
    let plan = plan
        .replace(
            "initial_delay: 1s, max_delay: 30s",
            "initial_delay: 100ms, max_delay: 500ms",
        )
        .replace("poll_interval: 2s", "poll_interval: 200ms");
    assert!(plan.contains("initial_delay: 100ms") && plan.contains("poll_interval: 200ms"));
    cli.write("plans/fast.yaml", &plan)
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

/// Waits until `cbrflow status --output json` shows `step` in status `running`.
async fn wait_for_running(cli: &mut Cbrflow, step_id: &str) {
    for _ in 0..200 {
        let out = cli
            .args(["status", "--last", "--output", "json"])
            .run()
            .await;
        if out.code == 0 && step(&out.json(), step_id)["status"] == "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("step `{step_id}` never started");
}

#[tokio::test]
async fn a_503_twice_then_success_takes_three_attempts() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(json!({"method": "POST", "path": "/v3/{project_id}/checkpoints", "status": 503, "times": 2}))
        .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    assert_eq!(step(&out.json(), "backup")["attempts"], 3);
    assert!(out.stderr.contains("attempt 1 failed"), "{}", out.stderr);

    let status = cli
        .args(["status", "--last", "--output", "json"])
        .run()
        .await;
    status.assert_code(0);
    assert_eq!(step(&status.json(), "backup")["attempts"], 3);
    assert_eq!(emu.checkpoints().await.len(), 1);
    emu.stop().await;
}

#[tokio::test]
async fn a_429_retry_waits_for_retry_after() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(json!({"method": "POST", "path": "/v3/{project_id}/vaults", "status": 429, "retry_after": 2, "times": 1}))
        .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    let started = std::time::Instant::now();
    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    assert_eq!(step(&out.json(), "vault")["attempts"], 2);
    // Both POSTs are in the log; the second came at least 2 s after the first.
    let posts: Vec<Value> = emu
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/vaults"))
        })
        .collect();
    assert_eq!(posts.len(), 2, "{posts:#?}");
    let t = |r: &Value| chrono::DateTime::parse_from_rfc3339(r["time"].as_str().unwrap()).unwrap();
    let gap = t(&posts[1]) - t(&posts[0]);
    assert!(
        gap >= chrono::Duration::milliseconds(2000),
        "retried after only {gap}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    emu.stop().await;
}

#[tokio::test]
async fn a_permanent_500_fails_then_resume_finishes_without_resending() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(json!({"method": "POST", "path": "/v3/{project_id}/checkpoints", "status": 500}))
        .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--output", "json"])
        .run()
        .await;
    out.assert_code(1);
    let report = out.json();
    assert_eq!(step(&report, "backup")["status"], "failed");
    assert_eq!(step(&report, "backup")["attempts"], 5);
    assert_eq!(step(&report, "backup")["error"]["http_status"], 500);
    assert_eq!(step(&report, "wait")["status"], "skipped");

    emu.clear_faults().await;
    let out = cli
        .args(["resume", "--last", "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(
        step(&report, "vault")["attempts"],
        1,
        "the vault step was kept, not re-run"
    );
    assert!(out.stderr.contains("kept"), "{}", out.stderr);

    assert_eq!(emu.vaults().await.len(), 1);
    assert_eq!(emu.checkpoints().await.len(), 1);
    assert_eq!(
        emu.count_requests("POST", "/vaults").await,
        1,
        "the vault was not created again"
    );
    assert_eq!(
        emu.count_requests("POST", "/addresources").await,
        1,
        "the association was not sent again"
    );
    emu.stop().await;
}

#[tokio::test]
async fn a_lost_create_vault_response_still_yields_one_vault() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(json!({"method": "POST", "path": "/v3/{project_id}/vaults", "lose_response_after_commit": true, "times": 1}))
        .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    assert_eq!(emu.vaults().await.len(), 1, "exactly one vault");
    assert_eq!(
        emu.count_requests("POST", "/vaults").await,
        1,
        "the create was not re-sent"
    );
    assert!(out.stderr.contains("adopted"), "{}", out.stderr);
    assert_eq!(
        out.json()["outputs"]["vault_id"],
        emu.vaults().await[0]["id"]
    );
    emu.stop().await;
}

#[tokio::test]
async fn sigkill_during_await_then_resume_keeps_one_checkpoint() {
    let emu = EmulatorProcess::start(&["--backup-seconds", "4"]).await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    cli.endpoint(&emu).args(["run", &plan]);
    let mut child = cli.spawn();
    wait_for_running(&mut cli, "wait").await;
    child.kill().await.expect("SIGKILL cbrflow");

    let status = cli.args(["status", "--last"]).run().await;
    status.assert_code(0);
    assert!(
        status.stdout.contains("interrupted (no process holds it"),
        "{}",
        status.stdout
    );

    let out = cli
        .args(["resume", "--last", "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["outputs"]["status"], "available");
    assert_eq!(
        emu.checkpoints().await.len(),
        1,
        "exactly one restore point"
    );
    assert_eq!(emu.count_requests("POST", "/checkpoints").await, 1);
    assert_eq!(
        report["outputs"]["checkpoint_id"],
        emu.checkpoints().await[0]["id"]
    );
    emu.stop().await;
}

#[tokio::test]
async fn sigkill_after_the_create_vault_intent_then_resume_adopts_the_vault() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(
        json!({"method": "POST", "path": "/v3/{project_id}/vaults", "delay": "2s", "times": 1}),
    )
    .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    cli.endpoint(&emu).args(["run", &plan]);
    let mut child = cli.spawn();
    wait_for_running(&mut cli, "vault").await;
    tokio::time::sleep(Duration::from_millis(500)).await; // the POST is in flight, held by the delay
    child.kill().await.expect("SIGKILL cbrflow");
    tokio::time::sleep(Duration::from_millis(2000)).await; // the emulator commits the vault

    let out = cli
        .args(["resume", "--last", "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    assert!(out.stderr.contains("adopted"), "{}", out.stderr);
    assert_eq!(emu.vaults().await.len(), 1, "exactly one vault");
    assert_eq!(
        emu.count_requests("POST", "/vaults").await,
        1,
        "the create was not re-sent"
    );
    emu.stop().await;
}

#[tokio::test]
async fn two_resumes_at_once_one_is_refused() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(json!({"method": "POST", "path": "/v3/{project_id}/checkpoints", "status": 400, "error_code": "BackupService.6113", "times": 1}))
        .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    cli.endpoint(&emu)
        .args(["run", &plan])
        .run()
        .await
        .assert_code(1);

    // Hold the first resume in a slow request, then try a second one.
    emu.add_fault(json!({"method": "POST", "path": "/v3/{project_id}/checkpoints", "delay": "3s", "times": 1}))
        .await;
    cli.args(["resume", "--last"]);
    let first = cli.spawn();
    wait_for_running(&mut cli, "backup").await;
    let second = cli.args(["resume", "--last"]).run().await;
    second.assert_code(3);
    assert!(second.stderr.contains("held by pid"), "{}", second.stderr);

    let first = first.wait_with_output().await.unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(emu.checkpoints().await.len(), 1);
    emu.stop().await;
}

#[tokio::test]
async fn a_corrupt_state_db_is_refused_and_left_untouched() {
    let mut cli = Cbrflow::new();
    std::fs::create_dir_all(cli.state_dir()).unwrap();
    let db = cli.state_dir().join("state.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let hash = |p: &std::path::Path| hex::encode(Sha256::digest(std::fs::read(p).unwrap()));
    let before = hash(&db);

    for args in [
        vec!["status", "--last"],
        vec!["runs"],
        vec!["resume", "--last"],
        vec!["run", "plans/backup-ecs.yaml"],
    ] {
        let out = cli.args(&args).run().await;
        out.assert_code(3);
        assert!(out.stderr.contains("state.db"), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    assert_eq!(hash(&db), before, "the state file was modified");
    let names: Vec<String> = std::fs::read_dir(cli.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("state.db-")),
        "sqlite side files were created: {names:?}"
    );
}

#[tokio::test]
async fn resume_after_a_plan_change_reruns_only_the_changed_steps_and_their_dependents() {
    let emu = EmulatorProcess::start(&[]).await;
    emu.add_fault(json!({"method": "GET", "path": "/v3/{project_id}/checkpoints/{checkpoint_id}", "status": 400, "error_code": "BackupService.6217"}))
        .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    cli.endpoint(&emu)
        .args(["run", &plan])
        .run()
        .await
        .assert_code(1);
    emu.clear_faults().await;

    // Change only the restore point's description: `backup` and `wait` run again, the vault
    // and the association are kept.
    let path = cli.dir().join(&plan);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("description: backupauto", "description: changed");
    std::fs::write(&path, text).unwrap();

    let out = cli
        .args(["resume", "--last", "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    assert!(
        out.stderr
            .contains("backup       runs again: the plan changed its inputs"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("vault        create_vault       kept"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("attach       add_resources      kept"),
        "{}",
        out.stderr
    );
    let report = out.json();
    assert_eq!(step(&report, "vault")["attempts"], 1);
    assert_eq!(step(&report, "backup")["attempts"], 2);
    assert_eq!(emu.count_requests("POST", "/vaults").await, 1);
    assert_eq!(emu.count_requests("POST", "/addresources").await, 1);
    assert_eq!(
        emu.count_requests("POST", "/checkpoints").await,
        2,
        "the changed step ran again"
    );
    let checkpoints = emu.checkpoints().await;
    assert_eq!(
        report["outputs"]["checkpoint_id"],
        checkpoints.last().unwrap()["id"]
    );

    // `runs` and `status` report the same run as JSON.
    let runs = cli.args(["runs", "--output", "json"]).run().await;
    runs.assert_code(0);
    assert_eq!(runs.json()[0]["run_id"], report["run_id"]);
    assert_eq!(runs.json()[0]["status"], "succeeded");
    emu.stop().await;
}

#[tokio::test]
async fn a_timed_out_create_is_reconciled_after_the_server_had_time_to_finish() {
    let emu = EmulatorProcess::start(&[]).await;
    // The server holds the create for 1.5 s; the plan gives one attempt 1 s.
    emu.add_fault(
        json!({"method": "POST", "path": "/v3/{project_id}/vaults", "delay": "1500ms", "times": 1}),
    )
    .await;
    let mut cli = Cbrflow::new();
    let plan = fast_plan(&cli);
    let path = cli.dir().join(&plan);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("timeout: 60s", "timeout: 1s");
    std::fs::write(&path, text).unwrap();

    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--output", "json"])
        .run()
        .await;
    out.assert_code(0);
    assert!(
        out.stderr.contains("no response within 1.0s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("adopted"), "{}", out.stderr);
    assert_eq!(step(&out.json(), "vault")["attempts"], 2);
    assert_eq!(emu.vaults().await.len(), 1, "exactly one vault");
    assert_eq!(
        emu.count_requests("POST", "/vaults").await,
        1,
        "the create was not re-sent"
    );
    emu.stop().await;
}
