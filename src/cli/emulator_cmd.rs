//! `cbrflow emulator`: run the CBR emulator standalone until SIGINT or SIGTERM.
//!
//! The first line on stdout is `listening on http://ADDR` with the bound address (so
//! `--listen 127.0.0.1:0` reveals the port); scripts wait for it before sending requests.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cbr::sign::Secret;
use crate::emulator::auth::{AuthConfig, IamUser};
use crate::emulator::{self, EmulatorConfig, Inventory};

/// Flags of `cbrflow emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        overrides_with = "listen"
    )]
    pub listen: SocketAddr,
    /// Persist the emulated cloud to this file (loaded at start, rewritten after every change).
    #[arg(long = "data", value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Fault rules to apply from the start (YAML or JSON list of rules).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Servers and disks of the emulated cloud (YAML list of {id, name, type, size});
    /// a built-in inventory otherwise.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Seconds a restore point stays `protecting` before it is `available` (when given
    /// twice, the last one wins, so wrappers can override a default).
    #[arg(
        long,
        default_value_t = 3.0,
        value_name = "S",
        value_parser = parse_seconds,
        overrides_with = "backup_seconds"
    )]
    pub backup_seconds: f64,
    /// Seconds a backup stays `restoring` after a restore request.
    #[arg(
        long,
        default_value_t = 3.0,
        value_name = "S",
        value_parser = parse_seconds,
        overrides_with = "restore_seconds"
    )]
    pub restore_seconds: f64,
    /// Access key id that requests must be signed with (with --sk).
    #[arg(long, value_name = "AK", requires = "sk")]
    pub ak: Option<String>,
    /// Secret access key that requests must be signed with (with --ak).
    #[arg(long, value_name = "SK", requires = "ak")]
    pub sk: Option<Secret>,
    /// IAM token that requests must carry in X-Auth-Token.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<Secret>,
    /// IAM user that may get tokens from POST /v3/auth/tokens (repeatable); requests then
    /// need one of those tokens (or the --ak/--sk signature or --token).
    #[arg(long = "iam-user", value_name = "NAME:PASSWORD")]
    pub iam_users: Vec<IamUser>,
}

fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{value}` is not a non-negative number of seconds")),
    }
}

/// Exit code for unusable flags or files.
const USAGE_ERROR: u8 = 2;

/// Runs the emulator until interrupted.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let config = match config_from(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::from(USAGE_ERROR));
        }
    };
    let handle = match emulator::start(args.listen, config).await {
        Ok(handle) => handle,
        Err(emulator::EmulatorError::Io(err)) => {
            eprintln!("error: cannot listen on {}: {err}", args.listen);
            return Ok(ExitCode::from(USAGE_ERROR));
        }
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::from(USAGE_ERROR));
        }
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", handle.url())?;
        writeln!(
            out,
            "cbrflow CBR emulator: a simulated cloud, not a real one (nothing is backed up)"
        )?;
        if let Some(data) = &args.data {
            writeln!(out, "data file: {}", data.display())?;
        }
        out.flush()?;
    }
    shutdown_signal().await;
    eprintln!("shutting down the emulator");
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Builds the emulator configuration, reading the faults and inventory files.
fn config_from(args: &EmulatorArgs) -> Result<EmulatorConfig, emulator::EmulatorError> {
    let faults = match &args.faults {
        Some(path) => emulator::load_faults_file(path)?,
        None => Vec::new(),
    };
    let inventory = match &args.inventory {
        Some(path) => Inventory::from_yaml_file(path)?,
        None => Inventory::builtin(),
    };
    Ok(EmulatorConfig {
        data_file: args.data.clone(),
        backup_seconds: args.backup_seconds,
        restore_seconds: args.restore_seconds,
        auth: auth_config(args),
        faults,
        inventory,
    })
}

/// The authentication to enforce: none without --ak/--sk, --token or --iam-user.
fn auth_config(args: &EmulatorArgs) -> AuthConfig {
    let access_key = args.ak.clone().zip(args.sk.clone());
    AuthConfig::from_accounts(access_key, args.token.clone(), args.iam_users.clone())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
