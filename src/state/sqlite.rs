//! The SQLite (WAL) implementation of [`StateStore`](super::StateStore).
//!
//! One file, `<state-dir>/state.db` (mode 0600, in a directory created 0700; SQLite gives its
//! `-wal` and `-shm` files the same mode). Every trait method is one transaction; writes take
//! the write lock up front (`BEGIN IMMEDIATE`) so two processes queue behind each other for up
//! to [`BUSY_TIMEOUT`] instead of failing on a lock upgrade.
//!
//! Durability: WAL with `synchronous = FULL`, so a commit is on disk, not only in the OS page
//! cache, before the method returns. NORMAL would survive a killed process but could lose the
//! last commits when the machine or VM itself goes down — and the last commit is typically the
//! intent recorded right before a create call, the one record that keeps a resumed run from
//! creating a second vault. The fsync costs about a millisecond; the request it guards costs a
//! network round trip.
//!
//! An existing file is checked before anything writes to it: its header with plain file I/O
//! (`header.rs`), then its identity through a read-only connection (`schema.rs`). A file that is
//! corrupt, truncated, another program's, or from a newer cbrflow is reported and left as it
//! was. All SQL lives in `sql.rs`.

mod header;
mod schema;
mod sql;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, TimeDelta, Utc};
use rusqlite::types::ToSql;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior,
    params,
};
use serde_json::Value;

use super::lease::Lease;
use super::{
    Intent, IntentOutcome, LeaseOwner, NewRun, RunId, RunRecord, RunStatus, StateError, StateStore,
    StepError, StepRecord, StepStatus,
};

/// Name of the database file inside the state directory.
const DB_FILE: &str = "state.db";

/// How long a transaction waits for another process's transaction to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Source of the current time; tests replace it to move leases past their expiry.
type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// State store in `<state-dir>/state.db`.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    clock: Clock,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in `state_dir`, creating the directory (0700) and the database (0600)
    /// if they do not exist, and the schema if the database is new.
    pub fn open(state_dir: &Path) -> Result<Self, StateError> {
        let path = state_dir.join(DB_FILE);
        create_dir(state_dir).map_err(|e| {
            unreadable(
                &path,
                format!(
                    "cannot create the state directory {}: {e}",
                    state_dir.display()
                ),
            )
        })?;
        create_file(&path).map_err(|e| unreadable(&path, e.to_string()))?;
        Self::open_file(path)
    }

    /// Opens the store in `state_dir` if it has one, creating nothing; `Ok(None)` if there is
    /// no database there (no run has been started with this state dir).
    pub fn open_existing(state_dir: &Path) -> Result<Option<Self>, StateError> {
        let path = state_dir.join(DB_FILE);
        match fs::metadata(&path) {
            Ok(_) => Self::open_file(path).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unreadable(&path, e.to_string())),
        }
    }

    /// Checks an existing file, then opens it for writing and brings its schema up to date.
    fn open_file(path: PathBuf) -> Result<Self, StateError> {
        header::check_file(&path)?;
        // The header can be stale while committed pages wait in the WAL; a read-only connection
        // sees them without writing anything.
        probe(&path).map_err(|f| f.into_state(&path))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| Failure::from(e).into_state(&path))?;
        let mut store = Self {
            conn,
            path,
            clock: Box::new(Utc::now),
        };
        store.configure().map_err(|f| f.into_state(&store.path))?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<(), Failure> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        self.conn
            .set_prepared_statement_cache_capacity(sql::CACHED_STATEMENTS);
        let mode: String =
            self.conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Database(format!(
                "SQLite cannot use write-ahead logging for {} (journal mode stayed `{mode}`); \
                 put the state dir on a local file system",
                self.path.display()
            ))
            .into());
        }
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        schema::migrate(&tx, &self.path)?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces the clock (tests only).
    #[cfg(test)]
    fn set_clock(&mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) {
        self.clock = Box::new(clock);
    }

    /// The current time at the precision the store keeps.
    fn now(&self) -> DateTime<Utc> {
        (self.clock)().trunc_subsecs(6)
    }

    /// Runs `f` in a write transaction and commits it; `now` is the time of the transition.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<T, Failure>,
    ) -> Result<T, StateError> {
        let now = self.now();
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx, now)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(|f: Failure| f.into_state(&self.path))
    }

    /// Runs `f` in a read transaction, so that it sees one consistent snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StateError> {
        let result = (|| {
            let tx = self.conn.unchecked_transaction()?;
            f(&tx)
        })();
        result.map_err(|f| f.into_state(&self.path))
    }

    /// Runs one `UPDATE … WHERE run_id = ?1 AND step_id = ?2` with `rest` as `?3…`.
    fn update_step(
        &mut self,
        sql: &str,
        id: &RunId,
        step: &str,
        rest: &[&dyn ToSql],
    ) -> Result<(), StateError> {
        self.write(|tx, _| {
            let mut values: Vec<&dyn ToSql> = vec![&id.0, &step];
            values.extend_from_slice(rest);
            let changed = tx.prepare_cached(sql)?.execute(values.as_slice())?;
            if changed == 0 {
                return Err(no_step(tx, id, step));
            }
            Ok(())
        })
    }
}

