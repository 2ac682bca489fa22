//! Two-way stock, the mirror's side: a tool's stock writes are captured as deltas in the
//! outbox, the daemon's own writes never are, and a change waiting to reach Ecwid stays on
//! top of the store's quantity through pulls and webhook deltas.

mod common;

use std::path::Path;
use std::time::Duration;

use common::stock::sold_from_own_stock;
use common::*;
use ecwid_sync::config::Config;
use serde_json::{Value, json};

/// A tracked-stock product that storefront sales take from, and its quantity in the store.
fn stocked_product(state: &Value, skip: usize) -> (i64, i64) {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["unlimited"] != true
                && p["quantity"].as_i64().unwrap_or(0) > 5
                && sold_from_own_stock(p)
        })
        .map(|p| (p["id"].as_i64().unwrap(), p["quantity"].as_i64().unwrap()))
        .nth(skip)
        .expect("a stocked product")
}

/// A tracked-stock variation with its own SKU: (product id, variation id, quantity).
fn stocked_variation(state: &Value) -> (i64, i64, i64) {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let pid = p["id"].as_i64().unwrap();
            p["combinations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |c| (pid, c))
        })
        .find(|(_, c)| {
            c["sku"].is_string()
                && c["unlimited"] != true
                && c["quantity"].as_i64().unwrap_or(0) > 5
        })
        .map(|(pid, c)| {
            (
                pid,
                c["id"].as_i64().unwrap(),
                c["quantity"].as_i64().unwrap(),
            )
        })
        .expect("a stocked variation")
}

/// What a tool runs: its own connection, plain SQL.
fn tool(db: &Path, sql: &str, id: i64) -> Result<usize, rusqlite::Error> {
    open(db).execute(sql, [id])
}

fn outbox(db: &Path) -> Vec<Value> {
    query(
        &open(db),
        "SELECT entity, product_id, variation_id, delta, base, state FROM outbox ORDER BY id",
    )
}

fn mirror_quantity(db: &Path, table: &str, id: i64) -> Option<i64> {
    open(db)
        .query_row(
            &format!("SELECT quantity FROM {table} WHERE id = ?1"),
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

/// The delta worker applies one `product.updated` event for `product`.
async fn apply_product_webhook(config: &Config, db: &Path, product: i64) {
    let deltas = Deltas::start(config);
    deltas.receive(db, &[Webhook::new("product.updated", product)]);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            events_in(db, "pending") == 0
        })
        .await
    );
    deltas.stop().await;
}

#[tokio::test]
async fn a_tools_absolute_and_relative_stock_writes_are_captured_as_deltas_over_ecwids_value() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let (product, quantity) = stocked_product(&state, 0);
    let (parent, variation, variation_quantity) = stocked_variation(&state);

    let relative = "UPDATE products SET quantity = quantity - 1 WHERE id = ?1";
    tool(&db, relative, product).unwrap();
    tool(&db, relative, product).unwrap();
    tool(
        &db,
        "UPDATE products SET quantity = 50 WHERE id = ?1",
        product,
    )
    .unwrap();
    tool(
        &db,
        "UPDATE product_variations SET quantity = quantity + 4 WHERE id = ?1",
        variation,
    )
    .unwrap();
    // Writing the value a row already has changes nothing, and is no change to push.
    tool(
        &db,
        "UPDATE products SET quantity = 50 WHERE id = ?1",
        product,
    )
    .unwrap();

    assert_eq!(
        outbox(&db),
        vec![
            json!(["product", product, null, -1, quantity, "pending"]),
            json!(["product", product, null, -1, quantity, "pending"]),
            json!([
                "product",
                product,
                null,
                50 - (quantity - 2),
                quantity,
                "pending"
            ]),
            json!([
                "variation",
                parent,
                variation,
                4,
                variation_quantity,
                "pending"
            ]),
        ]
    );
    assert_eq!(mirror_quantity(&db, "products", product), Some(50));
}

#[tokio::test]
async fn the_daemons_pulls_and_webhook_deltas_never_appear_in_the_outbox() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let (product, quantity) = stocked_product(&state, 0);
    let (sold, _) = stocked_product(&state, 1);
    let (parent, variation, _) = stocked_variation(&state);

    // The store's stock changes; a pass brings the new quantities into the mirror.
    store
        .admin_edit_product(product, json!({"quantity": quantity + 7}))
        .await;
    store.sale(sold, None, 2).await;
    store.sale(parent, Some(variation), 1).await;
    pass(&config, false).await;
    assert_eq!(
        mirror_quantity(&db, "products", product),
        Some(quantity + 7)
    );

    // And a webhook delta does the same.
    store
        .admin_edit_product(product, json!({"quantity": quantity + 9}))
        .await;
    apply_product_webhook(&config, &db, product).await;
    assert_eq!(
        mirror_quantity(&db, "products", product),
        Some(quantity + 9)
    );

    assert_eq!(outbox(&db), Vec::<Value>::new(), "nothing captured");
    assert_eq!(count(&db, "SELECT count(*) FROM capture_paused"), 0);
}

