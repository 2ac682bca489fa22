//! The one request budget every caller of the Ecwid API shares.
//!
//! Ecwid limits requests per store (and per token), not per task, so pulls, webhook deltas
//! and pushes must draw from one bucket. A 429 pauses everybody until its `Retry-After` has
//! passed: letting other tasks keep sending would only earn more 429s.
//!
//! Requests someone waits for (stock pushes, webhook deltas) go ahead of bulk pulls: a bulk
//! request takes a token only while no urgent one waits, so a full pull of a big store
//! delays a shop's stock change by one request at most, not by the pull's whole backlog.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Who is asking for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Waited for: stock pushes, webhook deltas.
    Urgent,
    /// Scheduled pulls, which yield to urgent requests.
    Bulk,
}

/// Burst tokens held back. The server's bucket starts counting when our first request
/// arrives, and that one pays for the TCP (and TLS) handshake; later requests on warm
/// connections arrive relatively earlier, and with a budget equal to the server's they would
/// land a few milliseconds before its refill. Two tokens of margin cost 2/rate once and keep
/// a budget that matches the store's limit free of 429s.
pub const JITTER_MARGIN: u32 = 2;

pub struct Budget {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
    /// Urgent callers waiting for a token; bulk callers wait while there are any.
    urgent_waiting: AtomicUsize,
    urgent_gone: Notify,
}

/// Counts an urgent caller as waiting until it has its token or gives up (is dropped).
struct UrgentWaiting<'a>(&'a Budget);

impl<'a> UrgentWaiting<'a> {
    fn new(budget: &'a Budget) -> Self {
        budget.urgent_waiting.fetch_add(1, Ordering::SeqCst);
        UrgentWaiting(budget)
    }
}

impl Drop for UrgentWaiting<'_> {
    fn drop(&mut self) {
        if self.0.urgent_waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.urgent_gone.notify_waiters();
        }
    }
}

impl Budget {
    /// `per_minute` tokens refill evenly over a minute; `burst` may be spent at once, less a
    /// margin of [`JITTER_MARGIN`].
    pub fn new(per_minute: u32, burst: u32) -> Budget {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least one");
        let burst =
            NonZeroU32::new(burst.saturating_sub(JITTER_MARGIN).max(1)).expect("at least one");
        Budget {
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            paused_until: Mutex::new(None),
            urgent_waiting: AtomicUsize::new(0),
            urgent_gone: Notify::new(),
        }
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self, priority: Priority) {
        self.pause_over().await;
        match priority {
            Priority::Urgent => {
                let _waiting = UrgentWaiting::new(self);
                self.limiter.until_ready().await;
            }
            Priority::Bulk => loop {
                self.urgent_done().await;
                // Checked, not awaited: a bulk caller sleeping inside the limiter would take
                // the next token even if an urgent caller came meanwhile.
                match self.limiter.check() {
                    Ok(()) => return,
                    Err(not_until) => {
                        let wait = not_until.wait_time_from(DefaultClock::default().now());
                        tokio::time::sleep(wait).await;
                    }
                }
            },
        }
    }

    /// Returns once no urgent caller waits.
    async fn urgent_done(&self) {
        loop {
            let gone = self.urgent_gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if self.urgent_waiting.load(Ordering::SeqCst) == 0 {
                return;
            }
            gone.await;
        }
    }

    /// Returns once no pause holds the callers back (at once when there is none).
    pub async fn pause_over(&self) {
        loop {
            let pause = *self.paused_until.lock().expect("budget lock");
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
    }

    /// How long every caller is still held back for, if at all.
    pub fn pause_remaining(&self) -> Option<Duration> {
        let pause = *self.paused_until.lock().expect("budget lock");
        pause
            .map(|until| until.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Holds every caller back for `wait` (the server said it is over its limit).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().expect("budget lock");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn an_urgent_request_takes_the_next_token_before_waiting_bulk_ones() {
        // One token a second after the first: every request after it waits for a refill.
        let budget = Arc::new(Budget::new(60, 1 + JITTER_MARGIN));
        budget.acquire(Priority::Bulk).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (budget, order) = (budget.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                budget.acquire(Priority::Bulk).await;
                order.lock().unwrap().push(format!("bulk {i}"));
            }));
        }
        // The bulk callers are waiting for the refill when the urgent one arrives.
        tokio::task::yield_now().await;
        let (b, o) = (budget.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            b.acquire(Priority::Urgent).await;
            o.lock().unwrap().push("urgent".to_string());
        }));
        let first = loop {
            if let Some(first) = order.lock().unwrap().first().cloned() {
                break first;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(first, "urgent");
        for t in tasks {
            t.abort();
        }
    }
}
