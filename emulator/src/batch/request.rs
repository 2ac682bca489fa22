//! What a `POST /batch` asks for: its query options and the array of sub-requests, validated
//! before anything is queued.

use axum::http::Method;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub const MAX_REQUESTS: usize = 500;
/// Longest `deduplicationKey` accepted (Ecwid's SDK sends a 36-character UUID).
const MAX_KEY_CHARS: usize = 64;

pub struct SubRequest {
    pub id: Value,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

/// The query parameters of `POST /batch`.
pub struct Options {
    pub stop_on_failure: bool,
    pub parallel: bool,
    pub dedup_key: Option<String>,
    pub group: Option<String>,
}

impl Options {
    pub fn parse(q: &Query) -> ApiResult<Options> {
        let dedup_key = q.str("deduplicationKey").map(str::to_string);
        if dedup_key
            .as_deref()
            .is_some_and(|k| k.chars().count() > MAX_KEY_CHARS)
        {
            return Err(ApiError::bad_request(format!(
                "Wrong parameter 'deduplicationKey' value: at most {MAX_KEY_CHARS} characters"
            )));
        }
        Ok(Options {
            stop_on_failure: q.bool("stopOnFirstFailure")?.unwrap_or(true),
            parallel: q.bool("allowParallelMode")?.unwrap_or(false),
            dedup_key,
            group: q.str("groupId").map(str::to_string),
        })
    }
}

pub fn parse_requests(body: &[u8]) -> ApiResult<Vec<SubRequest>> {
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
