//! The publisher: tools create products by inserting into `new_products`; the daemon
//! creates each in the store exactly once, whatever happens to Ecwid's answers or to the
//! daemon itself, and brings it into the mirror.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::drills::kill_9;
use common::*;
use ecwid_sync::commands::push_once;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A tool asks for a product; answers the request's id.
fn request_product(db: &Path, sku: &str, quantity: Option<i64>, categories: &str) -> i64 {
    let conn = open(db);
    conn.execute(
        "INSERT INTO new_products (name, sku, price, quantity, description, weight, category_ids)
         VALUES (?1, ?2, 12.5, ?3, '<p>From the supplier</p>', 0.75, ?4)",
        rusqlite::params![format!("Supplier item {sku}"), sku, quantity, categories],
    )
    .unwrap();
    conn.last_insert_rowid()
}

fn in_store(state: &Value, sku: &str) -> Vec<Value> {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["sku"] == json!(sku))
        .cloned()
        .collect()
}

fn first_category(state: &Value) -> i64 {
    state["categories"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_product_a_tool_inserts_is_created_exactly_once_although_every_answer_is_lost_once() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let category = first_category(&store.state().await);
    let request = request_product(&db, "SUP-0001", Some(9), &format!("[{category}]"));
    store
        .set_faults(json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}))
        .await;
    let mut impatient = config.clone();
    impatient.ecwid.max_retries = 1;
    let lost = push_once(&impatient, CancellationToken::new()).await;
    assert!(lost.is_err(), "no outcome: {lost:?}");
    assert_eq!(
        query(
            &open(&db),
            "SELECT state, batch_key IS NOT NULL FROM new_products"
        ),
        vec![json!(["sending", 1])],
        "the request keeps its key"
    );
    store.set_faults(json!({})).await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(summary.created, 1);
    let state = store.state().await;
    let created = in_store(&state, "SUP-0001");
    assert_eq!(created.len(), 1, "created exactly once");
    let id = created[0]["id"].as_i64().unwrap();
    assert_eq!(created[0]["quantity"], json!(9));
    assert_eq!(created[0]["categoryIds"], json!([category]));
    assert_eq!(
        query(
            &open(&db),
            &format!("SELECT state, product_id, error FROM new_products WHERE id = {request}")
        ),
        vec![json!(["created", id, null])]
    );
    assert_eq!(
        query(
            &open(&db),
            &format!("SELECT sku, quantity, price, weight FROM products WHERE id = {id}")
        ),
        vec![json!(["SUP-0001", 9, 12.5, 0.75])],
        "in the mirror as if pulled"
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM product_categories WHERE product_id = {id} AND category_id = {category}"
            )
        ),
        1
    );
    assert_products_equal_store(&open(&db), &state);
    assert_eq!(
        store.request_count("POST /batch").await,
        3,
        "two creates whose answers were lost, then the same key again"
    );
}

#[tokio::test]
async fn a_duplicate_sku_fails_with_ecwids_message_and_creates_nothing() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let taken = state["products"][0]["sku"].as_str().unwrap().to_string();
    let products = state["products"].as_array().unwrap().len();
    let request = request_product(&db, &taken, None, "[]");

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!((summary.created, summary.not_created), (0, 1));
    let row = query(
        &open(&db),
        &format!("SELECT state, product_id, error FROM new_products WHERE id = {request}"),
    );
    assert_eq!(row[0][0], "failed");
    assert_eq!(row[0][1], Value::Null);
    let error = row[0][2].as_str().unwrap();
    assert!(
        error.contains(&format!("SKU '{taken}' already exists")),
        "{error}"
    );
    assert_eq!(
        store.state().await["products"].as_array().unwrap().len(),
        products
    );
    // A failed request is the tool's to remove.
    open(&db)
        .execute("DELETE FROM new_products WHERE id = ?1", [request])
        .unwrap();
}

#[tokio::test]
async fn a_request_cancelled_before_it_is_sent_sends_nothing() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let request = request_product(&db, "SUP-CANCELLED", Some(1), "[]");
    open(&db)
        .execute("DELETE FROM new_products WHERE id = ?1", [request])
        .unwrap();
    store.reset_stats().await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!((summary.batches, summary.created), (0, 0));
    assert_eq!(store.request_count("POST /batch").await, 0);
    assert!(in_store(&store.state().await, "SUP-CANCELLED").is_empty());
}

