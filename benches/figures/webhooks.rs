//! Rows 4, 5 and 10a: the webhook receiver's acknowledgement under load, a storefront sale
//! reaching the mirror, and what a burst of events costs in reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecwid_emulator::{EmulatorConfig, RateLimit};
use serde_json::{Value, json};

use crate::Knobs;
use crate::common::{TestStore, count, wait_until};
use crate::daemon::Daemon;
use crate::report::{Row, Target, median, number, percentile, runs};

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signed deliveries of distinct `product.updated` events for `store` (its id and app
/// secret), made before the clock starts.
pub fn deliveries(n: u64, store: (u64, &str), tag: &str) -> Vec<(String, String)> {
    let (store_id, secret) = store;
    let created = unix_now();
    (0..n)
        .map(|i| {
            let id = format!("bench-{tag}-{i}");
            let body = json!({
                "eventId": id, "eventType": "product.updated", "eventCreated": created,
                "storeId": store_id, "entityId": 1 + i % 5000,
            });
            (
                body.to_string(),
                ecwid_emulator::signature(secret, created, &id),
            )
        })
        .collect()
}

/// Sends `deliveries` at `rate` a second, each on its own task (an open loop: a slow answer
/// does not hold back the next request); each one's latency in ms, and the failures.
pub async fn send_at_rate(
    url: &str,
    deliveries: Vec<(String, String)>,
    rate: u64,
) -> (Vec<f64>, usize) {
    let http = reqwest::Client::new();
    let results = Arc::new(Mutex::new((Vec::with_capacity(deliveries.len()), 0usize)));
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
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
            let took = sent.elapsed().as_secs_f64() * 1000.0;
            let mut r = results.lock().unwrap();
            match answer {
                Ok(a) if a.status() == 200 => r.0.push(took),
                _ => r.1 += 1,
            }
        });
    }
    tasks.join_all().await;
    let (mut latencies, failures) = std::mem::take(&mut *results.lock().unwrap());
    latencies.sort_by(f64::total_cmp);
    (latencies, failures)
}

/// Row 4a/4b: signed events at 1,000 a second into the real receiver and a real mirror.
pub async fn acknowledge(knobs: Knobs) -> Vec<Row> {
    let rate = 1000;
    let secs = knobs.size(10, 2) as u64;
    let store = TestStore::start(EmulatorConfig {
        products: 200,
        orders: 20,
        customers: 10,
        categories: 5,
        rate_limit: None,
        ..EmulatorConfig::default()
    })
    .await;
    let daemon = Daemon::start(&store, "").await;
    let secret = (store.config.store_id, store.config.client_secret.as_str());
    // Warm-up: connections, the writer's statements, the page cache.
    let (_, failed) = send_at_rate(
        &daemon.webhook_url(),
        deliveries(rate, secret, "warm"),
        rate,
    )
    .await;
    assert_eq!(failed, 0, "warm-up deliveries failed");
    let (mut p50s, mut p99s, mut sent) = (Vec::new(), Vec::new(), 0u64);
    for run in 0..knobs.runs() {
        let n = rate * secs;
        let (latencies, failed) = send_at_rate(
            &daemon.webhook_url(),
            deliveries(n, secret, &format!("run{run}")),
            rate,
        )
        .await;
        assert_eq!(failed, 0, "every delivery acknowledged");
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        eprintln!(
            "   {n} events at {rate}/s: p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms",
            percentile(&latencies, 1.0)
        );
        p50s.push(p50);
        p99s.push(p99);
        sent += n;
    }
    let stored = count(
        &daemon.setup.db,
        "SELECT count(*) FROM webhook_events WHERE event_id LIKE 'bench-run%'",
    );
    daemon.stop().await;
    assert_eq!(
        stored as u64, sent,
        "every acknowledged event is in the inbox"
    );
    let what = "webhook acknowledgement at 1,000 requests/s";
    let detail = |v: &[f64]| {
        format!(
            "median of {} runs of {secs} s, from sending to the status line over loopback, every event stored; {}",
            v.len(),
            runs(v)
        )
    };
    let (p50, p99) = (median(p50s.clone()), median(p99s.clone()));
    vec![
        Row::new("4a", format!("{what}: p50"), p50, format!("{p50:.2} ms")).detail(detail(&p50s)),
        Row::new("4b", format!("{what}: p99"), p99, format!("{p99:.2} ms"))
            .target(Target::Below(5.0))
            .detail(detail(&p99s)),
    ]
}

pub struct Sale {
    pub product: i64,
    /// The stock the mirror shows once the sale is applied.
    pub expected: i64,
    pub at: Instant,
    pub seen: Option<f64>,
}

/// Notes, every 5 ms, the sales whose stock the mirror shows.
pub fn watch(db: PathBuf, sales: Arc<Mutex<Vec<Sale>>>, stop: Arc<AtomicBool>) {
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
                sale.seen = Some((now - sale.at).as_secs_f64() * 1000.0);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Products with tracked stock the storefront can sell, with their quantity.
pub fn stocked(state: &Value) -> Vec<(i64, i64)> {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["unlimited"].as_bool().unwrap_or(false))
        .filter_map(|p| Some((p["id"].as_i64()?, p["quantity"].as_i64()?)))
        .filter(|(_, q)| *q >= 2)
        .collect()
}

