//! The delta worker: pending webhook events become mirror changes within about a second.
//!
//! A webhook only says "this entity may have changed" (contract 13.5), so the worker reads
//! each named entity again by id and applies what Ecwid has now, with the pull's rules.
//! Every entity is read once however many events name it, 100 entities a request.
//! Latency and economy: news of events is acted on `webhooks.debounce_ms` after it comes,
//! which gathers what one change sends together; a read that is not full goes out at most
//! once per `webhooks.read_interval_ms` per kind, so under load (events arriving while a
//! read is in flight or waits) a read gathers up to 100 entities, and a full one goes at
//! once. After a quiet spell the first read goes as soon as the debounce has passed.
//!
//! The receiver commits events before it acknowledges them and wakes the worker through
//! a shared [`Notify`]; the worker also looks for pending events when it starts and every
//! second while idle, so events left by a crash, or written by another process, are
//! applied too. An event is settled in the transaction that applies its entity, so none is
//! lost or applied twice, whatever stops the process. A read that fails leaves its events
//! pending, counts the attempt, and is retried with growing pauses.

pub mod counts;
pub mod plan;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::counts::DeltaCounts;
use self::plan::Read;
use super::fetch::{self, EntityRef};
use super::{Kind, PullError};
use crate::config::Live;
use crate::ecwid::Client;
use crate::errors::error_chain;
use crate::mirror::commit_watch::Commits;
use crate::mirror::inbox::{DeltaOutcome, DeltaWrite};
use crate::mirror::privacy::{self, PrivacyEvent, Request, Subject};
use crate::mirror::{MirrorWriter, unix_now};

/// How often an idle worker looks for pending events nobody woke it for: events recorded
/// by another process (a tool replaying an export). While the mirror's commits are watched
/// ([`Commits`]) such a commit wakes the worker itself and the look is only a backstop.
const RECHECK: Duration = Duration::from_secs(1);
const RECHECK_WATCHED: Duration = Duration::from_secs(30);
/// The most events one batch reads; more wait for the next batch.
const BATCH_EVENTS: usize = 5000;
/// How often processed events past their retention are pruned, and how many a transaction.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_CHUNK: usize = 10_000;
/// Pauses before a failed read of a kind is tried again: doubling from the first to the
/// longest.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_LONGEST: Duration = Duration::from_secs(60);

pub struct DeltaWorker {
    client: Client,
    writer: MirrorWriter,
    kinds: Vec<Kind>,
    /// `[webhooks]`, whose tunables a reload may change.
    live: Live,
    debounce: Duration,
    read_interval: Duration,
    retention_secs: i64,
    inbox: Arc<Notify>,
    counts: Arc<DeltaCounts>,
    commits: Option<Commits>,
}

/// A kind whose last read failed.
struct Retry {
    failures: u32,
    at: Instant,
}

/// What the worker carries from one batch to the next.
#[derive(Default)]
struct Carried {
    retries: HashMap<Kind, Retry>,
    /// When each kind's last read went out.
    last_read: HashMap<Kind, Instant>,
}

/// What a batch left for later.
enum Left {
    Nothing,
    /// More events than a batch takes: the next batch follows.
    More,
    /// Reads that wait for their kind's interval or retry; the first may go at this time.
    At(Instant),
}

impl DeltaWorker {
    pub fn new(
        client: Client,
        writer: MirrorWriter,
        live: Live,
        inbox: Arc<Notify>,
        counts: Arc<DeltaCounts>,
    ) -> DeltaWorker {
        let mut worker = DeltaWorker {
            client,
            writer,
            kinds: live.read(|config| config.sync.kinds.clone()),
            live,
            debounce: Duration::ZERO,
            read_interval: Duration::ZERO,
            retention_secs: 0,
            inbox,
            counts,
            commits: None,
        };
        worker.follow();
        worker
    }

    /// Wakes on the mirror's commits too, and looks on its own only as a backstop.
    pub fn waking_on(mut self, commits: Option<Commits>) -> DeltaWorker {
        self.commits = commits;
        self
    }

    /// Takes the tunables from the running configuration.
    fn follow(&mut self) {
        self.live.read(|config| {
            self.debounce = config.webhooks.debounce;
            self.read_interval = config.webhooks.read_interval;
            self.retention_secs = i64::from(config.webhooks.retention_days) * 86_400;
        });
    }

