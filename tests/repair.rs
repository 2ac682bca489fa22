//! Full pulls repair a mirror that something wrote around ecwid-sync: rows that hold Ecwid's
//! document but disagree with it are written again, counted and logged, against the
//! emulator over real HTTP into real SQLite files.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use ecwid_sync::sync::Kind;
use rusqlite::config::DbConfig;
use serde_json::{Value, json};

/// Writes `sql` into the mirror as a careless tool could: on a connection with triggers
/// off, so nothing is refused and nothing is captured as a local change.
fn write_around_the_triggers(db: &Path, sql: &str) {
    let conn = open(db);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)
        .unwrap();
    conn.execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
        .expect("the tool's write");
}

async fn ecwid_sync(config: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run ecwid-sync")
}

async fn succeeds(config: &Path, args: &[&str]) -> String {
    let out = ecwid_sync(config, args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    stderr
}

/// The entities a test damages, each a different one, read off the store.
struct Victims {
    /// A product with tracked stock.
    stocked: i64,
    /// A variation of another product.
    variation: i64,
    /// Two more products with tracked stock.
    linked: i64,
    spare: i64,
    /// Two orders with items.
    order_with_items: i64,
    order: i64,
    category: i64,
    customer: i64,
}

fn victims(state: &Value) -> Victims {
    let products = state["products"].as_array().unwrap();
    let id = |p: &Value| p["id"].as_i64().unwrap();
    let stocked: Vec<i64> = products
        .iter()
        .filter(|p| p["quantity"].as_i64().is_some_and(|q| q > 3))
        .filter(|p| p["unlimited"].as_bool() != Some(true))
        .map(id)
        .take(3)
        .collect();
    let with_variations = products
        .iter()
        .find(|p| {
            p["combinations"].as_array().is_some_and(|c| !c.is_empty()) && !stocked.contains(&id(p))
        })
        .expect("a product with variations");
    let orders: Vec<i64> = listed_orders(state)
        .into_iter()
        .filter(|o| o["items"].as_array().is_some_and(|i| !i.is_empty()))
        .map(|o| {
            o["internalId"]
                .as_i64()
                .or(o["orderNumber"].as_i64())
                .unwrap()
        })
        .collect();
    Victims {
        stocked: stocked[0],
        variation: with_variations["combinations"][0]["id"].as_i64().unwrap(),
        linked: stocked[1],
        spare: stocked[2],
        order_with_items: orders[0],
        order: orders[1],
        category: state["categories"][0]["id"].as_i64().unwrap(),
        customer: state["customers"][0]["id"].as_i64().unwrap(),
    }
}

/// One damage per table a pull fills: a raised quantity and a changed name, a variation's
/// price, an extra category link, a missing order line, an order's total, a category's
/// name, a customer's email.
fn damage(db: &Path, v: &Victims) {
    write_around_the_triggers(
        db,
        &format!(
            "UPDATE products SET quantity = quantity + 100, name = 'Written around' WHERE id = {stocked};
             UPDATE product_variations SET price = coalesce(price, 0) + 1 WHERE id = {variation};
             INSERT INTO product_categories (product_id, category_id) VALUES ({linked}, 999999);
             DELETE FROM order_items WHERE order_number = {order_with_items} AND line = 0;
             UPDATE orders SET total = coalesce(total, 0) + 1 WHERE order_number = {order};
             UPDATE categories SET name = 'Written around' WHERE id = {category};
             UPDATE customers SET email = 'written@around.example' WHERE id = {customer}",
            stocked = v.stocked,
            variation = v.variation,
            linked = v.linked,
            order_with_items = v.order_with_items,
            order = v.order,
            category = v.category,
            customer = v.customer,
        ),
    );
}

#[tokio::test]
async fn sync_full_repairs_rows_a_tool_wrote_around_the_triggers_and_status_counts_them() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "");
    succeeds(&config, &["sync"]).await;
    let state = store.state().await;
    damage(&db, &victims(&state));
    assert!(mirror_differs_from_store(&open(&db), &state).is_some());

    // Nothing changed in the store, so an incremental pass has nothing to read again.
    succeeds(&config, &["sync"]).await;
    assert!(
        mirror_differs_from_store(&open(&db), &state).is_some(),
        "an incremental pass leaves the damage alone"
    );

    let log = succeeds(&config, &["sync", "--full"]).await;

    assert_mirror_equals_store(&open(&db), &store.state().await);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        0,
        "a repair is Ecwid's value, never a local change to push"
    );
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the full pull repaired rows"))
        .collect();
    assert_eq!(warnings.len(), 4, "one line per kind repaired: {log}");
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("kind=\"products\"") && l.contains("repaired=3")),
        "{log}"
    );
    let status: Value =
        serde_json::from_slice(&ecwid_sync(&config, &["status", "--json"]).await.stdout).unwrap();
    let repaired = |kind| status_kind(&status, kind)["rows_repaired"].clone();
    assert_eq!(repaired("products"), json!(3), "{status}");
    assert_eq!(repaired("orders"), json!(2));
    assert_eq!(repaired("categories"), json!(1));
    assert_eq!(repaired("customers"), json!(1));
    let text = String::from_utf8_lossy(&ecwid_sync(&config, &["status"]).await.stdout).into_owned();
    assert!(
        text.contains("products: 3 row(s) repaired by full pulls"),
        "{text}"
    );

    // Repaired for good: the next full pull finds nothing to repair.
    let log = succeeds(&config, &["sync", "--full"]).await;
    assert!(!log.contains("the full pull repaired rows"), "{log}");
    let status: Value =
        serde_json::from_slice(&ecwid_sync(&config, &["status", "--json"]).await.stdout).unwrap();
    assert_eq!(status_kind(&status, "products")["rows_repaired"], json!(3));
}

