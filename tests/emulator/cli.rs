//! `cbrflow emulator` as a process: the first stdout line names the bound address, it serves
//! until SIGTERM, and bad files exit with code 2 naming the file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::{PROJECT, SEED_SERVER, vault_body};

fn cbrflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cbrflow"));
    command.env_remove("RUST_LOG");
    command
}

#[tokio::test]
async fn serves_on_the_announced_address_until_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.json");
    let mut child = cbrflow()
        // A repeated flag overrides the earlier one (wrappers pass defaults first).
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--backup-seconds",
            "60",
        ])
        .args(["--backup-seconds", "0.1", "--data"])
        .arg(&data)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was `{first}`"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();
    assert!(
        second.contains("emulator") && second.contains("not a real"),
        "{second}"
    );

    cbrflow::cbr::install_crypto_provider();
    let http = reqwest::Client::new();
    let reply = http
        .post(format!("{url}/v3/{PROJECT}/vaults"))
        .json(&vault_body("from_cli", "server", json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let vault: serde_json::Value = reply.json().await.unwrap();
    let vault_id = vault["vault"]["id"].as_str().unwrap();
    let reply = http
        .post(format!("{url}/v3/{PROJECT}/vaults/{vault_id}/addresources"))
        .json(&json!({"resources": [{"id": SEED_SERVER, "type": "OS::Nova::Server"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply = http
        .post(format!("{url}/v3/{PROJECT}/checkpoints"))
        .json(&json!({"checkpoint": {"vault_id": vault_id}}))
        .send()
        .await
        .unwrap();
    let checkpoint: serde_json::Value = reply.json().await.unwrap();
    let id = checkpoint["checkpoint"]["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shown = http
        .get(format!("{url}/v3/{PROJECT}/checkpoints/{id}"))
        .send()
        .await
        .unwrap();
    let shown: serde_json::Value = shown.json().await.unwrap();
    assert_eq!(
        shown["checkpoint"]["status"], "available",
        "the last --backup-seconds must win: {shown}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the emulator ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    assert!(std::fs::read_to_string(&data).unwrap().contains("from_cli"));
}

#[test]
fn bad_files_exit_with_code_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.yaml");
    std::fs::write(&faults, "- path: /x\n  stauts: 500\n").unwrap();
    let inventory = dir.path().join("inventory.yaml");
    std::fs::write(&inventory, "not: [a list\n").unwrap();
    let data = dir.path().join("data.json");
    std::fs::write(&data, "garbage").unwrap();

    for (flag, file) in [
        ("--faults", &faults),
        ("--inventory", &inventory),
        ("--data", &data),
    ] {
        let output = cbrflow()
            .args(["emulator", "--listen", "127.0.0.1:0", flag])
            .arg(file)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            stderr.contains(name.as_ref()),
            "{flag}: stderr does not name the file: {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "{flag}: printed before failing: {:?}",
            output.stdout
        );
    }
    let missing = cbrflow()
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            "does-not-exist.yaml",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist.yaml"));
}
