//! How long to wait while the store answers 429 Too Many Requests, and when to give up.
//!
//! Throttling is the store saying "later", not an error: it is waited out, and it does not
//! use the retries meant for failures (5xx, network). Ecwid's `Retry-After` is the store's
//! own statement of when to come back, so each wait is what it says plus a little jitter,
//! never less. The wait grows (doubling, up to the longest wait) only when there is no
//! `Retry-After` to go by, or when the store keeps throttling well past what it announced
//! (a token that keeps hitting a longer limit is cooled down for longer). Only when the
//! throttling would outlast a bound does the request fail. Time and chance are passed in,
//! so the schedule is tested without a clock.

use std::time::Duration;

use tokio::time::Instant;

/// The wait before the first retry when a 429 names no `Retry-After` (contract section 3).
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// The store's `Retry-After` is trusted as it stands until the throttling has lasted this
/// many times what it announces, and at least [`TRUSTED_AT_LEAST`]: a storm of short
/// cool-downs then costs what the store asked, while a store that keeps refusing for
/// half a minute is asked less and less often.
const TRUSTED_ROUNDS: u32 = 10;
const TRUSTED_AT_LEAST: Duration = Duration::from_secs(30);

/// The most jitter added to a wait: a tenth of it, at most this. Only ever added, so a
/// request is never sent before the store's `Retry-After` has passed.
const JITTER_AT_MOST: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    /// The longest single wait: the doubling stops here, and a `Retry-After` longer than
    /// this fails at once (`ecwid.max_retry_after_secs`).
    pub max_wait: Duration,
    /// How long the throttling may go on before a request fails
    /// (`ecwid.max_throttled_secs`).
    pub max_throttled: Duration,
}

/// A run of 429 answers, from the first one to the next answer that is not a 429.
#[derive(Clone, Copy, Debug)]
struct Spell {
    since: Instant,
    answers: u64,
    /// The latest wait before its jitter: what a growing wait doubles.
    last_wait: Duration,
    /// When the latest wait ends. A 429 before then answers a request that was already on
    /// its way (callers sharing the client send at once): it does not make the wait grow.
    resume_at: Instant,
}

impl Spell {
    /// Whether the store has kept throttling well past what it announces: its
    /// `Retry-After` is honoured, but no longer taken as the whole story.
    fn outlasts(&self, now: Instant, asked: Duration) -> bool {
        now.saturating_duration_since(self.since) > (asked * TRUSTED_ROUNDS).max(TRUSTED_AT_LEAST)
    }
}

/// What to do after a 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hold every request back this long, then try again. `first` when this 429 started
    /// the throttling.
    Wait { wait: Duration, first: bool },
    /// The store asked for a pause longer than `max_wait`: nothing is sent before it has
    /// passed, and the request fails now.
    TooLongPause { wait: Duration },
    /// Waiting `wait` more would take the throttling past `max_throttled`; the request fails.
    GiveUp {
        wait: Duration,
        throttled_for: Duration,
        answers: u64,
    },
}

/// How a run of 429 answers ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpellEnded {
    pub lasted: Duration,
    pub answers: u64,
}

/// The throttling state shared by every caller of one client.
#[derive(Debug, Default)]
pub struct Throttle {
    spell: Option<Spell>,
}

