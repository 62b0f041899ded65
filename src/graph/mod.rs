//! The step graph: a petgraph DAG whose edges come from template references and `depends_on`,
//! with topological levels, ready sets, cycle reporting, and DOT/Mermaid rendering.

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::plan::Plan;

/// The DAG of a checked plan. Node weights are indices into `plan.steps`.
#[derive(Debug, Clone)]
pub struct StepGraph {
    graph: DiGraph<usize, ()>,
    nodes: Vec<NodeIndex>,
    ids: Vec<String>,
}

impl StepGraph {
    /// Builds the graph of a checked plan (which has no cycles).
    pub fn new(plan: &Plan) -> Self {
        let mut graph = DiGraph::with_capacity(plan.steps.len(), plan.steps.len());
        let nodes: Vec<NodeIndex> = (0..plan.steps.len()).map(|i| graph.add_node(i)).collect();
        let position: HashMap<&str, usize> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        for (i, step) in plan.steps.iter().enumerate() {
            for need in &step.needs {
                if let Some(&d) = position.get(need.as_str()) {
                    graph.add_edge(nodes[d], nodes[i], ());
                }
            }
        }
        let ids = plan.steps.iter().map(|s| s.id.clone()).collect();
        Self { graph, nodes, ids }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for a plan without steps.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Indices of the steps `step` depends on directly.
    pub fn dependencies(&self, step: usize) -> Vec<usize> {
        let mut deps: Vec<usize> = self
            .graph
            .neighbors_directed(self.nodes[step], Direction::Incoming)
            .map(|n| self.graph[n])
            .collect();
        deps.sort_unstable();
        deps
    }

    /// Indices of the steps that depend on `step` directly.
    pub fn dependents(&self, step: usize) -> Vec<usize> {
        let mut deps: Vec<usize> = self
            .graph
            .neighbors_directed(self.nodes[step], Direction::Outgoing)
            .map(|n| self.graph[n])
            .collect();
        deps.sort_unstable();
        deps
    }

    /// `step` and every step downstream of it, in index order.
    pub fn downstream(&self, step: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![step];
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            stack.extend(self.dependents(s));
        }
        (0..self.len()).filter(|&i| seen[i]).collect()
    }

