//! Plan checking: `plan::parse_str` (YAML parse + check) of generated plans, then
//! `StepGraph::new` and `levels()`.

use std::hint::black_box;

use cbrflow::graph::StepGraph;
use cbrflow::plan::{self, PlanError};
use cbrflow::steps::Registry;

use crate::harness::{Bench, Options, Sample, timed};
use crate::plans::{self, Shape};

/// Runs the plan-checking benchmarks.
pub fn run(options: &Options) {
    let registry = Registry::builtin();
    for shape in [Shape::Chain, Shape::FanOut] {
        for n in [100, 1_000, 10_000] {
            if !options.size_enabled(n) {
                continue;
            }
            let name = format!("plan/check/{}/steps={n}", shape.name());
            if !options.wants(&name) {
                continue;
            }
            let text = plans::plan(n, shape);
            let bench = Bench {
                name,
                unit: "step",
                units: n as u64,
                heavy: n >= 10_000,
            };
            bench.run(options, || {
                let (plan, parse) = timed(|| check(&text, &registry));
                let (graph, build) = timed(|| StepGraph::new(&plan));
                let (levels, leveled) = timed(|| graph.levels());
                black_box(levels);
                Sample::of(parse + build + leveled)
                    .part("parse_str (YAML + check)", parse, n as u64)
                    .part("StepGraph::new", build, n as u64)
                    .part("levels()", leveled, n as u64)
            });
        }
    }
}

/// Parses and checks a generated plan, which must be valid.
pub fn check(text: &str, registry: &Registry) -> plan::Plan {
    match plan::parse_str("bench.yaml", text, &[], registry) {
        Ok(plan) => plan,
        Err(PlanError::Invalid { diagnostics, .. }) => {
            panic!("generated plan is invalid: {diagnostics:#?}")
        }
        Err(err) => panic!("generated plan cannot be read: {err}"),
    }
}
