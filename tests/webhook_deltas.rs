//! The delta worker: webhook events in the mirror's inbox become mirror changes without any
//! pull, cheaply (one read per entity, 100 entities a request), never older than the
//! mirror's copy, never lost and never applied twice. Events are recorded here exactly as
//! the receiver records them (tests/common `receive`).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ecwid_emulator::EmulatorConfig;
use ecwid_sync::config::{Config, SecretEnv, Stores};
use ecwid_sync::daemon::{self, Shared};
use ecwid_sync::mirror::unix_now;
use ecwid_sync::sync::Kind;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Products the storefront can sell a few of: (product id, the variation to sell).
fn sellable(state: &Value) -> Vec<(i64, Option<i64>)> {
    let stocked = |v: &Value| {
        !v["unlimited"].as_bool().unwrap_or(false) && v["quantity"].as_i64().unwrap_or(0) > 3
    };
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let combos = p["combinations"].as_array().cloned().unwrap_or_default();
            if combos.is_empty() {
                return stocked(p).then(|| (p["id"].as_i64().unwrap(), None));
            }
            let combo = combos.iter().find(|c| c["sku"].is_string() && stocked(c))?;
            Some((p["id"].as_i64().unwrap(), combo["id"].as_i64()))
        })
        .collect()
}

fn product_ids(state: &Value) -> Vec<i64> {
    state["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

async fn wait_for_no_pending(db: &Path, secs: u64) {
    assert!(
        wait_until(Duration::from_secs(secs), || async {
            events_in(db, "pending") == 0
        })
        .await,
        "events still pending after {secs} s: {}",
        events_in(db, "pending")
    );
}

fn product_name(db: &Path, id: i64) -> Option<String> {
    open(db)
        .query_row("SELECT name FROM products WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap_or(None)
}

#[tokio::test]
async fn storefront_sales_and_admin_edits_reach_the_mirror_without_any_pull() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let deltas = Deltas::start(&config);
    let state = store.state().await;
    let picks = sellable(&state);
    let edited = product_ids(&state)[5];
    store.reset_stats().await;

    let mut hooks = Vec::new();
    for &(product, combination) in &picks[..2] {
        let sale = store.sale(product, combination, 2).await;
        hooks.extend(sale_webhooks(&sale, &[product]));
    }
    store
        .admin_edit_product(edited, json!({"name": "Renamed in the admin"}))
        .await;
    hooks.push(Webhook::new("product.updated", edited));
    deltas.receive(&db, &hooks);

    assert!(
        wait_until(Duration::from_secs(10), || async {
            events_in(&db, "pending") == 0
        })
        .await
    );
    let state = store.state().await;
    let conn = open(&db);
    assert_products_equal_store(&conn, &state);
    assert_eq!(
        mirror_orders(&conn),
        expected_orders(&state),
        "both sales' orders are in the mirror"
    );
    assert_eq!(
        product_name(&db, edited).as_deref(),
        Some("Renamed in the admin")
    );
    let stats = store.stats().await;
    assert_eq!(
        stats["requests"]["GET /products"], 1,
        "three products, one read"
    );
    assert_eq!(stats["requests"]["GET /orders"], 1, "two orders, one read");
    assert_eq!(stats["requests_total"], 2, "nothing else, no pull: {stats}");
    assert_eq!(events_in(&db, "applied"), 5);
    assert_eq!(deltas.counts.events_applied.load(Ordering::Relaxed), 5);
    assert_eq!(deltas.counts.fetch_requests.load(Ordering::Relaxed), 2);
    assert_eq!(deltas.counts.entities_applied(Kind::Products), 3);
    assert_eq!(deltas.counts.entities_applied(Kind::Orders), 2);
    deltas.stop().await;
}

#[tokio::test]
async fn a_burst_of_1000_product_updates_over_1000_products_costs_at_most_15_product_requests() {
    let (store, _scratch, db, config) = mirrored(EmulatorConfig {
        products: 1200,
        variations_per_product: 0,
        orders: 10,
        customers: 5,
        ..TestStore::small()
    })
    .await;
    let ids = product_ids(&store.state().await);
    let burst = &ids[100..1100];
    for (n, &id) in burst.iter().enumerate() {
        store
            .admin_edit_product(id, json!({"name": format!("Burst edit {n}")}))
            .await;
    }
    let deltas = Deltas::start(&config);
    store.reset_stats().await;

    // As fast as a receiver commits them: a few events a commit, a commit every few ms.
    let started = std::time::Instant::now();
    for chunk in burst.chunks(5) {
        let hooks: Vec<Webhook> = chunk
            .iter()
            .map(|&id| Webhook::new("product.updated", id))
            .collect();
        deltas.receive(&db, &hooks);
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let received_in = started.elapsed();
    wait_for_no_pending(&db, 20).await;

    let requests = store.request_count("GET /products").await;
    println!(
        "1000 events received in {:.2} s, applied with {requests} product requests",
        received_in.as_secs_f64()
    );
    assert!(
        requests <= 15,
        "{requests} product requests for 1000 events"
    );
    assert_eq!(events_in(&db, "applied"), 1000);
    assert_products_equal_store(&open(&db), &store.state().await);
    deltas.stop().await;
}

#[tokio::test]
async fn many_events_for_one_entity_cost_one_read_and_an_unchanged_entity_is_an_echo() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let id = product_ids(&store.state().await)[3];
    store
        .admin_edit_product(id, json!({"name": "Edited once"}))
        .await;
    let deltas = Deltas::start(&config);
    store.reset_stats().await;

    let hooks: Vec<Webhook> = (0..50)
        .map(|_| Webhook::new("product.updated", id))
        .collect();
    deltas.receive(&db, &hooks);
    wait_for_no_pending(&db, 10).await;
    assert_eq!(store.request_count("GET /products").await, 1);
    assert_eq!(events_in(&db, "applied"), 50);
    assert_eq!(product_name(&db, id).as_deref(), Some("Edited once"));

    // The mirror holds the product as it is: more news of it are echoes.
    let hooks: Vec<Webhook> = (0..20)
        .map(|_| Webhook::new("product.updated", id))
        .collect();
    deltas.receive(&db, &hooks);
    wait_for_no_pending(&db, 10).await;
    assert_eq!(store.request_count("GET /products").await, 2);
    assert_eq!(events_in(&db, "echo"), 20);
    assert_eq!(deltas.counts.events_echoed.load(Ordering::Relaxed), 20);
    assert_eq!(deltas.counts.entities_applied(Kind::Products), 1);
    deltas.stop().await;
}

#[tokio::test]
async fn an_older_event_or_an_older_document_never_overwrites_a_newer_copy() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let id = product_ids(&store.state().await)[8];
    let deltas = Deltas::start(&config);

    // The newer event arrives first, the older one after it.
    store
        .admin_edit_product(id, json!({"name": "First edit"}))
        .await;
    let mut older = Webhook::new("product.updated", id);
    store
        .admin_edit_product(id, json!({"name": "Second edit"}))
        .await;
    let newer = Webhook::new("product.updated", id);
    older.created -= 5;
    deltas.receive(&db, &[newer]);
    wait_for_no_pending(&db, 10).await;
    deltas.receive(&db, &[older]);
    wait_for_no_pending(&db, 10).await;
    assert_eq!(product_name(&db, id).as_deref(), Some("Second edit"));

    // The mirror holds a copy newer than what Ecwid answers (a pull wrote it while the read
    // was in flight): the answer must not overwrite it.
    let future = unix_now() + 3600;
    write_as_daemon(
        &db,
        &format!(
            "UPDATE products SET name = 'Newer copy', updated_at = {future},
                    raw_json = json_set(raw_json, '$.name', 'Newer copy')
              WHERE id = {id}"
        ),
    );
    deltas.receive(&db, &[Webhook::new("product.updated", id)]);
    wait_for_no_pending(&db, 10).await;
    assert_eq!(product_name(&db, id).as_deref(), Some("Newer copy"));
    assert_eq!(
        events_in(&db, "echo"),
        2,
        "the older event and the older answer changed nothing"
    );
    deltas.stop().await;
}

#[tokio::test]
async fn a_deleted_event_removes_a_row_only_when_ecwid_confirms_the_entity_is_gone() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let ids = product_ids(&store.state().await);
    // The kept product lies beyond the first page of an unfiltered listing.
    let (kept, deleted, deleted_unfiltered) = (ids[200], ids[11], ids[12]);
    let deltas = Deltas::start(&config);
    let rows = |id: i64| {
        count(
            &db,
            &format!("SELECT count(*) FROM products WHERE id = {id}"),
        )
    };

    store.admin_delete_product(deleted).await;
    deltas.receive(
        &db,
        &[
            Webhook::new("product.deleted", kept),
            Webhook::new("product.deleted", deleted),
        ],
    );
    wait_for_no_pending(&db, 10).await;
    assert_eq!(rows(kept), 1, "a product Ecwid still has stays");
    assert_eq!(rows(deleted), 0, "a product Ecwid no longer has goes");

    // An id list Ecwid answers unfiltered proves no absence: each id is read on its own,
    // and only the 404 removes the row.
    store.admin_delete_product(deleted_unfiltered).await;
    store
        .set_faults(json!({"ignored_params": ["productId"]}))
        .await;
    deltas.receive(
        &db,
        &[
            Webhook::new("product.deleted", kept),
            Webhook::new("product.deleted", deleted_unfiltered),
        ],
    );
    wait_for_no_pending(&db, 10).await;
    assert_eq!(rows(kept), 1);
    assert_eq!(rows(deleted_unfiltered), 0);
    assert_eq!(events_in(&db, "applied"), 2);
    assert_eq!(events_in(&db, "echo"), 2);
    deltas.stop().await;
}

