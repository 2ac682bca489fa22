//! `ecwid-emulator` binary: parse flags, start the library's server, print the address.

use std::net::SocketAddr;

use clap::Parser;
use ecwid_emulator::{
    DEFAULT_DELETED_RETENTION_SECS, Emulator, EmulatorConfig, RateLimit, WebhookEvents,
};

/// A local Ecwid REST API v3 + webhook sender for tests, demos and benchmarks.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    #[arg(long, default_value_t = 1003)]
    store_id: u64,
    /// The access token clients must present (`Authorization: Bearer`).
    #[arg(long, default_value = "secret_test")]
    token: String,
    /// The app's client secret that signs webhooks.
    #[arg(long, default_value = "test_client_secret")]
    client_secret: String,
    #[arg(long, default_value_t = 50)]
    products: usize,
    #[arg(long, default_value_t = 2)]
    variations_per_product: usize,
    #[arg(long, default_value_t = 20)]
    orders: usize,
    #[arg(long, default_value_t = 10)]
    customers: usize,
    #[arg(long, default_value_t = 8)]
    categories: usize,
    /// Seed of the generated store and of webhook event ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where webhooks go (also settable at run time: PUT /_emulator/webhooks).
    #[arg(long)]
    webhook_url: Option<String>,
    /// Requests per minute of the per-store token bucket; 0 switches rate limiting off.
    #[arg(long, default_value_t = 600)]
    rate_limit: u32,
    /// Bucket capacity (burst allowance).
    #[arg(long, default_value_t = 100)]
    rate_burst: u32,
    /// Divides webhook and batch retry delays and the batch deduplication memory: 60 turns
    /// 15 minutes into 15 seconds.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seconds a batch `deduplicationKey` is remembered (divided by --time-scale); 0 = off.
    #[arg(long, default_value_t = 3600)]
    batch_dedup_secs: u64,
    /// Prefix of orders' public string ids.
    #[arg(long, default_value = "")]
    order_id_prefix: String,
    /// Suffix of orders' public string ids.
    #[arg(long, default_value = "")]
    order_id_suffix: String,
    /// Filter `GET /orders` by `orderNumber=` lists (live Ecwid ignores the parameter).
    #[arg(long)]
    honor_order_number_filter: bool,
    /// Seconds before searches see a write (reads by id see it at once).
    #[arg(long, default_value_t = 0.0)]
    index_lag: f64,
    /// `mirrored` (product, category, order, unfinished order, customer) or `all`.
    #[arg(long, default_value = "mirrored", value_parser = ["mirrored", "all"])]
    webhook_events: String,
    /// Accept the `token` query parameter (refused with 403 otherwise, as live).
    #[arg(long)]
    accept_query_token: bool,
    /// Seconds `/deleted` lists keep an entry.
    #[arg(long, default_value_t = DEFAULT_DELETED_RETENTION_SECS)]
    deleted_retention: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    if !(a.time_scale.is_finite() && a.time_scale > 0.0) {
        anyhow::bail!(
            "--time-scale must be a positive number, got {}",
            a.time_scale
        );
    }
    if !(a.index_lag.is_finite() && (0.0..=86_400.0).contains(&a.index_lag)) {
        anyhow::bail!(
            "--index-lag must be between 0 and 86400, got {}",
            a.index_lag
        );
    }
    let config = EmulatorConfig {
        store_id: a.store_id,
        token: a.token,
        client_secret: a.client_secret,
        products: a.products,
        variations_per_product: a.variations_per_product,
        orders: a.orders,
        customers: a.customers,
        categories: a.categories,
        seed: a.seed,
        webhook_url: a.webhook_url,
        rate_limit: (a.rate_limit > 0).then_some(RateLimit {
            per_minute: a.rate_limit,
            burst: a.rate_burst,
        }),
        time_scale: a.time_scale,
        batch_dedup_secs: a.batch_dedup_secs,
        order_id_prefix: a.order_id_prefix,
        order_id_suffix: a.order_id_suffix,
        honor_order_number_filter: a.honor_order_number_filter,
        index_lag_secs: a.index_lag,
        webhook_events: match a.webhook_events.as_str() {
            "all" => WebhookEvents::All,
            _ => WebhookEvents::Mirrored,
        },
        accept_query_token: a.accept_query_token,
        deleted_retention_secs: a.deleted_retention,
    };
    let emulator = Emulator::start(a.listen, config)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start on {}: {e}", a.listen))?;
    println!("listening on {}", emulator.url());
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
