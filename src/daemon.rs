//! The long-running daemon: schedules, the worker that runs passes, the delta worker that
//! applies webhook events beside it, the pusher that sends local stock changes, the HTTP
//! listener (webhooks, health, metrics), reloads of the configuration, and shutdown.
//!
//! The scheduler only raises flags; one worker runs passes one after another, so two runs
//! never overlap. Ticks that arrive while a pass runs collapse into one pass after it, so a
//! slow pull never turns into a backlog, and a full pull asked for is never lost to an
//! incremental tick that came first.
//!
//! A reload reaches the tasks through [`Live`]: the scheduler is rebuilt when a schedule
//! changed, the workers re-read their tunables; what they were built from stays.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Live};
use crate::console::{Console, StoreSite};
use crate::ecwid::{ApiError, Client, Patience};
use crate::health::PassHealth;
use crate::kind::Kind;
use crate::metrics::Metrics;
use crate::mirror::{MirrorError, MirrorWriter, unix_now};
use crate::reload::Reloads;
use crate::server::{self, Endpoints};
use crate::sync::deltas::DeltaWorker;
use crate::sync::deltas::counts::DeltaCounts;
use crate::sync::progress::ProgressMode;
use crate::sync::push::Pusher;
use crate::sync::push::worker::PushWorker;
use crate::sync::{PullError, Puller};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(
        "cannot make the console's token beside the mirror {path} (set console.token_file, or console.enabled = false): {source}"
    )]
    ConsoleToken {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the schedule: {0}")]
    Schedule(String),
    #[error(
        "cannot listen on {addr} ({key}): {source}; is another program using that port? Choose another in {key}"
    )]
    Listen {
        key: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What the schedules asked for that the worker has not started yet.
#[derive(Default)]
struct Pending {
    full: AtomicBool,
    wake: Notify,
}

impl Pending {
    fn ask(&self, full: bool) {
        if full {
            self.full.store(true, Ordering::SeqCst);
        }
        // Stores one permit when the worker is busy: the pass runs right after.
        self.wake.notify_one();
    }
}

/// How long requests in progress (webhooks being committed) may take to finish at exit.
const SERVER_DRAIN: Duration = Duration::from_secs(5);

/// What the daemon's tasks share, made outside so that tests can hold it.
#[derive(Clone, Default)]
pub struct Shared {
    /// Notified after each commit of new pending webhook events; wakes the delta worker.
    pub inbox: Arc<Notify>,
    /// What the delta worker did, and the webhook gaps pulls counted.
    pub deltas: Arc<DeltaCounts>,
    /// The console, once it listens (for the demo's sign-in link).
    pub console: Arc<std::sync::OnceLock<Arc<Console>>>,
    /// The mirror, already open and held by this process (the demo's, held from its first
    /// pull on, so that no other process can take the mirror in between). `None`: the
    /// daemon opens it, waiting for another ecwid-sync that holds it.
    pub mirror: Option<MirrorWriter>,
}

/// Runs the daemon until `shutdown` is cancelled, reloading its configuration when
/// `reloads` asks. `on_ready` is called once the mirror is open and migrated and the
/// listener is bound (systemd's `READY=1`).
pub async fn run(
    config: &Config,
    reloads: Option<Reloads>,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    run_with(config, reloads, Shared::default(), shutdown, on_ready).await
}

/// [`run`] with the handles its tasks share.
pub async fn run_with(
    config: &Config,
    reloads: Option<Reloads>,
    shared: Shared,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    // Gaps mean something only where webhooks can arrive: with the client secret that
    // verifies them.
    let gap_counts = config
        .ecwid
        .client_secret
        .is_some()
        .then(|| shared.deltas.gaps.clone());
    let metrics = Metrics::with_deltas(shared.deltas.clone());
    let client = Client::for_daemon(&config.ecwid, metrics.api.clone())?;
    if !client.check_token(Patience::Once, &shutdown).await? {
        return Ok(());
    }
    let writer = match shared.mirror {
        Some(writer) => writer,
        // A hand-run `sync` may hold the mirror while the service starts: wait for it rather
        // than exit with a code that keeps the service down.
        None => match MirrorWriter::open_waiting(&config.mirror, shutdown.clone()).await? {
            Some(writer) => writer,
            None => return Ok(()),
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
    // After the mirror's lock: a second instance is told about the first one, not the port.
    let addr = config.webhooks.listen;
    crate::listener::make_room_for(config.webhooks.max_connections as usize);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen {
            key: "webhooks.listen",
            addr,
            source,
        })?;
    let listening = listener.local_addr().unwrap_or(addr);
    let (publish, live) = Live::new(config.clone());
    let console = match config.console.enabled {
        true => Some(open_console(config, &live, &writer, &metrics).await?),
        false => None,
    };
    if let Some((console, _)) = &console {
        let _ = shared.console.set(console.clone());
    }
    on_ready();
    let passes = Arc::new(PassHealth::default());
    let receiver = config.ecwid.client_secret.clone().map(|secret| {
        let route = crate::webhooks::StoreRoute {
            name: "default".into(),
            store_id: config.ecwid.store_id,
            client_secret: secret,
            kinds: config.sync.kinds.clone(),
            live: live.clone(),
            inbox: crate::webhooks::Inbox::start(
                writer.clone(),
                metrics.clone(),
                shared.inbox.clone(),
            ),
            metrics: metrics.clone(),
        };
        let routes = crate::webhooks::Routes::one(route);
        Arc::new(crate::webhooks::Receiver::new(routes, metrics.clone()))
    });
    let router = server::router(
        Endpoints {
            writer: writer.clone(),
            metrics: metrics.clone(),
            passes: passes.clone(),
            config: live.clone(),
        },
        receiver
            .as_ref()
            .map(|r| (config.webhooks.path.as_str(), r.clone())),
    );
    // Stopped after the schedule loop, not with it, so that webhooks being committed at
    // shutdown still get their answer before the final checkpoint.
    let server_stop = CancellationToken::new();
    if let Some(receiver) = receiver.clone() {
        let stop = server_stop.clone();
        tokio::spawn(async move { receiver.report_held_refusals(stop).await });
    }
    let server = tokio::spawn(server::serve(
        listener,
        router,
        crate::listener::Limits::of(&config.webhooks),
        server_stop.clone(),
    ));
    let console_server = console.map(|(console, console_listener)| {
        let router = crate::console::router(console);
        tokio::spawn(server::serve(
            console_listener,
            router,
            CONSOLE_LIMITS,
            server_stop.clone(),
        ))
    });

    // Stops the schedule and the delta worker together, on shutdown or when either fails.
    let stop = shutdown.child_token();
    let puller = Puller::new(
        client.bulk(),
        writer.clone(),
        &config.sync,
        ProgressMode::Log,
        stop.clone(),
    )
    .with_metrics(metrics.pulls.clone());
    let pusher = PushWorker::new(
        Pusher::new(client.clone(), writer.clone()),
        live.clone(),
        metrics.push.clone(),
    );
    let deltas = DeltaWorker::new(
        client,
        writer,
        live.clone(),
        shared.inbox.clone(),
        shared.deltas.clone(),
    );
    tracing::info!(
        store_id = config.ecwid.store_id,
        mirror = %config.mirror.path.display(),
        kinds = ?config.sync.kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
        listen = %listening,
        webhooks = if receiver.is_some() { config.webhooks.path.as_str() } else { "off" },
        "ecwid-sync started"
    );
    if receiver.is_none() {
        tracing::info!(
            "webhooks are off: ecwid.client_secret is not set, so the mirror follows the store through scheduled pulls only; /healthz, /readyz and /metrics are served"
        );
    }
    let (schedule, deltas, pushes, ()) = tokio::join!(
        async {
            let outcome = run_schedule(
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
        async {
            if let Some(reloads) = reloads {
                crate::reload::follow(reloads, publish, stop.clone()).await;
            }
        },
    );
    server_stop.cancel();
    match tokio::time::timeout(SERVER_DRAIN, server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP listener failed"),
        Err(_) => tracing::warn!("requests still in progress at exit were dropped"),
        _ => {}
    }
    if let Some(console) = console_server {
        // An action in progress settles in its own transaction; waiting is not needed.
        let _ = tokio::time::timeout(SERVER_DRAIN, console).await;
    }
    puller.checkpoint().await;
    schedule
        .and(deltas.map_err(DaemonError::from))
        .and(pushes.map_err(DaemonError::from))
}

/// The console's connections: a few operators' browsers, never a crowd.
const CONSOLE_LIMITS: crate::listener::Limits = crate::listener::Limits {
    header_read: Duration::from_secs(10),
    body_read: Duration::from_secs(10),
    idle: Duration::from_secs(75),
    max_connections: 64,
};

/// The console's token (made beside the mirror when none is configured) and its bound
/// listener.
async fn open_console(
    config: &Config,
    live: &Live,
    writer: &MirrorWriter,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<Console>, TcpListener), DaemonError> {
    let (token, token_source) = crate::console::auth::token_or_make(
        config.console.token.as_ref(),
        config.console.token_file.as_deref(),
        &config.mirror.path,
    )
    .map_err(|source| DaemonError::ConsoleToken {
        path: config.mirror.path.clone(),
        source,
    })?;
    let addr = config.console.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen {
            key: "console.listen",
            addr,
            source,
        })?;
    let address = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        console = %format!("http://{address}/"),
        token_file = %token_source.display(),
        "the operator console listens; sign in with the token in token_file"
    );
    let console = Console::new(
        vec![StoreSite {
            name: "default".into(),
            store_id: config.ecwid.store_id,
            mirror: config.mirror.path.clone(),
            writer: writer.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
        }],
        live.clone(),
        &token,
        token_source,
        address,
    );
    Ok((console, listener))
}

/// Runs passes on the configured schedules until `shutdown`, following the schedules of
/// `live`. With `initial_pass`, one pass runs at once (it does a full pull of any kind the
/// mirror has never had). Each pass's outcome goes to `passes`, for `/readyz`.
pub async fn run_schedule(
    puller: &Puller,
    live: Live,
    kinds: &[Kind],
    passes: &PassHealth,
    shutdown: CancellationToken,
    initial_pass: bool,
) -> Result<(), DaemonError> {
    let pending = Arc::new(Pending::default());
    let crons = live.read(Crons::of);
    let scheduler = start_ticks(&crons, &pending).await?;
    passes.set_schedules_running(true);
    if initial_pass {
        pending.ask(false);
    }

    // Ends the schedule follower with the passes.
    let passes_done = CancellationToken::new();
    let run_passes = async {
        let outcome = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = pending.wake.notified() => {}
            }
            let full = pending.full.swap(false, Ordering::SeqCst);
            match puller.pass(kinds, full).await {
                Ok(_) => passes.pass_succeeded(unix_now()),
                Err(PullError::Interrupted) => break Ok(()),
                Err(err) if err.is_fatal() => break Err(err.into()),
                // The next tick tries again; the error is in the log and in `status`.
                Err(err) => {
                    passes.pass_failed(unix_now());
                    tracing::error!(
                        error = %crate::errors::error_chain(&err),
                        "pass failed; the next scheduled pass will retry"
                    )
                }
            }
        };
        passes_done.cancel();
        outcome
    };
    let (outcome, ()) = tokio::join!(
        run_passes,
        follow_schedules(live, scheduler, crons, &pending, passes_done.clone())
    );
    passes.set_schedules_running(false);
    tracing::info!("ecwid-sync stopped");
    outcome
}

