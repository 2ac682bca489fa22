//! Full and incremental pulls: what to list, what to remove, and where cursors go.
//!
//! A page fetched is a page committed in one transaction, so a crash loses at most the page
//! in flight. Cursors move only after every page they cover is committed, never past the
//! moment the pass began by the store's clock, and not at all when the listing may have
//! missed an entity.

pub mod scan;

use std::collections::HashSet;
use std::future::Future;
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::fetch;
use super::progress::{Progress, ProgressMode};
use super::pull_metrics::PullMetrics;
use super::{Kind, PullError};
use crate::config::SyncConfig;
use crate::ecwid::model::{LatestStats, parse_date};
use crate::ecwid::{Client, CounterSnapshot};
use crate::errors::error_chain;
use crate::mirror::apply::Rows;
use crate::mirror::full_progress::{FullProgress, FullStep};
use crate::mirror::repair::Repair;
use crate::mirror::state::{KindState, StateUpdate};
use crate::mirror::{MirrorWriter, unix_now};
use scan::{Listing, ScanFrom};

/// How old an interrupted full pull may be and still be resumed rather than started over:
/// its re-read of what changed meanwhile grows with its age.
const RESUME_FULL_WITHIN_SECS: i64 = 86_400;

/// How long Ecwid keeps deletion records (six months, contract 17.6), less a margin: a
/// mirror whose last pull is older needs a full pull to learn what was deleted.
const DELETIONS_KEPT_SECS: i64 = 180 * 86_400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Full,
    Incremental,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// What one run of one kind did; logged as the run's summary line.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub kind: Kind,
    pub mode: Mode,
    /// `latest-stats` said nothing changed, so no page was fetched.
    pub skipped: bool,
    /// Documents received.
    pub items: u64,
    /// Rows written (documents older than the mirror's copy are not).
    pub written: u64,
    pub pages: u64,
    /// Rows removed: entities the store deleted, and orders that became unfinished.
    pub removed: u64,
    /// Id-list requests Ecwid answered unfiltered (whose keys were then read one by one).
    pub ignored_filters: u64,
    /// Entities whose rows held their documents but disagreed with them, written again
    /// (full pulls only; see [`crate::mirror::repair`]).
    pub repaired: u64,
    pub requests: u64,
    /// Answers that were 429 Too Many Requests.
    pub throttled: u64,
    pub secs: f64,
}

/// `latest-stats`, and when it was read by the store's clock (the answer's `Date`), which
/// every cursor of the pass is measured against.
pub struct Stats {
    stats: LatestStats,
    read_at: i64,
}

pub struct Puller {
    pub(super) client: Client,
    pub(super) writer: MirrorWriter,
    pub(super) fetch_ahead: usize,
    overlap: i64,
    search_lag: i64,
    progress: ProgressMode,
    shutdown: CancellationToken,
    metrics: PullMetrics,
}

impl Puller {
    pub fn new(
        client: Client,
        writer: MirrorWriter,
        sync: &SyncConfig,
        progress: ProgressMode,
        shutdown: CancellationToken,
    ) -> Puller {
        Puller {
            client,
            writer,
            overlap: sync.overlap.as_secs() as i64,
            search_lag: sync.search_lag.as_secs() as i64,
            fetch_ahead: sync.fetch_ahead,
            progress,
            shutdown,
            metrics: PullMetrics::default(),
        }
    }

    /// Counts each run into `metrics` (the daemon's `/metrics`).
    pub fn with_metrics(mut self, metrics: PullMetrics) -> Puller {
        self.metrics = metrics;
        self
    }

