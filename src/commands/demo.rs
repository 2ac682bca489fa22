//! `ecwid-sync demo`: an emulated store, mirrored end to end by the daemon `run` runs
//! (webhooks from the store, changes in the mirror pushed to it), with no configuration.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ecwid_emulator::{Emulator, EmulatorConfig};
use rusqlite::OptionalExtension;
use tokio_util::sync::CancellationToken;

use super::CommandError;
use crate::config::{Config, SecretEnv};
use crate::daemon;
use crate::ecwid::Client;
use crate::mirror::MirrorWriter;
use crate::sync::Puller;
use crate::sync::progress::ProgressMode;

pub async fn run(
    products: usize,
    db: &Path,
    once: bool,
    shutdown: CancellationToken,
) -> Result<(), CommandError> {
    // Before the emulated store starts: it must know where to send its webhooks.
    let mut addresses = DemoAddresses::pick()?;
    let emulator_config = EmulatorConfig {
        products,
        // Products without variations: the tour changes one product's own stock and price,
        // which a tool reads back in the same row.
        variations_per_product: 0,
        orders: (products / 5).max(10),
        customers: (products / 10).max(10),
        categories: 20,
        seed: 42,
        // Like a live store, whose search shows a change a while after it happened.
        index_lag_secs: DEMO_SEARCH_LAG_SECS as f64,
        webhook_url: (!once).then(|| addresses.webhook_url()),
        ..EmulatorConfig::default()
    };
    // Before anything else: the demo may replace only a mirror it made, and none in use.
    crate::mirror::clear_for_demo(db)?;
    // Generating and compressing the store takes a while for large stores (seconds per
    // 10,000 products): say so, or the demo seems to hang before its first line.
    eprintln!("ecwid-sync demo: generating an emulated store with {products} products...");
    let emulator = Emulator::start(
        "127.0.0.1:0".parse().expect("address"),
        emulator_config.clone(),
    )
    .await
    .map_err(|e| CommandError {
        code: crate::exit_code::FAILED,
        message: format!("cannot start the emulated store: {e}"),
    })?;
    let config = demo_config(&emulator, &emulator_config, db, &addresses)?;
    eprintln!(
        "ecwid-sync demo: the emulated store runs at {}; mirroring it into {}",
        emulator.url(),
        db.display()
    );
    let (mirror, product) = first_pull(&config, shutdown.clone()).await?;
    if once {
        println!("{}", what_to_look_at(db, &runnable_self(), None));
        emulator.shutdown().await;
        return Ok(());
    }
    let live = LiveDemo {
        store_url: emulator.url(),
        store_api: format!("{}/{}", emulator.api_base(), emulator_config.store_id),
        token: emulator_config.token.clone(),
        product,
        console: None,
    };
    let storefront = tokio::spawn(simulate_sales(
        live.store_url.clone(),
        StoreAccess {
            base: live.store_api.clone(),
            token: live.token.clone(),
        },
        shutdown.clone(),
    ));
    // The daemon `run` runs: pulls, webhooks, the pusher. What to try is printed once it
    // listens, so the first webhook and the first pasted command find it ready.
    let shared = daemon::Shared {
        first: daemon::StoreHandles {
            mirror: Some(mirror),
            ..daemon::StoreHandles::default()
        },
        ..daemon::Shared::default()
    };
    let console = shared.console.clone();
    addresses.let_go();
    let on_ready = move || {
        let mut live = live;
        live.console = console.get().map(|console| ConsoleAccess {
            link: console.one_time_link(),
            token_file: console.token_source().display().to_string(),
        });
        println!("{}", what_to_look_at(db, &runnable_self(), Some(&live)));
    };
    let stores = crate::config::Stores::single(config);
    let outcome = daemon::run_with(&stores, None, shared, shutdown, on_ready).await;
    storefront.abort();
    emulator.shutdown().await;
    Ok(outcome?)
}