/// Sells `n` of `products` (id, quantity) at `rate` a second in `store`, one unit each, and
/// waits until the mirror at `db` shows each; the milliseconds each took, sorted.
pub async fn sale_latencies(
    store: &TestStore,
    db: &Path,
    products: &mut impl Iterator<Item = (i64, i64)>,
    rate: u64,
    n: usize,
) -> Vec<f64> {
    let sales = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (db, sales, stop) = (db.to_path_buf(), sales.clone(), stop.clone());
        std::thread::spawn(move || watch(db, sales, stop))
    };
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for (product, quantity) in products.take(n) {
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
    let all_seen = wait_until(Duration::from_secs(60), || async {
        sales.lock().unwrap().iter().all(|s| s.seen.is_some())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(all_seen, "every sale reaches the mirror");
    let mut latencies: Vec<f64> = sales
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| s.seen)
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// Row 4c/4d: storefront sales at 10 a second, from the sale until `stock_levels` shows it,
/// through Ecwid's webhooks, the receiver and the delta worker, under Ecwid's rate limit and
/// the default budget.
pub async fn sales(knobs: Knobs) -> Vec<Row> {
    let rate = 10u64;
    let secs = knobs.size(10, 3) as u64;
    let per_run = (rate * secs) as usize;
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
    let daemon = Daemon::start(&store, "").await;
    store
        .set_webhooks(json!({ "url": daemon.webhook_url() }))
        .await;
    let mut products = stocked(&store.state().await).into_iter();
    assert!(
        products.len() >= per_run * knobs.runs(),
        "enough stocked products"
    );
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for _ in 0..knobs.runs() {
        let latencies =
            sale_latencies(&store, &daemon.setup.db, &mut products, rate, per_run).await;
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        eprintln!("   {per_run} sales at {rate}/s: p50 {p50:.0} ms, p99 {p99:.0} ms");
        p50s.push(p50);
        p99s.push(p99);
    }
    daemon.stop().await;
    let what = "storefront sale -> mirror at 10 sales/s";
    let detail = |v: &[f64]| {
        format!(
            "median of {} runs of {per_run} sales, each of another product, seen in stock_levels (read every 5 ms); rate limit 600/min, default budget and read interval; {}",
            v.len(),
            runs(v)
        )
    };
    let (p50, p99) = (median(p50s.clone()), median(p99s.clone()));
    vec![
        Row::new(
            "4c",
            format!("{what}: p50"),
            p50 / 1000.0,
            format!("{:.2} s", p50 / 1000.0),
        )
        .target(Target::Below(1.0))
        .detail(detail(&p50s)),
        Row::new(
            "4d",
            format!("{what}: p99"),
            p99 / 1000.0,
            format!("{:.2} s", p99 / 1000.0),
        )
        .target(Target::Below(2.0))
        .detail(detail(&p99s)),
    ]
}

/// Rows 5 and 10a: 1,000 admin edits of 1,000 products, their webhooks applied by the
/// daemon; the product reads that took, against one read per event.
pub async fn burst(knobs: Knobs) -> Vec<Row> {
    let events = 1000usize;
    let store = TestStore::start(EmulatorConfig {
        products: 1200,
        variations_per_product: 0,
        orders: 10,
        customers: 5,
        rate_limit: None,
        ..TestStore::small()
    })
    .await;
    // No scheduled pull during the measurement: the figure is the webhooks' cost alone.
    let daemon = Daemon::start(&store, "incremental_cron = \"0 0 3 * * *\"").await;
    store
        .set_webhooks(json!({ "url": daemon.webhook_url() }))
        .await;
    let ids: Vec<i64> = store.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    let mut reads = Vec::new();
    for run in 0..knobs.runs() {
        let applied = applied_events(&daemon.setup.db);
        store.reset_stats().await;
        let started = Instant::now();
        for (n, &id) in ids[100..100 + events].iter().enumerate() {
            store
                .admin_edit_product(id, json!({"name": format!("Burst {run} edit {n}")}))
                .await;
        }
        let done = wait_until(Duration::from_secs(120), || async {
            applied_events(&daemon.setup.db) >= applied + events as i64
                && count(
                    &daemon.setup.db,
                    "SELECT count(*) FROM webhook_events WHERE state = 'pending'",
                ) == 0
        })
        .await;
        assert!(done, "every event applied");
        let stats = store.stats().await;
        let product_reads = ["GET /products", "GET /products/{id}"]
            .iter()
            .map(|r| stats["requests"][r].as_u64().unwrap_or(0))
            .sum::<u64>();
        eprintln!(
            "   {events} events over {events} products in {:.1} s: {product_reads} product requests ({} in all)",
            started.elapsed().as_secs_f64(),
            stats["requests_total"]
        );
        reads.push(product_reads as f64);
    }
    daemon.stop().await;
    let ours = median(reads.clone());
    let ratio = events as f64 / ours;
    vec![
        Row::new("5", "webhook burst, 1,000 events over 1,000 products: product requests", ours, number(ours))
            .target(Target::AtMost(15.0))
            .detail(format!(
                "median of {} runs; the admin edits each product once and Ecwid's webhooks reach the real receiver; {}",
                reads.len(),
                runs(&reads)
            )),
        Row::new("10a", "per-record baseline for row 5: 1,000 requests / ours", ratio, format!("{ratio:.0} x"))
            .target(Target::AtLeast(events as f64 / 15.0))
            .detail("one read per event, as a tool that fetches each changed record would make"),
    ]
}

fn applied_events(db: &Path) -> i64 {
    count(
        db,
        "SELECT count(*) FROM webhook_events WHERE state = 'applied'",
    )
}
