//! cbrflow: declarative, resumable workflows for Cloud Backup and Recovery (CBR v3).
//!
//! The pipeline is `plan` (parse + check) → `graph` (DAG) → `engine` (execute with retries,
//! persisting every transition through `state`) → `steps` → `cbr` (HTTP client). The `emulator`
//! is a CBR v3 server used as the embedded default and by every test. `cli` is the only module
//! that reads argv, the environment or writes to the terminal.

pub mod cbr;
pub mod cli;
pub mod emulator;
pub mod engine;
pub mod graph;
pub mod plan;
pub mod state;
pub mod steps;
pub mod template;
