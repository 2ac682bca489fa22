//! Sending one keyed batch, the same way for local changes, new products and deletions: the
//! ticket Ecwid gives for the key is stored before polling, a ticket Ecwid forgot is dropped
//! (the key, still remembered, gets it again), and a batch left without an outcome notes why
//! so that its key goes again on the next pass.

use rusqlite::Connection;

use crate::ecwid::batch::BatchOptions;
use crate::ecwid::model::{BatchRequest, BatchStatus};
use crate::ecwid::{ApiError, Client};
use crate::errors::error_chain;
use crate::mirror::MirrorWriter;
use crate::sync::PullError;

/// Where a kind of batch keeps its ticket and its last error.
pub(super) struct Ledger {
    pub store_ticket: fn(&Connection, &str, &str) -> rusqlite::Result<()>,
    pub forget_ticket: fn(&Connection, &str) -> rusqlite::Result<()>,
    pub note_error: fn(&Connection, &str, &str) -> rusqlite::Result<()>,
    /// What the batch carries, for the log: `local changes`, `new products`, ...
    pub carries: &'static str,
}

/// What became of a batch.
pub(super) enum Sent {
    Answered(BatchStatus),
    /// Ecwid refused the whole batch for good: sending it again would be refused the same way.
    Refused(String),
    /// No outcome yet; why is noted and logged. The caller ends the pass with this error.
    Unanswered(ApiError),
}

/// Sends batch `key` with `requests`, or with `ticket` from an earlier create only polls it.
pub(super) async fn send(
    client: &Client,
    writer: &MirrorWriter,
    options: &BatchOptions,
    ledger: &Ledger,
    key: &str,
    ticket: Option<String>,
    requests: &[BatchRequest],
) -> Result<Sent, PullError> {
    let ticket = match ticket {
        Some(ticket) => ticket,
        None => match client.create_keyed_batch(key, requests, options).await {
            Ok(ticket) => {
                let (k, t, store) = (key.to_string(), ticket.clone(), ledger.store_ticket);
                writer.call(move |conn| Ok(store(conn, &k, &t)?)).await?;
                ticket
            }
            Err(err) if matches!(err, ApiError::Status { .. }) && !err.is_retryable() => {
                return Ok(Sent::Refused(format!(
                    "Ecwid refused the whole batch: {err}"
                )));
            }
            Err(err) => return unanswered(writer, ledger, key, err).await,
        },
    };
    match client.await_batch(&ticket, options).await {
        Ok(status) => Ok(Sent::Answered(status)),
        Err(err) => {
            if err.status() == Some(404) {
                let (k, forget) = (key.to_string(), ledger.forget_ticket);
                writer.call(move |conn| Ok(forget(conn, &k)?)).await?;
            }
            unanswered(writer, ledger, key, err).await
        }
    }
}

async fn unanswered(
    writer: &MirrorWriter,
    ledger: &Ledger,
    key: &str,
    err: ApiError,
) -> Result<Sent, PullError> {
    let (k, error, note) = (key.to_string(), error_chain(&err), ledger.note_error);
    tracing::warn!(
        key,
        error,
        "batch of {} has no outcome yet; it is sent again with the same key",
        ledger.carries
    );
    writer.call(move |conn| Ok(note(conn, &k, &error)?)).await?;
    Ok(Sent::Unanswered(err))
}