#[tokio::test]
async fn an_order_that_became_unfinished_leaves_the_mirror_even_when_named_by_public_id_only() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let orders = listed_orders(&state);
    let (by_internal, by_public) = (orders[0], orders[1]);
    let deltas = Deltas::start(&config);
    let rows = |o: &Value| {
        count(
            &db,
            &format!(
                "SELECT count(*) FROM orders WHERE order_number = {}",
                o["internalId"]
            ),
        )
    };
    assert_eq!(rows(by_internal) + rows(by_public), 2);

    let mut hooks = Vec::new();
    for order in [by_internal, by_public] {
        let public = order["id"].as_str().unwrap();
        store
            .admin_edit_order(public, json!({"paymentStatus": "INCOMPLETE"}))
            .await;
    }
    hooks.push(Webhook::order(
        "unfinished_order.updated",
        by_internal["internalId"].as_i64().unwrap(),
        by_internal["id"].as_str().unwrap(),
    ));
    // Newer stores send entityId -1: the receiver records no internal id.
    hooks.push(Webhook::order(
        "unfinished_order.updated",
        -1,
        by_public["id"].as_str().unwrap(),
    ));
    store.reset_stats().await;
    deltas.receive(&db, &hooks);
    wait_for_no_pending(&db, 10).await;
    assert_eq!(rows(by_internal), 0);
    assert_eq!(rows(by_public), 0);
    assert_eq!(events_in(&db, "applied"), 2);
    assert_eq!(
        store.request_count("GET /orders").await,
        1,
        "internal and public ids share one ids= list"
    );
    deltas.stop().await;
}

