//! One store inside the daemon: opened (its token accepted, its mirror held), then run (its
//! schedules, the delta worker, the pusher), each store apart from the others. What a store
//! shares with the others is only the process: the listener routes its webhooks to it, the
//! console and `/metrics` read it.
//!
//! A store whose condition is fatal (its token refused, a mirror it cannot keep) stops alone,
//! loudly: an error in the log, `/readyz` names it, `ecwid_sync_store_up` drops to 0.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::DaemonError;
use super::schedule::{Ticks, run_schedule};
use crate::config::{Config, Live, StoreConfig};
use crate::ecwid::{Client, Patience};
use crate::errors::error_chain;
use crate::health::PassHealth;
use crate::metrics::Metrics;
use crate::mirror::MirrorWriter;
use crate::mirror::commit_watch::Commits;
use crate::server::StoreEndpoint;
use crate::sync::Puller;
use crate::sync::deltas::DeltaWorker;
use crate::sync::deltas::counts::DeltaCounts;
use crate::sync::progress::ProgressMode;
use crate::sync::push::Pusher;
use crate::sync::push::worker::PushWorker;
use crate::webhooks::{Inbox, StoreRoute};

/// What a store's tasks share, made outside so that tests and the demo can hold it.
#[derive(Clone, Default)]
pub struct StoreHandles {
    /// Notified after each commit of new pending webhook events; wakes the delta worker.
    pub inbox: Arc<Notify>,
    /// What the delta worker did, and the webhook gaps pulls counted.
    pub deltas: Arc<DeltaCounts>,
    /// The mirror, already open and held by this process (the demo's, held from its first
    /// pull on, so that no other process can take the mirror in between). `None`: the
    /// daemon opens it, waiting for another ecwid-sync that holds it.
    pub mirror: Option<MirrorWriter>,
}

/// A store whose token Ecwid accepted and whose mirror this process holds.
pub struct OpenStore {
    name: String,
    config: Config,
    client: Client,
    writer: MirrorWriter,
    metrics: Arc<Metrics>,
    handles: StoreHandles,
}

/// The span every log line of a store's tasks is written in.
pub fn span(name: &str) -> tracing::Span {
    tracing::info_span!("store", store = %name)
}

impl OpenStore {
    /// Checks the store's token and opens its mirror. `Ok(None)`: `shutdown` came first.
    pub async fn open(
        store: &StoreConfig,
        handles: StoreHandles,
        shutdown: &CancellationToken,
    ) -> Result<Option<OpenStore>, DaemonError> {
        let config = &store.config;
        // Gaps mean something only where webhooks can arrive: with the client secret that
        // verifies them.
        let gap_counts = config
            .ecwid
            .client_secret
            .is_some()
            .then(|| handles.deltas.gaps.clone());
        let metrics = Metrics::for_store(&store.name, handles.deltas.clone());
        let client = Client::for_daemon(&config.ecwid, metrics.api.clone())?;
        if !client.check_token(Patience::Once, shutdown).await? {
            return Ok(None);
        }
        let writer = match handles.mirror.clone() {
            Some(writer) => writer,
            // A hand-run `sync` may hold the mirror while the service starts: wait for it
            // rather than exit with a code that keeps the service down.
            None => match MirrorWriter::open_waiting(&config.mirror, shutdown.clone()).await? {
                Some(writer) => writer,
                None => return Ok(None),
            },
        };
        let writer = writer.counting_webhook_gaps(gap_counts);
        writer
            .set_privacy_policy(config.privacy.order_fields.clone())
            .await?;
        // A restart keeps each kind's last successful pull, so that a kind failing since an
        // earlier run is seen late by its schedule rather than not at all.
        let kinds = config.sync.kinds.clone();
        let pulled = writer
            .call(move |conn| {
                let mut pulled = Vec::new();
                for &kind in &kinds {
                    pulled.push((kind, crate::mirror::state::read(conn, kind)?.last_success()));
                }
                Ok(pulled)
            })
            .await?;
        for (kind, at) in pulled {
            if let Some(at) = at {
                metrics.pulls.succeeded_before(kind.name(), at);
            }
        }
        Ok(Some(OpenStore {
            name: store.name.clone(),
            config: config.clone(),
            client,
            writer,
            metrics,
            handles,
        }))
    }
}

/// A store running: its tasks, and what the listener, `/metrics` and the console read of it.
pub struct RunningStore {
    pub name: String,
    pub config: Config,
    pub endpoint: Arc<StoreEndpoint>,
    /// Where its webhooks go; `None` without a client secret (pulls only).
    pub route: Option<StoreRoute>,
    publish: watch::Sender<Config>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), DaemonError>>,
}