/// The first pass, with a progress bar, on a mirror marked as the demo's; then the product
/// the tour changes. The mirror stays held for the daemon.
async fn first_pull(
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(MirrorWriter, Option<TourProduct>), CommandError> {
    let writer = MirrorWriter::open(&config.mirror, shutdown.clone())?;
    writer.mark_as_demo().await?;
    writer
        .set_privacy_policy(config.privacy.order_fields.clone())
        .await?;
    let puller = Puller::new(
        Client::new(&config.ecwid)?,
        writer.clone(),
        &config.sync,
        ProgressMode::Auto,
        shutdown,
    );
    puller.pass(&config.sync.kinds, false).await?;
    let product = TourProduct::pick(&writer).await?;
    Ok((writer, product))
}

/// The emulated store's search lag: short, so the demo shows sales within seconds.
const DEMO_SEARCH_LAG_SECS: u64 = 3;

/// The console's usual address; the demo takes another free port when it is in use.
const CONSOLE_PORT: &str = "127.0.0.1:8090";

/// Where the demo's daemon receives the store's webhooks.
const DEMO_WEBHOOK_PATH: &str = "/webhooks/ecwid";

/// What the demo's daemon listens on: free ports on 127.0.0.1, picked before the emulated
/// store starts, which must be told where its webhooks go. Each stays bound until
/// [`DemoAddresses::let_go`], just before the daemon binds it, so that no other program
/// takes it while the store is generated and pulled.
pub struct DemoAddresses {
    /// `webhooks.listen`: the webhook receiver, `/healthz`, `/readyz` and `/metrics`.
    pub webhooks: SocketAddr,
    /// `console.listen`: the operator console, on its usual port when that is free.
    pub console: SocketAddr,
    held: Vec<std::net::TcpListener>,
}

impl DemoAddresses {
    pub fn pick() -> Result<DemoAddresses, CommandError> {
        let mut held = Vec::new();
        let webhooks = hold_free_port(&mut held)?;
        let console = match std::net::TcpListener::bind(CONSOLE_PORT) {
            Ok(listener) => {
                held.push(listener);
                CONSOLE_PORT.parse().expect("an address")
            }
            Err(_) => hold_free_port(&mut held)?,
        };
        Ok(DemoAddresses {
            webhooks,
            console,
            held,
        })
    }

    /// Where the emulated store sends its webhooks.
    pub fn webhook_url(&self) -> String {
        format!("http://{}{DEMO_WEBHOOK_PATH}", self.webhooks)
    }

    /// Frees the ports for the daemon to bind.
    pub fn let_go(&mut self) {
        self.held.clear();
    }
}

/// A free port on 127.0.0.1, bound into `held`.
fn hold_free_port(held: &mut Vec<std::net::TcpListener>) -> Result<SocketAddr, CommandError> {
    let (addr, listener) = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| Ok((l.local_addr()?, l)))
        .map_err(|e| CommandError {
            code: crate::exit_code::FAILED,
            message: format!("cannot find a free port on 127.0.0.1 for the demo: {e}"),
        })?;
    held.push(listener);
    Ok(addr)
}

/// The demo's whole configuration, as a file would hold it.
fn demo_config(
    emulator: &Emulator,
    store: &EmulatorConfig,
    db: &Path,
    addresses: &DemoAddresses,
) -> Result<Config, CommandError> {
    let text = format!(
        r#"
[ecwid]
store_id = {store_id}
token = "{token}"
client_secret = "{client_secret}"
api_base = "{api_base}"
requests_per_minute = 600
burst = 10

[mirror]
path = "{db}"

[sync]
kinds = ["products", "categories", "orders", "customers"]
incremental_cron = "*/5 * * * * *"
overlap_secs = 2
search_lag_secs = {lag_allowance}

[webhooks]
listen = "{webhooks}"
path = "{DEMO_WEBHOOK_PATH}"

[console]
listen = "{console}"

[push]
# A change made in the mirror reaches the store within about a second.
poll_interval_ms = 250

[conflicts]
# A price changed in both places waits for the operator, so the tour can show a conflict.
price = "manual"
"#,
        lag_allowance = DEMO_SEARCH_LAG_SECS + 2,
        store_id = store.store_id,
        token = store.token,
        client_secret = store.client_secret,
        api_base = emulator.api_base(),
        webhooks = addresses.webhooks,
        console = addresses.console,
        db = db
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
    );
    Ok(Config::parse(&text, &SecretEnv::default())?)
}

/// What the running demo offers to try, for [`what_to_look_at`].
pub struct LiveDemo {
    /// `http://ADDR`: the emulated store, whose `/_emulator/...` shows what it served.
    pub store_url: String,
    /// `http://ADDR/api/v3/STORE_ID`: the store's API, as a shop owner's tools call it.
    pub store_api: String,
    /// The emulated store's fixed test token: nothing to keep secret.
    pub token: String,
    /// What the tour changes; `None` when the store has no product it fits.
    pub product: Option<TourProduct>,
    /// The operator console, once it listens.
    pub console: Option<ConsoleAccess>,
}

/// How a newcomer reaches the demo's console.
pub struct ConsoleAccess {
    /// Signs in once, within ten minutes, with nothing to paste.
    pub link: String,
    /// Where the token is for later sign-ins.
    pub token_file: String,
}

