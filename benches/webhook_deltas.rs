//! Webhook deltas benchmark: how long a storefront sale takes to reach `stock_levels`.
//!
//! The daemon (`daemon::run_with`, schedules and delta worker, production defaults: a
//! budget of 500 requests a minute with a burst of 10) runs in this process against the
//! emulator (rate limit 600 a minute). The emulator sends its real webhooks to a stand-in
//! for the receiver that records each one in the mirror's inbox exactly as the receiver
//! does (tests/common `receive`) and wakes the worker. Sales go at a steady rate, each of
//! another product; a reader polls the mirror every 5 ms and notes when each sale's stock
//! shows. Prints the latency percentiles and the requests the deltas cost.
//!
//! `cargo bench --bench webhook_deltas`. Knobs: `BENCH_SALES_PER_SEC` (default 10),
//! `BENCH_SECS` (default 20), `BENCH_DEBOUNCE_MS` and `BENCH_READ_INTERVAL_MS` (default:
//! the configuration's defaults).

mod support;

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::env_u64;

use axum::extract::State;
use axum::http::StatusCode;
use common::{TestStore, Webhook, receive, wait_until};
use ecwid_emulator::{EmulatorConfig, RateLimit};
use ecwid_sync::config::{Config, SecretEnv};
use ecwid_sync::daemon::{self, Shared};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The receiver's part, as the fixed interface of issue 8 has it: record, wake, answer 200.
struct StandIn {
    db: PathBuf,
    shared: Shared,
    received: AtomicU64,
}