    /// Applies pending events until `shutdown`. Returns an error only for what ends the
    /// daemon (see [`PullError::is_fatal`]); everything else is logged and retried.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), PullError> {
        let mut carried = Carried::default();
        let mut next_prune = Instant::now();
        // Events an earlier run left pending are read at once.
        let mut due = Some(Instant::now());
        // Batches in a row that failed outside a read (the mirror refusing the inbox).
        let mut stalled = 0;
        loop {
            // A reload applies from the next batch or wait.
            self.follow();
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                match self.prune().await {
                    Err(err) if err.is_fatal() => return Err(err),
                    // The next hour tries again; nothing depends on it meanwhile.
                    Err(err) => {
                        tracing::warn!(error = %error_chain(&err), "cannot prune processed webhook events")
                    }
                    Ok(()) => {}
                }
            }
            let recheck = match self.commits {
                Some(_) => RECHECK_WATCHED,
                None => RECHECK,
            };
            let wake = due.unwrap_or_else(|| Instant::now() + recheck);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = self.inbox.notified() => {
                    // Gathers what the same change sends with it, and wakes a worker that
                    // waits for a kind's interval often enough to send a read once it is full.
                    let at = Instant::now() + self.debounce;
                    due = Some(due.map_or(at, |d| d.min(at)));
                    continue;
                }
                committed = crate::mirror::commit_watch::next(&mut self.commits) => {
                    if committed {
                        let at = Instant::now() + self.debounce;
                        due = Some(due.map_or(at, |d| d.min(at)));
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            let started = Instant::now();
            let left = tokio::select! {
                // Dropping a batch mid-way loses nothing: what it committed is settled, the
                // rest is still pending.
                _ = shutdown.cancelled() => return Ok(()),
                left = self.batch(&mut carried) => left,
            };
            due = self.next_due(left, started, &mut stalled)?;
        }
    }

    /// When the next batch goes, after one that started at `started`; `None` when nothing
    /// waits (the worker then waits for news, or its recheck).
    fn next_due(
        &self,
        left: Result<Left, PullError>,
        started: Instant,
        stalled: &mut u32,
    ) -> Result<Option<Instant>, PullError> {
        let left = match left {
            Ok(left) => left,
            Err(err) if err.is_fatal() => return Err(err),
            Err(err) => {
                *stalled += 1;
                let pause = retry_pause(*stalled);
                tracing::warn!(
                    error = %error_chain(&err),
                    retry_in_secs = pause.as_secs(),
                    "cannot read or settle webhook events; they stay pending"
                );
                return Ok(Some(Instant::now() + pause));
            }
        };
        *stalled = 0;
        Ok(match left {
            Left::Nothing => None,
            Left::More => Some(started + self.debounce),
            Left::At(at) => Some(at.max(started + self.debounce)),
        })
    }

    /// Reads and applies what pending events name, one read (up to 100 entities of a kind)
    /// at a time, each applied in its own transaction as soon as it is read. A read that is
    /// not full waits while its kind's last read is more recent than the interval.
    async fn batch(&self, carried: &mut Carried) -> Result<Left, PullError> {
        let events = self.writer.pending_events(BATCH_EVENTS).await?;
        if events.is_empty() {
            self.counts.set_pending(0, None);
            return Ok(Left::Nothing);
        }
        let now = Instant::now();
        let waiting: HashSet<Kind> = carried
            .retries
            .iter()
            .filter(|(_, retry)| retry.at > now)
            .map(|(kind, _)| *kind)
            .collect();
        let plan = plan::plan(&events, &self.kinds, &waiting);
        self.ignore(plan.ignored).await?;
        for request in plan.privacy {
            self.privacy_request(request).await?;
        }
        let mut failed = HashSet::new();
        let mut held: Vec<Instant> = Vec::new();
        for read in plan.reads {
            let kind = read.kind;
            if failed.contains(&kind) {
                continue;
            }
            let next_allowed = carried
                .last_read
                .get(&kind)
                .map(|last| *last + self.read_interval);
            if let Some(at) = next_allowed.filter(|at| !read.is_full() && *at > Instant::now()) {
                held.push(at);
                continue;
            }
            carried.last_read.insert(kind, Instant::now());
            if self.read_and_apply(read, carried).await? {
                carried.retries.remove(&kind);
            } else {
                failed.insert(kind);
            }
        }
        let (pending, oldest) = self.writer.pending_figures().await?;
        self.counts.set_pending(pending, oldest);
        if events.len() == BATCH_EVENTS {
            return Ok(Left::More);
        }
        let now = Instant::now();
        let retry_at = carried
            .retries
            .values()
            .map(|r| r.at)
            .filter(|at| *at > now)
            .filter(|_| pending > 0);
        Ok(match held.into_iter().chain(retry_at).min() {
            Some(at) => Left::At(at),
            None => Left::Nothing,
        })
    }

