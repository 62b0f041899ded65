use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use chrono::TimeZone;
use serde_json::json;
use tempfile::tempdir;

use super::*;

fn new_run(id: &str, steps: &[(&str, &str)]) -> NewRun {
    NewRun {
        id: RunId(id.to_owned()),
        plan_path: PathBuf::from("/plans/backup-ecs.yaml"),
        plan_name: "backup-ecs".to_owned(),
        plan_hash: "aa11".to_owned(),
        inputs: json!({"server_id": "e8cc", "vault_name": "my_vault"}),
        endpoint: None,
        project_id: "p1".to_owned(),
        steps: steps
            .iter()
            .map(|(id, ty)| ((*id).to_owned(), (*ty).to_owned()))
            .collect(),
    }
}

fn seed_run(id: &str) -> NewRun {
    new_run(
        id,
        &[
            ("vault", "create_vault"),
            ("attach", "add_resources"),
            ("backup", "create_checkpoint"),
        ],
    )
}

fn owner(token: &str) -> LeaseOwner {
    LeaseOwner {
        pid: 4242,
        host: format!("host-{token}"),
        token: token.to_owned(),
    }
}

fn run_id(id: &str) -> RunId {
    RunId(id.to_owned())
}

fn error(code: &str) -> StepError {
    StepError {
        code: Some(code.to_owned()),
        message: "vault capacity out of range".to_owned(),
        http_status: Some(400),
        request_id: Some("req-1".to_owned()),
    }
}

