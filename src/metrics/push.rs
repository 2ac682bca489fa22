//! The pusher's figures: what became of local stock changes, and what the outbox holds.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::mirror::outbox_review::StateCounts;
use crate::sync::push::PushSummary;

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
    /// Outbox rows by state (pending, sending, failed, uncertain), as of the last look.
    pub outbox: Family<StateLabel, Gauge>,
}

const OUTCOMES: [&str; 5] = ["applied", "failed", "not_run", "uncertain", "cancelled"];

impl PushMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
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
            "outbox_changes",
            "Local stock changes in the outbox by state: pending and sending are on their way, failed and uncertain wait for the operator",
            self.outbox.clone(),
        );
    }

    pub fn observe(&self, summary: &PushSummary) {
        self.batches.inc_by(summary.batches as u64);
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

    pub fn set_outbox(&self, counts: &StateCounts) {
        for (state, n) in counts.by_state() {
            self.outbox.get_or_create(&StateLabel { state }).set(n);
        }
    }
}
