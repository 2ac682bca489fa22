//! Full and incremental pulls against the emulator, over real HTTP into a real SQLite file.

mod common;

use common::*;
use ecwid_emulator::{EmulatorConfig, RateLimit};
use ecwid_sync::sync::{Kind, Mode};
use serde_json::json;

#[tokio::test]
async fn a_full_pull_makes_the_mirror_equal_the_store() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config(&store, &db);

    let summaries = pass(&config, false).await;

    assert!(summaries.iter().all(|s| s.mode == Mode::Full));
    assert_eq!(summary(&summaries, Kind::Products).items, 230);
    let state = store.state().await;
    assert!(
        !expected_variations(&state).is_empty(),
        "the store has variations"
    );
    assert!(
        !expected_order_items(&state).is_empty(),
        "the store has order items"
    );
    assert_mirror_equals_store(&open(&db), &state);
}

#[tokio::test]
async fn raw_json_holds_the_whole_document_ecwid_sent() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;

    let state = store.state().await;
    let conn = open(&db);
    let product = &state["products"][3];
    let raw: String = conn
        .query_row(
            "SELECT raw_json FROM products WHERE id = ?1",
            [product["id"].as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&raw).unwrap(),
        *product
    );
}

#[tokio::test]
async fn an_incremental_pull_converges_after_edits_sales_and_deletions_in_a_handful_of_requests() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;

    let state = store.state().await;
    let products = state["products"].as_array().unwrap();
    let with_variations = products
        .iter()
        .find(|p| {
            p["combinations"]
                .as_array()
                .is_some_and(|c| c.iter().any(|v| v["quantity"].is_number()))
        })
        .expect("a product with stocked variations");
    let variation = with_variations["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["quantity"].is_number())
        .unwrap();
    let plain = products
        .iter()
        .find(|p| p["quantity"].as_i64().is_some_and(|q| q > 3))
        .expect("a product with tracked stock");
    let to_delete = products.last().unwrap()["id"].as_i64().unwrap();
    let order_number = common::listed_orders(&state)[0]["orderNumber"]
        .as_i64()
        .unwrap();

    store
        .admin_edit_product(
            plain["id"].as_i64().unwrap(),
            json!({"price": 1234.5, "name": "Renamed in the admin"}),
        )
        .await;
    store
        .sale(
            with_variations["id"].as_i64().unwrap(),
            variation["id"].as_i64(),
            1,
        )
        .await;
    store.sale(plain["id"].as_i64().unwrap(), None, 2).await;
    store.admin_delete_product(to_delete).await;
    store
        .admin_edit_order(
            order_number,
            json!({"fulfillmentStatus": "SHIPPED", "trackingNumber": "TRK-1"}),
        )
        .await;
    store.reset_stats().await;

    let summaries = pass(&config, false).await;

    assert!(summaries.iter().all(|s| s.mode == Mode::Incremental));
    let stats = store.stats().await;
    let total = stats["requests_total"].as_u64().unwrap();
    // latest-stats, then per kind one search page (+ one deletion page): a handful, not a
    // re-listing of 230 products.
    assert!(
        total <= 10,
        "incremental pass used {total} requests: {stats}"
    );
    assert_eq!(stats["requests"]["GET /latest-stats"], 1);
    assert_mirror_equals_store(&open(&db), &store.state().await);
}

#[tokio::test]
async fn an_incremental_pass_with_nothing_changed_asks_only_latest_stats() {
    let (store, _scratch, _db, config) = mirrored(TestStore::small()).await;
    store.reset_stats().await;

    let summaries = pass(&config, false).await;

    assert_eq!(summaries.len(), 4);
    assert!(summaries.iter().all(|s| s.skipped), "{summaries:?}");
    let stats = store.stats().await;
    assert_eq!(stats["requests_total"], 1, "{stats}");
    assert_eq!(stats["requests"]["GET /latest-stats"], 1);
}

