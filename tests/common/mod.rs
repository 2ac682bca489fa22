//! Test helpers: an emulated store on a free port, a config pointing at it, and the
//! expected mirror contents derived independently from the store's own state.
#![allow(dead_code)]

pub mod browser;
pub mod console;
pub mod drills;
pub mod stock;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use ecwid_emulator::{Emulator, EmulatorConfig};
use ecwid_sync::commands::sync_once;
use ecwid_sync::config::{Config, SecretEnv};
use ecwid_sync::sync::progress::ProgressMode;
use ecwid_sync::sync::{Kind, RunSummary};
use rusqlite::Connection;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub struct TestStore {
    pub emulator: Emulator,
    pub config: EmulatorConfig,
    http: reqwest::Client,
}

impl TestStore {
    pub async fn start(config: EmulatorConfig) -> TestStore {
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), config.clone())
            .await
            .expect("start the emulator");
        TestStore {
            emulator,
            config,
            http: reqwest::Client::new(),
        }
    }

    /// A small store with every kind of entity and no rate limit.
    pub fn small() -> EmulatorConfig {
        EmulatorConfig {
            products: 230,
            variations_per_product: 2,
            orders: 140,
            customers: 40,
            categories: 9,
            seed: 7,
            rate_limit: None,
            ..EmulatorConfig::default()
        }
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(
            method.clone(),
            format!("{}/_emulator{path}", self.emulator.url()),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} /_emulator{path} answered {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn state(&self) -> Value {
        self.control(reqwest::Method::GET, "/state", None).await
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "/stats", None).await
    }

    pub async fn reset_stats(&self) {
        self.control(reqwest::Method::POST, "/stats/reset", None)
            .await;
    }

    pub async fn set_faults(&self, faults: Value) {
        self.control(reqwest::Method::PUT, "/faults", Some(faults))
            .await;
    }

    pub async fn sale(&self, product_id: i64, combination_id: Option<i64>, quantity: i64) -> Value {
        let body = json!({
            "items": [{"productId": product_id, "combinationId": combination_id, "quantity": quantity}],
            "paymentStatus": "PAID"
        });
        self.control(reqwest::Method::POST, "/orders", Some(body))
            .await
    }

    pub async fn admin_edit_product(&self, id: i64, fields: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("/products/{id}"),
            Some(fields),
        )
        .await;
    }

    /// An edit that skips the API's type checks: a document the client cannot expect.
    pub async fn admin_edit_product_unchecked(&self, id: i64, fields: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("/products/{id}?unchecked=true"),
            Some(fields),
        )
        .await;
    }

    pub async fn admin_edit_combination(&self, product: i64, combination: i64, fields: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("/combinations/{product}/{combination}"),
            Some(fields),
        )
        .await;
    }

    /// The shop owner renames, hides or shows a category in the admin.
    pub async fn admin_edit_category(&self, id: i64, fields: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("/categories/{id}"),
            Some(fields),
        )
        .await;
    }

    pub async fn admin_delete_product(&self, id: i64) {
        self.control(reqwest::Method::DELETE, &format!("/products/{id}"), None)
            .await;
    }

    /// `order` is the string id or the internal id.
    pub async fn admin_delete_order(&self, order: impl std::fmt::Display) {
        self.control(reqwest::Method::DELETE, &format!("/orders/{order}"), None)
            .await;
    }

    /// `order` is the string id or the internal id.
    pub async fn admin_edit_order(&self, order: impl std::fmt::Display, fields: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("/orders/{order}"),
            Some(fields),
        )
        .await;
    }

    /// An order edit that skips the API's type checks; a `null` removes the field.
    pub async fn admin_edit_order_unchecked(&self, order: &str, fields: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("/orders/{order}?unchecked=true"),
            Some(fields),
        )
        .await;
    }

    /// A read of the store's API, as any client would make it.
    pub async fn api_get(&self, path_and_query: &str) -> Value {
        let url = format!(
            "{}/{}{path_and_query}",
            self.emulator.api_base(),
            self.config.store_id
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.config.token)
            .send()
            .await
            .expect("API request");
        assert!(
            response.status().is_success(),
            "GET {path_and_query}: {}",
            response.status()
        );
        response.json().await.expect("JSON answer")
    }

    /// `PUT /_emulator/webhooks`: where (`url`) and how the store sends its webhooks.
    pub async fn set_webhooks(&self, settings: Value) {
        self.control(reqwest::Method::PUT, "/webhooks", Some(settings))
            .await;
    }

    /// `POST /_emulator/webhooks/send`: one signed event of any type, e.g.
    /// `{"eventType": "review.created"}`.
    pub async fn send_webhook(&self, event: Value) {
        self.control(reqwest::Method::POST, "/webhooks/send", Some(event))
            .await;
    }

    /// Requests the emulator counted, by route (`GET /products`), and in total.
    pub async fn request_count(&self, route: &str) -> u64 {
        self.stats().await["requests"][route].as_u64().unwrap_or(0)
    }

    /// Requests on `route` that have arrived, answered or not (a slow one still in progress
    /// shows here before it does in [`TestStore::request_count`]).
    pub async fn arrived_count(&self, route: &str) -> u64 {
        self.stats().await["arrived"][route].as_u64().unwrap_or(0)
    }
}

