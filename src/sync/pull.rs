//! Full and incremental pulls: Ecwid search pages into the mirror, deletions, cursors.
//!
//! A page fetched is a page committed in one transaction, so a crash loses at most the page
//! in flight. Cursors move only after the pages they cover are committed.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::fetch::{self, FetchedPage, PAGE_SIZE};
use super::progress::{Progress, ProgressMode};
use super::{Kind, PullError};
use crate::config::SyncConfig;
use crate::ecwid::Client;
use crate::ecwid::model::{DeletedItem, LatestStats, Page, parse_date};
use crate::mirror::state::{KindState, StateUpdate};
use crate::mirror::{MirrorWriter, unix_now};

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
    pub removed: u64,
    pub requests: u64,
    pub throttled: u64,
    pub secs: f64,
}

#[derive(Default)]
struct Tally {
    items: u64,
    written: u64,
    pages: u64,
    removed: u64,
}

/// `latest-stats` and when it was read, by the local clock.
pub struct Stats {
    stats: LatestStats,
    read_at: i64,
}

pub struct Puller {
    client: Client,
    writer: MirrorWriter,
    overlap: i64,
    fetch_ahead: usize,
    progress: ProgressMode,
    shutdown: CancellationToken,
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
            fetch_ahead: sync.fetch_ahead,
            progress,
            shutdown,
        }
    }

    /// One pass over `kinds`: a full pull of every kind that never had one (or of all when
    /// `force_full`), an incremental pull of the rest. Stops at the first failure, which is
    /// also recorded in the kind's `sync_state.last_error`.
    pub async fn pass(
        &self,
        kinds: &[Kind],
        force_full: bool,
    ) -> Result<Vec<RunSummary>, PullError> {
        let stats = match self.latest_stats().await {
            Ok(stats) => stats,
            Err(err) => {
                for &kind in kinds {
                    self.record_error(kind, &err).await;
                }
                return Err(err);
            }
        };
        let mut summaries = Vec::new();
        for &kind in kinds {
            let state = self.writer.read_state(kind).await?;
            let full = force_full || state.last_full_finished.is_none();
            let mode = if full { Mode::Full } else { Mode::Incremental };
            let span = tracing::info_span!("pull", kind = kind.name(), mode = mode.name());
            let run = async {
                if full {
                    self.full(kind, &stats).await
                } else {
                    self.incremental(kind, &state, &stats).await
                }
            };
            match run.instrument(span).await {
                Ok(summary) => {
                    log_summary(&summary);
                    summaries.push(summary);
                }
                Err(PullError::Interrupted) => return Err(PullError::Interrupted),
                Err(err) => {
                    self.record_error(kind, &err).await;
                    return Err(err);
                }
            }
        }
        Ok(summaries)
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

    async fn latest_stats(&self) -> Result<Stats, PullError> {
        let read_at = unix_now();
        let stats = self.client.get_json("/latest-stats", &[]).await?;
        Ok(Stats { stats, read_at })
    }

    /// Lists every entity of `kind`, then removes from the mirror what Ecwid no longer has.
    async fn full(&self, kind: Kind, stats: &Stats) -> Result<RunSummary, PullError> {
        let clock = Instant::now();
        let counters = self.client.counters();
        let started = unix_now();
        self.writer
            .update_state(
                kind,
                StateUpdate {
                    last_full_started: Some(started),
                    ..Default::default()
                },
            )
            .await?;
        let mut tally = Tally::default();
        let mut seen = HashSet::new();
        let mut cursor = self
            .scan(kind, Vec::new(), &mut tally, Some(&mut seen))
            .await?;
        if kind.has_update_filter() {
            // Entities edited while the listing ran may have been read before the edit.
            let since = vec![("updatedFrom", (started - self.overlap).to_string())];
            cursor = cursor.max(self.scan(kind, since, &mut tally, Some(&mut seen)).await?);
        }
        // Whatever the listing did not return is gone, or was missed because the listing
        // shifted under a concurrent deletion: ask for those keys before removing anything.
        let unseen: Vec<i64> = self
            .writer
            .keys(kind)
            .await?
            .into_iter()
            .filter(|key| !seen.contains(key))
            .collect();
        self.remove_missing(kind, unseen, &mut tally).await?;
        let now = unix_now();
        self.writer
            .update_state(
                kind,
                StateUpdate {
                    cursor,
                    deleted_cursor: kind.deleted_path().map(|_| started),
                    stats_marker: Some(self.settled_marker(kind, stats)),
                    last_full_finished: Some(now),
                    last_incremental: Some(now),
                    error: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        Ok(self.summary(kind, Mode::Full, false, tally, clock, counters))
    }

    /// Reads what changed since the cursor and what was deleted since the deletion cursor.
    async fn incremental(
        &self,
        kind: Kind,
        state: &KindState,
        stats: &Stats,
    ) -> Result<RunSummary, PullError> {
        let clock = Instant::now();
        let counters = self.client.counters();
        let mut tally = Tally::default();
        let marker = kind.stats_marker(&stats.stats);
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
            return Ok(self.summary(kind, Mode::Incremental, true, tally, clock, counters));
        }
        if !kind.has_update_filter() {
            // Without update times the only way to see what changed is to list it all.
            return self.full(kind, stats).await;
        }
        let from = state.cursor.or(state.last_full_started).unwrap_or(0) - self.overlap;
        let filter = vec![("updatedFrom", from.max(0).to_string())];
        let cursor = self.scan(kind, filter, &mut tally, None).await?;
        let deleted_cursor = match kind.deleted_path() {
            Some(path) => {
                let from = state
                    .deleted_cursor
                    .or(state.last_full_started)
                    .unwrap_or(0)
                    - self.overlap;
                self.apply_deletions(kind, path, from.max(0), &mut tally)
                    .await?
            }
            None => None,
        };
        self.writer
            .update_state(
                kind,
                StateUpdate {
                    cursor,
                    deleted_cursor,
                    stats_marker: Some(self.settled_marker(kind, stats)),
                    last_incremental: Some(unix_now()),
                    error: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        Ok(self.summary(kind, Mode::Incremental, false, tally, clock, counters))
    }

    /// The `latest-stats` value to remember as "already pulled". A value within `overlap`
    /// of the moment it was read may still be followed by changes stamped the same second,
    /// so it is not remembered, and the next run pulls again.
    fn settled_marker(&self, kind: Kind, stats: &Stats) -> Option<String> {
        let marker = kind.stats_marker(&stats.stats)?;
        let changed_at = parse_date(marker)?;
        (changed_at + self.overlap < stats.read_at).then(|| marker.to_string())
    }

    /// Pages through a search of `kind` with `filter`, committing each page as it arrives.
    /// Up to `fetch_ahead` later pages are fetched and parsed while one is written. Returns
    /// the newest update time seen. A full listing passes `seen`, which collects every key
    /// returned, and shows progress.
    async fn scan(
        &self,
        kind: Kind,
        filter: Vec<(&'static str, String)>,
        tally: &mut Tally,
        mut seen: Option<&mut HashSet<i64>>,
    ) -> Result<Option<i64>, PullError> {
        let mut progress =
            (seen.is_some() && filter.is_empty()).then(|| Progress::new(self.progress, kind));
        let mut inflight = Inflight::default();
        let mut next_offset = 0;
        // Until the first page tells the real total, ask for that page only.
        let mut known_total = PAGE_SIZE;
        let mut newest = None;
        loop {
            while inflight.0.len() < self.fetch_ahead && next_offset < known_total {
                let (client, filter) = (self.client.clone(), filter.clone());
                let offset = next_offset;
                inflight.0.push_back(tokio::spawn(async move {
                    fetch::search_page(&client, kind, offset, &filter).await
                }));
                next_offset += PAGE_SIZE;
            }
            let Some(next) = inflight.0.pop_front() else {
                break;
            };
            let page: FetchedPage = next.await.map_err(join_error)??;
            if self.shutdown.is_cancelled() {
                return Err(PullError::Interrupted);
            }
            known_total = page.total;
            let items = page.rows.len() as u64;
            if let Some(p) = progress.as_mut() {
                p.set_total(page.total);
            }
            newest = newest.max(page.rows.max_updated());
            if let Some(seen) = seen.as_deref_mut() {
                seen.extend(page.rows.keys());
            }
            tally.items += items;
            tally.pages += 1;
            if !page.rows.is_empty() {
                tally.written += self
                    .writer
                    .apply_page(page.rows, unix_now(), StateUpdate::default())
                    .await? as u64;
            }
            if let Some(p) = progress.as_mut() {
                p.advance(items);
            }
            if page.count < PAGE_SIZE && next_offset >= known_total {
                break;
            }
        }
        if let Some(p) = &progress {
            p.finish();
        }
        Ok(newest)
    }

    /// Of `keys`, re-reads those Ecwid still has and removes the rest from the mirror.
    async fn remove_missing(
        &self,
        kind: Kind,
        keys: Vec<i64>,
        tally: &mut Tally,
    ) -> Result<(), PullError> {
        if keys.is_empty() {
            return Ok(());
        }
        let present = fetch::by_keys(&self.client, kind, &keys).await?;
        let still_there: HashSet<i64> = present.keys().into_iter().collect();
        tally.items += present.len() as u64;
        if !present.is_empty() {
            tally.written += self
                .writer
                .apply_page(present, unix_now(), StateUpdate::default())
                .await? as u64;
        }
        let gone: Vec<i64> = keys
            .into_iter()
            .filter(|k| !still_there.contains(k))
            .collect();
        if !gone.is_empty() {
            tally.removed += self
                .writer
                .delete(kind, gone, StateUpdate::default())
                .await? as u64;
        }
        Ok(())
    }

    /// Applies the deletion list from `from` on; returns the newest deletion date seen.
    async fn apply_deletions(
        &self,
        kind: Kind,
        path: &str,
        from: i64,
        tally: &mut Tally,
    ) -> Result<Option<i64>, PullError> {
        let mut offset = 0;
        let mut newest = None;
        loop {
            let query = [
                ("from_date", from.to_string()),
                ("limit", PAGE_SIZE.to_string()),
                ("offset", offset.to_string()),
            ];
            let body = self.client.get_bytes(path, &query).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|source| PullError::Document { kind, source })?;
            let mut ids = Vec::with_capacity(page.items.len());
            for raw in &page.items {
                let item: DeletedItem = serde_json::from_str(raw.get())
                    .map_err(|source| PullError::Document { kind, source })?;
                newest = newest.max(parse_date(&item.date));
                ids.push(item.id);
            }
            tally.pages += 1;
            if !ids.is_empty() {
                tally.removed += self
                    .writer
                    .delete(kind, ids, StateUpdate::default())
                    .await? as u64;
            }
            offset += page.items.len() as u64;
            if page.items.is_empty() || offset >= page.total {
                return Ok(newest);
            }
        }
    }

    fn summary(
        &self,
        kind: Kind,
        mode: Mode,
        skipped: bool,
        tally: Tally,
        clock: Instant,
        before: crate::ecwid::CounterSnapshot,
    ) -> RunSummary {
        let used = self.client.counters() - before;
        RunSummary {
            kind,
            mode,
            skipped,
            items: tally.items,
            written: tally.written,
            pages: tally.pages,
            removed: tally.removed,
            requests: used.requests,
            throttled: used.throttled,
            secs: clock.elapsed().as_secs_f64(),
        }
    }
}

fn log_summary(s: &RunSummary) {
    tracing::info!(
        kind = s.kind.name(),
        mode = s.mode.name(),
        skipped = s.skipped,
        items = s.items,
        written = s.written,
        pages = s.pages,
        removed = s.removed,
        requests = s.requests,
        throttled = s.throttled,
        secs = format!("{:.2}", s.secs),
        "pull finished"
    );
}

/// Fetch tasks still running when a scan ends early are of no use: abort them.
#[derive(Default)]
struct Inflight(VecDeque<JoinHandle<Result<FetchedPage, PullError>>>);

impl Drop for Inflight {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> PullError {
    if e.is_panic() {
        std::panic::resume_unwind(e.into_panic());
    }
    PullError::Interrupted
}

/// An error and its causes on one line, as `sync_state.last_error` and the exit message.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
