//! Throttling (429 Too Many Requests) is the store saying "later": waited out as told (what
//! `Retry-After` says, not more), and a failure only after `ecwid.max_throttled_secs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ecwid_sync::ecwid::Client;
use serde_json::json;

/// A config file for `store` whose `[ecwid]` table also holds `ecwid_extra`.
fn write_config_with(store: &TestStore, db: &Path, ecwid_extra: &str) -> PathBuf {
    let path = db.with_extension("toml");
    let text = config_text(store, db, &store.config.token, "")
        .replace("max_retries = 12\n", &format!("{ecwid_extra}\n"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn sync_with_log(config: &Path) -> Output {
    let child = spawn_ecwid_sync(config, &["--log-level", "info", "sync"], Stdio::piped());
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("sync ends within 60 s")
        .expect("sync output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_storm_of_fifteen_one_second_throttling_answers_costs_what_ecwid_asked_and_the_pass_succeeds()
 {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    // The default limits: the storm outlasts the retries, and the longest wait is 60 s.
    let config = write_config_with(&store, &db, "max_retries = 8");
    store.set_faults(json!({"storm_429_requests": 15})).await;
    let started = Instant::now();

    let out = sync_with_log(&config).await;

    let took = started.elapsed();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    // Ecwid asked for 15 s in all; doubling waits would have taken ten minutes.
    assert!(took >= Duration::from_secs(15), "{took:?}");
    assert!(took <= Duration::from_secs(30), "{took:?}\n{log}");
    let stats = store.stats().await;
    assert_eq!(stats["status"]["429"], 15, "{stats}");
    assert_eq!(stats["early_requests"], 0, "{stats}");
    assert_mirror_equals_store(&open(&db), &store.state().await);
    // Operators see the throttling start and end, not every 429.
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("throttling"), "{log}");
    let ended: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("stopped throttling"))
        .collect();
    assert_eq!(ended.len(), 1, "{log}");
    assert!(ended[0].contains("answers=15"), "{log}");
}

#[tokio::test]
async fn a_sale_announced_by_webhook_during_a_storm_reaches_the_mirror_soon_after_the_storm() {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = WebhookDaemon::start(&store).await;
    let state = store.state().await;
    let (product, quantity) = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["unlimited"] != true && p["quantity"].as_i64().unwrap_or(0) > 5)
        .filter(|p| stock::sold_from_own_stock(p))
        .map(|p| (p["id"].as_i64().unwrap(), p["quantity"].as_i64().unwrap()))
        .next()
        .expect("a stocked product");
    store.reset_stats().await;
    store.set_faults(json!({"storm_429_requests": 15})).await;

    store.sale(product, None, 2).await;

    let storm_over = wait_until(Duration::from_secs(60), || async {
        store.stats().await["status"]["429"] == 15
    })
    .await;
    assert!(
        storm_over,
        "the storm's answers are all given: {}",
        daemon.log.text()
    );
    let storm_ended = Instant::now();
    let in_mirror = || {
        open(&daemon.db)
            .query_row(
                "SELECT quantity FROM products WHERE id = ?1",
                [product],
                |r| r.get::<_, Option<i64>>(0),
            )
            .unwrap()
    };
    let arrived = wait_until(Duration::from_secs(30), || async {
        in_mirror() == Some(quantity - 2)
    })
    .await;
    assert!(
        arrived,
        "the sale reaches the mirror within 30 s of the storm's end (after {:?}): {}",
        storm_ended.elapsed(),
        daemon.log.text()
    );
    assert_eq!(store.stats().await["early_requests"], 0);
}

#[tokio::test]
async fn a_storm_longer_than_max_throttled_secs_fails_the_pass_with_exit_1_naming_the_bound() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config_with(
        &store,
        &db,
        "max_retry_after_secs = 1\nmax_throttled_secs = 3",
    );
    store.set_faults(json!({"storm_429_requests": 1000})).await;
    let started = Instant::now();

    let out = sync_with_log(&config).await;

    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let error: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("ecwid-sync:"))
        .collect();
    assert_eq!(error.len(), 1, "{log}");
    for needle in ["429", "ecwid.max_throttled_secs (3 s)", "next pass"] {
        assert!(error[0].contains(needle), "{needle:?} not in {}", error[0]);
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{log}");
    let stats = store.stats().await;
    let throttled = stats["status"]["429"].as_u64().unwrap_or(0);
    // One answer a second for the 3 s allowed, then nothing more.
    assert!((3..=5).contains(&throttled), "{stats}");
    assert_eq!(stats["requests_total"], throttled, "{stats}");
    assert_eq!(stats["early_requests"], 0, "{stats}");
}

#[tokio::test]
async fn two_throttling_answers_cost_the_two_seconds_their_retry_after_asked_for() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let client = Client::new(&config(&store, &scratch.path("unused.db")).ecwid).unwrap();
    store.set_faults(json!({"storm_429_requests": 2})).await;
    let started = Instant::now();

    client.get_bytes("/latest-stats", &[]).await.unwrap();

    // Retry-After says 1 s both times: each wait is that plus a jitter of at most 0.1 s,
    // where it used to double.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_millis(2_800), "{took:?}");
    assert_eq!(client.counters().throttled, 2);
    assert_eq!(client.counters().retries, 0, "429s use no retries");
    assert_eq!(store.stats().await["early_requests"], 0);
}

#[tokio::test]
async fn callers_waiting_out_a_storm_together_send_one_request_at_a_time_until_it_ends() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let client = Client::new(&config(&store, &scratch.path("unused.db")).ecwid).unwrap();
    store.set_faults(json!({"storm_429_requests": 5})).await;
    let read = |client: Client| async move { client.get_bytes("/latest-stats", &[]).await };
    let first = tokio::spawn(read(client.clone()));
    let throttled = wait_until(Duration::from_secs(5), || async {
        store.stats().await["status"]["429"] == 1
    })
    .await;
    assert!(throttled);

    // Seven more callers join while the first waits; released together, they would all
    // reach the store inside the cool-down the next answer announces.
    let others: Vec<_> = (0..7).map(|_| tokio::spawn(read(client.clone()))).collect();
    for task in std::iter::once(first).chain(others) {
        task.await
            .unwrap()
            .expect("every read succeeds once the storm is over");
    }

    let stats = store.stats().await;
    assert_eq!(stats["status"]["429"], 5, "{stats}");
    assert_eq!(stats["early_requests"], 0, "{stats}");
}
