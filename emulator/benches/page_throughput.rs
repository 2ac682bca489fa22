//! Page-serving benchmark: 100,000 products x 3 variations, rate limit off, real HTTP on
//! 127.0.0.1. Prints generation time, p50/p99 latency of a 100-item page for several query
//! shapes, and pages/s with 1, 2 and 4 concurrent keep-alive clients.
//!
//! Run: `cargo bench -p ecwid-emulator` (env `BENCH_PRODUCTS`, `BENCH_SECS` to adjust).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ecwid_emulator::{Emulator, EmulatorConfig};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A keep-alive client that sends the store's token the way the platform accepts it.
fn authed_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_static("Bearer secret_test"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency(client: &reqwest::Client, label: &str, urls: &[String]) {
    let mut times = Vec::with_capacity(urls.len());
    let mut bytes = 0;
    for url in urls {
        let t = Instant::now();
        let resp = client.get(url).send().await.expect("request");
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        bytes += resp.bytes().await.expect("body").len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{label:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, avg page {} KB)",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        times.len(),
        bytes / times.len() / 1024
    );
}

async fn throughput(base: &str, clients: usize, secs: u64, products: u64, gzip: bool) {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let done = done.clone();
        let base = base.to_string();
        tasks.push(tokio::spawn(async move {
            let client = authed_client();
            let mut i = c as u64;
            while Instant::now() < deadline {
                let offset = (i * 7919 * 100) % products.max(1);
                let url =
                    format!("{base}/products?limit=100&offset={offset}&sortBy=ADDED_TIME_ASC");
                let mut req = client.get(&url);
                if gzip {
                    req = req.header("Accept-Encoding", "gzip");
                }
                let resp = req.send().await.expect("request");
                assert!(resp.status().is_success());
                resp.bytes().await.expect("body");
                done.fetch_add(1, Ordering::Relaxed);
                i += clients as u64;
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        t.await.expect("client task");
    }
    let n = done.load(Ordering::Relaxed);
    let label = if gzip { "gzip, " } else { "" };
    println!(
        "throughput, {label}{clients} concurrent client(s): {:>7.0} pages/s ({n} pages in {:.1} s)",
        n as f64 / start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}

/// Sequential single-product writes (inventory deltas), each a parse-edit-serialise of
/// one product plus index maintenance.
async fn writes(client: &reqwest::Client, base: &str, products: u64) {
    let mut times = Vec::new();
    for i in 0..500u64 {
        let id = (i * 7919) % products.max(1) + 1;
        let t = Instant::now();
        let resp = client
            .put(format!("{base}/products/{id}/inventory"))
            .header("Content-Type", "application/json")
            .body(r#"{"quantityDelta": -1}"#)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success());
        resp.bytes().await.expect("body");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  (500 requests)",
        "write, PUT /products/{id}/inventory",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0
    );
}

fn main() {
    let products = env_or("BENCH_PRODUCTS", 100_000);
    let secs = env_or("BENCH_SECS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let config = EmulatorConfig {
            products: products as usize,
            variations_per_product: 3,
            orders: 1_000,
            customers: 1_000,
            categories: 20,
            rate_limit: None,
            ..EmulatorConfig::default()
        };
        let t = Instant::now();
        let emu = Emulator::start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("start");
        println!(
            "generated {products} products x 3 variations in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        let base = format!("{}/1003", emu.api_base());
        let client = authed_client();
        let offsets: Vec<u64> = (0..400)
            .map(|i| (i * 7919 * 100) % products.max(1))
            .collect();
        let make = |q: &dyn Fn(u64) -> String| -> Vec<String> {
            offsets
                .iter()
                .map(|o| format!("{base}/products?limit=100&{}", q(*o)))
                .collect()
        };
        // warm the per-product serialisation caches, as a long-running emulator would be
        for o in (0..products).step_by(100) {
            client
                .get(format!("{base}/products?limit=100&offset={o}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        latency(
            &client,
            "page, default order (id)",
            &make(&|o| format!("offset={o}")),
        )
        .await;
        latency(
            &client,
            "page, sortBy=ADDED_TIME_ASC",
            &make(&|o| format!("offset={o}&sortBy=ADDED_TIME_ASC")),
        )
        .await;
        latency(
            &client,
            "page, sortBy=UPDATED_TIME_ASC",
            &make(&|o| format!("offset={o}&sortBy=UPDATED_TIME_ASC")),
        )
        .await;
        let recent = ecwid_emulator::BASE_TIME - 86_400 * 60;
        latency(
            &client,
            "page, UPDATED_TIME_ASC + updatedFrom (60 days)",
            &make(&|_| format!("sortBy=UPDATED_TIME_ASC&updatedFrom={recent}")),
        )
        .await;
        latency(
            &client,
            "page, enabled=true&inStock=true (full scan)",
            &make(&|o| format!("offset={o}&enabled=true&inStock=true")),
        )
        .await;
        latency(
            &client,
            "page, productId list of 100",
            &make(&|o| {
                let ids: Vec<String> = (o + 1..=o + 100).map(|i| i.to_string()).collect();
                format!("productId={}", ids.join(","))
            }),
        )
        .await;
        latency(
            &client,
            "sweep, responseFields=total,items(id,updateTimestamp)",
            &make(&|o| {
                format!("offset={o}&sortBy=ADDED_TIME_ASC&responseFields=total,items(id,updateTimestamp)")
            }),
        )
        .await;
        for clients in [1, 2, 4] {
            throughput(&base, clients, secs, products, false).await;
        }
        throughput(&base, 2, secs, products, true).await;
        writes(&client, &base, products).await;
        emu.shutdown().await;
    });
}
