//! Scale benchmarks for cbrflow (placeholder; the harness follows).

fn main() {}
