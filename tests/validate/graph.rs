//! `cbrflow graph PLAN --format dot|mermaid`.

use super::{cbrflow_on, snapshots};

#[tokio::test]
async fn graph_of_the_seed_plan() {
    for (format, name) in [("dot", "backup-ecs.dot"), ("mermaid", "backup-ecs.mermaid")] {
        let out = cbrflow_on("plans/backup-ecs.yaml", &["graph", "--format", format]).await;
        out.assert_code(0);
        snapshots("graph").bind(|| insta::assert_snapshot!(name, out.stdout));
    }
}

#[tokio::test]
async fn graph_shows_fan_out_and_join() {
    for (format, name) in [
        ("dot", "backup-disks.dot"),
        ("mermaid", "backup-disks.mermaid"),
    ] {
        let out = cbrflow_on("plans/backup-disks.yaml", &["graph", "--format", format]).await;
        out.assert_code(0);
        snapshots("graph").bind(|| insta::assert_snapshot!(name, out.stdout));
    }
}

#[tokio::test]
async fn graph_of_an_invalid_plan_reports_the_cycle() {
    let out = cbrflow_on("tests/plans/invalid/cycle.yaml", &["graph"]).await;
    out.assert_code(2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("dependency cycle: a -> b -> c -> a"),
        "{}",
        out.stderr
    );
}
