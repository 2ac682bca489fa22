//! `ecwid-sync demo`: an emulated store, mirrored end to end, with no configuration.

use std::path::Path;
use std::time::Duration;

use ecwid_emulator::{Emulator, EmulatorConfig};
use tokio_util::sync::CancellationToken;

use crate::commands::CommandError;
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
    let emulator_config = EmulatorConfig {
        products,
        variations_per_product: 2,
        orders: (products / 5).max(10),
        customers: (products / 10).max(10),
        categories: 20,
        seed: 42,
        // Like a live store, whose search shows a change a while after it happened.
        index_lag_secs: DEMO_SEARCH_LAG_SECS as f64,
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
    let config = demo_config(&emulator, &emulator_config, db)?;
    eprintln!(
        "ecwid-sync demo: the emulated store runs at {}; mirroring it into {}",
        emulator.url(),
        db.display()
    );
    let writer = MirrorWriter::open(&config.mirror, shutdown.clone())?;
    writer.mark_as_demo().await?;
    writer
        .set_privacy_policy(config.privacy.order_fields.clone())
        .await?;
    let client = Client::new(&config.ecwid)?;
    let puller = Puller::new(
        client,
        writer,
        &config.sync,
        ProgressMode::Auto,
        shutdown.clone(),
    );
    puller.pass(&config.sync.kinds, false).await?;
    let live_store = (!once).then(|| emulator.url());
    println!(
        "{}",
        what_to_look_at(db, &runnable_self(), live_store.as_deref())
    );
    if !once {
        let store = StoreAccess {
            base: format!("{}/{}", emulator.api_base(), emulator_config.store_id),
            token: emulator_config.token.clone(),
        };
        let storefront = tokio::spawn(simulate_sales(emulator.url(), store, shutdown.clone()));
        let outcome = daemon::run_schedule(
            &puller,
            crate::config::Live::fixed(config.clone()),
            &config.sync.kinds,
            &crate::health::PassHealth::default(),
            shutdown,
            false,
        )
        .await;
        storefront.abort();
        puller.checkpoint().await;
        outcome?;
    }
    emulator.shutdown().await;
    Ok(())
}

/// The emulated store's search lag: short, so the demo shows sales within seconds.
const DEMO_SEARCH_LAG_SECS: u64 = 3;

fn demo_config(
    emulator: &Emulator,
    store: &EmulatorConfig,
    db: &Path,
) -> Result<Config, CommandError> {
    let text = format!(
        r#"
[ecwid]
store_id = {store_id}
token = "{token}"
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
"#,
        lag_allowance = DEMO_SEARCH_LAG_SECS + 2,
        store_id = store.store_id,
        token = store.token,
        api_base = emulator.api_base(),
        db = db
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
    );
    Ok(Config::parse(&text, &SecretEnv::default())?)
}

/// What to try next, as commands that run as printed from where the demo was started.
/// `live_store` is the emulated store's address while the demo keeps running (not with
/// `--once`, which stops it on exit).
fn what_to_look_at(db: &Path, program: &str, live_store: Option<&str>) -> String {
    let db = shell_word(&db.display().to_string());
    let mut text = format!(
        "\nThe mirror is ready. Look at it with any SQLite client, for example:\n\
         \x20 sqlite3 {db} 'select * from stock_levels limit 5'\n\
         \x20 sqlite3 {db} 'select order_number, payment_status, total from orders order by created_at desc limit 5'\n\
         \x20 {program} status --mirror {db}\n"
    );
    match live_store {
        Some(url) => text.push_str(&format!(
            "The emulated store is at {url} (GET {url}/_emulator/stats shows the requests it served).\n\
             A simulated customer buys something every few seconds; the mirror follows within about 10 seconds\n\
             (the emulated store's search, like Ecwid's, shows a change a few seconds late).\n\
             Press Ctrl-C to stop."
        )),
        None => text.push_str(
            "The emulated store has stopped. Run the demo without --once to watch the mirror follow a storefront's sales.",
        ),
    }
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
        for promise in ["customer", "Ctrl-C", "_emulator"] {
            assert!(!text.contains(promise), "{promise}: {text}");
        }
        let live = what_to_look_at(
            Path::new("ecwid-demo.db"),
            "ecwid-sync",
            Some("http://127.0.0.1:1234"),
        );
        assert!(
            live.contains("Press Ctrl-C to stop.") && live.contains("customer"),
            "{live}"
        );
    }

    #[test]
    fn paths_are_quoted_only_when_the_shell_would_read_them_otherwise() {
        assert_eq!(shell_word("ecwid-demo.db"), "ecwid-demo.db");
        assert_eq!(shell_word("my demo.db"), "'my demo.db'");
        assert_eq!(shell_word("it's.db"), "'it'\\''s.db'");
        let text = what_to_look_at(Path::new("my demo.db"), "ecwid-sync", None);
        assert!(text.contains("sqlite3 'my demo.db' 'select"), "{text}");
    }
}
