//! Scale benchmarks: the state store per transition, plan checking, and the executor end to
//! end against the in-process emulator (in memory and with a data file), next to the
//! emulator's raw request rate.
//!
//! ```text
//! cargo bench --bench scale                      # everything (several minutes)
//! cargo bench --bench scale -- --quick           # 3 runs each, no 10,000-step sizes
//! cargo bench --bench scale -- state plan/check  # only names containing a filter
//! ```
//!
//! Plain `std::time::Instant` timing with warm-up runs; each line reports the median of the
//! timed runs, their range and spread, the cost per unit and the rate. Results and what they
//! mean are in docs/benchmarks.md.

#[path = "scale/engine.rs"]
mod engine;
#[path = "scale/harness.rs"]
mod harness;
#[path = "scale/plan_check.rs"]
mod plan_check;
#[path = "scale/plans.rs"]
mod plans;
#[path = "scale/state.rs"]
mod state;

fn main() {
    let options = harness::Options::from_args();
    println!(
        "cbrflow scale benchmarks ({} mode); times are medians [min … max] of the timed runs",
        if options.quick { "quick" } else { "full" }
    );
    state::run(&options);
    plan_check::run(&options);
    engine::run(&options);
}
