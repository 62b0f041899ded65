//! `Engine`: the executor loop that owns a run's state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::journal::{ChannelJournal, Msg};
use super::ready::ReadyQueue;
use super::{EngineError, RunEvent, RunReport};
use crate::cbr::CbrClient;
use crate::graph::StepGraph;
use crate::plan::{Plan, Step, sha256_hex};
use crate::state::{
    LeaseOwner, NewRun, RunId, RunStatus, StateError, StateStore, StepError, StepRecord, StepStatus,
};
use crate::steps::{Registry, StepContext, StepFailure};
use crate::template::Scope;

/// Tunables of a run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Steps running at once.
    pub concurrency: usize,
    /// How long a lease lasts unless renewed (renewed every third of it).
    pub lease_ttl: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease_ttl: Duration::from_secs(30),
        }
    }
}

/// Runs one plan against one client, persisting through one store.
pub struct Engine {
    plan: Arc<Plan>,
    graph: StepGraph,
    registry: Arc<Registry>,
    client: CbrClient,
    store: Box<dyn StateStore>,
    events: mpsc::UnboundedSender<RunEvent>,
    options: RunOptions,
    owner: LeaseOwner,
}

/// What the loop knows about each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

type TaskResult = (usize, Result<Value, StepFailure>);

impl Engine {
    /// An engine for `plan`.
    pub fn new(
        plan: Plan,
        registry: Arc<Registry>,
        client: CbrClient,
        store: Box<dyn StateStore>,
        events: mpsc::UnboundedSender<RunEvent>,
        options: RunOptions,
    ) -> Self {
        let graph = StepGraph::new(&plan);
        Self {
            plan: Arc::new(plan),
            graph,
            registry,
            client,
            store,
            events,
            options: RunOptions {
                concurrency: options.concurrency.max(1),
                ..options
            },
            owner: LeaseOwner::current(),
        }
    }

    fn emit(&self, event: RunEvent) {
        let _ = self.events.send(event);
    }

    /// Starts a new run with id `id`.
    pub async fn start(
        mut self,
        id: RunId,
        plan_path: PathBuf,
        endpoint: Option<String>,
    ) -> Result<RunReport, EngineError> {
        let run = NewRun {
            id: id.clone(),
            plan_path,
            plan_name: self.plan.name.clone(),
            plan_hash: self.plan.hash.clone(),
            inputs: self.plan.inputs_json(),
            endpoint,
            project_id: self.client.project_id().to_owned(),
            steps: self
                .plan
                .steps
                .iter()
                .map(|s| (s.id.clone(), s.step_type.clone()))
                .collect(),
        };
        self.store.create_run(&run)?;
        self.store
            .acquire_lease(&id, &self.owner, self.options.lease_ttl)?;
        self.emit(RunEvent::RunStarted {
            run_id: id.clone(),
            plan: self.plan.name.clone(),
            steps: self.plan.steps.len(),
            resumed: false,
        });
        let phases = vec![Phase::Pending; self.plan.steps.len()];
        let scope = Scope::new(self.plan.inputs_json());
        let checkpoints = vec![None; self.plan.steps.len()];
        self.execute(&id, phases, scope, checkpoints).await
    }

