//! The command line: clap types, configuration and environment resolution, output, exit
//! codes. This is the only module that reads argv or the environment and writes to the
//! terminal; `anyhow` lives here and nowhere else.
//!
//! Exit codes: 0 succeeded · 1 the run failed (resumable) · 2 invalid plan or usage ·
//! 3 state conflict (run locked by another process, state unreadable).

pub mod connection;
pub mod emulator_cmd;
mod inspect;
mod output;
mod run_cmd;
mod steps_cmd;
mod validate_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::engine::EngineError;
use crate::plan::PlanError;
use crate::state::StateError;

/// Exit code: the run succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed; `cbrflow resume` can continue it.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: invalid plan or usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: state conflict (run locked by another process, state unreadable).
pub const EXIT_STATE: u8 = 3;
/// Exit code: interrupted by Ctrl-C (128 + SIGINT, as shells report it); resumable.
pub const EXIT_INTERRUPTED: u8 = 130;

const AFTER_HELP: &str = "\
Examples:
  cbrflow run plans/backup-ecs.yaml                 back up the seed's server (embedded emulator)
  cbrflow run plans/backup-ecs.yaml --dry-run       show every request without sending one
  cbrflow validate plans/backup-ecs.yaml            check a plan, report every mistake
  cbrflow resume --last                             continue the last run where it stopped
  cbrflow status --last                             per-step state of the last run
  cbrflow steps create_vault                        the fields and outputs of a step type

Exit codes: 0 succeeded, 1 run failed (resumable), 2 invalid plan or usage,
3 state conflict (run held by another process, state unreadable).

Without --endpoint/--region (or their environment variables), runs go to an embedded
CBR emulator: a simulated cloud that keeps its data in the state directory.";

/// cbrflow: declarative, resumable workflows for Cloud Backup and Recovery (CBR v3) on
/// Huawei Cloud and Open Telekom Cloud.
#[derive(Debug, Parser)]
#[command(name = "cbrflow", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Where runs are recorded (state.db) and the embedded emulator keeps its data.
    #[arg(
        long,
        global = true,
        env = "CBRFLOW_STATE_DIR",
        default_value = ".cbrflow",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,

    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    #[default]
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plan: check it, then execute its steps, recording every transition.
    Run(run_cmd::RunArgs),
    /// Check a plan and report every mistake, without sending any request.
    Validate(validate_cmd::ValidateArgs),
    /// Continue a failed or interrupted run from its saved state.
    Resume(run_cmd::ResumeArgs),
    /// Show the per-step state of a run.
    Status(inspect::StatusArgs),
    /// List recent runs.
    Runs(inspect::RunsArgs),
    /// Print a plan's step graph (DOT or Mermaid).
    Graph(validate_cmd::GraphArgs),
    /// List the step types, or show one type's `with` fields and outputs.
    Steps(steps_cmd::StepsArgs),
    /// Run the CBR emulator (a simulated CBR v3 service) standalone.
    Emulator(emulator_cmd::EmulatorArgs),
}

/// An error whose details were already printed (e.g. plan diagnostics); only its exit code
/// remains to be reported.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
pub struct Reported(pub u8);

/// An error the user made in how cbrflow was invoked (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(Reported(code)) = err.downcast_ref::<Reported>() {
                return ExitCode::from(*code);
            }
            let code = exit_code(&err);
            eprintln!("error: {}", render_error(&err));
            ExitCode::from(code)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    crate::cbr::install_crypto_provider();
    let state_dir = cli.state_dir;
    match cli.command {
        Command::Run(args) => run_cmd::run(args, &state_dir).await,
        Command::Resume(args) => run_cmd::resume(args, &state_dir).await,
        Command::Validate(args) => validate_cmd::validate(&args),
        Command::Graph(args) => validate_cmd::graph(&args),
        Command::Steps(args) => steps_cmd::steps(&args),
        Command::Status(args) => inspect::status(&args, &state_dir),
        Command::Runs(args) => inspect::runs(&args, &state_dir),
        Command::Emulator(args) => {
            let code = emulator_cmd::run(args).await?;
            Ok(if code == ExitCode::SUCCESS {
                EXIT_OK
            } else {
                EXIT_USAGE
            })
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "cbrflow=debug,warn",
        _ => "cbrflow=trace,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The exit code for an error, from its type.
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<PlanError>().is_some()
            || cause.downcast_ref::<UsageError>().is_some()
        {
            return EXIT_USAGE;
        }
        if let Some(e) = cause.downcast_ref::<StateError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return e.exit_code();
        }
    }
    EXIT_USAGE
}

fn render_error(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// Parses `--var NAME=VALUE`.
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}
