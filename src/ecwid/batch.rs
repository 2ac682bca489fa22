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
    /// Polling starts at this interval and doubles up to two seconds.
    pub first_poll: Duration,
    /// How long to wait for the batch to complete before giving up on waiting (the batch
    /// itself goes on running in the store).
    pub timeout: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            continue_on_failure: true,
            first_poll: Duration::from_millis(100),
            timeout: Duration::from_secs(300),
        }
    }
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
        let deadline = Instant::now() + options.timeout;
        let mut poll = options.first_poll;
        loop {
            let status = self.batch_status(&ticket).await?;
            if status.is_completed() {
                return Ok(status);
            }
            if Instant::now() + poll > deadline {
                return Err(ApiError::Request {
                    detail: format!(
                        "batch {ticket} (key {key}) was still {} after {} s",
                        status.status,
                        options.timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(Duration::from_secs(2));
        }
    }
}