/// A product without variations whose stock Ecwid tracks: its stock and price are in its
/// own `products` row, so the tour changes one row in the mirror and one product in the store.
#[derive(Clone, Debug, PartialEq)]
pub struct TourProduct {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub price: f64,
}

impl TourProduct {
    /// The first such product, by id, that the storefront shows.
    async fn pick(
        writer: &MirrorWriter,
    ) -> Result<Option<TourProduct>, crate::mirror::MirrorError> {
        writer
            .call(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT id, sku, name, quantity, price FROM products p
                          WHERE sku IS NOT NULL AND name IS NOT NULL AND unlimited = 0
                            AND quantity IS NOT NULL AND price IS NOT NULL AND enabled = 1
                            AND NOT EXISTS (SELECT 1 FROM product_variations v WHERE v.product_id = p.id)
                          ORDER BY id LIMIT 1",
                        [],
                        |r| {
                            Ok(TourProduct {
                                id: r.get(0)?,
                                sku: r.get(1)?,
                                name: r.get(2)?,
                                quantity: r.get(3)?,
                                price: r.get(4)?,
                            })
                        },
                    )
                    .optional()?)
            })
            .await
    }
}

/// What the tour's mirror command adds to the product's stock and its price.
const STOCK_ADDED: i64 = 5;
const PRICE_ADDED: f64 = 1.0;

/// The price the tour's store command sets: half a unit above the mirror's, so that no
/// number of runs of the mirror command (a whole unit each) reaches it, and the two sides
/// always disagree.
fn store_price(product: &TourProduct) -> f64 {
    ((product.price + 0.5) * 100.0).round() / 100.0
}

/// The tour's change in the mirror: stock and price of `product` in one UPDATE, relative,
/// so that each run changes both again.
fn mirror_change_command(db_word: &str, product: &TourProduct) -> String {
    let sql = format!(
        "UPDATE products SET quantity = quantity + {STOCK_ADDED}, price = round(price + {PRICE_ADDED:.0}, 2) WHERE id = {}",
        product.id
    );
    // A busy timeout, as schema/README.md asks of tools: the daemon writes too.
    format!(
        "sqlite3 -cmd {} {db_word} {}",
        shell_word(".timeout 5000"),
        shell_word(&sql)
    )
}

/// The tour's change in the store: the same product's price, through the store's API.
fn store_change_command(live: &LiveDemo, product: &TourProduct) -> String {
    let body = format!("{{\"price\":{:.2}}}", store_price(product));
    format!(
        "curl -sS -X PUT -H {} -H {} -d {} {}",
        shell_word(&format!("Authorization: Bearer {}", live.token)),
        shell_word("Content-Type: application/json"),
        shell_word(&body),
        shell_word(&format!("{}/products/{}", live.store_api, product.id)),
    )
}

/// What to try next, as commands that run as printed from where the demo was started.
/// `live` is what the running demo offers (`None` with `--once`, which stops the emulated
/// store on exit).
fn what_to_look_at(db: &Path, program: &str, live: Option<&LiveDemo>) -> String {
    let db = shell_word(&db.display().to_string());
    let mut text = format!(
        "\nThe mirror is ready. Look at it with any SQLite client, for example:\n\
         \x20 sqlite3 {db} 'select * from stock_levels limit 5'\n\
         \x20 sqlite3 {db} 'select order_number, payment_status, total from orders order by created_at desc limit 5'\n\
         \x20 {program} status --mirror {db}\n"
    );
    let Some(live) = live else {
        text.push_str(
            "The emulated store has stopped. Run the demo without --once to watch the mirror follow a storefront's sales\n\
             and send changes made in the mirror to the store.",
        );
        return text;
    };
    text.push_str(
        "The daemon runs as `run` would: it receives the store's webhooks, pulls every 5 seconds\n\
         and sends changes made in the mirror to the store.\n",
    );
    if let Some(console) = &live.console {
        text.push_str(&format!(
            "\nThe operator console shows what needs a person and settles it. Open this link to sign in\n\
             (it works once, within ten minutes; later, sign in with the token in {}):\n\
             \x20 {}\n",
            shell_word(&console.token_file),
            console.link
        ));
    }
    if let Some(p) = &live.product {
        let mirror_change = mirror_change_command(&db, p);
        text.push_str(&format!(
            "\nTry both directions with product {id}, {name:?} (SKU {sku}): {quantity} in stock at {price:.2}.\n\
             1. Add {STOCK_ADDED} to its stock and {PRICE_ADDED:.2} to its price in the mirror; the store has both within about a second:\n\
             \x20    {mirror_change}\n\
             \x20  Each change is in the outbox, `applied` once the store has it:\n\
             \x20    {program} outbox list --state applied --mirror {db}\n\
             2. Change the same price in the store, as the shop owner could in Ecwid's control panel, and at once in the mirror\n\
             \x20  (paste the two lines together, so that neither side has heard of the other's change):\n\
             \x20    {store_change}\n\
             \x20    {mirror_change}\n\
             \x20  Both sides changed the price: the daemon holds the conflict for the operator (the demo's conflicts.price is manual).\n\
             \x20  The console's Needs attention page shows it, settled with one click; or on the command line:\n\
             \x20    {program} conflicts list --mirror {db}\n\
             \x20  and `{program} conflicts resolve ID --take local --mirror {db}` (or --take remote) settles it.\n\n",
            id = p.id,
            name = p.name,
            sku = p.sku,
            quantity = p.quantity,
            price = p.price,
            store_change = store_change_command(live, p),
        ));
    }
    let url = &live.store_url;
    text.push_str(&format!(
        "The emulated store is at {url} (GET {url}/_emulator/stats shows the requests it served).\n\
         A simulated customer buys something every few seconds; the store's webhook brings each sale to the mirror\n\
         within about a second.\n\
         Press Ctrl-C to stop."
    ));
    text
}