#[tokio::test]
async fn a_tool_may_not_write_the_daemons_columns_nor_cancel_a_request_on_its_way() {
    let (_store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let conn = open(&db);
    let err = conn
        .execute(
            "INSERT INTO new_products (name, sku, state) VALUES ('x', 'SUP-X', 'created')",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("starts as pending"), "{err}");
    let err = conn
        .execute(
            "INSERT INTO new_products (name, sku, category_ids) VALUES ('x', 'SUP-X', '[\"a\"]')",
            [],
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("JSON array of category ids"),
        "{err}"
    );
    let request = request_product(&db, "SUP-Y", None, "[]");
    let err = conn
        .execute("UPDATE new_products SET price = 1 WHERE id = ?1", [request])
        .unwrap_err();
    assert!(
        err.to_string().contains("DELETE it and INSERT it again"),
        "{err}"
    );
    open_as_daemon(&db)
        .execute(
            "UPDATE new_products SET state = 'sending', batch_key = 'k' WHERE id = ?1",
            [request],
        )
        .unwrap();
    let err = conn
        .execute("DELETE FROM new_products WHERE id = ?1", [request])
        .unwrap_err();
    assert!(err.to_string().contains("cannot be cancelled"), "{err}");
}

#[tokio::test]
async fn a_create_in_flight_when_the_daemon_is_killed_is_created_exactly_once() {
    let store = TestStore::start(TestStore::small()).await;
    let WebhookDaemon {
        _scratch,
        db,
        listen: _,
        child: mut daemon,
        log,
    } = WebhookDaemon::start(&store).await;
    let config = db.with_extension("toml");
    // Each create inside the batch takes a while, so the kill lands with the batch running.
    store
        .set_faults(json!({"latency_ms": 300, "path_contains": "/products"}))
        .await;
    store.reset_stats().await;
    let skus: Vec<String> = (0..5).map(|i| format!("SUP-KILL-{i}")).collect();
    for sku in &skus {
        request_product(&db, sku, Some(3), "[]");
    }
    assert!(
        wait_until(Duration::from_secs(20), || async {
            store.arrived_count("POST /batch").await >= 1
        })
        .await,
        "the batch is sent: {}",
        log.text()
    );
    kill_9(&mut daemon).await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM new_products WHERE state = 'sending'"
        ),
        5,
        "killed with the creates in flight"
    );
    store.set_faults(json!({})).await;
    let mut daemon = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(
                &db,
                "SELECT count(*) FROM new_products WHERE state = 'created'",
            ) == 5
        })
        .await,
        "the restarted daemon settles the creates: {}",
        log.text()
    );
    let state = store.state().await;
    for sku in &skus {
        assert_eq!(in_store(&state, sku).len(), 1, "{sku} exists exactly once");
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM products p JOIN new_products n ON n.product_id = p.id"
        ),
        5
    );
}

fn in_store_by_id(state: &Value, id: i64) -> bool {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == json!(id))
}

fn quantity_of(state: &Value, product: i64) -> i64 {
    let products = state["products"].as_array().unwrap();
    let p = products.iter().find(|p| p["id"] == json!(product)).unwrap();
    p["quantity"].as_i64().unwrap()
}

fn a_product(state: &Value) -> i64 {
    state["products"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn with_deletes_off_a_tools_delete_is_refused_naming_the_switch_and_nothing_leaves() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let product = a_product(&store.state().await);
    // A pass writes the switch as configured (off, the default).
    push_once(&config, CancellationToken::new()).await.unwrap();

    let err = open(&db)
        .execute("DELETE FROM products WHERE id = ?1", [product])
        .unwrap_err()
        .to_string();

    assert!(err.contains("[push] deletes"), "{err}");
    assert!(err.contains("UPDATE products SET enabled = 0"), "{err}");
    store.reset_stats().await;
    push_once(&config, CancellationToken::new()).await.unwrap();
    assert_eq!(store.request_count("POST /batch").await, 0);
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM products WHERE id = {product}")
        ),
        1
    );
    assert!(
        in_store_by_id(&store.state().await, product),
        "still in the store"
    );
}

