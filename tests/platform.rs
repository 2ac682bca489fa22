//! The platform as it is today (contract section 17): order identity, ignored filters,
//! search index lag, keyed batches, long Retry-After, and the checks that schedule a full
//! pull.

mod common;

use std::time::Duration;

use common::*;
use ecwid_sync::commands::sync_once;
use ecwid_sync::ecwid::Client;
use ecwid_sync::ecwid::batch::BatchOptions;
use ecwid_sync::ecwid::model::BatchRequest;
use ecwid_sync::mirror::MirrorWriter;
use ecwid_sync::mirror::state::StateUpdate;
use ecwid_sync::sync::progress::ProgressMode;
use ecwid_sync::sync::{Kind, Mode, Puller, fetch};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn unix_now() -> i64 {
    ecwid_sync::mirror::unix_now()
}

/// The listed orders of the store, as (internalId, string id).
fn order_ids(state: &Value) -> Vec<(i64, String)> {
    listed_orders(state)
        .into_iter()
        .map(|o| {
            (
                o["internalId"].as_i64().expect("internalId"),
                o["id"].as_str().expect("string id").to_string(),
            )
        })
        .collect()
}

fn mirror_order_keys(db: &std::path::Path) -> Vec<i64> {
    query(&open(db), "SELECT order_number FROM orders ORDER BY 1")
        .into_iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn orders_are_keyed_by_internal_id_and_one_without_order_number_is_mirrored_too() {
    let store = TestStore::start(TestStore::small()).await;
    let state = store.state().await;
    let (internal, string_id) = order_ids(&state)[3].clone();
    assert_ne!(internal.to_string(), string_id, "the ids differ in kind");
    store
        .admin_edit_order_unchecked(&string_id, json!({"orderNumber": null}))
        .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config(&store, &db);

    pass(&config, false).await;

    let state = store.state().await;
    let without = state["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["internalId"] == internal)
        .unwrap();
    assert!(without.get("orderNumber").is_none(), "{without}");
    let conn = open(&db);
    let row = query(
        &conn,
        &format!("SELECT id FROM orders WHERE order_number = {internal}"),
    );
    assert_eq!(row, vec![json!([string_id])]);
    assert_mirror_equals_store(&conn, &state);
}

#[tokio::test]
async fn an_order_whose_key_cannot_be_read_is_reported_and_the_rest_of_its_page_is_applied() {
    let store = TestStore::start(TestStore::small()).await;
    let ids = order_ids(&store.state().await);
    let (broken_internal, broken) = ids[5].clone();
    store
        .admin_edit_order_unchecked(
            &broken,
            json!({"orderNumber": null, "internalId": "not a number"}),
        )
        .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config(&store, &db);

    let err = sync_once(
        &config,
        &[Kind::Orders],
        false,
        ProgressMode::Log,
        CancellationToken::new(),
    )
    .await
    .expect_err("the run reports the unreadable order");

    let text = err.to_string();
    assert!(text.contains("(no readable key)"), "{text}");
    assert!(
        text.contains("internalId"),
        "the message names the field: {text}"
    );
    let mut expected: Vec<i64> = ids
        .iter()
        .map(|(k, _)| *k)
        .filter(|&k| k != broken_internal)
        .collect();
    expected.sort();
    assert_eq!(mirror_order_keys(&db), expected);
}

/// Makes an order the listing cannot show yet reach the mirror the way a webhook delta
/// will: re-read by id, which sees writes at once.
async fn mirror_by_id(config: &ecwid_sync::config::Config, kind: Kind, keys: &[i64]) {
    let client = Client::new(&config.ecwid).unwrap();
    let found = fetch::by_keys(&client, kind, keys).await.unwrap();
    assert_eq!(found.rows.len(), keys.len());
    let writer = MirrorWriter::open(&config.mirror, CancellationToken::new()).unwrap();
    writer
        .apply_page(
            found.rows,
            unix_now(),
            StateUpdate::default(),
            Default::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_pull_over_a_lagging_search_keeps_every_order_while_ecwid_ignores_order_number() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    store.set_faults(json!({"index_lag_secs": 600.0})).await;
    let product = store.state().await["products"][0]["id"].as_i64().unwrap();
    let sale = store.sale(product, None, 1).await;
    let new_order = sale["id"].as_i64().expect("the sale's internal id");
    mirror_by_id(&config, Kind::Orders, &[new_order]).await;
    let listed = store.api_get("/orders?limit=100").await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["internalId"] != new_order),
        "the search must not show the new order yet"
    );
    store.reset_stats().await;

    let summaries = pass(&config, true).await;

    assert!(mirror_order_keys(&db).contains(&new_order));
    let store_orders: Vec<i64> = order_ids(&store.state().await)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut expected = store_orders.clone();
    expected.sort();
    assert_eq!(mirror_order_keys(&db), expected, "no order lost");
    assert_eq!(summary(&summaries, Kind::Orders).ignored_filters, 0);
    assert_eq!(summary(&summaries, Kind::Orders).removed, 0);
}

#[tokio::test]
async fn an_id_list_answer_with_entities_not_asked_for_proves_no_absence_and_is_reported() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let before = order_ids(&state).len();
    store.set_faults(json!({"index_lag_secs": 600.0})).await;
    let product = state["products"][0]["id"].as_i64().unwrap();
    let new_order = store.sale(product, None, 1).await["id"].as_i64().unwrap();
    mirror_by_id(&config, Kind::Orders, &[new_order]).await;
    // Now Ecwid answers `ids=` with the unfiltered listing, which lacks the new order.
    store
        .set_faults(json!({"index_lag_secs": 600.0, "ignored_params": ["ids"]}))
        .await;
    store.reset_stats().await;

    let summaries = pass(&config, true).await;

    let orders = summary(&summaries, Kind::Orders);
    assert!(orders.ignored_filters >= 1, "{orders:?}");
    assert_eq!(orders.removed, 0);
    assert!(mirror_order_keys(&db).contains(&new_order), "kept");
    assert_eq!(mirror_order_keys(&db).len(), before + 1);
    let stats = store.stats().await;
    assert!(
        stats["requests"]
            .as_object()
            .unwrap()
            .iter()
            .any(|(route, n)| route.starts_with("GET /orders/{") && n.as_u64() >= Some(1)),
        "the order was read by its id: {stats}"
    );
}