/// A config file's text for `store`, writing the mirror at `db`; `extra` is appended to
/// `[sync]`.
pub fn config_text(store: &TestStore, db: &Path, token: &str, sync_extra: &str) -> String {
    format!(
        r#"
# Port 0: daemons started by tests in parallel never compete for the listener's port.
[webhooks]
listen = "127.0.0.1:0"

[console]
listen = "127.0.0.1:0"

[ecwid]
store_id = {store_id}
token = "{token}"
api_base = "{api_base}"
requests_per_minute = 6000
burst = 1000
max_retries = 12

[mirror]
path = "{db}"

[sync]
kinds = ["products", "categories", "orders", "customers"]
overlap_secs = 0
search_lag_secs = 0
{sync_extra}
"#,
        store_id = store.config.store_id,
        api_base = store.emulator.api_base(),
        db = db.display(),
    )
}

/// `config_text` for a daemon that receives `store`'s webhooks on `listen`, signed with
/// the store's client secret.
pub fn webhook_config_text(
    store: &TestStore,
    db: &Path,
    listen: SocketAddr,
    sync_extra: &str,
) -> String {
    config_text(store, db, &store.config.token, sync_extra)
        .replace(
            "max_retries = 12\n",
            &format!(
                "max_retries = 12\nclient_secret = \"{}\"\n",
                store.config.client_secret
            ),
        )
        // The first listener is the webhook one; the console's stays on port 0.
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"{listen}\""),
            1,
        )
}

/// A port on 127.0.0.1 that nothing listens on right now, for a process that must be told
/// its port before it starts (the emulator needs the daemon's webhook URL).
pub fn free_local_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
}

pub fn config(store: &TestStore, db: &Path) -> Config {
    Config::parse(
        &config_text(store, db, &store.config.token, ""),
        &SecretEnv::default(),
    )
    .expect("test config is valid")
}

/// Writes a config file for `store` next to the mirror at `db`; `sync_extra` joins [sync].
pub fn write_config(store: &TestStore, db: &Path, sync_extra: &str) -> PathBuf {
    let path = db.with_extension("toml");
    std::fs::write(
        &path,
        config_text(store, db, &store.config.token, sync_extra),
    )
    .unwrap();
    path
}

/// Starts the `ecwid-sync` binary with `--config config` and `args`.
pub fn spawn_ecwid_sync(config: &Path, args: &[&str], stderr: Stdio) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start ecwid-sync")
}

/// The body of a `product.updated` webhook for the emulator's store, created now.
pub fn product_event(event_id: &str, product_id: i64) -> Value {
    json!({
        "eventId": event_id,
        "eventType": "product.updated",
        "eventCreated": ecwid_sync::mirror::unix_now(),
        "storeId": 1003,
        "entityId": product_id,
    })
}

