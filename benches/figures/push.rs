//! Rows 6, 7 and 10b: pushing stock changes a tool made in the mirror, with the default push
//! settings, against Ecwid's rate limit (600 requests a minute, burst 100).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ecwid_emulator::EmulatorConfig;

use crate::Knobs;
use crate::common::{TestStore, count, open, wait_until};
use crate::daemon::Daemon;
use crate::report::{Row, Target, median, number, percentile, runs};

/// Products changed; the store has more, since some have unlimited stock.
const PRODUCTS: usize = 2000;
const CHANGES: usize = 10_000;

/// Every product's quantity in the store.
async fn store_quantities(store: &TestStore) -> BTreeMap<i64, i64> {
    store.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["id"].as_i64()?, p["quantity"].as_i64()?)))
        .collect()
}

async fn outbox_drained(db: &Path, within: Duration) -> bool {
    wait_until(within, || async {
        count(
            db,
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
        ) == 0
    })
    .await
}

/// A tool writes `CHANGES` stock changes over `ids` in one transaction (an import); the
/// quantities each product must end with are added to `expected`.
fn import(db: &Path, ids: &[i64], round: usize, expected: &mut BTreeMap<i64, i64>) {
    let mut conn = open(db);
    let tx = conn.transaction().unwrap();
    {
        let mut update = tx
            .prepare("UPDATE products SET quantity = quantity + ?2 WHERE id = ?1")
            .unwrap();
        for i in 0..CHANGES {
            let id = ids[(i + round) % ids.len()];
            let delta = match (i % 7) as i64 - 2 {
                0 => 3,
                d => d,
            };
            update.execute([id, delta]).unwrap();
            *expected.get_mut(&id).unwrap() += delta;
        }
    }
    tx.commit().unwrap();
}

/// A store of `products` without variations, with Ecwid's rate limit, and a daemon with
/// the production defaults past its first pass.
pub async fn store_and_daemon(products: usize) -> (TestStore, Daemon) {
    let store = TestStore::start(EmulatorConfig {
        products,
        variations_per_product: 0,
        orders: 20,
        customers: 10,
        categories: 5,
        ..EmulatorConfig::default()
    })
    .await;
    let daemon = Daemon::start(&store, "").await;
    (store, daemon)
}

/// Starts run `round` of a measurement against `store`: with Ecwid's bucket full, as the first
/// found it, and the store's counts at zero. Answers when the run starts.
pub async fn next_run(store: &TestStore, round: usize) -> Instant {
    if round > 0 {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    store.reset_stats().await;
    Instant::now()
}

pub async fn run(knobs: Knobs) -> Vec<Row> {
    let (store, daemon) = store_and_daemon(PRODUCTS * 5 / 4).await;
    let db = daemon.setup.db.clone();

    // Economy: each run an import of 10,000 changes, until Ecwid holds every one.
    let mut expected = store_quantities(&store).await;
    let ids: Vec<i64> = expected.keys().copied().take(PRODUCTS).collect();
    assert_eq!(ids.len(), PRODUCTS, "enough products with tracked stock");
    let (mut requests, mut seconds) = (Vec::new(), Vec::new());
    for round in 0..knobs.runs() {
        let started = crate::push::next_run(&store, round).await;
        import(&db, &ids, round, &mut expected);
        assert!(
            outbox_drained(&db, Duration::from_secs(300)).await,
            "every change sent"
        );
        let secs = started.elapsed().as_secs_f64();
        let stats = store.stats().await;
        let total = stats["requests_total"].as_u64().unwrap_or(0);
        assert_eq!(
            store_quantities(&store).await,
            expected,
            "every quantity in Ecwid exact"
        );
        eprintln!(
            "   {CHANGES} changes over {PRODUCTS} products: {total} requests ({} creates, {} polls), {secs:.2} s, 429 answers: {}",
            stats["requests"]["POST /batch"],
            stats["requests"]["GET /batch"],
            stats["status"]["429"].as_u64().unwrap_or(0)
        );
        requests.push(total as f64);
        seconds.push(secs);
    }

    // Latency: single changes, one at a time, from the tool's commit until the change is
    // applied, which happens once Ecwid answered the batch that carried it.
    let samples = knobs.size(30, 5);
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let id = ids[(i * 37) % ids.len()];
        let conn = open(&db);
        let started = Instant::now();
        conn.execute(
            "UPDATE products SET quantity = quantity + 1 WHERE id = ?1",
            [id],
        )
        .unwrap();
        let row: i64 = conn
            .query_row("SELECT max(id) FROM outbox", [], |r| r.get(0))
            .unwrap();
        let applied = wait_until(Duration::from_secs(30), || async {
            count(
                &db,
                &format!("SELECT count(*) FROM outbox WHERE id = {row} AND state = 'applied'"),
            ) == 1
        })
        .await;
        assert!(applied, "a single change applied");
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    daemon.stop().await;

    let what = "push economy, 10,000 local stock changes over 2,000 products";
    let ours = median(requests.clone());
    let secs = median(seconds.clone());
    let p50 = percentile(&latencies, 0.5);
    let ratio = CHANGES as f64 / ours;
    vec![
        Row::new("6a", format!("{what}: requests incl. polls"), ours, number(ours))
            .target(Target::AtMost(20.0))
            .detail(format!(
                "median of {} imports, each in one transaction, every quantity in Ecwid exact after each; {}",
                requests.len(),
                runs(&requests)
            )),
        Row::new("6b", format!("{what}: seconds until Ecwid holds all"), secs, format!("{secs:.2} s"))
            .detail(runs(&seconds)),
        Row::new("7", "local change -> Ecwid latency: p50", p50 / 1000.0, format!("{:.2} s", p50 / 1000.0))
            .target(Target::Below(2.0))
            .detail(format!(
                "{samples} single changes, from the tool's commit until applied (Ecwid answered its batch); p90 {:.0} ms, max {:.0} ms",
                percentile(&latencies, 0.9),
                percentile(&latencies, 1.0)
            )),
        Row::new("10b", "per-record baseline for row 6: 10,000 requests / ours", ratio, format!("{ratio:.0} x"))
            .target(Target::AtLeast(CHANGES as f64 / 20.0))
            .detail(format!(
                "one request per change; one per product would be {PRODUCTS}, {:.0} x ours",
                PRODUCTS as f64 / ours
            )),
    ]
}
