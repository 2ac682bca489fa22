//! The Ecwid client's retry policy, counted by the emulator.

mod common;

use common::*;
use ecwid_sync::ecwid::{ApiError, Client};
use serde_json::json;

async fn client_for(store: &TestStore, max_retries: usize) -> Client {
    let scratch = Scratch::new();
    let mut config = config(store, &scratch.path("unused.db"));
    config.ecwid.max_retries = max_retries;
    Client::new(&config.ecwid).unwrap()
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_carries_ecwids_message() {
    let store = TestStore::start(TestStore::small()).await;
    let client = client_for(&store, 5).await;

    let err = client
        .get_bytes("/products", &[("inStock", "perhaps".to_string())])
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("inStock"), "{err}");
    assert_eq!(store.stats().await["requests_total"], 1);
    assert_eq!(client.counters().requests, 1);
}

#[tokio::test]
async fn an_unknown_entity_is_a_404_without_retries() {
    let store = TestStore::start(TestStore::small()).await;
    let client = client_for(&store, 5).await;

    let err = client
        .get_bytes("/products/999999999", &[])
        .await
        .unwrap_err();

    assert!(matches!(err, ApiError::Status { status: 404, .. }), "{err}");
    assert_eq!(store.stats().await["requests_total"], 1);
}

#[tokio::test]
async fn server_errors_are_retried_up_to_max_retries_then_reported() {
    let store = TestStore::start(TestStore::small()).await;
    store
        .set_faults(json!({"seed": 1, "error_503_rate": 1.0}))
        .await;
    let client = client_for(&store, 2).await;

    let err = client.get_bytes("/latest-stats", &[]).await.unwrap_err();

    assert_eq!(err.status(), Some(503));
    // The first attempt and two retries.
    assert_eq!(store.stats().await["status"]["503"], 3);
    assert_eq!(client.counters().retries, 2);
}

#[tokio::test]
async fn throttling_is_counted_and_waited_out() {
    let store = TestStore::start(TestStore::small()).await;
    store.set_faults(json!({"storm_429_requests": 2})).await;
    let client = client_for(&store, 5).await;

    client.get_bytes("/latest-stats", &[]).await.unwrap();

    let counters = client.counters();
    assert_eq!(counters.throttled, 2);
    assert_eq!(counters.requests, 3);
    assert_eq!(store.stats().await["status"]["429"], 2);
}
