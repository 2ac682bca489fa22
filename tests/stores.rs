//! Many stores, one daemon: three emulated stores (three store ids, tokens and secrets), each a
//! file of `stores.d/`, mirrored by one `ecwid-sync run` that receives every store's webhooks
//! at one address. Each store keeps to itself: its webhooks land in its mirror, its local
//! changes reach it and no other, its failure stops it alone, a reload adds and removes
//! stores, and kill -9 keeps every store's stock exact.

mod common;

use std::time::Duration;

use ecwid_emulator::EmulatorConfig;
use serde_json::Value;

use common::drills::{Drill, ManyStores, crash_store, kill_9};
use common::stock::{self, tool_change};
use common::*;

const NAMES: [&str; 3] = ["north", "south", "west"];

/// Three small stores, apart in everything Ecwid tells apart: store id, token, app secret.
fn three_stores() -> Vec<EmulatorConfig> {
    (0..3)
        .map(|i| EmulatorConfig {
            store_id: 2001 + i,
            token: format!("secret_token_{i}"),
            client_secret: format!("app_secret_{i}"),
            seed: 7 + i,
            // Orders' ids tell the stores apart in the inboxes.
            order_id_prefix: format!("S{i}-"),
            ..crash_store(60)
        })
        .collect()
}

fn products_in(db: &std::path::Path) -> i64 {
    count(db, "SELECT count(*) FROM products")
}

/// Waits until `drill`'s mirror holds all its store's products.
async fn mirrored(drill: &Drill) -> bool {
    let expected = drill.store.state().await["products"]
        .as_array()
        .map_or(0, Vec::len) as i64;
    wait_until(Duration::from_secs(60), || async {
        products_in(&drill.db) == expected
    })
    .await
}

/// Waits until every store's mirror holds all its products.
async fn all_mirrored(stores: &ManyStores) -> bool {
    for drill in &stores.drills {
        if !mirrored(drill).await {
            return false;
        }
    }
    true
}

/// The storefront of `drill`'s store sells `units` of a product; waits until the mirror
/// shows it. The order, and whether the mirror followed.
async fn sale_followed(drill: &Drill, units: i64) -> (Value, bool) {
    let entity = sellable(&drill.store.state().await);
    let before = mirror_stock(&drill.db, entity);
    let order = drill.store.sale(entity.0, entity.1, units).await;
    let followed = wait_until(Duration::from_secs(20), || async {
        mirror_stock(&drill.db, entity) == before - units
    })
    .await;
    (order, followed)
}

