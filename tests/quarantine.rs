//! Entities whose document from Ecwid does not fit the model: their mirror rows keep the last
//! copy that did, every pass reads them again by id, and every pass reports them (exit code,
//! `sync_state.last_error`, `status`, one warning in the log) until they read again.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::stock::sold_from_own_stock;
use common::*;
use ecwid_sync::commands::sync_once;
use ecwid_sync::config::Config;
use ecwid_sync::ecwid::model::parse_date;
use ecwid_sync::errors::error_chain;
use ecwid_sync::mirror::unix_now;
use ecwid_sync::sync::Kind;
use ecwid_sync::sync::progress::ProgressMode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One pass over every kind, its error as the one line `sync` would print.
async fn try_pass(config: &Config, kinds: &[Kind]) -> Result<(), String> {
    sync_once(
        config,
        kinds,
        false,
        ProgressMode::Log,
        CancellationToken::new(),
    )
    .await
    .map(|_| ())
    .map_err(|e| error_chain(&e))
}

/// Waits until the store's last change of `field` (a `latest-stats` date) lies behind its
/// clock, so that a pass may remember it as pulled (the tests' overlap and search lag are 0).
async fn wait_until_quiet(store: &TestStore, field: &str) {
    let stats = store.api_get("/latest-stats").await;
    let changed = parse_date(stats[field].as_str().expect(field)).expect("a date");
    assert!(
        wait_until(Duration::from_secs(5), || async { unix_now() > changed }).await,
        "the store's clock passes its last change"
    );
}

fn product(state: &Value, id: i64) -> &Value {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .expect("the product is in the store")
}

