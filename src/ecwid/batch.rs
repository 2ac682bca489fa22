//! Keyed batches (contract 17.4): the one way to send a non-idempotent write (a stock delta)
//! that can be re-sent after an ambiguous failure without running twice.
//!
//! Ecwid remembers a batch's `deduplicationKey` for an hour: a create repeated with the same
//! key answers the first create's ticket and runs nothing. So creating a keyed batch is
//! retried like a read, as long as the key stays the same; the caller stores the key with
//! the work before the first attempt, so a crash between attempts re-sends the same key.

use std::time::Duration;

use reqwest::Method;
use tokio::time::Instant;

use super::client::{ApiError, Client};
use super::model::{BatchRequest, BatchStatus, BatchTicket};

/// Ecwid's limit of requests in one batch.
pub const MAX_BATCH_REQUESTS: usize = 500;

/// How a keyed batch is sent.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// Run the remaining requests after one fails (Ecwid's default is to stop).
    pub continue_on_failure: bool,
    /// The first poll comes this long after the create; later ones when the batch's progress
    /// so far says it will be done (see [`next_poll`]).
    pub first_poll: Duration,
    /// How long to wait for the batch to complete before giving up on waiting (the batch
    /// itself goes on running in the store).
    pub timeout: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            continue_on_failure: true,
            first_poll: Duration::from_millis(50),
            timeout: Duration::from_secs(300),
        }
    }
}

/// Bounds of the pause between two polls of one batch.
const MIN_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_secs(10);

/// The pause before the next poll of a batch that is not done: the time its progress so far
/// says the rest needs, so a big batch is polled a few times instead of every second. A
/// batch that has not started (queued behind earlier ones) is polled half as often each time.
pub fn next_poll(status: &BatchStatus, elapsed: Duration, previous: Duration) -> Duration {
    let total = status.total_requests.unwrap_or(0);
    let done = status.completed_requests.unwrap_or(0);
    let estimate = if done > 0 && total > done {
        elapsed.mul_f64((total - done) as f64 / done as f64)
    } else {
        previous * 2
    };
    estimate.clamp(MIN_POLL, MAX_POLL)
}

impl Client {
    /// Creates a batch under `key` and returns its ticket. Transport errors, 429 and 5xx are
    /// retried with the same key, which Ecwid runs at most once.
    pub async fn create_keyed_batch(
        &self,
        key: &str,
        requests: &[BatchRequest],
        options: &BatchOptions,
    ) -> Result<String, ApiError> {
        if key.is_empty() || requests.is_empty() || requests.len() > MAX_BATCH_REQUESTS {
            return Err(ApiError::Request {
                detail: format!(
                    "a keyed batch needs a key and 1 to {MAX_BATCH_REQUESTS} requests, got {} requests",
                    requests.len()
                ),
            });
        }
        let query = [
            ("deduplicationKey", key.to_string()),
            (
                "stopOnFirstFailure",
                (!options.continue_on_failure).to_string(),
            ),
        ];
        let body = serde_json::to_value(requests).map_err(|e| ApiError::Request {
            detail: e.to_string(),
        })?;
        let ticket: BatchTicket = self
            .send_json_with_retry(Method::POST, "/batch", &query, Some(&body))
            .await?;
        Ok(ticket.ticket)
    }

    /// The batch's progress, with each finished request's answer.
    pub async fn batch_status(&self, ticket: &str) -> Result<BatchStatus, ApiError> {
        let query = [
            ("ticket", ticket.to_string()),
            ("escapedJson", "true".into()),
        ];
        self.send_json_with_retry(Method::GET, "/batch", &query, None)
            .await
    }

    /// Creates the batch under `key` and polls it until it is completed.
    pub async fn run_keyed_batch(
        &self,
        key: &str,
        requests: &[BatchRequest],
        options: &BatchOptions,
    ) -> Result<BatchStatus, ApiError> {
        let ticket = self.create_keyed_batch(key, requests, options).await?;
        self.await_batch(&ticket, options).await
    }

    /// Polls the batch `ticket` until it is completed, at most `options.timeout`.
    pub async fn await_batch(
        &self,
        ticket: &str,
        options: &BatchOptions,
    ) -> Result<BatchStatus, ApiError> {
        let started = Instant::now();
        let mut pause = options.first_poll;
        loop {
            tokio::time::sleep(pause).await;
            let status = self.batch_status(ticket).await?;
            if status.is_completed() {
                return Ok(status);
            }
            pause = next_poll(&status, started.elapsed(), pause);
            if started.elapsed() + pause > options.timeout {
                return Err(ApiError::Request {
                    detail: format!(
                        "batch {ticket} was still {} after {} s",
                        status.status,
                        options.timeout.as_secs()
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(total: u64, done: u64) -> BatchStatus {
        BatchStatus {
            status: "IN_PROGRESS".into(),
            total_requests: Some(total),
            completed_requests: Some(done),
            responses: Vec::new(),
        }
    }

    #[test]
    fn a_batch_is_polled_when_its_progress_says_it_will_be_done() {
        let half = next_poll(&progress(500, 250), Duration::from_secs(2), MIN_POLL);
        assert_eq!(half, Duration::from_secs(2));
        let tenth = next_poll(&progress(500, 50), Duration::from_secs(2), MIN_POLL);
        assert_eq!(tenth, MAX_POLL, "never longer than the bound");
        let almost = next_poll(&progress(500, 499), Duration::from_millis(100), MIN_POLL);
        assert_eq!(almost, MIN_POLL, "never shorter than the bound");
    }

    #[test]
    fn a_batch_that_has_not_started_is_polled_less_and_less_often() {
        let queued = progress(500, 0);
        let mut pause = Duration::from_millis(50);
        let pauses: Vec<_> = (0..4)
            .map(|_| {
                pause = next_poll(&queued, Duration::ZERO, pause);
                pause.as_millis()
            })
            .collect();
        assert_eq!(pauses, vec![100, 200, 400, 800]);
    }
}
