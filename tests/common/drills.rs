//! The crash and fault drills: `ecwid-sync run` as a separate process, killed with SIGKILL or
//! served by a failing store, while the storefront sells, the admin edits and a tool changes
//! stock in the mirror. After each, the drill waits for the daemon to converge and checks
//! what the project promises: the mirror file is intact, it equals the store, and every stock
//! quantity in the store is its start + the local changes - the units sold, no change lost or
//! applied twice.
//!
//! The test suite runs them at small sizes (tests/drills.rs); `cargo bench` at full sizes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ecwid_emulator::EmulatorConfig;
use serde_json::{Value, json};

use super::stock::{store_stock, tool_change};
use super::*;

type Entity = (i64, Option<i64>);

/// A small deterministic generator: a drill is repeatable from its seed.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    /// A non-zero change from -3 to +5.
    fn delta(&mut self) -> i64 {
        match self.below(9) as i64 - 3 {
            0 => 1,
            d => d,
        }
    }
}

/// A store, a daemon's mirror and config, and the stock every entity must end with.
pub struct Drill {
    pub store: TestStore,
    _scratch: Scratch,
    pub db: PathBuf,
    pub config: PathBuf,
    entities: Vec<Entity>,
    expected: BTreeMap<Entity, i64>,
    /// SKUs of the products a tool asked to create: each must end in the store exactly once.
    new_skus: Vec<String>,
    pub dice: Dice,
}

/// How many entities the drills change and sell: enough that batches carry many of them.
const ENTITIES: usize = 40;

impl Drill {
    /// `search_lag_secs` tells the daemon how far the store's searches lag behind writes.
    pub async fn start(store: EmulatorConfig, seed: u64, search_lag_secs: u64) -> Drill {
        let store = TestStore::start(store).await;
        let scratch = Scratch::new();
        let db = scratch.path("mirror.db");
        let config = db.with_extension("toml");
        let listen = free_local_addr();
        // Pulls every second, so that what a killed daemon missed is found within seconds
        // rather than when Ecwid retries its webhooks (15 minutes later).
        let text = webhook_config_text(
            &store,
            &db,
            listen,
            "incremental_cron = \"* * * * * *\"\n[push]\npoll_interval_ms = 50\n",
        )
        .replace(
            "search_lag_secs = 0",
            &format!("search_lag_secs = {search_lag_secs}"),
        );
        std::fs::write(&config, text).unwrap();
        store
            .set_webhooks(json!({"url": webhook_url(listen)}))
            .await;
        let state = store.state().await;
        let expected = store_stock(&state);
        // Plenty of stock, so that sales never run out; stock that storefront sales take
        // from, so that they move it.
        let entities = expected
            .iter()
            .filter(|(e, q)| **q >= 30 && stock::sold_by_storefront(&state, **e))
            .map(|(e, _)| *e)
            .take(ENTITIES)
            .collect();
        Drill {
            store,
            _scratch: scratch,
            db,
            config,
            entities,
            expected,
            new_skus: Vec::new(),
            dice: Dice::new(seed),
        }
    }

    pub fn daemon(&self) -> tokio::process::Child {
        spawn_ecwid_sync(&self.config, &["run"], Stdio::piped())
    }

    fn pick(&mut self) -> Entity {
        self.entities[self.dice.below(self.entities.len() as u64) as usize]
    }

    /// A tool changes stock `n` times, each in its own transaction.
    pub fn local_changes(&mut self, n: usize) {
        for _ in 0..n {
            let (entity, delta) = (self.pick(), self.dice.delta());
            tool_change(&self.db, entity, delta);
            *self.expected.get_mut(&entity).unwrap() += delta;
        }
    }

    /// A tool asks for `n` new products, each in its own transaction.
    pub fn new_products(&mut self, n: usize) {
        for _ in 0..n {
            let sku = format!("DRILL-NEW-{}", self.new_skus.len() + 1);
            open(&self.db)
                .execute(
                    "INSERT INTO new_products (name, sku, price, quantity) VALUES (?1, ?1, 2.5, 7)",
                    [&sku],
                )
                .unwrap();
            self.new_skus.push(sku);
        }
    }