    /// Resumes run `id`: keeps steps that succeeded (unless the plan changed their inputs),
    /// reconciles steps that were in flight, runs the rest.
    pub async fn resume(mut self, id: RunId) -> Result<RunReport, EngineError> {
        self.take_lease(&id)?;
        let run = self.store.run(&id)?;
        let records = self.store.steps(&id)?;
        let by_id: HashMap<&str, &StepRecord> =
            records.iter().map(|r| (r.step_id.as_str(), r)).collect();

        let plan_changed = run.plan_hash != self.plan.hash;
        let has_new_steps = self
            .plan
            .steps
            .iter()
            .any(|s| !by_id.contains_key(s.id.as_str()));
        self.store.set_run_status(&id, RunStatus::Running, None)?;
        self.emit(RunEvent::RunStarted {
            run_id: id.clone(),
            plan: self.plan.name.clone(),
            steps: self.plan.steps.len(),
            resumed: true,
        });

        let mut phases = vec![Phase::Pending; self.plan.steps.len()];
        let mut checkpoints = vec![None; self.plan.steps.len()];
        let mut scope = Scope::new(self.plan.inputs_json());
        let mut invalid = vec![false; self.plan.steps.len()];
        for i in self.graph.topological_order() {
            let step = &self.plan.steps[i];
            let Some(record) = by_id.get(step.id.as_str()) else {
                continue;
            };
            checkpoints[i] = record.checkpoint.clone();
            if record.status != StepStatus::Succeeded {
                continue;
            }
            let reason = if invalid[i] {
                Some("a step it depends on runs again".to_owned())
            } else if record.step_type != step.step_type {
                Some(format!(
                    "its type changed from {} to {}",
                    record.step_type, step.step_type
                ))
            } else if plan_changed {
                match step.with.render(&self.step_scope(step, &scope)) {
                    Ok(input) if Some(input_hash(step, &input)) == record.input_hash => None,
                    Ok(_) => Some("the plan changed its inputs".to_owned()),
                    Err(e) => Some(format!("its inputs no longer render ({e})")),
                }
            } else {
                None
            };
            match reason {
                None => {
                    let outputs = record.outputs.clone().unwrap_or(Value::Null);
                    let summary = self
                        .registry
                        .get(&step.step_type)
                        .and_then(|t| t.summary(&outputs));
                    scope.set_outputs(&step.id, outputs);
                    phases[i] = Phase::Succeeded;
                    self.emit(RunEvent::StepKept {
                        step: step.id.clone(),
                        step_type: step.step_type.clone(),
                        summary,
                    });
                }
                Some(reason) => {
                    for d in self.graph.downstream(i) {
                        invalid[d] = true;
                    }
                    self.store
                        .set_step_status(&id, &step.id, StepStatus::Pending)?;
                    checkpoints[i] = None;
                    self.emit(RunEvent::StepInvalidated {
                        step: step.id.clone(),
                        reason,
                    });
                }
            }
        }
        // Record the new plan only after invalidated steps are reset: if the process dies in
        // between, the next resume still sees a changed plan and compares inputs again.
        if plan_changed || has_new_steps {
            let all: Vec<(String, String)> = self
                .plan
                .steps
                .iter()
                .map(|s| (s.id.clone(), s.step_type.clone()))
                .collect();
            self.store.update_plan(&id, &self.plan.hash, &all)?;
        }
        self.execute(&id, phases, scope, checkpoints).await
    }

    /// Takes the run's lease; a lease held by a process of this host that no longer exists is
    /// taken over at once.
    fn take_lease(&mut self, id: &RunId) -> Result<(), EngineError> {
        match self
            .store
            .acquire_lease(id, &self.owner, self.options.lease_ttl)
        {
            Err(StateError::Locked { holder, .. }) if holder.is_gone() => {
                self.store
                    .take_over_lease(id, &self.owner, &holder, self.options.lease_ttl)?;
                Ok(())
            }
            other => Ok(other?),
        }
    }