impl RunningStore {
    /// Starts the store's tasks. They end on `shutdown`, on [`RunningStore::stop`], or when
    /// one fails for good; then the store's mirror is checkpointed.
    /// The store's name is sent on `ended` once its tasks have ended.
    pub fn start(
        open: OpenStore,
        ticks: &Ticks,
        shutdown: &CancellationToken,
        ended: mpsc::UnboundedSender<String>,
    ) -> RunningStore {
        let OpenStore {
            name,
            config,
            client,
            writer,
            metrics,
            handles,
        } = open;
        // What starts here (the inbox's committer, the commit watch) logs in the store's span.
        let span = span(&name);
        let _entered = span.clone().entered();
        let (publish, live) = Live::new(config.clone());
        let passes = Arc::new(PassHealth::default());
        let route = config.ecwid.client_secret.clone().map(|secret| StoreRoute {
            name: name.clone(),
            store_id: config.ecwid.store_id,
            client_secret: secret,
            kinds: config.sync.kinds.clone(),
            live: live.clone(),
            inbox: Inbox::start(writer.clone(), metrics.clone(), handles.inbox.clone()),
            metrics: metrics.clone(),
        });
        let endpoint = Arc::new(StoreEndpoint {
            name: name.clone(),
            writer: Some(writer.clone()),
            metrics: metrics.clone(),
            passes: passes.clone(),
            config: live.clone(),
        });
        let stop = shutdown.child_token();
        let commits = match Commits::watch(&config.mirror.path) {
            Ok(commits) => Some(commits),
            Err(e) => {
                tracing::info!(
                    parent: &span,
                    error = %e,
                    "the mirror's commits cannot be watched here; local changes are looked for every push.poll_interval_ms"
                );
                None
            }
        };
        let tasks = StoreTasks {
            puller: Puller::new(
                client.bulk(),
                writer.clone(),
                &config.sync,
                ProgressMode::Log,
                stop.clone(),
            )
            .with_metrics(metrics.pulls.clone()),
            pusher: PushWorker::new(
                Pusher::new(client.clone(), writer.clone()),
                live.clone(),
                metrics.push.clone(),
            )
            .waking_on(commits.clone()),
            deltas: DeltaWorker::new(
                client,
                writer,
                live.clone(),
                handles.inbox.clone(),
                handles.deltas.clone(),
            )
            .waking_on(commits),
            live: live.clone(),
            config: config.clone(),
            passes,
            metrics,
            ticks: ticks.clone(),
        };
        tracing::info!(
            parent: &span,
            store_id = config.ecwid.store_id,
            mirror = %config.mirror.path.display(),
            kinds = ?config.sync.kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
            webhooks = if route.is_some() { "on" } else { "off" },
            "store started"
        );
        if route.is_none() {
            tracing::info!(
                parent: &span,
                "webhooks are off: ecwid.client_secret is not set, so the mirror follows the store through scheduled pulls only"
            );
        }
        let ended_name = name.clone();
        let run = tasks.run(stop.clone());
        let task = tokio::spawn(
            async move {
                let outcome = run.await;
                let _ = ended.send(ended_name);
                outcome
            }
            .instrument(span),
        );
        RunningStore {
            name,
            config,
            endpoint,
            route,
            publish,
            stop,
            task,
        }
    }

    /// Publishes a reloaded configuration to the store's tasks.
    pub fn publish(&self) -> &watch::Sender<Config> {
        &self.publish
    }

    /// Stops the store's tasks and waits for them (its mirror is checkpointed).
    pub async fn stop(self) -> Result<(), DaemonError> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits for the store's tasks to end.
    pub async fn wait(self) -> Result<(), DaemonError> {
        match self.task.await {
            Ok(outcome) => outcome,
            Err(e) => Err(DaemonError::Task(e.to_string())),
        }
    }
}

/// What runs for one store.
struct StoreTasks {
    puller: Puller,
    pusher: PushWorker,
    deltas: DeltaWorker,
    live: Live,
    config: Config,
    passes: Arc<PassHealth>,
    metrics: Arc<Metrics>,
    ticks: Ticks,
}

impl StoreTasks {
    /// Runs the schedules, the delta worker and the pusher until `stop` or until one of them
    /// fails for good, which stops the others: a store runs whole or not at all.
    async fn run(self, stop: CancellationToken) -> Result<(), DaemonError> {
        let StoreTasks {
            puller,
            pusher,
            deltas,
            live,
            config,
            passes,
            metrics,
            ticks,
        } = self;
        metrics.store_up.set(1);
        let (schedule, deltas, pushes) = tokio::join!(
            async {
                let outcome = run_schedule(
                    &ticks,
                    &puller,
                    live.clone(),
                    &config.sync.kinds,
                    &passes,
                    stop.clone(),
                    true,
                )
                .await;
                stop.cancel();
                outcome
            },
            async {
                let outcome = deltas.run(stop.clone()).await;
                stop.cancel();
                outcome
            },
            async {
                let outcome = pusher.run(stop.clone()).await;
                stop.cancel();
                outcome
            },
        );
        puller.checkpoint().await;
        metrics.store_up.set(0);
        let outcome = schedule
            .and(deltas.map_err(DaemonError::from))
            .and(pushes.map_err(DaemonError::from));
        if let Err(e) = &outcome {
            let reason = error_chain(e);
            passes.store_stopped(reason.clone());
            tracing::error!(
                error = %reason,
                "the store stopped; the daemon's other stores go on (fix the cause, then reload or restart)"
            );
        }
        outcome
    }
}