fn mirror_quantity(db: &Path, id: i64) -> Option<i64> {
    open(db)
        .query_row("SELECT quantity FROM products WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}

fn product_rows(db: &Path, id: i64) -> i64 {
    open(db)
        .query_row("SELECT count(*) FROM products WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}

fn last_error(db: &Path, kind: &str) -> Option<String> {
    open(db)
        .query_row(
            "SELECT last_error FROM sync_state WHERE kind = ?1",
            [kind],
            |r| r.get(0),
        )
        .unwrap()
}

/// The mirror's quarantine of `kind`, as (key, error).
fn quarantined(db: &Path, kind: &str) -> Vec<(i64, String)> {
    let conn = open(db);
    let mut stmt = conn
        .prepare("SELECT key, error FROM quarantine WHERE kind = ?1 ORDER BY key")
        .unwrap();
    stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn run_binary(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run ecwid-sync")
}

/// A tracked product with stock for three sales of one, whose variations have no stock of
/// their own: what the storefront sells of it moves the product's own quantity.
fn product_with_stock(state: &Value) -> i64 {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            !p["unlimited"].as_bool().unwrap_or(false)
                && p["quantity"].as_i64() >= Some(3)
                && sold_from_own_stock(p)
        })
        .expect("a tracked product with stock")["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_product_that_does_not_fit_the_model_fails_every_pass_until_it_reads_again() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let id = product_with_stock(&store.state().await);
    let mirrored_stock = mirror_quantity(&db, id);
    store
        .admin_edit_product_unchecked(id, json!({"sku": 5}))
        .await;
    for _ in 0..3 {
        store.sale(id, None, 1).await;
    }
    let store_stock = product(&store.state().await, id)["quantity"].as_i64();
    assert_ne!(store_stock, mirrored_stock, "the store moved on");

    let message = try_pass(&config, &config.sync.kinds)
        .await
        .expect_err("the pass that reads the product reports it");
    assert!(message.contains("field `sku`"), "{message}");
    assert_eq!(mirror_quantity(&db, id), mirrored_stock);

    // The store goes quiet: the first pass after that remembers latest-stats as pulled, and
    // the one after it has nothing to list. Both still report the product.
    wait_until_quiet(&store, "productsUpdated").await;
    for _ in 0..2 {
        store.reset_stats().await;
        let message = try_pass(&config, &config.sync.kinds)
            .await
            .expect_err("a pass with a quarantined product fails");
        assert!(message.contains(&format!("the first, {id}")), "{message}");
        assert!(message.contains("field `sku`"), "{message}");
        let error = last_error(&db, "products").expect("last_error stays set");
        assert!(
            error.contains("products: 1 in quarantine") && error.contains(&id.to_string()),
            "{error}"
        );
        assert!(error.contains("field `sku`"), "{error}");
        assert_eq!(mirror_quantity(&db, id), mirrored_stock);
        let rows = quarantined(&db, "products");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, id);
        assert_eq!(
            rows[0].1, "field `sku`: invalid type: integer `5`, expected a string",
            "the error names the field and its problem, nothing that changes with the document"
        );
    }
    // The last pass listed nothing (latest-stats said so), and read the product by id once.
    assert_eq!(store.request_count("GET /products").await, 1);

    // The binary: exit 1 naming the field, one warning for the pass, and `status`.
    let config_path = write_config(&store, &db, "");
    let config_arg = config_path.to_str().unwrap();
    let out = run_binary(&["--config", config_arg, "sync"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error_line = stderr
        .lines()
        .find(|l| l.starts_with("ecwid-sync:"))
        .unwrap_or_else(|| panic!("an error line in {stderr}"));
    assert!(error_line.contains("field `sku`"), "{error_line}");
    let warnings = stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("products"))
        .count();
    assert_eq!(warnings, 1, "one warning per pass: {stderr}");

    let db_arg = db.to_str().unwrap();
    let out = run_binary(&["status", "--json", "--mirror", db_arg]).await;
    assert_eq!(out.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let products = status_kind(&status, "products");
    assert_eq!(products["quarantine"]["count"], 1, "{products}");
    assert_eq!(products["quarantine"]["first"][0]["key"], id, "{products}");
    let shown = products["quarantine"]["first"][0]["error"]
        .as_str()
        .unwrap();
    assert!(shown.contains("field `sku`"), "{shown}");
    let out = run_binary(&["status", "--mirror", db_arg]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quarantined"), "{text}");
    assert!(text.contains(&id.to_string()), "{text}");
    assert!(text.contains("field `sku`"), "{text}");

    // Fixed in the store: the next pass reads it, and everything clears.
    store
        .admin_edit_product_unchecked(id, json!({"sku": "FIXED-1"}))
        .await;
    try_pass(&config, &config.sync.kinds)
        .await
        .expect("the product reads again");
    assert_eq!(quarantined(&db, "products"), vec![]);
    assert_eq!(last_error(&db, "products"), None);
    let state = store.state().await;
    assert_eq!(
        mirror_quantity(&db, id),
        product(&state, id)["quantity"].as_i64()
    );
    assert_products_equal_store(&open(&db), &state);
}

#[tokio::test]
async fn a_quarantined_product_that_ecwid_deletes_leaves_the_mirror_and_the_quarantine() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let id = product_with_stock(&store.state().await);
    store
        .admin_edit_product_unchecked(id, json!({"weight": "heavy"}))
        .await;
    try_pass(&config, &[Kind::Products])
        .await
        .expect_err("the product does not fit");
    assert_eq!(quarantined(&db, "products").len(), 1);

    store.admin_delete_product(id).await;
    try_pass(&config, &[Kind::Products])
        .await
        .expect("nothing left to report");

    assert_eq!(quarantined(&db, "products"), vec![]);
    assert_eq!(product_rows(&db, id), 0);
    assert_eq!(last_error(&db, "products"), None);
}

#[tokio::test]
async fn an_order_that_does_not_fit_the_model_is_quarantined_by_its_internal_id() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let order = listed_orders(&store.state().await)[4].clone();
    let internal = order["internalId"].as_i64().unwrap();
    let public = order["id"].as_str().unwrap().to_string();
    store
        .admin_edit_order_unchecked(&public, json!({"total": "a lot"}))
        .await;

    for _ in 0..2 {
        let message = try_pass(&config, &[Kind::Orders])
            .await
            .expect_err("the order does not fit");
        assert!(message.contains("field `total`"), "{message}");
        let rows = quarantined(&db, "orders");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, internal);
    }

    store
        .admin_edit_order_unchecked(&public, json!({"total": 12.5}))
        .await;
    try_pass(&config, &[Kind::Orders])
        .await
        .expect("the order reads again");
    assert_eq!(quarantined(&db, "orders"), vec![]);
    assert_eq!(last_error(&db, "orders"), None);
    let total: f64 = open(&db)
        .query_row(
            "SELECT total FROM orders WHERE order_number = ?1",
            [internal],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(total, 12.5);
}
