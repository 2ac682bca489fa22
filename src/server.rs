//! The HTTP listener of `ecwid-sync run` (`webhooks.listen`): the webhook receiver,
//! `/healthz`, `/readyz` and `/metrics`. Plain HTTP: TLS is the reverse proxy's job.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Live;
use crate::errors::error_chain;
use crate::health::{Liveness, PassHealth, Readiness};
use crate::listener::Limits;
use crate::metrics::{self, Metrics};
use crate::mirror::{MirrorWriter, SCHEMA_VERSION, unix_now};
use crate::webhooks::Receiver;
use crate::webhooks::receiver::{self, MAX_BODY};

/// How long the health endpoints wait for the mirror's writer. A writer busy longer than
/// this (a stalled mirror, another process's write lock) counts as not writable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the health and metrics endpoints read.
pub struct Endpoints {
    pub writer: MirrorWriter,
    pub metrics: Arc<Metrics>,
    pub passes: Arc<PassHealth>,
    /// For `webhooks.ready_max_failing_secs`, which a reload may change.
    pub config: Live,
}

/// The routes. Without `webhooks` (no client secret configured) the webhook path is not
/// served (404) and the other endpoints are.
pub fn router(endpoints: Endpoints, webhooks: Option<(&str, Arc<Receiver>)>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Arc::new(endpoints));
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
    let liveness = Liveness::from_probe(&probe(&e.writer).await);
    json_answer(liveness.ok(), &liveness)
}

async fn readyz(State(e): State<Arc<Endpoints>>) -> Response {
    let readiness = Readiness::decide(
        &probe(&e.writer).await,
        SCHEMA_VERSION,
        &e.passes,
        unix_now(),
        e.config
            .read(|config| config.webhooks.ready_max_failing.as_secs() as i64),
    );
    json_answer(readiness.ready, &readiness)
}

async fn metrics_text(State(e): State<Arc<Endpoints>>) -> Response {
    let stall = e.writer.write_stall();
    e.config.read(|config| {
        e.metrics
            .at_scrape
            .refresh(config, stall.as_ref(), unix_now())
    });
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        e.metrics.encode(),
    )
        .into_response()
}