async fn stand_in(State(s): State<Arc<StandIn>>, body: axum::body::Bytes) -> StatusCode {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let entity_id = match &event["entityId"] {
        Value::String(s) => s.parse().unwrap_or(0),
        v => v.as_i64().unwrap_or(0),
    };
    let hook = Webhook {
        event_id: event["eventId"].as_str().unwrap_or_default().to_string(),
        event_type: event["eventType"].as_str().unwrap_or_default().to_string(),
        entity_id,
        order_id: event["data"]["orderId"].as_str().map(str::to_string),
        created: event["eventCreated"].as_i64().unwrap_or(0),
    };
    let db = s.db.clone();
    tokio::task::spawn_blocking(move || receive(&db, &[hook]))
        .await
        .expect("recorded");
    s.shared.inbox.notify_one();
    s.received.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

struct Sale {
    product: i64,
    /// The stock the mirror must show once the sale is applied.
    expected: i64,
    at: Instant,
    seen: Option<Duration>,
}

fn config(store: &TestStore, db: &Path) -> Config {
    let mut text = format!(
        "[ecwid]\nstore_id = {}\ntoken = \"{}\"\nclient_secret = \"{}\"\napi_base = \"{}\"\n\
         [mirror]\npath = \"{}\"\n[webhooks]\n",
        store.config.store_id,
        store.config.token,
        store.config.client_secret,
        store.emulator.api_base(),
        db.display()
    );
    for (var, key) in [
        ("BENCH_DEBOUNCE_MS", "debounce_ms"),
        ("BENCH_READ_INTERVAL_MS", "read_interval_ms"),
    ] {
        if let Ok(value) = std::env::var(var) {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    Config::parse(&text, &SecretEnv::default()).expect("bench config")
}

/// Notes, every 5 ms, the sales whose stock the mirror shows.
fn watch(db: PathBuf, sales: Arc<Mutex<Vec<Sale>>>, stop: Arc<std::sync::atomic::AtomicBool>) {
    let conn = rusqlite::Connection::open(&db).expect("read the mirror");
    let mut read = conn
        .prepare("SELECT quantity FROM stock_levels WHERE product_id = ?1")
        .unwrap();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for sale in sales
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|s| s.seen.is_none())
        {
            let quantity: Option<i64> =
                read.query_row([sale.product], |r| r.get(0)).unwrap_or(None);
            if quantity.is_some_and(|q| q <= sale.expected) {
                sale.seen = Some(now - sale.at);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let rate = env_u64("BENCH_SALES_PER_SEC", 10).max(1);
    let secs = env_u64("BENCH_SECS", 20).max(1);
    let store = TestStore::start(EmulatorConfig {
        products: 3000,
        variations_per_product: 0,
        orders: 200,
        customers: 50,
        categories: 10,
        seed: 11,
        rate_limit: Some(RateLimit {
            per_minute: 600,
            burst: 100,
        }),
        ..EmulatorConfig::default()
    })
    .await;
    let scratch = tempfile::tempdir().unwrap();
    let db = scratch.path().join("mirror.db");
    let config = config(&store, &db);
    let shared = Shared::default();

    let stand_in_state = Arc::new(StandIn {
        db: db.clone(),
        shared: shared.clone(),
        received: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/ecwid", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/webhooks/ecwid", axum::routing::post(stand_in))
        .with_state(stand_in_state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let shutdown = CancellationToken::new();
    let daemon = {
        let (config, shared, shutdown) = (config.clone(), shared.clone(), shutdown.clone());
        tokio::spawn(async move { daemon::run_with(&config, shared, shutdown, || {}).await })
    };
    let first_pass = "SELECT count(*) FROM sync_state WHERE last_full_finished IS NOT NULL";
    assert!(
        wait_until(Duration::from_secs(120), || async {
            common::count(&db, first_pass) == 3
        })
        .await,
        "the first full pull finishes"
    );
    store.set_webhooks(json!({ "url": url })).await;

    let state = store.state().await;
    let stocked: Vec<(i64, i64)> = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["unlimited"].as_bool().unwrap_or(false))
        .filter_map(|p| Some((p["id"].as_i64()?, p["quantity"].as_i64()?)))
        .filter(|(_, q)| *q >= 2)
        .collect();
    let total = (rate * secs) as usize;
    assert!(stocked.len() >= total, "enough stocked products");
    store.reset_stats().await;

    let sales = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (db, sales, stop) = (db.clone(), sales.clone(), stop.clone());
        std::thread::spawn(move || watch(db, sales, stop))
    };
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let started = Instant::now();
    for &(product, quantity) in stocked.iter().take(total) {
        tick.tick().await;
        let at = Instant::now();
        store.sale(product, None, 1).await;
        sales.lock().unwrap().push(Sale {
            product,
            expected: quantity - 1,
            at,
            seen: None,
        });
    }
    let selling = started.elapsed();
    let all_seen = wait_until(Duration::from_secs(30), || async {
        sales.lock().unwrap().iter().all(|s| s.seen.is_some())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let stats = store.stats().await;
    shutdown.cancel();
    daemon.await.unwrap().expect("the daemon stops cleanly");

    let sales = sales.lock().unwrap();
    let mut latencies: Vec<Duration> = sales.iter().filter_map(|s| s.seen).collect();
    latencies.sort();
    let counts = &shared.deltas;
    println!(
        "debounce_ms {}, read_interval_ms {}",
        config.webhooks.debounce.as_millis(),
        config.webhooks.read_interval.as_millis()
    );
    println!(
        "{} sales in {:.1} s ({rate}/s), each of another product; {} of them seen in stock_levels{}",
        sales.len(),
        selling.as_secs_f64(),
        latencies.len(),
        if all_seen { "" } else { " (some never!)" }
    );
    println!(
        "sale -> stock_levels latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    let requests = |route: &str| stats["requests"][route].as_u64().unwrap_or(0);
    println!(
        "webhooks received {}; events applied {}, echoes {}, ignored {}; reads by the worker {} requests",
        stand_in_state.received.load(Ordering::Relaxed),
        counts.events_applied.load(Ordering::Relaxed),
        counts.events_echoed.load(Ordering::Relaxed),
        counts.events_ignored.load(Ordering::Relaxed),
        counts.fetch_requests.load(Ordering::Relaxed),
    );
    println!(
        "requests to the store meanwhile (worker and scheduled pulls): GET /products {}, GET /orders {}, GET /latest-stats {}, total {}; 429 answers {}",
        requests("GET /products"),
        requests("GET /orders"),
        requests("GET /latest-stats"),
        stats["requests_total"],
        stats["status"]["429"].as_u64().unwrap_or(0),
    );
}
