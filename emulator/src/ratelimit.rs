//! The per-store token bucket: `per_minute` refill with `burst` capacity (governor's GCRA),
//! and the cool-down every 429 announces with its `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

use crate::RateLimit;

pub struct RateLimiter {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        RateLimiter {
            limiter: DefaultDirectRateLimiter::direct(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds)` when the bucket is empty: the whole seconds until one request fits,
    /// at least 1, for the `Retry-After` header.
    pub fn check(&self) -> Result<(), u64> {
        self.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs_f64().ceil() as u64).max(1)
        })
    }
}

/// The end of the latest `Retry-After` the store announced. A request that arrives before
/// it is refused too (and counted as early): the platform keeps refusing a client that does
/// not wait, so only a client that honours `Retry-After` gets through.
#[derive(Default)]
pub struct Cooldown {
    until: Mutex<Option<Instant>>,
}

impl Cooldown {
    /// Records a 429 answered now with `Retry-After: secs`.
    pub fn announce(&self, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_none_or(|u| u < end) {
            *until = Some(end);
        }
    }

    /// Whole seconds (at least 1) left of the cool-down, or `None` once it has passed.
    pub fn remaining(&self) -> Option<u64> {
        let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
        let left = until?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then(|| (left.as_secs_f64().ceil() as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cooldown_lasts_as_announced() {
        let c = Cooldown::default();
        assert_eq!(c.remaining(), None);
        c.announce(90);
        assert!((89..=90).contains(&c.remaining().unwrap()));
        c.announce(1);
        assert!(
            c.remaining().unwrap() > 1,
            "a shorter announce does not cut it"
        );
    }

    #[test]
    fn burst_then_refusal_with_a_retry_hint() {
        let rl = RateLimiter::new(RateLimit {
            per_minute: 60,
            burst: 5,
        });
        for _ in 0..5 {
            assert!(rl.check().is_ok());
        }
        let retry = rl.check().unwrap_err();
        assert!((1..=2).contains(&retry), "{retry}");
    }
}