    async fn execute(
        mut self,
        id: &RunId,
        mut phases: Vec<Phase>,
        mut scope: Scope,
        checkpoints: Vec<Option<Value>>,
    ) -> Result<RunReport, EngineError> {
        let started = Instant::now();
        let (tx, mut rx) = mpsc::channel::<Msg>(256);
        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut first_attempt: HashMap<usize, Instant> = HashMap::new();
        let mut failed = false;
        let mut fatal: Option<StateError> = None;
        let mut lease_tick = tokio::time::interval(self.options.lease_ttl / 3);
        lease_tick.tick().await;
        let mut ready = ReadyQueue::new(
            &self.graph,
            |i| phases[i] == Phase::Succeeded,
            |i| phases[i] == Phase::Pending,
        );

        loop {
            if !failed && fatal.is_none() {
                self.schedule(
                    id,
                    &mut phases,
                    &mut ready,
                    &scope,
                    &checkpoints,
                    &tx,
                    &mut tasks,
                    &mut failed,
                )?;
            }
            if tasks.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                // First: a busy run always has a message waiting, and a renewal polled after
                // the messages would never run — the lease would expire under a live run.
                _ = lease_tick.tick() => {
                    if let Err(e) = self.store.renew_lease(id, &self.owner, self.options.lease_ttl) {
                        fatal.get_or_insert(e);
                        tasks.abort_all();
                    }
                }
                Some(msg) = rx.recv() => {
                    if let Err(e) = self.handle(id, msg, &mut first_attempt) {
                        fatal.get_or_insert(e);
                        tasks.abort_all();
                    }
                }
                Some(joined) = tasks.join_next() => {
                    let Ok((i, result)) = joined else { continue };
                    // Drain messages the task sent before it finished, so commits stay ordered.
                    while let Ok(msg) = rx.try_recv() {
                        if let Err(e) = self.handle(id, msg, &mut first_attempt) {
                            fatal.get_or_insert(e);
                        }
                    }
                    let step = &self.plan.steps[i];
                    let elapsed = first_attempt.get(&i).map_or(Duration::ZERO, Instant::elapsed);
                    match result {
                        Ok(outputs) => {
                            self.store.step_succeeded(id, &step.id, &outputs)?;
                            phases[i] = Phase::Succeeded;
                            ready.succeeded(&self.graph, i, |d| phases[d] == Phase::Pending);
                            let summary = self.registry.get(&step.step_type).and_then(|t| t.summary(&outputs));
                            scope.set_outputs(&step.id, outputs);
                            self.emit(RunEvent::StepSucceeded {
                                step: step.id.clone(),
                                step_type: step.step_type.clone(),
                                elapsed,
                                summary,
                            });
                        }
                        Err(failure) => {
                            let error = failure.to_step_error();
                            self.store.step_failed(id, &step.id, &error)?;
                            phases[i] = Phase::Failed;
                            failed = true;
                            self.emit(RunEvent::StepFailed {
                                step: step.id.clone(),
                                step_type: step.step_type.clone(),
                                error,
                            });
                        }
                    }
                }
            }
        }
        if let Some(e) = fatal {
            return Err(e.into());
        }

        for (i, phase) in phases.iter_mut().enumerate() {
            if *phase == Phase::Pending {
                *phase = Phase::Skipped;
                let step = &self.plan.steps[i];
                self.store
                    .set_step_status(id, &step.id, StepStatus::Skipped)?;
                self.emit(RunEvent::StepSkipped {
                    step: step.id.clone(),
                });
            }
        }
        let status = if phases.iter().all(|p| *p == Phase::Succeeded) {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        let outputs = if status == RunStatus::Succeeded {
            let mut out = serde_json::Map::new();
            for (name, template) in &self.plan.outputs {
                let value = template
                    .render(&scope)
                    .unwrap_or_else(|e| Value::String(format!("<{e}>")));
                out.insert(name.clone(), value);
            }
            Some(Value::Object(out))
        } else {
            None
        };
        self.store.set_run_status(id, status, outputs.as_ref())?;
        self.store.release_lease(id, &self.owner)?;
        self.emit(RunEvent::RunFinished {
            status,
            elapsed: started.elapsed(),
        });
        let run = self.store.run(id)?;
        let steps = self.store.steps(id)?;
        Ok(RunReport::from_records(&run, &steps))
    }

    /// Starts ready steps, in plan order, while there is room.
    #[allow(clippy::too_many_arguments)]
    fn schedule(
        &mut self,
        id: &RunId,
        phases: &mut [Phase],
        ready: &mut ReadyQueue,
        scope: &Scope,
        checkpoints: &[Option<Value>],
        tx: &mpsc::Sender<Msg>,
        tasks: &mut JoinSet<TaskResult>,
        failed: &mut bool,
    ) -> Result<(), EngineError> {
        while tasks.len() < self.options.concurrency && !*failed {
            let Some(i) = ready.pop() else { break };
            if phases[i] != Phase::Pending {
                continue;
            }
            let step = self.plan.steps[i].clone();
            // Inputs are rendered just before the step runs.
            let input = match step.with.render(&self.step_scope(&step, scope)) {
                Ok(input) => input,
                Err(e) => {
                    let error = StepError {
                        message: format!("cannot render `with.{}`: {}", e.path, e.error),
                        ..StepError::default()
                    };
                    self.store.step_failed(id, &step.id, &error)?;
                    phases[i] = Phase::Failed;
                    *failed = true;
                    self.emit(RunEvent::StepFailed {
                        step: step.id.clone(),
                        step_type: step.step_type.clone(),
                        error,
                    });
                    break;
                }
            };
            self.store
                .step_started(id, &step.id, &input_hash(&step, &input))?;
            phases[i] = Phase::Running;
            let journal = ChannelJournal {
                step: i,
                attempt: AtomicU32::new(0),
                checkpoint: std::sync::Mutex::new(checkpoints[i].clone()),
                tx: tx.clone(),
            };
            let registry = Arc::clone(&self.registry);
            let client = self.client.with_timeout(step.timeout);
            tasks.spawn(async move {
                let result = run_step(&registry, &step, &client, &journal, input).await;
                (i, result)
            });
        }
        Ok(())
    }

