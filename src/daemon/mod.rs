//! The long-running daemon: every configured store ([`store`]: its schedules, the delta
//! worker, the pusher), the HTTP listener they share (webhooks routed by store, health,
//! metrics), the operator console, reloads of the configuration, and shutdown.
//!
//! Stores are apart: each has its own mirror and lock, Ecwid client and request budget,
//! workers and schedules. A store that fails for good stops alone; the daemon ends with an
//! error only when no store is left running. A reload (`SIGHUP`) reaches a running store
//! through its [`Live`] configuration, starts stores that appeared in the configuration,
//! stops those that went away, and starts again a store that had stopped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{Config, Live, StoreConfig, Stores};
use crate::console::{Console, StoreSite};
use crate::ecwid::ApiError;
use crate::errors::error_chain;
use crate::metrics::Metrics;
use crate::mirror::MirrorError;
use crate::reload::Reloads;
use crate::server::{self, Endpoints, StoreEndpoint};
use crate::sync::PullError;
use crate::webhooks::{Receiver, Routes, StoreRoute};

mod schedule;
mod store;

pub use schedule::{Ticks, run_schedule};
pub use store::{OpenStore, RunningStore, StoreHandles};

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
    #[error("a store's tasks stopped unexpectedly: {0}")]
    Task(String),
}

/// The page caches of all mirrors together, in a daemon of several stores: four stores'
/// worth of one store's cache (see `mirror::limit_page_caches`).
const PAGE_CACHES: i64 = 128 * 1024 * 1024;

/// How long requests in progress (webhooks being committed) may take to finish at exit.
const SERVER_DRAIN: Duration = Duration::from_secs(5);

/// What the daemon's tasks share, made outside so that tests and the demo can hold it.
#[derive(Clone, Default)]
pub struct Shared {
    /// The handles of the first store (the demo's mirror, a test's counts); the other
    /// stores make their own.
    pub first: StoreHandles,
    /// The console, once it listens (for the demo's sign-in link).
    pub console: Arc<std::sync::OnceLock<Arc<Console>>>,
}

/// Runs the daemon over `stores` until `shutdown` is cancelled, reloading the configuration
/// when `reloads` asks. `on_ready` is called once the stores are open (their mirrors
/// migrated) and the listener is bound (systemd's `READY=1`).
pub async fn run(
    stores: &Stores,
    reloads: Option<Reloads>,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    run_with(stores, reloads, Shared::default(), shutdown, on_ready).await
}

