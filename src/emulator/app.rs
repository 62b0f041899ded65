//! The state shared by the emulator's handlers: the store (with its data file), the
//! inventory, fault rules, the request log and the simulated durations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::api_error::{ApiError, ErrorCode};
use super::auth::AuthConfig;
use super::data_file::DataFile;
use super::fault::FaultSet;
use super::inventory::Inventory;
use super::request_log::RequestLog;
use super::store::Store;

/// Handle to the emulator's shared state; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Mutex<Db>,
    faults: Mutex<FaultSet>,
    log: Mutex<RequestLog>,
    inventory: Inventory,
    backup_seconds: f64,
    restore_seconds: f64,
    auth: AuthConfig,
    in_flight: InFlight,
}

/// Settings of an [`App`].
#[derive(Debug)]
pub(crate) struct AppSettings {
    pub(crate) store: Store,
    pub(crate) data_file: Option<DataFile>,
    pub(crate) faults: FaultSet,
    pub(crate) inventory: Inventory,
    pub(crate) backup_seconds: f64,
    pub(crate) restore_seconds: f64,
    pub(crate) auth: AuthConfig,
}

impl App {
    /// Shared state built from `settings`.
    pub(crate) fn new(settings: AppSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: Mutex::new(Db {
                    store: settings.store,
                    file: settings.data_file,
                }),
                faults: Mutex::new(settings.faults),
                log: Mutex::new(RequestLog::default()),
                inventory: settings.inventory,
                backup_seconds: settings.backup_seconds,
                restore_seconds: settings.restore_seconds,
                auth: settings.auth,
                in_flight: InFlight::default(),
            }),
        }
    }

    /// The store; hold the guard only for synchronous work.
    pub(crate) fn db(&self) -> MutexGuard<'_, Db> {
        self.inner.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault rules.
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultSet> {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The request log.
    pub(crate) fn log(&self) -> MutexGuard<'_, RequestLog> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cloud's servers and disks.
    pub(crate) fn inventory(&self) -> &Inventory {
        &self.inner.inventory
    }

    /// Simulated seconds a backup takes.
    pub(crate) fn backup_seconds(&self) -> f64 {
        self.inner.backup_seconds
    }

    /// Simulated seconds a restore takes.
    pub(crate) fn restore_seconds(&self) -> f64 {
        self.inner.restore_seconds
    }

    /// The authentication CBR requests must pass.
    pub(crate) fn auth(&self) -> &AuthConfig {
        &self.inner.auth
    }

    /// Registers a request being handled; drop the guard when done.
    pub(crate) fn enter(&self) -> InFlightGuard {
        self.inner.in_flight.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard { app: self.clone() }
    }

    /// Waits until no request is being handled, at most `limit`.
    pub(crate) async fn wait_idle(&self, limit: Duration) {
        let in_flight = &self.inner.in_flight;
        let _ = tokio::time::timeout(limit, async {
            loop {
                let notified = in_flight.idle.notified();
                if in_flight.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}

#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// Marks one request as being handled (see [`App::enter`]).
#[derive(Debug)]
pub(crate) struct InFlightGuard {
    app: App,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let in_flight = &self.app.inner.in_flight;
        if in_flight.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            in_flight.idle.notify_waiters();
        }
    }
}

/// The store together with the file it is persisted to.
#[derive(Debug)]
pub(crate) struct Db {
    /// The data.
    pub(crate) store: Store,
    file: Option<DataFile>,
}

impl Db {
    /// Persists the store after a change (no-op without a data file). A failure is the
    /// service's internal error; the change stays in memory.
    pub(crate) fn commit(&self) -> Result<(), ApiError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        file.save(&self.store).map_err(|err| {
            tracing::error!("cannot write the emulator data file: {err}");
            ApiError::with_detail(ErrorCode::Unknown, "the data file could not be written")
        })
    }
}
