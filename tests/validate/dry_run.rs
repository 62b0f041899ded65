//! `cbrflow run --dry-run` validates, prints every request with run-time values as
//! placeholders, and sends nothing: proven against a standalone emulator that logs every
//! request it receives.

use crate::util::{Cbrflow, EmulatorProcess};

use super::{relative, snapshots, yaml_files};

#[tokio::test]
async fn dry_run_sends_no_request_at_all() {
    let emu = EmulatorProcess::start(&[]).await;
    assert!(
        emu.requests().await.is_empty(),
        "the emulator starts with an empty log"
    );
    let mut cli = Cbrflow::new();
    cli.endpoint(&emu);
    for plan in yaml_files("plans") {
        let plan = relative(&plan);
        let out = cli.args(["run", &plan, "--dry-run"]).run().await;
        out.assert_code(0);
        assert!(out.stdout.contains("no request was sent"), "{}", out.stdout);
        assert!(
            out.stdout.contains("<steps.vault.outputs.id>"),
            "{}",
            out.stdout
        );
        let out = cli
            .args(["run", &plan, "--dry-run", "--output", "json"])
            .run()
            .await;
        out.assert_code(0);
        assert_eq!(out.json()["dry_run"], true);
    }
    let requests = emu.requests().await;
    assert!(
        requests.is_empty(),
        "a dry run sent requests: {requests:#?}"
    );
    assert!(
        !cli.state_dir().join("state.db").exists(),
        "a dry run recorded a run"
    );

    // The same plan without --dry-run reaches the emulator: the log above could have caught it.
    cli.args(["run", "plans/backup-ecs.yaml"])
        .run()
        .await
        .assert_code(0);
    assert!(emu.count_requests("POST", "/vaults").await >= 1);
    emu.stop().await;
}

#[tokio::test]
async fn dry_run_shows_each_request_by_level() {
    let out = Cbrflow::new()
        .args(["run", "plans/backup-ecs.yaml", "--dry-run"])
        .run()
        .await;
    out.assert_code(0);
    snapshots("dry_run").bind(|| insta::assert_snapshot!("backup-ecs", out.stdout));
}

#[tokio::test]
async fn dry_run_json_lists_levels_steps_and_requests() {
    let mut cli = Cbrflow::new();
    let out = cli
        .args([
            "run",
            "plans/backup-disks.yaml",
            "--dry-run",
            "--output",
            "json",
        ])
        .run()
        .await;
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["plan"], "backup-disks");
    assert_eq!(
        report["levels"],
        serde_json::json!([
            ["vault"],
            ["attach_data", "attach_log"],
            ["backup"],
            ["wait"]
        ])
    );
    let attach = &report["steps"][1];
    assert_eq!(attach["level"], 1);
    assert_eq!(attach["request"]["method"], "POST");
    assert_eq!(
        attach["request"]["path"],
        "/v3/{project_id}/vaults/<steps.vault.outputs.id>/addresources"
    );
    let backup = &report["steps"][3];
    assert_eq!(
        backup["needs"],
        serde_json::json!(["vault", "attach_data", "attach_log"])
    );
    assert_eq!(
        backup["request"]["body"]["checkpoint"]["vault_id"],
        "<steps.vault.outputs.id>"
    );
    assert_eq!(
        backup["request"]["body"]["checkpoint"]["parameters"]["name"],
        "disk_vault-backup"
    );
    assert_eq!(report["outputs"]["status"], "<steps.wait.outputs.status>");
}

#[tokio::test]
async fn dry_run_of_an_invalid_plan_reports_and_sends_nothing() {
    let emu = EmulatorProcess::start(&[]).await;
    let mut cli = Cbrflow::new();
    let plan = cli.write(
        "broken.yaml",
        "version: 1\nname: broken\nsteps:\n  - id: a\n    type: create_valut\n",
    );
    let out = cli
        .endpoint(&emu)
        .args(["run", &plan, "--dry-run"])
        .run()
        .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("did you mean `create_vault`?"),
        "{}",
        out.stderr
    );
    assert!(emu.requests().await.is_empty());
    emu.stop().await;
}