    /// The scope `step` renders in: the plan's inputs and the outputs of the steps it needs.
    /// Rendering in the whole run's scope would convert every finished step's outputs for
    /// every step, O(n) per step and O(n²) per run.
    fn step_scope(&self, step: &Step, scope: &Scope) -> Scope {
        let mut narrow = Scope::new(self.plan.inputs_json());
        for need in &step.needs {
            if let Some(outputs) = scope.outputs(need) {
                narrow.set_outputs(need, outputs.clone());
            }
        }
        narrow
    }

    /// Commits what a step task reports.
    fn handle(
        &mut self,
        id: &RunId,
        msg: Msg,
        first_attempt: &mut HashMap<usize, Instant>,
    ) -> Result<(), StateError> {
        match msg {
            Msg::AttemptStarted { step, reply } => {
                let s = &self.plan.steps[step];
                let result = self.store.attempt_started(id, &s.id);
                first_attempt.entry(step).or_insert_with(Instant::now);
                if let Ok(attempt) = &result {
                    self.emit(RunEvent::AttemptStarted {
                        step: s.id.clone(),
                        step_type: s.step_type.clone(),
                        attempt: *attempt,
                    });
                }
                reply_with(reply, result)
            }
            Msg::AttemptFailed {
                step,
                attempt,
                error,
                retry_in,
                reply,
            } => {
                let s = &self.plan.steps[step];
                let result = self.store.attempt_failed(id, &s.id, &error);
                self.emit(RunEvent::AttemptFailed {
                    step: s.id.clone(),
                    attempt,
                    error: error.clone(),
                    retry_in,
                });
                reply_with(reply, result)
            }
            Msg::RecordIntent {
                step,
                attempt,
                operation,
                request,
                reply,
            } => {
                let s = &self.plan.steps[step].id;
                reply_with(
                    reply,
                    self.store
                        .record_intent(id, s, attempt, &operation, &request),
                )
            }
            Msg::ResolveIntent {
                id: intent,
                outcome,
                reply,
            } => reply_with(reply, self.store.resolve_intent(intent, outcome)),
            Msg::OpenIntents { step, reply } => {
                let s = &self.plan.steps[step].id;
                reply_with(reply, self.store.open_intents(id, s))
            }
            Msg::SaveCheckpoint { step, data, reply } => {
                let s = &self.plan.steps[step].id;
                reply_with(reply, self.store.set_step_checkpoint(id, s, &data))
            }
            Msg::Progress { step, message } => {
                self.emit(RunEvent::Progress {
                    step: self.plan.steps[step].id.clone(),
                    message,
                });
                Ok(())
            }
        }
    }
}

/// Answers a step task; a state error is also returned to the loop, which stops the run.
fn reply_with<T: Clone>(
    reply: tokio::sync::oneshot::Sender<Result<T, StateError>>,
    result: Result<T, StateError>,
) -> Result<(), StateError> {
    match result {
        Ok(v) => {
            let _ = reply.send(Ok(v));
            Ok(())
        }
        Err(e) => {
            let _ = reply.send(Err(StateError::Database(e.to_string())));
            Err(e)
        }
    }
}