    /// The storefront sells one unit `n` times.
    pub async fn sales(&mut self, n: usize) {
        for _ in 0..n {
            let entity = self.pick();
            let order = self.store.sale(entity.0, entity.1, 1).await;
            assert!(
                order["orderId"].is_string(),
                "the sale went through: {order}"
            );
            *self.expected.get_mut(&entity).unwrap() -= 1;
        }
    }

    /// The admin renames and reprices `n` products.
    pub async fn admin_edits(&mut self, n: usize) {
        for _ in 0..n {
            let (product, _) = self.pick();
            let mark = self.dice.below(100_000);
            self.store
                .admin_edit_product(
                    product,
                    json!({"name": format!("Edited {mark}"), "price": 1.0 + mark as f64 / 100.0}),
                )
                .await;
        }
    }

    /// Why the drill has not converged yet, or `None` once it has: nothing on its way in
    /// the outbox or the inbox, the store holding every change once, the mirror equal to the
    /// store.
    pub async fn unsettled(&self) -> Option<String> {
        let open_changes = count(
            &self.db,
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
        );
        if open_changes != 0 {
            return Some(format!("{open_changes} stock changes still on their way"));
        }
        let open_creates = count(
            &self.db,
            "SELECT count(*) FROM new_products WHERE state IN ('pending', 'sending')",
        );
        if open_creates != 0 {
            return Some(format!("{open_creates} new products still on their way"));
        }
        let open_events = events_in(&self.db, "pending");
        if open_events != 0 {
            return Some(format!("{open_events} webhook events still pending"));
        }
        let state = self.store.state().await;
        if let Some(off) = self.stock_off(&state) {
            return Some(off);
        }
        if let Some(off) = self.created_off(&state) {
            return Some(off);
        }
        mirror_differs_from_store(&open(&self.db), &state)
    }

    /// The entities whose store stock differs from start + changes - sales.
    fn stock_off(&self, state: &Value) -> Option<String> {
        let stock = store_stock(state);
        let off: Vec<String> = self
            .expected
            .iter()
            .filter(|(e, q)| stock.get(e) != Some(q))
            .map(|(e, q)| format!("{e:?}: store {:?}, expected {q}", stock.get(e)))
            .collect();
        (!off.is_empty()).then(|| format!("stock differs: {}", off.join("; ")))
    }

    /// The requested products the store does not hold exactly once.
    fn created_off(&self, state: &Value) -> Option<String> {
        let products = state["products"].as_array()?;
        let off: Vec<String> = self
            .new_skus
            .iter()
            .map(|sku| {
                (
                    sku,
                    products.iter().filter(|p| p["sku"] == json!(sku)).count(),
                )
            })
            .filter(|(_, n)| *n != 1)
            .map(|(sku, n)| format!("{sku} is in the store {n} times"))
            .collect();
        (!off.is_empty()).then(|| format!("new products: {}", off.join("; ")))
    }

    /// Stock units the store holds beyond (doubled) or short of (lost) what it should.
    pub async fn units_off(&self) -> i64 {
        let stock = store_stock(&self.store.state().await);
        self.expected
            .iter()
            .map(|(e, q)| (stock.get(e).copied().unwrap_or(0) - q).abs())
            .sum()
    }

