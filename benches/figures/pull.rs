//! Rows 1-3: full pulls with the rate limit off and on, and a pass on a quiet store.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ecwid_emulator::{EmulatorConfig, RateLimit};

use crate::Knobs;
use crate::common::{TestStore, scrape_metrics, wait_until};
use crate::daemon::{Daemon, Setup};
use crate::report::{Row, Target, median, number, runs};

struct Run {
    wall_secs: f64,
    peak_rss_mb: f64,
    mirror_mb: f64,
    stderr: String,
}

/// `ecwid-sync sync --full --only products` into a fresh mirror, as a separate process.
async fn sync_products(store: &TestStore, rpm: u32, burst: u32) -> Run {
    let setup = Setup::new(
        store,
        &format!("requests_per_minute = {rpm}\nburst = {burst}"),
        "[sync]\nkinds = [\"products\"]\noverlap_secs = 0",
    );
    // The previous run's mirror is still being written back to disk; let that finish first
    // so it does not compete with this run.
    unsafe { libc::sync() };
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(&setup.config)
        .args([
            "--log-format",
            "json",
            "sync",
            "--full",
            "--only",
            "products",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ecwid-sync");
    let peak = watch_peak_rss(child.id().expect("child pid"));
    let out = child.wait_with_output().await.expect("wait for ecwid-sync");
    let wall_secs = started.elapsed().as_secs_f64();
    let peak_rss_mb = peak.await.unwrap_or(f64::NAN);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sync failed: {stderr}");
    let bytes: u64 = [setup.db.clone(), setup.db.with_extension("db-wal")]
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    Run {
        wall_secs,
        peak_rss_mb,
        mirror_mb: bytes as f64 / 1e6,
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
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        peak_kb as f64 / 1024.0
    })
}

/// A field of the run's "pull finished" log line.
fn summary_field(stderr: &str, field: &str) -> u64 {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "pull finished")
        .filter_map(|l| l["fields"][field].as_u64())
        .next_back()
        .unwrap_or(0)
}

fn products_store(products: usize, rate_limit: Option<RateLimit>) -> EmulatorConfig {
    EmulatorConfig {
        products,
        variations_per_product: 3,
        orders: 0,
        customers: 0,
        categories: 20,
        rate_limit,
        ..EmulatorConfig::default()
    }
}