#[tokio::test]
async fn a_read_that_fails_keeps_its_events_pending_with_the_error_and_is_retried() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let text = config_text(&store, &db, &store.config.token, "")
        .replace("max_retries = 12", "max_retries = 0");
    let config = Config::parse(&text, &SecretEnv::default()).unwrap();
    pass(&config, false).await;
    let id = product_ids(&store.state().await)[4];
    store
        .admin_edit_product(id, json!({"name": "Edited during an outage"}))
        .await;
    store
        .set_faults(json!({"error_503_rate": 1.0, "path_contains": "/products"}))
        .await;
    let deltas = Deltas::start(&config);
    deltas.receive(&db, &[Webhook::new("product.updated", id)]);

    let attempts = "SELECT attempts FROM webhook_events WHERE state = 'pending'";
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(&db, attempts) >= 2
        })
        .await,
        "the failed read is tried again"
    );
    let error: String = open(&db)
        .query_row("SELECT last_error FROM webhook_events", [], |r| r.get(0))
        .unwrap();
    assert!(error.contains("503"), "{error}");
    assert!(deltas.counts.fetch_failures.load(Ordering::Relaxed) >= 2);
    assert_ne!(
        product_name(&db, id).as_deref(),
        Some("Edited during an outage")
    );

    store.set_faults(json!({})).await;
    wait_for_no_pending(&db, 10).await;
    assert_eq!(events_in(&db, "applied"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM webhook_events WHERE attempts >= 3 AND last_error LIKE '%503%'"
        ),
        1,
        "the attempts and the last failure stay on the applied event"
    );
    assert_eq!(
        product_name(&db, id).as_deref(),
        Some("Edited during an outage")
    );
    deltas.stop().await;
}

