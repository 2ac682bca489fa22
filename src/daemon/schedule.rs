//! The schedules of one store: the cron jobs only raise flags; one worker runs passes one
//! after another, so two runs never overlap. Ticks that arrive while a pass runs collapse
//! into one pass after it, so a slow pull never turns into a backlog, and a full pull asked
//! for is never lost to an incremental tick that came first. A reload that changes a
//! schedule replaces the store's jobs.
//!
//! Every store's jobs run in one scheduler ([`Ticks`]): its loop wakes twice a second
//! whatever the number of stores, where a scheduler per store would wake twice a second
//! per store, which a quiet daemon of many stores pays for in CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::DaemonError;
use crate::config::{Config, Live};
use crate::health::PassHealth;
use crate::kind::Kind;
use crate::mirror::unix_now;
use crate::sync::{PullError, Puller};

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

/// Runs passes on the configured schedules until `shutdown`, following the schedules of
/// `live`. With `initial_pass`, one pass runs at once (it does a full pull of any kind the
/// mirror has never had). Each pass's outcome goes to `passes`, for `/readyz`.
pub async fn run_schedule(
    ticks: &Ticks,
    puller: &Puller,
    live: Live,
    kinds: &[Kind],
    passes: &PassHealth,
    shutdown: CancellationToken,
    initial_pass: bool,
) -> Result<(), DaemonError> {
    let pending = Arc::new(Pending::default());
    let crons = live.read(Crons::of);
    let jobs = ticks.add(&crons, &pending).await?;
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
        follow_schedules(ticks, live, jobs, crons, &pending, passes_done.clone())
    );
    passes.set_schedules_running(false);
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

/// The daemon's one cron scheduler, which every store's schedules join.
#[derive(Clone)]
pub struct Ticks(JobScheduler);

impl Ticks {
    pub async fn start() -> Result<Ticks, DaemonError> {
        let scheduler = JobScheduler::new()
            .await
            .map_err(|e| DaemonError::Schedule(e.to_string()))?;
        scheduler
            .start()
            .await
            .map_err(|e| DaemonError::Schedule(e.to_string()))?;
        Ok(Ticks(scheduler))
    }

    /// Jobs that ask `pending` for a pass on each tick of `crons`.
    async fn add(&self, crons: &Crons, pending: &Arc<Pending>) -> Result<Vec<Uuid>, DaemonError> {
        let mut jobs = Vec::new();
        for (expr, full) in [(&crons.incremental, false), (&crons.full, true)] {
            let pending = pending.clone();
            let job = Job::new_async_tz(expr.as_str(), chrono::Local, move |_, _| {
                pending.ask(full);
                Box::pin(async {})
            })
            .map_err(|e| DaemonError::Schedule(format!("{expr:?}: {e}")));
            let added = match job {
                Ok(job) => self
                    .0
                    .add(job)
                    .await
                    .map_err(|e| DaemonError::Schedule(e.to_string())),
                Err(e) => Err(e),
            };
            match added {
                Ok(id) => jobs.push(id),
                Err(e) => {
                    self.remove(jobs).await;
                    return Err(e);
                }
            }
        }
        Ok(jobs)
    }

    /// Takes `jobs` off the scheduler: their ticks stop.
    async fn remove(&self, jobs: Vec<Uuid>) {
        for job in jobs {
            // A job already gone is what was wanted.
            let _ = self.0.remove(&job).await;
        }
    }

    /// Stopping the scheduler only stops ticks; bound it so a stuck job cannot hold exit.
    pub async fn stop(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.0.shutdown()).await;
    }
}

/// Replaces the store's jobs when a reload changes a schedule, until `stop`, then takes
/// them off. A tick due while the jobs are replaced may be missed; the next one comes on
/// the new schedule.
async fn follow_schedules(
    ticks: &Ticks,
    mut live: Live,
    mut jobs: Vec<Uuid>,
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
        match ticks.add(&wanted, pending).await {
            Ok(new) => {
                ticks.remove(std::mem::replace(&mut jobs, new)).await;
                crons = wanted;
            }
            // Validated crons are accepted; only the scheduler itself can fail here.
            Err(e) => tracing::error!(
                error = %e,
                "cannot start the new schedules; the running ones are kept"
            ),
        }
    }
    ticks.remove(jobs).await;
}