/// The `X-Ecwid-Webhook-Signature` Ecwid sends with `event`, signed with `client_secret`.
pub fn signature_of(event: &Value, client_secret: &str) -> String {
    let id = match &event["eventId"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ecwid_emulator::signature(client_secret, event["eventCreated"].as_i64().unwrap(), &id)
}

/// Posts `body` to the webhook `url` as Ecwid does, with `signature` (none when `None`);
/// the answer's status.
pub async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
    signature: Option<&str>,
) -> u16 {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json; charset=UTF-8")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("X-Ecwid-Webhook-Signature", signature);
    }
    request
        .send()
        .await
        .expect("the receiver answers")
        .status()
        .as_u16()
}

/// Sends SIGTERM, as systemd does, and waits up to 20 s for the process to exit.
pub async fn terminate(child: &mut tokio::process::Child) -> ExitStatus {
    let pid = child.id().expect("still running") as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits within 20 s of SIGTERM")
        .expect("exit status")
}

/// A count from the mirror, or -1 while it cannot be read yet.
pub fn count(db: &Path, sql: &str) -> i64 {
    let Ok(conn) = Connection::open(db) else {
        return -1;
    };
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
}

/// A count from a copy of the mirror's main file alone, without its `-wal` and `-shm`: what
/// a backup that copies `mirror.db` would hold.
pub fn count_in_main_file_copy(db: &Path, sql: &str) -> i64 {
    let copy = db.with_file_name("copy-of-main-file.db");
    std::fs::copy(db, &copy).expect("copy the main file");
    let n = count(&copy, sql);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
    n
}

/// A mirror file as ecwid-sync wrote it at schema version 1, holding `rows`.
pub fn schema_1_mirror(path: &Path, rows: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("../../schema/001_initial.sql"))
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute_batch(rows).unwrap();
}

/// The files of the mirror at `db` (itself, `-wal`, `-shm`, `.lock`) that exist.
pub fn mirror_files(db: &Path) -> Vec<String> {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    let mut found: Vec<String> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(&name))
        .collect();
    found.sort();
    found
}

pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A store started from `store_config` and a mirror that had its first pass. The scratch
/// directory holds the mirror; keep it alive as long as the mirror is used.
pub async fn mirrored(store_config: EmulatorConfig) -> (TestStore, Scratch, PathBuf, Config) {
    let store = TestStore::start(store_config).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config(&store, &db);
    pass(&config, false).await;
    (store, scratch, db, config)
}

pub async fn pass(config: &Config, full: bool) -> Vec<RunSummary> {
    sync_once(
        config,
        &config.sync.kinds,
        full,
        ProgressMode::Log,
        CancellationToken::new(),
    )
    .await
    .expect("pass succeeds")
}

/// `sql` run as a tool runs it (see [`open`]).
pub fn tool(db: &Path, sql: &str) -> Result<usize, rusqlite::Error> {
    open(db).execute(sql, [])
}

/// One pass of the pusher (`ecwid-sync push`), which must end without error.
pub async fn push(config: &Config) -> ecwid_sync::sync::push::PushSummary {
    ecwid_sync::commands::push_once(config, CancellationToken::new())
        .await
        .unwrap()
}

/// A connection as a tool opens it: with a busy timeout, so that its writes wait for the
/// daemon's instead of failing (schema/README.md asks tools for one).
pub fn open(db: &Path) -> Connection {
    let conn = Connection::open(db).expect("open mirror");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// The operator CLI tests log in as.
pub const OPERATOR: &str = "shop-operator";

/// The binary, as an operator logged in as [`OPERATOR`] runs it.
pub fn run_as_operator(config: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SUDO_USER")
        .env("USER", OPERATOR)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ecwid-sync")
}

/// Records, as the daemon would, an open conflict on `product`'s weight (1.0 before, 1.5 in
/// the mirror, 2.0 in Ecwid), for tests about what an operator does with one.
pub fn stage_weight_conflict(db: &Path, product: i64) {
    open_as_daemon(db)
        .execute(
            "INSERT INTO conflicts (entity, product_id, field, base, local, remote, local_at,
                                    remote_at, policy, created_at, state, outbox_ids)
             VALUES ('product', ?1, 'weight', 1.0, 1.5, 2.0, 100, 110, 'manual', 120, 'open', '[]')",
            [product],
        )
        .unwrap();
}

