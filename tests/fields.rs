//! Two-way fields: prices, names and order status written in the mirror reach the store, a
//! field changed on both sides is settled by its policy or held for the operator, and every
//! other write to a mirrored table is refused with the column's name.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use ecwid_sync::commands::push_once;
use ecwid_sync::config::Config;
use ecwid_sync::sync::push::fields::Policy;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn product(state: &Value, id: i64) -> &Value {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
}

fn mirror_value(db: &Path, sql: &str, id: i64) -> Value {
    let conn = open(db);
    conn.query_row(sql, [id], |r| {
        Ok(ecwid_sync::mirror::fields::to_json(r.get(0)?))
    })
    .unwrap()
}

fn mirror_price(db: &Path, id: i64) -> Value {
    mirror_value(db, "SELECT price FROM products WHERE id = ?1", id)
}

fn unix_now() -> i64 {
    ecwid_sync::mirror::unix_now()
}

/// Ecwid's update time of a product, as the store reports it.
async fn store_updated(store: &TestStore, id: i64) -> i64 {
    product(&store.state().await, id)["updateTimestamp"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_local_change_of_a_field_ecwid_left_alone_is_pushed_and_a_remote_change_is_pulled() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let (a, b) = (
        state["products"][0]["id"].as_i64().unwrap(),
        state["products"][1]["id"].as_i64().unwrap(),
    );
    tool(&db, &format!("UPDATE products SET name = 'Renamed at the counter', price = 19.5, enabled = 0 WHERE id = {a}")).unwrap();
    // Several writes of one field make one change, the last value.
    tool(
        &db,
        &format!("UPDATE products SET weight = 1 WHERE id = {a}"),
    )
    .unwrap();
    tool(
        &db,
        &format!("UPDATE products SET weight = 2.5 WHERE id = {a}"),
    )
    .unwrap();
    // A variation's own price, and a change written back to where it was: nothing to send.
    let (parent, variation) = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| {
            let c = p["combinations"].as_array()?.first()?;
            Some((p["id"].as_i64()?, c["id"].as_i64()?))
        })
        .unwrap();
    tool(
        &db,
        &format!("UPDATE product_variations SET price = 42.5 WHERE id = {variation}"),
    )
    .unwrap();
    let c = state["products"][2]["id"].as_i64().unwrap();
    let name = mirror_value(&db, "SELECT name FROM products WHERE id = ?1", c);
    tool(
        &db,
        &format!("UPDATE products SET name = 'Draft' WHERE id = {c}"),
    )
    .unwrap();
    tool(
        &db,
        &format!("UPDATE products SET name = {name} WHERE id = {c}"),
    )
    .unwrap();
    store.admin_edit_product(b, json!({"price": 77.25})).await;
    store.reset_stats().await;

    let summary = push(&config).await;

    assert_eq!((summary.updated, summary.conflicts), (2, 0));
    let after = store.state().await;
    let combination = product(&after, parent)["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == variation)
        .cloned()
        .unwrap();
    assert_eq!(combination["price"], json!(42.5));
    assert_eq!(
        product(&after, c)["name"],
        name,
        "the change and its undo sent nothing"
    );
    let after = store.state().await;
    let p = product(&after, a);
    assert_eq!(
        (&p["name"], &p["price"], &p["enabled"], &p["weight"]),
        (
            &json!("Renamed at the counter"),
            &json!(19.5),
            &json!(false),
            &json!(2.5)
        )
    );
    let stats = store.stats().await;
    assert_eq!(stats["requests"]["POST /batch"], 1, "{stats}");
    let puts = query(
        &open(&db),
        &format!(
            "SELECT field, state FROM outbox WHERE entity = 'product' AND product_id = {a} ORDER BY id"
        ),
    );
    assert_eq!(
        puts,
        vec![
            json!(["price", "applied"]),
            json!(["name", "applied"]),
            json!(["enabled", "applied"]),
            json!(["weight", "applied"]),
            json!(["weight", "applied"]),
        ]
    );
    assert_eq!(mirror_price(&db, a), json!(19.5));

    // Ecwid's change to a field nobody touched here is simply pulled, and never captured.
    pass(&config, false).await;
    assert_eq!(mirror_price(&db, b), json!(77.25));
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 8);
    assert_eq!(count(&db, "SELECT count(*) FROM conflicts"), 0);
}

