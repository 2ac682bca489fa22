//! The HTTP listener of `ecwid-sync run` (`webhooks.listen`): the webhook receiver,
//! `/healthz`, `/readyz` and `/metrics`. Plain HTTP: TLS is the reverse proxy's job.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Live, StoreConfig};
use crate::errors::error_chain;
use crate::health::{self, Liveness, PassHealth, Readiness};
use crate::listener::Limits;
use crate::metrics::{self, Metrics};
use crate::mirror::{MirrorWriter, SCHEMA_VERSION, unix_now};
use crate::webhooks::Receiver;
use crate::webhooks::receiver::{self, MAX_BODY};

/// How long the health endpoints wait for the mirror's writer. A writer busy longer than
/// this (a stalled mirror, another process's write lock) counts as not writable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One store as the health and metrics endpoints see it.
pub struct StoreEndpoint {
    /// The store's name in the configuration ([`crate::config::MAIN_STORE`] for the main
    /// file's own store).
    pub name: String,
    /// `None` for a store that could not open its mirror (see [`PassHealth::stopped`]).
    pub writer: Option<MirrorWriter>,
    pub metrics: Arc<Metrics>,
    pub passes: Arc<PassHealth>,
    /// The store's running configuration, which a reload may change.
    pub config: Live,
}

impl StoreEndpoint {
    /// A store that could not start, for `reason`: shown as stopped.
    pub fn stopped(store: &StoreConfig, reason: String) -> Arc<StoreEndpoint> {
        let passes = PassHealth::default();
        passes.store_stopped(reason);
        Arc::new(StoreEndpoint {
            name: store.name.clone(),
            writer: None,
            metrics: Metrics::for_store(&store.name, Default::default()),
            passes: Arc::new(passes),
            config: Live::fixed(store.config.clone()),
        })
    }
}

/// What the health and metrics endpoints read: the stores served now (a reload may add or
/// remove some), and the metrics no store can be named for.
pub struct Endpoints {
    stores: RwLock<Arc<Vec<Arc<StoreEndpoint>>>>,
    unrouted: Option<Arc<Metrics>>,
}

impl Endpoints {
    /// `unrouted`: the metrics of webhook refusals no store can be named for, exposed only
    /// when several stores share the listener (one store counts them itself).
    pub fn new(stores: Vec<Arc<StoreEndpoint>>, unrouted: Option<Arc<Metrics>>) -> Arc<Self> {
        Arc::new(Endpoints {
            stores: RwLock::new(Arc::new(stores)),
            unrouted,
        })
    }

    /// Serves `stores` from now on.
    pub fn replace_stores(&self, stores: Vec<Arc<StoreEndpoint>>) {
        *self.stores.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(stores);
    }

    fn stores(&self) -> Arc<Vec<Arc<StoreEndpoint>>> {
        self.stores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The routes. Without `webhooks` (no client secret configured) the webhook path is not
/// served (404) and the other endpoints are.
pub fn router(endpoints: Arc<Endpoints>, webhooks: Option<(&str, Arc<Receiver>)>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(endpoints);
    if let Some((path, receiver)) = webhooks {
        router = router.merge(
            Router::new()
                .route(path, post(receiver::handle))
                .layer(DefaultBodyLimit::max(MAX_BODY))
                .with_state(receiver),
        );
    }
    router
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in progress finish
/// (a webhook being committed still gets its answer).
/// Stalled clients are cut off by `limits` (see [`crate::listener`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    crate::listener::serve(listener, router, limits, shutdown).await
}

/// The writer's answer to a write-locked job; while the writer waits out a refused write,
/// what refuses it (a tool's lock, a full disk, a lost file) rather than a time-out.
async fn probe(writer: &MirrorWriter) -> Result<i64, String> {
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, writer.probe()).await {
        Ok(Ok(version)) => return Ok(version),
        Ok(Err(e)) => error_chain(&e),
        Err(_) => format!(
            "the mirror's writer did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ),
    };
    Err(match writer.write_stall() {
        Some(stall) => format!(
            "the mirror is {} since {} (unix time): {}",
            stall.problem, stall.since, stall.error
        ),
        None => outcome,
    })
}

fn json_answer(ok: bool, body: &impl serde::Serialize) -> Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn healthz(State(e): State<Arc<Endpoints>>) -> Response {
    let stores = e.stores();
    let probes = probe_all(&stores).await;
    let each: Vec<(&str, Liveness)> = stores
        .iter()
        .zip(&probes)
        .map(|(store, probe)| (store.name.as_str(), Liveness::from_probe(probe)))
        .collect();
    let (ok, body) = health::per_store(&each, Liveness::ok);
    json_answer(ok, &body)
}

async fn readyz(State(e): State<Arc<Endpoints>>) -> Response {
    let stores = e.stores();
    let probes = probe_all(&stores).await;
    let now = unix_now();
    let each: Vec<(&str, Readiness)> = stores
        .iter()
        .zip(&probes)
        .map(|(store, probe)| {
            let max_failing = store
                .config
                .read(|config| config.webhooks.ready_max_failing.as_secs() as i64);
            let readiness =
                Readiness::decide(probe, SCHEMA_VERSION, &store.passes, now, max_failing);
            (store.name.as_str(), readiness)
        })
        .collect();
    let (ready, body) = health::per_store(&each, |r| r.ready);
    json_answer(ready, &body)
}

async fn metrics_text(State(e): State<Arc<Endpoints>>) -> Response {
    let stores = e.stores();
    let now = unix_now();
    for store in stores.iter() {
        let stall = store.writer.as_ref().and_then(MirrorWriter::write_stall);
        store
            .config
            .read(|config| store.metrics.at_scrape.refresh(config, stall.as_ref(), now));
    }
    let text = metrics::encode_all(
        stores
            .iter()
            .map(|store| store.metrics.as_ref())
            .chain(e.unrouted.as_deref()),
    );
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// Every store's probe, in the stores' order. They run concurrently: each may take up to
/// [`PROBE_TIMEOUT`], and one after another they would add up.
async fn probe_all(stores: &[Arc<StoreEndpoint>]) -> Vec<Result<i64, String>> {
    let running: Vec<_> = stores
        .iter()
        .map(|store| {
            let writer = store.writer.clone();
            let stopped = store.passes.stopped();
            tokio::spawn(async move {
                match writer {
                    Some(writer) => probe(&writer).await,
                    None => Err(format!(
                        "the store is not running: {}",
                        stopped.unwrap_or_default()
                    )),
                }
            })
        })
        .collect();
    let mut probes = Vec::with_capacity(running.len());
    for probe in running {
        probes.push(
            probe
                .await
                .unwrap_or_else(|e| Err(format!("the probe stopped: {e}"))),
        );
    }
    probes
}
