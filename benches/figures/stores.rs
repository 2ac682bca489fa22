//! Rows 13a-13d: many stores in one daemon. Fifty emulated stores of 2,000 products, each a
//! file of `stores.d/`, mirrored by one `ecwid-sync run` with the production defaults: its
//! peak memory after their first pulls, the CPU it spends while every store is quiet,
//! webhook acknowledgements spread over the stores, and one store's sales while five stores
//! added by a reload run their first full pulls.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ecwid_emulator::{EmulatorConfig, RateLimit};
use serde_json::json;

use crate::Knobs;
use crate::common::{TestStore, count, free_local_addr, spawn_ecwid_sync, wait_until};
use crate::report::{Row, Target, median, percentile, runs};
use crate::webhooks::{deliveries, sale_latencies, send_at_rate, stocked};

/// One daemon's configuration: the main file and `stores.d/`.
struct Fleet {
    dir: tempfile::TempDir,
    config: PathBuf,
    listen: std::net::SocketAddr,
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let listen = free_local_addr();
        std::fs::write(
            &config,
            format!("[webhooks]\nlisten = \"{listen}\"\n[console]\nlisten = \"127.0.0.1:0\"\n"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("stores.d")).unwrap();
        Fleet {
            dir,
            config,
            listen,
        }
    }

    fn mirror(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    /// Adds `store` as `name`, with the production defaults.
    fn add(&self, name: &str, store: &TestStore) {
        std::fs::write(
            self.dir.path().join(format!("stores.d/{name}.toml")),
            format!(
                "[ecwid]\nstore_id = {}\ntoken = \"{}\"\nclient_secret = \"{}\"\napi_base = \"{}\"\n\
                 [mirror]\npath = \"{}\"\n",
                store.config.store_id,
                store.config.token,
                store.config.client_secret,
                store.emulator.api_base(),
                self.mirror(name).display()
            ),
        )
        .unwrap();
    }

    fn webhook_url(&self) -> String {
        format!("http://{}/webhooks/ecwid", self.listen)
    }
}

/// A store as Ecwid runs it: its own id, token and app secret, and its rate limit.
async fn store(index: u64, products: usize) -> TestStore {
    TestStore::start(EmulatorConfig {
        store_id: 5000 + index,
        token: format!("secret_fleet_{index}"),
        client_secret: format!("fleet_app_{index}"),
        products,
        variations_per_product: 0,
        orders: 100,
        customers: 20,
        categories: 10,
        seed: 100 + index,
        rate_limit: Some(RateLimit {
            per_minute: 600,
            burst: 100,
        }),
        ..EmulatorConfig::default()
    })
    .await
}

/// Whether the mirror at `db` has had its first pass (the three kinds pulled by default).
fn pulled(db: &Path) -> bool {
    count(
        db,
        "SELECT count(*) FROM sync_state WHERE last_full_finished IS NOT NULL",
    ) == 3
}

/// User and system CPU seconds `pid` has used so far (`/proc/PID/stat`).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / per_sec
}

