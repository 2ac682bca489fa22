//! Progress of a long pull: a bar on a terminal, periodic log lines otherwise (journald has
//! no use for carriage returns).
//!
//! Rate and ETA come from the last few seconds, not from the start: a pull begins with the
//! request budget's burst and then runs at the rate limit, so the average since the start
//! promises an end long before it comes.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::style::ProgressTracker;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use super::Kind;

const LOG_EVERY: Duration = Duration::from_secs(10);

/// How far back the rate looks: long enough to smooth out pages arriving in clumps, short
/// enough to forget the burst within seconds.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Redraws the bar while no page arrives (waiting out throttling), so the ETA keeps moving.
const REDRAW_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines when it is not.
    Auto,
    /// Log lines only (the daemon under systemd, tests).
    Log,
}

/// How fast items were done over the last [`RATE_WINDOW`], from samples of the count.
#[derive(Clone, Debug, Default)]
pub struct RecentRate {
    /// Oldest first; the first one is at least a window old once there is that much.
    samples: VecDeque<(Instant, u64)>,
    /// Whether anything was done since the first sample: before that, no rate is a wait
    /// for the first page, not a stall.
    moved: bool,
}

impl RecentRate {
    pub fn record(&mut self, now: Instant, done: u64) {
        self.moved |= self.samples.front().is_some_and(|&(_, first)| done > first);
        self.samples.push_back((now, done));
        while self.samples.len() > 2
            && now.saturating_duration_since(self.samples[1].0) >= RATE_WINDOW
        {
            self.samples.pop_front();
        }
    }

    /// Items per second; `None` until two samples lie apart in time.
    pub fn per_sec(&self) -> Option<f64> {
        let (&(from, done_then), &(to, done_now)) = (self.samples.front()?, self.samples.back()?);
        let secs = to.saturating_duration_since(from).as_secs_f64();
        (secs > 0.0).then(|| done_now.saturating_sub(done_then) as f64 / secs)
    }

    /// How long `remaining` items take at the recent rate; `None` while it is unknown or 0.
    pub fn eta(&self, remaining: u64) -> Option<Duration> {
        let rate = self.per_sec().filter(|r| *r > 0.0)?;
        Some(Duration::from_secs_f64(remaining as f64 / rate))
    }

    /// `1,000/s, ETA 14s` as the bar shows it.
    fn describe(&self, remaining: u64) -> String {
        match (self.per_sec(), self.eta(remaining)) {
            (Some(rate), Some(eta)) => format!(
                "{}/s, ETA {:#}",
                indicatif::HumanCount(rate.round() as u64),
                indicatif::HumanDuration(eta)
            ),
            (Some(_), None) if self.moved => "stalled".to_string(),
            _ => String::new(),
        }
    }
}

/// The bar's `{recent}` key: fed every position the bar draws, so the rate is the bar's own.
impl ProgressTracker for RecentRate {
    fn clone_box(&self) -> Box<dyn ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, state: &ProgressState, now: Instant) {
        self.record(now, state.pos());
    }

    fn reset(&mut self, state: &ProgressState, now: Instant) {
        *self = RecentRate::default();
        self.record(now, state.pos());
    }

    fn write(&self, state: &ProgressState, w: &mut dyn std::fmt::Write) {
        let remaining = state.len().unwrap_or(0).saturating_sub(state.pos());
        let _ = w.write_str(&self.describe(remaining));
    }
}

pub struct Progress {
    kind: Kind,
    bar: Option<ProgressBar>,
    done: u64,
    total: u64,
    rate: RecentRate,
    last_log: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode, kind: Kind) -> Progress {
        let bar = (mode == ProgressMode::Auto && std::io::stderr().is_terminal()).then(|| {
            // No length until the first page says the total: a bar of 0/0 would look done.
            let bar = ProgressBar::no_length();
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {human_pos}/{human_len} {recent}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("recent", RecentRate::default())
                .progress_chars("=> "),
            );
            bar.set_prefix(kind.name());
            bar.enable_steady_tick(REDRAW_EVERY);
            bar
        });
        let now = Instant::now();
        let mut rate = RecentRate::default();
        rate.record(now, 0);
        Progress {
            kind,
            bar,
            done: 0,
            total: 0,
            rate,
            last_log: now,
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Starts from what an interrupted full pull had already committed; only what this run
    /// does counts towards its rate.
    pub fn resume_at(&mut self, done: u64) {
        self.done = done;
        self.rate = RecentRate::default();
        self.rate.record(Instant::now(), done);
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.reset_eta();
        }
    }

    pub fn advance(&mut self, items: u64) {
        self.done += items;
        if let Some(bar) = &self.bar {
            bar.inc(items);
            return;
        }
        let now = Instant::now();
        self.rate.record(now, self.done);
        if now.duration_since(self.last_log) >= LOG_EVERY {
            self.last_log = now;
            let remaining = self.total.saturating_sub(self.done);
            tracing::info!(
                kind = self.kind.name(),
                done = self.done,
                total = self.total,
                per_sec = self.rate.per_sec().unwrap_or(0.0).round() as u64,
                eta_secs = self.rate.eta(remaining).map_or(0, |d| d.as_secs()),
                "full pull progress"
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pull of 30,000 items: 10,000 in the first 3 s (the request budget's burst), then
    /// 1,000 a second (the rate limit), sampled as pages of 100 arrive.
    fn burst_then_limit(until: Duration) -> (RecentRate, u64) {
        let start = Instant::now();
        let mut rate = RecentRate::default();
        let (mut t, mut done) = (Duration::ZERO, 0);
        rate.record(start, 0);
        while t < until {
            let per_page = if done < 10_000 {
                Duration::from_millis(30)
            } else {
                Duration::from_millis(100)
            };
            t += per_page;
            done += 100;
            rate.record(start + t, done);
        }
        (rate, done)
    }

    #[test]
    fn the_eta_follows_the_rate_limit_once_the_burst_is_over() {
        let (rate, done) = burst_then_limit(Duration::from_secs(12));
        let remaining = 30_000 - done;
        let eta = rate.eta(remaining).unwrap().as_secs_f64();
        let at_the_limit = remaining as f64 / 1000.0;
        assert!(
            (eta - at_the_limit).abs() < 0.5,
            "eta {eta:.1} s, the limit leaves {at_the_limit:.1} s"
        );
        // The average since the start would promise the end far too early.
        let average_eta = remaining as f64 / (done as f64 / 12.0);
        assert!(average_eta < at_the_limit * 0.8, "{average_eta}");
    }

    #[test]
    fn a_stall_shows_as_no_progress_rather_than_an_old_rate() {
        let (mut rate, done) = burst_then_limit(Duration::from_secs(4));
        let last = *rate.samples.back().map(|(t, _)| t).unwrap();
        rate.record(last + RATE_WINDOW * 2, done);
        assert_eq!(rate.per_sec(), Some(0.0));
        assert_eq!(rate.eta(1000), None);
        assert_eq!(rate.describe(1000), "stalled");
    }

    #[test]
    fn nothing_is_promised_before_the_first_page() {
        let mut rate = RecentRate::default();
        assert_eq!(rate.per_sec(), None);
        let start = Instant::now();
        rate.record(start, 0);
        assert_eq!(rate.eta(100), None);
        assert_eq!(rate.describe(100), "");
        rate.record(start + Duration::from_secs(1), 0);
        assert_eq!(rate.describe(100), "", "waiting, not stalled");
    }
}