/// A price changed to 11 in the mirror and to 12 in Ecwid, from 10, settled by `policy`;
/// `local_later` makes the local change the newer one.
async fn price_conflict(
    policy: Policy,
    local_later: bool,
) -> (TestStore, Scratch, std::path::PathBuf, Config, i64) {
    let (store, scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.conflicts.price = policy;
    let id = store.state().await["products"][3]["id"].as_i64().unwrap();
    store.admin_edit_product(id, json!({"price": 10.0})).await;
    pass(&config, false).await;
    assert_eq!(mirror_price(&db, id), json!(10.0));
    if local_later {
        store.admin_edit_product(id, json!({"price": 12.0})).await;
        let remote_at = store_updated(&store, id).await;
        assert!(
            wait_until(Duration::from_secs(3), || async { unix_now() > remote_at }).await,
            "the clock moves on"
        );
        tool(
            &db,
            &format!("UPDATE products SET price = 11 WHERE id = {id}"),
        )
        .unwrap();
    } else {
        tool(
            &db,
            &format!("UPDATE products SET price = 11 WHERE id = {id}"),
        )
        .unwrap();
        store.admin_edit_product(id, json!({"price": 12.0})).await;
    }
    (store, scratch, db, config, id)
}

#[tokio::test]
async fn each_policy_settles_a_field_changed_on_both_sides_as_it_says() {
    // (policy, local change later, price Ecwid ends with, outbox state)
    let cases = [
        (Policy::LocalWins, false, 11.0, "applied"),
        (Policy::RemoteWins, true, 12.0, "dropped"),
        (Policy::NewestWins, true, 11.0, "applied"),
        (Policy::NewestWins, false, 12.0, "dropped"),
        (Policy::Manual, true, 12.0, "conflict"),
    ];
    for (policy, local_later, expected, state) in cases {
        let (store, _scratch, db, config, id) = price_conflict(policy, local_later).await;
        let summary = push(&config).await;
        let case = format!("{policy:?}, local later: {local_later}");
        assert_eq!(summary.conflicts, 1, "{case}");
        assert_eq!(
            product(&store.state().await, id)["price"],
            json!(expected),
            "{case}"
        );
        assert_eq!(
            query(&open(&db), "SELECT state FROM outbox"),
            vec![json!([state])],
            "{case}"
        );
        let recorded = query(
            &open(&db),
            "SELECT field, base, local, remote, policy, state, resolution FROM conflicts",
        );
        let resolution = match state {
            "applied" => json!("local"),
            "dropped" => json!("remote"),
            _ => Value::Null,
        };
        assert_eq!(
            recorded,
            vec![json!([
                "price",
                10.0,
                11.0,
                12.0,
                policy.name(),
                if state == "conflict" {
                    "open"
                } else {
                    "resolved"
                },
                resolution
            ])],
            "{case}"
        );
        // The mirror shows Ecwid's value whatever happened, once pulled.
        pass(&config, false).await;
        assert_eq!(mirror_price(&db, id), json!(expected), "{case}");
    }
}

#[tokio::test]
async fn a_manual_conflict_waits_for_the_operator_and_either_side_reaches_store_and_mirror() {
    let (store, _scratch, db, config, id) = price_conflict(Policy::Manual, false).await;
    let other = store.state().await["products"][4]["id"].as_i64().unwrap();
    tool(
        &db,
        &format!("UPDATE products SET name = 'Ours' WHERE id = {other}"),
    )
    .unwrap();
    store
        .admin_edit_product(other, json!({"name": "Theirs"}))
        .await;
    push(&config).await;
    // Held: Ecwid keeps its values, the mirror shows them, and passes change nothing.
    assert_eq!(mirror_price(&db, id), json!(12.0));
    assert_eq!(
        mirror_value(&db, "SELECT name FROM products WHERE id = ?1", other),
        json!("Theirs")
    );
    push(&config).await;
    assert_eq!(product(&store.state().await, id)["price"], json!(12.0));

    let config_file = write_config(&store, &db, "");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
            .arg("--config")
            .arg(&config_file)
            .args(args)
            .output()
            .unwrap()
    };
    let status = String::from_utf8_lossy(&run(&["status"]).stdout).to_string();
    assert!(status.contains("2 open conflict(s)"), "{status}");
    let listed: Value =
        serde_json::from_slice(&run(&["conflicts", "list", "--json"]).stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let (price, name) = (&listed[0], &listed[1]);
    assert_eq!(
        (&price["field"], &price["local"], &price["remote"]),
        (&json!("price"), &json!(11.0), &json!(12.0))
    );
    let text = String::from_utf8_lossy(&run(&["conflicts", "list"]).stdout).to_string();
    assert!(
        text.contains(&format!("product {id} price: was 10.0, mirror 11.0")),
        "{text}"
    );

    let take =
        |id: &Value, side: &str| run(&["conflicts", "resolve", &id.to_string(), "--take", side]);
    assert!(take(&price["id"], "local").status.success());
    assert!(take(&name["id"], "remote").status.success());
    let again = take(&price["id"], "remote");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already resolved"));
    let missing = take(&json!(999), "local");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no conflict 999"));
    assert_eq!(
        mirror_price(&db, id),
        json!(11.0),
        "the local value, on its way"
    );

    push(&config).await;

    let after = store.state().await;
    assert_eq!(product(&after, id)["price"], json!(11.0));
    assert_eq!(product(&after, other)["name"], json!("Theirs"));
    assert_eq!(mirror_price(&db, id), json!(11.0));
    assert_eq!(
        mirror_value(&db, "SELECT name FROM products WHERE id = ?1", other),
        json!("Theirs")
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM conflicts WHERE state = 'open'"),
        0
    );
}

#[tokio::test]
async fn writes_ecwid_cannot_take_are_refused_with_the_column_and_what_to_do() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let id = state["products"][0]["id"].as_i64().unwrap();
    let order = listed_orders(&state)[0]["internalId"].as_i64().unwrap();
    let refused = [
        (
            format!("UPDATE products SET raw_json = '{{}}' WHERE id = {id}"),
            "products.raw_json is Ecwid's and cannot be changed in the mirror; tools may change quantity, price",
        ),
        (
            format!("UPDATE products SET price = -1 WHERE id = {id}"),
            "products.price must be a number of 0 or more",
        ),
        (
            format!("UPDATE products SET name = '' WHERE id = {id}"),
            "products.name must be text that is not empty",
        ),
        (
            format!("UPDATE products SET enabled = 2 WHERE id = {id}"),
            "products.enabled must be 1",
        ),
        (
            format!("UPDATE orders SET fulfillment_status = 'SENT' WHERE order_number = {order}"),
            "orders.fulfillment_status must be one of AWAITING_PROCESSING, PROCESSING, SHIPPED",
        ),
        (
            format!("UPDATE orders SET payment_status = 'INCOMPLETE' WHERE order_number = {order}"),
            "orders.payment_status must be one of AWAITING_PAYMENT, PAID",
        ),
        (
            format!("UPDATE orders SET total = 1 WHERE order_number = {order}"),
            "orders.total is Ecwid's and cannot be changed in the mirror; tools may change fulfillment_status",
        ),
        (
            "INSERT INTO products (id, raw_json, synced_at) VALUES (1, '{}', 0)".to_string(),
            "rows cannot be added to products: products are created in Ecwid",
        ),
        (
            format!("DELETE FROM orders WHERE order_number = {order}"),
            "rows cannot be deleted from orders: cancel it instead",
        ),
        (
            "UPDATE categories SET parent_id = NULL".to_string(),
            "categories.parent_id is Ecwid's and cannot be changed in the mirror; tools may change name and enabled",
        ),
        (
            "DELETE FROM order_items".to_string(),
            "order_items is Ecwid's copy",
        ),
    ];
    for (sql, message) in refused {
        let err = tool(&db, &sql).unwrap_err().to_string();
        assert!(err.contains(message), "{sql}: {err}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        0,
        "nothing recorded"
    );
    // A valid status and tracking number are taken.
    tool(
        &db,
        &format!("UPDATE orders SET fulfillment_status = 'SHIPPED', tracking_number = 'TRK-1' WHERE order_number = {order}"),
    )
    .unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2);
}