/// [`run`] with the handles its tasks share.
pub async fn run_with(
    stores: &Stores,
    reloads: Option<Reloads>,
    shared: Shared,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    // The listener, the console and the log are the main file's: the same in every store's
    // configuration.
    let Some(main) = stores.stores.first().map(|s| s.config.clone()) else {
        return Ok(());
    };
    let several = stores.stores.len() > 1;
    if several {
        crate::mirror::limit_page_caches(PAGE_CACHES)?;
    }
    let handles = |index: usize| match index {
        0 => shared.first.clone(),
        _ => StoreHandles::default(),
    };
    let opened = open_all(
        stores
            .stores
            .iter()
            .enumerate()
            .map(|(i, s)| (s, handles(i))),
        &shutdown,
    )
    .await;
    let (mut ready, mut failed) = (Vec::new(), Vec::new());
    for (store, outcome) in opened {
        match outcome {
            Ok(Some(open)) => ready.push(open),
            // Shutdown came first; the mirrors opened close with their writers.
            Ok(None) => return Ok(()),
            Err(e) if !several => return Err(e),
            Err(e) => failed.push((store, e)),
        }
    }
    if ready.is_empty() {
        return failed.pop().map_or(Ok(()), |(_, e)| Err(e));
    }

    // After the mirrors' locks: a second instance is told about the first one, not the port.
    let addr = main.webhooks.listen;
    crate::listener::make_room_for(main.webhooks.max_connections as usize);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen {
            key: "webhooks.listen",
            addr,
            source,
        })?;
    let (ended_tx, mut ended) = mpsc::unbounded_channel();
    let mut board = Board {
        running: BTreeMap::new(),
        stopped: BTreeMap::new(),
        ended: ended_tx,
        shutdown: shutdown.clone(),
        ticks: Ticks::start().await?,
    };
    let mut last_error = None;
    for (store, e) in failed {
        board.opening_failed(store, &e);
        last_error = Some(e);
    }
    for open in ready {
        board.start(open);
    }
    let listening = listener.local_addr().unwrap_or(addr);
    let (publish_main, main_live) = Live::new(main.clone());
    let unrouted = if several {
        Metrics::unrouted()
    } else {
        // One store counts every refusal itself, as it always did.
        board
            .running
            .values()
            .next()
            .map_or_else(Metrics::unrouted, |s| s.endpoint.metrics.clone())
    };
    let endpoints = Endpoints::new(board.endpoints(), several.then(|| unrouted.clone()));
    // With several stores the webhook path is served even while no store has a client
    // secret, so that a reload adding one needs no restart.
    let receiver = (several || board.any_webhooks())
        .then(|| Arc::new(Receiver::new(board.routes(), unrouted)));
    let console = match main.console.enabled {
        true => Some(open_console(&main, &main_live, &board).await?),
        false => None,
    };
    if let Some((console, _)) = &console {
        let _ = shared.console.set(console.clone());
    }
    on_ready();
    let router = server::router(
        endpoints.clone(),
        receiver
            .as_ref()
            .map(|r| (main.webhooks.path.as_str(), r.clone())),
    );
    // Stopped after the stores, not with them, so that webhooks being committed at
    // shutdown still get their answer before the final checkpoints.
    let server_stop = CancellationToken::new();
    if let Some(receiver) = receiver.clone() {
        let stop = server_stop.clone();
        tokio::spawn(async move { receiver.report_held_refusals(stop).await });
    }
    let server = tokio::spawn(server::serve(
        listener,
        router,
        crate::listener::Limits::of(&main.webhooks),
        server_stop.clone(),
    ));
    let console_server = console.as_ref().map(|(console, _)| console.clone());
    let console_task = console.map(|(console, console_listener)| {
        let router = crate::console::router(console);
        tokio::spawn(server::serve(
            console_listener,
            router,
            CONSOLE_LIMITS,
            server_stop.clone(),
        ))
    });
    tracing::info!(
        stores = ?board.running.keys().collect::<Vec<_>>(),
        listen = %listening,
        webhooks = if receiver.is_some() { main.webhooks.path.as_str() } else { "off" },
        "ecwid-sync started"
    );
    let listeners = Listeners {
        endpoints,
        receiver,
        console: console_server,
    };

    let mut reloads = reloads;
    let mut current = stores.clone();
    let outcome = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(name) = ended.recv() => {
                if let Some(Err(e)) = board.reap(&name).await {
                    last_error = Some(e);
                }
                if board.running.is_empty() {
                    break last_error.take().map_or(Ok(()), Err);
                }
                listeners.refresh(&board);
            }
            asked = next_reload(&mut reloads) => {
                let Some(load) = asked else { continue };
                crate::reload::reloading();
                if let Some(newer) = crate::reload::read(load) {
                    publish_main.send_replace(newer.stores.first().map_or(main.clone(), |s| s.config.clone()));
                    board.reload(&current, &newer).await;
                    listeners.refresh(&board);
                    current = newer;
                }
                crate::reload::reloaded();
            }
        }
    };
    let finished = board.stop_all().await;
    server_stop.cancel();
    match tokio::time::timeout(SERVER_DRAIN, server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP listener failed"),
        Err(_) => tracing::warn!("requests still in progress at exit were dropped"),
        _ => {}
    }
    if let Some(console) = console_task {
        // An action in progress settles in its own transaction; waiting is not needed.
        let _ = tokio::time::timeout(SERVER_DRAIN, console).await;
    }
    tracing::info!("ecwid-sync stopped");
    outcome.and(finished)
}