/// Edits two products and an order with the store's search 20 s behind, runs a pass at
/// once, then another once the search shows the edits, with a lag allowance of
/// `allowance` seconds. Returns whether the mirror then holds the edits, and the modes run.
async fn edits_seen_after_the_search_caught_up(allowance: u64) -> (bool, Vec<Mode>) {
    const LAG: f64 = 20.0;
    let (store, _scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.sync.search_lag = Duration::from_secs(allowance);
    store.set_faults(json!({"index_lag_secs": LAG})).await;
    let state = store.state().await;
    let products: Vec<i64> = (0..2)
        .map(|i| state["products"][i]["id"].as_i64().unwrap())
        .collect();
    for id in &products {
        store
            .admin_edit_product(*id, json!({"price": 4321.5}))
            .await;
    }
    let (_, order) = order_ids(&state)[0].clone();
    store
        .admin_edit_order(&order, json!({"fulfillmentStatus": "OUT_FOR_DELIVERY"}))
        .await;
    let edited_at = unix_now();

    // Once the store's clock has moved past the allowance, the first pass runs while the
    // search does not show the edits yet.
    assert!(
        wait_until(Duration::from_secs(allowance + 5), || async {
            unix_now() > edited_at + allowance as i64
        })
        .await
    );
    let mut modes: Vec<Mode> = pass(&config, false).await.iter().map(|s| s.mode).collect();
    let filter = format!("/products?updatedFrom={}&limit=100", edited_at - 5);
    assert!(
        wait_until(Duration::from_secs(60), || async {
            store.api_get(&filter).await["total"].as_u64() >= Some(2)
        })
        .await,
        "the search shows the edits after the lag"
    );
    modes.extend(pass(&config, false).await.iter().map(|s| s.mode));

    let conn = open(&db);
    let prices = query(
        &conn,
        &format!(
            "SELECT count(*) FROM products WHERE price = 4321.5 AND id IN ({}, {})",
            products[0], products[1]
        ),
    );
    let shipped = query(
        &conn,
        &format!(
            "SELECT count(*) FROM orders WHERE id = '{order}' AND fulfillment_status = 'OUT_FOR_DELIVERY'"
        ),
    );
    (prices[0][0] == 2 && shipped[0][0] == 1, modes)
}

#[tokio::test]
async fn edits_just_before_a_pass_reach_the_mirror_when_the_allowance_covers_the_search_lag() {
    let (seen, modes) = edits_seen_after_the_search_caught_up(30).await;
    assert!(seen, "every edit is in the mirror");
    assert!(
        modes.iter().all(|m| *m == Mode::Incremental),
        "no full pull: {modes:?}"
    );
}

#[tokio::test]
async fn an_allowance_below_the_search_lag_misses_an_edit() {
    let (seen, _) = edits_seen_after_the_search_caught_up(1).await;
    assert!(!seen, "with too small an allowance the edits are missed");
}

#[tokio::test]
async fn a_keyed_batch_whose_create_was_dropped_after_applying_changes_stock_once_when_sent_again()
{
    let (store, _scratch, _db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let product = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["unlimited"] != true && p["quantity"].as_i64() >= Some(10))
        .unwrap();
    let (id, before) = (
        product["id"].as_i64().unwrap(),
        product["quantity"].as_i64().unwrap(),
    );
    let requests = vec![BatchRequest {
        id: "stock-1".into(),
        path: format!("/products/{id}/inventory"),
        method: "PUT",
        body: Some(json!({"quantityDelta": -3})),
    }];
    let key = "6f1c2a52-8e0b-4c1e-9d63-0e2f3a4b5c6d";
    let options = BatchOptions::default();
    store
        .set_faults(json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}))
        .await;
    let mut once = config.clone();
    once.ecwid.max_retries = 0;
    let first = Client::new(&once.ecwid)
        .unwrap()
        .create_keyed_batch(key, &requests, &options)
        .await;
    assert!(first.is_err(), "the answer was lost: {first:?}");
    store.set_faults(json!({})).await;

    let client = Client::new(&config.ecwid).unwrap();
    let status = client
        .run_keyed_batch(key, &requests, &options)
        .await
        .unwrap();

    assert!(status.is_completed());
    let quantity = |state: Value| {
        state["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["quantity"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        quantity(store.state().await),
        before - 3,
        "applied exactly once"
    );
    assert_eq!(store.request_count("POST /batch").await, 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_maximum_fails_the_pass_naming_the_wait_and_sends_nothing_early()
 {
    let (store, _scratch, _db, mut config) = mirrored(TestStore::small()).await;
    config.ecwid.max_retry_after = Duration::from_secs(60);
    store
        .set_faults(json!({"storm_429_requests": 1, "retry_after_secs": 90}))
        .await;
    store.reset_stats().await;

    // One client for both passes, as the daemon keeps one for its life.
    let puller = Puller::new(
        Client::new(&config.ecwid).unwrap(),
        MirrorWriter::open(&config.mirror, CancellationToken::new()).unwrap(),
        &config.sync,
        ProgressMode::Log,
        CancellationToken::new(),
    );
    let err = puller
        .pass(&[Kind::Products], true)
        .await
        .expect_err("the pass fails");
    let again = puller
        .pass(&[Kind::Products], true)
        .await
        .expect_err("the pause still holds");

    for e in [&err, &again] {
        let text = e.to_string();
        assert!(text.contains("pause of 90 s"), "names the wait: {text}");
        assert!(text.contains("max_retry_after_secs"), "{text}");
    }
    let stats = store.stats().await;
    // The first request met the 429; the second pass sent nothing at all.
    assert_eq!(stats["requests_total"], 1, "{stats}");
    assert_eq!(stats["early_requests"], 0, "{stats}");
}

#[tokio::test]
async fn no_request_is_sent_before_retry_after_has_passed() {
    let store = TestStore::start(TestStore::small()).await;
    store
        .set_faults(json!({"storm_429_requests": 3, "retry_after_secs": 2}))
        .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let mut config = config(&store, &db);
    // Waits of the store's 2 s, not growing ones (tests/throttle.rs covers those).
    config.ecwid.max_retry_after = Duration::from_secs(2);

    pass(&config, false).await;

    let stats = store.stats().await;
    assert_eq!(stats["status"]["429"], 3, "{stats}");
    assert_eq!(stats["early_requests"], 0, "{stats}");
    assert_mirror_equals_store(&open(&db), &store.state().await);
}

#[tokio::test]
async fn a_mirror_whose_last_pull_is_older_than_the_deletion_records_pulls_everything() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let long_ago = unix_now() - 200 * 86_400;
    open_as_daemon(&db)
        .execute(
            "UPDATE sync_state SET last_incremental = ?1, last_full_finished = ?1, stats_marker = NULL",
            [long_ago],
        )
        .unwrap();
    store.reset_stats().await;

    let summaries = pass(&config, false).await;

    for kind in [Kind::Products, Kind::Orders, Kind::Customers] {
        assert_eq!(summary(&summaries, kind).mode, Mode::Full, "{kind}");
    }
}

#[tokio::test]
async fn latest_stats_counts_that_disagree_with_a_quiet_mirror_schedule_one_full_pull() {
    counts_that_disagree_schedule_one_full_pull("sdk").await;
}

#[tokio::test]
async fn latest_stats_counts_named_as_in_the_rest_reference_are_checked_too() {
    counts_that_disagree_schedule_one_full_pull("reference").await;
}

/// `count_names`: the emulator's setting for which names `latest-stats` gives its counts.
async fn counts_that_disagree_schedule_one_full_pull(count_names: &str) {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    store.set_faults(json!({"count_names": count_names})).await;
    // Quiet for longer than the allowance (0 in tests): the marker is settled.
    let quiet = pass(&config, false).await;
    assert!(quiet.iter().all(|s| s.skipped), "{quiet:?}");
    let victim = store.state().await["products"][7]["id"].as_i64().unwrap();
    write_as_daemon(&db, &format!("DELETE FROM products WHERE id = {victim}"));

    let repaired = pass(&config, false).await;
    let again = pass(&config, false).await;

    assert_eq!(summary(&repaired, Kind::Products).mode, Mode::Full);
    assert!(summary(&again, Kind::Products).skipped);
    assert_products_equal_store(&open(&db), &store.state().await);
    let counted = query(
        &open(&db),
        "SELECT count_mismatches FROM sync_state WHERE kind = 'products'",
    );
    assert_eq!(counted, vec![json!([1])]);
}

#[tokio::test]
async fn a_variation_without_its_own_price_is_mirrored_at_the_price_its_options_make() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let modified = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["combinations"].as_array().into_iter().flatten())
        .filter(|v| v.get("price").is_none())
        .count();
    assert!(
        modified > 0,
        "the store has variations priced by their options"
    );
    assert_products_equal_store(&open(&db), &state);
}
