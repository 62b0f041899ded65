//! One mistake per plan in `tests/plans/invalid/`, each reported with its place; and one plan
//! with five mistakes, all reported in one pass.
//!
//! Each broken plan starts with comment lines that drive the test:
//! `# expect: <code>` (the diagnostic code every reported problem must have),
//! optionally `# args: --var NAME=VALUE …`, then one line saying what is wrong.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{cbrflow_on, relative, snapshots, yaml_files};

/// The value of a `# key: value` header line.
fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
}

/// The line that says what is wrong (the first header line that is not `key: value`).
fn about(text: &str) -> String {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .find(|l| !l.starts_with("expect:") && !l.starts_with("args:"))
        .unwrap_or_default()
        .to_owned()
}

fn codes(diagnostics: &Value) -> Vec<String> {
    diagnostics
        .as_array()
        .expect("a JSON list of diagnostics")
        .iter()
        .map(|d| d["code"].as_str().expect("code").to_owned())
        .collect()
}

#[tokio::test]
async fn every_broken_plan_reports_its_mistake_with_its_place() {
    let plans = yaml_files("tests/plans/invalid");
    assert!(plans.len() >= 30, "only {} broken plans", plans.len());
    let mut wrong = Vec::new();
    for path in &plans {
        let plan = relative(path);
        let text = std::fs::read_to_string(path).expect("read plan");
        let expect =
            header(&text, "expect").unwrap_or_else(|| panic!("{plan}: no `# expect:` line"));
        let extra: Vec<&str> = header(&text, "args")
            .map(|a| a.split_whitespace().collect())
            .unwrap_or_default();

        let mut args = vec!["validate"];
        args.extend(&extra);
        let out = cbrflow_on(&plan, &args).await;
        out.assert_code(2);
        assert!(
            out.stdout.is_empty(),
            "{plan}: text diagnostics go to stderr:\n{}",
            out.stdout
        );
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        snapshots("invalid").bind(|| {
            insta::with_settings!({ description => about(&text) }, {
                insta::assert_snapshot!(name.as_str(), out.stderr);
            });
        });

        args.extend(["--output", "json"]);
        let out = cbrflow_on(&plan, &args).await;
        out.assert_code(2);
        let found = codes(&out.json());
        if found.is_empty() || found.iter().any(|c| c != expect) {
            wrong.push(format!("{plan}: expected only `{expect}`, got {found:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_diagnostic_names_file_line_and_column_in_json() {
    let out = cbrflow_on(
        "tests/plans/five-mistakes.yaml",
        &["validate", "--output", "json"],
    )
    .await;
    out.assert_code(2);
    for d in out.json().as_array().expect("list") {
        for key in [
            "severity", "code", "message", "file", "line", "column", "step", "path",
        ] {
            assert!(d.get(key).is_some(), "missing `{key}` in {d}");
        }
        assert_eq!(d["severity"], "error");
        assert_eq!(d["file"], "tests/plans/five-mistakes.yaml");
        assert!(d["line"].as_u64().is_some_and(|l| l > 0), "{d}");
        assert!(d["column"].as_u64().is_some_and(|c| c > 0), "{d}");
        let message = d["message"].as_str().unwrap();
        assert!(
            message.starts_with(|c: char| !c.is_uppercase()),
            "not lower-case: {message}"
        );
    }
}

#[tokio::test]
async fn five_mistakes_are_all_reported_in_one_pass() {
    let plan = "tests/plans/five-mistakes.yaml";
    let out = cbrflow_on(plan, &["validate", "--output", "json"]).await;
    out.assert_code(2);
    let diagnostics = out.json();
    let found: BTreeSet<String> = codes(&diagnostics).into_iter().collect();
    let expected: BTreeSet<String> = [
        "unknown-field",
        "duplicate-key",
        "unknown-step-type",
        "unknown-output",
        "retry-range",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(found, expected, "{diagnostics:#}");
    assert_eq!(diagnostics.as_array().unwrap().len(), 5, "{diagnostics:#}");

    let out = cbrflow_on(plan, &["validate"]).await;
    out.assert_code(2);
    for hint in [
        "did you mean `description`?",
        "did you mean `create_checkpoint`?",
        "did you mean `id`?",
    ] {
        assert!(out.stderr.contains(hint), "no `{hint}` in:\n{}", out.stderr);
    }
    assert!(
        out.stderr.contains("has 5 problems; no request was sent"),
        "{}",
        out.stderr
    );
    snapshots("invalid").bind(|| insta::assert_snapshot!("five-mistakes", out.stderr));
}

#[tokio::test]
async fn var_flags_are_checked_against_the_declared_inputs() {
    // A declared input given by --var satisfies it; the same plan without it does not.
    let plan = "tests/plans/invalid/missing-input.yaml";
    cbrflow_on(plan, &["validate", "--var", "vault_name=my_vault"])
        .await
        .assert_code(0);
    let out = cbrflow_on(plan, &["validate"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("pass `--var vault_name=VALUE`"),
        "{}",
        out.stderr
    );
}
