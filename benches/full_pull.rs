//! Full-pull benchmark: the real `ecwid-sync` binary against the emulator, end to end into
//! SQLite. Prints throughput, peak memory of the sync process, and the rate-limited run's
//! time against the floor the limit allows.
//!
//! `cargo bench --bench full_pull` runs both scenarios. Environment knobs:
//! `BENCH_PRODUCTS` (default 100000), `BENCH_LIMITED_PRODUCTS` (default 50000),
//! `BENCH_SKIP_LIMITED=1` to skip the rate-limited scenario (it takes about 40 s).

use std::path::Path;
use std::time::Instant;

use ecwid_emulator::{Emulator, EmulatorConfig, RateLimit};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    wall_secs: f64,
    peak_rss_mb: f64,
    stderr: String,
}

/// Runs `ecwid-sync sync --full --only products` as a child process.
async fn sync_products(
    emulator: &Emulator,
    store: &EmulatorConfig,
    dir: &Path,
    rpm: u32,
    burst: u32,
) -> Run {
    let db = dir.join(format!("bench-{rpm}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("bench-{rpm}.db{suffix}")));
    }
    let config = dir.join(format!("bench-{rpm}.toml"));
    std::fs::write(
        &config,
        format!(
            "[ecwid]\nstore_id = {}\ntoken = \"{}\"\napi_base = \"{}\"\nrequests_per_minute = {rpm}\nburst = {burst}\n\
             [mirror]\npath = \"{}\"\n[sync]\nkinds = [\"products\"]\noverlap_secs = 0\n",
            store.store_id,
            store.token,
            emulator.api_base(),
            db.display()
        ),
    )
    .unwrap();
    // The previous run's mirror is still being written back to disk; let that finish first
    // so it does not compete with this run.
    unsafe { libc::sync() };
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "sync",
            "--full",
            "--only",
            "products",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ecwid-sync");
    let peak = watch_peak_rss(child.id().expect("child pid"));
    let out = child.wait_with_output().await.expect("wait for ecwid-sync");
    let wall_secs = started.elapsed().as_secs_f64();
    let peak_rss_mb = peak.await.unwrap_or(0.0);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sync failed: {stderr}");
    Run {
        wall_secs,
        peak_rss_mb,
        stderr,
    }
}

/// Follows the child's `VmHWM` (peak resident set of its own address space) until it
/// exits. `getrusage(RUSAGE_CHILDREN)` would not do: a child started with vfork/posix_spawn
/// inherits this process's high-water mark (the emulator's memory) at exec.
fn watch_peak_rss(pid: u32) -> tokio::task::JoinHandle<f64> {
    tokio::spawn(async move {
        let mut peak_kb = 0u64;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            match hwm {
                Some(kb) => peak_kb = peak_kb.max(kb),
                None => break, // a zombie has no memory left to report
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        peak_kb as f64 / 1024.0
    })
}

fn summary_field(stderr: &str, field: &str) -> serde_json::Value {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "pull finished")
        .map(|l| l["fields"][field].clone())
        .next_back()
        .unwrap_or_default()
}

async fn emulator_stat(emulator: &Emulator, key: &str) -> u64 {
    let stats: serde_json::Value = reqwest::get(format!("{}/_emulator/stats", emulator.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["status"][key].as_u64().unwrap_or(0)
}

async fn unlimited(dir: &Path) {
    let products = env_usize("BENCH_PRODUCTS", 100_000);
    let store = EmulatorConfig {
        products,
        variations_per_product: 3,
        orders: 0,
        customers: 0,
        categories: 20,
        rate_limit: None,
        ..EmulatorConfig::default()
    };
    let generated = Instant::now();
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), store.clone())
        .await
        .unwrap();
    println!(
        "emulator: {products} products x 3 variations generated in {:.1} s",
        generated.elapsed().as_secs_f64()
    );
    // Two pulls, each into a fresh mirror, to show the spread.
    for label in ["first pull", "second pull"] {
        let run = sync_products(&emulator, &store, dir, 6000, 1000).await;
        let items = summary_field(&run.stderr, "items").as_u64().unwrap_or(0);
        println!(
            "full pull, rate limit off, {label}: {items} products (+{} variations) in {:.2} s wall = {:.0} products/s; peak RSS of ecwid-sync {:.1} MB",
            items * 3,
            run.wall_secs,
            products as f64 / run.wall_secs,
            run.peak_rss_mb
        );
    }
    sweep_bytes(&emulator, &store).await;
    emulator.shutdown().await;
}

/// Bytes on the wire of the whole listing against the sweep of ids and update times that a
/// full pull makes when its listing shifted (`responseFields`), both as the client asks
/// for them (gzip) and uncompressed.
async fn sweep_bytes(emulator: &Emulator, store: &EmulatorConfig) {
    // Bytes as they travel: no transparent decompression.
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let listing_bytes = |fields: Option<&'static str>, gzip: bool| {
        let http = http.clone();
        async move {
            let (mut bytes, mut offset, mut total) = (0usize, 0u64, u64::MAX);
            while offset < total {
                let mut query = vec![
                    ("limit", "100".to_string()),
                    ("offset", offset.to_string()),
                    ("sortBy", "ADDED_TIME_ASC".to_string()),
                ];
                if let Some(fields) = fields {
                    query.push(("responseFields", fields.to_string()));
                }
                let mut request = http
                    .get(format!(
                        "{}/{}/products",
                        emulator.api_base(),
                        store.store_id
                    ))
                    .bearer_auth(&store.token)
                    .query(&query);
                if gzip {
                    request = request.header("Accept-Encoding", "gzip");
                }
                let body = request.send().await.unwrap().bytes().await.unwrap();
                bytes += body.len();
                if total == u64::MAX {
                    // The first page, asked for uncompressed, tells the total.
                    let plain = http
                        .get(format!(
                            "{}/{}/products",
                            emulator.api_base(),
                            store.store_id
                        ))
                        .bearer_auth(&store.token)
                        .query(&[("limit", "1"), ("responseFields", "total")])
                        .send()
                        .await
                        .unwrap();
                    total = plain.json::<serde_json::Value>().await.unwrap()["total"]
                        .as_u64()
                        .unwrap();
                }
                offset += 100;
            }
            bytes as f64 / 1e6
        }
    };
    let sweep = Some("total,count,items(id,updateTimestamp)");
    for gzip in [true, false] {
        let whole = listing_bytes(None, gzip).await;
        let swept = listing_bytes(sweep, gzip).await;
        println!(
            "listing all products ({}): whole pages {whole:.1} MB, sweep of ids and times {swept:.2} MB = {:.2}% of the bytes",
            if gzip {
                "gzip, as the client reads"
            } else {
                "uncompressed"
            },
            100.0 * swept / whole
        );
    }
}

