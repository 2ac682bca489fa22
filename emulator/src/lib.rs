//! `ecwid-emulator`: a local stand-in for the Ecwid REST API v3 and its webhook sender.
//!
//! The public surface used by tests, `ecwid-sync demo` and benchmarks is [`Emulator`]:
//! start it on a listener, read its address, shut it down.
//!
//! Module map:
//! - `app`: shared state of a running emulator (store lock + services).
//! - `store`: entities as JSON documents, indexes, searches and mutations (one file per entity).
//! - `generate`: deterministic seeded store generation.
//! - `routes`: the API dispatcher `(method, path) -> handler`, shared with the batch executor.
//! - `batch`: the asynchronous Batch API.
//! - `server`: accept loop, API gate (rate limit, faults, auth, stats), gzip.
//! - `control`: the `/_emulator/...` control plane.
//! - `webhooks`: signed, retried, optionally duplicated/reordered webhook delivery.
//! - `faults`, `ratelimit`, `stats`: fault injection, token bucket and cool-down, counters.
//! - `lag`: the search index that follows writes late (`--index-lag`).
//! - `gzip`: gzip responses assembled from cached per-product deflate pieces.
//! - `fields`: the `responseFields=` selection applied to answers.
//! - `query`, `dates`, `json`, `error`: parameter parsing, date formats, document helpers, errors.

#![recursion_limit = "256"]

mod app;
mod batch;
mod control;
mod dates;
mod error;
mod faults;
mod fields;
mod generate;
mod gzip;
mod json;
mod lag;
mod query;
mod ratelimit;
mod routes;
mod server;
mod stats;
mod store;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use dates::{format_date, parse_date};
pub use faults::FaultSettings;
pub use generate::BASE_TIME;
pub use webhooks::{WebhookSettings, retry_delays, signature};

/// How a store is generated and how the emulator behaves. `Default` gives the values of the
/// binary's flags.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub store_id: u64,
    pub token: String,
    pub client_secret: String,
    pub products: usize,
    pub variations_per_product: usize,
    pub orders: usize,
    pub customers: usize,
    pub categories: usize,
    pub seed: u64,
    pub webhook_url: Option<String>,
    /// `None` switches the rate limit off.
    pub rate_limit: Option<RateLimit>,
    /// Compresses webhook retry delays, batch retry delays and the batch deduplication
    /// memory: 60.0 makes 15 minutes last 15 seconds.
    pub time_scale: f64,
    /// How long a batch `deduplicationKey` is remembered, before `time_scale` (Ecwid: one
    /// hour); 0 switches deduplication off.
    pub batch_dedup_secs: u64,
    // The current platform (CONTRACT.md section 17):
    /// Store prefix and suffix of orders' public string ids (`id`, `vendorOrderNumber`).
    pub order_id_prefix: String,
    pub order_id_suffix: String,
    /// Honour `orderNumber=` lists on `GET /orders`; live Ecwid ignores them (default off).
    pub honor_order_number_filter: bool,
    /// Seconds before searches see a write (id reads see it at once); also a fault setting.
    pub index_lag_secs: f64,
    /// The mirrored event types only, or every realistic one (`invoice.*`, `discount_coupon.*`).
    pub webhook_events: WebhookEvents,
    /// Accept the `token` query parameter, which the platform refuses since 2025-03-20.
    pub accept_query_token: bool,
    /// `/deleted` lists forget entries older than this (default 180 days).
    pub deleted_retention_secs: u64,
}

/// Which webhooks changes send (`--webhook-events`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WebhookEvents {
    /// `product.*`, `category.*`, `order.*`, `unfinished_order.*`, `customer.*`.
    #[default]
    Mirrored,
    /// Also the side events a real store sends with them (see the README).
    All,
}

/// Six months of 30 days.
pub const DEFAULT_DELETED_RETENTION_SECS: u64 = 180 * 86_400;

#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            store_id: 1003,
            token: "secret_test".into(),
            client_secret: "test_client_secret".into(),
            products: 50,
            variations_per_product: 2,
            orders: 20,
            customers: 10,
            categories: 8,
            seed: 1,
            webhook_url: None,
            rate_limit: Some(RateLimit {
                per_minute: 600,
                burst: 100,
            }),
            time_scale: 1.0,
            batch_dedup_secs: 3600,
            order_id_prefix: String::new(),
            order_id_suffix: String::new(),
            honor_order_number_filter: false,
            index_lag_secs: 0.0,
            webhook_events: WebhookEvents::Mirrored,
            accept_query_token: false,
            deleted_retention_secs: DEFAULT_DELETED_RETENTION_SECS,
        }
    }
}

/// A running emulator. Dropping it without `shutdown` also stops the server task.
pub struct Emulator {
    addr: SocketAddr,
    /// Sending (or dropping) this stops the accept loop and the webhook sender.
    shutdown_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds `listen` (use `127.0.0.1:0` for a free port) and serves until shut down.
    pub async fn start(listen: SocketAddr, config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        Self::start_on(listener, config).await
    }

    /// Serves on a listener the caller already bound.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        config: EmulatorConfig,
    ) -> std::io::Result<Emulator> {
        let addr = listener.local_addr()?;
        let gen_config = config.clone();
        // Generating 100k products takes a moment of CPU: keep it off the async workers.
        let store = tokio::task::spawn_blocking(move || generate::generate(&gen_config))
            .await
            .map_err(std::io::Error::other)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(stats::Stats::default());
        let initial = WebhookSettings {
            url: config.webhook_url.clone(),
            ..Default::default()
        };
        if let Err(e) = initial.validate() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                e.message,
            ));
        }
        let hooks = webhooks::start(
            webhooks::WorkerConfig {
                store_id: config.store_id,
                client_secret: config.client_secret.clone(),
                time_scale: config.time_scale,
                seed: config.seed,
            },
            initial,
            stats.clone(),
            shutdown_rx.clone(),
        );
        let app = Arc::new(app::App::new(config, store, hooks, stats));
        let server = tokio::spawn(server::serve(listener, server::router(app), shutdown_rx));
        Ok(Emulator {
            addr,
            shutdown_tx,
            server: Some(server),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/api/v3`: the `api_base` a client appends `/{storeId}/...` to.
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// The read-only public token the store also accepts (`public_` + the private token
    /// without its `secret_`/`secure_` prefix).
    pub fn public_token(token: &str) -> String {
        server::public_token(token)
    }

    /// `http://ADDR`: where `/_emulator/...` lives.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}
