//! The pusher's figures: what became of local stock changes, and what the outbox holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use super::PushSummary;
use crate::mirror::outbox_review::{Oldest, StateCounts};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

/// Stock pushes.
#[derive(Clone, Default)]
pub struct PushMetrics {
    pub batches: Counter,
    /// Entities settled, by outcome (applied, failed, not_run, uncertain), and outbox rows
    /// that cancelled out.
    pub changes: Family<OutcomeLabel, Counter>,
    /// Batches left without an outcome by a lost answer, to be sent again with their key.
    pub unanswered: Counter,
    /// Outbox rows by state (pending, sending, failed, uncertain, conflict), as of the last look.
    pub outbox: Family<StateLabel, Gauge>,
    /// Conflicts waiting for the operator.
    pub conflicts_open: Gauge,
    /// Conflicts found, held or settled by their policy.
    pub conflicts: Counter,
    /// What has waited longest, as of the last look; served as ages at each scrape, so
    /// they keep growing between looks.
    pub oldest: Arc<OldestAt>,
}

/// [`Oldest`]'s times (unix seconds), 0 for none.
#[derive(Debug, Default)]
pub struct OldestAt {
    open_change: AtomicI64,
    unanswered_batch: AtomicI64,
    open_conflict: AtomicI64,
}

impl OldestAt {
    fn set(&self, oldest: &Oldest) {
        for (at, value) in [
            (&self.open_change, oldest.open_change),
            (&self.unanswered_batch, oldest.unanswered_batch),
            (&self.open_conflict, oldest.open_conflict),
        ] {
            at.store(value.unwrap_or(0), Ordering::Relaxed);
        }
    }
}

/// Seconds from `at` (0: nothing waits) to `now`.
fn age(at: &AtomicI64, now: i64) -> i64 {
    match at.load(Ordering::Relaxed) {
        0 => 0,
        at => (now - at).max(0),
    }
}

#[derive(Debug)]
struct AgeCollector(Arc<OldestAt>);

impl Collector for AgeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = crate::mirror::unix_now();
        let o = &self.0;
        for (name, help, at) in [
            (
                "outbox_oldest_open_age_seconds",
                "Seconds since the oldest local change still on its way to Ecwid (pending, sending) was made (0 when none is)",
                &o.open_change,
            ),
            (
                "push_oldest_unanswered_age_seconds",
                "Seconds since the first send of the oldest batch still waiting for Ecwid's answer (0 when none is); past push.key_lifetime_secs Ecwid forgets its key",
                &o.unanswered_batch,
            ),
            (
                "conflicts_oldest_open_age_seconds",
                "Seconds since the oldest conflict still open was found (0 when none is open)",
                &o.open_conflict,
            ),
        ] {
            let gauge = ConstGauge::new(age(at, now));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

const OUTCOMES: [&str; 5] = ["applied", "failed", "not_run", "uncertain", "cancelled"];

impl PushMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(AgeCollector(self.oldest.clone())));
        for outcome in OUTCOMES {
            let _ = self.changes.get_or_create(&OutcomeLabel { outcome });
        }
        registry.register(
            "push_batches",
            "Keyed stock batches sent to Ecwid, sent again with their key included",
            self.batches.clone(),
        );
        registry.register(
            "push_changes",
            "Stock changes settled, per product or variation, by outcome; cancelled counts outbox rows whose changes summed to zero",
            self.changes.clone(),
        );
        registry.register(
            "push_unanswered",
            "Stock batches whose answer was lost; each is sent again with the same key",
            self.unanswered.clone(),
        );
        registry.register(
            "conflicts_open",
            "Fields changed both in the mirror and in Ecwid, waiting for `ecwid-sync conflicts resolve`",
            self.conflicts_open.clone(),
        );
        registry.register(
            "conflicts",
            "Conflicts found: fields changed both in the mirror and in Ecwid, held or settled by their policy",
            self.conflicts.clone(),
        );
        registry.register(
            "outbox_changes",
            "Local changes in the outbox by state: pending and sending are on their way, failed, uncertain and conflict wait for the operator",
            self.outbox.clone(),
        );
    }

    pub fn observe(&self, summary: &PushSummary) {
        self.batches.inc_by(summary.batches as u64);
        self.conflicts.inc_by(summary.conflicts as u64);
        let counts = [
            summary.applied,
            summary.failed,
            summary.not_run,
            summary.uncertain,
            summary.cancelled,
        ];
        for (outcome, n) in OUTCOMES.into_iter().zip(counts) {
            self.changes
                .get_or_create(&OutcomeLabel { outcome })
                .inc_by(n as u64);
        }
    }

    pub fn set_outbox(&self, counts: &StateCounts, oldest: &Oldest) {
        self.oldest.set(oldest);
        for (state, n) in counts.by_state() {
            self.outbox.get_or_create(&StateLabel { state }).set(n);
        }
        self.conflicts_open.set(counts.open_conflicts);
    }
}
