//! The Batch API: `POST /batch` queues up to 500 sub-requests that run asynchronously
//! through the same dispatcher as direct calls, the store's batches one after another;
//! `GET /batch?ticket=` reports progress; `POST /batch/cancel-group` stops what has not run.
//! A `deduplicationKey` makes a re-sent create return the first ticket instead of running
//! again.

mod executor;
mod request;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::EmulatorConfig;
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::routes::Reply;
use executor::{Batch, RunOptions};

/// Pause between attempts of a sub-request that answered 5xx, before `time_scale`.
const RETRY_DELAY_SECS: f64 = 3.0;

#[derive(Default)]
pub struct Batches {
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    tickets: HashMap<String, Arc<Batch>>,
    /// `deduplicationKey` -> the first create's ticket and when it was made.
    dedup: HashMap<String, (String, Instant)>,
    /// End signal of the newest batch: the next one created waits for it (FIFO per store).
    tail: Option<oneshot::Receiver<()>>,
}

impl Batches {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `secs` of platform time divided by `time_scale` (a non-positive scale counts as 1).
fn compressed(secs: f64, time_scale: f64) -> Duration {
    let scale = if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    };
    Duration::try_from_secs_f64(secs / scale).unwrap_or(Duration::MAX)
}

fn dedup_memory(config: &EmulatorConfig) -> Duration {
    compressed(config.batch_dedup_secs as f64, config.time_scale)
}

fn new_ticket() -> String {
    crate::json::uuid_v4(rand::rng().random())
}

fn ticket_reply(ticket: &str) -> Reply {
    Reply::json(&json!({ "ticket": ticket }))
}

pub fn create(app: &Arc<App>, q: &Query, body: &[u8]) -> ApiResult<Reply> {
    let options = request::Options::parse(q)?;
    let requests = request::parse_requests(body)?;
    // One lock from the key lookup to the queueing: two creates racing with one key still
    // run the batch once, and tickets queue in the order they were handed out.
    let mut registry = app.batches.registry();
    let now = Instant::now();
    let memory = dedup_memory(&app.config);
    registry
        .dedup
        .retain(|_, (_, made)| now.duration_since(*made) < memory);
    if let Some(key) = &options.dedup_key
        && let Some((ticket, _)) = registry.dedup.get(key)
    {
        return Ok(ticket_reply(ticket));
    }
    let ticket = new_ticket();
    let batch = Arc::new(Batch::new(options.group, &requests));
    registry.tickets.insert(ticket.clone(), batch.clone());
    if let Some(key) = options.dedup_key
        && !memory.is_zero()
    {
        registry.dedup.insert(key, (ticket.clone(), now));
    }
    let (done, end_signal) = oneshot::channel();
    let previous = registry.tail.replace(end_signal);
    drop(registry);
    let run = RunOptions {
        stop_on_failure: options.stop_on_failure,
        parallel: options.parallel,
        retry_delay: compressed(RETRY_DELAY_SECS, app.config.time_scale),
    };
    executor::spawn(app.clone(), batch, requests, run, previous, done);
    Ok(ticket_reply(&ticket))
}

fn find(app: &App, ticket: &str) -> ApiResult<Arc<Batch>> {
    app.batches
        .registry()
        .tickets
        .get(ticket)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Batch ticket '{ticket}' not found")))
}

pub fn status(app: &Arc<App>, q: &Query) -> ApiResult<Reply> {
    let ticket = q
        .str("ticket")
        .ok_or_else(|| ApiError::bad_request("Parameter 'ticket' is absent"))?;
    let escaped = q.bool("escapedJson")?.unwrap_or(false);
    let batch = find(app, ticket)?;
    let p = batch.progress();
    let responses: Vec<Value> = p
        .responses()
        .map(|r| {
            let mut r = r.clone();
            if escaped
                && let Some(obj) = r.as_object_mut()
                && let Some(body) = obj.remove("httpBody")
            {
                obj.insert("escapedHttpBody".into(), json!(body.to_string()));
            }
            r
        })
        .collect();
    Ok(Reply::json(&json!({
        "status": p.status(),
        "totalRequests": p.total(),
        "completedRequests": responses.len(),
        "responses": responses,
    })))
}

/// `POST /batch/cancel-group?groupId=G[&ticketId=T]`: with a ticket, stops that batch if it
/// belongs to group G (the current docs); without, every batch of group G (the older docs).
/// `updateCount` is 1 when anything was left to stop.
pub fn cancel_group(app: &Arc<App>, q: &Query) -> ApiResult<Reply> {
    let group = q
        .str("groupId")
        .ok_or_else(|| ApiError::bad_request("Parameter 'groupId' is absent"))?;
    let in_group = |b: &Arc<Batch>| b.group.as_deref() == Some(group);
    let targets: Vec<Arc<Batch>> = match q.str("ticketId") {
        Some(ticket) => Some(find(app, ticket)?)
            .into_iter()
            .filter(in_group)
            .collect(),
        None => app
            .batches
            .registry()
            .tickets
            .values()
            .filter(|b| in_group(b))
            .cloned()
            .collect(),
    };
    let mut stopped = false;
    for batch in targets {
        stopped |= batch.progress().cancel();
    }
    Ok(Reply::json(&json!({ "updateCount": u8::from(stopped) })))
}
