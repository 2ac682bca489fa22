//! One log line per interval for an event that may repeat by the thousand (refused
//! webhooks, failed accepts), with how many there were since the last line.
//!
//! journald keeps at most 10,000 messages per 30 s of a service by default; a flood logged
//! line by line would make it drop the daemon's real errors. The metrics still count each
//! event.

use std::time::{Duration, Instant};

/// How often a repeated event is logged at most.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// The log lines of one repeated event.
#[derive(Debug)]
pub struct Summary {
    interval: Duration,
    last_line: Option<Instant>,
    since_line: u64,
}

impl Summary {
    pub fn new(interval: Duration) -> Summary {
        Summary {
            interval,
            last_line: None,
            since_line: 0,
        }
    }

    /// Counts one event at `now`. `Some(count)` when this event is to be logged: the first
    /// one, and then the first one once `interval` has passed since the last line; `count`
    /// is how many there were since that line, this one included.
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.since_line += 1;
        let due = self
            .last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.since_line))
    }

    /// The count held back since the last line, once `interval` has passed since it, for a
    /// line of its own: a flood that stops is still reported.
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_line
            .is_some_and(|last| now.saturating_duration_since(last) >= self.interval);
        if !due || self.since_line == 0 {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.since_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_is_logged_then_one_line_per_interval_with_the_count_since_the_last() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut summary = Summary::new(Duration::from_secs(60));
        assert_eq!(summary.note(at(0)), Some(1));
        for ms in 1..=1000 {
            assert_eq!(summary.note(at(ms)), None, "{ms}");
        }
        assert_eq!(summary.note(at(59_999)), None);
        // The 1,000 held back, the one at 59.999 s and this one.
        assert_eq!(summary.note(at(60_000)), Some(1002));
        assert_eq!(summary.note(at(60_001)), None);
        // After a quiet spell, the next one is logged at once, counted with what was held.
        assert_eq!(summary.note(at(600_000)), Some(2));
        assert_eq!(summary.note(at(600_000)), None);
    }

    #[test]
    fn what_was_held_back_is_flushed_once_the_interval_has_passed_and_only_then() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut summary = Summary::new(Duration::from_secs(60));
        assert_eq!(summary.flush(at(0)), None, "nothing yet");
        assert_eq!(summary.note(at(0)), Some(1));
        assert_eq!(summary.note(at(1_000)), None);
        assert_eq!(summary.note(at(2_000)), None);
        assert_eq!(summary.flush(at(30_000)), None, "within the interval");
        assert_eq!(summary.flush(at(60_000)), Some(2));
        assert_eq!(summary.flush(at(300_000)), None, "nothing held back");
        // The flushed line counts as a line: the next event waits for the interval.
        let mut summary = Summary::new(Duration::from_secs(60));
        summary.note(at(0));
        summary.note(at(1_000));
        assert_eq!(summary.flush(at(60_000)), Some(1));
        assert_eq!(summary.note(at(60_001)), None);
        assert_eq!(summary.flush(at(120_000)), Some(1));
    }
}
