//! `cbrflow run` and `cbrflow resume`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::sync::mpsc;
use url::Url;

use super::connection::{self, ConnectionArgs};
use super::output::{self, Printer};
use super::{EXIT_FAILED, EXIT_OK, OutputFormat, UsageError, parse_var};
use crate::cbr::CbrClient;
use crate::cbr::auth::Auth;
use crate::emulator::{self, EmulatorConfig, EmulatorHandle};
use crate::engine::{Engine, RunOptions, RunReport};
use crate::state::{RunId, RunStatus};
use crate::steps::Registry;

/// The project id the embedded emulator is addressed with.
pub const EMBEDDED_PROJECT_ID: &str = "0605767b5780d5762fc5c0118072a564";

/// Flags of `cbrflow run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The plan file (YAML).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Set a plan input: --var server_id=e8cc6bfd-… (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Check the plan and print every request it would send, without sending any.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Steps that may run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Where requests go and how they are authenticated.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Flags of `cbrflow resume`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["run_id", "last"])))]
pub struct ResumeArgs {
    /// The run to continue (see `cbrflow runs`).
    #[arg(value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Continue the most recent run.
    #[arg(long)]
    pub last: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Steps that may run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Where requests go and how they are authenticated (defaults to the run's endpoint).
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `cbrflow run`.
pub async fn run(args: RunArgs, state_dir: &Path) -> Result<u8> {
    let registry = Arc::new(Registry::builtin());
    let plan = super::validate_cmd::load_plan(&args.plan, &args.vars, &registry, args.output)?;
    if args.dry_run {
        return super::validate_cmd::dry_run(&plan, &registry, args.output);
    }
    let plan_path = std::fs::canonicalize(&args.plan).unwrap_or_else(|_| args.plan.clone());
    let store = crate::state::open(state_dir)?;
    let target = Target::connect(&args.connection, None, state_dir).await?;
    let id = RunId::generate();
    let endpoint = target.endpoint.clone();
    let session = Session {
        registry,
        output: args.output,
        concurrency: args.concurrency,
    };
    session
        .execute(plan, store, target, &id, |engine| {
            engine.start(id.clone(), plan_path, endpoint)
        })
        .await
}

/// `cbrflow resume`.
pub async fn resume(args: ResumeArgs, state_dir: &Path) -> Result<u8> {
    let registry = Arc::new(Registry::builtin());
    let Some(store) = crate::state::open_existing(state_dir)? else {
        return Err(UsageError(format!(
            "no runs recorded in {}; start one with `cbrflow run PLAN`",
            state_dir.display()
        ))
        .into());
    };
    let run = match (&args.run_id, args.last) {
        (Some(id), _) => store.run(&RunId(id.clone()))?,
        (None, _) => store
            .latest_run()?
            .ok_or_else(|| UsageError(format!("no runs recorded in {}", state_dir.display())))?,
    };
    if run.status == RunStatus::Succeeded {
        eprintln!("run {} already succeeded; nothing to resume", run.id);
        let steps = store.steps(&run.id)?;
        let report = RunReport::from_records(&run, &steps);
        output::print_report(&report, args.output, &registry);
        return Ok(EXIT_OK);
    }
    let vars = stored_vars(&run.inputs);
    let plan = super::validate_cmd::load_plan(&run.plan_path, &vars, &registry, args.output)
        .with_context(|| format!("cannot resume run {}", run.id))?;
    let target = Target::connect(
        &args.connection,
        Some((&run.endpoint, &run.project_id)),
        state_dir,
    )
    .await?;
    let session = Session {
        registry,
        output: args.output,
        concurrency: args.concurrency,
    };
    session
        .execute(plan, store, target, &run.id, |engine| {
            engine.resume(run.id.clone())
        })
        .await
}

/// What `run` and `resume` share: the engine wiring, progress output, Ctrl-C, the report.
struct Session {
    registry: Arc<Registry>,
    output: OutputFormat,
    concurrency: u16,
}

impl Session {
    /// Builds the engine, hands it to `go` (start or resume), prints progress and the report,
    /// and returns the exit code.
    async fn execute<F, Fut>(
        self,
        plan: crate::plan::Plan,
        store: Box<dyn crate::state::StateStore>,
        target: Target,
        id: &RunId,
        go: F,
    ) -> Result<u8>
    where
        F: FnOnce(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<RunReport, crate::engine::EngineError>>,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let printer = Printer::spawn(rx, self.output);
        let engine = Engine::new(
            plan,
            Arc::clone(&self.registry),
            target.client.clone(),
            store,
            tx,
            RunOptions {
                concurrency: usize::from(self.concurrency),
                ..RunOptions::default()
            },
        );
        let result = interruptible(id, go(engine)).await;
        printer.finish().await;
        target.shutdown().await;
        let report = result?;
        output::print_report(&report, self.output, &self.registry);
        Ok(if report.status == RunStatus::Succeeded {
            EXIT_OK
        } else {
            EXIT_FAILED
        })
    }
}

/// Runs `work` until it finishes or the user presses Ctrl-C. Every transition is already
/// committed, so an interrupted run is simply resumed later; the lease it held is taken over
/// because this process is gone.
async fn interruptible<T>(
    id: &RunId,
    work: impl std::future::Future<Output = Result<T, crate::engine::EngineError>>,
) -> Result<T> {
    tokio::select! {
        result = work => Ok(result?),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; run {id} is saved — continue it with: cbrflow resume {id}");
            Err(super::Reported(super::EXIT_INTERRUPTED).into())
        }
    }
}

/// The inputs a run started with, as `--var` pairs.
fn stored_vars(inputs: &Value) -> Vec<(String, String)> {
    inputs
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where a run's requests go.
struct Target {
    client: CbrClient,
    /// `None` for the embedded emulator.
    endpoint: Option<String>,
    emulator: Option<EmulatorHandle>,
}

impl Target {
    /// Resolves the connection; with nothing configured, starts the embedded emulator with
    /// its data under the state dir. `previous` is the endpoint and project of a resumed
    /// run.
    async fn connect(
        args: &ConnectionArgs,
        previous: Option<(&Option<String>, &String)>,
        state_dir: &Path,
    ) -> Result<Self> {
        let mut args = args.clone();
        if let Some((Some(endpoint), project)) = previous
            && args.endpoint.is_none()
        {
            args.endpoint = Some(endpoint.clone());
            args.project_id.get_or_insert_with(|| project.clone());
        }
        match connection::resolve(&args).await? {
            Some(conn) => {
                let endpoint = conn.endpoint.to_string();
                eprintln!(
                    "cbrflow: sending requests to {endpoint} (project {})",
                    conn.project_id
                );
                Ok(Self {
                    client: CbrClient::new(conn.http, conn.endpoint, conn.project_id, conn.auth),
                    endpoint: Some(endpoint.trim_end_matches('/').to_owned()),
                    emulator: None,
                })
            }
            None => Self::embedded(state_dir).await,
        }
    }

    async fn embedded(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
        let data_file = state_dir.join("emulator.json");
        let backup_seconds = match std::env::var("CBRFLOW_EMULATOR_BACKUP_SECONDS") {
            Ok(v) => v.parse::<f64>().ok().filter(|s| *s >= 0.0).ok_or_else(|| {
                UsageError(format!(
                    "CBRFLOW_EMULATOR_BACKUP_SECONDS=`{v}` is not a number of seconds"
                ))
            })?,
            Err(_) => 3.0,
        };
        let config = EmulatorConfig {
            data_file: Some(data_file.clone()),
            backup_seconds,
            ..EmulatorConfig::default()
        };
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        let handle = emulator::start(addr, config).await.with_context(|| {
            format!(
                "cannot start the embedded emulator with data {}",
                data_file.display()
            )
        })?;
        eprintln!(
            "cbrflow: no endpoint configured; using the embedded CBR emulator at {} — a simulated cloud, not a real one (data: {})",
            handle.url(),
            data_file.display()
        );
        let url = Url::parse(&handle.url()).context("embedded emulator URL")?;
        Ok(Self {
            client: CbrClient::new(
                crate::cbr::http_client(),
                url,
                EMBEDDED_PROJECT_ID,
                Auth::None,
            ),
            endpoint: None,
            emulator: Some(handle),
        })
    }

    async fn shutdown(self) {
        if let Some(handle) = self.emulator {
            handle.shutdown().await;
        }
    }
}
