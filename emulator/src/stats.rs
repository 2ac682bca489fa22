//! Request and webhook counters for `GET /_emulator/stats`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    total: u64,
    requests: BTreeMap<String, u64>,
    /// Requests by route counted when they arrive, before any fault's latency: a test can
    /// see a request in progress, which `requests` (counted once answered) cannot show.
    arrived: BTreeMap<String, u64>,
    status: BTreeMap<u16, u64>,
}

#[derive(Default)]
pub struct Stats {
    counts: Mutex<Counts>,
    /// Delivery attempts, successful attempts and failed attempts.
    pub webhooks_sent: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub webhooks_failed: AtomicU64,
    /// API requests that arrived while an announced `Retry-After` had not yet passed.
    pub early_requests: AtomicU64,
}

impl Stats {
    /// One API request under its route template, e.g. `GET /products/{id}`.
    pub fn record(&self, method: &str, route: &str, status: Option<u16>) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total += 1;
        let key = format!("{method} {route}");
        *c.requests.entry(key).or_default() += 1;
        if let Some(status) = status {
            *c.status.entry(status).or_default() += 1;
        }
    }

    /// One API request arriving under its route template, before it is served.
    pub fn arrive(&self, method: &str, route: &str) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *c.arrived.entry(format!("{method} {route}")).or_default() += 1;
    }

    pub fn to_json(&self) -> Value {
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let status: BTreeMap<String, u64> =
            c.status.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        json!({
            "requests_total": c.total,
            "requests": c.requests,
            "arrived": c.arrived,
            "status": status,
            "early_requests": self.early_requests.load(Ordering::Relaxed),
            "webhooks": {
                "sent": self.webhooks_sent.load(Ordering::Relaxed),
                "delivered": self.webhooks_delivered.load(Ordering::Relaxed),
                "failed": self.webhooks_failed.load(Ordering::Relaxed),
            }
        })
    }

    pub fn reset(&self) {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()) = Counts::default();
        self.webhooks_sent.store(0, Ordering::Relaxed);
        self.webhooks_delivered.store(0, Ordering::Relaxed);
        self.webhooks_failed.store(0, Ordering::Relaxed);
        self.early_requests.store(0, Ordering::Relaxed);
    }
}