    /// Waits until the drill converges; the reason it has not when `within` runs out.
    pub async fn converges(&self, within: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Some(why) = self.unsettled().await else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Outbox rows that ended other than applied (failed, uncertain, conflict), by state.
    pub fn settled_otherwise(&self) -> BTreeMap<String, i64> {
        query(
            &open(&self.db),
            "SELECT state, count(*) FROM outbox WHERE state NOT IN ('applied', 'pending', 'sending') GROUP BY state",
        )
        .into_iter()
        .map(|row| {
            (
                row[0].as_str().unwrap_or_default().to_string(),
                row[1].as_i64().unwrap_or(0),
            )
        })
        .collect()
    }

    /// Waits until the store has answered `n` more requests (of anyone's).
    async fn after_requests(&self, n: u64) {
        let requests = || async {
            self.store.stats().await["requests_total"]
                .as_u64()
                .unwrap_or(0)
        };
        let at = requests().await + n;
        wait_until(Duration::from_secs(30), || async { requests().await >= at }).await;
    }

    /// `PRAGMA integrity_check`'s answer: "ok" for an intact file.
    pub fn integrity(&self) -> String {
        open(&self.db)
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap_or_else(|e| e.to_string())
    }

    /// Converged, intact, with every change applied: the check after each round.
    async fn holds(&self, within: Duration) -> Result<(), String> {
        self.converges(within).await?;
        let integrity = self.integrity();
        if integrity != "ok" {
            return Err(format!("integrity_check: {integrity}"));
        }
        let otherwise = self.settled_otherwise();
        if !otherwise.is_empty() {
            return Err(format!("stock changes that did not apply: {otherwise:?}"));
        }
        let not_created = query(
            &open(&self.db),
            "SELECT sku, state, error FROM new_products WHERE state <> 'created'",
        );
        if !not_created.is_empty() {
            return Err(format!("new products not created: {not_created:?}"));
        }
        Ok(())
    }
}

/// Several drills, one daemon: each drill's store is a file of `stores.d/` beside a main
/// configuration that holds only the listeners, so that every store's webhooks come to one
/// address.
pub struct ManyStores {
    pub drills: Vec<Drill>,
    /// The main configuration file.
    pub config: PathBuf,
    pub listen: SocketAddr,
    _scratch: Scratch,
}

impl ManyStores {
    /// `stores[i]` is mirrored as the store named `names[i]`.
    pub async fn start(stores: Vec<EmulatorConfig>, names: &[&str], seed: u64) -> ManyStores {
        let scratch = Scratch::new();
        let listen = free_local_addr();
        let config = scratch.path("config.toml");
        std::fs::write(
            &config,
            format!("[webhooks]\nlisten = \"{listen}\"\n\n[console]\nlisten = \"127.0.0.1:0\"\n"),
        )
        .unwrap();
        std::fs::create_dir(scratch.path("stores.d")).unwrap();
        let mut drills = Vec::new();
        for (i, (store, name)) in stores.into_iter().zip(names).enumerate() {
            let drill = Drill::start(store, seed + i as u64, 0).await;
            drill
                .store
                .set_webhooks(json!({"url": webhook_url(listen)}))
                .await;
            std::fs::write(
                scratch.path(&format!("stores.d/{name}.toml")),
                store_file_text(&drill.config),
            )
            .unwrap();
            drills.push(drill);
        }
        ManyStores {
            drills,
            config,
            listen,
            _scratch: scratch,
        }
    }

    /// The file of the store named `name` in `stores.d/`.
    pub fn store_file(&self, name: &str) -> PathBuf {
        self.config
            .with_file_name("stores.d")
            .join(format!("{name}.toml"))
    }

    pub fn daemon(&self) -> tokio::process::Child {
        spawn_ecwid_sync(&self.config, &["run"], Stdio::piped())
    }