    /// Steps grouped by level: level 0 has no dependencies, level n depends only on levels
    /// below n. Within a level, steps keep plan order.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level = vec![0usize; self.len()];
        for i in self.topological_order() {
            level[i] = self
                .dependencies(i)
                .iter()
                .map(|&d| level[d] + 1)
                .max()
                .unwrap_or(0);
        }
        let depth = level.iter().copied().max().map_or(0, |m| m + 1);
        let mut out = vec![Vec::new(); depth];
        for (i, l) in level.iter().enumerate() {
            out[*l].push(i);
        }
        out
    }

    /// A topological order that prefers plan order among ready steps.
    pub fn topological_order(&self) -> Vec<usize> {
        let mut indegree: Vec<usize> = (0..self.len())
            .map(|i| self.dependencies(i).len())
            .collect();
        let mut ready: std::collections::BTreeSet<usize> =
            (0..self.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for d in self.dependents(i) {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        order
    }

    /// Renders Graphviz DOT.
    pub fn to_dot(&self, plan: &Plan) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {} {{", dot_quote(&plan.name));
        let _ = writeln!(out, "  rankdir=LR;");
        let _ = writeln!(out, "  node [shape=box];");
        for (i, step) in plan.steps.iter().enumerate() {
            let label = format!("{}\n{}", step.id, step.step_type);
            let _ = writeln!(
                out,
                "  {} [label={}];",
                dot_quote(&self.ids[i]),
                dot_quote(&label)
            );
        }
        for (a, b) in self.edges() {
            let _ = writeln!(
                out,
                "  {} -> {};",
                dot_quote(&self.ids[a]),
                dot_quote(&self.ids[b])
            );
        }
        out.push_str("}\n");
        out
    }

    /// Every edge as (dependency, dependent), sorted.
    fn edges(&self) -> Vec<(usize, usize)> {
        let mut edges: Vec<(usize, usize)> = self
            .graph
            .edge_references()
            .map(|e| (self.graph[e.source()], self.graph[e.target()]))
            .collect();
        edges.sort_unstable();
        edges
    }

    /// Renders a Mermaid flowchart.
    pub fn to_mermaid(&self, plan: &Plan) -> String {
        let mut out = String::from("flowchart LR\n");
        for step in &plan.steps {
            let _ = writeln!(
                out,
                "  {}[\"{}<br/>{}\"]",
                mermaid_id(&step.id),
                step.id,
                step.step_type
            );
        }
        for (a, b) in self.edges() {
            let _ = writeln!(
                out,
                "  {} --> {}",
                mermaid_id(&self.ids[a]),
                mermaid_id(&self.ids[b])
            );
        }
        out
    }
}

/// A DOT string literal: quoted, with `"` and `\` escaped and line breaks as `\n`.
fn dot_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Mermaid node id for a step id (an identifier); `end` is a Mermaid keyword.
fn mermaid_id(id: &str) -> String {
    if id == "end" {
        format!("_{id}")
    } else {
        id.to_owned()
    }
}

/// Every cycle of a graph given as `(from, to)` edges over `n` nodes, each as the list of its
/// nodes in path order starting at its smallest index. Self-loops are not reported (the
/// checker reports those separately).
pub fn find_cycles(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut graph = DiGraph::<usize, ()>::with_capacity(n, edges.len());
    let nodes: Vec<NodeIndex> = (0..n).map(|i| graph.add_node(i)).collect();
    for &(a, b) in edges {
        if a != b {
            graph.add_edge(nodes[a], nodes[b], ());
        }
    }
    let mut cycles = Vec::new();
    for component in tarjan_scc(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: std::collections::BTreeSet<usize> =
            component.iter().map(|n| graph[*n]).collect();
        let start = *members.first().expect("non-empty component");
        // Shortest path from `start` back to itself inside the component (BFS), so the
        // reported cycle is one concrete path.
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = None;
        'search: while let Some(current) = queue.pop_front() {
            let mut succ: Vec<usize> = graph
                .neighbors(nodes[current])
                .map(|s| graph[s])
                .filter(|s| members.contains(s))
                .collect();
            succ.sort_unstable();
            for next in succ {
                if next == start {
                    last = Some(current);
                    break 'search;
                }
                if next != start && !parent.contains_key(&next) {
                    parent.insert(next, current);
                    queue.push_back(next);
                }
            }
        }
        let mut path = Vec::new();
        let mut node = last.unwrap_or(start);
        while node != start {
            path.push(node);
            node = parent[&node];
        }
        path.push(start);
        path.reverse();
        cycles.push(path);
    }
    cycles.sort();
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_whole_cycle_path() {
        // 0 -> 1 -> 2 -> 0, and 3 alone
        let cycles = find_cycles(4, &[(0, 1), (1, 2), (2, 0), (2, 3)]);
        assert_eq!(cycles, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn acyclic_graph_has_no_cycles() {
        assert!(find_cycles(3, &[(0, 1), (1, 2), (0, 2)]).is_empty());
    }

    #[test]
    fn dot_strings_are_escaped() {
        assert_eq!(dot_quote("a \"b\"\\c\nd"), "\"a \\\"b\\\"\\\\c\\nd\"");
        assert_eq!(mermaid_id("end"), "_end");
        assert_eq!(mermaid_id("vault"), "vault");
    }

    #[test]
    fn two_separate_cycles() {
        let cycles = find_cycles(4, &[(0, 1), (1, 0), (2, 3), (3, 2)]);
        assert_eq!(cycles, vec![vec![0, 1], vec![2, 3]]);
    }
}
