//! The long-running daemon: schedules, the worker that runs passes, and shutdown.
//!
//! The scheduler only sends commands; one worker runs them one after another, so two runs
//! never overlap. A tick that arrives while a run is going is dropped rather than queued, so
//! a slow pull never turns into a backlog of pulls.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SyncConfig};
use crate::ecwid::{ApiError, Client};
use crate::mirror::{MirrorError, MirrorWriter};
use crate::sync::progress::ProgressMode;
use crate::sync::{Kind, PullError, Puller};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error("cannot set up the schedule: {0}")]
    Schedule(String),
}

/// Parses a six-field cron expression (seconds first) the way the scheduler will.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
}

#[derive(Clone, Copy, Debug)]
enum Command {
    Pass { full: bool },
}

/// Runs the daemon until `shutdown` is cancelled. `on_ready` is called once the mirror is
/// open and migrated (systemd's `READY=1`).
pub async fn run(
    config: &Config,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    let writer = MirrorWriter::open(&config.mirror.path)?;
    on_ready();
    let client = Client::new(&config.ecwid)?;
    let puller = Puller::new(
        client,
        writer,
        &config.sync,
        ProgressMode::Log,
        shutdown.clone(),
    );
    tracing::info!(
        store_id = config.ecwid.store_id,
        mirror = %config.mirror.path.display(),
        kinds = ?config.sync.kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "ecwid-sync started"
    );
    run_schedule(&puller, &config.sync, &config.sync.kinds, shutdown, true).await
}

/// Runs passes on the configured schedules until `shutdown`. With `initial_pass`, one pass
/// runs at once (it does a full pull of any kind the mirror has never had).
pub async fn run_schedule(
    puller: &Puller,
    sync: &SyncConfig,
    kinds: &[Kind],
    shutdown: CancellationToken,
    initial_pass: bool,
) -> Result<(), DaemonError> {
    let (commands_tx, mut commands_rx) = mpsc::channel::<Command>(1);
    let mut scheduler = JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Schedule(e.to_string()))?;
    for (expr, full) in [(&sync.incremental_cron, false), (&sync.full_cron, true)] {
        let tx = commands_tx.clone();
        let job = Job::new_async_tz(expr.as_str(), chrono::Local, move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                if tx.try_send(Command::Pass { full }).is_err() {
                    tracing::debug!(full, "a pass is still running or queued; tick skipped");
                }
            })
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
    if initial_pass {
        let _ = commands_tx.try_send(Command::Pass { full: false });
    }

    let outcome = loop {
        let command = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            command = commands_rx.recv() => command,
        };
        let Some(Command::Pass { full }) = command else {
            break Ok(());
        };
        match puller.pass(kinds, full).await {
            Ok(_) => {}
            Err(PullError::Interrupted) => break Ok(()),
            Err(err) if err.is_fatal() => break Err(err.into()),
            // The next tick tries again; the error is in the log and in `status`.
            Err(err) => tracing::error!(
                error = %crate::sync::pull::error_chain(&err),
                "pass failed; the next scheduled pass will retry"
            ),
        }
    };
    // Stopping the scheduler only stops ticks; bound it so a stuck job cannot hold exit.
    let _ = tokio::time::timeout(Duration::from_secs(5), scheduler.shutdown()).await;
    tracing::info!("ecwid-sync stopped");
    outcome
}

/// Cancels `token` on SIGTERM or SIGINT.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown requested; finishing the current page");
        token.cancel();
    });
}
