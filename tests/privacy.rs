//! Privacy requests (contract 17.8): a signed removal request erases the customer's personal
//! data from the mirror for good, keeping their orders' accounts; an export request is
//! counted, and `ecwid-sync customer export` prints what the mirror holds about a customer.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use rusqlite::types::ValueRef;
use serde_json::{Value, json};

/// Every string inside `value`, at any depth.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// A customer with at least two orders, and those orders (as the store lists them).
fn customer_with_orders(state: &Value) -> (Value, Vec<Value>) {
    for customer in state["customers"].as_array().unwrap() {
        let orders: Vec<Value> = listed_orders(state)
            .into_iter()
            .filter(|o| o["customerId"] == customer["id"])
            .cloned()
            .collect();
        if orders.len() >= 2 {
            return (customer.clone(), orders);
        }
    }
    panic!("the small store has a customer with two orders");
}

/// What identifies the customer: their name, email and address lines, and those of their
/// orders; without any text some other customer's or order's document has too (a shared
/// city or country is no trace of anyone).
fn identifying(state: &Value, customer: &Value, orders: &[Value]) -> Vec<String> {
    let mut theirs = Vec::new();
    for field in ["name", "email", "billingPerson", "shippingAddresses"] {
        strings(&customer[field], &mut theirs);
    }
    for order in orders {
        for field in ["email", "billingPerson", "shippingPerson", "ipAddress"] {
            strings(&order[field], &mut theirs);
        }
    }
    let mut others = Vec::new();
    for c in state["customers"].as_array().unwrap() {
        if c["id"] != customer["id"] {
            strings(c, &mut others);
        }
    }
    for o in state["orders"].as_array().unwrap() {
        if o["customerId"] != customer["id"] {
            strings(o, &mut others);
        }
    }
    let others: HashSet<String> = others.into_iter().map(|s| s.to_lowercase()).collect();
    let mut needles: Vec<String> = theirs
        .into_iter()
        .filter(|s| s.len() >= 4 && !others.contains(&s.to_lowercase()))
        .collect();
    needles.sort();
    needles.dedup();
    needles
}

/// Every text value of every table of the mirror that contains one of `needles` (any case),
/// as `table: value`.
fn traces(db: &Path, needles: &[String]) -> Vec<String> {
    let conn = open(db);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
    let mut found = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let ValueRef::Text(bytes) = row.get_ref(i).unwrap() {
                    let text = String::from_utf8_lossy(bytes).to_lowercase();
                    if let Some(n) = needles.iter().find(|n| text.contains(n.as_str())) {
                        found.push(format!("{table}: {n}"));
                    }
                }
            }
        }
    }
    found
}