/// The peak resident memory of `pid` in MB (`VmHWM`).
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn run(knobs: Knobs) -> Vec<Row> {
    let stores_n = knobs.size(50, 8) as u64;
    let products = knobs.size(2000, 300);
    let quiet_secs = knobs.size(600, 30) as u64;
    let fleet = Fleet::new();
    let mut stores = Vec::new();
    for i in 0..stores_n {
        let store = store(i, products).await;
        fleet.add(&format!("s{i:02}"), &store);
        store
            .set_webhooks(json!({ "url": fleet.webhook_url() }))
            .await;
        stores.push(store);
    }
    let started = Instant::now();
    let mut daemon = spawn_ecwid_sync(&fleet.config, &["run"], Stdio::null());
    let pid = daemon.id().expect("the daemon runs");
    let all_pulled = wait_until(Duration::from_secs(900), || async {
        (0..stores_n).all(|i| pulled(&fleet.mirror(&format!("s{i:02}"))))
    })
    .await;
    assert!(all_pulled, "every store's first pass ends");
    let first_pulls = started.elapsed().as_secs_f64();
    let rss = peak_rss_mb(pid);
    eprintln!(
        "   {stores_n} stores of {products} products pulled in {first_pulls:.0} s; peak RSS {rss:.1} MB"
    );

    // Quiet: nothing sells, nothing changes; the schedules run as configured.
    let before = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(quiet_secs)).await;
    let quiet_cpu = (cpu_secs(pid) - before) / quiet_secs as f64 * 100.0;
    eprintln!("   quiet for {quiet_secs} s: {quiet_cpu:.2}% of one core");

    // Acknowledgements at 1,000 a second, each store's in turn, signed with its secret.
    let rate = 1000u64;
    let secs = knobs.size(10, 2) as u64;
    let mut p99s = Vec::new();
    for run in 0..knobs.runs() {
        let per_store = rate * secs / stores_n;
        let mut all: Vec<Vec<(String, String)>> = stores
            .iter()
            .map(|s| {
                deliveries(
                    per_store,
                    (s.config.store_id, s.config.client_secret.as_str()),
                    &format!("fleet{run}"),
                )
            })
            .collect();
        // Interleaved: one store's event, then the next store's.
        let mut spread = Vec::new();
        for i in 0..per_store as usize {
            for store in all.iter_mut() {
                if let Some(d) = store.get_mut(i) {
                    spread.push(std::mem::take(d));
                }
            }
        }
        let (latencies, failed) = send_at_rate(&fleet.webhook_url(), spread, rate).await;
        assert_eq!(failed, 0, "every delivery acknowledged");
        let p99 = percentile(&latencies, 0.99);
        eprintln!(
            "   {} events over {stores_n} stores at {rate}/s: p50 {:.2} ms, p99 {p99:.2} ms",
            latencies.len(),
            percentile(&latencies, 0.5)
        );
        p99s.push(p99);
    }

    // Five stores appear (a reload) and run their first full pulls while the first store sells.
    let big = knobs.size(20_000, 2_000);
    let mut newcomers = Vec::new();
    for i in 0..5 {
        let store = store(100 + i, big).await;
        fleet.add(&format!("new{i}"), &store);
        newcomers.push(store);
    }
    let seller = &stores[0];
    let mut products_for_sale = stocked(&seller.state().await).into_iter();
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    // The reload has started them once their mirrors exist.
    let started_pulls = wait_until(Duration::from_secs(60), || async {
        (0..5).all(|i| fleet.mirror(&format!("new{i}")).exists())
    })
    .await;
    assert!(started_pulls, "the reload starts the five stores");
    let sales_n = knobs.size(100, 30);
    let seller_db = fleet.mirror("s00");
    let latencies = sale_latencies(seller, &seller_db, &mut products_for_sale, 10, sales_n).await;
    let busy = (0..5)
        .filter(|i| !pulled(&fleet.mirror(&format!("new{i}"))))
        .count();
    let sale_p99 = percentile(&latencies, 0.99);
    eprintln!(
        "   {sales_n} sales at 10/s in one store while 5 stores pulled {big} products each ({busy} still pulling at the end): p50 {:.0} ms, p99 {sale_p99:.0} ms",
        percentile(&latencies, 0.5)
    );
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    drop(newcomers);

    let what = format!("{stores_n} stores of {products} products in one daemon");
    vec![
        Row::new(
            "13a",
            format!("{what}: peak RSS after their first pulls"),
            rss,
            format!("{rss:.1} MB"),
        )
        .target(Target::AtMost(400.0))
        .detail(format!(
            "VmHWM of the daemon once every store's first pass ended ({first_pulls:.0} s after start), Ecwid's limit 600/min per token, production defaults"
        )),
        Row::new(
            "13b",
            format!("{what}: CPU while quiet"),
            quiet_cpu,
            format!("{quiet_cpu:.2} % of a core"),
        )
        .target(Target::AtMost(1.0))
        .detail(format!(
            "user + system time of the daemon over {quiet_secs} s with no sale, edit or local change, default schedules"
        )),
        Row::new(
            "13c",
            format!("{what}: webhook acknowledgement p99 at 1,000/s spread over the stores"),
            median(p99s.clone()),
            format!("{:.2} ms", median(p99s.clone())),
        )
        .target(Target::Below(5.0))
        .detail(format!(
            "median of {} runs of {secs} s, each store's events in turn, each signed with its store's secret; {}",
            p99s.len(),
            runs(&p99s)
        )),
        Row::new(
            "13d",
            format!("{what}: sale -> mirror p99 in one store while five others run full pulls"),
            sale_p99 / 1000.0,
            format!("{:.2} s", sale_p99 / 1000.0),
        )
        .target(Target::Below(2.0))
        .detail(format!(
            "{sales_n} sales at 10/s, seen in stock_levels; five stores of {big} products added by a reload during them, {busy} of them still pulling when the last sale arrived"
        )),
    ]
}
