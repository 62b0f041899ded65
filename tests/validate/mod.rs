//! Issue 3: every mistake in a plan is reported before the first API call, with its place.
//!
//! - `invalid`: each plan in `tests/plans/invalid/` holds one mistake; `validate` exits 2 and
//!   reports it (snapshot of the text, code checked in the JSON); one plan holds five.
//! - `plans`: every plan in `plans/` validates, carries the schema header and conforms to
//!   `schemas/plan.schema.json`.
//! - `schema`: the committed schema is the one the code generates.
//! - `dry_run`: `run --dry-run` prints the requests and sends none (the emulator's request
//!   log stays empty).
//! - `graph`: DOT and Mermaid output (snapshots).
//! - `hostile`: alias bombs, huge files and deep nesting are refused quickly; no input panics.

mod dry_run;
mod graph;
mod hostile;
mod invalid;
mod plans;
mod schema;

use std::path::{Path, PathBuf};

use crate::util::{Cbrflow, Output, repo};

/// Runs `cbrflow <args>` in a scratch directory that holds `plan` (a path relative to the
/// repository) at the same relative path, so messages name it as the repository does.
pub async fn cbrflow_on(plan: &str, args: &[&str]) -> Output {
    let mut cli = Cbrflow::new();
    let text = std::fs::read_to_string(repo().join(plan)).expect("read plan");
    cli.write(plan, &text);
    cli.args(args.iter().copied().chain(std::iter::once(plan)))
        .run()
        .await
}

/// The `.yaml` files of a directory of the repository, sorted by name.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

/// `path` relative to the repository, with `/` separators.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Runs insta assertions with snapshots in `tests/validate/snapshots/<dir>/`, named as given.
pub fn snapshots(dir: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("snapshots/{dir}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}
