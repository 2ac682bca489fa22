//! Pushing local stock changes: the real `ecwid-sync run` binary with default push settings
//! against an emulated store with Ecwid's rate limit (600 requests a minute, burst 100).
//!
//! Economy: a tool writes 10,000 stock changes over 2,000 products in one transaction (an
//! import); counted are every API request until Ecwid holds them all, batch polls included
//! (target: at most 20), and the seconds that takes. Latency: single changes, one at a time,
//! from the tool's commit until the change is `applied` in the mirror's outbox, which
//! happens after Ecwid answered the batch that carried it (target: p50 < 2 s).
//!
//! `cargo bench --bench stock_push`. `BENCH_PUSH_SAMPLES` sets the latency samples (default 20).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::env_u64;

use ecwid_emulator::{Emulator, EmulatorConfig};
use rusqlite::Connection;
use serde_json::Value;

/// Products changed; the store has more, since some have unlimited stock.
const PRODUCTS: usize = 2000;
const CHANGES: usize = 10_000;

fn tool(db: &Path) -> Connection {
    let conn = Connection::open(db).expect("open the mirror");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn scalar(db: &Path, sql: &str) -> i64 {
    tool(db).query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn control(
    http: &reqwest::Client,
    emulator: &Emulator,
    method: reqwest::Method,
    path: &str,
) -> Value {
    http.request(method, format!("{}/_emulator{path}", emulator.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null)
}

/// Every product's quantity in the store.
async fn store_quantities(http: &reqwest::Client, emulator: &Emulator) -> BTreeMap<i64, i64> {
    let state = control(http, emulator, reqwest::Method::GET, "/state").await;
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["id"].as_i64()?, p["quantity"].as_i64()?)))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let samples = env_u64("BENCH_PUSH_SAMPLES", 20).max(1) as usize;
    let store = EmulatorConfig {
        products: PRODUCTS * 5 / 4,
        variations_per_product: 0,
        orders: 20,
        customers: 10,
        categories: 5,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), store.clone())
        .await
        .expect("start the emulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("mirror.db");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[ecwid]\nstore_id = {}\ntoken = \"{}\"\napi_base = \"{}\"\n\
             [mirror]\npath = \"{}\"\n[webhooks]\nlisten = \"127.0.0.1:0\"\n",
            store.store_id,
            store.token,
            emulator.api_base(),
            db.display()
        ),
    )
    .unwrap();
    let mut daemon = support::spawn_daemon(&config);
    // Products, categories and orders: the kinds mirrored by default.
    wait_for("the first pass", Duration::from_secs(120), || {
        scalar(
            &db,
            "SELECT count(*) FROM sync_state WHERE last_incremental IS NOT NULL",
        ) == 3
    })
    .await;
    let http = reqwest::Client::new();

    // Economy.
    let before = store_quantities(&http, &emulator).await;
    let ids: Vec<i64> = before.keys().copied().take(PRODUCTS).collect();
    assert_eq!(ids.len(), PRODUCTS, "enough products with tracked stock");
    let mut expected = before.clone();
    control(&http, &emulator, reqwest::Method::POST, "/stats/reset").await;
    let started = Instant::now();
    {
        let mut conn = tool(&db);
        let tx = conn.transaction().unwrap();
        {
            let mut update = tx
                .prepare("UPDATE products SET quantity = quantity + ?2 WHERE id = ?1")
                .unwrap();
            for i in 0..CHANGES {
                let id = ids[i % ids.len()];
                let delta = (i % 7) as i64 - 2;
                let delta = if delta == 0 { 3 } else { delta };
                update.execute([id, delta]).unwrap();
                *expected.get_mut(&id).unwrap() += delta;
            }
        }
        tx.commit().unwrap();
    }
    let captured = scalar(&db, "SELECT count(*) FROM outbox");
    wait_for(
        "Ecwid holding every change",
        Duration::from_secs(300),
        || {
            scalar(
                &db,
                "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
            ) == 0
        },
    )
    .await;
    let secs = started.elapsed().as_secs_f64();
    let stats = control(&http, &emulator, reqwest::Method::GET, "/stats").await;
    let after = store_quantities(&http, &emulator).await;
    let requests = stats["requests_total"].as_u64().unwrap_or(0);
    let count = |route: &str| stats["requests"][route].as_u64().unwrap_or(0);
    println!(
        "push economy: {CHANGES} local stock changes over {} products in one transaction ({captured} captured)",
        ids.len()
    );
    println!(
        "  requests until Ecwid held all: {requests} ({} batch creates, {} batch polls, {} others); {secs:.1} s; 429 answers: {}",
        count("POST /batch"),
        count("GET /batch"),
        requests - count("POST /batch") - count("GET /batch"),
        stats["status"]["429"].as_u64().unwrap_or(0)
    );
    println!(
        "  per-record baseline: {CHANGES} requests (one per change), or {} (one per product): {:.0}x and {:.0}x ours",
        ids.len(),
        CHANGES as f64 / requests as f64,
        ids.len() as f64 / requests as f64
    );
    let exact = after == expected;
    println!(
        "  store quantities exact: {exact}; target <= 20 requests: {}",
        if requests <= 20 { "met" } else { "NOT met" }
    );

    // Latency.
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let id = ids[(i * 37) % ids.len()];
        let conn = tool(&db);
        let started = Instant::now();
        conn.execute(
            "UPDATE products SET quantity = quantity + 1 WHERE id = ?1",
            [id],
        )
        .unwrap();
        let row: i64 = conn
            .query_row("SELECT max(id) FROM outbox", [], |r| r.get(0))
            .unwrap();
        wait_for("a change applied", Duration::from_secs(30), || {
            scalar(
                &db,
                &format!("SELECT count(*) FROM outbox WHERE id = {row} AND state = 'applied'"),
            ) == 1
        })
        .await;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 0.5);
    println!(
        "push latency: {samples} single changes, commit -> applied: p50 {p50:.0} ms, p90 {:.0} ms, max {:.0} ms; target p50 < 2 s: {}",
        percentile(&latencies, 0.9),
        percentile(&latencies, 1.0),
        if p50 < 2000.0 { "met" } else { "NOT met" }
    );
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    assert!(exact, "the store's quantities differ from the changes made");
}
