//! The per-store token bucket: `per_minute` refill with `burst` capacity (governor's GCRA).

use std::num::NonZeroU32;

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

#[cfg(test)]
mod tests {
    use super::*;

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