impl StateStore for SqliteStore {
    fn create_run(&mut self, run: &NewRun) -> Result<(), StateError> {
        let plan_path = run.plan_path.to_str().ok_or_else(|| {
            StateError::Database(format!(
                "plan path {} is not valid UTF-8",
                run.plan_path.display()
            ))
        })?;
        check_unique(&run.id, &run.steps)?;
        self.write(|tx, now| {
            if run_exists(tx, &run.id)? {
                return Err(StateError::Database(format!("run {} already exists", run.id)).into());
            }
            tx.prepare_cached(sql::INSERT_RUN)?.execute(params![
                run.id.0,
                plan_path,
                run.plan_name,
                run.plan_hash,
                run.inputs.to_string(),
                run.endpoint,
                run.project_id,
                RunStatus::Running.as_str(),
                timestamp(now),
            ])?;
            let mut insert = tx.prepare_cached(sql::INSERT_STEP)?;
            for (position, (step_id, step_type)) in run.steps.iter().enumerate() {
                insert.execute(params![
                    run.id.0,
                    step_id,
                    position_number(position)?,
                    step_type,
                    StepStatus::Pending.as_str(),
                ])?;
            }
            Ok(())
        })
    }

    fn run(&self, id: &RunId) -> Result<RunRecord, StateError> {
        self.read(|tx| {
            let mut select = tx.prepare_cached(sql::SELECT_RUN)?;
            let mut rows = select.query([&id.0])?;
            match rows.next()? {
                Some(row) => run_from_row(row),
                None => Err(StateError::UnknownRun(id.clone()).into()),
            }
        })
    }

    fn latest_run(&self) -> Result<Option<RunRecord>, StateError> {
        Ok(self.list_runs(1)?.into_iter().next())
    }