/// A clock the test moves by hand, shared by every store it is given to.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    fn new() -> Self {
        let start = Utc.with_ymd_and_hms(2026, 12, 4, 15, 48, 12).unwrap();
        Self(Arc::new(Mutex::new(
            start + TimeDelta::microseconds(123_456),
        )))
    }

    fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }

    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    fn install(&self, mut store: SqliteStore) -> SqliteStore {
        let clock = self.clone();
        store.set_clock(move || clock.now());
        store
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn assert_unreadable(result: Result<SqliteStore, StateError>, path: &Path, reason: &str) {
    match result {
        Err(StateError::Unreadable { path: p, reason: r }) => {
            assert_eq!(p, path);
            assert!(r.contains(reason), "reason `{r}` lacks `{reason}`");
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
}

#[test]
fn a_run_round_trips_through_its_whole_lifecycle() {
    let dir = tempdir().unwrap();
    let clock = FakeClock::new();
    let mut store = clock.install(SqliteStore::open(dir.path()).unwrap());
    let id = run_id("20261204-154812-3f9a");
    store.create_run(&seed_run(&id.0)).unwrap();
    let started = clock.now();

    let run = store.run(&id).unwrap();
    assert_eq!(
        run,
        RunRecord {
            id: id.clone(),
            plan_path: PathBuf::from("/plans/backup-ecs.yaml"),
            plan_name: "backup-ecs".to_owned(),
            plan_hash: "aa11".to_owned(),
            inputs: json!({"server_id": "e8cc", "vault_name": "my_vault"}),
            endpoint: None,
            project_id: "p1".to_owned(),
            status: RunStatus::Running,
            started_at: started,
            ended_at: None,
            outputs: None,
        }
    );
    let steps = store.steps(&id).unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (
                s.step_id.as_str(),
                s.step_type.as_str(),
                s.position,
                s.status
            ))
            .collect::<Vec<_>>(),
        [
            ("vault", "create_vault", 0, StepStatus::Pending),
            ("attach", "add_resources", 1, StepStatus::Pending),
            ("backup", "create_checkpoint", 2, StepStatus::Pending),
        ]
    );
    assert!(
        steps
            .iter()
            .all(|s| s.attempts == 0 && s.started_at.is_none())
    );

    // First attempt: intent, then a 400.
    clock.advance(TimeDelta::seconds(1));
    let first_start = clock.now();
    store.step_started(&id, "vault", "h1").unwrap();
    assert_eq!(store.attempt_started(&id, "vault").unwrap(), 1);
    let request = json!({"vault": {"name": "my_vault", "billing": {"size": 200}}});
    let first = store
        .record_intent(&id, "vault", 1, "create_vault", &request)
        .unwrap();
    let open = store.open_intents(&id, "vault").unwrap();
    assert_eq!(
        open,
        [Intent {
            id: first,
            step_id: "vault".to_owned(),
            attempt: 1,
            operation: "create_vault".to_owned(),
            request: request.clone(),
            recorded_at: first_start,
            outcome: None,
        }]
    );
    store
        .resolve_intent(first, IntentOutcome::NotApplied)
        .unwrap();
    store
        .attempt_failed(&id, "vault", &error("BackupService.6103"))
        .unwrap();
    let vault = &store.steps(&id).unwrap()[0];
    assert_eq!(vault.status, StepStatus::Running);
    assert_eq!(vault.error, Some(error("BackupService.6103")));
    assert_eq!(vault.input_hash.as_deref(), Some("h1"));
    assert_eq!(vault.started_at, Some(first_start));

    // Second attempt succeeds; a restart of the step keeps its first start time.
    clock.advance(TimeDelta::seconds(2));
    store.step_started(&id, "vault", "h2").unwrap();
    assert_eq!(store.attempt_started(&id, "vault").unwrap(), 2);
    let second = store
        .record_intent(&id, "vault", 2, "create_vault", &request)
        .unwrap();
    assert!(second > first);
    assert_eq!(store.open_intents(&id, "vault").unwrap().len(), 1);
    store
        .set_step_checkpoint(&id, "vault", &json!({"k": 1}))
        .unwrap();
    store
        .set_step_checkpoint(&id, "vault", &json!({"k": 2}))
        .unwrap();
    store
        .resolve_intent(second, IntentOutcome::Applied)
        .unwrap();
    assert!(store.open_intents(&id, "vault").unwrap().is_empty());
    clock.advance(TimeDelta::milliseconds(5));
    store
        .step_succeeded(&id, "vault", &json!({"id": "v-1", "name": "my_vault"}))
        .unwrap();
    let vault = store.steps(&id).unwrap().remove(0);
    assert_eq!(
        vault,
        StepRecord {
            step_id: "vault".to_owned(),
            step_type: "create_vault".to_owned(),
            position: 0,
            status: StepStatus::Succeeded,
            attempts: 2,
            outputs: Some(json!({"id": "v-1", "name": "my_vault"})),
            error: None,
            input_hash: Some("h2".to_owned()),
            checkpoint: Some(json!({"k": 2})),
            started_at: Some(first_start),
            ended_at: Some(clock.now()),
        }
    );

    // The next step fails for good, the last one is skipped, the run fails.
    store.step_started(&id, "attach", "h3").unwrap();
    store.attempt_started(&id, "attach").unwrap();
    store
        .step_failed(&id, "attach", &error("BackupService.6002"))
        .unwrap();
    store
        .set_step_status(&id, "backup", StepStatus::Skipped)
        .unwrap();
    clock.advance(TimeDelta::seconds(1));
    store.set_run_status(&id, RunStatus::Failed, None).unwrap();
    let run = store.run(&id).unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.ended_at, Some(clock.now()));
    let steps = store.steps(&id).unwrap();
    assert_eq!(steps[1].status, StepStatus::Failed);
    assert_eq!(steps[1].error, Some(error("BackupService.6002")));
    assert_eq!(steps[1].ended_at, Some(clock.now() - TimeDelta::seconds(1)));
    assert_eq!(steps[2].status, StepStatus::Skipped);

    // Resume with a changed plan: `attach` is gone, `tag` is new, `backup` changed type. Given
    // the whole plan, the store adds `tag` after the stored steps and records the new type.
    store.set_run_status(&id, RunStatus::Running, None).unwrap();
    assert_eq!(store.run(&id).unwrap().ended_at, None);
    store
        .update_plan(
            &id,
            "bb22",
            &[
                ("vault".to_owned(), "create_vault".to_owned()),
                ("tag".to_owned(), "tag_vault".to_owned()),
                ("backup".to_owned(), "create_backup".to_owned()),
            ],
        )
        .unwrap();
    assert_eq!(store.run(&id).unwrap().plan_hash, "bb22");
    // Given only the new steps, it appends them.
    store
        .update_plan(
            &id,
            "cc33",
            &[("wait".to_owned(), "await_checkpoint".to_owned())],
        )
        .unwrap();
    assert_eq!(store.run(&id).unwrap().plan_hash, "cc33");
    let steps = store.steps(&id).unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (
                s.step_id.as_str(),
                s.step_type.as_str(),
                s.position,
                s.status
            ))
            .collect::<Vec<_>>(),
        [
            ("vault", "create_vault", 0, StepStatus::Succeeded),
            ("attach", "add_resources", 1, StepStatus::Failed),
            ("backup", "create_backup", 2, StepStatus::Skipped),
            ("tag", "tag_vault", 3, StepStatus::Pending),
            ("wait", "await_checkpoint", 4, StepStatus::Pending),
        ]
    );
    assert_eq!(steps[0], vault, "a kept step keeps its state");
    assert_eq!(steps[1].error, Some(error("BackupService.6002")));

    // The changed plan invalidates `vault`: back to pending, its results gone, its history kept.
    store
        .set_step_status(&id, "vault", StepStatus::Pending)
        .unwrap();
    let reset = store.steps(&id).unwrap().remove(0);
    assert_eq!(
        reset,
        StepRecord {
            status: StepStatus::Pending,
            outputs: None,
            error: None,
            checkpoint: None,
            ended_at: None,
            ..vault
        }
    );

    store
        .set_run_status(&id, RunStatus::Succeeded, Some(&json!({"vault_id": "v-1"})))
        .unwrap();
    let run = store.run(&id).unwrap();
    assert_eq!(run.outputs, Some(json!({"vault_id": "v-1"})));
    assert_eq!(run.status, RunStatus::Succeeded);

    // Everything above was committed: a fresh handle reads the same.
    let steps = store.steps(&id).unwrap();
    drop(store);
    let reopened = SqliteStore::open_existing(dir.path()).unwrap().unwrap();
    assert_eq!(reopened.run(&id).unwrap(), run);
    assert_eq!(reopened.steps(&id).unwrap(), steps);
}