#[tokio::test]
async fn a_restart_resumes_from_the_stored_cursor_instead_of_pulling_everything() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let cursor: i64 = open(&db)
        .query_row(
            "SELECT cursor FROM sync_state WHERE kind = 'products'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(cursor > 0);

    let state = store.state().await;
    let id = state["products"][10]["id"].as_i64().unwrap();
    store
        .admin_edit_product(id, json!({"sku": "RESUMED-1"}))
        .await;
    store.reset_stats().await;

    // A new process: new client, new writer, the same file.
    let summaries = pass(&config(&store, &db), false).await;

    let products = summary(&summaries, Kind::Products);
    assert_eq!(products.mode, Mode::Incremental);
    // The edited product, plus at most the one at the cursor itself (the bound is
    // inclusive, and re-reading it is harmless).
    assert!(products.items <= 2, "{products:?}");
    assert!(store.request_count("GET /products").await <= 2);
    let sku: String = open(&db)
        .query_row("SELECT sku FROM products WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(sku, "RESUMED-1");
}

#[tokio::test]
async fn a_full_pull_converges_through_errors_throttling_and_dropped_connections() {
    let store = TestStore::start(TestStore::small()).await;
    store
        .set_faults(json!({
            "seed": 11,
            "error_500_rate": 0.15,
            "error_503_rate": 0.1,
            "drop_before_apply_rate": 0.1,
            "storm_429_requests": 4
        }))
        .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let mut config = config(&store, &db);
    // Waits of the store's 1 s, not growing ones (tests/throttle.rs covers those).
    config.ecwid.max_retry_after = std::time::Duration::from_secs(1);

    pass(&config, false).await;

    let stats = store.stats().await;
    assert!(stats["status"]["429"].as_u64().unwrap_or(0) >= 4, "{stats}");
    assert!(stats["status"]["500"].as_u64().unwrap_or(0) > 0, "{stats}");
    store.set_faults(json!({})).await;
    assert_mirror_equals_store(&open(&db), &store.state().await);
}

#[tokio::test]
async fn the_normal_budget_never_earns_a_429() {
    // The emulator's real-store limit and the daemon's default budget.
    let store = TestStore::start(EmulatorConfig {
        products: 1500,
        orders: 300,
        rate_limit: Some(RateLimit {
            per_minute: 600,
            burst: 100,
        }),
        ..TestStore::small()
    })
    .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let mut config = config(&store, &db);
    config.ecwid.requests_per_minute = 500;
    config.ecwid.burst = 10;
    // Ask for more than the emulator's burst, as fast as the budget lets.
    config.sync.fetch_ahead = 8;

    pass(&config, true).await;
    pass(&config, true).await;

    let stats = store.stats().await;
    assert!(stats["requests_total"].as_u64().unwrap() > 40, "{stats}");
    assert_eq!(stats["status"]["429"].as_u64().unwrap_or(0), 0, "{stats}");
}

#[tokio::test]
async fn a_full_pull_removes_what_the_store_deleted_and_keeps_the_rest() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let gone = state["products"][5]["id"].as_i64().unwrap();
    store.admin_delete_product(gone).await;

    let summaries = pass(&config, true).await;

    assert_eq!(summary(&summaries, Kind::Products).removed, 1);
    let left: i64 = open(&db)
        .query_row("SELECT count(*) FROM products WHERE id = ?1", [gone], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left, 0);
    assert_mirror_equals_store(&open(&db), &store.state().await);
}

#[tokio::test]
async fn an_older_document_never_overwrites_a_newer_one() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let id = state["products"][0]["id"].as_i64().unwrap();
    // The mirror already holds a copy stamped far in the future.
    write_as_daemon(
        &db,
        &format!(
            "UPDATE products SET updated_at = updated_at + 1000000, name = 'newer' WHERE id = {id}"
        ),
    );

    pass(&config(&store, &db), true).await;

    let name: String = open(&db)
        .query_row("SELECT name FROM products WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(name, "newer");
}

