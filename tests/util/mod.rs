//! Shared test harness: run the real `cbrflow` binary in a scratch directory, and start a
//! standalone `cbrflow emulator` process on a free loopback port.
//!
//! ```ignore
//! let emu = EmulatorProcess::start(&[]).await;
//! let out = Cbrflow::new().endpoint(&emu).args(["run", "plans/backup-ecs.yaml"]).run().await;
//! out.assert_code(0);
//! ```

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cbrflow")
}

/// The repository root (where `plans/` lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Environment variables that would send a test run somewhere else or change its credentials.
const FOREIGN_ENV: &[&str] = &[
    "CBRFLOW_ENDPOINT",
    "CBRFLOW_PROJECT_ID",
    "CBRFLOW_REGION",
    "CBRFLOW_STATE_DIR",
    "CBRFLOW_AUTH_TOKEN",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_REGION",
    "OS_CLOUD",
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_NAME",
    "OS_PROJECT_ID",
    "OS_REGION_NAME",
    "OS_AUTH_TOKEN",
    "OS_USER_DOMAIN_NAME",
    "OS_DOMAIN_NAME",
    "RUST_LOG",
    "CBRFLOW_IAM_ENDPOINT",
    "CBRFLOW_CA_BUNDLE",
    "CBRFLOW_INSECURE",
    "CBRFLOW_EMULATOR_BACKUP_SECONDS",
    "HUAWEICLOUD_SDK_IAM_ENDPOINT",
    "OS_CLIENT_CONFIG_FILE",
    "OS_CACERT",
    "XDG_CONFIG_HOME",
];

/// A `cbrflow` invocation builder with its own scratch directory (the working directory and,
/// under `.cbrflow/`, the state dir).
pub struct Cbrflow {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What a finished invocation printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code, printing both streams if it differs.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Default for Cbrflow {
    fn default() -> Self {
        Self::new()
    }
}

impl Cbrflow {
    /// A fresh scratch directory with the repository's `plans/` copied in.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let plans = dir.path().join("plans");
        std::fs::create_dir_all(&plans).expect("mkdir plans");
        for entry in std::fs::read_dir(repo().join("plans")).expect("read plans") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), plans.join(entry.file_name())).expect("copy plan");
        }
        Self {
            dir,
            args: Vec::new(),
            env: vec![("CBRFLOW_EMULATOR_BACKUP_SECONDS".into(), "0.3".into())],
        }
    }

    /// The scratch directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The state directory (`<dir>/.cbrflow`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join(".cbrflow")
    }

    /// Writes a file (e.g. a plan) into the scratch directory and returns its relative path.
    pub fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write file");
        name.to_owned()
    }

    /// Sets the arguments of the next invocation.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, args: I) -> &mut Self {
        self.args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Sets an environment variable for every invocation.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sends runs to a standalone emulator.
    pub fn endpoint(&mut self, emu: &EmulatorProcess) -> &mut Self {
        self.env("CBRFLOW_ENDPOINT", &emu.url);
        self.env("CBRFLOW_PROJECT_ID", PROJECT)
    }

    /// The command for the current arguments, not yet started.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        for key in FOREIGN_ENV {
            cmd.env_remove(key);
        }
        cmd.env("HOME", self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs to completion (at most 120 s).
    pub async fn run(&self) -> Output {
        let child = self.command().spawn().expect("spawn cbrflow");
        let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("cbrflow did not finish within 120 s")
            .expect("wait for cbrflow");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts without waiting (for tests that kill the process).
    pub fn spawn(&self) -> Child {
        self.command().spawn().expect("spawn cbrflow")
    }
}

/// The seed's project id (used for the standalone emulator).
pub const PROJECT: &str = "0605767b5780d5762fc5c0118072a564";
/// The seed's server.
pub const SEED_SERVER: &str = "e8cc6bfd-d324-4b88-9109-9fb0ba70676f";

/// A `cbrflow emulator` child process on a free loopback port.
pub struct EmulatorProcess {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl EmulatorProcess {
    /// Starts `cbrflow emulator --listen 127.0.0.1:0 --backup-seconds 0.3 <extra…>` and waits
    /// for its `listening on` line.
    pub async fn start(extra: &[&str]) -> Self {
        cbrflow::cbr::install_crypto_provider();
        let mut cmd = Command::new(bin());
        cmd.args(["emulator", "--listen", "127.0.0.1:0"]);
        if !extra.contains(&"--backup-seconds") {
            cmd.args(["--backup-seconds", "0.3"]);
        }
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for key in FOREIGN_ENV {
            cmd.env_remove(key);
        }
        let mut child = cmd.spawn().expect("spawn emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("emulator did not print its address within 20 s")
            .expect("read emulator stdout")
            .expect("emulator exited before printing its address");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .trim()
            .to_owned();
        // Keep draining stdout so the emulator never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url,
            http: reqwest::Client::new(),
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status();
        let text = resp.text().await.expect("admin body");
        assert!(status.is_success(), "admin {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `GET /_emulator/state`.
    pub async fn state(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_emulator/state", None)
            .await
    }

    /// `GET /_emulator/requests`.
    pub async fn requests(&self) -> Vec<Value> {
        match self
            .admin(reqwest::Method::GET, "/_emulator/requests", None)
            .await
        {
            Value::Array(items) => items,
            Value::Object(mut obj) => match obj.remove("requests") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// `POST /_emulator/faults`.
    pub async fn add_fault(&self, rule: Value) {
        self.admin(reqwest::Method::POST, "/_emulator/faults", Some(rule))
            .await;
    }

    /// `DELETE /_emulator/faults`.
    pub async fn clear_faults(&self) {
        self.admin(reqwest::Method::DELETE, "/_emulator/faults", None)
            .await;
    }

    /// Vaults of the seed project in the emulator.
    pub async fn vaults(&self) -> Vec<Value> {
        self.project_items("vaults").await
    }

    /// Restore points of the seed project in the emulator.
    pub async fn checkpoints(&self) -> Vec<Value> {
        self.project_items("checkpoints").await
    }

    async fn project_items(&self, kind: &str) -> Vec<Value> {
        let state = self.state().await;
        let project = state
            .get("projects")
            .and_then(|p| p.get(PROJECT))
            .or_else(|| state.get(PROJECT))
            .cloned()
            .unwrap_or(Value::Null);
        match project.get(kind) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Object(map)) => map.values().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Requests in the log matching a method and a path suffix.
    pub async fn count_requests(&self, method: &str, path_suffix: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| {
                r.get("method").and_then(Value::as_str) == Some(method)
                    && r.get("path")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.ends_with(path_suffix))
            })
            .count()
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