#[test]
fn runs_are_listed_newest_first() {
    let dir = tempdir().unwrap();
    let clock = FakeClock::new();
    let mut store = clock.install(SqliteStore::open(dir.path()).unwrap());
    assert_eq!(store.latest_run().unwrap(), None);
    assert!(store.list_runs(10).unwrap().is_empty());

    for id in ["b", "a", "d"] {
        clock.advance(TimeDelta::seconds(1));
        store.create_run(&seed_run(id)).unwrap();
    }
    // Started in the same microsecond as `d`: creation order decides.
    store.create_run(&seed_run("c")).unwrap();

    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id.0).collect::<Vec<_>>();
    assert_eq!(ids(store.list_runs(10).unwrap()), ["c", "d", "a", "b"]);
    assert_eq!(ids(store.list_runs(2).unwrap()), ["c", "d"]);
    assert_eq!(store.latest_run().unwrap().unwrap().id, run_id("c"));
    assert!(store.list_runs(0).unwrap().is_empty());
    assert_eq!(store.list_runs(usize::MAX).unwrap().len(), 4);
}

#[test]
fn unknown_runs_steps_and_intents_are_reported() {
    let dir = tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let id = run_id("r");
    let ghost = run_id("ghost");
    store.create_run(&seed_run("r")).unwrap();

    assert!(matches!(store.run(&ghost), Err(StateError::UnknownRun(r)) if r == ghost));
    assert!(matches!(
        store.steps(&ghost),
        Err(StateError::UnknownRun(_))
    ));
    assert!(matches!(
        store.step_started(&ghost, "vault", "h"),
        Err(StateError::UnknownRun(_))
    ));
    assert!(matches!(
        store.set_run_status(&ghost, RunStatus::Failed, None),
        Err(StateError::UnknownRun(_))
    ));
    assert!(matches!(
        store.update_plan(&ghost, "h", &[]),
        Err(StateError::UnknownRun(_))
    ));

    let no_step = |result: Result<(), StateError>| match result {
        Err(StateError::Database(message)) => {
            assert_eq!(message, "run r has no step `nope`");
        }
        other => panic!("expected a missing step, got {other:?}"),
    };
    no_step(store.step_started(&id, "nope", "h"));
    no_step(store.attempt_started(&id, "nope").map(drop));
    no_step(store.attempt_failed(&id, "nope", &error("x")));
    no_step(store.step_succeeded(&id, "nope", &json!({})));
    no_step(store.step_failed(&id, "nope", &error("x")));
    no_step(store.set_step_status(&id, "nope", StepStatus::Skipped));
    no_step(store.set_step_status(&id, "nope", StepStatus::Pending));
    no_step(store.set_step_checkpoint(&id, "nope", &json!({})));
    no_step(
        store
            .record_intent(&id, "nope", 1, "create_vault", &json!({}))
            .map(drop),
    );
    no_step(store.open_intents(&id, "nope").map(drop));

    assert!(matches!(
        store.resolve_intent(99, IntentOutcome::Applied),
        Err(StateError::Database(m)) if m == "no intent 99"
    ));
    assert!(matches!(
        store.create_run(&seed_run("r")),
        Err(StateError::Database(m)) if m == "run r already exists"
    ));
    assert!(matches!(
        store.create_run(&new_run("twice", &[("a", "t"), ("a", "t")])),
        Err(StateError::Database(m)) if m == "step `a` appears twice in the steps of run twice"
    ));
    assert!(matches!(
        store.run(&run_id("twice")),
        Err(StateError::UnknownRun(_))
    ));
}