/// One step task: attempts with backoff until success, a permanent failure, the attempt
/// limit or the deadline.
async fn run_step(
    registry: &Registry,
    step: &Step,
    client: &CbrClient,
    journal: &ChannelJournal,
    input: Value,
) -> Result<Value, StepFailure> {
    let Some(action) = registry.get(&step.step_type) else {
        return Err(StepFailure::Input(format!(
            "unknown step type `{}`",
            step.step_type
        )));
    };
    let deadline = step.deadline.map(|d| Instant::now() + d);
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = journal
            .ask(|reply| Msg::AttemptStarted {
                step: journal.step,
                reply,
            })
            .await?;
        journal.attempt.store(attempt, Ordering::SeqCst);
        let ctx = StepContext {
            step_id: &step.id,
            attempt,
            client,
            journal,
        };
        let attempt_result = match deadline {
            Some(deadline) => {
                match tokio::time::timeout_at(deadline.into(), action.run(ctx, input.clone())).await
                {
                    Ok(result) => result,
                    Err(_) => Err(StepFailure::Deadline(format!(
                        "step did not finish within its deadline of {}",
                        crate::plan::duration::format_duration(step.deadline.unwrap_or_default())
                    ))),
                }
            }
            None => action.run(ctx, input.clone()).await,
        };
        let failure = match attempt_result {
            Ok(outputs) => return Ok(outputs),
            Err(failure) => failure,
        };
        if !failure.is_retryable() || tries >= step.retry.max_attempts {
            return Err(failure);
        }
        let delay = step
            .retry
            .delay(tries, rand::random::<f64>(), failure.retry_after());
        if deadline.is_some_and(|d| Instant::now() + delay >= d) {
            return Err(failure);
        }
        journal
            .ask(|reply| Msg::AttemptFailed {
                step: journal.step,
                attempt,
                error: failure.to_step_error(),
                retry_in: delay,
                reply,
            })
            .await?;
        tokio::time::sleep(delay).await;
    }
}

/// Hash of a step's type and rendered inputs, to notice a changed plan on resume.
fn input_hash(step: &Step, input: &Value) -> String {
    let mut text = step.step_type.clone();
    text.push('\n');
    text.push_str(&input.to_string());
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cbr::auth::Auth;

    #[test]
    fn a_step_renders_with_the_inputs_and_the_outputs_of_the_steps_it_needs_only() {
        let text = "version: 1\nname: t\ninputs:\n  size: { type: integer, default: 7 }\nsteps:\n\
            - { id: a, type: create_vault, with: { name: a, billing: { consistent_level: crash_consistent, object_type: server, protect_type: backup, size: 1 }, resources: [] } }\n\
            - { id: b, type: create_vault, with: { name: b, billing: { consistent_level: crash_consistent, object_type: server, protect_type: backup, size: 1 }, resources: [] } }\n\
            - { id: c, type: create_vault, with: { name: c, description: \"{{ steps.a.outputs.id }}\", billing: { consistent_level: crash_consistent, object_type: server, protect_type: backup, size: \"{{ inputs.size }}\" }, resources: [] } }\n";
        let registry = Arc::new(Registry::builtin());
        let plan = crate::plan::parse_str("t.yaml", text, &[], registry.as_ref()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let client = CbrClient::new(
            crate::cbr::http_client(),
            url::Url::parse("http://127.0.0.1:9").unwrap(),
            "p",
            Auth::None,
        );
        let (tx, _rx) = mpsc::unbounded_channel();
        let store = crate::state::open(dir.path()).unwrap();
        let engine = Engine::new(plan, registry, client, store, tx, RunOptions::default());

        let mut scope = Scope::new(engine.plan.inputs_json());
        scope.set_outputs("a", json!({"id": "vault-a"}));
        scope.set_outputs("b", json!({"id": "vault-b"}));
        let c = &engine.plan.steps[2];
        let narrow = engine.step_scope(c, &scope);
        assert_eq!(narrow.outputs("a"), Some(&json!({"id": "vault-a"})));
        assert_eq!(narrow.outputs("b"), None, "b is not a dependency of c");
        let input = c.with.render(&narrow).unwrap();
        assert_eq!(input["description"], "vault-a");
        assert_eq!(input["billing"]["size"], 7);
    }
}