/// The order rows and totals of `orders` in the mirror: (order_number, total, tax, items).
fn accounts(db: &Path, orders: &[Value]) -> Vec<(i64, f64, f64, i64)> {
    let conn = open(db);
    orders
        .iter()
        .map(|o| {
            let key = o["internalId"].as_i64().unwrap();
            conn.query_row(
                "SELECT order_number, total, tax,
                        (SELECT count(*) FROM order_items i WHERE i.order_number = o.order_number)
                   FROM orders o WHERE order_number = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap_or_else(|e| panic!("order {key} is kept: {e}"))
        })
        .collect()
}

/// A storefront sale by a guest under `email`; its internal id.
async fn guest_sale(store: &TestStore, state: &Value, email: &str) -> i64 {
    // A variation with stock of its own, as every product of the small store has variations.
    let (product, combination) = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| {
            let combination = p["combinations"].as_array()?.iter().find(|c| {
                c["sku"].is_string()
                    && !c["unlimited"].as_bool().unwrap_or(false)
                    && c["quantity"].as_i64().unwrap_or(0) > 3
            })?;
            Some((p["id"].clone(), combination["id"].clone()))
        })
        .expect("a variation in stock");
    let sale: Value = reqwest::Client::new()
        .post(format!("{}/_emulator/orders", store.emulator.url()))
        .json(&json!({
            "items": [{"productId": product, "combinationId": combination, "quantity": 1}],
            "paymentStatus": "PAID",
            "email": email,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    sale["id"].as_i64().expect("the sale's internal id")
}

async fn ecwid_sync(config: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_removal_request_leaves_no_trace_of_the_customer_keeps_their_orders_accounts_and_survives_a_full_pull()
 {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = WebhookDaemon::start(&store).await;
    let state = store.state().await;
    let (customer, orders) = customer_with_orders(&state);
    let id = customer["id"].as_i64().unwrap();
    let email = customer["email"].as_str().unwrap().to_string();
    let needles = identifying(&state, &customer, &orders);
    assert!(needles.contains(&email), "{needles:?}");
    assert!(
        !traces(&daemon.db, &needles).is_empty(),
        "the mirror holds the customer before the request"
    );
    let expected: Vec<(i64, f64, f64, i64)> = orders
        .iter()
        .map(|o| {
            (
                o["internalId"].as_i64().unwrap(),
                o["total"].as_f64().unwrap(),
                o["tax"].as_f64().unwrap(),
                o["items"].as_array().unwrap().len() as i64,
            )
        })
        .collect();
    assert_eq!(accounts(&daemon.db, &orders), expected);
    // A guest checkout under the customer's email is theirs too.
    let guest = guest_sale(&store, &state, &email).await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(
                &daemon.db,
                &format!("SELECT count(*) FROM orders WHERE order_number = {guest} AND customer_id IS NULL"),
            ) == 1
        })
        .await,
        "the guest order reaches the mirror: {}",
        daemon.log.text()
    );

    store
        .send_webhook(json!({"eventType": "customer.personalDataRemovalRequest", "entityId": id}))
        .await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(&daemon.db, "SELECT count(*) FROM erasures") == 1
        })
        .await,
        "the request is handled within a delta cycle: {}",
        daemon.log.text()
    );
    assert_eq!(traces(&daemon.db, &needles), Vec::<String>::new());
    assert_eq!(accounts(&daemon.db, &orders), expected, "the accounts stay");
    assert_eq!(
        count(
            &daemon.db,
            &format!(
                "SELECT count(*) FROM erasures WHERE customer_id = {id} AND orders_redacted = {}",
                orders.len() + 1
            )
        ),
        1
    );
    let metrics = scrape_metrics(daemon.listen).await;
    assert_eq!(metrics["ecwid_sync_privacy_customers_erased_total"], 1.0);
    assert_eq!(
        metrics["ecwid_sync_privacy_requests_total{request=\"customer_removal\"}"],
        1.0
    );
    assert!(
        wait_until(Duration::from_secs(5), || async {
            daemon.log.contains("a customer asked to be erased")
        })
        .await,
        "one warning: {}",
        daemon.log.text()
    );

    // A webhook for one of their orders brings Ecwid's full document back: stored redacted.
    let order = &orders[0];
    store
        .admin_edit_order(
            order["id"].as_str().unwrap(),
            json!({"fulfillmentStatus": "SHIPPED"}),
        )
        .await;
    store
        .send_webhook(
            json!({"eventType": "order.updated", "entityId": order["internalId"],
                             "data": {"orderId": order["id"]}}),
        )
        .await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(
                &daemon.db,
                &format!(
                    "SELECT count(*) FROM orders WHERE order_number = {} AND fulfillment_status = 'SHIPPED'",
                    order["internalId"]
                ),
            ) == 1
        })
        .await
    );
    assert_eq!(traces(&daemon.db, &needles), Vec::<String>::new());

    let config = daemon.db.with_extension("toml");
    assert!(terminate(&mut daemon.child).await.success());
    let out = ecwid_sync(&config, &["sync", "--full"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        traces(&daemon.db, &needles),
        Vec::<String>::new(),
        "a full pull brings nothing back"
    );
    assert_eq!(
        count(&daemon.db, "SELECT sum(rows_repaired) FROM sync_state"),
        0,
        "redacted rows agree with the redacted documents: nothing to repair"
    );
    assert_eq!(accounts(&daemon.db, &orders)[1..], expected[1..]);
    assert_eq!(
        count(
            &daemon.db,
            &format!("SELECT count(*) FROM orders WHERE order_number = {guest} AND email IS NULL")
        ),
        1,
        "the guest order is kept, redacted"
    );
    assert_eq!(
        count(
            &daemon.db,
            &format!("SELECT count(*) FROM customers WHERE id = {id}")
        ),
        0
    );
    assert_eq!(
        count(&daemon.db, "SELECT count(*) FROM customers"),
        state["customers"].as_array().unwrap().len() as i64 - 1,
        "the other customers are all there"
    );

    let out = ecwid_sync(&config, &["status", "--json"]).await;
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["privacy"]["customers_erased"], 1);
    assert_eq!(status["privacy"]["requests"]["customer_removal"], 1);
    let out = ecwid_sync(&config, &["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("customers erased: 1"), "{text}");
}

#[tokio::test]
async fn an_export_request_is_counted_and_the_export_command_prints_the_customer_and_their_orders()
{
    let store = TestStore::start(TestStore::small()).await;
    let daemon = WebhookDaemon::start(&store).await;
    let state = store.state().await;
    let (customer, orders) = customer_with_orders(&state);
    let id = customer["id"].as_i64().unwrap();

    store
        .send_webhook(json!({"eventType": "customer.personalDataExportRequest", "entityId": id}))
        .await;
    store
        .send_webhook(json!({"eventType": "profile.personalDataExportRequest"}))
        .await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(&daemon.db, "SELECT count(*) FROM privacy_requests") == 2
        })
        .await,
        "{}",
        daemon.log.text()
    );
    let metrics = scrape_metrics(daemon.listen).await;
    assert_eq!(
        metrics["ecwid_sync_privacy_requests_total{request=\"customer_export\"}"],
        1.0
    );
    assert_eq!(
        metrics["ecwid_sync_privacy_requests_total{request=\"profile_export\"}"],
        1.0
    );
    assert_eq!(metrics["ecwid_sync_privacy_customers_erased_total"], 0.0);
    assert!(
        wait_until(Duration::from_secs(5), || async {
            daemon
                .log
                .contains(&format!("ecwid-sync customer export {id}"))
        })
        .await,
        "{}",
        daemon.log.text()
    );
    assert_eq!(
        count(
            &daemon.db,
            &format!("SELECT count(*) FROM customers WHERE id = {id}")
        ),
        1,
        "an export request erases nothing"
    );

    let config = daemon.db.with_extension("toml");
    for who in [
        id.to_string(),
        customer["email"].as_str().unwrap().to_uppercase(),
    ] {
        let out = ecwid_sync(&config, &["customer", "export", &who]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let export: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(export["customer_id"], id);
        assert_eq!(export["customer"]["email"], customer["email"]);
        assert_eq!(export["customer"]["name"], customer["name"]);
        assert_eq!(
            export["customer"]["raw_json"]["billingPerson"],
            customer["billingPerson"]
        );
        let numbers: HashSet<i64> = export["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_number"].as_i64().unwrap())
            .collect();
        for order in &orders {
            let key = order["internalId"].as_i64().unwrap();
            assert!(numbers.contains(&key), "order {key} exported for {who}");
            let exported = export["orders"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["order_number"] == key)
                .unwrap();
            assert_eq!(
                exported["items"].as_array().unwrap().len(),
                order["items"].as_array().unwrap().len()
            );
            assert_eq!(
                exported["raw_json"]["billingPerson"],
                order["billingPerson"]
            );
        }
    }

    let out = ecwid_sync(&config, &["customer", "export", "nobody@example.invalid"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the mirror holds no customer or order for \"nobody@example.invalid\""),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn tools_can_neither_undo_an_erasure_nor_change_what_erasure_blanks() {
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    drop(ecwid_sync::mirror::open_and_migrate(&db).unwrap());
    open_as_daemon(&db)
        .execute_batch(
            "INSERT INTO erasures (customer_id, requested_at, erased_at, orders_redacted)
                 VALUES (7, 1, 2, 1);
             INSERT INTO erased_orders (order_number, customer_id) VALUES (900, 7);",
        )
        .unwrap();
    let tool = open(&db);
    for (sql, message) in [
        (
            "DELETE FROM erasures",
            "rows cannot be deleted from erasures",
        ),
        (
            "UPDATE erasures SET customer_id = 8",
            "rows cannot be changed in erasures",
        ),
        (
            "DELETE FROM erased_orders",
            "rows cannot be deleted from erased_orders",
        ),
        (
            "INSERT INTO privacy_requests (event_id, event_type, subject, request, requested_at, handled_at)
                 VALUES ('x', 'customer.personalDataExportRequest', 'customer', 'export', 1, 1)",
            "rows cannot be added to privacy_requests",
        ),
        (
            "DELETE FROM privacy_policy WHERE field = 'email'",
            "set them with `privacy.order_fields`",
        ),
    ] {
        let err = tool.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains(message), "{sql}: {err}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM erasures"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM privacy_policy WHERE field = 'email'"
        ),
        1
    );
}

