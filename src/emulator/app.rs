//! The state shared by the emulator's handlers: the store (with its data file), the
//! inventory, fault rules, the request log and the simulated durations.
//!
//! Durability with a data file is a group commit: a handler changes the store in memory and
//! calls [`Db::commit`], which only counts the change; [`durable_responses`] then holds the
//! response until the data file holds every change made so far. One write — a line of changed
//! records appended to the journal and synced (see `data_file.rs`) — covers all the changes
//! that arrived while the previous write was in progress, so a burst of N mutations costs a
//! few small appends instead of N rewrites of the whole store, and still no response (to a
//! change, or to a read that could see one) leaves before the change is on disk. A write that
//! fails turns the response into the service's internal error; the change stays in memory and
//! the next write is a full snapshot, so nothing is left out of the file.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use super::api_error::{ApiError, ErrorCode};
use super::auth::AuthConfig;
use super::data_file::DataFile;
use super::fault::FaultSet;
use super::inventory::Inventory;
use super::request_log::RequestLog;
use super::store::{ChangeSet, Store};

/// Handle to the emulator's shared state; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Mutex<Db>,
    file: Option<DataFile>,
    /// Taken by the one request writing the data file; holds the last version written.
    writer: tokio::sync::Mutex<u64>,
    /// The last version written, readable without waiting for a write in progress.
    on_disk: AtomicU64,
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
                    version: 0,
                    snapshot_needed: false,
                    persistent: settings.data_file.is_some(),
                }),
                file: settings.data_file,
                writer: tokio::sync::Mutex::new(0),
                on_disk: AtomicU64::new(0),
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

    /// Waits until the data file holds every change committed so far (at once without a data
    /// file, or when nothing is pending). The caller that finds no write in progress writes
    /// the whole store once for everyone waiting; the others find their change on disk.
    pub(crate) async fn durable(&self) -> Result<(), ApiError> {
        let Some(file) = &self.inner.file else {
            return Ok(());
        };
        let wanted = self.db().version;
        if self.inner.on_disk.load(Ordering::Acquire) >= wanted {
            return Ok(());
        }
        let mut written = self.inner.writer.lock().await;
        if *written >= wanted {
            return Ok(());
        }
        // Take the changes (or, rarely, a copy of the store) under the store's lock; serialize
        // and write (with fsync) outside it, so that handlers keep running meanwhile.
        let (write, version) = {
            let mut db = self.db();
            let write = if db.snapshot_needed || file.wants_snapshot() {
                db.snapshot_needed = false;
                db.store.forget_changes();
                Write::Snapshot(Box::new(db.store.clone()))
            } else {
                Write::Changes(db.store.take_changes())
            };
            (write, db.version)
        };
        let file = file.clone();
        let saved = tokio::task::spawn_blocking(move || match write {
            Write::Snapshot(store) => file.save(&store),
            Write::Changes(changes) if changes.projects.is_empty() => Ok(()),
            Write::Changes(changes) => file.append(&changes),
        })
        .await
        .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        match saved {
            Ok(()) => {
                *written = version;
                self.inner.on_disk.store(version, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                tracing::error!("cannot write the emulator data file: {err}");
                // The changes taken are not on disk: the next write saves everything.
                self.db().snapshot_needed = true;
                Err(ApiError::with_detail(
                    ErrorCode::Unknown,
                    "the data file could not be written",
                ))
            }
        }
    }

    /// At shutdown, after the last request: folds the journal into the snapshot so that the
    /// data file is one self-contained document again.
    pub(crate) async fn close(&self) {
        let Some(file) = &self.inner.file else {
            return;
        };
        let _written = self.inner.writer.lock().await;
        let store = {
            let mut db = self.db();
            if !db.snapshot_needed && !file.has_journal() {
                return;
            }
            db.snapshot_needed = false;
            db.store.forget_changes();
            db.store.clone()
        };
        let file = file.clone();
        let saved = tokio::task::spawn_blocking(move || file.save(&store)).await;
        if let Ok(Err(err)) | Err(err) = saved.map_err(std::io::Error::other) {
            tracing::warn!("cannot compact the emulator data file at shutdown: {err}");
        }
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

/// The store and a count of its changes.
#[derive(Debug)]
pub(crate) struct Db {
    /// The data.
    pub(crate) store: Store,
    /// Changes committed since start; the data file holds those up to `App::on_disk`.
    version: u64,
    /// The next write must save the whole store (it was replaced, or a write failed).
    snapshot_needed: bool,
    /// Whether there is a data file (which collects the changes the tables record).
    persistent: bool,
}

impl Db {
    /// Records a change of the store. It reaches the data file before the response to the
    /// request leaves (see [`durable_responses`]); a failed write is reported there.
    pub(crate) fn commit(&mut self) -> Result<(), ApiError> {
        self.version += 1;
        if !self.persistent {
            // Nobody collects the changes the tables record; keep that record from growing.
            self.store.forget_changes();
        }
        Ok(())
    }

    /// Replaces the whole store with an empty one (a reset), to be saved as a snapshot.
    pub(crate) fn reset(&mut self) {
        self.store = Store::default();
        self.snapshot_needed = true;
        self.version += 1;
    }
}

/// What one write of the data file saves.
enum Write {
    Snapshot(Box<Store>),
    Changes(ChangeSet),
}

/// Middleware for the CBR routes: holds each response until the changes it may reflect are
/// in the data file ([`App::durable`]); a failed write answers the service's internal error.
pub(crate) async fn durable_responses(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    match app.durable().await {
        Ok(()) => response,
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::fault::FaultSet;

    fn app(file: Option<DataFile>) -> App {
        App::new(AppSettings {
            store: Store::default(),
            data_file: file,
            faults: FaultSet::default(),
            inventory: Inventory::builtin(),
            backup_seconds: 0.0,
            restore_seconds: 0.0,
            auth: AuthConfig::default(),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_change_is_in_the_file_when_durable_returns_also_in_a_burst() {
        let dir = tempfile::tempdir().unwrap();
        let file = DataFile::new(dir.path().join("data.json"));
        let app = app(Some(file.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let (app, file) = (app.clone(), file.clone());
            tasks.spawn(async move {
                let project = format!("p{i}");
                {
                    let mut db = app.db();
                    db.store.project_mut(&project);
                    db.commit().unwrap();
                }
                app.durable().await.unwrap();
                assert!(
                    file.load().unwrap().projects.contains_key(&project),
                    "{project} not on disk"
                );
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(file.load().unwrap().projects.len(), 64);
    }

    #[tokio::test]
    async fn a_failed_write_is_an_error_and_a_later_write_retries() {
        let dir = tempfile::tempdir().unwrap();
        // The data file's directory is a regular file: every write fails.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "").unwrap();
        let app = app(Some(DataFile::new(blocker.join("data.json"))));
        app.db().commit().unwrap();
        let err = app.durable().await.unwrap_err();
        assert!(err.msg.contains("could not be written"), "{}", err.msg);
        std::fs::remove_file(&blocker).unwrap();
        app.durable().await.unwrap();
        assert!(blocker.join("data.json").exists());
    }

    #[tokio::test]
    async fn without_a_data_file_nothing_waits_and_no_change_record_grows() {
        let app = app(None);
        {
            let mut db = app.db();
            db.store.project_mut("p1");
            db.commit().unwrap();
        }
        app.durable().await.unwrap();
        assert!(app.db().store.take_changes().projects.is_empty());
    }
}