#[tokio::test]
async fn text_longer_than_its_bound_is_refused_when_written_and_text_at_the_bound_reaches_the_store()
 {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let id = state["products"][0]["id"].as_i64().unwrap();
    let order = listed_orders(&state)[0]["internalId"].as_i64().unwrap();
    let variation = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["combinations"].as_array()?.first()?["id"].as_i64())
        .unwrap();
    let name_before = mirror_value(&db, "SELECT name FROM products WHERE id = ?1", id);
    let five_mb = "x".repeat(5 * 1024 * 1024);
    let long_sku = "S".repeat(1025);
    let refused = [
        (
            format!("UPDATE products SET name = '{five_mb}' WHERE id = {id}"),
            "products.name must be at most 4096 characters",
        ),
        (
            format!("UPDATE products SET sku = '{long_sku}' WHERE id = {id}"),
            "products.sku must be at most 1024 characters",
        ),
        (
            format!("UPDATE product_variations SET sku = '{long_sku}' WHERE id = {variation}"),
            "product_variations.sku must be at most 1024 characters",
        ),
        (
            format!(
                "UPDATE orders SET tracking_number = '{long_sku}' WHERE order_number = {order}"
            ),
            "orders.tracking_number must be at most 1024 characters",
        ),
    ];
    for (sql, message) in refused {
        let err = tool(&db, &sql).unwrap_err().to_string();
        assert!(err.contains(message), "{}: {err}", &sql[..60]);
        assert!(err.len() < 300, "the refusal does not repeat the value");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 0);
    assert_eq!(
        mirror_value(&db, "SELECT name FROM products WHERE id = ?1", id),
        name_before
    );

    // The bound counts characters, not bytes: 4096 two-byte characters are taken.
    let at_bound = "\u{e9}".repeat(4096);
    tool(
        &db,
        &format!("UPDATE products SET name = '{at_bound}' WHERE id = {id}"),
    )
    .unwrap();
    assert_eq!(
        query(
            &open(&db),
            "SELECT field, value, state FROM outbox ORDER BY id"
        ),
        vec![json!(["name", at_bound, "pending"])]
    );
    assert_eq!(push(&config).await.updated, 1);
    assert_eq!(product(&store.state().await, id)["name"], json!(at_bound));
}

