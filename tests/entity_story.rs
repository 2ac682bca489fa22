//! The operator finds a product, variation or order by what they know of it, and sees its
//! whole story: its mirror row, its local changes with their batches, its conflicts and the
//! webhooks that named it (`mirror::entity`).

mod common;

use common::stock::*;
use common::*;
use ecwid_sync::commands::push_once;
use ecwid_sync::mirror::entity::{self, Found};
use ecwid_sync::mirror::fields::EntityType;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn found(conn: &rusqlite::Connection, query: &str) -> Vec<(EntityType, i64, &'static str)> {
    entity::find(conn, query)
        .unwrap()
        .into_iter()
        .map(|f: Found| (f.entity.kind, f.entity.key(), f.matched))
        .collect()
}

fn column(row: &[entity::Column], name: &str) -> Value {
    row.iter()
        .find(|c| c.column == name)
        .map(|c| c.value.clone())
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[tokio::test]
async fn a_product_found_by_id_or_sku_tells_its_row_variations_changes_batches_conflicts_and_events()
 {
    let (_store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let tool = open(&db);
    let picked = query(
        &tool,
        "SELECT p.id, p.sku, v.id, v.sku FROM products p JOIN product_variations v ON v.product_id = p.id
          WHERE p.sku IS NOT NULL AND json_extract(v.raw_json, '$.sku') IS NOT NULL
            AND v.quantity IS NOT NULL
          ORDER BY p.id, v.id LIMIT 1",
    );
    let product = picked[0][0].as_i64().unwrap();
    let product_sku = picked[0][1].as_str().unwrap().to_string();
    let variation = picked[0][2].as_i64().unwrap();
    let variation_sku = picked[0][3].as_str().unwrap().to_string();
    let variations = count(
        &db,
        &format!("SELECT count(*) FROM product_variations WHERE product_id = {product}"),
    );
    // A price change that reached Ecwid in a batch, then two still on their way.
    tool.execute("UPDATE products SET price = 12.5 WHERE id = ?1", [product])
        .unwrap();
    let pushed = push_once(&config, CancellationToken::new()).await.unwrap();
    assert_eq!(pushed.updated, 1, "{pushed:?}");
    tool.execute(
        "UPDATE products SET name = 'Renamed at the counter' WHERE id = ?1",
        [product],
    )
    .unwrap();
    tool_change(&db, (product, Some(variation)), 2);
    stage_weight_conflict(&db, product);
    let daemon = open_as_daemon(&db);
    daemon
        .execute(
            "INSERT INTO webhook_events (event_id, event_type, kind, entity_key, event_created,
                                         received_at, state, processed_at)
             VALUES ('ev-product', 'product.updated', 'products', ?1, 100, 101, 'applied', 102),
                    ('ev-other', 'product.updated', 'products', ?1 + 1, 100, 103, 'applied', 104)",
            [product],
        )
        .unwrap();

    assert_eq!(
        found(&tool, &product.to_string()),
        [(EntityType::Product, product, "product id")]
    );
    assert_eq!(
        found(&tool, &format!("  {}  ", product_sku.to_lowercase())),
        [(EntityType::Product, product, "SKU")],
        "a SKU in any case; a variation that only shows its product's SKU is not a match"
    );
    assert_eq!(
        found(&tool, &variation_sku.to_lowercase()),
        [(EntityType::Variation, variation, "SKU")]
    );
    assert_eq!(
        found(&tool, &variation.to_string()),
        [(EntityType::Variation, variation, "variation id")]
    );
    assert!(found(&tool, "no such thing").is_empty());

    let story = entity::story(&tool, &entity::product(product))
        .unwrap()
        .expect("the product has a story");

    assert!(
        story
            .label
            .starts_with(&format!("product {product} \"Renamed at the counter\""))
    );
    assert_eq!(column(&story.row, "name"), json!("Renamed at the counter"));
    assert_eq!(column(&story.row, "price"), json!(12.5));
    assert!(story.row.iter().all(|c| c.column != "raw_json"));
    assert_eq!(story.variations.len() as i64, variations);
    assert!(
        story
            .variations
            .iter()
            .any(|v| v.id == variation && v.own_sku)
    );
    let open: Vec<(&str, &str)> = story
        .open_changes
        .iter()
        .map(|c| (c.field.as_str(), c.state.as_str()))
        .collect();
    assert_eq!(
        open,
        [("name", "pending"), ("quantity", "pending")],
        "the product's own change and its variation's"
    );
    assert_eq!(story.settled_changes.len(), 1);
    let applied = &story.settled_changes[0];
    assert_eq!(
        (applied.field.as_str(), applied.state.as_str()),
        ("price", "applied")
    );
    let key = applied
        .batch_key
        .clone()
        .expect("the batch that carried it");
    assert_eq!(story.batches.len(), 1);
    assert_eq!(
        (&story.batches[0].key, &story.batches[0].changes),
        (&key, &vec![applied.id])
    );
    assert!(story.batches[0].first_sent.is_some());
    assert_eq!(
        story
            .conflicts
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        ["weight"]
    );
    assert_eq!(
        story
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["ev-product"]
    );

    let of_variation = entity::story(&tool, &entity::variation(product, variation))
        .unwrap()
        .unwrap();
    assert_eq!(
        of_variation
            .open_changes
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        ["quantity"],
        "only the variation's own"
    );
    assert!(of_variation.conflicts.is_empty());
    assert_eq!(of_variation.events.len(), 1, "its product's events name it");
    assert_eq!(column(&of_variation.row, "id"), json!(variation));
}

#[tokio::test]
async fn an_order_found_by_its_public_id_in_any_case_or_its_number_tells_its_items_and_events() {
    let (_store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let tool = open(&db);
    let picked = query(
        &tool,
        "SELECT order_number, id FROM orders
          WHERE id IS NOT NULL AND id <> CAST(order_number AS TEXT)
            AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_number = orders.order_number)
          ORDER BY order_number LIMIT 1",
    );
    let number = picked[0][0].as_i64().unwrap();
    let public_id = picked[0][1].as_str().unwrap().to_string();
    let items = count(
        &db,
        &format!("SELECT count(*) FROM order_items WHERE order_number = {number}"),
    );
    tool.execute(
        "UPDATE orders SET fulfillment_status = 'SHIPPED' WHERE order_number = ?1",
        [number],
    )
    .unwrap();
    // One event by the order's number, one naming it only by its public id (unfinished).
    open_as_daemon(&db)
        .execute(
            "INSERT INTO webhook_events (event_id, event_type, kind, entity_key, order_id,
                                         event_created, received_at, state)
             VALUES ('ev-created', 'order.created', 'orders', NULL, ?2, 100, 101, 'ignored'),
                    ('ev-updated', 'order.updated', 'orders', ?1, ?2, 100, 102, 'pending')",
            rusqlite::params![number, public_id],
        )
        .unwrap();

    let by_id = found(&tool, &public_id.to_lowercase());
    let by_number = found(&tool, &number.to_string());

    assert_eq!(by_id, [(EntityType::Order, number, "public id")]);
    assert!(
        by_number.contains(&(EntityType::Order, number, "order number")),
        "{by_number:?}"
    );
    let found_label = entity::find(&tool, &public_id).unwrap()[0].label.clone();
    assert!(
        found_label.starts_with(&format!("order {public_id} (number {number})")),
        "{found_label}"
    );
    let story = entity::story(&tool, &entity::order(number))
        .unwrap()
        .unwrap();
    assert_eq!(column(&story.row, "id"), json!(public_id));
    assert_eq!(column(&story.row, "fulfillment_status"), json!("SHIPPED"));
    assert_eq!(story.items.len() as i64, items);
    assert_eq!(column(&story.items[0], "line"), json!(0));
    assert_eq!(
        story
            .open_changes
            .iter()
            .map(|c| (c.field.as_str(), c.subject.order_id.as_deref()))
            .collect::<Vec<_>>(),
        [("fulfillment_status", Some(public_id.as_str()))]
    );
    assert_eq!(
        story
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["ev-updated", "ev-created"]
    );
    assert!(
        entity::story(&tool, &entity::order(number + 1_000_000))
            .unwrap()
            .is_none(),
        "nothing known of an order the mirror never held"
    );
    let json = serde_json::to_value(&story).unwrap();
    assert_eq!(json["entity"]["kind"], "order");
}
