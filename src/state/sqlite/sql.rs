//! Every SQL statement the SQLite store runs, in one place.
//!
//! Statements use `?N` parameters and only syntax PostgreSQL shares (`ON CONFLICT`,
//! `RETURNING`), so that a second backend starts from this file. Timestamps are RFC 3339 TEXT
//! with microseconds (`…T15:48:12.123456Z`), JSON is TEXT, statuses are the `as_str` names
//! bound as parameters. Every statement finds its rows through an index, so a transition costs
//! the same in a run of 10 steps as in one of 10,000; `tests::every_statement_uses_an_index`
//! holds each statement in [`ALL`] to that.

/// Schema version 1.
const SCHEMA_V1: &str = "
CREATE TABLE runs (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    plan_path   TEXT    NOT NULL,
    plan_name   TEXT    NOT NULL,
    plan_hash   TEXT    NOT NULL,
    inputs      TEXT    NOT NULL,
    endpoint    TEXT,
    project_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at  TEXT    NOT NULL,
    ended_at    TEXT,
    outputs     TEXT
);
CREATE INDEX runs_by_start ON runs (started_at);

CREATE TABLE steps (
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    step_id     TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    step_type   TEXT    NOT NULL,
    status      TEXT    NOT NULL
                CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    input_hash  TEXT,
    outputs     TEXT,
    error       TEXT,
    checkpoint  TEXT,
    started_at  TEXT,
    ended_at    TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX steps_by_position ON steps (run_id, position);

CREATE TABLE intents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL,
    step_id     TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    operation   TEXT    NOT NULL,
    request     TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    outcome     TEXT    CHECK (outcome IN ('applied', 'not_applied')),
    FOREIGN KEY (run_id, step_id) REFERENCES steps (run_id, step_id)
);
CREATE INDEX intents_by_step ON intents (run_id, step_id);

CREATE TABLE leases (
    run_id      TEXT    PRIMARY KEY REFERENCES runs (id),
    pid         INTEGER NOT NULL,
    host        TEXT    NOT NULL,
    token       TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    released_at TEXT
);
";

/// Prepared statements kept per connection: more than this file holds.
pub(super) const CACHED_STATEMENTS: usize = 48;

/// Migrations in order: entry `i` takes the schema from version `i` to version `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[SCHEMA_V1];

/// The file's schema version, its application id, and whether it holds any schema object.
pub(super) const IDENTIFY: &str = "
SELECT (SELECT user_version FROM pragma_user_version()),
       (SELECT application_id FROM pragma_application_id()),
       EXISTS (SELECT 1 FROM sqlite_schema)";

macro_rules! run_columns {
    () => {
        "id, plan_path, plan_name, plan_hash, inputs, endpoint, project_id, status, started_at, \
         ended_at, outputs"
    };
}

macro_rules! step_columns {
    () => {
        "step_id, step_type, position, status, attempts, outputs, error, input_hash, checkpoint, \
         started_at, ended_at"
    };
}

macro_rules! step_key {
    () => {
        " WHERE run_id = ?1 AND step_id = ?2"
    };
}

pub(super) const RUN_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)";

pub(super) const STEP_EXISTS: &str =
    concat!("SELECT EXISTS (SELECT 1 FROM steps", step_key!(), ")");

pub(super) const INSERT_RUN: &str = concat!(
    "INSERT INTO runs (",
    run_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL)"
);

pub(super) const SELECT_RUN: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = ?1");

/// Newest first; `seq` orders runs started in the same microsecond by creation.
pub(super) const LIST_RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs ORDER BY started_at DESC, seq DESC LIMIT ?1"
);

pub(super) const SET_RUN_STATUS: &str =
    "UPDATE runs SET status = ?2, ended_at = ?3, outputs = ?4 WHERE id = ?1";

pub(super) const SET_PLAN_HASH: &str = "UPDATE runs SET plan_hash = ?2 WHERE id = ?1";

pub(super) const INSERT_STEP: &str = "
INSERT INTO steps (run_id, step_id, position, step_type, status) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The position after the last stored step of a run, or NULL if it has none.
pub(super) const NEXT_POSITION: &str =
    "SELECT position + 1 FROM steps WHERE run_id = ?1 ORDER BY position DESC LIMIT 1";

pub(super) const SELECT_STEPS: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM steps WHERE run_id = ?1 ORDER BY position"
);

pub(super) const SET_STEP_TYPE: &str = concat!("UPDATE steps SET step_type = ?3", step_key!());

pub(super) const STEP_STARTED: &str = concat!(
    "UPDATE steps SET status = ?3, input_hash = ?4, started_at = COALESCE(started_at, ?5), \
     ended_at = NULL",
    step_key!()
);