/// The two schedules of `[sync]`.
#[derive(Clone, PartialEq)]
struct Crons {
    incremental: String,
    full: String,
}

impl Crons {
    fn of(config: &Config) -> Crons {
        Crons {
            incremental: config.sync.incremental_cron.clone(),
            full: config.sync.full_cron.clone(),
        }
    }
}

/// A scheduler that asks `pending` for a pass on each tick of `crons`.
async fn start_ticks(crons: &Crons, pending: &Arc<Pending>) -> Result<JobScheduler, DaemonError> {
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Schedule(e.to_string()))?;
    for (expr, full) in [(&crons.incremental, false), (&crons.full, true)] {
        let pending = pending.clone();
        let job = Job::new_async_tz(expr.as_str(), chrono::Local, move |_, _| {
            pending.ask(full);
            Box::pin(async {})
        })
        .map_err(|e| DaemonError::Schedule(format!("{expr:?}: {e}")))?;
        scheduler
            .add(job)
            .await
            .map_err(|e| DaemonError::Schedule(e.to_string()))?;
    }
    scheduler
        .start()
        .await
        .map_err(|e| DaemonError::Schedule(e.to_string()))?;
    Ok(scheduler)
}

/// Replaces the scheduler when a reload changes a schedule, until `stop`. A tick due while
/// the scheduler is replaced may be missed; the next one comes on the new schedule.
async fn follow_schedules(
    mut live: Live,
    mut scheduler: JobScheduler,
    mut crons: Crons,
    pending: &Arc<Pending>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = live.changed() => {}
        }
        let wanted = live.read(Crons::of);
        if wanted == crons {
            continue;
        }
        match start_ticks(&wanted, pending).await {
            Ok(new) => {
                stop_ticks(std::mem::replace(&mut scheduler, new)).await;
                crons = wanted;
            }
            // Validated crons are accepted; only the scheduler itself can fail here.
            Err(e) => tracing::error!(
                error = %e,
                "cannot start the new schedules; the running ones are kept"
            ),
        }
    }
    stop_ticks(scheduler).await;
}

/// Stopping the scheduler only stops ticks; bound it so a stuck job cannot hold exit.
async fn stop_ticks(mut scheduler: JobScheduler) {
    let _ = tokio::time::timeout(Duration::from_secs(5), scheduler.shutdown()).await;
}