/// Row 1: products a second into SQLite, the pull's peak memory, the mirror's size.
pub async fn unlimited(knobs: Knobs) -> Vec<Row> {
    let products = knobs.size(100_000, 10_000);
    let generated = Instant::now();
    let store = TestStore::start(products_store(products, None)).await;
    eprintln!(
        "   {products} products x 3 variations generated in {:.1} s",
        generated.elapsed().as_secs_f64()
    );
    let (mut rates, mut rss, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..knobs.runs() {
        let run = sync_products(&store, 6000, 1000).await;
        let items = summary_field(&run.stderr, "items");
        assert_eq!(items as usize, products, "every product pulled");
        eprintln!(
            "   {items} products in {:.2} s, peak RSS {:.1} MB, mirror {:.1} MB",
            run.wall_secs, run.peak_rss_mb, run.mirror_mb
        );
        rates.push(products as f64 / run.wall_secs);
        rss.push(run.peak_rss_mb);
        sizes.push(run.mirror_mb * 1000.0 / products as f64);
    }
    let what = format!(
        "full pull, rate limit off, {} products x 3 variations",
        number(products as f64)
    );
    let rate = median(rates.clone());
    let peak = median(rss.clone());
    let size = median(sizes);
    vec![
        Row::new(
            "1a",
            format!("{what}: products/s into SQLite"),
            rate,
            format!("{} /s", number(rate.round())),
        )
        .target(Target::AtLeast(20_000.0))
        .detail(format!(
            "median of {} pulls, each into a fresh mirror; {}",
            rates.len(),
            runs(&rates)
        )),
        Row::new(
            "1b",
            format!("{what}: peak RSS of ecwid-sync"),
            peak,
            format!("{peak:.1} MB"),
        )
        .target(Target::AtMost(100.0))
        .detail(format!("VmHWM of the process; {}", runs(&rss))),
        Row::new(
            "1c",
            format!("{what}: mirror size per 1,000 products"),
            size,
            format!("{size:.2} MB"),
        ),
    ]
}

/// Row 2: a full pull under Ecwid's rate limit against the floor the limit allows.
pub async fn limited(knobs: Knobs) -> Vec<Row> {
    let products = knobs.size(50_000, 15_000);
    let (per_minute, burst) = (600u32, 100u32);
    let store = TestStore::start(products_store(
        products,
        Some(RateLimit { per_minute, burst }),
    ))
    .await;
    let pages = products.div_ceil(100) as f64;
    let floor = (pages - burst as f64).max(0.0) / (per_minute as f64 / 60.0);
    let (mut ratios, mut throttled) = (Vec::new(), 0u64);
    for run in 0..knobs.runs() {
        if run > 0 {
            // A new run starts with the bucket full, as the first did.
            tokio::time::sleep(Duration::from_secs_f64(
                burst as f64 * 60.0 / per_minute as f64,
            ))
            .await;
        }
        store.reset_stats().await;
        let pulled = sync_products(&store, per_minute, burst).await;
        let requests = summary_field(&pulled.stderr, "requests");
        let answered_429 = store.stats().await["status"]["429"].as_u64().unwrap_or(0);
        eprintln!(
            "   {products} products, {requests} requests in {:.2} s; floor {floor:.2} s; 429 answers: {answered_429}",
            pulled.wall_secs
        );
        ratios.push(pulled.wall_secs / floor);
        throttled += answered_429;
    }
    let what = format!(
        "full pull at 600/min + burst 100, {} products",
        number(products as f64)
    );
    let ratio = median(ratios.clone());
    vec![
        Row::new(
            "2a",
            format!("{what}: time / floor"),
            ratio,
            format!("{ratio:.3} x"),
        )
        .target(Target::AtMost(1.05))
        .detail(format!(
            "floor = (pages - burst) / rate = {floor:.1} s; {}",
            runs(&ratios)
        )),
        Row::new(
            "2b",
            format!("{what}: 429 answers"),
            throttled as f64,
            number(throttled as f64),
        )
        .target(Target::AtMost(0.0))
        .detail(format!("over all {} runs", ratios.len())),
    ]
}

/// Row 3: what a scheduled pass costs when nothing changed in the store.
pub async fn quiet(knobs: Knobs) -> Vec<Row> {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = Daemon::start(&store, "incremental_cron = \"* * * * * *\"").await;
    let listen = daemon.listen;
    let passes = || async {
        scrape_metrics(listen)
            .await
            .get("ecwid_sync_pull_duration_seconds{kind=\"products\",mode=\"incremental\"}")
            .copied()
            .unwrap_or(0.0)
    };
    // Past the first pass and the first incremental one, then counted from a pass's end.
    let ready = wait_until(Duration::from_secs(60), || async {
        reqwest::get(format!("http://{listen}/metrics"))
            .await
            .is_ok()
            && passes().await >= 1.0
    })
    .await;
    assert!(ready, "the daemon's first incremental pass ends");
    let start = passes().await;
    wait_until(Duration::from_secs(5), || async { passes().await > start }).await;
    store.reset_stats().await;
    let from = passes().await;
    let counted = knobs.size(10, 3) as f64;
    let done = wait_until(Duration::from_secs(60), || async {
        passes().await >= from + counted
    })
    .await;
    assert!(done, "the passes run every second");
    let requests = store.stats().await["requests_total"].as_u64().unwrap_or(0) as f64;
    daemon.stop().await;
    let per_pass = requests / counted;
    vec![
        Row::new("3", "incremental pass of the daemon on a quiet store: requests", per_pass, number(per_pass))
            .target(Target::AtMost(1.0))
            .detail(format!(
                "{requests} requests over {counted} scheduled passes of products, categories and orders: the latest-stats read"
            )),
    ]
}
