//! The real binaries over loopback: `cbrflow emulator` started with `--ak/--sk` or
//! `--iam-user`, and `cbrflow run` authenticating the way an operator configures it
//! (environment variables, clouds.yaml). Secrets never reach the output.

use cbrflow::emulator::auth::project_id_for;

use crate::util::{Cbrflow, EmulatorProcess, PROJECT};

const AK: &str = "HPUAENDTOENDTEST0000";
const SK: &str = "end-to-end-secret-key-0123456789";
const PASSWORD: &str = "end-to-end-password";

fn assert_no_secret(output: &crate::util::Output, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !output.stdout.contains(secret) && !output.stderr.contains(secret),
            "a secret leaked:\n--- stdout\n{}\n--- stderr\n{}",
            output.stdout,
            output.stderr
        );
    }
}

#[tokio::test]
async fn a_run_signs_its_requests_with_aksk() {
    let emu = EmulatorProcess::start(&["--ak", AK, "--sk", SK]).await;
    let mut cli = Cbrflow::new();
    cli.endpoint(&emu)
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK);
    // Trace logging on: still no key, signature or token in the output or the state dir.
    cli.env("RUST_LOG", "trace");
    let out = cli
        .args(["-vv", "run", "plans/backup-ecs.yaml"])
        .run()
        .await;
    out.assert_code(0);
    assert!(
        out.stderr.contains("cbr request"),
        "trace logging was on: {}",
        out.stderr
    );
    assert_no_secret(&out, &[SK, "Signature=", "SDK-HMAC-SHA256 Access"]);
    for entry in std::fs::read_dir(cli.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [SK, "Signature="] {
            assert!(
                !text.contains(secret),
                "{secret} found in {}",
                path.display()
            );
        }
    }
    assert_eq!(emu.vaults().await.len(), 1);
    emu.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_keys_fail_with_the_gateway_error_and_change_nothing() {
    let emu = EmulatorProcess::start(&["--ak", AK, "--sk", SK]).await;
    let mut wrong = Cbrflow::new();
    wrong
        .endpoint(&emu)
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", "a-wrong-secret-key");
    let out = wrong.args(["run", "plans/backup-ecs.yaml"]).run().await;
    out.assert_code(1);
    assert!(
        out.stdout.contains("APIGW.0301") || out.stderr.contains("APIGW.0301"),
        "{out:?}"
    );
    assert_no_secret(&out, &[SK, "a-wrong-secret-key"]);

    let mut anonymous = Cbrflow::new();
    let out = anonymous
        .endpoint(&emu)
        .args(["run", "plans/backup-ecs.yaml"])
        .run()
        .await;
    out.assert_code(1);
    assert!(emu.vaults().await.is_empty());
    emu.stop().await;
}

#[tokio::test]
async fn a_run_uses_one_iam_password_token_for_all_its_requests() {
    let user = format!("alice:{PASSWORD}");
    let emu = EmulatorProcess::start(&["--iam-user", &user]).await;
    let mut cli = Cbrflow::new();
    cli.endpoint(&emu)
        .env("OS_AUTH_URL", &format!("{}/v3", emu.url))
        .env("OS_USERNAME", "alice")
        .env("OS_PASSWORD", PASSWORD)
        .env("OS_USER_DOMAIN_NAME", "alice-account");
    let out = cli.args(["run", "plans/backup-ecs.yaml"]).run().await;
    out.assert_code(0);
    assert_no_secret(&out, &[PASSWORD]);
    assert_eq!(emu.count_requests("POST", "/v3/auth/tokens").await, 1);
    assert_eq!(emu.vaults().await.len(), 1);
    emu.stop().await;
}

#[tokio::test]
async fn a_run_takes_a_clouds_yaml_entry_and_looks_up_the_project() {
    let user = format!("bob:{PASSWORD}");
    let emu = EmulatorProcess::start(&["--iam-user", &user]).await;
    let mut cli = Cbrflow::new();
    cli.write(
        "clouds.yaml",
        &format!(
            "clouds:\n  emulated:\n    auth:\n      auth_url: {}/v3\n      username: bob\n      \
             password: {PASSWORD}\n      user_domain_name: bob-account\n    region_name: eu-de\n",
            emu.url
        ),
    );
    cli.env("CBRFLOW_ENDPOINT", &emu.url);
    let out = cli
        .args(["run", "plans/backup-ecs.yaml", "--cloud", "emulated"])
        .run()
        .await;
    out.assert_code(0);
    assert_no_secret(&out, &[PASSWORD]);
    // No project id configured: the token scoped to the region's project names it.
    assert!(
        out.stderr.contains(&project_id_for("eu-de")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(PROJECT));
    emu.stop().await;
}
