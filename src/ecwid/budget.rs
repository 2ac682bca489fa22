//! The one request budget every caller of the Ecwid API shares.
//!
//! Ecwid limits requests per store (and per token), not per task, so pulls, webhook deltas
//! and pushes must draw from one bucket. A 429 pauses everybody until its `Retry-After` has
//! passed: letting other tasks keep sending would only earn more 429s.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Burst tokens held back. The server's bucket starts counting when our first request
/// arrives, and that one pays for the TCP (and TLS) handshake; later requests on warm
/// connections arrive relatively earlier, and with a budget equal to the server's they would
/// land a few milliseconds before its refill. Two tokens of margin cost 2/rate once and keep
/// a budget that matches the store's limit free of 429s.
pub const JITTER_MARGIN: u32 = 2;

pub struct Budget {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
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
        }
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        loop {
            let pause = *self.paused_until.lock().expect("budget lock");
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
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