#[tokio::test]
async fn the_push_log_says_what_kind_of_change_each_line_is_and_names_its_entity() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let (stocked, variation) = common::stock::store_stock(&state)
        .into_keys()
        .find(|(_, v)| v.is_some())
        .unwrap();
    let priced = state["products"][3]["id"].as_i64().unwrap();
    assert_ne!(priced, stocked);
    let order = listed_orders(&state)[0];
    let (number, public_id) = (
        order["internalId"].as_i64().unwrap(),
        order["id"].as_str().unwrap().to_string(),
    );
    assert_ne!(public_id, number.to_string());
    let status = if order["fulfillmentStatus"] == "SHIPPED" {
        "DELIVERED"
    } else {
        "SHIPPED"
    };
    common::stock::tool_change(&db, (stocked, variation), 3);
    tool(
        &db,
        &format!("UPDATE products SET price = 12.5, name = 'Renamed' WHERE id = {priced}"),
    )
    .unwrap();
    tool(
        &db,
        &format!("UPDATE orders SET fulfillment_status = '{status}' WHERE order_number = {number}"),
    )
    .unwrap();
    let config = write_config(&store, &db, "");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(&config)
        .arg("push")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();

    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let applied: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("local change applied in Ecwid"))
        .collect();
    let line_with = |needles: &[String]| {
        applied
            .iter()
            .any(|l| needles.iter().all(|n| l.contains(n.as_str())))
    };
    for needles in [
        vec![
            "change=\"stock\"".to_string(),
            format!(
                "entity=\"variation {} of product {stocked}\"",
                variation.unwrap()
            ),
            "delta=3".to_string(),
        ],
        vec![
            "change=\"name, price\"".to_string(),
            format!("entity=\"product {priced}\""),
        ],
        vec![
            "change=\"fulfillment_status\"".to_string(),
            format!("entity=\"order {public_id}\""),
        ],
    ] {
        assert!(line_with(&needles), "no line with {needles:?} in:\n{log}");
    }
    assert_eq!(applied.len(), 3, "{log}");
    assert!(!log.contains("stock changes pushed"), "{log}");
}