/// This program as the user can type it here: `ecwid-sync` when that is what the shell
/// finds, else its path, relative when it lies below the current directory (after
/// `cargo run --release`: `target/release/ecwid-sync`).
fn runnable_self() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "ecwid-sync".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| dir.join("ecwid-sync").canonicalize().ok().as_ref() == Some(&exe))
    });
    if on_path {
        return "ecwid-sync".to_string();
    }
    let here = std::env::current_dir().and_then(|d| d.canonicalize());
    let shown = match here.as_ref().map(|here| exe.strip_prefix(here)) {
        Ok(Ok(relative)) => relative.to_path_buf(),
        _ => exe,
    };
    shell_word(&shown.display().to_string())
}

/// `word` as one shell word: as it is when it has nothing the shell would interpret.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A storefront customer: buys one item of a random in-stock product now and then, through
/// the emulator's checkout hook, so the demo shows incremental pulls at work.
async fn simulate_sales(emulator_url: String, store: StoreAccess, shutdown: CancellationToken) {
    let http = reqwest::Client::new();
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(7)) => {}
        }
        n += 1;
        let body = serde_json::json!({
            "items": [{"productId": pick_product(&http, &store, n).await, "quantity": 1}],
            "paymentStatus": "PAID"
        });
        match http
            .post(format!("{emulator_url}/_emulator/orders"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                tracing::info!("storefront: a customer placed an order")
            }
            Ok(r) => tracing::debug!(status = r.status().as_u16(), "storefront sale refused"),
            Err(e) => tracing::debug!(error = %e, "storefront sale failed"),
        }
    }
}