impl Throttle {
    /// Records a 429 answered at `now` with `retry_after`, and decides. `chance` in [0, 1]
    /// picks the jitter (a fresh random number per call in the client).
    pub fn on_throttled(
        &mut self,
        now: Instant,
        retry_after: Option<Duration>,
        chance: f64,
        policy: &ThrottlePolicy,
    ) -> Verdict {
        let first = self.spell.is_none();
        let spell = self.spell.get_or_insert(Spell {
            since: now,
            answers: 0,
            last_wait: Duration::ZERO,
            resume_at: now,
        });
        spell.answers += 1;
        if let Some(asked) = retry_after.filter(|asked| *asked > policy.max_wait) {
            return Verdict::TooLongPause { wait: asked };
        }
        let asked = retry_after.unwrap_or_default();
        let wait = if now < spell.resume_at {
            asked.max(spell.resume_at - now)
        } else {
            let base = match retry_after {
                Some(asked) if !spell.outlasts(now, asked) => asked,
                _ => (spell.last_wait * 2)
                    .max(FIRST_WAIT)
                    .min(policy.max_wait)
                    .max(asked),
            };
            spell.last_wait = base;
            with_jitter(base, chance, policy.max_wait)
        };
        spell.resume_at = spell.resume_at.max(now + wait);
        let throttled_for = now.saturating_duration_since(spell.since);
        if throttled_for + wait > policy.max_throttled {
            return Verdict::GiveUp {
                wait,
                throttled_for,
                answers: spell.answers,
            };
        }
        Verdict::Wait { wait, first }
    }

    /// Whether a run of 429 answers is going on.
    pub fn is_throttled(&self) -> bool {
        self.spell.is_some()
    }

    /// Records an answer other than 429: the throttling, if any, is over.
    pub fn on_answer(&mut self, now: Instant) -> Option<SpellEnded> {
        self.spell.take().map(|spell| SpellEnded {
            lasted: now.saturating_duration_since(spell.since),
            answers: spell.answers,
        })
    }
}