/// A connection as the daemon's own: triggers off, so it may write the daemon's bookkeeping,
/// which tools may not (for tests that stage what the daemon would have recorded).
pub fn open_as_daemon(db: &Path) -> Connection {
    let conn = open(db);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER,
        false,
    )
    .unwrap();
    conn
}

pub fn summary(summaries: &[RunSummary], kind: Kind) -> &RunSummary {
    summaries
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("no summary for {kind}"))
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- the mirror's expected contents, read off the store's state ----

fn num(v: &Value) -> Value {
    // Compare numbers as f64 so 10 and 10.0 agree.
    v.as_f64().map(|f| json!(f)).unwrap_or(Value::Null)
}

fn flag(v: &Value, default: bool) -> i64 {
    v.as_bool().unwrap_or(default) as i64
}

/// Every product row as the contract says the mirror must hold it.
pub fn expected_products(state: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let unlimited = p["unlimited"].as_bool().unwrap_or(false);
            json!([
                p["id"],
                p["sku"],
                p["name"],
                num(&p["price"]),
                num(&p["compareToPrice"]),
                if unlimited {
                    Value::Null
                } else {
                    p["quantity"].clone()
                },
                unlimited as i64,
                flag(&p["inStock"], false),
                flag(&p["enabled"], true),
                num(&p["weight"]),
                p["defaultCategoryId"],
                p["createTimestamp"],
                p["updateTimestamp"],
            ])
        })
        .collect();
    rows.sort_by_key(|r| r[0].as_i64());
    rows
}

pub fn mirror_products(conn: &Connection) -> Vec<Value> {
    query(
        conn,
        "SELECT id, sku, name, price, compare_to_price, quantity, unlimited, in_stock, enabled,
                weight, default_category_id, created_at, updated_at FROM products ORDER BY id",
    )
}

pub fn expected_variations(state: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for p in state["products"].as_array().unwrap() {
        for v in p["combinations"].as_array().into_iter().flatten() {
            let unlimited = v["unlimited"]
                .as_bool()
                .unwrap_or(p["unlimited"].as_bool().unwrap_or(false));
            let sku = if v["sku"].is_string() {
                v["sku"].clone()
            } else {
                p["sku"].clone()
            };
            let price = if v["price"].is_number() {
                num(&v["price"])
            } else {
                json!(price_with_modifiers(p, v))
            };
            rows.push(json!([
                v["id"],
                p["id"],
                sku,
                if unlimited {
                    Value::Null
                } else {
                    v["quantity"].clone()
                },
                unlimited as i64,
                price,
                v["options"],
            ]));
        }
    }
    rows.sort_by_key(|r| r[0].as_i64());
    rows
}