#[cfg(unix)]
#[test]
fn the_database_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let parent = tempdir().unwrap();
    let dir = parent.path().join("deep").join(".cbrflow");
    let mut store = SqliteStore::open(&dir).unwrap();
    store.create_run(&seed_run("r")).unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&parent.path().join("deep")), 0o700);
    assert_eq!(mode(&db_path(&dir)), 0o600);
    assert_eq!(mode(&sibling(&db_path(&dir), "-wal")), 0o600);
    assert_eq!(mode(&sibling(&db_path(&dir), "-shm")), 0o600);
}

#[test]
fn the_store_uses_wal_full_sync_foreign_keys_and_a_busy_timeout() {
    let dir = tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let pragma = |name: &str| -> i64 {
        store
            .conn
            .pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    };
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(pragma("synchronous"), 2, "FULL");
    assert_eq!(pragma("foreign_keys"), 1);
    assert_eq!(pragma("busy_timeout"), 5000);
    assert_eq!(pragma("user_version"), schema::SUPPORTED);
    assert_eq!(pragma("application_id"), schema::APPLICATION_ID);
}

#[test]
fn open_existing_creates_nothing() {
    let parent = tempdir().unwrap();
    let dir = parent.path().join("state");
    assert!(SqliteStore::open_existing(&dir).unwrap().is_none());
    assert!(!dir.exists());

    fs::create_dir(&dir).unwrap();
    assert!(SqliteStore::open_existing(&dir).unwrap().is_none());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);

    SqliteStore::open(&dir)
        .unwrap()
        .create_run(&seed_run("r"))
        .unwrap();
    let store = SqliteStore::open_existing(&dir).unwrap().unwrap();
    assert_eq!(store.latest_run().unwrap().unwrap().id, run_id("r"));
}