pub(super) const ATTEMPT_STARTED: &str = concat!(
    "UPDATE steps SET attempts = attempts + 1",
    step_key!(),
    " RETURNING attempts"
);

pub(super) const SET_STEP_ERROR: &str = concat!("UPDATE steps SET error = ?3", step_key!());

pub(super) const STEP_SUCCEEDED: &str = concat!(
    "UPDATE steps SET status = ?3, outputs = ?4, error = NULL, ended_at = ?5",
    step_key!()
);

pub(super) const STEP_FAILED: &str = concat!(
    "UPDATE steps SET status = ?3, error = ?4, ended_at = ?5",
    step_key!()
);

pub(super) const SET_STEP_STATUS: &str = concat!("UPDATE steps SET status = ?3", step_key!());

/// Back to `pending`: what the step produced no longer holds.
pub(super) const RESET_STEP: &str = concat!(
    "UPDATE steps SET status = ?3, outputs = NULL, checkpoint = NULL, error = NULL, \
     ended_at = NULL",
    step_key!()
);

pub(super) const SET_STEP_CHECKPOINT: &str =
    concat!("UPDATE steps SET checkpoint = ?3", step_key!());

pub(super) const INSERT_INTENT: &str = "
INSERT INTO intents (run_id, step_id, attempt, operation, request, recorded_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id";

pub(super) const RESOLVE_INTENT: &str = "UPDATE intents SET outcome = ?2 WHERE id = ?1";

/// Resolves a step's open intents as applied: its outputs are their effect.
pub(super) const APPLY_OPEN_INTENTS: &str = concat!(
    "UPDATE intents SET outcome = 'applied'",
    step_key!(),
    " AND outcome IS NULL"
);

pub(super) const OPEN_INTENTS: &str = concat!(
    "SELECT id, step_id, attempt, operation, request, recorded_at, outcome FROM intents",
    step_key!(),
    " AND outcome IS NULL ORDER BY id"
);

pub(super) const SELECT_LEASE: &str =
    "SELECT pid, host, token, expires_at, released_at FROM leases WHERE run_id = ?1";

pub(super) const UPSERT_LEASE: &str = "
INSERT INTO leases (run_id, pid, host, token, expires_at, released_at)
VALUES (?1, ?2, ?3, ?4, ?5, NULL)
ON CONFLICT (run_id) DO UPDATE SET pid = excluded.pid, host = excluded.host,
    token = excluded.token, expires_at = excluded.expires_at, released_at = NULL";

pub(super) const RELEASE_LEASE: &str =
    "UPDATE leases SET released_at = ?3 WHERE run_id = ?1 AND token = ?2 AND released_at IS NULL";

/// Every statement run against the data, by name, for the query-plan test.
#[cfg(test)]
pub(super) const ALL: &[(&str, &str)] = &[
    ("RUN_EXISTS", RUN_EXISTS),
    ("STEP_EXISTS", STEP_EXISTS),
    ("INSERT_RUN", INSERT_RUN),
    ("SELECT_RUN", SELECT_RUN),
    ("LIST_RUNS", LIST_RUNS),
    ("SET_RUN_STATUS", SET_RUN_STATUS),
    ("SET_PLAN_HASH", SET_PLAN_HASH),
    ("INSERT_STEP", INSERT_STEP),
    ("NEXT_POSITION", NEXT_POSITION),
    ("SELECT_STEPS", SELECT_STEPS),
    ("SET_STEP_TYPE", SET_STEP_TYPE),
    ("STEP_STARTED", STEP_STARTED),
    ("ATTEMPT_STARTED", ATTEMPT_STARTED),
    ("SET_STEP_ERROR", SET_STEP_ERROR),
    ("STEP_SUCCEEDED", STEP_SUCCEEDED),
    ("STEP_FAILED", STEP_FAILED),
    ("SET_STEP_STATUS", SET_STEP_STATUS),
    ("RESET_STEP", RESET_STEP),
    ("SET_STEP_CHECKPOINT", SET_STEP_CHECKPOINT),
    ("INSERT_INTENT", INSERT_INTENT),
    ("RESOLVE_INTENT", RESOLVE_INTENT),
    ("APPLY_OPEN_INTENTS", APPLY_OPEN_INTENTS),
    ("OPEN_INTENTS", OPEN_INTENTS),
    ("SELECT_LEASE", SELECT_LEASE),
    ("UPSERT_LEASE", UPSERT_LEASE),
    ("RELEASE_LEASE", RELEASE_LEASE),
];