/// `wait` plus up to a tenth of it (at most [`JITTER_AT_MOST`]), kept within the longest
/// wait unless `wait` itself is longer: never less than `wait`.
fn with_jitter(wait: Duration, chance: f64, max_wait: Duration) -> Duration {
    let spread = (wait / 10).min(JITTER_AT_MOST);
    (wait + spread.mul_f64(chance.clamp(0.0, 1.0)))
        .min(max_wait)
        .max(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        max_wait: Duration::from_secs(60),
        max_throttled: Duration::from_secs(900),
    };

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The waits, without jitter, of a store that answers 429 with `retry_after` every time
    /// it is asked.
    fn waits(
        retry_after: Option<Duration>,
        answers: usize,
        policy: &ThrottlePolicy,
    ) -> Vec<Verdict> {
        let mut throttle = Throttle::default();
        let mut now = Instant::now();
        (0..answers)
            .map(|_| {
                let verdict = throttle.on_throttled(now, retry_after, 0.0, policy);
                if let Verdict::Wait { wait, .. } = verdict {
                    now += wait;
                }
                verdict
            })
            .collect()
    }

    fn wait_secs(verdicts: &[Verdict]) -> Vec<u64> {
        verdicts
            .iter()
            .map(|v| match v {
                Verdict::Wait { wait, .. } => wait.as_secs(),
                other => panic!("expected a wait, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_short_retry_after_is_waited_as_asked_until_the_throttling_outlasts_it_well() {
        let verdicts = waits(Some(secs(1)), 38, &POLICY);
        let waited = wait_secs(&verdicts);
        // Thirty seconds of the store's own word, then growth up to the longest wait.
        assert_eq!(waited[..31], [1; 31]);
        assert_eq!(waited[31..], [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(
            verdicts[0],
            Verdict::Wait {
                wait: secs(1),
                first: true
            }
        );
        assert!(
            verdicts[1..]
                .iter()
                .all(|v| matches!(v, Verdict::Wait { first: false, .. }))
        );
    }

    #[test]
    fn a_storm_of_fifteen_one_second_answers_costs_fifteen_seconds() {
        let total: u64 = wait_secs(&waits(Some(secs(1)), 15, &POLICY)).iter().sum();
        assert_eq!(total, 15);
    }

    #[test]
    fn the_store_is_never_asked_sooner_than_its_retry_after() {
        assert_eq!(wait_secs(&waits(Some(secs(50)), 3, &POLICY)), [50, 50, 50]);
    }

    #[test]
    fn jitter_only_ever_lengthens_a_wait_and_stays_within_the_longest_wait() {
        let wait = |retry_after, chance| match Throttle::default().on_throttled(
            Instant::now(),
            retry_after,
            chance,
            &POLICY,
        ) {
            Verdict::Wait { wait, .. } => wait,
            other => panic!("{other:?}"),
        };
        assert_eq!(wait(Some(secs(1)), 1.0), Duration::from_millis(1100));
        assert_eq!(wait(Some(secs(1)), 0.5), Duration::from_millis(1050));
        assert_eq!(wait(Some(secs(50)), 1.0), Duration::from_millis(50_250));
        assert_eq!(wait(Some(secs(60)), 1.0), secs(60));
        assert_eq!(wait(None, 1.0), Duration::from_millis(1100));
        assert_eq!(wait(Some(secs(1)), -3.0), secs(1));
    }

    #[test]
    fn without_retry_after_the_first_wait_is_one_second() {
        assert_eq!(wait_secs(&waits(None, 4, &POLICY)), [1, 2, 4, 8]);
    }

    #[test]
    fn answers_to_requests_sent_together_count_once_for_the_growth() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        // Four callers sent at once; their 429s arrive within a few milliseconds.
        for ms in [0, 3, 5, 8] {
            let verdict = throttle.on_throttled(at(ms), Some(secs(1)), 0.0, &POLICY);
            let Verdict::Wait { wait, .. } = verdict else {
                panic!("{verdict:?}")
            };
            assert_eq!(at(ms) + wait, at(1000).max(at(ms) + secs(1)), "{ms}");
        }
        // The next round, sent once the wait was over, waits as asked once more.
        let verdict = throttle.on_throttled(at(1008), Some(secs(1)), 0.0, &POLICY);
        assert_eq!(
            verdict,
            Verdict::Wait {
                wait: secs(1),
                first: false
            }
        );
    }

    #[test]
    fn a_retry_after_longer_than_the_longest_wait_fails_at_once() {
        let mut throttle = Throttle::default();
        let verdict = throttle.on_throttled(Instant::now(), Some(secs(90)), 0.0, &POLICY);
        assert_eq!(verdict, Verdict::TooLongPause { wait: secs(90) });
    }

    #[test]
    fn throttling_that_would_outlast_the_bound_gives_up_before_waiting() {
        let policy = ThrottlePolicy {
            max_wait: secs(1),
            max_throttled: secs(3),
        };
        let verdicts = waits(Some(secs(1)), 4, &policy);
        assert_eq!(wait_secs(&verdicts[..3]), [1, 1, 1]);
        assert_eq!(
            verdicts[3],
            Verdict::GiveUp {
                wait: secs(1),
                throttled_for: secs(3),
                answers: 4
            }
        );
    }

    #[test]
    fn the_default_bound_is_reached_after_about_fifty_one_second_answers() {
        let verdicts = waits(Some(secs(1)), 60, &POLICY);
        let asked = verdicts
            .iter()
            .position(|v| matches!(v, Verdict::GiveUp { .. }))
            .expect("gives up");
        // 31 waits of 1 s, five growing ones (62 s), then 60 s each until 900 s.
        assert_eq!(asked, 49);
    }

    #[test]
    fn an_answer_ends_the_throttling_and_the_next_429_starts_over() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        assert_eq!(throttle.on_answer(start), None);
        throttle.on_throttled(start, Some(secs(1)), 0.0, &POLICY);
        throttle.on_throttled(start + secs(1), Some(secs(1)), 0.0, &POLICY);
        assert_eq!(
            throttle.on_answer(start + secs(3)),
            Some(SpellEnded {
                lasted: secs(3),
                answers: 2
            })
        );
        assert_eq!(
            throttle.on_throttled(start + secs(4), Some(secs(1)), 0.0, &POLICY),
            Verdict::Wait {
                wait: secs(1),
                first: true
            }
        );
    }
}