/// The product's price plus the price modifiers of the choices the variation is made of.
fn price_with_modifiers(product: &Value, variation: &Value) -> f64 {
    let base = product["price"].as_f64().unwrap_or(0.0);
    let mut price = base;
    for pick in variation["options"].as_array().into_iter().flatten() {
        let choice = product["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["name"] == pick["name"])
            .flat_map(|o| o["choices"].as_array().into_iter().flatten())
            .find(|c| c["text"] == pick["value"]);
        if let Some(c) = choice {
            let m = c["priceModifier"].as_f64().unwrap_or(0.0);
            price += if c["priceModifierType"] == "PERCENT" {
                base * m / 100.0
            } else {
                m
            };
        }
    }
    (price * 100.0).round() / 100.0
}

pub fn mirror_variations(conn: &Connection) -> Vec<Value> {
    let mut rows = query(
        conn,
        "SELECT id, product_id, sku, quantity, unlimited, price, options_json
           FROM product_variations ORDER BY id",
    );
    for r in &mut rows {
        r[6] = serde_json::from_str(r[6].as_str().unwrap_or("null")).unwrap();
    }
    rows
}

pub fn expected_product_categories(state: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for p in state["products"].as_array().unwrap() {
        for c in p["categoryIds"].as_array().into_iter().flatten() {
            rows.push(json!([p["id"], c]));
        }
    }
    rows.sort_by_key(|r| (r[0].as_i64(), r[1].as_i64()));
    rows
}

pub fn mirror_product_categories(conn: &Connection) -> Vec<Value> {
    query(
        conn,
        "SELECT product_id, category_id FROM product_categories ORDER BY product_id, category_id",
    )
}

pub fn expected_categories(state: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = state["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let parent = c["parentId"].as_i64().filter(|&p| p != 0);
            json!([c["id"], parent, c["name"], flag(&c["enabled"], true)])
        })
        .collect();
    rows.sort_by_key(|r| r[0].as_i64());
    rows
}

pub fn mirror_categories(conn: &Connection) -> Vec<Value> {
    query(
        conn,
        "SELECT id, parent_id, name, enabled FROM categories ORDER BY id",
    )
}

