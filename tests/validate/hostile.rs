//! Hostile plan files are refused with a clear error, quickly and in bounded memory; and no
//! input makes the checker panic. The files are generated here, never committed.

use std::process::Stdio;
use std::time::{Duration, Instant};

use cbrflow::plan::{self, PlanError};
use cbrflow::steps::Registry;

use crate::util::{Cbrflow, Output, repo};

/// Address space the checker may use for a hostile file (`ulimit -v`, in KiB): room for the
/// runtime's thread reservations, far below the tens of gigabytes that expanding the alias
/// bomb below would take.
const MEMORY_LIMIT_KIB: u64 = 2 * 1024 * 1024;
/// Wall time a refusal may take (a debug build on a slow machine included).
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Runs `cbrflow validate <plan>` in the scratch directory of `cli` under a memory limit and
/// a time limit.
async fn validate_bounded(cli: &Cbrflow, plan: &str) -> Output {
    let script = format!("ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" validate \"$1\"");
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", &script, crate::util::bin(), plan])
        .current_dir(cli.dir())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let out = tokio::time::timeout(TIME_LIMIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("validate {plan} did not finish within {TIME_LIMIT:?}"))
        .expect("run sh");
    let out = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("validate {plan}: {:?}", started.elapsed());
    out
}

fn billion_laughs() -> String {
    let mut text = String::from(
        "version: 1\nname: bomb\noutputs:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("steps:\n  - { id: a, type: await_checkpoint, with: { checkpoint_id: x } }\n");
    text
}

#[tokio::test]
async fn an_alias_bomb_is_refused() {
    let cli = Cbrflow::new();
    let plan = cli.write("bomb.yaml", &billion_laughs());
    let out = validate_bounded(&cli, &plan).await;
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("aliases (`*name`) expand to more values than plans may have"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("bomb.yaml:"), "{}", out.stderr);
}

#[tokio::test]
async fn a_100_mb_plan_is_refused_before_it_is_read() {
    let cli = Cbrflow::new();
    let plan = cli.write("huge.yaml", "version: 1\n");
    // Sparse: 100 MB by its metadata without writing them.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(cli.dir().join(&plan))
        .unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
    let out = validate_bounded(&cli, &plan).await;
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("the plan file is 104857600 bytes; plans may be at most 4194304 bytes"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn nesting_10000_deep_is_refused() {
    let deep_flow = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_map = format!("{}1{}", "{a: ".repeat(10_000), "}".repeat(10_000));
    let deep_block = format!("\n    {}1", "- ".repeat(10_000));
    for (name, value) in [
        ("flow", deep_flow),
        ("map", deep_map),
        ("block", deep_block),
    ] {
        let cli = Cbrflow::new();
        let text = format!("version: 1\nname: deep\noutputs:\n  x: {value}\nsteps: []\n");
        let plan = cli.write(&format!("deep-{name}.yaml"), &text);
        let out = validate_bounded(&cli, &plan).await;
        out.assert_code(2);
        assert!(
            out.stderr
                .contains("the plan nests lists and mappings deeper than 64 levels"),
            "{name}: {}",
            out.stderr
        );
        // The snippet of a 20,000-character line is cut around the caret.
        assert!(
            out.stderr.lines().all(|l| l.chars().count() < 200),
            "{name}: {}",
            out.stderr
        );
    }
}

/// Every prefix and many mangled versions of a real plan: the checker reports or accepts, and
/// never panics.
#[test]
fn truncated_and_mangled_plans_never_panic() {
    let registry = Registry::builtin();
    let text = std::fs::read_to_string(repo().join("plans/backup-ecs.yaml")).unwrap();
    let mut inputs: Vec<String> = Vec::new();
    let mut cut = 0;
    while cut < text.len() {
        if text.is_char_boundary(cut) {
            inputs.push(text[..cut].to_owned());
        }
        cut += 3;
    }
    let lines: Vec<&str> = text.lines().collect();
    for (i, _) in lines.iter().enumerate() {
        for replacement in [
            "", "  - ", "{{", "- [", ": :", "\t", "*x", "&a [*a]", "steps: 5",
        ] {
            let mut mangled = lines.clone();
            mangled[i] = replacement;
            inputs.push(mangled.join("\n"));
        }
    }
    for input in &inputs {
        match plan::parse_str("mangled.yaml", input, &[], &registry) {
            Ok(_) => {}
            Err(PlanError::Invalid { diagnostics, .. }) => assert!(diagnostics.has_errors()),
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}

/// Wide and long plans: checking stays linear, and the text report stays readable.
#[tokio::test]
async fn thousands_of_mistakes_are_reported_quickly_and_capped() {
    let cli = Cbrflow::new();
    let steps: String = (0..20_000)
        .map(|i| {
            format!("  - {{ id: s{i}, type: await_checkpoint, depends_on: [t{i}], with: {{ checkpoint_id: x }} }}\n")
        })
        .collect();
    let plan = cli.write(
        "long.yaml",
        &format!("version: 1\nname: long\nsteps:\n{steps}"),
    );
    let out = validate_bounded(&cli, &plan).await;
    out.assert_code(2);
    assert!(out.stderr.contains("has 20000 problems"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("… and 19950 more (`--output json` lists every one)"),
        "{}",
        out.stderr
    );

    let keys: String = (0..50_000).map(|i| format!("      k{i}: {i}\n")).collect();
    let text = format!(
        "version: 1\nname: wide\nsteps:\n  - id: a\n    type: await_checkpoint\n    with:\n      checkpoint_id: x\n{keys}"
    );
    let plan = cli.write("wide.yaml", &text);
    let out = validate_bounded(&cli, &plan).await;
    out.assert_code(2);
    assert!(out.stderr.contains("has 50000 problems"), "{}", out.stderr);

    let outputs: String = (0..100_000).map(|i| format!("  k{i}: {i}\n")).collect();
    let text = format!(
        "version: 1\nname: wide\noutputs:\n{outputs}steps:\n  - {{ id: a, type: await_checkpoint, with: {{ checkpoint_id: x }} }}\n"
    );
    let plan = cli.write("wide-ok.yaml", &text);
    let out = validate_bounded(&cli, &plan).await;
    out.assert_code(0);
}