#[test]
fn random_bytes_are_unreadable_and_left_untouched() {
    let dir = tempdir().unwrap();
    let path = db_path(dir.path());
    let bytes: Vec<u8> = (0..8192).map(|_| rand::random()).collect();
    fs::write(&path, &bytes).unwrap();

    assert_unreadable(
        SqliteStore::open(dir.path()),
        &path,
        "not a SQLite database",
    );
    assert_unreadable(
        SqliteStore::open_existing(dir.path()).map(Option::unwrap),
        &path,
        "not a SQLite database",
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(!sibling(&path, "-wal").exists());
    assert!(!sibling(&path, "-shm").exists());
}

/// A closed store with enough steps to span many pages; returns the file's bytes.
fn many_page_database(dir: &Path) -> Vec<u8> {
    let mut store = SqliteStore::open(dir).unwrap();
    let steps: Vec<(String, String)> = (0..400)
        .map(|i| (format!("step-{i:04}"), "create_checkpoint".to_owned()))
        .collect();
    let steps: Vec<(&str, &str)> = steps
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    store.create_run(&new_run("r", &steps)).unwrap();
    drop(store);
    // Closing the last connection checkpoints the WAL into the file and removes it.
    assert!(!sibling(&db_path(dir), "-wal").exists());
    fs::read(db_path(dir)).unwrap()
}

#[test]
fn a_truncated_database_is_unreadable_and_left_untouched() {
    let dir = tempdir().unwrap();
    let path = db_path(dir.path());
    let whole = many_page_database(dir.path());
    assert!(whole.len() >= 8 * 4096, "{} bytes", whole.len());

    let cases = [
        (
            whole.len() / 2 / 4096 * 4096,
            "truncated: the header counts",
        ),
        (whole.len() - 100, "not a whole number of"),
        (4096, "truncated: the header counts"),
        (50, "shorter than a file header"),
    ];
    for (len, reason) in cases {
        let truncated = &whole[..len];
        fs::write(&path, truncated).unwrap();
        assert_unreadable(SqliteStore::open(dir.path()), &path, reason);
        assert_eq!(
            fs::read(&path).unwrap(),
            truncated,
            "file changed at {len} bytes"
        );
        assert!(!sibling(&path, "-wal").exists());
        assert!(!sibling(&path, "-shm").exists());
    }

    // The check does not misfire on the whole file.
    fs::write(&path, &whole).unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.steps(&run_id("r")).unwrap().len(), 400);
}

