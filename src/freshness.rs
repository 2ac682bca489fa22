//! Whether a kind's mirror is as fresh as its schedule promises: on time, late (no pull
//! succeeded for more than two of `sync.incremental_cron`'s intervals), failing (the last
//! pull failed after the last success) or never pulled, with the reason in plain words.
//! Decided from `sync_state` and the configuration alone, so the console and `status`
//! say the same.

use chrono::TimeZone;
use serde::Serialize;

use crate::config::{self, SyncConfig};
use crate::mirror::state::KindState;

/// What an operator needs to know first about a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshState {
    OnTime,
    /// No pull has succeeded for more than twice the schedule's interval, and none failed
    /// since: pulls are not running (the daemon stopped, a pass hangs).
    Late,
    /// The last pull failed after the last success.
    Failing,
    NeverPulled,
}

impl FreshState {
    /// The state as the console's badge shows it.
    pub fn label(self) -> &'static str {
        match self {
            FreshState::OnTime => "On time",
            FreshState::Late => "Late",
            FreshState::Failing => "Failing",
            FreshState::NeverPulled => "Never pulled",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Freshness {
    pub state: FreshState,
    /// When the last pull, incremental or full, finished (unix seconds).
    pub last_success: Option<i64>,
    /// The interval of `sync.incremental_cron` around the last success (or now, before
    /// the first).
    pub expected_every_secs: i64,
    /// The state in plain words, e.g. "last pulled 3 min ago; pulls every 5 min".
    pub reason: String,
}

/// How fresh the kind whose `sync_state` row is `kind_state` is at `now` (unix seconds).
pub fn freshness(kind_state: &KindState, sync: &SyncConfig, now: i64) -> Freshness {
    let last_success = kind_state.last_success();
    let every = interval_secs(&sync.incremental_cron, last_success.unwrap_or(now));
    let schedule = format!("pulls every {}", span(every));
    let pulled = |at: i64| format!("last pulled {}", ago(now, at));
    let failed_after_success = match (&kind_state.last_error, kind_state.last_error_at) {
        (Some(error), Some(at)) if last_success.is_none_or(|s| at > s) => Some((error, at)),
        _ => None,
    };
    let (state, reason) = if let Some((error, at)) = failed_after_success {
        let since = match last_success {
            Some(s) => format!("{}, {schedule}", pulled(s)),
            None => "never pulled yet".to_string(),
        };
        (
            FreshState::Failing,
            format!(
                "failing: the last pull failed {}: {error}; {since}",
                ago(now, at)
            ),
        )
    } else {
        match last_success {
            None => (
                FreshState::NeverPulled,
                format!("never pulled yet; {schedule}"),
            ),
            Some(s) if now - s > 2 * every => (
                FreshState::Late,
                format!("late: {}, pulls run every {}", pulled(s), span(every)),
            ),
            Some(s) => (FreshState::OnTime, format!("{}; {schedule}", pulled(s))),
        }
    };
    Freshness {
        state,
        last_success,
        expected_every_secs: every,
        reason,
    }
}

/// The time between the two runs of `cron` that follow `at`, in the local time the
/// scheduler keeps. A schedule the configuration let through always has them; one that
/// does not parse (never from a validated configuration) counts as every minute, the
/// default.
pub fn interval_secs(cron: &str, at: i64) -> i64 {
    const DEFAULT: i64 = 60;
    let Ok(cron) = config::parse_cron(cron) else {
        return DEFAULT;
    };
    let Some(start) = chrono::Local.timestamp_opt(at, 0).single() else {
        return DEFAULT;
    };
    let first = cron.find_next_occurrence(&start, false);
    let second = first
        .as_ref()
        .ok()
        .and_then(|first| cron.find_next_occurrence(first, false).ok());
    match (first, second) {
        (Ok(first), Some(second)) => (second - first).num_seconds().max(1),
        _ => DEFAULT,
    }
}

/// How long before `now` `at` was, in words.
fn ago(now: i64, at: i64) -> String {
    let secs = now - at;
    if secs < 5 {
        return "just now".to_string();
    }
    format!("{} ago", span(secs))
}

/// A length of time as people say it: "30 s", "5 min", "2 h", "3 days".
fn span(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3_600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3_600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(cron: &str) -> SyncConfig {
        let text = format!(
            "[ecwid]\nstore_id = 1003\ntoken = \"secret_abc\"\n[mirror]\npath = \"m.db\"\n[sync]\nincremental_cron = \"{cron}\"\n"
        );
        crate::config::Config::parse(&text, &crate::config::SecretEnv::default())
            .unwrap()
            .sync
    }

    const NOW: i64 = 1_780_000_000;

    fn state(incremental: Option<i64>, full: Option<i64>, error: Option<(&str, i64)>) -> KindState {
        KindState {
            last_incremental: incremental,
            last_full_finished: full,
            last_error: error.map(|(e, _)| e.to_string()),
            last_error_at: error.map(|(_, at)| at),
            ..KindState::default()
        }
    }

    #[test]
    fn each_state_follows_from_the_last_success_the_last_error_and_the_schedule() {
        let every_five = sync("0 */5 * * * *");
        let cases = [
            (
                state(Some(NOW - 180), None, None),
                FreshState::OnTime,
                "last pulled 3 min ago; pulls every 5 min",
            ),
            (
                // A full pull counts as much as an incremental one.
                state(Some(NOW - 3_000), Some(NOW - 60), None),
                FreshState::OnTime,
                "last pulled 1 min ago; pulls every 5 min",
            ),
            (
                state(Some(NOW - 2_400), None, None),
                FreshState::Late,
                "late: last pulled 40 min ago, pulls run every 5 min",
            ),
            (
                state(
                    Some(NOW - 2_400),
                    None,
                    Some(("Ecwid answered 503", NOW - 120)),
                ),
                FreshState::Failing,
                "failing: the last pull failed 2 min ago: Ecwid answered 503; last pulled 40 min ago, pulls every 5 min",
            ),
            (
                // An error older than the last success was recovered from.
                state(
                    Some(NOW - 60),
                    None,
                    Some(("Ecwid answered 503", NOW - 400)),
                ),
                FreshState::OnTime,
                "last pulled 1 min ago; pulls every 5 min",
            ),
            (
                state(None, None, Some(("cannot reach Ecwid", NOW - 2))),
                FreshState::Failing,
                "failing: the last pull failed just now: cannot reach Ecwid; never pulled yet",
            ),
            (
                state(None, None, None),
                FreshState::NeverPulled,
                "never pulled yet; pulls every 5 min",
            ),
        ];
        for (kind_state, expected, reason) in cases {
            let f = freshness(&kind_state, &every_five, NOW);
            assert_eq!((f.state, f.reason.as_str()), (expected, reason));
            assert_eq!(f.expected_every_secs, 300);
        }
    }

    #[test]
    fn late_means_more_than_twice_the_schedules_interval() {
        let every_minute = sync("0 * * * * *");
        let at = |ago| freshness(&state(Some(NOW - ago), None, None), &every_minute, NOW);
        assert_eq!(at(120).state, FreshState::OnTime);
        assert_eq!(at(121).state, FreshState::Late);
        let hourly = sync("0 0 * * * *");
        let f = freshness(&state(Some(NOW - 5_000), None, None), &hourly, NOW);
        assert_eq!(
            (f.state, f.expected_every_secs, f.reason.as_str()),
            (
                FreshState::OnTime,
                3_600,
                "last pulled 1 h ago; pulls every 1 h"
            )
        );
    }
}
