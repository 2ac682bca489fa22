//! The daemon as systemd runs it, and the demo as a newcomer runs it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_daemon_pulls_on_schedule_follows_edits_and_stops_cleanly_on_sigterm() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "incremental_cron = \"* * * * * *\"");
    let mut daemon = spawn_ecwid_sync(&config, &["--log-format", "json", "run"], Stdio::piped());

    // The first start with an empty mirror pulls everything.
    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(&db, "SELECT count(*) FROM products") == 230
        })
        .await,
        "the first full pull did not fill the mirror"
    );
    let id = store.state().await["products"][0]["id"].as_i64().unwrap();
    store
        .admin_edit_product(id, json!({"name": "Edited while the daemon runs"}))
        .await;
    let sql = format!(
        "SELECT count(*) FROM products WHERE id = {id} AND name = 'Edited while the daemon runs'"
    );
    assert!(
        wait_until(Duration::from_secs(30), || async { count(&db, &sql) == 1 }).await,
        "the scheduled incremental pull did not bring the edit"
    );

    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
    assert_eq!(
        count_in_main_file_copy(&db, &sql),
        1,
        "after a clean exit mirror.db alone holds everything"
    );
    let mut logs = String::new();
    daemon
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    let summary = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "pull finished" && l["fields"]["kind"] == "products")
        .expect("a JSON summary line per run");
    assert!(summary["fields"]["requests"].is_number());
    assert!(
        !logs.contains("secret_test"),
        "the token leaked into the logs"
    );
}

#[tokio::test]
async fn the_daemon_starts_and_pulls_when_the_store_cannot_answer_its_token_check() {
    let store = TestStore::start(TestStore::small()).await;
    store
        .set_faults(json!({"error_503_rate": 1.0, "path_contains": "/profile"}))
        .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "");
    let mut daemon = spawn_ecwid_sync(&config, &["run"], Stdio::null());

    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(&db, "SELECT count(*) FROM products") == 230
        })
        .await,
        "only a refused token stops the start; the passes retry the rest"
    );
    assert_eq!(store.request_count("GET /profile").await, 1, "asked once");
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

#[tokio::test]
async fn the_demo_mirrors_an_emulated_store_and_says_what_to_look_at() {
    let scratch = Scratch::new();
    let db = scratch.path("demo.db");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args([
            "demo",
            "--once",
            "--products",
            "300",
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();

    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("select * from stock_levels limit 5"),
        "{stdout}"
    );
    let generating = stderr.find("generating an emulated store with 300 products");
    let running = stderr.find("the emulated store runs at");
    assert!(
        generating.is_some() && generating < running,
        "the wait for the store is announced first: {stderr}"
    );
    // --once stops the store on exit: nothing left to buy, nothing to stop.
    assert!(
        !stdout.contains("Ctrl-C") && !stdout.contains("customer"),
        "{stdout}"
    );
    // The suggested command runs as printed, from where the demo was started.
    let status_line = stdout
        .lines()
        .find(|l| l.contains(" status --mirror "))
        .expect("a status command is suggested");
    let status = tokio::process::Command::new("sh")
        .args(["-c", status_line.trim()])
        .output()
        .await
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{status_line}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("products"));
    assert_eq!(count(&db, "SELECT count(*) FROM products"), 300);
    assert!(count(&db, "SELECT count(*) FROM stock_levels") >= 300);
    assert!(count(&db, "SELECT count(*) FROM orders") > 0);
}

#[tokio::test]
async fn sigterm_in_the_middle_of_a_full_pull_commits_whole_pages_and_exits_zero() {
    let store = TestStore::start(ecwid_emulator::EmulatorConfig {
        products: 3000,
        ..TestStore::small()
    })
    .await;
    // Slow pages, so the pull is still running when the signal comes.
    store.set_faults(json!({"latency_ms": 40})).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "fetch_ahead = 1");
    let sync_products = ["sync", "--only", "products"];
    let mut sync = spawn_ecwid_sync(&config, &sync_products, Stdio::null());
    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(&db, "SELECT count(*) FROM products") >= 300
        })
        .await
    );

    assert_eq!(terminate(&mut sync).await.code(), Some(0));

    let rows = count(&db, "SELECT count(*) FROM products");
    assert!(
        rows < 3000,
        "the pull should have been interrupted, has {rows}"
    );
    assert_eq!(rows % 100, 0, "only whole pages are committed: {rows}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sync_state WHERE kind = 'products' AND last_full_finished IS NULL"
        ),
        1,
        "an interrupted full pull is not recorded as finished"
    );

    // The next run starts the full pull again and completes it.
    store.set_faults(json!({})).await;
    let status = spawn_ecwid_sync(&config, &sync_products, Stdio::null())
        .wait()
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(count(&db, "SELECT count(*) FROM products"), 3000);
}
