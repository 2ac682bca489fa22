//! Test helpers: an emulator on 127.0.0.1:0, a small HTTP client, condition waits and the
//! recursive shape comparison against the documentation samples.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ecwid_emulator::{Emulator, EmulatorConfig};
use reqwest::Method;
use serde_json::Value;

pub const TOKEN: &str = "secret_test";

pub struct Harness {
    pub emu: Emulator,
    pub client: reqwest::Client,
    /// `http://ADDR/api/v3/1003`
    pub base: String,
    pub token: String,
}

pub fn small_config() -> EmulatorConfig {
    EmulatorConfig {
        rate_limit: None,
        ..EmulatorConfig::default()
    }
}

pub async fn start(config: EmulatorConfig) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let store_id = config.store_id;
    let token = config.token.clone();
    let emu = Emulator::start_on(listener, config)
        .await
        .expect("emulator starts");
    let base = format!("{}/{}", emu.api_base(), store_id);
    Harness {
        emu,
        client: reqwest::Client::new(),
        base,
        token,
    }
}

impl Harness {
    /// An API request carrying `token` the way the platform accepts it (a Bearer header).
    pub fn request(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token)
    }

    /// An API call with the private token; returns the status and the parsed body (Null if
    /// the body is not JSON).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(&self.token.clone(), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .request(method, path, token)
            .header("Content-Type", "application/json;charset=utf-8");
        if let Some(b) = body {
            req = req.body(serde_json::to_vec(b).unwrap());
        }
        let resp = req.send().await.expect("request reaches the emulator");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path} answered {status}: {v}");
        v
    }

    /// A control-plane call (`/_emulator/...`).
    pub async fn control(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.emu.url(), path));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        let resp = req.send().await.expect("control request");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn state(&self) -> Value {
        self.control(Method::GET, "/_emulator/state", None).await.1
    }

    /// Walks every page of a search endpoint with the given extra query and returns all items.
    pub async fn walk(&self, path: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut offset = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = self
                .ok(
                    Method::GET,
                    &format!("{path}{sep}offset={offset}&limit={limit}"),
                    None,
                )
                .await;
            let batch = page["items"].as_array().cloned().unwrap_or_default();
            assert_eq!(page["count"].as_u64().unwrap() as usize, batch.len());
            assert_eq!(page["offset"].as_u64().unwrap() as usize, offset);
            offset += batch.len();
            items.extend(batch);
            if batch_is_last(&page, offset) {
                return items;
            }
        }
    }
}

fn batch_is_last(page: &Value, offset: usize) -> bool {
    page["count"].as_u64() == Some(0) || offset as u64 >= page["total"].as_u64().unwrap_or(0)
}

/// Polls `check` until it yields `Some`, or panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn samples_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/ecwid-api/samples"
    ))
}

pub fn sample(name: &str) -> Value {
    let path = samples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read sample {}: {e}. The shape tests need the shared samples directory \
             ../shared/ecwid-api/samples next to the workspace",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("sample {name} is not JSON: {e}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `sample` must be in `actual` with the same JSON type, recursively, except
/// keys listed in `optional` (which are still compared when present). Elements of an array
/// are compared with the sample element that shares most keys with them, so stubs and full
/// items in one list each meet their own pattern.
pub fn shape_errors(
    path: &str,
    sample: &Value,
    actual: &Value,
    optional: &[&str],
    out: &mut Vec<String>,
) {
    if sample.is_null() {
        return;
    }
    if kind(sample) != kind(actual) {
        out.push(format!(
            "{path}: expected {}, got {} ({actual})",
            kind(sample),
            kind(actual)
        ));
        return;
    }
    match (sample, actual) {
        (Value::Object(s), Value::Object(a)) => {
            for (k, sv) in s {
                match a.get(k) {
                    Some(av) => shape_errors(&format!("{path}.{k}"), sv, av, optional, out),
                    None if optional.contains(&k.as_str()) => {}
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(s), Value::Array(a)) => {
            if s.is_empty() {
                return;
            }
            for (i, av) in a.iter().enumerate() {
                let best = s
                    .iter()
                    .enumerate()
                    .max_by_key(|(j, sv)| {
                        let shared = match (sv, av) {
                            (Value::Object(so), Value::Object(ao)) => {
                                so.keys().filter(|k| ao.contains_key(*k)).count()
                            }
                            _ => 0,
                        };
                        // On a tie, the sample element at the same position wins.
                        (shared, *j == i)
                    })
                    .map(|(_, sv)| sv)
                    .unwrap_or(&s[0]);
                shape_errors(&format!("{path}[{i}]"), best, av, optional, out);
            }
        }
        _ => {}
    }
}

pub fn assert_shape(name: &str, actual: &Value, optional: &[&str]) {
    let mut errors = Vec::new();
    shape_errors("$", &sample(name), actual, optional, &mut errors);
    let mut shown = actual.to_string();
    shown.truncate(1500);
    errors.truncate(40);
    assert!(
        errors.is_empty(),
        "{name}: shape differs:\n  {}\nactual (cut): {shown}",
        errors.join("\n  ")
    );
}
