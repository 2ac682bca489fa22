//! Full pulls resume after an interruption instead of starting again from the first page.

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use ecwid_emulator::EmulatorConfig;
use serde_json::json;

const PRODUCTS: i64 = 2000;

async fn sync(config: &std::path::Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .arg("sync")
        .output()
        .await
        .expect("run ecwid-sync")
}

/// A first full pull of a store killed (as by a crash or a power cut) once it has committed
/// at least half of the products. Pages are slowed down so that the kill lands mid-way.
async fn interrupted_first_full_pull() -> (TestStore, Scratch, PathBuf, PathBuf, i64) {
    let store = TestStore::start(EmulatorConfig {
        products: PRODUCTS as usize,
        variations_per_product: 0,
        ..TestStore::small()
    })
    .await;
    store
        .set_faults(json!({"latency_ms": 60, "path_contains": "/products"}))
        .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "fetch_ahead = 1");
    let mut first = spawn_ecwid_sync(&config, &["sync"], Stdio::null());
    assert!(
        wait_until(Duration::from_secs(60), || async {
            count(&db, "SELECT count(*) FROM products") >= PRODUCTS / 2
        })
        .await
    );
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let committed = count(&db, "SELECT count(*) FROM products");
    assert!(
        committed < PRODUCTS,
        "the kill came too late to test anything"
    );
    store.set_faults(json!({})).await;
    store.reset_stats().await;
    (store, scratch, db, config, committed)
}

#[tokio::test]
async fn a_killed_first_full_pull_resumes_at_the_page_after_the_last_one_committed() {
    let (store, _scratch, db, config, committed) = interrupted_first_full_pull().await;
    // While it was down: one product it had already listed is deleted, another edited.
    let listed: Vec<i64> = query(&open(&db), "SELECT id FROM products ORDER BY id LIMIT 2")
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    store.admin_delete_product(listed[0]).await;
    store
        .admin_edit_product(
            listed[1],
            json!({"name": "Edited while ecwid-sync was down"}),
        )
        .await;

    let out = sync(&config).await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("resuming the interrupted full pull"), "{log}");

    // The pages left and one before them (the deletion shifted the listing back), one
    // search for what changed meanwhile, one lookup of rows the listing did not return;
    // starting over would list all 20 pages again.
    let pages_left = (PRODUCTS - committed) as u64 / 100 + 1;
    let product_requests = store.request_count("GET /products").await;
    assert!(
        product_requests <= pages_left + 3,
        "{product_requests} product requests for {pages_left} pages left"
    );
    let conn = open(&db);
    assert_products_equal_store(&conn, &store.state().await);
    assert_eq!(
        count(&db, "SELECT count(*) FROM full_pull_progress")
            + count(&db, "SELECT count(*) FROM full_pull_pages"),
        0,
        "a finished full pull leaves no progress behind"
    );
}

#[tokio::test]
async fn an_interrupted_full_pull_older_than_a_day_starts_over() {
    let (store, _scratch, db, config, _) = interrupted_first_full_pull().await;
    open_as_daemon(&db)
        .execute_batch("UPDATE full_pull_progress SET started_at = started_at - 2 * 86400")
        .unwrap();

    let out = sync(&config).await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("starting over"), "{log}");
    assert!(store.request_count("GET /products").await >= PRODUCTS as u64 / 100);
    assert_products_equal_store(&open(&db), &store.state().await);
}
