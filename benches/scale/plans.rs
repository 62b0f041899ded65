//! Generated plans of a given size and shape, as YAML text.

use std::fmt::Write as _;

/// How the steps of a generated plan depend on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `create_vault` steps that depend on nothing.
    Independent,
    /// `create_vault` steps, each one referring to the previous one's id (one long path).
    Chain,
    /// One vault and `add_resources` steps that all refer to it (one wide level).
    FanOut,
    /// Pairs of a vault and an `add_resources` step attaching server `i` to vault `i` — the
    /// shape of "back up a fleet, one vault per server".
    Fleet,
}

impl Shape {
    /// Name used in benchmark names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Independent => "independent",
            Self::Chain => "chain",
            Self::FanOut => "fanout",
            Self::Fleet => "fleet",
        }
    }
}

/// The id of the `i`-th server of a generated inventory.
pub fn server_id(i: usize) -> String {
    format!("5e7a0000-0000-4000-8000-{i:012}")
}

/// A version-1 plan with `n` steps of `shape`.
pub fn plan(n: usize, shape: Shape) -> String {
    let mut out = String::with_capacity(n * 200);
    let _ = write!(
        out,
        "version: 1\nname: bench-{}-{n}\ninputs:\n  server_id: {{ type: string, default: e8cc6bfd-d324-4b88-9109-9fb0ba70676f }}\n\
         defaults:\n  retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 1s }}\n  timeout: 60s\nsteps:\n",
        shape.name()
    );
    let vault = |out: &mut String, id: &str, extra: &str| {
        let _ = writeln!(
            out,
            "  - id: {id}\n    type: create_vault\n    with:\n      name: {id}\n{extra}      \
             billing: {{ consistent_level: crash_consistent, object_type: server, protect_type: backup, size: 100 }}\n      \
             resources: []"
        );
    };
    let attach = |out: &mut String, id: &str, vault: &str, server: &str| {
        let _ = writeln!(
            out,
            "  - id: {id}\n    type: add_resources\n    with:\n      vault_id: \"{{{{ steps.{vault}.outputs.id }}}}\"\n      \
             resources: [{{ id: \"{server}\", type: OS::Nova::Server }}]"
        );
    };
    match shape {
        Shape::Independent => {
            for i in 0..n {
                vault(&mut out, &format!("v{i}"), "");
            }
        }
        Shape::Chain => {
            for i in 0..n {
                let extra = if i == 0 {
                    String::new()
                } else {
                    format!(
                        "      description: \"after {{{{ steps.v{}.outputs.id }}}}\"\n",
                        i - 1
                    )
                };
                vault(&mut out, &format!("v{i}"), &extra);
            }
        }
        Shape::FanOut => {
            vault(&mut out, "root", "");
            for i in 1..n {
                attach(&mut out, &format!("a{i}"), "root", "{{ inputs.server_id }}");
            }
        }
        Shape::Fleet => {
            for i in 0..n / 2 {
                vault(&mut out, &format!("v{i}"), "");
                attach(&mut out, &format!("a{i}"), &format!("v{i}"), &server_id(i));
            }
        }
    }
    out
}
