//! `[webhooks]`: the listener, the webhook path and how events are gathered and kept.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, as_millis, as_secs, invalid, within};

#[derive(Clone, Debug, Serialize)]
pub struct WebhooksConfig {
    /// Where the receiver, `/healthz`, `/readyz` and `/metrics` listen (behind a reverse
    /// proxy that terminates TLS). Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub path: String,
    /// The replay window: an event created longer ago than this is acknowledged and
    /// recorded as `too_old`, never applied (the scheduled pull covers what it announced).
    #[serde(rename = "max_event_age_secs", serialize_with = "as_secs")]
    pub max_event_age: Duration,
    /// `/readyz` fails once passes have kept failing for longer than this.
    #[serde(rename = "ready_max_failing_secs", serialize_with = "as_secs")]
    pub ready_max_failing: Duration,
    /// How long the delta worker gathers events before it re-fetches what they name.
    #[serde(rename = "debounce_ms", serialize_with = "as_millis")]
    pub debounce: Duration,
    /// The shortest time between two reads of one kind that are not full (100 entities):
    /// under load, what arrives meanwhile is gathered.
    #[serde(rename = "read_interval_ms", serialize_with = "as_millis")]
    pub read_interval: Duration,
    /// How long processed events stay in `webhook_events` before they are pruned.
    pub retention_days: u32,
    /// A request's line and headers must arrive within this of its first byte.
    #[serde(rename = "header_read_timeout_secs", serialize_with = "as_secs")]
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this of its headers.
    #[serde(rename = "body_read_timeout_secs", serialize_with = "as_secs")]
    pub body_read_timeout: Duration,
    /// A connection with no request for this long is closed.
    #[serde(rename = "idle_timeout_secs", serialize_with = "as_secs")]
    pub idle_timeout: Duration,
    /// Connections open at once; the next one closes the oldest not being answered.
    pub max_connections: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhooks {
    listen: Option<String>,
    path: Option<String>,
    max_event_age_secs: Option<u64>,
    ready_max_failing_secs: Option<u64>,
    debounce_ms: Option<u64>,
    read_interval_ms: Option<u64>,
    retention_days: Option<u32>,
    header_read_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<u32>,
}

impl RawWebhooks {
    pub(super) fn validate(self) -> Result<WebhooksConfig, ConfigError> {
        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:8088".to_string());
        let listen = listen_text.parse().map_err(|_| {
            invalid(
                "webhooks.listen",
                format!("expected an address like 127.0.0.1:8088, got {listen_text:?}"),
            )
        })?;
        let path = self.path.unwrap_or_else(|| "/webhooks/ecwid".to_string());
        check_hook_path("webhooks.path", &path)?;
        Ok(WebhooksConfig {
            listen,
            path,
            max_event_age: Duration::from_secs(within(
                "webhooks.max_event_age_secs",
                self.max_event_age_secs.unwrap_or(172_800),
                60..=2_592_000,
                "seconds",
                " (30 days)",
            )?),
            ready_max_failing: Duration::from_secs(within(
                "webhooks.ready_max_failing_secs",
                self.ready_max_failing_secs.unwrap_or(1800),
                60..=604_800,
                "seconds",
                " (7 days)",
            )?),
            debounce: Duration::from_millis(within(
                "webhooks.debounce_ms",
                self.debounce_ms.unwrap_or(200),
                0..=5000,
                "milliseconds",
                "",
            )?),
            read_interval: Duration::from_millis(within(
                "webhooks.read_interval_ms",
                self.read_interval_ms.unwrap_or(1000),
                0..=60_000,
                "milliseconds",
                "",
            )?),
            retention_days: within(
                "webhooks.retention_days",
                self.retention_days.unwrap_or(7),
                1..=3650,
                "days",
                "",
            )?,
            header_read_timeout: Duration::from_secs(within(
                "webhooks.header_read_timeout_secs",
                self.header_read_timeout_secs.unwrap_or(10),
                1..=300,
                "seconds",
                "",
            )?),
            body_read_timeout: Duration::from_secs(within(
                "webhooks.body_read_timeout_secs",
                self.body_read_timeout_secs.unwrap_or(10),
                1..=300,
                "seconds",
                "",
            )?),
            idle_timeout: Duration::from_secs(within(
                "webhooks.idle_timeout_secs",
                self.idle_timeout_secs.unwrap_or(75),
                1..=3600,
                "seconds",
                "",
            )?),
            max_connections: within(
                "webhooks.max_connections",
                self.max_connections.unwrap_or(512),
                1..=65_536,
                "connections",
                "",
            )?,
        })
    }
}

/// The paths the listener serves besides the webhook path, which may not take them.
pub const RESERVED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The webhook path becomes an axum route beside the health and metrics endpoints: plain
/// URL characters only (no `{capture}` syntax), and none of theirs.
fn check_hook_path(key: &'static str, path: &str) -> Result<(), ConfigError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !path.starts_with('/') || path.len() < 2 || !path.chars().all(plain) {
        return Err(invalid(
            key,
            format!(
                "expected a path such as \"/webhooks/ecwid\" (letters, digits and - . _ ~ /), got {path:?}"
            ),
        ));
    }
    if RESERVED_PATHS.contains(&path) {
        return Err(invalid(
            key,
            format!("{path:?} is taken by the health and metrics endpoints; choose another path"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use super::super::{Config, SecretEnv};
    use std::time::Duration;

    #[test]
    fn webhook_settings_have_defaults_and_each_bad_value_names_its_key() {
        let c = Config::parse(MINIMAL, &SecretEnv::default()).unwrap();
        assert_eq!(c.webhooks.path, "/webhooks/ecwid");
        assert_eq!(c.webhooks.max_event_age, Duration::from_secs(172_800));
        assert_eq!(c.webhooks.ready_max_failing, Duration::from_secs(1800));
        assert_eq!(c.webhooks.debounce, Duration::from_millis(200));
        assert_eq!(c.webhooks.read_interval, Duration::from_secs(1));
        assert_eq!(c.webhooks.retention_days, 7);
        assert_eq!(c.webhooks.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.webhooks.body_read_timeout, Duration::from_secs(10));
        assert_eq!(c.webhooks.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.webhooks.max_connections, 512);
        let with = |keys: &str| {
            Config::parse(
                &format!("{MINIMAL}[webhooks]\n{keys}\n"),
                &SecretEnv::default(),
            )
        };
        let c = with("listen = \"0.0.0.0:9000\"\nmax_event_age_secs = 86400").unwrap();
        assert_eq!(c.webhooks.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.webhooks.max_event_age, Duration::from_secs(86_400));
        let c = with(
            "header_read_timeout_secs = 2\nbody_read_timeout_secs = 3\nidle_timeout_secs = 4\nmax_connections = 5",
        )
        .unwrap();
        assert_eq!(c.webhooks.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.webhooks.body_read_timeout, Duration::from_secs(3));
        assert_eq!(c.webhooks.idle_timeout, Duration::from_secs(4));
        assert_eq!(c.webhooks.max_connections, 5);
        let c = with("debounce_ms = 0\nretention_days = 30").unwrap();
        assert_eq!(c.webhooks.debounce, Duration::ZERO);
        assert_eq!(c.webhooks.retention_days, 30);
        for (keys, needle) in [
            (
                "listen = \"localhost\"",
                "webhooks.listen: expected an address",
            ),
            ("path = \"hooks\"", "webhooks.path: expected a path"),
            ("path = \"/hooks/{id}\"", "webhooks.path: expected a path"),
            (
                "path = \"/metrics\"",
                "taken by the health and metrics endpoints",
            ),
            (
                "max_event_age_secs = 59",
                "webhooks.max_event_age_secs: expected seconds from 60",
            ),
            (
                "ready_max_failing_secs = 0",
                "webhooks.ready_max_failing_secs: expected seconds from 60",
            ),
            (
                "debounce_ms = 5001",
                "webhooks.debounce_ms: expected milliseconds from 0 to 5000, got 5001",
            ),
            (
                "read_interval_ms = 60001",
                "webhooks.read_interval_ms: expected milliseconds from 0 to 60000, got 60001",
            ),
            (
                "retention_days = 0",
                "webhooks.retention_days: expected days from 1 to 3650, got 0",
            ),
            (
                "header_read_timeout_secs = 0",
                "webhooks.header_read_timeout_secs: expected seconds from 1 to 300, got 0",
            ),
            (
                "body_read_timeout_secs = 301",
                "webhooks.body_read_timeout_secs: expected seconds from 1 to 300, got 301",
            ),
            (
                "idle_timeout_secs = 3601",
                "webhooks.idle_timeout_secs: expected seconds from 1 to 3600, got 3601",
            ),
            (
                "max_connections = 0",
                "webhooks.max_connections: expected connections from 1 to 65536, got 0",
            ),
            (
                "debounce_ms = -1",
                "webhooks.debounce_ms: expected a whole number of 0 or more, got -1",
            ),
        ] {
            let err = with(keys).unwrap_err().to_string();
            assert!(err.contains(needle), "{keys}: {err}");
        }
    }
}
