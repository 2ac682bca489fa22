//! Throttling (429 Too Many Requests) is the store saying "later": waited out as told, with a
//! growing wait while it goes on, and a failure only after `ecwid.max_throttled_secs`.

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
async fn a_storm_of_short_throttling_answers_is_waited_out_and_the_pass_succeeds() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    // The default retry count, so the storm outlasts it; a 1 s ceiling on the wait keeps
    // the storm to ten seconds (the growing wait has a test of its own).
    let config = write_config_with(
        &store,
        &db,
        "max_retries = 8\nmax_retry_after_secs = 1\nmax_throttled_secs = 60",
    );
    store.set_faults(json!({"storm_429_requests": 10})).await;

    let out = sync_with_log(&config).await;

    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let stats = store.stats().await;
    assert_eq!(stats["status"]["429"], 10, "{stats}");
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
    assert!(ended[0].contains("answers=10"), "{log}");
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
async fn a_store_that_keeps_throttling_is_asked_less_and_less_often() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let client = Client::new(&config(&store, &scratch.path("unused.db")).ecwid).unwrap();
    store.set_faults(json!({"storm_429_requests": 2})).await;
    let started = Instant::now();

    client.get_bytes("/latest-stats", &[]).await.unwrap();

    // Retry-After says 1 s both times; the second wait doubles the first.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(client.counters().throttled, 2);
    assert_eq!(client.counters().retries, 0, "429s use no retries");
    assert_eq!(store.stats().await["early_requests"], 0);
}
