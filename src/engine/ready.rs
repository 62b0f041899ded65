//! `ReadyQueue`: the pending steps whose dependencies have all succeeded, kept up to date as
//! steps succeed, so that scheduling costs O(log n) per started step instead of a scan of the
//! whole plan on every event.

use std::collections::BTreeSet;

use crate::graph::StepGraph;

/// Steps ready to start, lowest plan index first, and how many unfinished dependencies each
/// other step still waits for.
#[derive(Debug)]
pub(super) struct ReadyQueue {
    /// Per step: dependencies that have not succeeded yet.
    waiting: Vec<usize>,
    /// Pending steps with `waiting == 0`.
    ready: BTreeSet<usize>,
}

impl ReadyQueue {
    /// The queue for a run in which `succeeded(i)` and `pending(i)` tell each step's state.
    pub(super) fn new(
        graph: &StepGraph,
        succeeded: impl Fn(usize) -> bool,
        pending: impl Fn(usize) -> bool,
    ) -> Self {
        let waiting: Vec<usize> = (0..graph.len())
            .map(|i| {
                graph
                    .dependencies(i)
                    .into_iter()
                    .filter(|&d| !succeeded(d))
                    .count()
            })
            .collect();
        let ready = (0..graph.len())
            .filter(|&i| waiting[i] == 0 && pending(i))
            .collect();
        Self { waiting, ready }
    }

    /// Takes the ready step that comes first in the plan.
    pub(super) fn pop(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Records that `step` succeeded: dependents left without unfinished dependencies become
    /// ready if `pending`.
    pub(super) fn succeeded(
        &mut self,
        graph: &StepGraph,
        step: usize,
        pending: impl Fn(usize) -> bool,
    ) {
        for dependent in graph.dependents(step) {
            let waiting = &mut self.waiting[dependent];
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 && pending(dependent) {
                self.ready.insert(dependent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse_str;
    use crate::steps::Registry;

    /// A plan whose steps `a`, `b`, … depend on the steps listed with them.
    fn graph(steps: &[(&str, &[&str])]) -> StepGraph {
        let mut text = String::from("version: 1\nname: t\nsteps:\n");
        for (id, deps) in steps {
            text.push_str(&format!(
                "  - id: {id}\n    type: create_vault\n    depends_on: [{}]\n    with: {{ name: {id}, \
                 billing: {{ consistent_level: crash_consistent, object_type: server, \
                 protect_type: backup, size: 1 }}, resources: [] }}\n",
                deps.join(", ")
            ));
        }
        let plan = parse_str("t.yaml", &text, &[], &Registry::builtin()).expect("valid plan");
        StepGraph::new(&plan)
    }

    #[test]
    fn releases_a_step_once_all_its_dependencies_succeeded_in_plan_order() {
        // d needs b and c; b and c need a; e needs nothing.
        let g = graph(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["b", "c"]),
            ("e", &[]),
        ]);
        let mut queue = ReadyQueue::new(&g, |_| false, |_| true);
        assert_eq!(
            (queue.pop(), queue.pop(), queue.pop()),
            (Some(0), Some(4), None)
        );
        queue.succeeded(&g, 0, |_| true);
        assert_eq!(
            (queue.pop(), queue.pop(), queue.pop()),
            (Some(1), Some(2), None)
        );
        queue.succeeded(&g, 2, |_| true);
        assert_eq!(queue.pop(), None, "d still waits for b");
        queue.succeeded(&g, 1, |_| true);
        assert_eq!(queue.pop(), Some(3));
    }

    #[test]
    fn on_resume_counts_only_unfinished_dependencies_and_skips_steps_not_pending() {
        // a succeeded earlier, b is kept (succeeded), c needs a and b, d needs c.
        let g = graph(&[("a", &[]), ("b", &[]), ("c", &["a", "b"]), ("d", &["c"])]);
        let succeeded = [true, true, false, false];
        let mut queue = ReadyQueue::new(&g, |i| succeeded[i], |i| !succeeded[i]);
        assert_eq!((queue.pop(), queue.pop()), (Some(2), None));
        // A dependent that is no longer pending (e.g. failed) is not released.
        queue.succeeded(&g, 2, |_| false);
        assert_eq!(queue.pop(), None);
    }
}
