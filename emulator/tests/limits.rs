//! Rate limiting and fault injection, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ecwid_emulator::{EmulatorConfig, RateLimit};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_burst_beyond_the_bucket_gets_429_with_retry_after() {
    let h = start(EmulatorConfig {
        rate_limit: Some(RateLimit {
            per_minute: 1,
            burst: 10,
        }),
        ..small_config()
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..15 {
        let resp = h
            .request(Method::GET, "/products?limit=1", TOKEN)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status().as_u16() == 429 {
            retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let body: Value = resp.json().await.unwrap();
            assert!(body["errorMessage"].is_string());
            assert_eq!(body["errorCode"], json!("RATE_LIMITED"));
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5);
    let retry_after = retry_after.expect("429 carries Retry-After");
    // One token a minute, so a slow machine cannot refill the bucket during the test.
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The control plane is never limited.
    let (status, stats) = h.control(Method::GET, "/_emulator/stats", None).await;
    assert_eq!(status, 200);
    assert_eq!(stats["status"]["429"], json!(5));
    assert_eq!(
        stats["early_requests"],
        json!(4),
        "the four requests after the first 429 came before its Retry-After"
    );
}

/// One request, returning its status and its `Retry-After` in seconds.
async fn throttled(h: &Harness) -> (u16, Option<u64>) {
    let resp = h
        .request(Method::GET, "/products?limit=1", TOKEN)
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    (resp.status().as_u16(), retry_after)
}

async fn early_requests(h: &Harness) -> Value {
    h.control(Method::GET, "/_emulator/stats", None).await.1["early_requests"].clone()
}

#[tokio::test]
async fn a_429_storm_answers_the_next_n_requests_of_a_client_that_waits() {
    let h = start(small_config()).await;
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"storm_429_requests": 2})),
    )
    .await;
    assert_eq!(throttled(&h).await, (429, Some(1)));
    // Not waiting is refused (and counted) without using up the storm.
    assert_eq!(throttled(&h).await.0, 429);
    assert_eq!(early_requests(&h).await, json!(1));
    // Waiting out Retry-After is the protocol under test, not a race.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        throttled(&h).await,
        (429, Some(1)),
        "the storm's second 429"
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(throttled(&h).await, (200, None));
    assert_eq!(early_requests(&h).await, json!(1));
    let (_, faults) = h.control(Method::GET, "/_emulator/faults", None).await;
    assert_eq!(faults["storm_429_requests"], json!(2));
}

#[tokio::test]
async fn a_long_cooldown_is_announced_and_enforced() {
    let h = start(EmulatorConfig {
        rate_limit: Some(RateLimit {
            per_minute: 6000,
            burst: 2,
        }),
        ..small_config()
    })
    .await;
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"retry_after_secs": 90})),
    )
    .await;
    assert_eq!(throttled(&h).await.0, 200);
    assert_eq!(throttled(&h).await.0, 200);
    assert_eq!(throttled(&h).await, (429, Some(90)), "the limiter's 429");
    // The bucket refills in 10 ms, but the store keeps refusing until the cool-down ends.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, retry_after) = throttled(&h).await;
    assert_eq!(status, 429);
    assert!((89..=90).contains(&retry_after.unwrap()), "{retry_after:?}");
    assert_eq!(early_requests(&h).await, json!(1));

    // Storms use the configured cool-down too.
    let s = start(small_config()).await;
    s.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"storm_429_requests": 1, "retry_after_secs": 90})),
    )
    .await;
    assert_eq!(throttled(&s).await, (429, Some(90)));
    assert_eq!(early_requests(&s).await, json!(0));
    let (status, _) = s
        .control(
            Method::PUT,
            "/_emulator/faults",
            Some(&json!({"retry_after_secs": 100000})),
        )
        .await;
    assert_eq!(status, 400);
}

async fn statuses(h: &Harness, n: usize, path: &str) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(h.get(path).await.0);
    }
    out
}