/// Orders the API lists by default: unfinished checkouts (INCOMPLETE) are not sales.
pub fn listed_orders(state: &Value) -> Vec<&Value> {
    state["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["paymentStatus"] != "INCOMPLETE")
        .collect()
}

/// The mirror's key of an order: its internal id (older documents: `orderNumber`).
fn order_key(order: &Value) -> Value {
    if order["internalId"].is_i64() {
        order["internalId"].clone()
    } else {
        order["orderNumber"].clone()
    }
}

pub fn expected_orders(state: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = listed_orders(state)
        .into_iter()
        .map(|o| {
            let id = match &o["id"] {
                Value::String(s) => json!(s),
                Value::Number(n) => json!(n.to_string()),
                _ => Value::Null,
            };
            json!([
                order_key(o),
                id,
                o["email"],
                o["customerId"],
                o["paymentStatus"],
                o["fulfillmentStatus"],
                num(&o["total"]),
                num(&o["subtotal"]),
                num(&o["tax"]),
                o["trackingNumber"],
                o["createTimestamp"],
                o["updateTimestamp"],
                flag(&o["hidden"], false),
            ])
        })
        .collect();
    rows.sort_by_key(|r| r[0].as_i64());
    rows
}

pub fn mirror_orders(conn: &Connection) -> Vec<Value> {
    query(
        conn,
        "SELECT order_number, id, email, customer_id, payment_status, fulfillment_status, total,
                subtotal, tax, tracking_number, created_at, updated_at, hidden
           FROM orders ORDER BY order_number",
    )
}

pub fn expected_order_items(state: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for o in listed_orders(state) {
        for (line, i) in o["items"].as_array().into_iter().flatten().enumerate() {
            rows.push(json!([
                order_key(o),
                line,
                i["productId"],
                i["sku"],
                i["name"],
                i["quantity"],
                num(&i["price"]),
                i["combinationId"],
            ]));
        }
    }
    rows.sort_by_key(|r| (r[0].as_i64(), r[1].as_i64()));
    rows
}

pub fn mirror_order_items(conn: &Connection) -> Vec<Value> {
    query(
        conn,
        "SELECT order_number, line, product_id, sku, name, quantity, price, combination_id
           FROM order_items ORDER BY order_number, line",
    )
}

pub fn expected_customers(state: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = state["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["id"], c["email"], c["name"]]))
        .collect();
    rows.sort_by_key(|r| r[0].as_i64());
    rows
}

pub fn mirror_customers(conn: &Connection) -> Vec<Value> {
    query(conn, "SELECT id, email, name FROM customers ORDER BY id")
}

/// Asserts that every contract column of every table equals the store's state.
pub fn assert_mirror_equals_store(conn: &Connection, state: &Value) {
    if let Some(difference) = mirror_differs_from_store(conn, state) {
        panic!("{difference}");
    }
}

/// Products, their variations and category links equal the store's.
pub fn assert_products_equal_store(conn: &Connection, state: &Value) {
    if let Some(difference) = products_differ_from_store(conn, state) {
        panic!("{difference}");
    }
}

/// The first way any contract column of any table differs from the store's state.
pub fn mirror_differs_from_store(conn: &Connection, state: &Value) -> Option<String> {
    products_differ_from_store(conn, state)
        .or_else(|| {
            differs(
                "categories",
                mirror_categories(conn),
                expected_categories(state),
            )
        })
        .or_else(|| differs("orders", mirror_orders(conn), expected_orders(state)))
        .or_else(|| {
            differs(
                "order_items",
                mirror_order_items(conn),
                expected_order_items(state),
            )
        })
        .or_else(|| {
            differs(
                "customers",
                mirror_customers(conn),
                expected_customers(state),
            )
        })
}

fn products_differ_from_store(conn: &Connection, state: &Value) -> Option<String> {
    differs("products", mirror_products(conn), expected_products(state))
        .or_else(|| {
            differs(
                "product_variations",
                mirror_variations(conn),
                expected_variations(state),
            )
        })
        .or_else(|| {
            differs(
                "product_categories",
                mirror_product_categories(conn),
                expected_product_categories(state),
            )
        })
}

fn differs(table: &str, mirror: Vec<Value>, store: Vec<Value>) -> Option<String> {
    if mirror.len() != store.len() {
        return Some(format!(
            "{table}: the mirror has {} rows, the store {}",
            mirror.len(),
            store.len()
        ));
    }
    mirror
        .iter()
        .zip(&store)
        .find(|(m, s)| m != s)
        .map(|(m, s)| format!("{table}: mirror row {m} differs from the store's {s}"))
}

/// Rows as JSON arrays, SQLite values mapped to JSON (REAL as f64).
pub fn query(conn: &Connection, sql: &str) -> Vec<Value> {
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        let mut out = Vec::with_capacity(columns);
        for i in 0..columns {
            out.push(match row.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(n) => json!(n),
                rusqlite::types::ValueRef::Real(f) => json!(f),
                rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                rusqlite::types::ValueRef::Blob(_) => json!("<blob>"),
            });
        }
        Ok(Value::Array(out))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A child process's stderr, collected as it arrives, for tests that wait on a log line.
#[derive(Clone)]
pub struct StderrLog {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    /// Set once stderr has closed: every line the process wrote has been read.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StderrLog {
    /// Takes `child`'s piped stderr and reads it in the background until it closes.
    pub fn collect(child: &mut tokio::process::Child) -> StderrLog {
        use tokio::io::AsyncBufReadExt;
        let log = StderrLog {
            text: Default::default(),
            closed: Default::default(),
        };
        let mut lines =
            tokio::io::BufReader::new(child.stderr.take().expect("stderr piped")).lines();
        let (sink, closed) = (log.text.clone(), log.closed.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
            closed.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        log
    }

    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.text.lock().unwrap().contains(needle)
    }

    /// Everything the process wrote, once its stderr has closed (it has exited): the last
    /// lines may still be on their way when `wait` returns.
    pub async fn whole(&self) -> String {
        let closed = wait_until(Duration::from_secs(10), || async {
            self.closed.load(std::sync::atomic::Ordering::SeqCst)
        })
        .await;
        assert!(closed, "stderr stays open: {}", self.text());
        self.text()
    }
}

/// `config_text` with `setting` added to `[mirror]`.
pub fn with_mirror_setting(config_text: &str, setting: &str) -> String {
    config_text.replacen("\n[sync]\n", &format!("{setting}\n\n[sync]\n"), 1)
}

// ---- webhook events, recorded the way the receiver records them ----

/// A webhook as Ecwid sends it, reduced to what the receiver records.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub event_id: String,
    pub event_type: String,
    pub entity_id: i64,
    /// `data.orderId` of order and unfinished-order events.
    pub order_id: Option<String>,
    pub created: i64,
}

static NEXT_EVENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Webhook {
    pub fn new(event_type: &str, entity_id: i64) -> Webhook {
        Webhook {
            event_id: format!(
                "test-{}-{}",
                std::process::id(),
                NEXT_EVENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            event_type: event_type.to_string(),
            entity_id,
            order_id: None,
            created: ecwid_sync::mirror::unix_now(),
        }
    }

    pub fn order(event_type: &str, internal_id: i64, order_id: &str) -> Webhook {
        Webhook {
            order_id: Some(order_id.to_string()),
            ..Webhook::new(event_type, internal_id)
        }
    }

    /// The row the receiver writes (the fixed interface of issue 8): kind, entity_key,
    /// order_id and state.
    fn row(
        &self,
    ) -> (
        Option<&'static str>,
        Option<i64>,
        Option<&str>,
        &'static str,
    ) {
        // Privacy requests are pending whatever is mirrored (see mirror::privacy).
        if ecwid_sync::mirror::privacy::request_of(&self.event_type).is_some() {
            return (None, Some(self.entity_id), None, "pending");
        }
        let family = self.event_type.split('.').next().unwrap_or_default();
        let kind = match family {
            "product" => Some("products"),
            "category" => Some("categories"),
            "customer" => Some("customers"),
            "order" | "unfinished_order" => Some("orders"),
            _ => None,
        };
        let key = match family {
            "unfinished_order" => Some(self.entity_id).filter(|&id| id > 0),
            _ => Some(self.entity_id),
        };
        match kind {
            Some(kind) => (Some(kind), key, self.order_id.as_deref(), "pending"),
            None => (None, None, None, "ignored"),
        }
    }
}

/// The webhooks a storefront sale sends (`sale` is the emulator's answer): `order.created`
/// and `product.updated` of each product sold.
pub fn sale_webhooks(sale: &Value, product_ids: &[i64]) -> Vec<Webhook> {
    let mut hooks = vec![Webhook::order(
        "order.created",
        sale["id"].as_i64().expect("internal id"),
        sale["orderId"].as_str().expect("public id"),
    )];
    hooks.extend(
        product_ids
            .iter()
            .map(|&id| Webhook::new("product.updated", id)),
    );
    hooks
}

/// Records `hooks` in the mirror's inbox in one transaction, as the receiver does before it
/// acknowledges them. Works beside a running daemon.
pub fn receive(db: &Path, hooks: &[Webhook]) {
    let mut conn = open_as_daemon(db);
    conn.busy_timeout(Duration::from_secs(20)).unwrap();
    let tx = conn.transaction().unwrap();
    let now = ecwid_sync::mirror::unix_now();
    for hook in hooks {
        let (kind, key, order_id, state) = hook.row();
        tx.execute(
            "INSERT INTO webhook_events (event_id, event_type, kind, entity_key, order_id,
                 event_created, received_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                hook.event_id,
                hook.event_type,
                kind,
                key,
                order_id,
                hook.created,
                now,
                state
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Events of the inbox in `state`.
pub fn events_in(db: &Path, state: &str) -> i64 {
    count(
        db,
        &format!("SELECT count(*) FROM webhook_events WHERE state = '{state}'"),
    )
}

/// The delta worker of `config`'s mirror running in this process, without any schedule.
pub struct Deltas {
    pub inbox: std::sync::Arc<tokio::sync::Notify>,
    pub counts: std::sync::Arc<ecwid_sync::sync::deltas::counts::DeltaCounts>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), ecwid_sync::sync::PullError>>>,
}

impl Deltas {
    pub fn start(config: &Config) -> Deltas {
        let stop = CancellationToken::new();
        let inbox = std::sync::Arc::new(tokio::sync::Notify::new());
        let counts = std::sync::Arc::default();
        let writer =
            ecwid_sync::mirror::MirrorWriter::open(&config.mirror, stop.clone()).expect("mirror");
        let client = ecwid_sync::ecwid::Client::new(&config.ecwid).expect("client");
        let worker = ecwid_sync::sync::deltas::DeltaWorker::new(
            client,
            writer,
            ecwid_sync::config::Live::fixed(config.clone()),
            std::sync::Arc::clone(&inbox),
            std::sync::Arc::clone(&counts),
        );
        let task = tokio::spawn(worker.run(stop.clone()));
        Deltas {
            inbox,
            counts,
            stop,
            task: Some(task),
        }
    }

    /// Records `hooks` as the receiver does, then wakes the worker as it does.
    pub fn receive(&self, db: &Path, hooks: &[Webhook]) {
        receive(db, hooks);
        self.inbox.notify_one();
    }

    /// Stops the worker and waits until it has let the mirror go.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().expect("the worker ends without error");
        }
    }
}

impl Drop for Deltas {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One kind's entry in `ecwid-sync status --json`.
pub fn status_kind<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["kinds"]
        .as_array()
        .expect("status has kinds")
        .iter()
        .find(|k| k["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {status}"))
}

/// `/metrics` text parsed: value by metric name with its labels sorted, e.g.
/// `ecwid_sync_webhooks_rejected_total{reason="wrong_store"}`.
pub fn parse_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let mut values = std::collections::HashMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.last().map(|b| b.count).unwrap_or(0.0)
            }
            prometheus_parse::Value::Summary(_) => continue,
        };
        // Every series of a one-store daemon carries its store's name; keys leave it out, so
        // that a test reads a metric by the labels that tell its series apart.
        let mut labels: Vec<_> = sample
            .labels
            .iter()
            .filter(|(k, v)| !(k.as_str() == "store" && v.as_str() == "default"))
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let key = if labels.is_empty() {
            sample.metric
        } else {
            format!("{}{{{}}}", sample.metric, labels.join(","))
        };
        values.insert(key, value);
    }
    values
}