async fn limited(dir: &Path) {
    let products = env_usize("BENCH_LIMITED_PRODUCTS", 50_000);
    let (per_minute, burst) = (600u32, 100u32);
    let store = EmulatorConfig {
        products,
        variations_per_product: 3,
        orders: 0,
        customers: 0,
        categories: 20,
        rate_limit: Some(RateLimit { per_minute, burst }),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), store.clone())
        .await
        .unwrap();
    let run = sync_products(&emulator, &store, dir, per_minute, burst).await;
    let requests = summary_field(&run.stderr, "requests").as_u64().unwrap_or(0);
    let pages = products.div_ceil(100) as f64;
    let floor = (pages - burst as f64).max(0.0) / (per_minute as f64 / 60.0);
    let floor_all = (requests as f64 - burst as f64).max(0.0) / (per_minute as f64 / 60.0);
    println!(
        "full pull, rate limit {per_minute}/min + burst {burst}: {products} products, {requests} requests in {:.2} s; floor (pages - burst) / rate = {floor:.2} s -> {:.3} x floor ({:.3} x the floor of all {requests} requests); 429 answers: {}",
        run.wall_secs,
        run.wall_secs / floor,
        run.wall_secs / floor_all,
        emulator_stat(&emulator, "429").await
    );
    emulator.shutdown().await;
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not use.
    let dir = tempfile::tempdir().unwrap();
    unlimited(dir.path()).await;
    if std::env::var("BENCH_SKIP_LIMITED").is_err() {
        limited(dir.path()).await;
    }
}
