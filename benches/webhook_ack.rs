//! Webhook acknowledge latency: the real `ecwid-sync run` binary, receiving correctly signed
//! events at a steady rate into a real mirror file, measured from the sender's side (request
//! sent to status received, over loopback HTTP). Prints p50/p90/p99/p99.9/max, the rate
//! achieved, and how many events each inbox commit held.
//!
//! `cargo bench --bench webhook_ack`. Environment knobs: `BENCH_WEBHOOK_RATE` (requests per
//! second, default 1000), `BENCH_WEBHOOK_SECS` (measured seconds, default 20). The target is
//! p99 < 5 ms at 1,000 requests/s.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::env_u64;

use ecwid_emulator::{Emulator, EmulatorConfig};
use serde_json::json;
use tokio::sync::Mutex;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signed deliveries of distinct `product.updated` events, made before the clock starts.
fn deliveries(n: u64, secret: &str, tag: &str) -> Vec<(String, String)> {
    let created = unix_now();
    (0..n)
        .map(|i| {
            let id = format!("bench-{tag}-{i}");
            let body = json!({
                "eventId": id, "eventType": "product.updated", "eventCreated": created,
                "storeId": 1003, "entityId": 1 + i % 5000,
            });
            (
                body.to_string(),
                ecwid_emulator::signature(secret, created, &id),
            )
        })
        .collect()
}

struct Outcome {
    latencies_us: Vec<u64>,
    failures: u64,
    secs: f64,
}

/// Sends `deliveries` at `rate` per second, each on its own task (an open loop: a slow
/// answer does not delay the next request), and records each one's latency.
async fn send_at_rate(
    http: &reqwest::Client,
    url: &str,
    deliveries: Vec<(String, String)>,
    rate: u64,
) -> Outcome {
    let n = deliveries.len();
    let results = Arc::new(Mutex::new((Vec::with_capacity(n), 0u64)));
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (body, signature) in deliveries {
        ticker.tick().await;
        let (http, url, results) = (http.clone(), url.to_string(), results.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let answer = http
                .post(url)
                .header("Content-Type", "application/json; charset=UTF-8")
                .header("X-Ecwid-Webhook-Signature", signature)
                .body(body)
                .send()
                .await;
            let took = sent.elapsed().as_micros() as u64;
            let mut r = results.lock().await;
            match answer {
                Ok(a) if a.status() == 200 => r.0.push(took),
                _ => r.1 += 1,
            }
        });
    }
    tasks.join_all().await;
    let secs = started.elapsed().as_secs_f64();
    let (mut latencies_us, failures) = std::mem::take(&mut *results.lock().await);
    latencies_us.sort_unstable();
    Outcome {
        latencies_us,
        failures,
        secs,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// A sample's value from the daemon's `/metrics` text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let rate = env_u64("BENCH_WEBHOOK_RATE", 1000).max(1);
    let secs = env_u64("BENCH_WEBHOOK_SECS", 20).max(1);
    let store = EmulatorConfig {
        products: 200,
        orders: 20,
        customers: 10,
        categories: 5,
        rate_limit: None,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), store.clone())
        .await
        .expect("start the emulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("mirror.db");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[ecwid]\nstore_id = {}\ntoken = \"{}\"\nclient_secret = \"{}\"\napi_base = \"{}\"\n\
             requests_per_minute = 6000\nburst = 1000\n\
             [mirror]\npath = \"{}\"\n[webhooks]\nlisten = \"{listen}\"\n",
            store.store_id,
            store.token,
            store.client_secret,
            emulator.api_base(),
            db.display()
        ),
    )
    .unwrap();
    let mut daemon = support::spawn_daemon(&config);

    // The first pass (a full pull of the small store) must be over before measuring.
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pulled = rusqlite::Connection::open(&db)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM sync_state WHERE last_full_finished IS NOT NULL",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
        if pulled == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon's first pass did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("{base}/webhooks/ecwid");

    // Warm-up: connections, the writer's statement cache, the page cache.
    let warm = send_at_rate(
        &http,
        &url,
        deliveries(rate, &store.client_secret, "warm"),
        rate,
    )
    .await;
    assert_eq!(warm.failures, 0, "warm-up deliveries failed");
    let before = http.get(format!("{base}/metrics")).send().await.unwrap();
    let before = before.text().await.unwrap();

    let n = rate * secs;
    println!("webhook acknowledge latency: {n} signed events at {rate}/s into a real mirror");
    let run = send_at_rate(
        &http,
        &url,
        deliveries(n, &store.client_secret, "run"),
        rate,
    )
    .await;

    let after = http.get(format!("{base}/metrics")).send().await.unwrap();
    let after = after.text().await.unwrap();
    let commits = metric(&after, "ecwid_sync_webhook_inbox_commit_events_count")
        - metric(&before, "ecwid_sync_webhook_inbox_commit_events_count");
    let committed = metric(&after, "ecwid_sync_webhook_inbox_commit_events_sum")
        - metric(&before, "ecwid_sync_webhook_inbox_commit_events_sum");
    let commit_secs = metric(&after, "ecwid_sync_webhook_inbox_commit_seconds_sum")
        - metric(&before, "ecwid_sync_webhook_inbox_commit_seconds_sum");
    let stored: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM webhook_events WHERE event_id LIKE 'bench-run-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let l = &run.latencies_us;
    println!(
        "  sent {n} in {:.2} s ({:.0}/s achieved); answered 200: {}; failed: {}; rows stored: {stored}",
        run.secs,
        n as f64 / run.secs,
        l.len(),
        run.failures
    );
    println!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        percentile(l, 0.50),
        percentile(l, 0.90),
        percentile(l, 0.99),
        percentile(l, 0.999),
        percentile(l, 1.0)
    );
    println!(
        "  inbox commits: {commits:.0} for {committed:.0} events ({:.2} events per commit, {:.3} ms per commit on average)",
        committed / commits,
        commit_secs * 1000.0 / commits
    );
    // Where the slow acknowledgements come from: the writer's commits, by duration.
    let slower = |le: &str| {
        let bucket = |t: &str| {
            metric(
                t,
                &format!("ecwid_sync_webhook_inbox_commit_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        commits - (bucket(&after) - bucket(&before))
    };
    println!(
        "  commits slower than 1.6 ms: {:.0}; than 6.4 ms: {:.0}; than 25.6 ms: {:.0}",
        slower("0.0016"),
        slower("0.0064"),
        slower("0.0256")
    );
    let p99 = percentile(l, 0.99);
    println!(
        "  target p99 < 5 ms: {}",
        if p99 < 5.0 { "met" } else { "NOT met" }
    );
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    assert_eq!(run.failures, 0, "some deliveries were not acknowledged");
    assert_eq!(stored as u64, n, "every acknowledged event is in the inbox");
}