#[tokio::test]
async fn processed_events_are_pruned_after_the_retention_and_pending_ones_never() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let id = product_ids(&store.state().await)[0];
    let day = 86_400;
    let now = unix_now();
    let conn = open_as_daemon(&db);
    for (event_id, state, processed_at, received_at) in [
        ("old-applied", "applied", Some(now - 8 * day), now - 8 * day),
        ("recent-echo", "echo", Some(now - 6 * day), now - 6 * day),
        ("old-ignored", "ignored", None, now - 8 * day),
        ("old-pending", "pending", None, now - 30 * day),
    ] {
        conn.execute(
            "INSERT INTO webhook_events (event_id, event_type, kind, entity_key, event_created,
                 received_at, state, processed_at)
             VALUES (?1, 'product.updated', 'products', ?2, ?3, ?3, ?4, ?5)",
            rusqlite::params![event_id, id, received_at, state, processed_at],
        )
        .unwrap();
    }
    drop(conn);

    let deltas = Deltas::start(&config);
    wait_for_no_pending(&db, 10).await;
    let left = |event_id: &str| {
        count(
            &db,
            &format!("SELECT count(*) FROM webhook_events WHERE event_id = '{event_id}'"),
        )
    };
    assert!(
        wait_until(Duration::from_secs(5), || async {
            left("old-applied") == 0
        })
        .await,
        "a processed event past the retention is pruned"
    );
    assert_eq!(left("old-ignored"), 0);
    assert_eq!(left("recent-echo"), 1, "within the retention");
    assert_eq!(
        left("old-pending"),
        1,
        "applied, not pruned, however old it was"
    );
    deltas.stop().await;
}

/// Runs the daemon in this process until `done` holds, then stops it.
async fn run_daemon_until<F, Fut>(config: &Config, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let shutdown = CancellationToken::new();
    let run = {
        let (stores, shutdown) = (Stores::single(config.clone()), shutdown.clone());
        tokio::spawn(async move {
            daemon::run_with(&stores, None, Shared::default(), shutdown, || {}).await
        })
    };
    let reached = wait_until(Duration::from_secs(20), done).await;
    shutdown.cancel();
    run.await.unwrap().expect("the daemon stops cleanly");
    assert!(reached, "the daemon did not get there");
}