/// The next reload asked for; never, without reloads.
async fn next_reload(reloads: &mut Option<Reloads>) -> Option<&crate::reload::Load> {
    let Some(r) = reloads.as_mut() else {
        return std::future::pending().await;
    };
    match r.asked.recv().await {
        Some(()) => Some(&r.load),
        None => {
            // No more reloads can come; wait for the other events.
            std::future::pending::<()>().await;
            None
        }
    }
}

/// Opens every store at once: a store waiting for its mirror's lock or for Ecwid does not
/// hold the others back.
async fn open_all<'a>(
    stores: impl Iterator<Item = (&'a StoreConfig, StoreHandles)>,
    shutdown: &CancellationToken,
) -> Vec<(&'a StoreConfig, Result<Option<OpenStore>, DaemonError>)> {
    let mut opening = Vec::new();
    for (store, handles) in stores {
        let config = store.clone();
        let shutdown = shutdown.clone();
        let span = store::span(&store.name);
        let task = tokio::spawn(
            async move { OpenStore::open(&config, handles, &shutdown).await }.instrument(span),
        );
        opening.push((store, task));
    }
    let mut opened = Vec::new();
    for (store, task) in opening {
        let outcome = task
            .await
            .unwrap_or_else(|e| Err(DaemonError::Task(e.to_string())));
        opened.push((store, outcome));
    }
    opened
}

/// The stores of the daemon: those running and those stopped by a failure.
struct Board {
    running: BTreeMap<String, RunningStore>,
    /// Stores that failed, kept on show (health, metrics, console) until a reload starts
    /// them again or takes them out of the configuration.
    stopped: BTreeMap<String, Arc<StoreEndpoint>>,
    ended: mpsc::UnboundedSender<String>,
    shutdown: CancellationToken,
    /// The cron scheduler every store's schedules join.
    ticks: Ticks,
}

impl Board {
    fn start(&mut self, open: OpenStore) {
        let running = RunningStore::start(open, &self.ticks, &self.shutdown, self.ended.clone());
        self.stopped.remove(&running.name);
        self.running.insert(running.name.clone(), running);
    }

    /// A store that could not even open: logged, and shown as stopped.
    fn opening_failed(&mut self, store: &StoreConfig, error: &DaemonError) {
        let reason = error_chain(error);
        tracing::error!(
            parent: &store::span(&store.name),
            error = %reason,
            "the store cannot start; the daemon's other stores go on (fix the cause, then reload or restart)"
        );
        self.stopped
            .insert(store.name.clone(), StoreEndpoint::stopped(store, reason));
    }

    /// Takes a store whose tasks ended off the running ones; its outcome, if it was running.
    async fn reap(&mut self, name: &str) -> Option<Result<(), DaemonError>> {
        let store = self.running.remove(name)?;
        let endpoint = store.endpoint.clone();
        let outcome = store.wait().await;
        if outcome.is_err() {
            self.stopped.insert(name.to_owned(), endpoint);
        }
        Some(outcome)
    }

    /// Applies a reloaded configuration: running stores take its changes, stores new to it
    /// start, stores gone from it stop, stopped stores start again.
    async fn reload(&mut self, current: &Stores, newer: &Stores) {
        let diff = current.diff(newer);
        for name in &diff.removed {
            self.stopped.remove(name);
            if let Some(store) = self.running.remove(name) {
                let span = store::span(name);
                let outcome = store.stop().await;
                match outcome {
                    Ok(()) => {
                        tracing::info!(parent: &span, "store removed from the configuration: stopped")
                    }
                    Err(e) => {
                        tracing::warn!(parent: &span, error = %error_chain(&e), "store removed from the configuration stopped with an error")
                    }
                }
            }
        }
        for name in &diff.kept {
            if let (Some(store), Some(file)) = (self.running.get(name), newer.get(name)) {
                let _entered = store::span(name).entered();
                crate::reload::apply(&file.config, store.publish());
            }
        }
        let to_start: Vec<(&StoreConfig, StoreHandles)> = newer
            .stores
            .iter()
            .filter(|s| !self.running.contains_key(&s.name))
            .map(|s| (s, StoreHandles::default()))
            .collect();
        for (store, outcome) in open_all(to_start.into_iter(), &self.shutdown).await {
            match outcome {
                Ok(Some(open)) => {
                    tracing::info!(parent: &store::span(&store.name), "store started by a reload");
                    self.start(open);
                }
                Ok(None) => {}
                Err(e) => self.opening_failed(store, &e),
            }
        }
    }

