//! `[push]`: how local changes in the mirror go to Ecwid.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, as_millis, as_secs, positive_secs, within};

#[derive(Clone, Debug, Serialize)]
pub struct PushConfig {
    /// How often the pusher looks for local changes when it has nothing on its way: half of
    /// it is the mean wait a change adds before it is sent.
    #[serde(rename = "poll_interval_ms", serialize_with = "as_millis")]
    pub poll_interval: Duration,
    /// How long Ecwid remembers a batch's deduplication key (one hour). A batch is sent again
    /// with its key only within it; lower only for an emulated store with a shorter memory.
    #[serde(rename = "key_lifetime_secs", serialize_with = "as_secs")]
    pub key_lifetime: Duration,
    /// How long changes Ecwid applied stay in `outbox` before they are pruned.
    pub keep_applied_days: u32,
    /// Whether a tool's `DELETE FROM products` deletes the product in Ecwid. Off by default:
    /// deletion is destructive, and the default must never lose a product.
    pub deletes: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        RawPush::default()
            .validate()
            .expect("the defaults are valid")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPush {
    poll_interval_ms: Option<u64>,
    key_lifetime_secs: Option<u64>,
    keep_applied_days: Option<u32>,
    deletes: Option<bool>,
}

impl RawPush {
    pub(super) fn validate(self) -> Result<PushConfig, ConfigError> {
        Ok(PushConfig {
            poll_interval: Duration::from_millis(within(
                "push.poll_interval_ms",
                self.poll_interval_ms.unwrap_or(250),
                50..=60_000,
                "milliseconds",
                "",
            )?),
            key_lifetime: positive_secs("push.key_lifetime_secs", self.key_lifetime_secs, 3600)?,
            keep_applied_days: within(
                "push.keep_applied_days",
                self.keep_applied_days.unwrap_or(30),
                1..=3650,
                "days",
                "",
            )?,
            deletes: self.deletes.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_settings_have_defaults_and_each_bad_value_names_its_key() {
        let c = PushConfig::default();
        assert_eq!(c.poll_interval, Duration::from_millis(250));
        assert_eq!(c.key_lifetime, Duration::from_secs(3600));
        assert_eq!(c.keep_applied_days, 30);
        assert!(!c.deletes, "deleting products is opt-in");
        let bad = [
            (
                RawPush {
                    poll_interval_ms: Some(10),
                    ..RawPush::default()
                },
                "push.poll_interval_ms: expected milliseconds from 50 to 60000, got 10",
            ),
            (
                RawPush {
                    key_lifetime_secs: Some(7200),
                    ..RawPush::default()
                },
                "push.key_lifetime_secs: expected seconds from 1 to 3600, got 7200",
            ),
            (
                RawPush {
                    keep_applied_days: Some(0),
                    ..RawPush::default()
                },
                "push.keep_applied_days: expected days from 1 to 3650, got 0",
            ),
        ];
        for (raw, message) in bad {
            let err = raw.validate().unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}
