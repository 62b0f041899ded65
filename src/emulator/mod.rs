//! A CBR v3 emulator: a real HTTP server (axum) speaking the API as the official SDK does.
//!
//! It is the embedded default of `cbrflow run` and what every test runs against. It owns an
//! in-memory store (optionally persisted to a file), an inventory of fake servers and disks,
//! fault injection and a request log under `/_emulator/`. It may use `cbr` wire types and
//! signing, never `plan`, `graph` or `engine`.
//!
//! Lifecycle statuses (`protecting` → `available`, `restoring` → `available`) are derived
//! from timestamps when read, so they advance across restarts of a persisted emulator.

mod admin;
mod api_error;
mod app;
pub mod auth;
mod backups;
mod checkpoints;
mod clock;
mod connection;
mod data_file;
mod fault;
mod gateway;
mod inventory;
mod policies;
mod query;
mod records;
mod request_log;
mod store;
mod table;
mod validate;
mod vaults;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use fault::{FaultRule, load_faults_file};
pub use inventory::{Inventory, InventoryItem};

use app::{App, AppSettings};
use connection::{ConnectionControl, KillableListener};
use data_file::DataFile;
use fault::FaultSet;

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to persist data; `None` keeps it in memory only.
    pub data_file: Option<PathBuf>,
    /// Seconds a restore point stays `protecting` before it becomes `available`.
    pub backup_seconds: f64,
    /// Request authentication the emulator enforces.
    pub auth: auth::AuthConfig,
    /// Seconds a backup stays `restoring` after a restore request.
    pub restore_seconds: f64,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// The servers and disks of the emulated cloud.
    pub inventory: Inventory,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            data_file: None,
            backup_seconds: 3.0,
            auth: auth::AuthConfig::default(),
            restore_seconds: 3.0,
            faults: Vec::new(),
            inventory: Inventory::builtin(),
        }
    }
}

/// Why the emulator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Could not bind, accept or serve.
    #[error("emulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The data file exists but cannot be read or parsed.
    #[error("cannot load emulator data file `{}`: {reason}", path.display())]
    DataFile {
        /// The data file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The faults file cannot be read, parsed or holds an invalid rule.
    #[error("invalid faults file `{}`: {reason}", path.display())]
    FaultsFile {
        /// The faults file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The inventory file cannot be read, parsed or holds an invalid resource.
    #[error("invalid inventory file `{}`: {reason}", path.display())]
    InventoryFile {
        /// The inventory file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A fault rule in the configuration is invalid.
    #[error("invalid fault rule: {0}")]
    FaultRule(String),
}

/// Serves the emulator on `listener` until `shutdown` completes, then finishes the requests
/// in progress.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EmulatorError> {
    let app = build_app(config)?;
    run(listener, app, shutdown).await
}

fn build_app(config: EmulatorConfig) -> Result<App, EmulatorError> {
    let data_file = config.data_file.map(DataFile::new);
    let store = match &data_file {
        Some(file) => file.recover()?,
        None => store::Store::default(),
    };
    let mut faults = FaultSet::default();
    faults
        .add(&config.faults)
        .map_err(EmulatorError::FaultRule)?;
    Ok(App::new(AppSettings {
        store,
        data_file,
        faults,
        inventory: config.inventory,
        backup_seconds: config.backup_seconds,
        restore_seconds: config.restore_seconds,
        auth: config.auth,
    }))
}

async fn run(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EmulatorError> {
    let router = router(&app);
    axum::serve(
        KillableListener::new(listener),
        router.into_make_service_with_connect_info::<ConnectionControl>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    // Handlers run detached from their connections; let them finish their changes.
    app.wait_idle(gateway::DRAIN_LIMIT).await;
    app.close().await;
    Ok(())
}

/// The whole HTTP surface: CBR routes (authenticated), IAM routes, both behind the gateway
/// (faults, request log), and the administrative routes.
fn router(app: &App) -> Router {
    let cbr = Router::new()
        .route(
            "/v3/{project_id}/vaults",
            get(vaults::list).post(vaults::create),
        )
        .route(
            "/v3/{project_id}/vaults/{vault_id}",
            get(vaults::show).put(vaults::update).delete(vaults::delete),
        )
        .route(
            "/v3/{project_id}/vaults/{vault_id}/addresources",
            post(vaults::add_resources),
        )
        .route(
            "/v3/{project_id}/vaults/{vault_id}/removeresources",
            post(vaults::remove_resources),
        )
        .route(
            "/v3/{project_id}/vaults/{vault_id}/associatepolicy",
            post(policies::associate),
        )
        .route(
            "/v3/{project_id}/vaults/{vault_id}/dissociatepolicy",
            post(policies::dissociate),
        )
        .route("/v3/{project_id}/checkpoints", post(checkpoints::create))
        .route(
            "/v3/{project_id}/checkpoints/{checkpoint_id}",
            get(checkpoints::show),
        )
        .route("/v3/{project_id}/backups", get(backups::list))
        .route(
            "/v3/{project_id}/backups/{backup_id}",
            get(backups::show).delete(backups::delete),
        )
        .route(
            "/v3/{project_id}/backups/{backup_id}/restore",
            post(backups::restore),
        )
        .route(
            "/v3/{project_id}/policies",
            get(policies::list).post(policies::create),
        )
        .route(
            "/v3/{project_id}/policies/{policy_id}",
            get(policies::show)
                .put(policies::update)
                .delete(policies::delete),
        )
        .route_layer(from_fn_with_state(app.clone(), app::durable_responses))
        .route_layer(from_fn_with_state(app.clone(), gateway::authenticate))
        .with_state(app.clone());
    let api = cbr
        .merge(auth::iam_routes(app.auth()))
        .fallback(gateway::not_found)
        .method_not_allowed_fallback(gateway::method_not_allowed)
        .layer(from_fn_with_state(app.clone(), gateway::gateway));
    let admin = admin::routes()
        .with_state(app.clone())
        .layer(from_fn(gateway::request_id));
    Router::new().nest("/_emulator", admin).merge(api)
}

/// A running emulator started with [`start`]. Dropping the handle leaves it running until
/// the runtime ends; [`EmulatorHandle::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct EmulatorHandle {
    /// Address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), EmulatorError>>>,
}

impl EmulatorHandle {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, finishes requests in progress and waits for the server
    /// to stop (the data file is complete afterwards).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!("emulator stopped with an error: {err}"),
                Err(err) => tracing::warn!("emulator task failed: {err}"),
            }
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves in a background task. Configuration
/// errors (data file, fault rules) are reported here, before anything is served.
pub async fn start(
    addr: SocketAddr,
    config: EmulatorConfig,
) -> Result<EmulatorHandle, EmulatorError> {
    let app = build_app(config)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, app, async move {
        // A dropped handle leaves the server running; only `shutdown` stops it.
        if rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    }));
    Ok(EmulatorHandle {
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}
