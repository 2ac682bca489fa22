//! The daemon's Prometheus metrics, served by `GET /metrics` (see [`crate::server`]).
//!
//! One [`Metrics`] is made per store and shared as an `Arc`; each part of the daemon holds
//! its own group of metrics as a field. Every metric of a store's registry carries the
//! `store` label (the store's name), so that one daemon serving many stores exposes one
//! series per store and never one per entity; [`encode_all`] joins the stores' texts into
//! one exposition. To add a group: a struct of its metrics with a
//! `register(&mut Registry)` constructor (as [`WebhookMetrics`]), a field here, one line in
//! [`Metrics::new`], and a row per metric in docs/monitoring.md's table. Names get the
//! `ecwid_sync_` prefix, and counters the `_total` suffix, from the registry.
//!
//! A group that a lower layer keeps (the API client's [`ApiMetrics`], the puller's
//! [`PullMetrics`], the pusher's [`PushMetrics`]) is defined in that layer's module and only
//! registered here, so that the client and the engine never import the daemon's registry.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod at_scrape;
mod exposition;

pub use crate::ecwid::api_metrics::ApiMetrics;
pub use crate::sync::pull_metrics::{KindLabel, PullMetrics};
pub use crate::sync::push::PushMetrics;
pub use at_scrape::ScrapeMetrics;
pub use exposition::encode_all;

use crate::kind::Kind;
use crate::sync::deltas::counts::{DeltaCounts, PRIVACY_TYPES};

/// The content type of [`Metrics::encode`]'s text (OpenMetrics, which Prometheus scrapes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Metrics {
    registry: Registry,
    pub webhooks: WebhookMetrics,
    pub api: ApiMetrics,
    pub pulls: PullMetrics,
    pub push: PushMetrics,
    /// Set by `/metrics` before each scrape.
    pub at_scrape: ScrapeMetrics,
    /// 1 while the store's tasks run; 0 once it stopped (`/readyz` and the log say why).
    pub store_up: Gauge,
}

/// The `store` label of the webhook refusals no store can be named for (an unknown store id,
/// a body that is not JSON): parentheses never occur in a store's name.
pub const UNROUTED: &str = "(unrouted)";

impl Metrics {
    /// Metrics labelled with the main store's name (one-off commands and tests).
    pub fn new() -> Arc<Metrics> {
        Self::build(crate::config::MAIN_STORE, None)
    }

    /// The metrics of store `store`, with its delta worker's counts read at each scrape.
    pub fn for_store(store: &str, deltas: Arc<DeltaCounts>) -> Arc<Metrics> {
        Self::build(store, Some(deltas))
    }

    /// The metrics of what the listener cannot attribute to a store (see [`UNROUTED`]).
    pub fn unrouted() -> Arc<Metrics> {
        Self::build(UNROUTED, None)
    }

    fn build(store: &str, deltas: Option<Arc<DeltaCounts>>) -> Arc<Metrics> {
        let label = (Cow::Borrowed("store"), Cow::Owned(store.to_owned()));
        let mut registry = Registry::with_prefix_and_labels("ecwid_sync", std::iter::once(label));
        if let Some(deltas) = deltas {
            registry.register_collector(Box::new(DeltaCollector(deltas)));
        }
        let webhooks = WebhookMetrics::register(&mut registry);
        let api = ApiMetrics::default();
        api.register(&mut registry);
        let pulls = PullMetrics::default();
        pulls.register(&mut registry);
        let push = PushMetrics::default();
        push.register(&mut registry);
        let at_scrape = ScrapeMetrics::default();
        at_scrape.register(&mut registry);
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 while the store's schedules, delta worker and pusher run; 0 once the store stopped for good (/readyz and the log say why)",
            store_up.clone(),
        );
        Arc::new(Metrics {
            registry,
            webhooks,
            api,
            pulls,
            push,
            at_scrape,
            store_up,
        })
    }

    /// Every metric in the text exposition format.
    pub fn encode(&self) -> String {
        encode_all([self])
    }

    /// The metric families of this store, without the exposition's closing `# EOF`.
    fn encode_families(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry);
        text
    }
}

