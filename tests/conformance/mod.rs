//! Conformance: the official Python SDK (`huaweicloudsdkcbr` and `huaweicloudsdkcore`, pinned
//! in `requirements.txt` beside this file) against `cbrflow emulator --ak --sk`.
//!
//! `sdk_conformance.py` signs every request with AK/SK, runs the seed's four calls and every
//! operation the emulator implements, and checks that each answer parses into the SDK's
//! response model, conforms to it field by field and carries the right values; a wrong SK and
//! the service's errors must surface as the SDK's `ClientRequestException`.
//!
//! The SDK lives in a venv at `target/conformance-venv`, created on first use by this test
//! binary (so `cargo test` works from a fresh clone) and rebuilt whenever `requirements.txt`
//! changes or an earlier install was interrupted. `python3` (with its `venv` module) is a
//! requirement of the project's tests: without it these tests fail, they do not skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::process::Command;

use crate::util::{EmulatorProcess, PROJECT, repo};

const AK: &str = "HPUACONFORMANCETEST0";
const SK: &str = "conformance-secret-key-0123456789";

/// File in the venv holding the requirements it was built from; written last, so a venv
/// without it (an interrupted install) is rebuilt.
const MARKER: &str = ".cbrflow-requirements";
/// At most this long for creating the venv and installing the SDK.
const INSTALL_LIMIT: Duration = Duration::from_secs(15 * 60);
/// At most this long for one run of the script.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);
/// Python variables that would make the venv's interpreter load other code.
const FOREIGN_PYTHON_ENV: &[&str] = &["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"];

fn conformance_dir() -> PathBuf {
    repo().join("tests").join("conformance")
}

/// The venv's interpreter, creating the venv the first time any test of this binary asks.
fn venv_python() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        ensure_venv(
            "python3",
            &repo().join("target").join("conformance-venv"),
            &conformance_dir().join("requirements.txt"),
        )
    })
    .clone()
}