    /// Stops every store and waits for them, then the scheduler; the first error, if any.
    async fn stop_all(&mut self) -> Result<(), DaemonError> {
        let mut outcome = Ok(());
        for (_, store) in std::mem::take(&mut self.running) {
            let stopped = store.stop().await;
            if outcome.is_ok() {
                outcome = stopped;
            }
        }
        self.ticks.clone().stop().await;
        outcome
    }

    fn endpoints(&self) -> Vec<Arc<StoreEndpoint>> {
        let mut all: BTreeMap<&String, Arc<StoreEndpoint>> = BTreeMap::new();
        for (name, store) in &self.running {
            all.insert(name, store.endpoint.clone());
        }
        for (name, endpoint) in &self.stopped {
            all.insert(name, endpoint.clone());
        }
        all.into_values().collect()
    }

    fn routes(&self) -> Routes {
        // The configuration never holds one store id twice (see `Stores::load`); were it to,
        // the first store keeps the id rather than no store getting its webhooks.
        let mut routes: Vec<StoreRoute> = Vec::new();
        for route in self.running.values().filter_map(|s| s.route.clone()) {
            if !routes.iter().any(|r| r.store_id == route.store_id) {
                routes.push(route);
            }
        }
        Routes::new(routes).unwrap_or_default()
    }

    fn any_webhooks(&self) -> bool {
        self.running.values().any(|s| s.route.is_some())
    }

    fn sites(&self) -> Vec<StoreSite> {
        // A running store's endpoint always has its writer.
        self.running
            .values()
            .filter_map(|s| {
                Some(StoreSite {
                    name: s.name.clone(),
                    store_id: s.config.ecwid.store_id,
                    mirror: s.config.mirror.path.clone(),
                    writer: s.endpoint.writer.clone()?,
                    live: s.endpoint.config.clone(),
                    metrics: s.endpoint.metrics.clone(),
                })
            })
            .collect()
    }
}

/// What the stores are served through, told when the stores change.
struct Listeners {
    endpoints: Arc<Endpoints>,
    receiver: Option<Arc<Receiver>>,
    console: Option<Arc<Console>>,
}

impl Listeners {
    fn refresh(&self, board: &Board) {
        self.endpoints.replace_stores(board.endpoints());
        if let Some(receiver) = &self.receiver {
            receiver.replace_routes(board.routes());
        }
        if let Some(console) = &self.console {
            console.replace_stores(board.sites());
        }
    }
}

/// The console's connections: a few operators' browsers, never a crowd.
const CONSOLE_LIMITS: crate::listener::Limits = crate::listener::Limits {
    header_read: Duration::from_secs(10),
    body_read: Duration::from_secs(10),
    idle: Duration::from_secs(75),
    max_connections: 64,
};

/// The console's token (made beside the first store's mirror when none is configured) and
/// its bound listener.
async fn open_console(
    main: &Config,
    live: &Live,
    board: &Board,
) -> Result<(Arc<Console>, TcpListener), DaemonError> {
    let (token, token_source) = crate::console::auth::token_or_make(
        main.console.token.as_ref(),
        main.console.token_file.as_deref(),
        &main.mirror.path,
    )
    .map_err(|source| DaemonError::ConsoleToken {
        path: main.mirror.path.clone(),
        source,
    })?;
    let addr = main.console.listen;
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
    let console = Console::new(board.sites(), live.clone(), &token, token_source, address);
    Ok((console, listener))
}