#[tokio::test]
async fn pulls_count_changes_no_webhook_announced_only_while_webhooks_are_configured() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let ids = product_ids(&store.state().await);
    let gaps = || count(&db, "SELECT sum(webhook_gaps) FROM sync_state");
    // A page's gaps are committed with its rows.
    let named = |id: i64, name: &'static str| {
        let db = db.clone();
        move || {
            let db = db.clone();
            async move {
                product_name(&db, id).as_deref() == Some(name) && events_in(&db, "pending") == 0
            }
        }
    };

    // Without a client secret no webhook can arrive: nothing is a gap.
    store
        .admin_edit_product(ids[0], json!({"name": "Unannounced, webhooks off"}))
        .await;
    run_daemon_until(&config, named(ids[0], "Unannounced, webhooks off")).await;
    assert_eq!(gaps(), 0);

    let text = config_text(&store, &db, &store.config.token, "").replace(
        "[mirror]",
        "client_secret = \"test_client_secret\"\n\n[mirror]",
    );
    let with_webhooks = Config::parse(&text, &SecretEnv::default()).unwrap();
    store
        .admin_edit_product(ids[1], json!({"name": "Announced"}))
        .await;
    store
        .admin_edit_product(ids[2], json!({"name": "Unannounced"}))
        .await;
    receive(&db, &[Webhook::new("product.updated", ids[1])]);
    let start = unix_now();
    run_daemon_until(&with_webhooks, named(ids[2], "Unannounced")).await;
    assert_eq!(product_name(&db, ids[1]).as_deref(), Some("Announced"));
    assert_eq!(
        count(
            &db,
            "SELECT webhook_gaps FROM sync_state WHERE kind = 'products'"
        ),
        1,
        "the unannounced edit is one gap, the announced one none"
    );
    assert_eq!(gaps(), 1);

    // `status` shows the webhook figures.
    receive(&db, &[Webhook::new("product.updated", ids[3])]);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args(["status", "--json", "--mirror", db.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let webhooks = &status["webhooks"];
    assert_eq!(webhooks["pending"], 1, "{status}");
    assert!(webhooks["oldest_pending_age_secs"].as_i64().unwrap() >= 0);
    assert!(webhooks["last_received_at"].as_i64().unwrap() >= start);
    assert_eq!(webhooks["gaps"]["products"], 1);
    assert_eq!(webhooks["gaps"]["orders"], 0);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args(["status", "--mirror", db.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("webhook events: 1 pending (oldest received"),
        "{text}"
    );
    assert!(
        text.contains("no webhook had announced): categories 0, customers 0, orders 0, products 1"),
        "{text}"
    );
}

/// Sums what the daemon's log says it applied (`applied` + `echoes` of each batch's line).
fn settled_in_log(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "webhook events applied")
        .map(|l| l["fields"]["applied"].as_u64().unwrap() + l["fields"]["echoes"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn kill_9_with_events_pending_then_restart_applies_every_event_exactly_once() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "");
    let args = [
        "--log-format",
        "json",
        "--log-level",
        "info,ecwid_sync=debug",
        "run",
    ];
    let mut daemon = spawn_ecwid_sync(&config, &args, Stdio::piped());
    let first_log = StderrLog::collect(&mut daemon);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(
                &db,
                "SELECT count(*) FROM sync_state WHERE last_incremental IS NOT NULL",
            ) == 4
        })
        .await,
        "the first pass ends"
    );
    let ids = product_ids(&store.state().await);

    // A first wave is applied by the first process (it finds it within a second: it cannot
    // be woken from another process).
    let wave = |range: std::ops::Range<usize>| -> Vec<Webhook> {
        ids[range]
            .iter()
            .map(|&id| Webhook::new("product.updated", id))
            .collect()
    };
    for &id in &ids[0..30] {
        store
            .admin_edit_product(id, json!({"name": format!("wave one {id}")}))
            .await;
    }
    receive(&db, &wave(0..30));
    wait_for_no_pending(&db, 10).await;

    // The second wave's read hangs in a slow store; the process is killed meanwhile.
    for &id in &ids[30..70] {
        store
            .admin_edit_product(id, json!({"name": format!("wave two {id}")}))
            .await;
    }
    store
        .set_faults(json!({"latency_ms": 5000, "path_contains": "/products"}))
        .await;
    // Counted on arrival: a count of answered requests would show the read only once it
    // had ended, when the worker may already have applied the wave.
    let before = store.arrived_count("GET /products").await;
    receive(&db, &wave(30..70));
    assert!(
        wait_until(Duration::from_secs(10), || async {
            store.arrived_count("GET /products").await > before
        })
        .await,
        "the worker starts reading the second wave"
    );
    let pid = daemon.id().unwrap() as i32;
    unsafe { libc::kill(pid, libc::SIGKILL) };
    daemon.wait().await.unwrap();
    assert_eq!(
        events_in(&db, "pending"),
        40,
        "the second wave is still pending"
    );

    store.set_faults(json!({})).await;
    let mut daemon = spawn_ecwid_sync(&config, &args, Stdio::piped());
    let second_log = StderrLog::collect(&mut daemon);
    wait_for_no_pending(&db, 20).await;
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));

    let settled = count(
        &db,
        "SELECT count(*) FROM webhook_events WHERE state IN ('applied', 'echo') AND processed_at IS NOT NULL",
    );
    assert_eq!(settled, 70);
    let (first, second) = (
        settled_in_log(&first_log.text()),
        settled_in_log(&second_log.text()),
    );
    assert_eq!(
        (first, second),
        (30, 40),
        "each event settled once: 30 before the kill, the other 40 after the restart"
    );
    assert_products_equal_store(&open(&db), &store.state().await);
}
