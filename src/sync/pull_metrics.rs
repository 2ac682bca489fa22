//! Scheduled pulls as `/metrics` counts them: kept by the puller, registered by
//! [`crate::metrics::Metrics`] in the daemon.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::kind::Kind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PullLabels {
    pub kind: String,
    pub mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppliedLabels {
    pub kind: String,
    /// `pull` or `webhook`: what brought the change.
    pub source: String,
}

fn pull_duration() -> Histogram {
    // 10 ms to about 20 min.
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

/// Scheduled pulls.
#[derive(Clone)]
pub struct PullMetrics {
    pub duration_seconds: Family<PullLabels, Histogram, fn() -> Histogram>,
    pub last_success: Family<KindLabel, Gauge>,
    pub failures: Family<KindLabel, Counter>,
    /// Rows written (real changes) and removed, by kind and by what brought them.
    pub applied: Family<AppliedLabels, Counter>,
    /// Entities whose rows disagreed with their documents and that full pulls wrote again.
    pub repaired: Family<KindLabel, Counter>,
}

impl Default for PullMetrics {
    fn default() -> Self {
        let metrics = PullMetrics {
            duration_seconds: Family::new_with_constructor(pull_duration),
            last_success: Family::default(),
            failures: Family::default(),
            applied: Family::default(),
            repaired: Family::default(),
        };
        // Failures and repairs show from the start, at 0, so a rate over them is defined.
        for kind in Kind::ALL {
            let label = KindLabel {
                kind: kind.name().to_string(),
            };
            let _ = metrics.failures.get_or_create(&label);
            let _ = metrics.repaired.get_or_create(&label);
        }
        metrics
    }
}

impl PullMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "pull_duration_seconds",
            "Duration of each pull, by kind and mode (full, incremental), skipped runs included",
            self.duration_seconds.clone(),
        );
        registry.register(
            "pull_last_success_timestamp_seconds",
            "Unix time of the last pull of each kind that succeeded",
            self.last_success.clone(),
        );
        registry.register(
            "pull_failures",
            "Pulls that failed, by kind",
            self.failures.clone(),
        );
        registry.register(
            "entities_applied",
            "Mirror rows written with a real change or removed, by kind and by what brought the change (pull, webhook)",
            self.applied.clone(),
        );
        registry.register(
            "rows_repaired",
            "Entities whose mirror rows held Ecwid's document but disagreed with it (written around ecwid-sync), written again by a full pull, by kind",
            self.repaired.clone(),
        );
    }

    pub fn succeeded(&self, kind: &str, mode: &str, secs: f64, changed: u64, at: i64) {
        self.duration_seconds
            .get_or_create(&PullLabels {
                kind: kind.to_string(),
                mode: mode.to_string(),
            })
            .observe(secs);
        self.succeeded_before(kind, at);
        self.applied(kind, "pull", changed);
    }

    /// A successful pull of `kind` at `at` (unix seconds), by this process or, read from
    /// the mirror when it starts, by an earlier one.
    pub fn succeeded_before(&self, kind: &str, at: i64) {
        self.last_success
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .set(at);
    }

    pub fn repaired(&self, kind: &str, count: u64) {
        self.repaired
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc_by(count);
    }

    pub fn failed(&self, kind: &str) {
        self.failures
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn applied(&self, kind: &str, source: &str, count: u64) {
        self.applied
            .get_or_create(&AppliedLabels {
                kind: kind.to_string(),
                source: source.to_string(),
            })
            .inc_by(count);
    }
}