/// Waits until a daemon's first pass over the four kinds `config_text` mirrors has ended.
pub async fn first_pass_done(db: &Path) -> bool {
    wait_until(Duration::from_secs(30), || async {
        count(
            db,
            "SELECT count(*) FROM sync_state WHERE last_incremental IS NOT NULL",
        ) == 4
    })
    .await
}

/// Runs `sql` on the mirror as the daemon writes (uncaptured, and allowed where tools are
/// refused): for tests that stage a mirror the store does not match.
pub fn write_as_daemon(db: &Path, sql: &str) {
    open(db)
        .execute_batch(&format!(
            "BEGIN; INSERT INTO capture_paused VALUES (0); {sql}; DELETE FROM capture_paused; COMMIT;"
        ))
        .expect("the daemon-like write");
}

/// `ecwid-sync run` as a separate process that receives `store`'s webhooks, its mirror in a
/// scratch directory, past its first pass.
pub struct WebhookDaemon {
    pub _scratch: Scratch,
    pub db: PathBuf,
    pub listen: SocketAddr,
    pub child: tokio::process::Child,
    pub log: StderrLog,
}

impl WebhookDaemon {
    pub async fn start(store: &TestStore) -> WebhookDaemon {
        let scratch = Scratch::new();
        let db = scratch.path("mirror.db");
        let listen = free_local_addr();
        let config = db.with_extension("toml");
        std::fs::write(&config, webhook_config_text(store, &db, listen, "")).unwrap();
        store
            .set_webhooks(json!({"url": format!("http://{listen}/webhooks/ecwid")}))
            .await;
        let mut child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
        let log = StderrLog::collect(&mut child);
        assert!(
            first_pass_done(&db).await,
            "the first pass ends: {}",
            log.text()
        );
        WebhookDaemon {
            _scratch: scratch,
            db,
            listen,
            child,
            log,
        }
    }
}

/// The `/metrics` of a daemon listening on `listen`, parsed (see [`parse_metrics`]).
pub async fn scrape_metrics(listen: SocketAddr) -> std::collections::HashMap<String, f64> {
    let text = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_metrics(&text)
}
