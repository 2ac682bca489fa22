//! Running a batch: after the store's earlier batches, one sub-request at a time (or up to
//! 100 at once in parallel mode), each through the API dispatcher, a 5xx retried.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::request::SubRequest;
use crate::app::App;
use crate::query::Query;
use crate::routes::{Access, Caller, dispatch};

/// Further attempts after a 5xx answer (the docs: "5 times with a 3-second interval").
const RETRIES: usize = 5;
/// Sub-requests running at once with `allowParallelMode=true`.
const PARALLEL_WIDTH: usize = 100;

/// How the sub-requests of one batch are run.
#[derive(Clone, Copy)]
pub struct RunOptions {
    pub stop_on_failure: bool,
    pub parallel: bool,
    pub retry_delay: Duration,
}

/// One created batch: its group and its progress, shared by the runner and status calls.
pub struct Batch {
    pub group: Option<String>,
    progress: Mutex<Progress>,
}

enum Slot {
    Pending,
    Running,
    /// The entry of `responses`.
    Done(Value),
}

pub struct Progress {
    ids: Vec<Value>,
    slots: Vec<Slot>,
    started: bool,
    cancelled: bool,
}

impl Batch {
    pub fn new(group: Option<String>, requests: &[SubRequest]) -> Batch {
        Batch {
            group,
            progress: Mutex::new(Progress {
                ids: requests.iter().map(|r| r.id.clone()).collect(),
                slots: requests.iter().map(|_| Slot::Pending).collect(),
                started: false,
                cancelled: false,
            }),
        }
    }

    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress {
    pub fn total(&self) -> usize {
        self.slots.len()
    }

    pub fn finished(&self) -> bool {
        self.slots.iter().all(|s| matches!(s, Slot::Done(_)))
    }

    /// `QUEUED` until the executor picks the batch up (earlier batches of the store still
    /// running), `IN_PROGRESS` while any sub-request is left, then `COMPLETED`.
    pub fn status(&self) -> &'static str {
        if self.finished() {
            "COMPLETED"
        } else if self.started {
            "IN_PROGRESS"
        } else {
            "QUEUED"
        }
    }

    /// The finished entries, in request order.
    pub fn responses(&self) -> impl Iterator<Item = &Value> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Done(v) => Some(v),
            _ => None,
        })
    }

    /// Stops what has not started: those sub-requests become `NOT_EXECUTED` and a running
    /// one is not retried. Returns whether anything was left to stop.
    pub fn cancel(&mut self) -> bool {
        if self.finished() {
            return false;
        }
        self.cancelled = true;
        self.skip_pending();
        true
    }

    fn skip_pending(&mut self) {
        for (slot, id) in self.slots.iter_mut().zip(&self.ids) {
            if matches!(slot, Slot::Pending) {
                *slot = Slot::Done(json!({ "id": id, "status": "NOT_EXECUTED" }));
            }
        }
    }

    /// Claims sub-request `i`; false when a cancel already settled it.
    fn start(&mut self, i: usize) -> bool {
        let pending = matches!(self.slots[i], Slot::Pending);
        if pending {
            self.slots[i] = Slot::Running;
        }
        pending
    }

    fn finish(&mut self, i: usize, code: StatusCode, body: Value) {
        let ok = code == StatusCode::OK;
        self.slots[i] = Slot::Done(json!({
            "id": self.ids[i],
            "status": if ok { "COMPLETED" } else { "FAILED" },
            "httpStatusCode": code.as_u16(),
            "httpStatusLine": code.canonical_reason().unwrap_or(""),
            "httpBody": body,
        }));
    }
}

/// Runs the batch once `previous` (the store's batch created just before) has finished,
/// and signals its own end by dropping `done`.
pub fn spawn(
    app: Arc<App>,
    batch: Arc<Batch>,
    requests: Vec<SubRequest>,
    options: RunOptions,
    previous: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
) {
    tokio::spawn(async move {
        if let Some(previous) = previous {
            // An error only means the previous runner is gone: its turn is over either way.
            let _ = previous.await;
        }
        run(&app, &batch, requests, options).await;
        drop(done);
    });
}

async fn run(app: &Arc<App>, batch: &Arc<Batch>, requests: Vec<SubRequest>, o: RunOptions) {
    batch.progress().started = true;
    let width = if o.parallel { PARALLEL_WIDTH } else { 1 };
    let mut requests = requests.into_iter().enumerate().peekable();
    while requests.peek().is_some() {
        if batch.progress().cancelled {
            return;
        }
        let mut running = JoinSet::new();
        for (i, r) in requests.by_ref().take(width) {
            running.spawn(run_one(app.clone(), batch.clone(), i, r, o.retry_delay));
        }
        let mut failed = false;
        while let Some(ok) = running.join_next().await {
            failed |= !ok.unwrap_or(false);
        }
        if failed && o.stop_on_failure {
            batch.progress().skip_pending();
            return;
        }
    }
}

/// Runs sub-request `i`, retrying a 5xx; returns whether it answered 200 (a sub-request a
/// cancel settled counts as no failure).
async fn run_one(
    app: Arc<App>,
    batch: Arc<Batch>,
    i: usize,
    r: SubRequest,
    retry_delay: Duration,
) -> bool {
    if !batch.progress().start(i) {
        return true;
    }
    let (mut code, mut body) = execute(&app, &r).await;
    for _ in 0..RETRIES {
        if !code.is_server_error() {
            break;
        }
        tokio::time::sleep(retry_delay).await;
        if batch.progress().cancelled {
            break;
        }
        (code, body) = execute(&app, &r).await;
    }
    batch.progress().finish(i, code, body);
    code == StatusCode::OK
}

/// One attempt. Sub-requests skip the API gate (no rate limit, token or stats: the batch
/// call was checked and counted), but meet the injected latency and 500/503 errors, so a
/// test can watch the retries.
async fn execute(app: &Arc<App>, r: &SubRequest) -> (StatusCode, Value) {
    let fault = app.faults.decide_sub_request(&r.path);
    if let Some(latency) = fault.latency {
        tokio::time::sleep(latency).await;
    }
    let result = match fault.action.injected_error() {
        Some(e) => Err(e),
        None => Query::parse(r.query.as_deref()).and_then(|query| {
            let caller = Caller {
                access: Access::Private,
                gzip: false,
            };
            dispatch(app, caller, &r.method, &r.path, &query, &r.body)
        }),
    };
    match result {
        Ok(reply) => (
            reply.status,
            serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
        ),
        Err(e) => (
            e.status,
            serde_json::from_slice(&e.body()).unwrap_or(Value::Null),
        ),
    }
}
