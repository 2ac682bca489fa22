//! The pusher inside the daemon: it looks at the outbox when a commit is made to the mirror
//! (see [`Commits`]), or every `push.poll_interval_ms` where commits cannot be watched, and
//! sends what it holds, backing off while the store or the mirror keeps failing.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::PushMetrics;
use super::{PushSummary, Pusher};
use crate::config::Live;
use crate::errors::error_chain;
use crate::mirror::commit_watch::{Commits, next as next_commit};
use crate::mirror::unix_now;
use crate::sync::PullError;
use crate::sync::deltas::retry_pause;

/// How often the outbox counts in `/metrics` are refreshed while nothing is pushed.
const COUNTS_EVERY: Duration = Duration::from_secs(10);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the worker looks without being woken, while commits wake it: a backstop.
const LOOK_WATCHED: Duration = Duration::from_secs(10);
/// How long the worker waits after a commit for the next one of the same burst (a tool
/// writing a delivery's lines one transaction each), so that a burst goes in one batch; a
/// steady stream of commits still gets a look every `push.poll_interval_ms`.
const GATHER: Duration = Duration::from_millis(30);

pub struct PushWorker {
    pusher: Pusher,
    /// `[push]` and `[conflicts]`, which a reload may change.
    live: Live,
    poll: Duration,
    keep_applied_days: u32,
    metrics: PushMetrics,
    commits: Option<Commits>,
}

impl PushWorker {
    pub fn new(pusher: Pusher, live: Live, metrics: PushMetrics) -> PushWorker {
        let mut worker = PushWorker {
            pusher: pusher.with_metrics(metrics.clone()),
            live,
            poll: Duration::ZERO,
            keep_applied_days: 0,
            metrics,
            commits: None,
        };
        worker.follow();
        worker
    }

    /// Looks when a commit is made to the mirror, and on its own only as a backstop.
    pub fn waking_on(mut self, commits: Option<Commits>) -> PushWorker {
        self.commits = commits;
        self
    }

    /// How long the worker waits between looks when nothing wakes it.
    fn interval(&self) -> Duration {
        match self.commits {
            Some(_) => LOOK_WATCHED.max(self.poll),
            None => self.poll,
        }
    }

    /// Takes the tunables and the conflict policies from the running configuration.
    fn follow(&mut self) {
        self.live.read(|config| {
            self.poll = config.push.poll_interval;
            self.keep_applied_days = config.push.keep_applied_days;
            self.pusher.key_lifetime = config.push.key_lifetime;
            self.pusher.deletes = config.push.deletes;
            self.pusher.policies = config.conflicts;
        });
    }

    /// Runs until `shutdown`. Only an error no retry can fix (a refused token, a mirror that
    /// stayed unwritable) ends it early. Stopping mid-batch loses nothing: the batch's key
    /// was stored before it was sent.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), PullError> {
        let mut failures = 0u32;
        let mut next_look = Instant::now();
        // The first commit of a burst being gathered into one look.
        let mut gathering: Option<Instant> = None;
        let mut next_counts = Instant::now();
        let mut next_prune = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep_until(next_look) => {}
                committed = next_commit(&mut self.commits) => {
                    // A tool's change goes once its burst of commits is over, unless
                    // failures ask for a pause.
                    if failures == 0 {
                        let now = Instant::now();
                        next_look = match committed {
                            true => {
                                let first = *gathering.get_or_insert(now);
                                (now + GATHER).min(first + self.poll.max(GATHER))
                            }
                            false => next_look.min(now + self.poll),
                        };
                    }
                    continue;
                }
                _ = self.live.changed() => {
                    // A shorter interval need not wait out the longer one in progress.
                    self.follow();
                    if failures == 0 {
                        next_look = next_look.min(Instant::now() + self.interval());
                    }
                    continue;
                }
            }
            // Whichever branch woke the worker, a reload made before this look is in force.
            self.follow();
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                outcome = self.look() => outcome,
            };
            next_look = Instant::now() + self.interval();
            gathering = None;
            match outcome {
                Ok(summary) if summary.not_run == 0 => {
                    if failures > 0 {
                        tracing::info!("local changes reach Ecwid again");
                    }
                    failures = 0;
                }
                Err(err) if err.is_fatal() => return Err(err),
                failed => {
                    failures += 1;
                    let pause = retry_pause(failures);
                    next_look = Instant::now() + pause;
                    match failed {
                        Err(err) => tracing::warn!(
                            error = %error_chain(&err),
                            retry_in_secs = pause.as_secs(),
                            "cannot push local changes; they stay in the outbox"
                        ),
                        Ok(summary) => tracing::warn!(
                            not_run = summary.not_run,
                            retry_in_secs = pause.as_secs(),
                            "Ecwid did not run some local changes; they go in a new batch"
                        ),
                    }
                }
            }
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                self.prune().await;
            }
            if Instant::now() >= next_counts {
                next_counts = Instant::now() + COUNTS_EVERY;
                self.refresh_counts().await;
            }
        }
    }

    /// A pass when the outbox holds changes on their way; then fresh counts for `/metrics`.
    async fn look(&self) -> Result<PushSummary, PullError> {
        if !self.pusher.has_work().await? {
            return Ok(PushSummary::default());
        }
        let summary = self.pusher.push_once().await;
        self.refresh_counts().await;
        let summary = summary?;
        if summary.batches > 0 || summary.cancelled > 0 || summary.deleted > 0 {
            // Each entity's change has its own line (see `report`); this one sums the pass,
            // stock and fields apart, as `ecwid-sync push` prints it.
            tracing::info!(
                batches = summary.batches,
                stock_applied = summary.applied,
                stock_refused = summary.failed,
                stock_not_run = summary.not_run,
                stock_uncertain = summary.uncertain,
                stock_cancelled = summary.cancelled,
                fields_updated = summary.updated,
                conflicts = summary.conflicts,
                products_created = summary.created,
                products_refused = summary.not_created,
                products_deleted = summary.deleted,
                "local changes pushed"
            );
        }
        Ok(summary)
    }

    async fn refresh_counts(&self) {
        match self.pusher.outbox_counts().await {
            Ok((counts, oldest)) => self.metrics.set_outbox(&counts, &oldest),
            Err(err) => {
                tracing::debug!(error = %error_chain(&err), "cannot count the outbox")
            }
        }
    }

    async fn prune(&self) {
        match self.pusher.prune(self.keep_applied_days, unix_now()).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(
                pruned,
                "applied and dismissed changes past push.keep_applied_days pruned"
            ),
            // The next hour tries again; nothing depends on it meanwhile.
            Err(err) => tracing::warn!(error = %error_chain(&err), "cannot prune the outbox"),
        }
    }
}