    /// Every store converged, intact, with every change applied.
    pub async fn hold(&self, within: Duration) -> Result<(), String> {
        for (i, drill) in self.drills.iter().enumerate() {
            drill
                .holds(within)
                .await
                .map_err(|why| format!("store {i}: {why}"))?;
        }
        Ok(())
    }
}

/// A store's file for `stores.d/`: a single-store configuration without the sections that
/// belong to the main file.
pub fn store_file_text(single: &std::path::Path) -> String {
    let text = std::fs::read_to_string(single).unwrap();
    let start = text.find("[ecwid]").expect("an [ecwid] section");
    text[start..].to_string()
}

pub fn webhook_url(listen: SocketAddr) -> String {
    format!("http://{listen}/webhooks/ecwid")
}

pub async fn kill_9(daemon: &mut tokio::process::Child) {
    if let Some(pid) = daemon.id() {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let _ = daemon.wait().await;
}

/// What a crash drill killed, and which rounds ended with the promises kept.
#[derive(Debug, Default)]
pub struct CrashReport {
    pub rounds: usize,
    pub passed: usize,
    /// Kills during a full pull, while webhook events were being applied, while pushing.
    pub kills: [usize; 3],
    /// Products a tool asked for during the pushing rounds, each found in the store once.
    pub created: usize,
    pub failures: Vec<String>,
}

/// The store a crash drill runs against: `products` with two variations each, orders and
/// customers in proportion, every kind mirrored.
pub fn crash_store(products: usize) -> EmulatorConfig {
    EmulatorConfig {
        products,
        variations_per_product: 2,
        orders: products / 2,
        customers: products / 5,
        categories: 9,
        seed: 7,
        rate_limit: None,
        ..EmulatorConfig::default()
    }
}

/// `rounds` rounds of SIGKILL, turn by turn during a full pull, while webhook events are
/// being applied and while stock changes and new products are being pushed; after each, a restart, and the
/// check that the daemon converges within `within` with the promises kept.
pub async fn crash_drill(
    store: EmulatorConfig,
    rounds: usize,
    seed: u64,
    within: Duration,
) -> CrashReport {
    let mut drill = Drill::start(store, seed, 0).await;
    // Every request takes a while, as over the internet: a batch stays in flight long
    // enough to be killed in the middle of one, and a kill lands inside a pull.
    drill.store.set_faults(json!({"latency_ms": 50})).await;
    // A full pull of this store, as `sync --full` makes it: the requests it takes, the
    // range a kill is drawn from.
    let mut pull = spawn_ecwid_sync(&drill.config, &["sync", "--full"], Stdio::null());
    assert!(pull.wait().await.unwrap().success(), "the first full pull");
    let full_pull_requests = drill.store.stats().await["requests_total"]
        .as_u64()
        .unwrap_or(1);
    let mut daemon = drill.daemon();
    let mut report = CrashReport {
        rounds,
        ..CrashReport::default()
    };
    if let Err(why) = drill.holds(within).await {
        report
            .failures
            .push(format!("before the first round: {why}"));
        kill_9(&mut daemon).await;
        return report;
    }
    for round in 0..rounds {
        let phase = round % 3;
        // Whether the kill hit what the round aimed at.
        let mut landed = true;
        match phase {
            0 => {
                // Killed wherever it was; while it is down the storefront sells and a tool
                // changes stock; then a full pull is killed part-way, and the restarted
                // daemon, which resumes it, is killed part-way too.
                kill_9(&mut daemon).await;
                drill.sales(2).await;
                drill.local_changes(3);
                let mut pull = spawn_ecwid_sync(&drill.config, &["sync", "--full"], Stdio::null());
                let at = drill.dice.below(full_pull_requests.saturating_sub(1));
                drill.after_requests(1 + at).await;
                // A pull that ended before its kill is no kill during a full pull.
                landed = pull.try_wait().ok().flatten().is_none();
                kill_9(&mut pull).await;
                daemon = drill.daemon();
                let at = drill.dice.below(full_pull_requests / 2);
                drill.after_requests(1 + at).await;
                kill_9(&mut daemon).await;
            }
            1 => {
                // Killed with webhook events in its inbox or being applied.
                let received = count(&drill.db, "SELECT count(*) FROM webhook_events");
                drill.sales(3).await;
                drill.admin_edits(2).await;
                wait_until(Duration::from_secs(10), || async {
                    count(&drill.db, "SELECT count(*) FROM webhook_events") > received
                })
                .await;
                sleep_ms(drill.dice.below(200)).await;
                kill_9(&mut daemon).await;
            }
            _ => {
                // Killed in turn while a batch is most likely on its way (the worker looks
                // every 50 ms and Ecwid takes 50 ms to answer, running it all the same),
                // just after Ecwid answered a create, or while polling a batch.
                let creates = drill.store.request_count("POST /batch").await;
                let polls = drill.store.request_count("GET /batch").await;
                let n = 3 + drill.dice.below(10) as usize;
                drill.local_changes(n);
                // New products ride in the same keyed batches as the stock changes.
                let new = 1 + drill.dice.below(2) as usize;
                drill.new_products(new);
                report.created += new;
                match (round / 3) % 3 {
                    0 => sleep_ms(40 + drill.dice.below(60)).await,
                    1 => {
                        wait_until(Duration::from_secs(10), || async {
                            drill.store.request_count("POST /batch").await > creates
                        })
                        .await;
                    }
                    _ => {
                        wait_until(Duration::from_secs(10), || async {
                            drill.store.request_count("GET /batch").await > polls
                        })
                        .await;
                    }
                }
                kill_9(&mut daemon).await;
            }
        }
        if landed {
            report.kills[phase] += 1;
        }
        daemon = drill.daemon();
        match drill.holds(within).await {
            Ok(()) => report.passed += 1,
            Err(why) => report.failures.push(format!("round {round}: {why}")),
        }
    }
    let stopped = terminate(&mut daemon).await;
    if stopped.code() != Some(0) {
        report
            .failures
            .push(format!("the daemon stopped with {stopped}"));
    }
    report
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// What a fault drill ended with.
#[derive(Debug)]
pub struct FaultReport {
    pub converged: Result<(), String>,
    /// Stock units the store holds beyond or short of start + changes - sales.
    pub units_off: i64,
    pub uncertain: i64,
    /// Outbox rows failed or in conflict: none are expected either.
    pub otherwise: i64,
    pub answered_429: u64,
    pub answered_5xx: u64,
    pub exit_code: Option<i32>,
}

/// The store of a fault drill: Ecwid's retries of a failing request inside a batch (5, 3 s
/// apart) compressed twentyfold, which still leaves its key memory longer than the drill.
pub fn fault_store() -> EmulatorConfig {
    EmulatorConfig {
        time_scale: 20.0,
        ..TestStore::small()
    }
}

/// `waves` waves of local changes and sales while the store answers 5% of requests with
/// 500 or 503, drops 2% of connections (half of them after applying the request), lags its
/// searches by a second, and in the middle answers a storm of 15 requests with 429
/// (`Retry-After: 1`), which costs the waves about the 15 s it asks for.
pub async fn fault_drill(seed: u64, waves: usize, within: Duration) -> FaultReport {
    let mut drill = Drill::start(fault_store(), seed, 3).await;
    let faults = |storm: u64| {
        json!({
            "seed": seed,
            "error_500_rate": 0.025,
            "error_503_rate": 0.025,
            "drop_before_apply_rate": 0.01,
            "drop_after_apply_rate": 0.01,
            "storm_429_requests": storm,
            "index_lag_secs": 1.0,
        })
    };
    let mut daemon = drill.daemon();
    let log = StderrLog::collect(&mut daemon);
    assert!(first_pass_done(&drill.db).await, "{}", log.text());
    drill.store.set_faults(faults(0)).await;
    for wave in 0..waves {
        if wave == waves / 2 {
            drill.store.set_faults(faults(15)).await;
        }
        drill.local_changes(12);
        drill.sales(3).await;
        // Each wave starts once the last one's changes are on their way.
        let picked_up = wait_until(Duration::from_secs(30), || async {
            count(
                &drill.db,
                "SELECT count(*) FROM outbox WHERE state = 'pending'",
            ) == 0
        })
        .await;
        assert!(picked_up, "wave {wave}: {}", log.text());
    }
    let converged = drill.converges(within).await;
    let stats = drill.store.stats().await;
    let status = |code: &str| stats["status"][code].as_u64().unwrap_or(0);
    let otherwise = drill.settled_otherwise();
    FaultReport {
        units_off: drill.units_off().await,
        uncertain: otherwise.get("uncertain").copied().unwrap_or(0),
        otherwise: otherwise
            .iter()
            .filter(|(state, _)| *state != "uncertain")
            .map(|(_, n)| n)
            .sum(),
        answered_429: status("429"),
        answered_5xx: status("500") + status("503"),
        exit_code: terminate(&mut daemon).await.code(),
        converged: converged.map_err(|why| format!("{why}\n{}", log.text())),
    }
}