fn python_in(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Whether `venv` is complete and built from `requirements` (the file's contents).
fn is_ready(venv: &Path, requirements: &str) -> bool {
    python_in(venv).is_file()
        && fs::read_to_string(venv.join(MARKER)).is_ok_and(|built| built == requirements)
}

/// Makes sure `venv` exists with `requirements_file` installed, creating it with `python`
/// when missing, stale or incomplete, and returns its interpreter.
///
/// Safe across processes: the venv is built in a fresh sibling directory and renamed into
/// place only when complete; a process that loses the race uses the winner's venv.
fn ensure_venv(python: &str, venv: &Path, requirements_file: &Path) -> Result<PathBuf, String> {
    let requirements = fs::read_to_string(requirements_file)
        .map_err(|e| format!("cannot read {}: {e}", requirements_file.display()))?;
    if is_ready(venv, &requirements) {
        return Ok(python_in(venv));
    }
    let parent = venv.parent().ok_or("the venv path has no parent")?;
    let name = venv
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("the venv path has no name")?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    remove_stale_siblings(parent, name);

    let unique = || {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}", std::process::id())
    };
    let building = parent.join(format!("{name}.tmp-{}", unique()));
    let log = parent.join(format!("{name}.tmp-{}.log", unique()));
    let built = build_venv(python, &building, &log, requirements_file, &requirements);
    let _ = fs::remove_file(&log);
    if let Err(err) = built {
        let _ = fs::remove_dir_all(&building);
        return Err(err);
    }
    for _ in 0..5 {
        match fs::rename(&building, venv) {
            Ok(()) => return Ok(python_in(venv)),
            Err(_) if is_ready(venv, &requirements) => {
                // Another process finished first; use its venv.
                let _ = fs::remove_dir_all(&building);
                return Ok(python_in(venv));
            }
            Err(_) if venv.exists() => {
                // A stale or interrupted venv: move it aside (atomically), then delete it.
                let aside = parent.join(format!("{name}.old-{}", unique()));
                if fs::rename(venv, &aside).is_ok() {
                    let _ = fs::remove_dir_all(&aside);
                }
            }
            Err(err) => {
                let _ = fs::remove_dir_all(&building);
                return Err(format!(
                    "cannot move the new venv into {}: {err}",
                    venv.display()
                ));
            }
        }
    }
    let _ = fs::remove_dir_all(&building);
    Err(format!(
        "could not put the venv in place at {}",
        venv.display()
    ))
}

/// Leftovers of interrupted builds (`NAME.tmp-*`, `NAME.old-*`) older than an hour.
fn remove_stale_siblings(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let leftover = [".tmp-", ".old-"]
            .iter()
            .any(|tag| file_name.starts_with(&format!("{name}{tag}")));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if leftover && old {
            let path = entry.path();
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
    }
}

/// Creates a venv at `dir` with `python -m venv`, installs `requirements_file` with pip
/// (output to `log`) and writes the marker last.
fn build_venv(
    python: &str,
    dir: &Path,
    log: &Path,
    requirements_file: &Path,
    requirements: &str,
) -> Result<(), String> {
    let mut create = StdCommand::new(python);
    create.arg("-m").arg("venv").arg(dir);
    run_logged(&mut create, log).map_err(|why| match why {
        RunError::NotFound => format!(
            "`{python}` was not found on PATH. The conformance tests (tests/conformance) run the \
             official Python SDK and need Python 3 with its venv module, e.g. \
             `apt-get install python3 python3-venv`."
        ),
        other => format!(
            "`{python} -m venv {}` failed ({other}); on Debian/Ubuntu install python3-venv.",
            dir.display()
        ),
    })?;
    let mut install = StdCommand::new(python_in(dir));
    install
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(["--quiet", "-r"])
        .arg(requirements_file);
    run_logged(&mut install, log).map_err(|why| {
        format!(
            "installing {} into {} failed ({why}); the package registry must be reachable on \
             the first run",
            requirements_file.display(),
            dir.display()
        )
    })?;
    fs::write(dir.join(MARKER), requirements)
        .map_err(|e| format!("cannot write {}: {e}", dir.join(MARKER).display()))
}

#[derive(Debug)]
enum RunError {
    NotFound,
    Failed(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("program not found"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// Runs `cmd` to completion within [`INSTALL_LIMIT`], its output going to `log`; on failure
/// the error carries the log's tail.
fn run_logged(cmd: &mut StdCommand, log: &Path) -> Result<(), RunError> {
    let describe = format!("{cmd:?}");
    let out = fs::File::create(log).map_err(|e| RunError::Failed(format!("log file: {e}")))?;
    let err = out
        .try_clone()
        .map_err(|e| RunError::Failed(format!("log file: {e}")))?;
    for key in FOREIGN_PYTHON_ENV {
        cmd.env_remove(key);
    }
    cmd.env("PIP_NO_INPUT", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RunError::NotFound,
        _ => RunError::Failed(format!("cannot start {describe}: {e}")),
    })?;
    let deadline = Instant::now() + INSTALL_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Failed(format!(
                    "{describe} did not finish within {} s",
                    INSTALL_LIMIT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(RunError::Failed(format!("waiting for {describe}: {e}"))),
        }
    };
    if status.success() {
        return Ok(());
    }
    let output = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = output.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(RunError::Failed(format!(
        "{describe} exited with {status}:\n{}",
        tail.join("\n")
    )))
}

#[tokio::test]
async fn the_official_sdk_accepts_every_emulator_operation() {
    let python = tokio::task::spawn_blocking(venv_python)
        .await
        .expect("venv task")
        .unwrap_or_else(|err| panic!("cannot prepare the SDK venv: {err}"));
    let emu = EmulatorProcess::start(&["--ak", AK, "--sk", SK, "--restore-seconds", "0.3"]).await;

    let mut script = Command::new(&python);
    script
        .arg(conformance_dir().join("sdk_conformance.py"))
        .current_dir(conformance_dir())
        .kill_on_drop(true)
        .stdin(Stdio::null());
    for key in FOREIGN_PYTHON_ENV {
        script.env_remove(key);
    }
    for key in [
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_PROJECT_ID",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "HUAWEICLOUD_SDK_REGION",
    ] {
        script.env_remove(key);
    }
    script
        .env("CBR_ENDPOINT", &emu.url)
        .env("CBR_PROJECT_ID", PROJECT)
        .env("CBR_AK", AK)
        .env("CBR_SK", SK)
        // Loopback must never go through a proxy configured for the package registry.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = tokio::time::timeout(SCRIPT_LIMIT, script.output())
        .await
        .unwrap_or_else(|_| panic!("sdk_conformance.py did not finish within {SCRIPT_LIMIT:?}"))
        .expect("run sdk_conformance.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "sdk_conformance.py exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ok   seed 4/4")),
        "the script ran no seed check:\n{stdout}"
    );
    emu.stop().await;
}

#[test]
fn a_missing_interpreter_is_a_clear_failure_not_a_skip() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let err = ensure_venv(
        "cbrflow-test-no-such-python3",
        &scratch.path().join("venv"),
        &conformance_dir().join("requirements.txt"),
    )
    .expect_err("a venv without an interpreter");
    assert!(
        err.contains("`cbrflow-test-no-such-python3` was not found on PATH")
            && err.contains("need Python 3"),
        "{err}"
    );
    assert!(!scratch.path().join("venv").exists());
}

#[test]
fn a_venv_is_ready_only_when_its_marker_names_the_current_requirements() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let venv = scratch.path().join("venv");
    let python = python_in(&venv);
    fs::create_dir_all(python.parent().expect("bin dir")).expect("mkdir");
    fs::write(&python, "").expect("fake interpreter");
    // An install interrupted before the marker was written.
    assert!(!is_ready(&venv, "pkg==1\n"));
    fs::write(venv.join(MARKER), "pkg==1\n").expect("marker");
    assert!(is_ready(&venv, "pkg==1\n"));
    // requirements.txt changed since.
    assert!(!is_ready(&venv, "pkg==2\n"));
}