#[tokio::test]
async fn the_privacy_setting_decides_which_order_fields_an_erasure_blanks() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let text = format!(
        "{}\n[privacy]\norder_fields = [\"email\", \"ipAddress\"]\n",
        config_text(&store, &db, &store.config.token, "")
    );
    let config =
        ecwid_sync::config::Config::parse(&text, &ecwid_sync::config::SecretEnv::default())
            .unwrap();
    pass(&config, true).await;
    let state = store.state().await;
    let (customer, orders) = customer_with_orders(&state);
    let id = customer["id"].as_i64().unwrap();

    let deltas = Deltas::start(&config);
    deltas.receive(
        &db,
        &[Webhook::new("customer.personalDataRemovalRequest", id)],
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(&db, "SELECT count(*) FROM erasures") == 1
        })
        .await
    );
    deltas.stop().await;
    let kept = query(
        &open(&db),
        &format!(
            "SELECT email, json_extract(raw_json, '$.ipAddress'),
                    json_extract(raw_json, '$.billingPerson.name')
               FROM orders WHERE customer_id = {id} ORDER BY order_number"
        ),
    );
    let expected: Vec<Value> = {
        let mut sorted = orders.clone();
        sorted.sort_by_key(|o| o["internalId"].as_i64());
        sorted
            .iter()
            .map(|o| json!([null, null, o["billingPerson"]["name"]]))
            .collect()
    };
    assert_eq!(kept, expected, "only the listed fields are blanked");
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM customers WHERE id = {id}")
        ),
        0
    );
}