#[tokio::test]
async fn quantity_writes_that_ecwid_could_not_take_are_refused_with_a_clear_message() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let unlimited = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["unlimited"] == true)
        .expect("an unlimited product")["id"]
        .as_i64()
        .unwrap();
    let (product, _) = stocked_product(&state, 0);

    let err = tool(
        &db,
        "UPDATE products SET quantity = 5 WHERE id = ?1",
        unlimited,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("unlimited stock") && err.contains("cannot be changed"),
        "{err}"
    );
    let err = tool(
        &db,
        "UPDATE products SET quantity = 2.5 WHERE id = ?1",
        product,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("must be a whole number"), "{err}");
    let err = tool(
        &db,
        "UPDATE products SET quantity = NULL WHERE id = ?1",
        product,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("must be a whole number"), "{err}");

    assert_eq!(outbox(&db), Vec::<Value>::new());
    assert_eq!(
        count(
            &db,
            &format!("SELECT quantity IS NULL FROM products WHERE id = {unlimited}")
        ),
        1
    );
}

#[tokio::test]
async fn a_pending_stock_change_stays_on_top_of_the_stores_quantity_through_pulls_and_sales() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let (product, quantity) = stocked_product(&state, 0);
    let (parent, variation, variation_quantity) = stocked_variation(&state);

    // The tool sets the stock it counted; the storefront sells meanwhile.
    tool(
        &db,
        &format!(
            "UPDATE products SET quantity = {} WHERE id = ?1",
            quantity + 5
        ),
        product,
    )
    .unwrap();
    tool(
        &db,
        "UPDATE product_variations SET quantity = quantity - 3 WHERE id = ?1",
        variation,
    )
    .unwrap();
    store.sale(product, None, 2).await;
    store.sale(parent, Some(variation), 1).await;
    pass(&config, false).await;

    assert_eq!(
        mirror_quantity(&db, "products", product),
        Some(quantity - 2 + 5),
        "the store's value after the sale, plus the pending change"
    );
    assert_eq!(
        mirror_quantity(&db, "product_variations", variation),
        Some(variation_quantity - 1 - 3)
    );

    // A webhook delta keeps it on top too.
    store.sale(product, None, 1).await;
    apply_product_webhook(&config, &db, product).await;
    assert_eq!(
        mirror_quantity(&db, "products", product),
        Some(quantity - 3 + 5)
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state = 'pending'"),
        2,
        "the daemon's writes added nothing"
    );
}

/// The query schema/README.md gives for the units on hand, counting each unit once.
const UNITS_ON_HAND: &str = "
SELECT sum(quantity) FROM (
    SELECT quantity FROM stock_levels WHERE shares_product_stock = 0
    UNION ALL
    SELECT p.quantity FROM products p
     WHERE p.unlimited = 0
       AND EXISTS (SELECT 1 FROM product_variations v WHERE v.product_id = p.id)
)";

#[tokio::test]
async fn the_documented_sum_of_stock_levels_equals_the_stores_own_total_of_tracked_units() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let store_total: i64 = common::stock::store_stock(&state).values().sum();
    let sharing: i64 = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["combinations"].as_array().cloned().unwrap_or_default())
        .filter(|c| !c["sku"].is_string())
        .count() as i64;
    assert!(
        sharing > 0,
        "the store has variations without a SKU of their own"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM stock_levels WHERE shares_product_stock = 1"
        ),
        sharing,
        "every variation without its own SKU, and no other row, is marked"
    );
    assert_eq!(count(&db, UNITS_ON_HAND), store_total);
    // Summed naively, the rows count shared stock once per variation that shows it.
    assert!(
        count(
            &db,
            "SELECT sum(quantity) FROM stock_levels WHERE shares_product_stock = 1"
        ) > count(
            &db,
            "SELECT sum(quantity) FROM products
              WHERE id IN (SELECT product_id FROM stock_levels WHERE shares_product_stock = 1)"
        )
    );
}