/// Why the receiver refused a delivery (the `reason` label of
/// `ecwid_sync_webhooks_rejected_total`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum RejectReason {
    /// No `X-Ecwid-Webhook-Signature` header (401).
    MissingSignature,
    /// The signature does not match the body under the client secret (401).
    BadSignature,
    /// For a store id that no store of the daemon has (401).
    WrongStore,
    /// A body over 64 KiB (413).
    TooLarge,
    /// Not JSON, or a field missing or of the wrong type (400).
    Malformed,
    /// The mirror did not commit the event in time (503; Ecwid sends it again).
    Unavailable,
}

impl RejectReason {
    pub const ALL: [RejectReason; 6] = [
        RejectReason::MissingSignature,
        RejectReason::BadSignature,
        RejectReason::WrongStore,
        RejectReason::TooLarge,
        RejectReason::Malformed,
        RejectReason::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingSignature => "missing_signature",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::WrongStore => "wrong_store",
            RejectReason::TooLarge => "too_large",
            RejectReason::Malformed => "malformed",
            RejectReason::Unavailable => "unavailable",
        }
    }
}

impl EncodeLabelValue for RejectReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: RejectReason,
}

/// What the webhook receiver did with each delivery.
pub struct WebhookMetrics {
    /// Correctly signed deliveries for this store, acknowledged with 200 (duplicates,
    /// ignored and too-old events included).
    pub received: Counter,
    /// Deliveries refused, by reason.
    pub rejected: Family<ReasonLabel, Counter>,
    /// Deliveries of an eventId already in the inbox: acknowledged, not stored again.
    pub duplicates: Counter,
    /// Events of a type the mirror does not hold, stored as `ignored`.
    pub ignored: Counter,
    /// Events older than `webhooks.max_event_age_secs`, stored as `too_old`.
    pub too_old: Counter,
    /// Seconds each inbox commit took (one commit holds every event queued meanwhile).
    pub inbox_commit_seconds: Histogram,
    /// Events per inbox commit.
    pub inbox_commit_events: Histogram,
}

impl WebhookMetrics {
    fn register(registry: &mut Registry) -> WebhookMetrics {
        let m = WebhookMetrics {
            received: Counter::default(),
            rejected: Family::default(),
            duplicates: Counter::default(),
            ignored: Counter::default(),
            too_old: Counter::default(),
            // 0.1 ms to about 3.3 s.
            inbox_commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            // 1 to 512.
            inbox_commit_events: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        };
        // Every reason shows from the start, at 0, so a rate over it is defined.
        for reason in RejectReason::ALL {
            let _ = m.rejected.get_or_create(&ReasonLabel { reason });
        }
        registry.register(
            "webhooks_received",
            "Correctly signed webhook deliveries for this store, acknowledged with 200 (duplicates, ignored and too-old events included)",
            m.received.clone(),
        );
        registry.register(
            "webhooks_rejected",
            "Webhook deliveries refused, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "webhooks_duplicate",
            "Webhook deliveries of an eventId already in the inbox, acknowledged and not stored again",
            m.duplicates.clone(),
        );
        registry.register(
            "webhooks_ignored",
            "Webhook events of a type or kind the mirror does not hold, stored as ignored",
            m.ignored.clone(),
        );
        registry.register(
            "webhooks_too_old",
            "Webhook events older than webhooks.max_event_age_secs, stored as too_old and not applied",
            m.too_old.clone(),
        );
        registry.register(
            "webhook_inbox_commit_seconds",
            "Time of each commit of received webhook events to the mirror's inbox",
            m.inbox_commit_seconds.clone(),
        );
        registry.register(
            "webhook_inbox_commit_events",
            "Webhook events written by each inbox commit",
            m.inbox_commit_events.clone(),
        );
        m
    }

