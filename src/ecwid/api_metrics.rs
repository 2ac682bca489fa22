//! Requests to Ecwid as `/metrics` counts them: kept by the client, registered by
//! [`crate::metrics::Metrics`] in the daemon.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The path with every segment holding a digit (an id) as `{id}`: `/products/{id}`.
    pub endpoint: String,
    /// The HTTP status, or `none` when no answer came (network error, timeout).
    pub status: String,
}

/// Requests to Ecwid. Made by the client whether or not a registry exports them (handles
/// share their values, so the daemon registers the client's own).
#[derive(Clone, Default)]
pub struct ApiMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub throttled: Counter,
    /// 1 from a 429 to the next answer that is not one, else 0.
    pub throttled_now: Gauge,
    pub retries: Counter,
    pub budget_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
}

impl ApiMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "api_requests",
            "Requests to the Ecwid API, by method, endpoint and answer status",
            self.requests.clone(),
        );
        registry.register(
            "api_throttled",
            "Answers 429 Too Many Requests from Ecwid",
            self.throttled.clone(),
        );
        registry.register(
            "api_throttled_now",
            "1 while Ecwid throttles the client (from a 429 Too Many Requests to the next answer that is not one), else 0",
            self.throttled_now.clone(),
        );
        registry.register(
            "api_retries",
            "Requests sent again after a 5xx, 449 or network error",
            self.retries.clone(),
        );
        registry.register(
            "api_budget_wait_seconds",
            "Seconds requests waited for the shared request budget (requests_per_minute, burst)",
            self.budget_wait_seconds.clone(),
        );
    }

    pub fn answered(&self, method: &str, path: &str, status: Option<u16>) {
        let labels = RequestLabels {
            method: method.to_string(),
            endpoint: endpoint_of(path),
            status: status.map_or_else(|| "none".to_string(), |s| s.to_string()),
        };
        self.requests.get_or_create(&labels).inc();
    }
}

/// A path's endpoint: ids (any segment with a digit) become `{id}`, so that the label's
/// values stay few.
fn endpoint_of(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.bytes().any(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_ids_as_placeholders() {
        assert_eq!(
            endpoint_of("/products/123/combinations/9"),
            "/products/{id}/combinations/{id}"
        );
        assert_eq!(endpoint_of("/orders/XJ12-34"), "/orders/{id}");
        assert_eq!(endpoint_of("/latest-stats"), "/latest-stats");
        assert_eq!(endpoint_of("/products/deleted"), "/products/deleted");
    }
}
