//! `[log]`: the format and the level or filter.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

impl RawLog {
    pub(super) fn validate(self) -> Result<LogConfig, ConfigError> {
        let level = self.level.unwrap_or_else(|| "info".to_string());
        check_level("log.level", &level)?;
        Ok(LogConfig {
            format: self.format.unwrap_or(LogFormat::Text),
            level,
        })
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A level, or a filter of `target=level` directives. `EnvFilter` alone would take an
/// unknown word such as `verbose` for a target name and log nothing of ecwid-sync.
pub fn check_level(key: &'static str, filter: &str) -> Result<(), ConfigError> {
    let is_level = |word: &str| LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    let expected = "expected a level (off, error, warn, info, debug, trace) or a filter such as \"info,ecwid_sync=debug\"";
    for directive in filter.split(',').map(str::trim) {
        let ok = match directive.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(directive),
        };
        if !ok {
            return Err(invalid(key, format!("{expected}, got {directive:?}")));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| invalid(key, format!("{expected} ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_level_that_is_not_a_level_names_the_valid_ones() {
        for good in [
            "info",
            "DEBUG",
            "warn,ecwid_sync=trace",
            "ecwid_sync::sync=debug",
        ] {
            check_level("log.level", good).unwrap();
        }
        for (bad, shown) in [
            ("verbose", "\"verbose\""),
            ("info,ecwid_sync=loud", "\"ecwid_sync=loud\""),
            ("", "\"\""),
        ] {
            let err = check_level("log.level", bad).unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "log.level: expected a level (off, error, warn, info, debug, trace)"
                ) && err.ends_with(&format!("got {shown}")),
                "{bad}: {err}"
            );
        }
    }
}
