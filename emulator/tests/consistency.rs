//! Concurrent writers and readers: no 5xx, no deadlock, and the store's invariants hold
//! afterwards (both sides of the product/category relation, unique SKUs, indexes agree with
//! the documents).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::*;
use ecwid_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_keep_the_store_consistent() {
    concurrent_writes(0.0).await;
}

/// The lagging search index replays the same writes: once the lag has passed, searches show
/// exactly the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_search_index_catches_up_with_concurrent_writes() {
    concurrent_writes(0.3).await;
}

async fn concurrent_writes(index_lag_secs: f64) {
    let h = Arc::new(
        start(EmulatorConfig {
            products: 80,
            index_lag_secs,
            ..small_config()
        })
        .await,
    );
    let cats: Vec<i64> = h.state().await["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    let mut tasks = Vec::new();
    for worker in 0..4i64 {
        let h = h.clone();
        let cats = cats.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..60i64 {
                let pid = (worker * 60 + i) % 80 + 1;
                let (status, _) = match i % 6 {
                    0 => {
                        h.call(
                            Method::PUT,
                            &format!("/products/{pid}"),
                            Some(&json!({"price": i})),
                        )
                        .await
                    }
                    1 => {
                        let c = cats[(i as usize) % cats.len()];
                        h.call(
                            Method::PUT,
                            &format!("/products/{pid}"),
                            Some(&json!({"categoryIds": [c]})),
                        )
                        .await
                    }
                    2 => {
                        h.call(
                            Method::PUT,
                            &format!("/products/{pid}/inventory"),
                            Some(&json!({"quantityDelta": -1})),
                        )
                        .await
                    }
                    3 => h.get("/products?sortBy=UPDATED_TIME_ASC&limit=50").await,
                    4 => {
                        let c = cats[(i as usize + 1) % cats.len()];
                        h.call(
                            Method::PUT,
                            &format!("/categories/{c}"),
                            Some(&json!({"productIds": [pid, pid % 80 + 1]})),
                        )
                        .await
                    }
                    _ => h.get(&format!("/products/{pid}")).await,
                };
                statuses.push(status);
            }
            statuses
        }));
    }
    for t in tasks {
        let statuses = t.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }

    let state = h.state().await;
    let products = state["products"].as_array().unwrap();
    let mut skus = HashSet::new();
    let mut product_cats: HashMap<i64, HashSet<i64>> = HashMap::new();
    for p in products {
        let id = p["id"].as_i64().unwrap();
        assert!(skus.insert(p["sku"].as_str().unwrap().to_string()));
        for c in p["combinations"].as_array().unwrap() {
            if let Some(s) = c["sku"].as_str() {
                assert!(skus.insert(s.to_string()), "duplicate SKU {s}");
            }
        }
        product_cats.insert(
            id,
            p["categoryIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_i64().unwrap())
                .collect(),
        );
    }
    for c in state["categories"].as_array().unwrap() {
        let cid = c["id"].as_i64().unwrap();
        let listed: HashSet<i64> = c["productIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        let holding: HashSet<i64> = product_cats
            .iter()
            .filter(|(_, cs)| cs.contains(&cid))
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(
            listed, holding,
            "category {cid}: productIds and the products' categoryIds agree"
        );
    }

    // The update index agrees with the documents: a full UPDATED_TIME_ASC walk is sorted and
    // complete (once the search index has caught up).
    let by_id: HashMap<i64, &Value> = products
        .iter()
        .map(|p| (p["id"].as_i64().unwrap(), p))
        .collect();
    let walked = wait_for(
        "searches to show the store",
        std::time::Duration::from_secs(10),
        || async {
            let walked = h.walk("/products?sortBy=UPDATED_TIME_ASC", 100).await;
            walked
                .iter()
                .all(|p| by_id.get(&p["id"].as_i64().unwrap()) == Some(&p))
                .then_some(walked)
        },
    )
    .await;
    let keys: Vec<(i64, i64)> = walked
        .iter()
        .map(|p| {
            (
                p["updateTimestamp"].as_i64().unwrap(),
                p["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 80);
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    for p in &walked {
        assert_eq!(
            &p,
            by_id.get(&p["id"].as_i64().unwrap()).unwrap(),
            "search and state show the same document"
        );
    }
}