#[tokio::test]
async fn with_deletes_on_a_tools_delete_removes_the_product_from_store_and_mirror_exactly_once() {
    let (store, _scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.push.deletes = true;
    let product = a_product(&store.state().await);
    let products = count(&db, "SELECT count(*) FROM products");
    push_once(&config, CancellationToken::new()).await.unwrap();

    let conn = open(&db);
    assert_eq!(
        conn.execute("DELETE FROM products WHERE id = ?1", [product])
            .unwrap(),
        0,
        "the row stays until Ecwid confirms"
    );
    // Asked twice: still one request.
    conn.execute("DELETE FROM products WHERE id = ?1", [product])
        .unwrap();
    assert_eq!(
        query(
            &conn,
            "SELECT product_id, field, state FROM outbox WHERE field = 'delete'"
        ),
        vec![json!([product, "delete", "pending"])]
    );
    let listed = run_as_operator(&write_config(&store, &db, ""), &["outbox", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("delete the product in Ecwid"), "{listed}");
    let status = run_as_operator(&write_config(&store, &db, ""), &["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("1 to delete in Ecwid"), "{status}");

    store
        .set_faults(json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}))
        .await;
    let mut impatient = config.clone();
    impatient.ecwid.max_retries = 1;
    assert!(
        push_once(&impatient, CancellationToken::new())
            .await
            .is_err()
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM products WHERE id = {product}")
        ),
        1,
        "no answer yet: the row stays"
    );
    store.set_faults(json!({})).await;
    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(summary.deleted, 1);
    assert!(
        !in_store_by_id(&store.state().await, product),
        "gone from the store"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM products"),
        products - 1,
        "gone from the mirror, and nothing else"
    );
    assert_eq!(
        query(&conn, "SELECT state FROM outbox WHERE field = 'delete'"),
        vec![json!(["applied"])]
    );
    assert_eq!(
        store.request_count("POST /batch").await,
        3,
        "two creates whose answers were lost, then the same key again"
    );
}

#[tokio::test]
async fn a_product_with_open_changes_is_not_deleted_until_they_settle() {
    let (store, _scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.push.deletes = true;
    let product = a_product(&store.state().await);
    push_once(&config, CancellationToken::new()).await.unwrap();
    let conn = open(&db);
    conn.execute(
        "UPDATE products SET name = 'Renamed' WHERE id = ?1",
        [product],
    )
    .unwrap();

    let err = conn
        .execute("DELETE FROM products WHERE id = ?1", [product])
        .unwrap_err()
        .to_string();

    assert!(err.contains("local changes not yet settled"), "{err}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE field = 'delete'"),
        0
    );
}

#[tokio::test]
async fn the_daemon_retires_a_product_and_its_echo_webhook_writes_nothing() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let listen = free_local_addr();
    let config = db.with_extension("toml");
    let text = webhook_config_text(&store, &db, listen, "");
    std::fs::write(&config, format!("{text}\n[push]\ndeletes = true\n")).unwrap();
    store
        .set_webhooks(json!({"url": format!("http://{listen}/webhooks/ecwid")}))
        .await;
    let mut daemon = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    let product = a_product(&store.state().await);
    assert!(first_pass_done(&db).await, "first pass: {}", log.text());
    assert!(
        wait_until(Duration::from_secs(20), || async {
            count(&db, "SELECT deletes FROM push_switches") == 1
                && count(
                    &db,
                    &format!("SELECT count(*) FROM products WHERE id = {product}"),
                ) == 1
        })
        .await,
        "the daemon is up with deletes on: {}",
        log.text()
    );
    let products = count(&db, "SELECT count(*) FROM products");
    open(&db)
        .execute("DELETE FROM products WHERE id = ?1", [product])
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            count(
                &db,
                "SELECT count(*) FROM outbox WHERE field = 'delete' AND state = 'applied'",
            ) == 1
        })
        .await,
        "deleted: {}",
        log.text()
    );
    assert!(
        wait_until(Duration::from_secs(20), || async {
            count(
                &db,
                "SELECT count(*) FROM webhook_events WHERE state = 'pending'",
            ) == 0
                && count(&db, "SELECT count(*) FROM webhook_events") > 0
        })
        .await,
        "the echo is processed: {}",
        log.text()
    );
    let state = store.state().await;
    assert!(!in_store_by_id(&state, product));
    assert_eq!(count(&db, "SELECT count(*) FROM products"), products - 1);
    assert_products_equal_store(&open(&db), &state);
    assert_eq!(store.request_count("POST /batch").await, 1, "sent once");
}