    pub fn reject(&self, reason: RejectReason) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// A privacy request's type: `customer_removal`, `customer_export`, `profile_removal`,
/// `profile_export`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    request: String,
}

/// The delta worker's counts ([`DeltaCounts`]), read at each scrape.
#[derive(Debug)]
struct DeltaCollector(Arc<DeltaCounts>);

impl Collector for DeltaCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = &self.0;
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "webhook_events_applied",
                "Webhook events whose entity, read again, changed the mirror",
                load(&c.events_applied),
            ),
            (
                "webhook_events_echo",
                "Webhook events whose entity the mirror already held as it reads now (echoes of a pull, an earlier event or the daemon's own write)",
                load(&c.events_echoed),
            ),
            (
                "webhook_events_ignored_by_worker",
                "Pending webhook events the delta worker set aside (kind not mirrored, no entity named)",
                load(&c.events_ignored),
            ),
            (
                "webhook_fetch_requests",
                "Requests the delta worker sent to read the entities events named",
                load(&c.fetch_requests),
            ),
            (
                "webhook_fetch_failures",
                "Delta worker reads that failed and are retried (their events stay pending)",
                load(&c.fetch_failures),
            ),
            (
                "privacy_customers_erased",
                "Customers whose personal data the mirror erased at their request (personalDataRemovalRequest)",
                load(&c.customers_erased),
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let per_kind =
            |encoder: &mut DescriptorEncoder, name, help, value: &dyn Fn(Kind) -> u64| {
                let mut family =
                    encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                for kind in Kind::ALL {
                    let label = KindLabel {
                        kind: kind.name().to_string(),
                    };
                    ConstCounter::new(value(kind)).encode(family.encode_family(&label)?)?;
                }
                Ok::<(), std::fmt::Error>(())
            };
        per_kind(
            &mut encoder,
            "webhook_entities_applied",
            "Mirror rows the delta worker wrote with a real change or removed, by kind",
            &|kind| c.entities_applied(kind),
        )?;
        per_kind(
            &mut encoder,
            "webhook_gaps",
            "Rows a scheduled pull changed that no webhook had announced (lost or late webhooks), by kind",
            &|kind| c.gaps.get(kind),
        )?;
        let mut family = encoder.encode_descriptor(
            "privacy_requests",
            "Privacy requests received by webhook, by type (customer_removal, customer_export, profile_removal, profile_export)",
            None,
            MetricType::Counter,
        )?;
        for (index, (_, _, name)) in PRIVACY_TYPES.iter().enumerate() {
            let label = RequestLabel {
                request: name.to_string(),
            };
            ConstCounter::new(load(&c.privacy_requests[index]))
                .encode(family.encode_family(&label)?)?;
        }
        let pending = ConstGauge::new(load(&c.pending) as i64);
        pending.encode(encoder.encode_descriptor(
            "webhook_events_pending",
            "Webhook events received and not applied yet",
            None,
            pending.metric_type(),
        )?)?;
        let oldest = ConstGauge::new(c.oldest_pending_age_secs(crate::mirror::unix_now()));
        oldest.encode(encoder.encode_descriptor(
            "webhook_oldest_pending_age_seconds",
            "Seconds since the oldest pending webhook event was received (0 when none is pending)",
            None,
            oldest.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_reason_is_exposed_from_the_start_under_its_name() {
        let metrics = Metrics::new();
        metrics.webhooks.reject(RejectReason::WrongStore);
        let text = metrics.encode();
        assert!(
            text.contains(
                "ecwid_sync_webhooks_rejected_total{store=\"default\",reason=\"wrong_store\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ecwid_sync_webhooks_rejected_total{store=\"default\",reason=\"too_large\"} 0"
            ),
            "{text}"
        );
        assert!(text.contains("ecwid_sync_webhook_inbox_commit_seconds_bucket"));
    }
}