async fn get(stores: &ManyStores, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{}{path}", stores.listen))
        .await
        .expect("the daemon answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A product of `drill`'s store with stock the storefront sells from.
fn sellable(state: &Value) -> (i64, Option<i64>) {
    let stock = stock::store_stock(state);
    *stock
        .iter()
        .find(|(entity, q)| **q >= 30 && stock::sold_by_storefront(state, **entity))
        .expect("a sellable product")
        .0
}

fn mirror_stock(db: &std::path::Path, entity: (i64, Option<i64>)) -> i64 {
    stock::mirror_stock(db, entity).unwrap_or(0)
}

/// SIGTERM, as systemd sends it, ends the daemon with exit code 0.
async fn stops_cleanly(daemon: &mut tokio::process::Child, log: &StderrLog) {
    assert_eq!(terminate(daemon).await.code(), Some(0), "{}", log.text());
}

/// How many rows `sql` returns.
fn rows_of(conn: &rusqlite::Connection, sql: &str) -> usize {
    let mut statement = conn.prepare(sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
    let mut rows = statement.query([]).unwrap();
    let mut n = 0;
    while rows.next().unwrap().is_some() {
        n += 1;
    }
    n
}

#[tokio::test]
async fn three_stores_in_one_daemon_each_mirrored_each_webhook_and_change_in_its_own_store() {
    let stores = ManyStores::start(three_stores(), &NAMES, 31).await;
    let mut daemon = stores.daemon();
    let log = StderrLog::collect(&mut daemon);
    assert!(all_mirrored(&stores).await, "{}", log.text());

    // A sale in each store reaches that store's mirror through the one webhook address,
    // and its order's events land in that mirror's inbox only.
    let mut orders = Vec::new();
    for drill in &stores.drills {
        let (order, followed) = sale_followed(drill, 2).await;
        orders.push(order["orderId"].as_str().expect("an order id").to_string());
        assert!(
            followed,
            "a sale in store {}: {}",
            drill.store.config.store_id,
            log.text()
        );
    }
    for (i, drill) in stores.drills.iter().enumerate() {
        for (j, order) in orders.iter().enumerate() {
            let events = count(
                &drill.db,
                &format!("SELECT count(*) FROM webhook_events WHERE order_id = '{order}'"),
            );
            assert_eq!(
                events > 0,
                i == j,
                "store {i}'s inbox and the order of store {j}"
            );
        }
    }

    // A stock change written in the first store's mirror reaches that store and only it.
    let drills = &stores.drills;
    let batches = |i: usize| async move { drills[i].store.request_count("POST /batch").await };
    let before = [batches(0).await, batches(1).await, batches(2).await];
    let north = &stores.drills[0];
    let entity = sellable(&north.store.state().await);
    let store_before = stock::store_stock(&north.store.state().await)[&entity];
    tool_change(&north.db, entity, 5);
    let pushed = wait_until(Duration::from_secs(20), || async {
        stock::store_stock(&north.store.state().await)[&entity] == store_before + 5
    })
    .await;
    assert!(pushed, "{}", log.text());
    assert!(batches(0).await > before[0]);
    assert_eq!(batches(1).await, before[1], "south got a batch");
    assert_eq!(batches(2).await, before[2], "west got a batch");

    // Operators see every store: in health, in metrics, in the log.
    let (status, ready) = get(&stores, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let ready: Value = serde_json::from_str(&ready).unwrap();
    for name in NAMES {
        assert_eq!(ready["stores"][name]["ready"], true, "{ready}");
    }
    let (_, metrics) = get(&stores, "/metrics").await;
    for name in NAMES {
        assert!(
            metrics.contains(&format!("ecwid_sync_store_up{{store=\"{name}\"}} 1")),
            "{metrics}"
        );
    }
    assert_eq!(metrics.matches("# HELP ecwid_sync_store_up ").count(), 1);
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            line.contains("store=\""),
            "a series without its store: {line}"
        );
    }
    for name in NAMES {
        assert!(
            log.contains(&format!("store=\"{name}\"")) || log.contains(&format!("store={name}")),
            "no log line of {name}: {}",
            log.text()
        );
    }

    // `status` lists every store; --store picks one.
    let all = run_as_operator(&stores.config, &["status"]);
    let all = String::from_utf8_lossy(&all.stdout);
    for name in NAMES {
        assert!(all.contains(name), "{all}");
    }
    let one = run_as_operator(&stores.config, &["status", "--store", "south"]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );

    // The queries docs/stores.md gives for reading several mirrors at once run as written.
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/stores.md")).unwrap();
    let sql = docs
        .split("```sql\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an SQL example in docs/stores.md")
        .replace(
            "file:/var/lib/ecwid-sync/south.db?mode=ro",
            &format!("file:{}?mode=ro", stores.drills[1].db.display()),
        );
    let conn = open(&stores.drills[0].db);
    let mut statements = sql.split(';').map(str::trim).filter(|s| !s.is_empty());
    conn.execute_batch(statements.next().expect("the ATTACH"))
        .unwrap();
    let stock_rows = rows_of(&conn, statements.next().expect("the stock query"));
    let skus = count(
        &stores.drills[0].db,
        "SELECT count(DISTINCT sku) FROM products WHERE sku IS NOT NULL",
    );
    assert!(
        stock_rows as i64 >= skus,
        "{stock_rows} rows for {skus} SKUs"
    );
    let sales_rows = rows_of(&conn, statements.next().expect("the sales query"));
    assert!(sales_rows >= 2, "both stores sold this month: {sales_rows}");

    stops_cleanly(&mut daemon, &log).await;
}

#[tokio::test]
async fn a_store_whose_token_is_refused_stops_alone_while_the_others_follow_their_sales() {
    let mut configs = three_stores();
    // The daemon's file for the third store names a token its store refuses.
    configs[2].token = "secret_token_store_knows".into();
    let stores = ManyStores::start(configs, &NAMES, 41).await;
    let west = stores.store_file("west");
    let text = std::fs::read_to_string(&west)
        .unwrap()
        .replace("secret_token_store_knows", "secret_token_revoked");
    std::fs::write(&west, text).unwrap();
    let mut daemon = stores.daemon();
    let log = StderrLog::collect(&mut daemon);

    for drill in &stores.drills[..2] {
        assert!(mirrored(drill).await, "{}", log.text());
    }
    let refused = wait_until(Duration::from_secs(20), || async {
        let (status, body) = get(&stores, "/readyz").await;
        status == 503 && body.contains("\"failing_stores\":[\"west\"]")
    })
    .await;
    assert!(refused, "{}", get(&stores, "/readyz").await.1);
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon stays up");
    let (_, metrics) = get(&stores, "/metrics").await;
    assert!(
        metrics.contains("ecwid_sync_store_up{store=\"west\"} 0"),
        "{metrics}"
    );

    // The healthy stores' sales still reach their mirrors.
    for drill in &stores.drills[..2] {
        assert!(sale_followed(drill, 1).await.1, "{}", log.text());
    }
    assert!(log.contains("the store cannot start"), "{}", log.text());

    // Mended and reloaded, the store starts.
    let text = std::fs::read_to_string(&west)
        .unwrap()
        .replace("secret_token_revoked", "secret_token_store_knows");
    std::fs::write(&west, text).unwrap();
    unsafe { libc::kill(daemon.id().unwrap() as i32, libc::SIGHUP) };
    assert!(mirrored(&stores.drills[2]).await, "{}", log.text());
    stops_cleanly(&mut daemon, &log).await;
}

/// How long the storefront's sales in `drill`'s store take to reach its mirror: the slowest
/// of three, in seconds.
async fn slowest_sale(drill: &Drill) -> f64 {
    let mut slowest: f64 = 0.0;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert!(sale_followed(drill, 1).await.1, "a sale reaches the mirror");
        slowest = slowest.max(started.elapsed().as_secs_f64());
    }
    slowest
}

#[tokio::test]
async fn a_store_throttled_for_an_hour_delays_no_other_stores_sales() {
    let stores = ManyStores::start(three_stores(), &NAMES, 71).await;
    let mut daemon = stores.daemon();
    let log = StderrLog::collect(&mut daemon);
    assert!(all_mirrored(&stores).await, "{}", log.text());
    let healthy = [
        slowest_sale(&stores.drills[0]).await,
        slowest_sale(&stores.drills[1]).await,
    ];

    // Every request of the third store's token is answered 429 with an hour to wait, and
    // its storefront sells, so that its worker has reads to make and waits.
    let west = &stores.drills[2];
    west.store
        .set_faults(serde_json::json!({"storm_429_requests": 1_000_000, "retry_after_secs": 3600}))
        .await;
    let entity = sellable(&west.store.state().await);
    west.store.sale(entity.0, entity.1, 1).await;
    let throttled = wait_until(Duration::from_secs(20), || async {
        west.store.stats().await["status"]["429"]
            .as_u64()
            .unwrap_or(0)
            > 0
    })
    .await;
    assert!(
        throttled,
        "the third store's reads are throttled: {}",
        log.text()
    );

    let beside = [
        slowest_sale(&stores.drills[0]).await,
        slowest_sale(&stores.drills[1]).await,
    ];
    for (healthy, beside) in healthy.iter().zip(beside) {
        // As fast as beside a healthy store, give or take the machine's noise.
        assert!(
            beside <= (2.0 * healthy).max(2.0),
            "a sale took {beside:.2} s beside the throttled store, {healthy:.2} s before"
        );
    }
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon stays up");
    stops_cleanly(&mut daemon, &log).await;
}

#[tokio::test]
async fn a_reload_starts_a_store_whose_file_appeared_and_stops_one_whose_file_went_away() {
    let mut configs = three_stores();
    let fourth = EmulatorConfig {
        store_id: 2004,
        token: "secret_token_3".into(),
        client_secret: "app_secret_3".into(),
        seed: 10,
        ..crash_store(40)
    };
    configs.push(fourth);
    let stores = ManyStores::start(configs, &["north", "south", "west", "east"], 51).await;
    // The fourth store's file waits aside until the reload.
    let east = stores.store_file("east");
    let east_text = std::fs::read_to_string(&east).unwrap();
    std::fs::remove_file(&east).unwrap();
    let mut daemon = stores.daemon();
    let log = StderrLog::collect(&mut daemon);
    for drill in &stores.drills[..3] {
        assert!(mirrored(drill).await, "{}", log.text());
    }

    std::fs::write(&east, east_text).unwrap();
    std::fs::remove_file(stores.store_file("west")).unwrap();
    unsafe { libc::kill(daemon.id().unwrap() as i32, libc::SIGHUP) };

    assert!(mirrored(&stores.drills[3]).await, "{}", log.text());
    assert!(
        wait_until(Duration::from_secs(20), || async {
            log.contains("store removed from the configuration: stopped")
        })
        .await,
        "{}",
        log.text()
    );
    // The removed store's webhooks are refused now, and nothing reaches its mirror.
    let west = &stores.drills[2];
    let events = count(&west.db, "SELECT count(*) FROM webhook_events");
    let entity = sellable(&west.store.state().await);
    west.store.sale(entity.0, entity.1, 1).await;
    let (_, ready) = get(&stores, "/readyz").await;
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert!(ready["stores"].get("west").is_none(), "{ready}");
    assert_eq!(ready["stores"]["east"]["ready"], true, "{ready}");
    // The kept stores ran on: a sale in the first store still arrives.
    assert!(
        sale_followed(&stores.drills[0], 1).await.1,
        "{}",
        log.text()
    );
    assert_eq!(
        count(&west.db, "SELECT count(*) FROM webhook_events"),
        events
    );
    let (_, metrics) = get(&stores, "/metrics").await;
    assert!(!metrics.contains("store=\"west\""), "{metrics}");
    assert!(metrics.contains("store=\"east\""));
    stops_cleanly(&mut daemon, &log).await;
}

#[tokio::test]
async fn kill_9_rounds_across_three_stores_keep_each_stores_stock_exact() {
    let mut stores = ManyStores::start(three_stores(), &NAMES, 61).await;
    let mut daemon = stores.daemon();
    stores
        .hold(Duration::from_secs(60))
        .await
        .expect("converged before the first round");
    for round in 0..4u64 {
        for drill in &mut stores.drills {
            drill.local_changes(3);
            drill.sales(2).await;
            drill.new_products(1);
        }
        // Killed at a moment that differs round to round, with changes on their way.
        tokio::time::sleep(Duration::from_millis(30 + 70 * round)).await;
        kill_9(&mut daemon).await;
        daemon = stores.daemon();
        if let Err(why) = stores.hold(Duration::from_secs(60)).await {
            panic!("round {round}: {why}");
        }
    }
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}
