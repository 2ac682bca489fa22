//! The mirror file: migrations, version checks, and what readers see.

mod common;

use common::{mirrored, open, pass, schema_1_mirror};
use ecwid_sync::mirror::{self, MirrorError, SCHEMA_VERSION};

#[test]
fn a_new_mirror_is_created_at_the_current_schema_version_and_reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    drop(mirror::open_and_migrate(&path).unwrap());
    let conn = mirror::open_and_migrate(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    for table in [
        "products",
        "product_variations",
        "categories",
        "product_categories",
        "orders",
        "order_items",
        "customers",
        "sync_state",
        "stock_levels",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{table} missing");
    }
}

#[test]
fn a_mirror_from_a_newer_version_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);

    let err = mirror::open_and_migrate(&path).unwrap_err();
    assert!(matches!(err, MirrorError::TooNew { .. }));
    assert!(err.to_string().contains("upgrade ecwid-sync"), "{err}");
    let err = mirror::open_read_only(&path).unwrap_err();
    assert!(matches!(err, MirrorError::TooNew { .. }));
}

#[test]
fn status_on_a_missing_mirror_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = mirror::open_read_only(&dir.path().join("none.db")).unwrap_err();
    assert!(
        err.to_string().contains("has not been created yet"),
        "{err}"
    );
    assert!(!dir.path().join("none.db").exists());
}

#[test]
fn stock_levels_has_one_row_per_sellable_sku() {
    let dir = tempfile::tempdir().unwrap();
    let conn = mirror::open_and_migrate(&dir.path().join("m.db")).unwrap();
    // Written as the daemon writes (tools may not add rows).
    conn.execute_batch(
        "BEGIN; INSERT INTO capture_paused VALUES (0);
         INSERT INTO products (id, sku, name, quantity, unlimited, in_stock, raw_json, synced_at)
              VALUES (1, 'PLAIN', 'Plain', 5, 0, 1, '{}', 0),
                     (2, 'BASE', 'With variations', 0, 0, 1, '{}', 0),
                     (3, 'FREE', 'Unlimited', NULL, 1, 1, '{}', 0);
         INSERT INTO product_variations (id, product_id, sku, quantity, unlimited, raw_json, synced_at)
              VALUES (21, 2, 'BASE-S', 0, 0, '{}', 0), (22, 2, 'BASE-M', 4, 0, '{}', 0);
         DELETE FROM capture_paused; COMMIT;",
    )
    .unwrap();
    let mut rows: Vec<(String, Option<i64>, Option<i64>, i64)> = conn
        .prepare("SELECT sku, variation_id, quantity, in_stock FROM stock_levels ORDER BY sku")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("BASE-M".into(), Some(22), Some(4), 1),
            ("BASE-S".into(), Some(21), Some(0), 0),
            ("FREE".into(), None, None, 1),
            ("PLAIN".into(), None, Some(5), 1),
        ]
    );
}

/// Every table, index and view definition, in a stable order.
fn schema_of(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_mirror_of_schema_1_migrates_step_by_step_keeping_its_rows_and_matches_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    schema_1_mirror(
        &old,
        "INSERT INTO orders (order_number, id, raw_json, synced_at) VALUES (777000111, 'K8XTQ', '{}', 0);
         INSERT INTO order_items (order_number, line, sku) VALUES (777000111, 0, 'S');
         INSERT INTO sync_state (kind, cursor) VALUES ('orders', 1234);",
    );

    let migrated = mirror::open_and_migrate(&old).unwrap();
    let fresh = mirror::open_and_migrate(&dir.path().join("fresh.db")).unwrap();

    assert_eq!(schema_of(&migrated), schema_of(&fresh));
    let kept: (String, Option<i64>, i64, i64) = migrated
        .query_row(
            "SELECT o.id, i.combination_id, s.cursor, s.count_mismatches
               FROM orders o JOIN order_items i USING (order_number), sync_state s
              WHERE s.kind = 'orders'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(kept, ("K8XTQ".to_string(), None, 1234, 0));
}

#[test]
fn order_lines_mirrored_before_combination_id_get_it_from_their_order_document_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    schema_1_mirror(
        &old,
        r#"INSERT INTO orders (order_number, raw_json, synced_at)
                VALUES (1, '{"items":[{"sku":"A"},{"sku":"B","combinationId":55}]}', 0);
           INSERT INTO order_items (order_number, line, sku) VALUES (1, 0, 'A'), (1, 1, 'B');"#,
    );

    let migrated = mirror::open_and_migrate(&old).unwrap();

    let lines: Vec<Option<i64>> = migrated
        .prepare("SELECT combination_id FROM order_items ORDER BY line")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, vec![None, Some(55)]);
}

#[tokio::test]
async fn every_order_line_joins_the_stock_level_it_sold_from_also_after_storefront_sales() {
    let (store, _scratch, db, config) = mirrored(common::TestStore::small()).await;
    let state = store.state().await;
    for product in state["products"].as_array().unwrap().iter().take(12) {
        if product["unlimited"] == true || product["quantity"].as_i64() > Some(0) {
            store.sale(product["id"].as_i64().unwrap(), None, 1).await;
        }
    }
    pass(&config, false).await;

    let conn = open(&db);
    let lines: i64 = conn
        .query_row("SELECT count(*) FROM order_items", [], |r| r.get(0))
        .unwrap();
    let joined: i64 = conn
        .query_row(
            "SELECT count(*) FROM order_items i
               JOIN stock_levels s
                 ON s.product_id = i.product_id AND s.variation_id IS i.combination_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(lines > 0);
    assert_eq!(joined, lines, "each line joins exactly one stock level");
}