#[test]
fn another_programs_database_is_left_alone() {
    let dir = tempdir().unwrap();
    let path = db_path(dir.path());
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(other);
    let bytes = fs::read(&path).unwrap();

    assert_unreadable(
        SqliteStore::open(dir.path()),
        &path,
        "not a cbrflow state database",
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempdir().unwrap();
    let path = db_path(dir.path());
    many_page_database(dir.path());
    let newer = Connection::open(&path).unwrap();
    newer.pragma_update(None, "user_version", 99).unwrap();
    drop(newer);
    let bytes = fs::read(&path).unwrap();

    for result in [
        SqliteStore::open(dir.path()),
        SqliteStore::open_existing(dir.path()).map(Option::unwrap),
    ] {
        match result {
            Err(StateError::NewerSchema {
                path: p,
                found: 99,
                supported: schema::SUPPORTED,
            }) => assert_eq!(p, path),
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(!sibling(&path, "-wal").exists());
}

#[test]
fn a_newer_schema_still_in_the_wal_is_refused_and_left_untouched() {
    let dir = tempdir().unwrap();
    let path = db_path(dir.path());
    many_page_database(dir.path());
    // A newer cbrflow is running: its migration sits in the WAL, not yet in the file.
    let newer = Connection::open(&path).unwrap();
    newer
        .execute_batch("PRAGMA user_version = 2; CREATE TABLE future (x);")
        .unwrap();
    let wal = sibling(&path, "-wal");
    let (bytes, wal_bytes) = (fs::read(&path).unwrap(), fs::read(&wal).unwrap());
    assert!(!wal_bytes.is_empty());

    assert!(matches!(
        SqliteStore::open(dir.path()),
        Err(StateError::NewerSchema { found: 2, .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(fs::read(&wal).unwrap(), wal_bytes);
    drop(newer);
}

#[test]
fn a_lease_excludes_others_until_it_expires() {
    let dir = tempdir().unwrap();
    let clock = FakeClock::new();
    let mut a = clock.install(SqliteStore::open(dir.path()).unwrap());
    let mut b = clock.install(SqliteStore::open(dir.path()).unwrap());
    let id = run_id("r");
    a.create_run(&seed_run("r")).unwrap();
    let ttl = Duration::from_secs(30);

    a.acquire_lease(&id, &owner("a"), ttl).unwrap();
    a.acquire_lease(&id, &owner("a"), ttl).unwrap();
    let expires_at = clock.now() + TimeDelta::seconds(30);
    match b.acquire_lease(&id, &owner("b"), ttl) {
        Err(StateError::Locked {
            run_id: r,
            holder,
            expires_at: e,
        }) => {
            assert_eq!((r, holder, e), (id.clone(), owner("a"), expires_at));
        }
        other => panic!("expected Locked, got {other:?}"),
    }

    // A renews in time; B is still locked out after the first term would have ended.
    clock.advance(TimeDelta::seconds(20));
    a.renew_lease(&id, &owner("a"), ttl).unwrap();
    clock.advance(TimeDelta::seconds(20));
    assert!(matches!(
        b.acquire_lease(&id, &owner("b"), ttl),
        Err(StateError::Locked { .. })
    ));

    // A stalls past expiry; B takes over; A learns it has lost the run.
    clock.advance(TimeDelta::seconds(10));
    b.acquire_lease(&id, &owner("b"), ttl).unwrap();
    match a.renew_lease(&id, &owner("a"), ttl) {
        Err(StateError::LeaseLost { run_id: r, holder }) => {
            assert_eq!((r, holder), (id.clone(), owner("b")));
        }
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    assert!(matches!(
        a.acquire_lease(&id, &owner("a"), ttl),
        Err(StateError::Locked { holder, .. }) if holder == owner("b")
    ));

    // Releasing lets the next owner in at once; releasing what one does not hold does nothing.
    a.release_lease(&id, &owner("a")).unwrap();
    assert!(matches!(
        a.acquire_lease(&id, &owner("a"), ttl),
        Err(StateError::Locked { .. })
    ));
    b.release_lease(&id, &owner("b")).unwrap();
    b.release_lease(&id, &owner("b")).unwrap();
    // A, waking up after B came and went, still must not carry on as if nothing happened.
    assert!(matches!(
        a.renew_lease(&id, &owner("a"), ttl),
        Err(StateError::LeaseLost { holder, .. }) if holder == owner("b")
    ));
    a.acquire_lease(&id, &owner("a"), ttl).unwrap();
    a.renew_lease(&id, &owner("a"), ttl).unwrap();
}

#[test]
fn a_gone_holder_is_taken_over_once() {
    let dir = tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let id = run_id("r");
    store.create_run(&seed_run("r")).unwrap();
    let ttl = Duration::from_secs(60);
    store.acquire_lease(&id, &owner("gone"), ttl).unwrap();

    store
        .take_over_lease(&id, &owner("b"), &owner("gone"), ttl)
        .unwrap();
    assert!(matches!(
        store.take_over_lease(&id, &owner("c"), &owner("gone"), ttl),
        Err(StateError::Locked { holder, .. }) if holder == owner("b")
    ));
    assert!(matches!(
        store.renew_lease(&id, &owner("gone"), ttl),
        Err(StateError::LeaseLost { holder, .. }) if holder == owner("b")
    ));
    store.renew_lease(&id, &owner("b"), ttl).unwrap();
    assert!(matches!(
        store.take_over_lease(&run_id("ghost"), &owner("b"), &owner("gone"), ttl),
        Err(StateError::UnknownRun(_))
    ));
}

#[test]
fn a_lease_expires_on_the_real_clock() {
    let dir = tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let id = run_id("r");
    store.create_run(&seed_run("r")).unwrap();
    store
        .acquire_lease(&id, &owner("a"), Duration::from_millis(50))
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    store
        .acquire_lease(&id, &owner("b"), Duration::from_secs(60))
        .unwrap();
}

#[test]
fn leases_need_a_run() {
    let dir = tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let ghost = run_id("ghost");
    let ttl = Duration::from_secs(1);
    assert!(matches!(
        store.acquire_lease(&ghost, &owner("a"), ttl),
        Err(StateError::UnknownRun(_))
    ));
    assert!(matches!(
        store.renew_lease(&ghost, &owner("a"), ttl),
        Err(StateError::UnknownRun(_))
    ));
    store.release_lease(&ghost, &owner("a")).unwrap();
    store.create_run(&seed_run("r")).unwrap();
    assert!(matches!(
        store.acquire_lease(&run_id("r"), &owner("a"), Duration::MAX),
        Err(StateError::Database(m)) if m.contains("is too long")
    ));
}

#[test]
fn two_handles_see_each_others_commits() {
    let dir = tempdir().unwrap();
    let mut a = SqliteStore::open(dir.path()).unwrap();
    let mut b = SqliteStore::open_existing(dir.path()).unwrap().unwrap();
    let id = run_id("r");

    a.create_run(&seed_run("r")).unwrap();
    assert_eq!(b.latest_run().unwrap().unwrap().id, id);
    b.step_started(&id, "vault", "h").unwrap();
    assert_eq!(a.steps(&id).unwrap()[0].status, StepStatus::Running);
    assert_eq!(a.attempt_started(&id, "vault").unwrap(), 1);
    assert_eq!(b.attempt_started(&id, "vault").unwrap(), 2);
    let intent = b
        .record_intent(&id, "vault", 2, "create_vault", &json!({}))
        .unwrap();
    assert_eq!(a.open_intents(&id, "vault").unwrap()[0].id, intent);
}

#[test]
fn concurrent_acquires_have_exactly_one_winner() {
    let dir = tempdir().unwrap();
    let mut setup = SqliteStore::open(dir.path()).unwrap();
    for round in 0..8 {
        let id = run_id(&format!("r{round}"));
        setup.create_run(&seed_run(&id.0)).unwrap();
        let barrier = Barrier::new(2);
        let results: Vec<(String, Result<(), StateError>)> = thread::scope(|scope| {
            let contenders: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|token| {
                    let mut store = SqliteStore::open(dir.path()).unwrap();
                    let (barrier, id) = (&barrier, &id);
                    scope.spawn(move || {
                        barrier.wait();
                        let result =
                            store.acquire_lease(id, &owner(token), Duration::from_secs(60));
                        (token.to_owned(), result)
                    })
                })
                .collect();
            contenders.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let winners: Vec<&str> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find(|(_, r)| r.is_err()).unwrap();
        assert!(
            matches!(&loser.1, Err(StateError::Locked { holder, .. }) if holder == &owner(winners[0])),
            "round {round}: {results:?}"
        );
    }
}

#[test]
fn a_fresh_database_opened_by_two_processes_at_once_gets_one_schema() {
    let dir = tempdir().unwrap();
    let barrier = Barrier::new(2);
    let opened: Vec<Result<SqliteStore, StateError>> = thread::scope(|scope| {
        let openers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    SqliteStore::open(dir.path())
                })
            })
            .collect();
        openers.into_iter().map(|o| o.join().unwrap()).collect()
    });
    let mut stores: Vec<SqliteStore> = opened.into_iter().map(Result::unwrap).collect();
    stores[0].create_run(&seed_run("r")).unwrap();
    assert_eq!(stores[1].steps(&run_id("r")).unwrap().len(), 3);
}

#[test]
fn a_killed_writer_leaves_every_committed_transition_readable() {
    let dir = tempdir().unwrap();
    let path = db_path(dir.path());
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let id = run_id("r");
    store.create_run(&seed_run("r")).unwrap();
    store
        .acquire_lease(&id, &owner("a"), Duration::from_secs(60))
        .unwrap();
    store.step_started(&id, "vault", "h").unwrap();
    store.attempt_started(&id, "vault").unwrap();
    let intent = store
        .record_intent(
            &id,
            "vault",
            1,
            "create_vault",
            &json!({"name": "my_vault"}),
        )
        .unwrap();
    // Another writer is halfway through a transaction when the machine goes down.
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE steps SET status = 'failed';")
        .unwrap();

    // What a killed process leaves on disk: the file and the WAL, no clean close.
    let crashed = tempdir().unwrap();
    for suffix in ["", "-wal"] {
        fs::copy(
            sibling(&path, suffix),
            sibling(&db_path(crashed.path()), suffix),
        )
        .unwrap();
    }
    // And the process that drives the run just goes away mid-run.
    drop(other);
    drop(store);

    for dir in [crashed.path(), dir.path()] {
        let mut store = SqliteStore::open_existing(dir).unwrap().unwrap();
        assert_eq!(store.run(&id).unwrap().status, RunStatus::Running);
        let steps = store.steps(&id).unwrap();
        assert_eq!(
            steps.iter().map(|s| s.status).collect::<Vec<_>>(),
            [
                StepStatus::Running,
                StepStatus::Pending,
                StepStatus::Pending
            ]
        );
        assert_eq!(steps[0].attempts, 1);
        let open = store.open_intents(&id, "vault").unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].id, intent);
        assert_eq!(open[0].request, json!({"name": "my_vault"}));
        assert!(matches!(
            store.acquire_lease(&id, &owner("b"), Duration::from_secs(60)),
            Err(StateError::Locked { holder, .. }) if holder == owner("a")
        ));
    }
}

/// Lines of `EXPLAIN QUERY PLAN` that read a table without an index, or sort in a temporary
/// b-tree: work that grows with the table.
fn unindexed_work(conn: &Connection, sql: &str) -> Vec<String> {
    let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    for index in 1..=explain.parameter_count() {
        explain
            .raw_bind_parameter(index, rusqlite::types::Null)
            .unwrap();
    }
    let mut rows = explain.raw_query();
    let mut bad = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let detail: String = row.get(3).unwrap();
        let scans_table = detail.starts_with("SCAN")
            && !detail.contains(" USING ")
            && detail != "SCAN CONSTANT ROW";
        if scans_table || detail.contains("TEMP B-TREE") {
            bad.push(detail);
        }
    }
    bad
}

#[test]
fn every_statement_uses_an_index() {
    let dir = tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    // The check itself catches a full scan and a sort.
    assert_eq!(
        unindexed_work(&store.conn, "SELECT * FROM steps WHERE status = ?1"),
        ["SCAN steps"]
    );
    assert_eq!(
        unindexed_work(
            &store.conn,
            "SELECT * FROM steps WHERE run_id = ?1 ORDER BY step_type"
        ),
        ["USE TEMP B-TREE FOR ORDER BY"]
    );

    for (name, sql) in sql::ALL {
        let bad = unindexed_work(&store.conn, sql);
        assert!(
            bad.is_empty(),
            "{name} does work that grows with the table: {bad:?}"
        );
    }
    // The statements a step transition runs find their row by the primary key.
    let mut plan = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", sql::STEP_SUCCEEDED))
        .unwrap();
    let detail: String = plan
        .query_row(params!["r", "s", "x", "y", "z"], |row| row.get(3))
        .unwrap();
    assert_eq!(
        detail,
        "SEARCH steps USING INDEX sqlite_autoindex_steps_1 (run_id=? AND step_id=?)"
    );
}

#[test]
fn the_store_is_a_boxed_trait_object() {
    fn assert_send<T: Send + ?Sized>() {}
    assert_send::<dyn StateStore>();
    let dir = tempdir().unwrap();
    let mut store: Box<dyn StateStore> = crate::state::open(dir.path()).unwrap();
    store.create_run(&seed_run("r")).unwrap();
    let existing: Box<dyn StateStore> = crate::state::open_existing(dir.path()).unwrap().unwrap();
    assert_eq!(existing.latest_run().unwrap().unwrap().id, run_id("r"));
}

#[test]
fn a_succeeded_step_resolves_its_open_intents_in_the_same_commit() {
    let dir = tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    store.create_run(&seed_run("r1")).unwrap();
    let id = run_id("r1");
    store.step_started(&id, "vault", "h").unwrap();
    let attempt = store.attempt_started(&id, "vault").unwrap();
    store
        .record_intent(
            &id,
            "vault",
            attempt,
            "create_vault",
            &json!({"vault": {"name": "v"}}),
        )
        .unwrap();
    assert_eq!(store.open_intents(&id, "vault").unwrap().len(), 1);
    store
        .step_succeeded(&id, "vault", &json!({"id": "v-1"}))
        .unwrap();
    assert!(store.open_intents(&id, "vault").unwrap().is_empty());
    // Other steps' intents are not touched.
    store.step_started(&id, "attach", "h").unwrap();
    store
        .record_intent(&id, "attach", 1, "add_resources", &json!({}))
        .unwrap();
    store
        .step_succeeded(&id, "vault", &json!({"id": "v-1"}))
        .unwrap();
    assert_eq!(store.open_intents(&id, "attach").unwrap().len(), 1);
}