    fn list_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|tx| {
            let mut select = tx.prepare_cached(sql::LIST_RUNS)?;
            let mut rows = select.query([limit])?;
            let mut runs = Vec::new();
            while let Some(row) = rows.next()? {
                runs.push(run_from_row(row)?);
            }
            Ok(runs)
        })
    }

    fn steps(&self, id: &RunId) -> Result<Vec<StepRecord>, StateError> {
        self.read(|tx| {
            require_run(tx, id)?;
            let mut select = tx.prepare_cached(sql::SELECT_STEPS)?;
            let mut rows = select.query([&id.0])?;
            let mut steps = Vec::new();
            while let Some(row) = rows.next()? {
                steps.push(step_from_row(row)?);
            }
            Ok(steps)
        })
    }

    fn update_plan(
        &mut self,
        id: &RunId,
        plan_hash: &str,
        steps: &[(String, String)],
    ) -> Result<(), StateError> {
        check_unique(id, steps)?;
        self.write(|tx, _| {
            require_run(tx, id)?;
            tx.prepare_cached(sql::SET_PLAN_HASH)?
                .execute(params![id.0, plan_hash])?;
            let next: Option<i64> = tx
                .prepare_cached(sql::NEXT_POSITION)?
                .query_row([&id.0], |row| row.get(0))
                .optional()?;
            let mut next = count(next.unwrap_or(0), "position")?;
            for (step_id, step_type) in steps {
                if step_exists(tx, id, step_id)? {
                    tx.prepare_cached(sql::SET_STEP_TYPE)?
                        .execute(params![id.0, step_id, step_type])?;
                } else {
                    tx.prepare_cached(sql::INSERT_STEP)?.execute(params![
                        id.0,
                        step_id,
                        next,
                        step_type,
                        StepStatus::Pending.as_str(),
                    ])?;
                    next += 1;
                }
            }
            Ok(())
        })
    }

    fn set_run_status(
        &mut self,
        id: &RunId,
        status: RunStatus,
        outputs: Option<&Value>,
    ) -> Result<(), StateError> {
        self.write(|tx, now| {
            let ended_at = (status != RunStatus::Running).then(|| timestamp(now));
            let changed = tx.prepare_cached(sql::SET_RUN_STATUS)?.execute(params![
                id.0,
                status.as_str(),
                ended_at,
                outputs.map(Value::to_string),
            ])?;
            if changed == 0 {
                return Err(StateError::UnknownRun(id.clone()).into());
            }
            Ok(())
        })
    }

    fn step_started(&mut self, id: &RunId, step: &str, input_hash: &str) -> Result<(), StateError> {
        let now = timestamp(self.now());
        let status = StepStatus::Running.as_str();
        self.update_step(sql::STEP_STARTED, id, step, &[&status, &input_hash, &now])
    }

    fn attempt_started(&mut self, id: &RunId, step: &str) -> Result<u32, StateError> {
        self.write(|tx, _| {
            let attempts: Option<i64> = tx
                .prepare_cached(sql::ATTEMPT_STARTED)?
                .query_row(params![id.0, step], |row| row.get(0))
                .optional()?;
            match attempts {
                Some(attempts) => count(attempts, "attempts"),
                None => Err(no_step(tx, id, step)),
            }
        })
    }

    fn attempt_failed(
        &mut self,
        id: &RunId,
        step: &str,
        error: &StepError,
    ) -> Result<(), StateError> {
        let error = error_json(error)?;
        self.update_step(sql::SET_STEP_ERROR, id, step, &[&error])
    }

    fn step_succeeded(
        &mut self,
        id: &RunId,
        step: &str,
        outputs: &Value,
    ) -> Result<(), StateError> {
        let now = timestamp(self.now());
        let status = StepStatus::Succeeded.as_str();
        let outputs = outputs.to_string();
        self.write(|tx, _| {
            let values: [&dyn ToSql; 5] = [&id.0, &step, &status, &outputs, &now];
            if tx
                .prepare_cached(sql::STEP_SUCCEEDED)?
                .execute(values.as_slice())?
                == 0
            {
                return Err(no_step(tx, id, step));
            }
            // In the same transaction: the step's open intents took effect (its outputs are
            // their result), so a crash can never leave a succeeded create looking unsent.
            tx.prepare_cached(sql::APPLY_OPEN_INTENTS)?
                .execute([&id.0, step])?;
            Ok(())
        })
    }

    fn step_failed(&mut self, id: &RunId, step: &str, error: &StepError) -> Result<(), StateError> {
        let now = timestamp(self.now());
        let status = StepStatus::Failed.as_str();
        self.update_step(
            sql::STEP_FAILED,
            id,
            step,
            &[&status, &error_json(error)?, &now],
        )
    }

    fn set_step_status(
        &mut self,
        id: &RunId,
        step: &str,
        status: StepStatus,
    ) -> Result<(), StateError> {
        let sql = if status == StepStatus::Pending {
            sql::RESET_STEP
        } else {
            sql::SET_STEP_STATUS
        };
        self.update_step(sql, id, step, &[&status.as_str()])
    }

    fn set_step_checkpoint(
        &mut self,
        id: &RunId,
        step: &str,
        checkpoint: &Value,
    ) -> Result<(), StateError> {
        self.update_step(
            sql::SET_STEP_CHECKPOINT,
            id,
            step,
            &[&checkpoint.to_string()],
        )
    }

    fn record_intent(
        &mut self,
        id: &RunId,
        step: &str,
        attempt: u32,
        operation: &str,
        request: &Value,
    ) -> Result<i64, StateError> {
        self.write(|tx, now| {
            if !step_exists(tx, id, step)? {
                return Err(no_step(tx, id, step));
            }
            let intent_id = tx.prepare_cached(sql::INSERT_INTENT)?.query_row(
                params![
                    id.0,
                    step,
                    attempt,
                    operation,
                    request.to_string(),
                    timestamp(now)
                ],
                |row| row.get(0),
            )?;
            Ok(intent_id)
        })
    }

    fn resolve_intent(&mut self, intent_id: i64, outcome: IntentOutcome) -> Result<(), StateError> {
        self.write(|tx, _| {
            let changed = tx
                .prepare_cached(sql::RESOLVE_INTENT)?
                .execute(params![intent_id, outcome.as_str()])?;
            if changed == 0 {
                return Err(StateError::Database(format!("no intent {intent_id}")).into());
            }
            Ok(())
        })
    }

    fn open_intents(&self, id: &RunId, step: &str) -> Result<Vec<Intent>, StateError> {
        self.read(|tx| {
            let mut select = tx.prepare_cached(sql::OPEN_INTENTS)?;
            let mut rows = select.query(params![id.0, step])?;
            let mut intents = Vec::new();
            while let Some(row) = rows.next()? {
                intents.push(intent_from_row(row)?);
            }
            if intents.is_empty() && !step_exists(tx, id, step)? {
                return Err(no_step(tx, id, step));
            }
            Ok(intents)
        })
    }

    fn acquire_lease(
        &mut self,
        id: &RunId,
        owner: &LeaseOwner,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.write(|tx, now| {
            require_run(tx, id)?;
            if let Some(lease) = lease(tx, id)? {
                lease.check_acquire(id, owner, now)?;
            }
            upsert_lease(tx, id, owner, now, ttl)
        })
    }

    fn renew_lease(
        &mut self,
        id: &RunId,
        owner: &LeaseOwner,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.write(|tx, now| {
            match lease(tx, id)? {
                Some(lease) => lease.check_renew(id, owner)?,
                None => require_run(tx, id)?,
            }
            upsert_lease(tx, id, owner, now, ttl)
        })
    }

    fn lease_holder(&self, id: &RunId) -> Result<Option<(LeaseOwner, DateTime<Utc>)>, StateError> {
        self.read(|tx| {
            Ok(lease(tx, id)?
                .filter(|l| !l.released)
                .map(|l| (l.holder, l.expires_at)))
        })
    }

    fn take_over_lease(
        &mut self,
        id: &RunId,
        owner: &LeaseOwner,
        previous: &LeaseOwner,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.write(|tx, now| {
            require_run(tx, id)?;
            if let Some(lease) = lease(tx, id)? {
                lease.check_take_over(id, owner, previous, now)?;
            }
            upsert_lease(tx, id, owner, now, ttl)
        })
    }

    fn release_lease(&mut self, id: &RunId, owner: &LeaseOwner) -> Result<(), StateError> {
        self.write(|tx, now| {
            tx.prepare_cached(sql::RELEASE_LEASE)?.execute(params![
                id.0,
                owner.token,
                timestamp(now)
            ])?;
            Ok(())
        })
    }
}