#[tokio::test]
async fn the_daemons_pass_line_counts_field_changes_apart_from_stock() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "");
    let mut daemon = spawn_ecwid_sync(&config, &["run"], std::process::Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(first_pass_done(&db).await, "{}", log.text());
    let id = store.state().await["products"][5]["id"].as_i64().unwrap();

    tool(
        &db,
        &format!("UPDATE products SET price = 31.5 WHERE id = {id}"),
    )
    .unwrap();

    assert!(
        wait_until(Duration::from_secs(20), || async {
            log.contains("local changes pushed")
        })
        .await,
        "{}",
        log.text()
    );
    assert_eq!(product(&store.state().await, id)["price"], json!(31.5));
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
    let text = log.text();
    let pass = text
        .lines()
        .find(|l| l.contains("local changes pushed"))
        .unwrap();
    assert!(
        pass.contains("stock_applied=0") && pass.contains("fields_updated=1"),
        "{pass}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("local change applied in Ecwid")
                && l.contains("change=\"price\"")
                && l.contains(&format!("entity=\"product {id}\""))),
        "{text}"
    );
}

fn store_order(state: &Value, key: i64) -> &Value {
    listed_orders(state)
        .into_iter()
        .find(|o| o["internalId"] == key)
        .unwrap()
}

#[tokio::test]
async fn orders_shipped_under_storefront_load_reach_the_store_and_our_echoes_write_nothing() {
    let store = TestStore::start(TestStore::small()).await;
    let WebhookDaemon {
        _scratch,
        db,
        listen,
        child: mut daemon,
        log,
    } = WebhookDaemon::start(&store).await;
    let state = store.state().await;
    let orders: Vec<i64> = listed_orders(&state)
        .iter()
        .filter(|o| o["fulfillmentStatus"] != "SHIPPED")
        .map(|o| o["internalId"].as_i64().unwrap())
        .take(15)
        .collect();
    let sellable: Vec<i64> = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["combinations"].as_array().is_none_or(|c| c.is_empty()))
        .filter(|p| p["unlimited"] == true || p["quantity"].as_i64().unwrap_or(0) > 20)
        .map(|p| p["id"].as_i64().unwrap())
        .take(10)
        .collect();
    store.reset_stats().await;

    // The fulfilment tool ships orders while the storefront keeps selling.
    let ship = async {
        for (n, key) in orders.iter().enumerate() {
            tool(
                &db,
                &format!(
                    "UPDATE orders SET fulfillment_status = 'SHIPPED', tracking_number = 'TRK-{n}' WHERE order_number = {key}"
                ),
            )
            .unwrap();
            tokio::task::yield_now().await;
        }
    };
    let sell = async {
        for &id in &sellable {
            store.sale(id, None, 1).await;
        }
    };
    tokio::join!(ship, sell);

    let shipped = || async {
        let state = store.state().await;
        orders.iter().enumerate().all(|(n, &key)| {
            let o = store_order(&state, key);
            o["fulfillmentStatus"] == "SHIPPED" && o["trackingNumber"] == format!("TRK-{n}")
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), shipped).await,
        "the store has every order shipped: {}",
        log.text()
    );
    let settled = || async {
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'") == 0
            && count(
                &db,
                "SELECT count(*) FROM webhook_events WHERE state = 'pending'",
            ) == 0
            && count(&db, "SELECT count(*) FROM orders")
                == listed_orders(&store.state().await).len() as i64
    };
    assert!(
        wait_until(Duration::from_secs(20), settled).await,
        "the mirror has every order, the sales' included: {}",
        log.text()
    );
    let conn = open(&db);
    for (n, key) in orders.iter().enumerate() {
        let row: (String, String) = conn
            .query_row(
                "SELECT fulfillment_status, tracking_number FROM orders WHERE order_number = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(row, ("SHIPPED".to_string(), format!("TRK-{n}")));
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        30,
        "two fields of 15 orders, nothing captured from the echoes or the sales"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM conflicts"), 0);
    // No loop: once the echoes are read, no write follows them.
    let stats = store.stats().await;
    let batches = stats["requests"]["POST /batch"].as_u64().unwrap_or(0);
    assert!((1..=15).contains(&batches), "{stats}");
    let writes: Vec<&String> = stats["requests"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with("GET ") && k.as_str() != "POST /batch")
        .collect();
    assert!(writes.is_empty(), "no write outside the batches: {stats}");
    let metrics = scrape_metrics(listen).await;
    assert_eq!(
        metrics.get("ecwid_sync_push_batches_total").copied(),
        Some(batches as f64),
        "every batch the store saw is one the pusher made"
    );
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

#[tokio::test]
async fn kill_9_while_field_changes_are_on_their_way_loses_none_and_finds_no_false_conflict() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "[push]\npoll_interval_ms = 50\n");
    store
        .set_faults(json!({"latency_ms": 150, "path_contains": "/batch"}))
        .await;
    let spawn = || spawn_ecwid_sync(&config, &["run"], std::process::Stdio::piped());
    let mut daemon = spawn();
    assert!(first_pass_done(&db).await);
    let ids: Vec<i64> = store.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .take(8)
        .collect();
    let mut expected = std::collections::BTreeMap::new();
    for round in 0..6 {
        let creates = store.request_count("POST /batch").await;
        for (i, id) in ids.iter().enumerate().filter(|(i, _)| (i + round) % 2 == 0) {
            let price = 100.0 + (round * 10 + i) as f64;
            tool(
                &db,
                &format!(
                    "UPDATE products SET price = {price}, name = 'Round {round}' WHERE id = {id}"
                ),
            )
            .unwrap();
            expected.insert(*id, (price, format!("Round {round}")));
        }
        let sent = wait_until(Duration::from_secs(10), || async {
            store.request_count("POST /batch").await > creates
        })
        .await;
        assert!(sent, "round {round}: a batch is created");
        let pid = daemon.id().unwrap() as i32;
        unsafe { libc::kill(pid, libc::SIGKILL) };
        daemon.wait().await.unwrap();
        daemon = spawn();
    }
    let log = StderrLog::collect(&mut daemon);
    let holds = || async {
        let state = store.state().await;
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
        ) == 0
            && expected.iter().all(|(id, (price, name))| {
                let p = product(&state, *id);
                p["price"] == json!(price) && p["name"] == json!(name)
            })
    };
    assert!(
        wait_until(Duration::from_secs(30), holds).await,
        "the store holds the last value of every field: {}",
        log.text()
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM conflicts"),
        0,
        "our own writes, sent again, are no conflict"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'"),
        0
    );
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

