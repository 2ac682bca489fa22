//! Stock on both sides: what the store holds, what the mirror shows, and a tool's writes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::open;

/// Every tracked stock the store has: (product id, variation id) -> quantity; only
/// variations with their own SKU have stock of their own.
pub fn store_stock(state: &Value) -> BTreeMap<(i64, Option<i64>), i64> {
    let mut stock = BTreeMap::new();
    for p in state["products"].as_array().unwrap() {
        let pid = p["id"].as_i64().unwrap();
        if p["unlimited"] != true
            && let Some(q) = p["quantity"].as_i64()
        {
            stock.insert((pid, None), q);
        }
        for c in p["combinations"].as_array().cloned().unwrap_or_default() {
            if c["sku"].is_string()
                && c["unlimited"] != true
                && let Some(q) = c["quantity"].as_i64()
            {
                stock.insert((pid, c["id"].as_i64()), q);
            }
        }
    }
    stock
}

pub fn tool_change(db: &Path, entity: (i64, Option<i64>), delta: i64) {
    let conn = open(db);
    match entity {
        (pid, None) => conn.execute(
            "UPDATE products SET quantity = quantity + ?2 WHERE id = ?1",
            [pid, delta],
        ),
        (_, Some(vid)) => conn.execute(
            "UPDATE product_variations SET quantity = quantity + ?2 WHERE id = ?1",
            [vid, delta],
        ),
    }
    .expect("the tool's write");
}

pub fn mirror_stock(db: &Path, entity: (i64, Option<i64>)) -> Option<i64> {
    let conn = open(db);
    match entity {
        (pid, None) => conn.query_row("SELECT quantity FROM products WHERE id = ?1", [pid], |r| {
            r.get(0)
        }),
        (_, Some(vid)) => conn.query_row(
            "SELECT quantity FROM product_variations WHERE id = ?1",
            [vid],
            |r| r.get(0),
        ),
    }
    .unwrap()
}

/// Whether a storefront sale of `product` naming no variation moves the product's own
/// quantity: it has no variations, or its variations have no stock of their own. (A product
/// with options sells as one of its variations.)
pub fn sold_from_own_stock(product: &Value) -> bool {
    product["combinations"]
        .as_array()
        .and_then(|variations| variations.first())
        .is_none_or(|first| first.get("sku").is_none())
}

/// Whether a storefront sale of `entity` (its variation, or none named for a product's own
/// stock) takes from that entity's stock.
pub fn sold_by_storefront(state: &Value, entity: (i64, Option<i64>)) -> bool {
    entity.1.is_some()
        || state["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == entity.0)
            .is_some_and(sold_from_own_stock)
}