/// Why a transaction failed, before the store's path is attached to it.
#[derive(Debug)]
enum Failure {
    /// SQLite failed.
    Sql(rusqlite::Error),
    /// A stored value does not parse.
    Stored(String),
    /// A failure already in the trait's terms.
    State(StateError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

impl Failure {
    fn into_state(self, path: &Path) -> StateError {
        match self {
            Self::State(e) => e,
            Self::Stored(reason) => unreadable(path, reason),
            Self::Sql(e) => match e.sqlite_error_code() {
                Some(
                    ErrorCode::DatabaseCorrupt
                    | ErrorCode::NotADatabase
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen,
                ) => unreadable(path, e.to_string()),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                    StateError::Database(format!(
                        "{} stayed locked by another process for more than {}s",
                        path.display(),
                        BUSY_TIMEOUT.as_secs()
                    ))
                }
                _ => StateError::Database(e.to_string()),
            },
        }
    }
}

fn unreadable(path: &Path, reason: String) -> StateError {
    StateError::Unreadable {
        path: path.to_owned(),
        reason,
    }
}

/// Creates the state directory, readable by its owner only.
fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty database file readable by its owner only, before SQLite opens it (SQLite
/// would create it with the umask's permissions). An existing file is not touched.
fn create_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Checks the identity of the database through a read-only connection.
fn probe(path: &Path) -> Result<(), Failure> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    schema::identify(&conn, path)?;
    Ok(())
}

/// Rejects a step list that names a step twice.
fn check_unique(id: &RunId, steps: &[(String, String)]) -> Result<(), StateError> {
    let mut seen = HashSet::new();
    match steps.iter().find(|(step_id, _)| !seen.insert(step_id)) {
        Some((step_id, _)) => Err(StateError::Database(format!(
            "step `{step_id}` appears twice in the steps of run {id}"
        ))),
        None => Ok(()),
    }
}

fn run_exists(conn: &Connection, id: &RunId) -> Result<bool, Failure> {
    Ok(conn
        .prepare_cached(sql::RUN_EXISTS)?
        .query_row([&id.0], |row| row.get(0))?)
}

fn require_run(conn: &Connection, id: &RunId) -> Result<(), Failure> {
    if run_exists(conn, id)? {
        Ok(())
    } else {
        Err(StateError::UnknownRun(id.clone()).into())
    }
}

fn step_exists(conn: &Connection, id: &RunId, step: &str) -> Result<bool, Failure> {
    Ok(conn
        .prepare_cached(sql::STEP_EXISTS)?
        .query_row(params![id.0, step], |row| row.get(0))?)
}

/// The failure for a step that is not in the run: an unknown run, or a step the run lacks.
fn no_step(conn: &Connection, id: &RunId, step: &str) -> Failure {
    match run_exists(conn, id) {
        Ok(true) => StateError::Database(format!("run {id} has no step `{step}`")).into(),
        Ok(false) => StateError::UnknownRun(id.clone()).into(),
        Err(failure) => failure,
    }
}

fn lease(conn: &Connection, id: &RunId) -> Result<Option<Lease>, Failure> {
    let mut select = conn.prepare_cached(sql::SELECT_LEASE)?;
    let mut rows = select.query([&id.0])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    Ok(Some(Lease {
        holder: LeaseOwner {
            pid: count(row.get("pid")?, "pid")?,
            host: row.get("host")?,
            token: row.get("token")?,
        },
        expires_at: parse_timestamp(&row.get::<_, String>("expires_at")?)?,
        released: row.get::<_, Option<String>>("released_at")?.is_some(),
    }))
}

fn upsert_lease(
    tx: &Transaction<'_>,
    id: &RunId,
    owner: &LeaseOwner,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(), Failure> {
    let expires_at = TimeDelta::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or_else(|| StateError::Database(format!("lease duration {ttl:?} is too long")))?;
    tx.prepare_cached(sql::UPSERT_LEASE)?.execute(params![
        id.0,
        owner.pid,
        owner.host,
        owner.token,
        timestamp(expires_at),
    ])?;
    Ok(())
}

fn run_from_row(row: &Row<'_>) -> Result<RunRecord, Failure> {
    let status: String = row.get("status")?;
    Ok(RunRecord {
        id: RunId(row.get("id")?),
        plan_path: PathBuf::from(row.get::<_, String>("plan_path")?),
        plan_name: row.get("plan_name")?,
        plan_hash: row.get("plan_hash")?,
        inputs: parse_json(&row.get::<_, String>("inputs")?)?,
        endpoint: row.get("endpoint")?,
        project_id: row.get("project_id")?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| Failure::Stored(format!("unknown run status `{status}`")))?,
        started_at: parse_timestamp(&row.get::<_, String>("started_at")?)?,
        ended_at: optional(row.get("ended_at")?, |s| parse_timestamp(&s))?,
        outputs: optional(row.get("outputs")?, |s| parse_json(&s))?,
    })
}

fn step_from_row(row: &Row<'_>) -> Result<StepRecord, Failure> {
    let status: String = row.get("status")?;
    Ok(StepRecord {
        step_id: row.get("step_id")?,
        step_type: row.get("step_type")?,
        position: count(row.get("position")?, "position")?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| Failure::Stored(format!("unknown step status `{status}`")))?,
        attempts: count(row.get("attempts")?, "attempts")?,
        outputs: optional(row.get("outputs")?, |s| parse_json(&s))?,
        error: optional(row.get("error")?, |s| {
            serde_json::from_str(&s)
                .map_err(|e| Failure::Stored(format!("invalid step error: {e}")))
        })?,
        input_hash: row.get("input_hash")?,
        checkpoint: optional(row.get("checkpoint")?, |s| parse_json(&s))?,
        started_at: optional(row.get("started_at")?, |s| parse_timestamp(&s))?,
        ended_at: optional(row.get("ended_at")?, |s| parse_timestamp(&s))?,
    })
}