#[tokio::test]
async fn a_second_change_made_while_the_first_is_unanswered_is_no_conflict_with_it() {
    let (store, _scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.ecwid.max_retries = 1;
    let id = store.state().await["products"][5]["id"].as_i64().unwrap();
    tool(
        &db,
        &format!("UPDATE products SET price = 110 WHERE id = {id}"),
    )
    .unwrap();
    // Ecwid takes the first change; its answers are lost.
    store
        .set_faults(json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}))
        .await;
    assert!(push_once(&config, CancellationToken::new()).await.is_err());
    store.set_faults(json!({})).await;
    // The tool changes the price again, over its own first change.
    tool(
        &db,
        &format!("UPDATE products SET price = 130 WHERE id = {id}"),
    )
    .unwrap();

    push(&config).await;
    push(&config).await;

    assert_eq!(product(&store.state().await, id)["price"], json!(130.0));
    assert_eq!(count(&db, "SELECT count(*) FROM conflicts"), 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'"),
        0
    );
    assert_eq!(mirror_price(&db, id), json!(130.0));
}

#[tokio::test]
async fn a_later_write_of_a_field_in_conflict_supersedes_the_conflict() {
    let (store, _scratch, db, config, id) = price_conflict(Policy::Manual, false).await;
    push(&config).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM conflicts WHERE state = 'open'"),
        1
    );
    // The mirror shows Ecwid's 12; the tool sets the price again, over it.
    tool(
        &db,
        &format!("UPDATE products SET price = 15 WHERE id = {id}"),
    )
    .unwrap();

    push(&config).await;

    assert_eq!(product(&store.state().await, id)["price"], json!(15.0));
    assert_eq!(
        query(&open(&db), "SELECT state, resolution FROM conflicts"),
        vec![json!(["resolved", "superseded"])]
    );
    assert_eq!(
        query(&open(&db), "SELECT value, state FROM outbox ORDER BY id"),
        vec![json!([11.0, "dropped"]), json!([15.0, "applied"])]
    );
}