#[tokio::test]
async fn faults_happen_at_the_configured_rates_and_repeat_under_a_seed() {
    let h = start(small_config()).await;
    let faults = json!({"seed": 7, "error_500_rate": 0.3, "error_503_rate": 0.2, "path_contains": "/products"});
    h.control(Method::PUT, "/_emulator/faults", Some(&faults))
        .await;
    let first = statuses(&h, 400, "/products?limit=1").await;
    let n500 = first.iter().filter(|s| **s == 500).count();
    let n503 = first.iter().filter(|s| **s == 503).count();
    assert!((90..=150).contains(&n500), "500s: {n500}");
    assert!((50..=110).contains(&n503), "503s: {n503}");
    assert_eq!(
        first.iter().filter(|s| **s == 200).count(),
        400 - n500 - n503
    );
    // path_contains: other endpoints are untouched
    assert!(
        statuses(&h, 50, "/orders?limit=1")
            .await
            .iter()
            .all(|s| *s == 200)
    );

    h.control(Method::PUT, "/_emulator/faults", Some(&faults))
        .await;
    assert_eq!(
        statuses(&h, 400, "/products?limit=1").await,
        first,
        "same seed, same sequence"
    );

    h.control(Method::PUT, "/_emulator/faults", Some(&json!({})))
        .await;
    assert!(
        statuses(&h, 20, "/products?limit=1")
            .await
            .iter()
            .all(|s| *s == 200),
        "an empty setting clears faults"
    );
}

#[tokio::test]
async fn dropped_connections_before_and_after_applying() {
    let h = start(small_config()).await;
    let put_price = |price: f64| {
        // A fresh client each time, so no pooled connection hides the drop.
        let client = reqwest::Client::new();
        let url = format!("{}/products/1", h.base);
        async move {
            client
                .put(url)
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/json")
                .body(json!({ "price": price }).to_string())
                .send()
                .await
        }
    };
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"drop_before_apply_rate": 1.0})),
    )
    .await;
    let err = put_price(11.0)
        .await
        .expect_err("connection closed without a response");
    assert!(!err.is_status() && err.status().is_none(), "{err:?}");
    h.control(Method::PUT, "/_emulator/faults", Some(&json!({})))
        .await;
    assert_ne!(
        h.ok(Method::GET, "/products/1", None).await["price"],
        json!(11.0),
        "not applied"
    );

    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"drop_after_apply_rate": 1.0})),
    )
    .await;
    put_price(12.0)
        .await
        .expect_err("connection closed without a response");
    // GETs are never dropped by drop_after_apply_rate
    assert_eq!(h.get("/products/1").await.0, 200);
    h.control(Method::PUT, "/_emulator/faults", Some(&json!({})))
        .await;
    assert_eq!(
        h.ok(Method::GET, "/products/1", None).await["price"],
        json!(12.0),
        "applied before the drop"
    );

    let (_, stats) = h.control(Method::GET, "/_emulator/stats", None).await;
    assert_eq!(stats["requests"]["PUT /products/{id}"], json!(2));
}

#[tokio::test]
async fn added_latency_delays_answers() {
    let h = start(small_config()).await;
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"latency_ms": 150})),
    )
    .await;
    let t = Instant::now();
    assert_eq!(h.get("/products?limit=1").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    let t = Instant::now();
    h.control(Method::GET, "/_emulator/stats", None).await;
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "control plane is not delayed"
    );
}

#[tokio::test]
async fn ignored_params_are_dropped_as_unknown_parameters_are() {
    let h = start(small_config()).await;
    let (_, filtered) = h.get("/products?productId=1,2").await;
    assert_eq!(filtered["total"], json!(2));
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"ignored_params": ["productId"]})),
    )
    .await;
    let (status, unfiltered) = h.get("/products?productId=1,2").await;
    assert_eq!(status, 200);
    let all = h.state().await["products"].as_array().unwrap().len();
    assert_eq!(unfiltered["total"], json!(all), "the unfiltered listing");
}

#[tokio::test]
async fn a_write_whose_caller_hangs_up_mid_request_is_still_made() {
    let h = start(small_config()).await;
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"latency_ms": 300})),
    )
    .await;
    // The caller gives up (as a killed process does) while the store is still working.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        h.request(Method::PUT, "/products/1", TOKEN)
            .json(&json!({"price": 77.5}))
            .send(),
    )
    .await;
    assert!(gave_up.is_err(), "the caller hung up before the answer");
    h.control(Method::PUT, "/_emulator/faults", Some(&json!({})))
        .await;
    let price = wait_for("the write", Duration::from_secs(5), || async {
        let product = h.ok(Method::GET, "/products/1", None).await;
        (product["price"] == json!(77.5)).then_some(product["price"].clone())
    })
    .await;
    assert_eq!(price, json!(77.5));
}
