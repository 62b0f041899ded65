//! The state store: what one step's transitions cost in runs of 10, 1,000 and 10,000 steps.
//!
//! Each step goes through what the executor commits for a step that succeeds at its first
//! attempt: `step_started`, `attempt_started`, `open_intents` (a read), `record_intent`,
//! `resolve_intent`, `step_succeeded` — five commits. The first and the last tenth of the
//! run are reported on their own, so growth within a run shows as well as growth across sizes.

use std::time::{Duration, Instant};

use cbrflow::state::{self, IntentOutcome, LeaseOwner, NewRun, RunId};
use serde_json::json;

use crate::harness::{Bench, Options, Sample, timed};

/// Runs the state-store benchmarks.
pub fn run(options: &Options) {
    for n in [10, 1_000, 10_000] {
        if !options.size_enabled(n) {
            continue;
        }
        let bench = Bench {
            name: format!("state/transitions/steps={n}"),
            unit: "step",
            units: n as u64,
            heavy: n >= 10_000,
        };
        bench.run(options, || one_run(n));
    }
}

fn one_run(n: usize) -> Sample {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = state::open(dir.path()).expect("open state store");
    let id = RunId(format!("bench-{n}"));
    let steps: Vec<(String, String)> = (0..n)
        .map(|i| (format!("vault_{i}"), "create_vault".to_owned()))
        .collect();
    let run = NewRun {
        id: id.clone(),
        plan_path: "bench.yaml".into(),
        plan_name: "bench".into(),
        plan_hash: "0".repeat(64),
        inputs: json!({}),
        endpoint: None,
        project_id: "0605767b5780d5762fc5c0118072a564".into(),
        steps: steps.clone(),
    };
    let ((), create) = timed(|| store.create_run(&run).expect("create_run"));
    let owner = LeaseOwner::current();
    store
        .acquire_lease(&id, &owner, Duration::from_secs(30))
        .expect("lease");

    // Bodies of the size a create_vault step really records.
    let request = json!({"vault": {"name": "vault_0", "billing": {"consistent_level": "crash_consistent",
        "object_type": "server", "protect_type": "backup", "size": 100}, "resources": []}});
    let outputs = json!({"id": "3f2a9c1e-0000-4000-8000-000000000000", "name": "vault_0",
        "billing": {"allocated": 0, "cloud_type": "public", "consistent_level": "crash_consistent",
        "object_type": "server", "protect_type": "backup", "size": 100, "status": "available",
        "spec_code": "vault.backup.server.normal", "used": 0}, "resources": [],
        "project_id": "0605767b5780d5762fc5c0118072a564", "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "created_at": "2026-01-01T00:00:00.000000", "tags": [], "enterprise_project_id": "0",
        "auto_bind": false, "bind_rules": {}, "user_id": "aa2999fa5ae640f28926f8fd79188934"});
    let hash = "1".repeat(64);

    let mut per_step = Vec::with_capacity(n);
    let start = Instant::now();
    for (step, _) in &steps {
        let t = Instant::now();
        store.step_started(&id, step, &hash).expect("step_started");
        let attempt = store.attempt_started(&id, step).expect("attempt_started");
        let open = store.open_intents(&id, step).expect("open_intents");
        assert!(open.is_empty());
        let intent = store
            .record_intent(&id, step, attempt, "create_vault", &request)
            .expect("record_intent");
        store
            .resolve_intent(intent, IntentOutcome::Applied)
            .expect("resolve_intent");
        store
            .step_succeeded(&id, step, &outputs)
            .expect("step_succeeded");
        per_step.push(t.elapsed());
    }
    let total = start.elapsed();
    let tenth = (n / 10).max(1);
    let first: Duration = per_step[..tenth].iter().sum();
    let last: Duration = per_step[n - tenth..].iter().sum();
    Sample::of(total)
        .part("create_run (all steps pending)", create, n as u64)
        .part("first tenth of the steps", first, tenth as u64)
        .part("last tenth of the steps", last, tenth as u64)
}