    /// One pass over `kinds`: a full pull of every kind that never had one (or of all when
    /// `force_full`), an incremental pull of the rest. A kind that fails does not hold the
    /// others back; its error goes to `sync_state.last_error` and the first one is returned.
    /// A refused token stops the pass at once: every other request would be refused too.
    pub async fn pass(
        &self,
        kinds: &[Kind],
        force_full: bool,
    ) -> Result<Vec<RunSummary>, PullError> {
        let stats = match self.latest_stats().await {
            Ok(stats) => stats,
            Err(err) => {
                for &kind in kinds {
                    self.metrics.failed(kind.name());
                    self.record_error(kind, &err).await;
                }
                return Err(err);
            }
        };
        let mut summaries = Vec::new();
        let mut first_error = None;
        for &kind in kinds {
            let state = self.writer.read_state(kind).await?;
            // An interrupted full pull goes on at the next pass, whatever asked for it.
            let interrupted = self.writer.full_progress(kind).await?;
            let full = force_full
                || interrupted.is_some()
                || self.needs_full(kind, &state, &stats).await?;
            let mode = if full { Mode::Full } else { Mode::Incremental };
            let span = tracing::info_span!("pull", kind = kind.name(), mode = mode.name());
            let run = async {
                // Before the run, even one that latest-stats lets skip: nothing else would
                // read them.
                self.recheck_quarantine(kind).await?;
                let summary = if full {
                    self.full(kind, &stats, Mode::Full, interrupted).await?
                } else {
                    self.incremental(kind, &state, &stats).await?
                };
                self.report_quarantine(summary).await
            };
            match run.instrument(span).await {
                Ok(summary) => {
                    log_summary(&summary);
                    self.metrics.succeeded(
                        kind.name(),
                        summary.mode.name(),
                        summary.secs,
                        summary.written + summary.removed,
                        unix_now(),
                    );
                    summaries.push(summary);
                }
                Err(PullError::Interrupted) => return Err(PullError::Interrupted),
                Err(err) => {
                    self.metrics.failed(kind.name());
                    self.record_error(kind, &err).await;
                    if err.is_fatal() {
                        return Err(err);
                    }
                    tracing::error!(kind = kind.name(), error = %error_chain(&err), "pull failed");
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(summaries),
        }
    }

    /// Checkpoints the mirror (see [`MirrorWriter::checkpoint`]); called on every clean
    /// exit. A failure is only worth a warning: nothing is lost, the WAL stays beside it.
    pub async fn checkpoint(&self) {
        if let Err(e) = self.writer.checkpoint().await {
            tracing::warn!(error = %e, "cannot checkpoint the mirror");
        }
    }

    /// Keeps the failure in `sync_state.last_error` for `status`. The run's own error is
    /// what the caller reports; failing to record it is only worth a warning.
    async fn record_error(&self, kind: Kind, err: &PullError) {
        let update = StateUpdate {
            error: Some(Some((error_chain(err), unix_now()))),
            ..Default::default()
        };
        if let Err(record) = self.writer.update_state(kind, update).await {
            tracing::warn!(kind = kind.name(), error = %record, "cannot record the pull error");
        }
    }

    /// Whether an incremental pull of `kind` cannot be trusted this pass, and why (logged).
    async fn needs_full(
        &self,
        kind: Kind,
        state: &KindState,
        stats: &Stats,
    ) -> Result<bool, PullError> {
        let Some(last_full) = state.last_full_finished else {
            return Ok(true);
        };
        // Ecwid keeps deletion records for six months: a mirror that has not pulled for
        // longer cannot learn from them what was deleted meanwhile.
        let last_pull = state.last_incremental.unwrap_or(last_full).max(last_full);
        if stats.read_at - last_pull > DELETIONS_KEPT_SECS {
            tracing::warn!(
                kind = kind.name(),
                last_pull_days_ago = (stats.read_at - last_pull) / 86_400,
                "the last pull is older than Ecwid keeps deletion records; pulling everything"
            );
            return Ok(true);
        }
        self.count_disagrees(kind, state, stats).await
    }

    /// Whether `latest-stats`' count of `kind` disagrees with the mirror's rows while the
    /// store has been quiet for longer than the search lag (so the mirror should hold
    /// exactly what the store has). Each disagreement is counted in `sync_state`; the same
    /// store count does not trigger a second full pull when the first could not mend it.
    async fn count_disagrees(
        &self,
        kind: Kind,
        state: &KindState,
        stats: &Stats,
    ) -> Result<bool, PullError> {
        let Some(store_count) = stats.stats.count_of(kind) else {
            return Ok(false);
        };
        let marker = self.settled_marker(kind, stats);
        let quiet_and_pulled = marker.is_some() && marker == state.stats_marker;
        if !quiet_and_pulled || state.count_mismatch_store == Some(store_count as i64) {
            return Ok(false);
        }
        let mirror_count = self.writer.row_count(kind).await?;
        if mirror_count == store_count {
            return Ok(false);
        }
        tracing::warn!(
            kind = kind.name(),
            store = store_count,
            mirror = mirror_count,
            "latest-stats counts differ from the mirror's rows; pulling everything"
        );
        self.writer
            .update_state(
                kind,
                StateUpdate {
                    count_mismatch: Some(store_count as i64),
                    ..Default::default()
                },
            )
            .await?;
        Ok(true)
    }

    async fn latest_stats(&self) -> Result<Stats, PullError> {
        let asked_at = unix_now();
        let counts = [
            ("productCountRequired", "true".to_string()),
            ("categoryCountRequired", "true".to_string()),
        ];
        let (stats, server_time) = self
            .until_shutdown(self.client.get_json_dated("/latest-stats", &counts))
            .await??;
        Ok(Stats {
            stats,
            read_at: server_time.unwrap_or(asked_at),
        })
    }

    /// Waits for `work` unless shutdown comes first: a request retrying through a long
    /// `Retry-After` must not hold the process past systemd's stop timeout.
    pub(super) async fn until_shutdown<T>(
        &self,
        work: impl Future<Output = T>,
    ) -> Result<T, PullError> {
        tokio::select! {
            out = work => Ok(out),
            _ = self.shutdown.cancelled() => Err(PullError::Interrupted),
        }
    }

    /// Lists every entity of `kind`, then removes from the mirror what Ecwid no longer has.
    /// `mode` is what the run counts as: an incremental pull of a kind without update times
    /// (categories) lists everything too, but is not a full pull in `status`.
    /// A full pull records its progress with every page; `interrupted` is one that stopped
    /// before its end, resumed at the page after its last one unless it is too old.
    async fn full(
        &self,
        kind: Kind,
        stats: &Stats,
        mode: Mode,
        interrupted: Option<FullProgress>,
    ) -> Result<RunSummary, PullError> {
        let run = RunStart::now(&self.client);
        let record = mode == Mode::Full;
        let repair = match mode {
            Mode::Full => Repair::On,
            Mode::Incremental => Repair::Off,
        };
        let mut listing = Listing::default();
        let mut progress = Progress::new(self.progress, kind);
        let resume = interrupted.filter(|p| {
            let fresh = unix_now() - p.started_at <= RESUME_FULL_WITHIN_SECS;
            if !fresh {
                tracing::info!(
                    kind = kind.name(),
                    "the interrupted full pull is more than a day old; starting over"
                );
            }
            fresh
        });
        let (began_at, from) = match resume {
            Some(p) => {
                tracing::info!(
                    kind = kind.name(),
                    offset = p.next_offset,
                    pages_done = p.pages,
                    "resuming the interrupted full pull"
                );
                progress.resume_at(p.seen.len() as u64);
                listing.seen = p.seen.into_iter().collect();
                listing.first_total = p.first_total;
                listing.newest = p.newest;
                // One page back: entities deleted meanwhile ahead of the offset shift the
                // listing back, and up to a page of them is read again instead of missed
                // (which would cost a sweep of every id).
                let from = ScanFrom {
                    offset: p.next_offset.saturating_sub(fetch::PAGE_SIZE),
                    record,
                    repair,
                };
                (p.read_at, from)
            }
            None => {
                self.writer
                    .update_state(
                        kind,
                        StateUpdate {
                            last_full_started: record.then(unix_now),
                            full: record.then_some(FullStep::Begin {
                                read_at: stats.read_at,
                            }),
                            ..Default::default()
                        },
                    )
                    .await?;
                let from = ScanFrom {
                    offset: 0,
                    record,
                    repair,
                };
                (stats.read_at, from)
            }
        };
        // Writes within the search lag may not show in the listing: reach back over them,
        // from when the pull began (a resumed pull began in an earlier run).
        let since = began_at - self.overlap.max(self.search_lag);
        let mut removed = 0;
        self.scan(kind, &[], &mut listing, Some(progress), from)
            .await?;
        let deleted = self
            .until_shutdown(fetch::deleted_since(&self.client, kind, since))
            .await??;
        // Keys the listing missed because it shifted under a deletion: found by a sweep of
        // ids and times only, a small fraction of the listing's bytes, and read below.
        let mut swept = HashSet::new();
        let missed = listing.missed(deleted.as_ref().map(|d| &d.keys));
        if missed > 0 {
            tracing::info!(
                kind = kind.name(),
                missed,
                "the listing shifted under a deletion; sweeping the ids to find what it missed"
            );
            swept = self.sweep(kind, &mut listing).await?;
        }
        if kind.has_update_filter() {
            // Entities edited while the listing ran may have been read before the edit.
            let filter = [("updatedFrom", since.max(0).to_string())];
            let from = ScanFrom {
                repair,
                ..Default::default()
            };
            self.scan(kind, &filter, &mut listing, None, from).await?;
        }
        // Deleted after the listing returned them.
        if let Some(deleted) = deleted.filter(|d| !d.keys.is_empty()) {
            let keys = deleted.keys.into_iter().collect();
            removed += self
                .writer
                .delete(kind, keys, StateUpdate::default())
                .await? as u64;
        }
        // What the listing did not return is gone, or was missed all the same: ask for those
        // keys before removing anything.
        let mut unseen: Vec<i64> = self
            .writer
            .keys(kind)
            .await?
            .into_iter()
            .filter(|key| !listing.seen.contains(key) && !swept.contains(key))
            .collect();
        unseen.extend(swept.iter().filter(|key| !listing.seen.contains(key)));
        self.remove_missing(kind, unseen, &mut listing, &mut removed, repair)
            .await?;
        if listing.repaired > 0 {
            tracing::warn!(
                kind = kind.name(),
                repaired = listing.repaired,
                first = listing.repaired_first.join(", "),
                "the full pull repaired rows that disagreed with Ecwid's documents (something wrote the mirror around ecwid-sync); they hold Ecwid's values again, open local changes on top"
            );
        }
        let now = unix_now();
        self.writer
            .update_state(
                kind,
                StateUpdate {
                    cursor: listing.newest.map(|n| n.min(self.settled_before(stats))),
                    deleted_cursor: kind.deleted_path().map(|_| self.settled_before(stats)),
                    stats_marker: Some(self.settled_marker(kind, stats)),
                    last_full_finished: record.then_some(now),
                    last_incremental: Some(now),
                    error: Some(None),
                    full: record.then_some(FullStep::End),
                    ..Default::default()
                },
            )
            .await?;
        if mode == Mode::Full {
            // A full pull rewrites the whole kind into the WAL; fold it into the main file.
            self.checkpoint().await;
        }
        self.finish(
            run.summary(&self.client, kind, mode, false, &listing, removed),
            listing,
        )
        .await
    }

    /// Reads what changed since the cursor and what was deleted since the deletion cursor.
    async fn incremental(
        &self,
        kind: Kind,
        state: &KindState,
        stats: &Stats,
    ) -> Result<RunSummary, PullError> {
        let run = RunStart::now(&self.client);
        let marker = stats.stats.marker_of(kind);
        if marker.is_some() && state.stats_marker.as_deref() == marker {
            self.writer
                .update_state(
                    kind,
                    StateUpdate {
                        last_incremental: Some(unix_now()),
                        error: Some(None),
                        ..Default::default()
                    },
                )
                .await?;
            return Ok(run.summary(
                &self.client,
                kind,
                Mode::Incremental,
                true,
                &Listing::default(),
                0,
            ));
        }
        if !kind.has_update_filter() {
            // Without update times the only way to see what changed is to list it all.
            return self.full(kind, stats, Mode::Incremental, None).await;
        }
        let window_start = state.cursor.or(state.last_full_started).unwrap_or(0);
        let mut listing = Listing::default();
        let filter = [(
            "updatedFrom",
            window_start.saturating_sub(self.overlap).max(0).to_string(),
        )];
        self.scan(kind, &filter, &mut listing, None, ScanFrom::default())
            .await?;
        self.scan_left_out(kind, &filter, &mut listing).await?;

        let deleted_from = state
            .deleted_cursor
            .or(state.last_full_started)
            .unwrap_or(0);
        let deleted = self
            .until_shutdown(fetch::deleted_since(
                &self.client,
                kind,
                deleted_from.saturating_sub(self.overlap),
            ))
            .await??;
        let mut removed = 0;
        if let Some(deleted) = &deleted {
            listing.pages += deleted.pages;
            if !deleted.keys.is_empty() {
                let keys = deleted.keys.iter().copied().collect();
                removed += self
                    .writer
                    .delete(kind, keys, StateUpdate::default())
                    .await? as u64;
            }
        }
        let missed = listing.missed(deleted.as_ref().map(|d| &d.keys));
        let cursor = if missed > 0 {
            tracing::info!(
                kind = kind.name(),
                missed,
                "the listing shifted during the pull; the cursor stays so the next pull reads the window again"
            );
            None
        } else {
            listing.newest.map(|n| n.min(self.settled_before(stats)))
        };
        self.writer
            .update_state(
                kind,
                StateUpdate {
                    cursor,
                    deleted_cursor: deleted
                        .and_then(|d| d.newest)
                        .map(|n| n.min(self.settled_before(stats))),
                    stats_marker: Some(if missed > 0 {
                        None
                    } else {
                        self.settled_marker(kind, stats)
                    }),
                    last_incremental: Some(unix_now()),
                    error: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        self.finish(
            run.summary(
                &self.client,
                kind,
                Mode::Incremental,
                false,
                &listing,
                removed,
            ),
            listing,
        )
        .await
    }

    /// The run's outcome: documents that did not fit go to the quarantine (which the pass
    /// reports next); documents without even a readable key fail the run here, naming the
    /// first (after everything else was committed and the summary logged).
    async fn finish(&self, summary: RunSummary, listing: Listing) -> Result<RunSummary, PullError> {
        let mut keyless = self
            .quarantine_unreadable(summary.kind, listing.unreadable)
            .await?;
        // A document read twice in a run (the listing, then the window of edits) is one
        // problem.
        let mut reported = HashSet::new();
        keyless.retain(|u| reported.insert(u.error.clone()));
        let Some(first) = keyless.first() else {
            return Ok(summary);
        };
        log_summary(&summary);
        Err(PullError::Unreadable {
            kind: summary.kind,
            count: keyless.len(),
            key: first.shown_key(),
            error: first.error.clone(),
        })
    }

    /// The moment, by the store's clock, up to which searches are trusted to show every
    /// write: the search index follows writes late (contract 17.2), so cursors never pass
    /// it, and the passes within the lag read the recent window again.
    fn settled_before(&self, stats: &Stats) -> i64 {
        stats.read_at - self.search_lag
    }

    /// The `latest-stats` value to remember as "already pulled". A value within the search
    /// lag (or `overlap`) of the moment it was read may name a change the search does not
    /// show yet, or be followed by changes stamped the same second, so it is not
    /// remembered, and the next run pulls again.
    fn settled_marker(&self, kind: Kind, stats: &Stats) -> Option<String> {
        let marker = stats.stats.marker_of(kind)?;
        let changed_at = parse_date(marker)?;
        (changed_at + self.overlap.max(self.search_lag) < stats.read_at).then(|| marker.to_string())
    }

    /// Lists what the default search leaves out of `filter`'s window (orders that became
    /// unfinished checkouts: no deletion record tells of them), so that their documents
    /// remove them from the mirror. One request when there are none.
    async fn scan_left_out(
        &self,
        kind: Kind,
        filter: &[(&'static str, String)],
        listing: &mut Listing,
    ) -> Result<(), PullError> {
        let Some((param, value)) = kind.left_out_filter() else {
            return Ok(());
        };
        let mut left_out_filter = filter.to_vec();
        left_out_filter.push((param, value.to_string()));
        // A listing of its own: the window's totals and keys decide whether the main
        // listing missed anything, and these are not part of it.
        let mut left_out = Listing::default();
        self.scan(
            kind,
            &left_out_filter,
            &mut left_out,
            None,
            ScanFrom::default(),
        )
        .await?;
        listing.absorb_counts(left_out);
        Ok(())
    }

    /// Every key `kind`'s search lists now, read with `responseFields` so that each page
    /// carries ids and update times only.
    async fn sweep(&self, kind: Kind, listing: &mut Listing) -> Result<HashSet<i64>, PullError> {
        let mut keys = HashSet::new();
        let mut offset = 0;
        loop {
            let page = self
                .until_shutdown(fetch::sweep_page(&self.client, kind, offset))
                .await??;
            listing.pages += 1;
            offset += page.count;
            keys.extend(page.keys);
            if page.count < fetch::PAGE_SIZE || offset >= page.total {
                break;
            }
        }
        Ok(keys)
    }

    /// Writes one page of documents with the kind's bookkeeping `update` (see
    /// [`MirrorWriter::apply_page`]), and counts what it did into `listing` and the metrics.
    pub(super) async fn apply(
        &self,
        rows: Rows,
        update: StateUpdate,
        repair: Repair,
        listing: &mut Listing,
    ) -> Result<(), PullError> {
        let kind = rows.kind();
        let applied = self
            .writer
            .apply_page(rows, unix_now(), update, repair)
            .await?;
        listing.written += applied.written as u64;
        listing.removed += applied.removed as u64;
        self.metrics
            .repaired(kind.name(), applied.repaired.len() as u64);
        listing.add_repaired(applied.repaired);
        Ok(())
    }

    /// Of `keys`, re-reads those Ecwid still has (into `listing`) and removes the rest from
    /// the mirror.
    pub(super) async fn remove_missing(
        &self,
        kind: Kind,
        keys: Vec<i64>,
        listing: &mut Listing,
        removed: &mut u64,
        repair: Repair,
    ) -> Result<(), PullError> {
        if keys.is_empty() {
            return Ok(());
        }
        let fetch::ByKeys {
            rows: present,
            unreadable,
            ignored_filters,
            ..
        } = self
            .until_shutdown(fetch::by_keys(&self.client, kind, &keys))
            .await??;
        let mut still_there: HashSet<i64> = present.keys().into_iter().collect();
        still_there.extend(unreadable.iter().filter_map(|u| u.key));
        listing.unreadable.extend(unreadable);
        listing.ignored_filters += ignored_filters;
        listing.items += present.len() as u64;
        if !present.is_empty() {
            // An unfinished order among them is removed by its own document.
            self.apply(present, StateUpdate::default(), repair, listing)
                .await?;
        }
        let gone: Vec<i64> = keys
            .into_iter()
            .filter(|k| !still_there.contains(k))
            .collect();
        if !gone.is_empty() {
            *removed += self
                .writer
                .delete(kind, gone, StateUpdate::default())
                .await? as u64;
        }
        Ok(())
    }
}

/// When a run began, for its summary.
struct RunStart {
    clock: Instant,
    counters: CounterSnapshot,
}

impl RunStart {
    fn now(client: &Client) -> RunStart {
        RunStart {
            clock: Instant::now(),
            counters: client.counters(),
        }
    }

    fn summary(
        &self,
        client: &Client,
        kind: Kind,
        mode: Mode,
        skipped: bool,
        listing: &Listing,
        removed: u64,
    ) -> RunSummary {
        let used = client.counters() - self.counters;
        RunSummary {
            kind,
            mode,
            skipped,
            items: listing.items,
            written: listing.written,
            pages: listing.pages,
            removed: removed + listing.removed,
            ignored_filters: listing.ignored_filters,
            repaired: listing.repaired,
            requests: used.requests,
            throttled: used.throttled,
            secs: self.clock.elapsed().as_secs_f64(),
        }
    }
}

pub(super) fn log_summary(s: &RunSummary) {
    // A run that `latest-stats` let skip happens every tick on a quiet store; at info level
    // it would bury the runs that did something.
    if s.skipped {
        tracing::debug!(kind = s.kind.name(), "nothing changed since the last pull");
        return;
    }
    tracing::info!(
        kind = s.kind.name(),
        mode = s.mode.name(),
        skipped = s.skipped,
        items = s.items,
        written = s.written,
        pages = s.pages,
        removed = s.removed,
        ignored_filters = s.ignored_filters,
        repaired = s.repaired,
        requests = s.requests,
        throttled = s.throttled,
        secs = format!("{:.2}", s.secs),
        "pull finished"
    );
}