/// Any product: the `n`-th in creation order, wrapping around.
async fn pick_product(http: &reqwest::Client, store: &StoreAccess, n: u64) -> i64 {
    let page = |offset: u64| {
        http.get(format!("{}/products", store.base))
            .bearer_auth(&store.token)
            .query(&[("limit", "1".to_string()), ("offset", offset.to_string())])
            .send()
    };
    let total = match page(0).await {
        Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default()["total"].as_u64(),
        Err(_) => None,
    };
    let Some(total) = total.filter(|&t| t > 0) else {
        return 0;
    };
    match page((n * 7919) % total).await {
        Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default()["items"][0]["id"]
            .as_i64()
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// Where the simulated storefront finds the store's API.
struct StoreAccess {
    base: String,
    token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(product: Option<TourProduct>) -> LiveDemo {
        LiveDemo {
            store_url: "http://127.0.0.1:1234".into(),
            store_api: "http://127.0.0.1:1234/api/v3/1003".into(),
            token: "secret_test".into(),
            product,
            console: None,
        }
    }

    fn chair() -> TourProduct {
        TourProduct {
            id: 7,
            sku: "SKU-000007".into(),
            name: "Rustic Oak Chair".into(),
            quantity: 17,
            price: 24.99,
        }
    }

    #[test]
    fn with_once_the_demo_promises_neither_a_customer_nor_ctrl_c() {
        let text = what_to_look_at(
            Path::new("ecwid-demo.db"),
            "target/release/ecwid-sync",
            None,
        );
        assert!(
            text.contains("  target/release/ecwid-sync status --mirror ecwid-demo.db\n"),
            "{text}"
        );
        for promise in ["customer", "Ctrl-C", "_emulator", "curl", "UPDATE"] {
            assert!(!text.contains(promise), "{promise}: {text}");
        }
        let live = what_to_look_at(
            Path::new("ecwid-demo.db"),
            "ecwid-sync",
            Some(&live(Some(chair()))),
        );
        assert!(
            live.contains("Press Ctrl-C to stop.") && live.contains("customer"),
            "{live}"
        );
    }

    #[test]
    fn the_tour_prints_a_mirror_change_and_a_store_change_of_the_same_price() {
        let text = what_to_look_at(
            Path::new("ecwid-demo.db"),
            "ecwid-sync",
            Some(&live(Some(chair()))),
        );
        let mirror_change = "sqlite3 -cmd '.timeout 5000' ecwid-demo.db 'UPDATE products SET quantity = quantity + 5, price = round(price + 1, 2) WHERE id = 7'";
        let store_change = "curl -sS -X PUT -H 'Authorization: Bearer secret_test' -H 'Content-Type: application/json' -d '{\"price\":25.49}' http://127.0.0.1:1234/api/v3/1003/products/7";
        assert_eq!(
            text.lines().filter(|l| l.trim() == mirror_change).count(),
            2,
            "once alone, once after the store's change: {text}"
        );
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let store_line = lines.iter().position(|l| *l == store_change);
        let second_mirror_line = lines.iter().rposition(|l| *l == mirror_change);
        assert_eq!(
            store_line.map(|l| l + 1),
            second_mirror_line,
            "the store's change comes right before the mirror's: {text}"
        );
        for command in [
            "ecwid-sync outbox list --state applied --mirror ecwid-demo.db",
            "ecwid-sync conflicts list --mirror ecwid-demo.db",
            "ecwid-sync conflicts resolve ID --take local --mirror ecwid-demo.db",
        ] {
            assert!(text.contains(command), "{command}: {text}");
        }
        assert!(
            text.contains("product 7, \"Rustic Oak Chair\" (SKU SKU-000007): 17 in stock at 24.99"),
            "{text}"
        );
        assert!(
            !text.contains(" push"),
            "push is refused beside the demo: {text}"
        );
    }

    #[test]
    fn the_console_link_and_where_its_token_is_come_before_the_tour() {
        let mut demo = live(Some(chair()));
        demo.console = Some(ConsoleAccess {
            link: "http://127.0.0.1:8090/login/once/abc".into(),
            token_file: "my demo.db.console-token".into(),
        });
        let text = what_to_look_at(Path::new("my demo.db"), "ecwid-sync", Some(&demo));
        let link = text
            .find("  http://127.0.0.1:8090/login/once/abc\n")
            .expect(&text);
        assert!(link < text.find("Try both directions").unwrap(), "{text}");
        assert!(
            text.contains("the token in 'my demo.db.console-token'"),
            "{text}"
        );
        assert!(text.contains("Needs attention page"), "{text}");
    }

    #[test]
    fn no_run_of_the_mirror_change_reaches_the_price_the_store_change_sets() {
        let mut product = chair();
        let set_in_store = store_price(&product);
        for _ in 0..1000 {
            assert!((product.price - set_in_store).abs() > 0.001, "{product:?}");
            product.price = ((product.price + PRICE_ADDED) * 100.0).round() / 100.0;
        }
    }

    #[test]
    fn without_a_product_to_change_the_tour_says_only_what_runs() {
        let text = what_to_look_at(Path::new("ecwid-demo.db"), "ecwid-sync", Some(&live(None)));
        assert!(!text.contains("curl") && !text.contains("UPDATE"), "{text}");
        assert!(text.contains("Press Ctrl-C to stop."), "{text}");
    }

    #[test]
    fn paths_are_quoted_only_when_the_shell_would_read_them_otherwise() {
        assert_eq!(shell_word("ecwid-demo.db"), "ecwid-demo.db");
        assert_eq!(shell_word("my demo.db"), "'my demo.db'");
        assert_eq!(shell_word("it's.db"), "'it'\\''s.db'");
        let text = what_to_look_at(Path::new("my demo.db"), "ecwid-sync", None);
        assert!(text.contains("sqlite3 'my demo.db' 'select"), "{text}");
        let tour = what_to_look_at(
            Path::new("my demo.db"),
            "ecwid-sync",
            Some(&live(Some(chair()))),
        );
        assert!(
            tour.contains("sqlite3 -cmd '.timeout 5000' 'my demo.db' 'UPDATE"),
            "{tour}"
        );
    }
}
