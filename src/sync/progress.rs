//! Progress of a long pull: a bar on a terminal, periodic log lines otherwise (journald has
//! no use for carriage returns).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::Kind;

const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines when it is not.
    Auto,
    /// Log lines only (the daemon under systemd, tests).
    Log,
}

pub struct Progress {
    kind: Kind,
    bar: Option<ProgressBar>,
    done: u64,
    total: u64,
    /// Done by an earlier, interrupted run; not part of this run's rate.
    resumed_at: u64,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode, kind: Kind) -> Progress {
        let bar = (mode == ProgressMode::Auto && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {human_pos}/{human_len} {rate} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
            );
            bar.set_prefix(kind.name());
            bar
        });
        let now = Instant::now();
        Progress {
            kind,
            bar,
            done: 0,
            total: 0,
            resumed_at: 0,
            started: now,
            last_log: now,
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Starts from what an interrupted full pull had already committed.
    pub fn resume_at(&mut self, done: u64) {
        self.done = done;
        self.resumed_at = done;
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
        if self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let rate = (self.done - self.resumed_at) as f64 / secs;
            let eta = if rate > 0.0 {
                (self.total.saturating_sub(self.done) as f64 / rate).round() as u64
            } else {
                0
            };
            tracing::info!(
                kind = self.kind.name(),
                done = self.done,
                total = self.total,
                per_sec = rate.round() as u64,
                eta_secs = eta,
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
