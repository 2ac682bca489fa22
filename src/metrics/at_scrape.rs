//! Figures read afresh at each scrape, from the configuration as it is now (a reload may
//! have changed it) and from the mirror's writer: what alert rules compare the other
//! metrics with, and whether the mirror refuses writes at this moment.

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::KindLabel;
use crate::config::Config;
use crate::mirror::lock::WriteStall;

#[derive(Clone, Default)]
pub struct ScrapeMetrics {
    pub pull_expected_interval: Family<KindLabel, Gauge>,
    pub key_lifetime: Gauge,
    pub write_stalled: Gauge,
}

impl ScrapeMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "pull_expected_interval_seconds",
            "Seconds between two runs of sync.incremental_cron, by kind mirrored: a kind whose last successful pull is older than twice this is late",
            self.pull_expected_interval.clone(),
        );
        registry.register(
            "push_key_lifetime_seconds",
            "How long Ecwid remembers a stock batch's key from its first send (push.key_lifetime_secs)",
            self.key_lifetime.clone(),
        );
        registry.register(
            "mirror_write_stalled_seconds",
            "Seconds since the mirror refused the write the daemon keeps trying (another process's write lock, a full disk, a read-only file), 0 while writes go through",
            self.write_stalled.clone(),
        );
    }

    /// Sets every figure for a scrape at `now` (unix seconds).
    pub fn refresh(&self, config: &Config, stall: Option<&WriteStall>, now: i64) {
        // A kind a reload took out of `sync.kinds` is no longer expected to be pulled.
        self.pull_expected_interval.clear();
        let every = crate::freshness::interval_secs(&config.sync.incremental_cron, now);
        for kind in &config.sync.kinds {
            self.pull_expected_interval
                .get_or_create(&KindLabel {
                    kind: kind.name().to_string(),
                })
                .set(every);
        }
        self.key_lifetime
            .set(config.push.key_lifetime.as_secs() as i64);
        // At least 1 while stalled: 0 says writes go through.
        self.write_stalled
            .set(stall.map_or(0, |s| (now - s.since).max(1)));
    }
}
