//! `[sync]`: the kinds mirrored and the pull schedules.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, as_secs, invalid, within};
use crate::kind::Kind;

#[derive(Clone, Debug, Serialize)]
pub struct SyncConfig {
    pub kinds: Vec<Kind>,
    pub incremental_cron: String,
    pub full_cron: String,
    #[serde(rename = "overlap_secs", serialize_with = "as_secs")]
    pub overlap: Duration,
    /// How long Ecwid's search may take to show a write (contract 17.2): a cursor or a
    /// latest-stats value counts as pulled only once it is older than this.
    #[serde(rename = "search_lag_secs", serialize_with = "as_secs")]
    pub search_lag: Duration,
    /// How many pages a full pull fetches ahead of the one being written.
    pub fetch_ahead: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    kinds: Option<Vec<String>>,
    incremental_cron: Option<String>,
    full_cron: Option<String>,
    overlap_secs: Option<u64>,
    search_lag_secs: Option<u64>,
    fetch_ahead: Option<usize>,
}

impl RawSync {
    pub(super) fn validate(self) -> Result<SyncConfig, ConfigError> {
        let kinds = match self.kinds {
            None => vec![Kind::Products, Kind::Categories, Kind::Orders],
            Some(names) => parse_kinds("sync.kinds", &names)?,
        };
        let incremental_cron = self
            .incremental_cron
            .unwrap_or_else(|| "0 * * * * *".to_string());
        check_cron("sync.incremental_cron", &incremental_cron)?;
        let full_cron = self.full_cron.unwrap_or_else(|| "0 30 3 * * *".to_string());
        check_cron("sync.full_cron", &full_cron)?;
        let day_secs = |key, value: Option<u64>, default| {
            within(
                key,
                value.unwrap_or(default),
                0..=86_400,
                "seconds",
                " (one day)",
            )
            .map(Duration::from_secs)
        };
        Ok(SyncConfig {
            kinds,
            incremental_cron,
            full_cron,
            overlap: day_secs("sync.overlap_secs", self.overlap_secs, 60)?,
            search_lag: day_secs("sync.search_lag_secs", self.search_lag_secs, 120)?,
            fetch_ahead: within(
                "sync.fetch_ahead",
                self.fetch_ahead.unwrap_or(4),
                1..=16,
                "an integer",
                "",
            )?,
        })
    }
}

pub fn parse_kinds(key: &'static str, names: &[impl AsRef<str>]) -> Result<Vec<Kind>, ConfigError> {
    let mut kinds = Vec::new();
    for name in names {
        let name = name.as_ref().trim();
        let kind: Kind = name.parse().map_err(|_| {
            invalid(
                key,
                format!(
                    "unknown kind {name:?}; expected some of products, categories, orders, customers"
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(invalid(key, "must name at least one kind"));
    }
    Ok(kinds)
}

/// Parses a six-field cron expression (seconds first) the way the scheduler will.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
}

fn check_cron(key: &'static str, expr: &str) -> Result<(), ConfigError> {
    let cron = parse_cron(expr).map_err(|e| {
        invalid(
            key,
            format!("invalid cron expression {expr:?} ({e}); expected six fields: sec min hour day month weekday, e.g. \"0 * * * * *\""),
        )
    })?;
    // A schedule that parses but matches no date (31 February) would start a daemon that
    // never pulls, healthy in every probe while the mirror ages.
    if cron
        .find_next_occurrence(&chrono::Local::now(), false)
        .is_err()
    {
        return Err(invalid(
            key,
            format!(
                "cron expression {expr:?} never fires: no date has that day and month (such as 31 February); choose a day the month has"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use super::super::{Config, SecretEnv};

    #[test]
    fn sync_settings_name_their_key_when_out_of_bounds() {
        let with = |keys: &str| {
            Config::parse(&format!("{MINIMAL}[sync]\n{keys}\n"), &SecretEnv::default())
        };
        for (keys, expected) in [
            (
                "overlap_secs = 86401",
                "sync.overlap_secs: expected seconds from 0 to 86400 (one day), got 86401",
            ),
            (
                "search_lag_secs = 90000",
                "sync.search_lag_secs: expected seconds from 0 to 86400 (one day), got 90000",
            ),
            (
                "fetch_ahead = 0",
                "sync.fetch_ahead: expected an integer from 1 to 16, got 0",
            ),
            ("kinds = []", "sync.kinds: must name at least one kind"),
            (
                "full_cron = \"0 0 0 31 2 *\"",
                "sync.full_cron: cron expression \"0 0 0 31 2 *\" never fires: no date has that day and month (such as 31 February); choose a day the month has",
            ),
            (
                "incremental_cron = \"0 0 12 31 4,6,9,11 *\"",
                "sync.incremental_cron: cron expression \"0 0 12 31 4,6,9,11 *\" never fires",
            ),
        ] {
            let err = with(keys).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{keys}: {err}");
        }
        // Rare is not never: 29 February and Friday the 13th come.
        with("full_cron = \"0 0 0 29 2 *\"\nincremental_cron = \"0 0 0 13 * 5\"").unwrap();
        let c = with("kinds = [\"orders\", \"orders\"]\noverlap_secs = 0").unwrap();
        assert_eq!(c.sync.kinds, vec![crate::kind::Kind::Orders]);
    }
}