#[tokio::test]
async fn a_deletion_during_the_first_full_pull_does_not_hide_the_product_behind_it() {
    let store = TestStore::start(EmulatorConfig {
        products: 3000,
        orders: 0,
        customers: 0,
        ..TestStore::small()
    })
    .await;
    // Slow pages, read one at a time, so the deletion lands mid-listing.
    store.set_faults(json!({"latency_ms": 40})).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let mut config = config(&store, &db);
    config.sync.kinds = vec![Kind::Products];
    config.sync.fetch_ahead = 1;
    let first_id = store.state().await["products"][0]["id"].as_i64().unwrap();

    let pull = tokio::spawn(async move { pass(&config, false).await });
    assert!(
        wait_until(std::time::Duration::from_secs(30), || async {
            open(&db)
                .query_row("SELECT count(*) FROM products", [], |r| r.get::<_, i64>(0))
                .unwrap_or(0)
                >= 500
        })
        .await
    );
    // Already read; removing it shifts every later product one place forward.
    store.admin_delete_product(first_id).await;
    pull.await.unwrap();

    store.set_faults(json!({})).await;
    assert_products_equal_store(&open(&db), &store.state().await);
}

#[tokio::test]
async fn a_document_that_does_not_fit_the_model_is_reported_and_does_not_block_the_rest() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let odd = state["products"][1]["id"].as_i64().unwrap();
    let fine = state["products"][2]["id"].as_i64().unwrap();
    let old_price: f64 = open(&db)
        .query_row("SELECT price FROM products WHERE id = ?1", [odd], |r| {
            r.get(0)
        })
        .unwrap();
    // A field of a type the model does not expect, next to an ordinary edit.
    store
        .admin_edit_product_unchecked(odd, json!({"weight": "heavy", "price": 77.5}))
        .await;
    store
        .admin_edit_product(fine, json!({"name": "Still synced"}))
        .await;

    for full in [false, true] {
        let err = ecwid_sync::commands::sync_once(
            &config,
            &config.sync.kinds,
            full,
            ecwid_sync::sync::progress::ProgressMode::Log,
            Default::default(),
        )
        .await
        .unwrap_err();

        let message = ecwid_sync::errors::error_chain(&err);
        assert!(message.contains(&format!("the first, {odd}")), "{message}");
        let conn = open(&db);
        let (price, name): (f64, String) = conn
            .query_row(
                "SELECT p.price, q.name FROM products p, products q WHERE p.id = ?1 AND q.id = ?2",
                [odd, fine],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the unreadable product keeps its previous copy, even after a full pull");
        assert_eq!(price, old_price);
        assert_eq!(name, "Still synced");
        let error: String = conn
            .query_row(
                "SELECT last_error FROM sync_state WHERE kind = 'products'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(error.contains(&odd.to_string()), "{error}");
        // The other kinds were pulled all the same.
        let orders_error: Option<String> = conn
            .query_row(
                "SELECT last_error FROM sync_state WHERE kind = 'orders'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orders_error, None);
    }
}

#[tokio::test]
async fn a_renamed_category_arrives_with_an_incremental_pass_that_is_not_counted_as_full() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let last_full = |db: &std::path::Path| -> i64 {
        open(db)
            .query_row(
                "SELECT last_full_finished FROM sync_state WHERE kind = 'categories'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    // A sentinel no real run writes, so a bump cannot hide within the same second.
    open_as_daemon(&db)
        .execute(
            "UPDATE sync_state SET last_full_finished = 1 WHERE kind = 'categories'",
            [],
        )
        .unwrap();
    let category = store.state().await["categories"][0]["id"].as_i64().unwrap();
    // An edit through the API, as another app of the store would make it.
    let answer = reqwest::Client::new()
        .put(format!(
            "{}/{}/categories/{category}",
            store.emulator.api_base(),
            store.config.store_id
        ))
        .bearer_auth(&store.config.token)
        .json(&json!({"name": "Renamed elsewhere"}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());

    let summaries = pass(&config, false).await;

    let categories = summary(&summaries, Kind::Categories);
    assert_eq!(categories.mode, Mode::Incremental);
    assert!(!categories.skipped);
    assert_eq!(last_full(&db), 1);
    let name: String = open(&db)
        .query_row(
            "SELECT name FROM categories WHERE id = ?1",
            [category],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "Renamed elsewhere");
}

/// Makes the mirror count every row inserted, updated or deleted in the tables a pull fills:
/// triggers live in the file, so they fire for the daemon's own connection too.
/// Watches which pages of the mirrored tables the passes after it write. The daemon's
/// connections run with triggers off, so no trigger can count its writes; instead this
/// empties the write-ahead log, then holds a read transaction, so that no checkpoint can
/// move what the passes append out of the log, and reads the log's frames.
struct RowWrites {
    db: std::path::PathBuf,
    _reader: rusqlite::Connection,
}

fn count_row_writes(db: &std::path::Path) -> RowWrites {
    let reader = open(db);
    // A writer that was just dropped may still be closing: empty the log once it has.
    let emptied = (0..200).any(|_| {
        let (busy, frames): (i64, i64) = reader
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let done = busy == 0 && frames <= 0;
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        done
    });
    assert!(emptied, "the write-ahead log could not be emptied");
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM sync_state;")
        .unwrap();
    RowWrites {
        db: db.to_path_buf(),
        _reader: reader,
    }
}

impl RowWrites {
    /// Pages of the mirrored tables and their indexes that the log holds.
    fn pages(&self) -> i64 {
        let mut wal_path = self.db.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = std::fs::read(wal_path).unwrap_or_default();
        if wal.len() < 32 {
            return 0;
        }
        let word = |at: usize| u32::from_be_bytes(wal[at..at + 4].try_into().unwrap());
        let page_size = word(8) as usize;
        let mut pages = Vec::new();
        let mut at = 32;
        // Frames of the log's current generation carry its salts.
        while at + 24 + page_size <= wal.len() && wal[at + 8..at + 16] == wal[16..24] {
            pages.push(word(at).to_string());
            at += 24 + page_size;
        }
        if pages.is_empty() {
            return 0;
        }
        let tables = "'products', 'product_variations', 'product_categories', 'categories',
                      'orders', 'order_items', 'customers'";
        count(
            &self.db,
            &format!(
                "SELECT count(*) FROM dbstat
                  WHERE pageno IN ({})
                    AND name IN (SELECT name FROM sqlite_master WHERE tbl_name IN ({tables}))",
                pages.join(", ")
            ),
        )
    }
}

#[tokio::test]
async fn documents_read_again_unchanged_rewrite_no_row_and_written_counts_only_real_changes() {
    let (store, _scratch, db, mut config) = mirrored(TestStore::small()).await;
    // Changes within the search lag are read again by every pass until they settle, as on a
    // busy store: the second pass below reads the same documents as the first.
    config.sync.search_lag = std::time::Duration::from_secs(600);
    let state = store.state().await;
    let products = state["products"].as_array().unwrap();
    let edited: Vec<i64> = products[..20]
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    for id in &edited {
        store
            .admin_edit_product(*id, json!({"name": format!("Renamed {id}")}))
            .await;
    }
    let sold = products[20..]
        .iter()
        .find(|p| p["quantity"].as_i64().is_some_and(|q| q > 3))
        .expect("a product with tracked stock")["id"]
        .as_i64()
        .unwrap();
    store.sale(sold, None, 1).await;
    let first = pass(&config, false).await;
    assert!(summary(&first, Kind::Products).written >= 20, "{first:?}");
    assert_mirror_equals_store(&open(&db), &store.state().await);

    let writes = count_row_writes(&db);
    let second = pass(&config, false).await;

    for kind in [Kind::Products, Kind::Orders] {
        let run = summary(&second, kind);
        assert_eq!(run.mode, Mode::Incremental);
        assert!(!run.skipped && run.items > 0, "read again: {run:?}");
        assert_eq!(run.written, 0, "nothing changed: {run:?}");
    }
    assert!(summary(&second, Kind::Products).items >= 21);
    assert_eq!(writes.pages(), 0, "no row, parent or child, was rewritten");

    // A real change is written, and only it.
    store
        .admin_edit_product(edited[0], json!({"name": "Renamed once more"}))
        .await;
    let third = pass(&config, false).await;
    assert_eq!(summary(&third, Kind::Products).written, 1, "{third:?}");
    assert_eq!(summary(&third, Kind::Orders).written, 0, "{third:?}");
    assert!(writes.pages() > 0);
    drop(writes);
    assert_mirror_equals_store(&open(&db), &store.state().await);

    // A full pull over a mirror that is already equal to the store writes nothing either.
    let writes = count_row_writes(&db);
    let full = pass(&config, true).await;
    for run in &full {
        assert_eq!(run.mode, Mode::Full);
        assert_eq!(run.written, 0, "{run:?}");
    }
    assert_eq!(writes.pages(), 0);
}

/// Moves a listed order back to an unfinished checkout in the admin, runs a pass (`full` or
/// incremental), then finishes the order again and runs another. After each pass the
/// mirror's orders and their items equal the store's finished ones.
async fn an_order_moved_to_incomplete_and_back(full: bool) {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let order = listed_orders(&state)[3];
    let (key, id) = (
        order["internalId"].as_i64().unwrap(),
        order["id"].as_str().unwrap().to_string(),
    );
    assert!(!order["items"].as_array().unwrap().is_empty());
    let in_mirror = |db: &std::path::Path| {
        count(
            db,
            &format!("SELECT count(*) FROM orders WHERE order_number = {key}"),
        )
    };
    assert_eq!(in_mirror(&db), 1);

    store
        .admin_edit_order(&id, json!({"paymentStatus": "INCOMPLETE"}))
        .await;
    store.reset_stats().await;
    let summaries = pass(&config, full).await;

    let orders = summary(&summaries, Kind::Orders);
    assert_eq!(
        orders.mode,
        if full { Mode::Full } else { Mode::Incremental }
    );
    assert_eq!(in_mirror(&db), 0, "an unfinished order is not mirrored");
    assert_eq!(orders.removed, 1, "{orders:?}");
    assert_mirror_equals_store(&open(&db), &store.state().await);
    if !full {
        // The window's listing, and one search for orders that became unfinished in it.
        assert_eq!(store.request_count("GET /orders").await, 2);
    }

    store
        .admin_edit_order(&id, json!({"paymentStatus": "PAID"}))
        .await;
    pass(&config, full).await;

    assert_eq!(in_mirror(&db), 1, "finished again, the order is back");
    assert_mirror_equals_store(&open(&db), &store.state().await);
}

#[tokio::test]
async fn an_order_moved_back_to_incomplete_leaves_the_mirror_in_an_incremental_pass() {
    an_order_moved_to_incomplete_and_back(false).await;
}

#[tokio::test]
async fn an_order_moved_back_to_incomplete_leaves_the_mirror_in_a_full_pass() {
    an_order_moved_to_incomplete_and_back(true).await;
}

#[tokio::test]
async fn an_unfinished_order_document_older_than_the_mirrors_copy_removes_nothing() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let order = listed_orders(&state)[0];
    let key = order["internalId"].as_i64().unwrap();
    // The mirror already holds a copy stamped far in the future.
    write_as_daemon(
        &db,
        &format!(
            "UPDATE orders SET updated_at = updated_at + 1000000000 WHERE order_number = {key}"
        ),
    );
    store
        .admin_edit_order(
            order["id"].as_str().unwrap(),
            json!({"paymentStatus": "INCOMPLETE"}),
        )
        .await;

    pass(&config, true).await;

    let kept = count(
        &db,
        &format!("SELECT count(*) FROM orders WHERE order_number = {key}"),
    );
    assert_eq!(kept, 1);
}