#[tokio::test]
async fn a_thousand_new_products_are_created_in_ten_batches_not_a_thousand_requests() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let mut conn = open(&db);
    let tx = conn.transaction().unwrap();
    for i in 0..1000 {
        tx.execute(
            "INSERT INTO new_products (name, sku, price, quantity) VALUES (?1, ?2, 3.5, 4)",
            rusqlite::params![format!("Bulk item {i}"), format!("BULK-{i:04}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    store.reset_stats().await;
    let started = std::time::Instant::now();

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.created, 1000);
    assert_eq!(store.request_count("POST /batch").await, 10);
    let total = store.stats().await["requests_total"].as_u64().unwrap();
    eprintln!("1000 products created with {total} requests in {secs:.2} s");
    assert!(total < 100, "{total} requests");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM products p JOIN new_products n ON n.product_id = p.id"
        ),
        1000
    );
}

#[tokio::test]
async fn a_create_whose_key_ecwid_forgot_is_settled_by_its_sku_and_not_sent_again() {
    let (store, _scratch, db, mut config) = mirrored(ecwid_emulator::EmulatorConfig {
        batch_dedup_secs: 2,
        ..TestStore::small()
    })
    .await;
    config.push.key_lifetime = Duration::from_secs(2);
    let request = request_product(&db, "SUP-FORGOTTEN", Some(2), "[]");
    store
        .set_faults(json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}))
        .await;
    let mut impatient = config.clone();
    impatient.ecwid.max_retries = 0;
    assert!(
        push_once(&impatient, CancellationToken::new())
            .await
            .is_err()
    );
    store.set_faults(json!({})).await;
    let first_sent = count(&db, "SELECT first_sent FROM new_products");
    assert!(
        wait_until(Duration::from_secs(10), || async {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                > first_sent + 2
        })
        .await
    );
    let batches = store.request_count("POST /batch").await;

    push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(
        store.request_count("POST /batch").await,
        batches,
        "not sent again once the key may be forgotten"
    );
    let created = in_store(&store.state().await, "SUP-FORGOTTEN");
    assert_eq!(created.len(), 1);
    assert_eq!(
        query(
            &open(&db),
            &format!("SELECT state, product_id FROM new_products WHERE id = {request}")
        ),
        vec![json!(["created", created[0]["id"]])]
    );
}

#[tokio::test]
async fn a_create_ecwid_did_not_run_goes_again_under_a_new_key() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let request = request_product(&db, "SUP-AGAIN", Some(3), "[]");
    // Ecwid ran the batch but answered 503 for the create inside it: not run.
    store
        .set_faults(json!({"error_503_rate": 1.0, "path_contains": "/products"}))
        .await;
    let mut impatient = config.clone();
    impatient.ecwid.max_retries = 0;
    let summary = push_once(&impatient, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.created, 0);
    let first_key = query(
        &open(&db),
        &format!("SELECT state, batch_key FROM new_products WHERE id = {request}"),
    );
    assert_eq!(first_key, vec![json!(["pending", null])]);
    store.set_faults(json!({})).await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(
        summary.created, 1,
        "the old key's answer is not taken again"
    );
    assert_eq!(in_store(&store.state().await, "SUP-AGAIN").len(), 1);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM new_products WHERE id = {request} AND state = 'created'"
            )
        ),
        1
    );
}

#[tokio::test]
async fn a_new_product_rides_in_the_same_keyed_batch_as_stock_changes() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let product = a_product(&store.state().await);
    tool(
        &db,
        &format!("UPDATE products SET quantity = quantity + 2 WHERE id = {product}"),
    )
    .unwrap();
    request_product(&db, "SUP-TOGETHER", Some(5), "[]");
    let quantity = quantity_of(&store.state().await, product);
    store.reset_stats().await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!((summary.created, summary.applied), (1, 1));
    assert_eq!(store.request_count("POST /batch").await, 1, "one batch");
    let state = store.state().await;
    assert_eq!(in_store(&state, "SUP-TOGETHER").len(), 1);
    assert_eq!(quantity_of(&state, product), quantity + 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT batch_key) FROM (SELECT batch_key FROM new_products
             UNION ALL SELECT batch_key FROM outbox)"
        ),
        1,
        "the create and the stock change went under one key"
    );
    assert_products_equal_store(&open(&db), &state);
}