fn intent_from_row(row: &Row<'_>) -> Result<Intent, Failure> {
    Ok(Intent {
        id: row.get("id")?,
        step_id: row.get("step_id")?,
        attempt: count(row.get("attempt")?, "attempt")?,
        operation: row.get("operation")?,
        request: parse_json(&row.get::<_, String>("request")?)?,
        recorded_at: parse_timestamp(&row.get::<_, String>("recorded_at")?)?,
        // Only open intents are read back.
        outcome: None,
    })
}

/// RFC 3339 in UTC with microseconds: fixed width, so text order is time order.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| Failure::Stored(format!("invalid timestamp `{text}`: {e}")))
}

fn parse_json(text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Stored(format!("invalid JSON: {e}")))
}

fn error_json(error: &StepError) -> Result<String, StateError> {
    serde_json::to_string(error).map_err(|e| StateError::Database(e.to_string()))
}

fn optional<T>(
    text: Option<String>,
    parse: impl FnOnce(String) -> Result<T, Failure>,
) -> Result<Option<T>, Failure> {
    text.map(parse).transpose()
}

/// A stored non-negative count as `u32`.
fn count(value: i64, what: &str) -> Result<u32, Failure> {
    u32::try_from(value).map_err(|_| Failure::Stored(format!("{what} {value} out of range")))
}

/// A step's index in its plan as stored.
fn position_number(index: usize) -> Result<u32, Failure> {
    u32::try_from(index)
        .map_err(|_| StateError::Database(format!("a plan of more than {} steps", u32::MAX)).into())
}
