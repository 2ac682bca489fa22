//! The Batch API: `POST /batch` queues up to 500 sub-requests that run asynchronously, in
//! order, through the same dispatcher as direct calls; `GET /batch?ticket=` reports progress.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use rand::RngExt;
use serde_json::{Value, json};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::routes::{Access, Caller, Reply, dispatch};

pub const MAX_REQUESTS: usize = 500;

struct SubRequest {
    id: Value,
    method: Method,
    path: String,
    query: Option<String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct BatchState {
    total: usize,
    /// One entry per finished (or skipped) sub-request, in order.
    responses: Vec<Value>,
    done: bool,
}

#[derive(Default)]
pub struct Batches {
    tickets: Mutex<HashMap<String, Arc<Mutex<BatchState>>>>,
}

fn parse_requests(body: &[u8]) -> ApiResult<Vec<SubRequest>> {
    let list = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(list)) => list,
        Ok(_) => {
            return Err(ApiError::bad_request(
                "Can't create batch. Batch request body must be a JSON array",
            ));
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "Can't create batch. Malformed JSON: {e}"
            )));
        }
    };
    if list.len() > MAX_REQUESTS {
        return Err(ApiError::bad_request(format!(
            "Can't create batch. At most {MAX_REQUESTS} requests are allowed, got {}",
            list.len()
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let bad =
            |what: &str| ApiError::bad_request(format!("Can't create batch. Path $[{i}].{what}"));
        let Value::Object(item) = item else {
            return Err(bad("must be an object"));
        };
        let id = match item.get("id") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) => json!(s),
            Some(Value::Number(n)) => json!(n.to_string()),
            Some(_) => return Err(bad("id contains bad value")),
        };
        let full_path = item
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("path is absent"))?;
        if !full_path.starts_with('/') {
            return Err(bad("path must start with '/'"));
        }
        let method = match item.get("method").and_then(Value::as_str) {
            Some("GET") => Method::GET,
            Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("DELETE") => Method::DELETE,
            _ => return Err(bad("method must be one of GET, POST, PUT, DELETE")),
        };
        // The docs type `body` as a string but describe it as "as is": accept both.
        let body = match item.get("body") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.as_bytes().to_vec(),
            Some(v) => serde_json::to_vec(v).unwrap_or_default(),
        };
        let (path, query) = match full_path.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (full_path.to_string(), None),
        };
        if crate::routes::segments(&path).first() == Some(&"batch") {
            return Err(bad("path: a batch cannot contain batch requests"));
        }
        out.push(SubRequest {
            id,
            method,
            path,
            query,
            body,
        });
    }
    Ok(out)
}

fn ticket() -> String {
    let a: u128 = rand::rng().random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 96) as u32,
        (a >> 80) as u16,
        (a >> 68) as u16 & 0xfff,
        ((a >> 52) as u16 & 0x3fff) | 0x8000,
        a as u64 & 0xffff_ffff_ffff
    )
}

pub fn create(app: &Arc<App>, q: &Query, body: &[u8]) -> ApiResult<Reply> {
    let stop_on_failure = q.bool("stopOnFirstFailure")?.unwrap_or(true);
    let requests = parse_requests(body)?;
    let ticket = ticket();
    let state = Arc::new(Mutex::new(BatchState {
        total: requests.len(),
        ..Default::default()
    }));
    app.batches
        .tickets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(ticket.clone(), state.clone());
    let app = app.clone();
    tokio::spawn(async move {
        let mut failed = false;
        for r in requests {
            // Let status polls observe QUEUED / IN_PROGRESS between sub-requests.
            tokio::task::yield_now().await;
            let entry = if failed && stop_on_failure {
                json!({ "id": r.id, "status": "NOT_EXECUTED" })
            } else {
                let result = Query::parse(r.query.as_deref()).and_then(|query| {
                    dispatch(
                        &app,
                        Caller {
                            access: Access::Private,
                            gzip: false,
                        },
                        &r.method,
                        &r.path,
                        &query,
                        &r.body,
                    )
                });
                let (code, body) = match result {
                    Ok(reply) => (
                        reply.status,
                        serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
                    ),
                    Err(e) => (
                        e.status,
                        serde_json::from_slice(&e.body()).unwrap_or(Value::Null),
                    ),
                };
                let ok = code.as_u16() == 200;
                failed |= !ok;
                json!({
                    "id": r.id,
                    "status": if ok { "COMPLETED" } else { "FAILED" },
                    "httpStatusCode": code.as_u16(),
                    "httpStatusLine": code.canonical_reason().unwrap_or(""),
                    "httpBody": body,
                })
            };
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .responses
                .push(entry);
        }
        state.lock().unwrap_or_else(|e| e.into_inner()).done = true;
    });
    Ok(Reply::json(&json!({ "ticket": ticket })))
}

pub fn status(app: &Arc<App>, q: &Query) -> ApiResult<Reply> {
    let ticket = q
        .str("ticket")
        .ok_or_else(|| ApiError::bad_request("Parameter 'ticket' is absent"))?;
    let escaped = q.bool("escapedJson")?.unwrap_or(false);
    let state = app
        .batches
        .tickets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(ticket)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Batch ticket '{ticket}' not found")))?;
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    let status = if s.done || s.responses.len() == s.total {
        "COMPLETED"
    } else if s.responses.is_empty() {
        "QUEUED"
    } else {
        "IN_PROGRESS"
    };
    let responses: Vec<Value> = s
        .responses
        .iter()
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
        "status": status,
        "totalRequests": s.total,
        "completedRequests": s.responses.len(),
        "responses": responses,
    })))
}