    /// One read and its transaction. `Ok(false)`: it failed, its events stay pending and
    /// its kind waits before it is read again; `Err` only for what ends the daemon.
    async fn read_and_apply(&self, read: Read, carried: &mut Carried) -> Result<bool, PullError> {
        let kind = read.kind;
        let event_ids: Vec<String> = read
            .targets
            .iter()
            .flat_map(|t| t.event_ids.iter().cloned())
            .collect();
        let entities = read.targets.len();
        let clock = std::time::Instant::now();
        match self.read_once(read).await {
            Ok((outcome, requests)) => {
                self.counts.add_outcome(kind, &outcome);
                tracing::debug!(
                    kind = kind.name(),
                    entities,
                    events = event_ids.len(),
                    applied = outcome.applied,
                    echoes = outcome.echoes,
                    written = outcome.written,
                    removed = outcome.removed,
                    requests,
                    ms = clock.elapsed().as_millis() as u64,
                    "webhook events applied"
                );
                Ok(true)
            }
            Err(err) if err.is_fatal() => Err(err),
            Err(err) => {
                self.counts
                    .fetch_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let failures = carried.retries.get(&kind).map_or(0, |r| r.failures) + 1;
                let pause = retry_pause(failures);
                carried.retries.insert(
                    kind,
                    Retry {
                        failures,
                        at: Instant::now() + pause,
                    },
                );
                let error = error_chain(&err);
                tracing::warn!(
                    kind = kind.name(),
                    events = event_ids.len(),
                    error = %error,
                    retry_in_secs = pause.as_secs(),
                    "cannot apply webhook events yet; they stay pending"
                );
                if let Err(record) = self.writer.record_delta_failure(event_ids, error).await {
                    tracing::warn!(error = %error_chain(&record), "cannot record the failed attempt");
                }
                Ok(false)
            }
        }
    }

    /// Reads the entities of `read` and applies them with their events; returns the
    /// outcome and the requests the read took.
    async fn read_once(&self, read: Read) -> Result<(DeltaOutcome, u64), PullError> {
        let kind = read.kind;
        let refs: Vec<EntityRef> = read.targets.iter().map(|t| t.entity.clone()).collect();
        let found = fetch::by_refs(&self.client, kind, &refs).await?;
        self.counts
            .fetch_requests
            .fetch_add(found.requests, std::sync::atomic::Ordering::Relaxed);
        let mut unfit = Vec::new();
        for bad in found.unreadable {
            match bad.key {
                Some(key) => unfit.push((key, bad.error)),
                // Nothing to read again without a key: the pulls report it.
                None => {
                    tracing::warn!(kind = kind.name(), error = %bad.error, "a document named by a webhook has no readable key")
                }
            }
        }
        let write = DeltaWrite {
            kind,
            rows: found.rows,
            unfit,
            targets: read.targets.into_iter().map(|t| t.into_delta()).collect(),
        };
        let outcome = self.writer.apply_deltas(write, unix_now()).await?;
        Ok((outcome, found.requests))
    }

    /// Records a privacy request and, for a customer's removal, erases them; one warning
    /// each, since a person must answer the request in the store and everywhere else.
    async fn privacy_request(&self, event: PrivacyEvent) -> Result<(), PullError> {
        let Some((subject, request)) = privacy::request_of(&event.event_type) else {
            return Ok(());
        };
        let subject_id = event.subject_id;
        let handled = self
            .writer
            .handle_privacy_request(event, unix_now())
            .await?;
        self.counts.add_privacy(subject, request, handled.erased);
        let id = subject_id.map_or_else(|| "(none)".to_string(), |id| id.to_string());
        match (subject, request) {
            (Subject::Customer, Request::Removal) => tracing::warn!(
                customer_id = %id,
                orders_redacted = handled.orders_redacted,
                "a customer asked to be erased: their row and the personal fields of their orders are removed from the mirror, and stay removed"
            ),
            (Subject::Customer, Request::Export) => tracing::warn!(
                customer_id = %id,
                "a customer asked for their personal data: `ecwid-sync customer export {id}` prints what the mirror holds"
            ),
            (Subject::Profile, request) => tracing::warn!(
                store_id = %id,
                request = request.as_str(),
                "the store owner made a privacy request about their own data; the mirror holds none of it"
            ),
        }
        Ok(())
    }

    async fn ignore(&self, ignored: Vec<(String, &'static str)>) -> Result<(), PullError> {
        let mut by_reason: HashMap<&'static str, Vec<String>> = HashMap::new();
        for (id, reason) in ignored {
            by_reason.entry(reason).or_default().push(id);
        }
        for (reason, ids) in by_reason {
            let n = ids.len() as u64;
            self.writer.ignore_events(ids, reason, unix_now()).await?;
            self.counts
                .events_ignored
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Deletes processed events older than the retention, a chunk a transaction so that
    /// pulls and reads are never held up for long.
    async fn prune(&self) -> Result<(), PullError> {
        let cutoff = unix_now() - self.retention_secs;
        let mut pruned = 0;
        loop {
            let n = self.writer.prune_events(cutoff, PRUNE_CHUNK).await?;
            pruned += n;
            if n < PRUNE_CHUNK {
                break;
            }
        }
        if pruned > 0 {
            tracing::info!(
                pruned,
                "processed webhook events past their retention pruned"
            );
        }
        Ok(())
    }
}

/// The pause after the `failures`-th failure in a row.
pub(crate) fn retry_pause(failures: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(RETRY_LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_after_each_failure_up_to_a_minute() {
        let pauses: Vec<u64> = (1..=8).map(|n| retry_pause(n).as_secs()).collect();
        assert_eq!(pauses, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_pause(1000), RETRY_LONGEST);
    }
}
