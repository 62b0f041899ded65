//! The step tasks' side of the channel to the executor loop: [`ChannelJournal`] implements
//! `steps::Journal` by sending [`Msg`]s and waiting for each commit.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::state::{Intent, IntentOutcome, StateError, StepError};
use crate::steps::{BoxFuture, Journal, StepFailure};

/// A request from a step task to the executor loop.
#[derive(Debug)]
pub(super) enum Msg {
    AttemptStarted {
        step: usize,
        reply: oneshot::Sender<Result<u32, StateError>>,
    },
    AttemptFailed {
        step: usize,
        attempt: u32,
        error: StepError,
        retry_in: Duration,
        reply: oneshot::Sender<Result<(), StateError>>,
    },
    RecordIntent {
        step: usize,
        attempt: u32,
        operation: String,
        request: Value,
        reply: oneshot::Sender<Result<i64, StateError>>,
    },
    ResolveIntent {
        id: i64,
        outcome: IntentOutcome,
        reply: oneshot::Sender<Result<(), StateError>>,
    },
    OpenIntents {
        step: usize,
        reply: oneshot::Sender<Result<Vec<Intent>, StateError>>,
    },
    SaveCheckpoint {
        step: usize,
        data: Value,
        reply: oneshot::Sender<Result<(), StateError>>,
    },
    Progress {
        step: usize,
        message: String,
    },
}

/// A step task's journal.
pub(super) struct ChannelJournal {
    pub(super) step: usize,
    pub(super) attempt: AtomicU32,
    pub(super) checkpoint: std::sync::Mutex<Option<Value>>,
    pub(super) tx: mpsc::Sender<Msg>,
}

fn closed() -> StepFailure {
    StepFailure::State("the executor stopped".to_owned())
}

impl ChannelJournal {
    /// Sends a message built around a reply channel and waits for the answer.
    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StateError>>) -> Msg,
    ) -> Result<T, StepFailure> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| closed())?;
        rx.await
            .map_err(|_| closed())?
            .map_err(|e| StepFailure::State(e.to_string()))
    }
}

impl Journal for ChannelJournal {
    fn record_intent<'a>(
        &'a self,
        operation: &'a str,
        request: &'a Value,
    ) -> BoxFuture<'a, Result<i64, StepFailure>> {
        Box::pin(async move {
            let attempt = self.attempt.load(Ordering::SeqCst);
            self.ask(|reply| Msg::RecordIntent {
                step: self.step,
                attempt,
                operation: operation.to_owned(),
                request: request.clone(),
                reply,
            })
            .await
        })
    }

    fn resolve_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
    ) -> BoxFuture<'_, Result<(), StepFailure>> {
        Box::pin(async move {
            self.ask(|reply| Msg::ResolveIntent { id, outcome, reply })
                .await
        })
    }

    fn open_intents(&self) -> BoxFuture<'_, Result<Vec<Intent>, StepFailure>> {
        Box::pin(async move {
            self.ask(|reply| Msg::OpenIntents {
                step: self.step,
                reply,
            })
            .await
        })
    }

    fn checkpoint(&self) -> Option<Value> {
        self.checkpoint.lock().map(|c| c.clone()).unwrap_or(None)
    }

    fn save_checkpoint(&self, data: Value) -> BoxFuture<'_, Result<(), StepFailure>> {
        Box::pin(async move {
            self.ask(|reply| Msg::SaveCheckpoint {
                step: self.step,
                data: data.clone(),
                reply,
            })
            .await?;
            if let Ok(mut c) = self.checkpoint.lock() {
                *c = Some(data);
            }
            Ok(())
        })
    }

    fn progress(&self, message: String) {
        let _ = self.tx.try_send(Msg::Progress {
            step: self.step,
            message,
        });
    }
}