#[tokio::test]
async fn a_full_pull_keeps_open_local_changes_on_top_and_does_not_count_them_as_repairs() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let v = victims(&state);
    // A tool's changes the daemon has not pushed yet: captured, open in the outbox.
    open(&db)
        .execute_batch(&format!(
            "UPDATE products SET quantity = quantity - 2 WHERE id = {stocked};
             UPDATE products SET name = 'Local name' WHERE id = {linked};
             UPDATE product_variations SET price = 123.5 WHERE id = {variation};
             UPDATE orders SET tracking_number = 'LOCAL-1' WHERE order_number = {order}",
            stocked = v.stocked,
            linked = v.linked,
            variation = v.variation,
            order = v.order,
        ))
        .unwrap();
    let open_changes = count(&db, "SELECT count(*) FROM outbox WHERE state = 'pending'");
    assert_eq!(open_changes, 4);
    // And the bookkeeping damage of issue 18: a quantity raised and its outbox row gone.
    write_around_the_triggers(
        &db,
        &format!(
            "UPDATE products SET quantity = quantity + 100 WHERE id = {spare}",
            spare = v.spare
        ),
    );

    let summaries = pass(&config, true).await;

    assert_eq!(
        summary(&summaries, Kind::Products).repaired,
        1,
        "{summaries:?}"
    );
    assert_eq!(
        summary(&summaries, Kind::Orders).repaired,
        0,
        "{summaries:?}"
    );
    let product = |id: i64| {
        state["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
            .clone()
    };
    let conn = open(&db);
    let quantity = |id: i64| -> i64 {
        conn.query_row("SELECT quantity FROM products WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(
        quantity(v.stocked),
        product(v.stocked)["quantity"].as_i64().unwrap() - 2
    );
    assert_eq!(
        quantity(v.spare),
        product(v.spare)["quantity"].as_i64().unwrap(),
        "the change nothing recorded is gone"
    );
    let name: String = conn
        .query_row("SELECT name FROM products WHERE id = ?1", [v.linked], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(name, "Local name");
    let price: f64 = conn
        .query_row(
            "SELECT price FROM product_variations WHERE id = ?1",
            [v.variation],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(price, 123.5);
    let tracking: String = conn
        .query_row(
            "SELECT tracking_number FROM orders WHERE order_number = ?1",
            [v.order],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tracking, "LOCAL-1");
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state = 'pending'"),
        open_changes,
        "the open changes stay open, and nothing new was captured"
    );

    let again = pass(&config, true).await;
    assert!(again.iter().all(|s| s.repaired == 0), "{again:?}");
}

#[tokio::test]
async fn the_daemons_scheduled_full_pull_repairs_the_mirror_and_metrics_count_the_repairs() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let listen = free_local_addr();
    let config = db.with_extension("toml");
    std::fs::write(
        &config,
        webhook_config_text(
            &store,
            &db,
            listen,
            "incremental_cron = \"0 0 0 1 1 *\"\nfull_cron = \"*/2 * * * * *\"",
        ),
    )
    .unwrap();
    let mut daemon = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(first_pass_done(&db).await, "{}", log.text());
    let metrics = scrape_metrics(listen).await;
    assert_eq!(
        metrics["ecwid_sync_rows_repaired_total{kind=\"products\"}"], 0.0,
        "shown from the start"
    );
    let state = store.state().await;
    damage(&db, &victims(&state));

    let repaired = wait_until(Duration::from_secs(30), || async {
        let metrics = scrape_metrics(listen).await;
        [
            ("products", 3.0),
            ("orders", 2.0),
            ("categories", 1.0),
            ("customers", 1.0),
        ]
        .iter()
        .all(|(kind, n)| {
            metrics[&format!("ecwid_sync_rows_repaired_total{{kind=\"{kind}\"}}")] == *n
        })
    })
    .await;

    assert!(
        repaired,
        "{:?}\n{}",
        scrape_metrics(listen).await,
        log.text()
    );
    assert_mirror_equals_store(&open(&db), &store.state().await);
    assert!(log.contains("the full pull repaired rows"));
    terminate(&mut daemon).await;
}
