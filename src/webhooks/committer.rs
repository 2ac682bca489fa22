//! Group commit of received events: handlers hand their rows to one task, which writes
//! whatever has queued meanwhile in one transaction, then answers them all.
//!
//! A commit costs about the same for one row as for a hundred, so under load the inbox
//! keeps up with any rate the writer thread can take, and a handler waits at most for the
//! commit in progress plus its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::errors::error_chain;
use crate::metrics::Metrics;
use crate::mirror::MirrorWriter;
use crate::mirror::inbox::{EventState, InboxRow};

/// Rows waiting for a commit beyond this are refused at once (503, Ecwid sends them again)
/// rather than queued without bound while the mirror cannot be written.
const QUEUE: usize = 4096;
/// The most rows one commit takes.
const MAX_BATCH: usize = 512;
/// How long a handler waits for its commit. Ecwid gives up on an answer after about 10 s;
/// past this the handler answers 503 and Ecwid's next delivery finds the row, if the
/// commit did happen, as a duplicate.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of a row handed to the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    New,
    /// Its eventId was already in the inbox.
    Duplicate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotStored {
    #[error("{QUEUE} events are already waiting for the mirror")]
    Full,
    #[error("the mirror did not commit the event within {} s", COMMIT_TIMEOUT.as_secs())]
    Timeout,
    /// The commit failed; the committer logged why.
    #[error("the mirror refused the commit")]
    Failed,
}

struct Request {
    row: InboxRow,
    reply_tx: oneshot::Sender<Result<Stored, NotStored>>,
}

/// The handlers' handle to the committer task. Dropping the last one ends the task once the
/// rows queued before have been committed.
#[derive(Clone)]
pub struct Inbox {
    requests_tx: mpsc::Sender<Request>,
}

impl Inbox {
    /// Starts the committer. `wake` is notified after each commit that stored new pending
    /// rows (the delta worker waits on it).
    pub fn start(writer: MirrorWriter, metrics: Arc<Metrics>, wake: Arc<Notify>) -> Inbox {
        let (requests_tx, requests_rx) = mpsc::channel(QUEUE);
        tokio::spawn(commit_loop(requests_rx, writer, metrics, wake));
        Inbox { requests_tx }
    }

    /// Returns once `row` is committed (or found already there).
    pub async fn store(&self, row: InboxRow) -> Result<Stored, NotStored> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.requests_tx
            .try_send(Request { row, reply_tx })
            .map_err(|_| NotStored::Full)?;
        match tokio::time::timeout(COMMIT_TIMEOUT, reply_rx).await {
            Ok(Ok(outcome)) => outcome,
            // The committer stopped (shutdown) without answering.
            Ok(Err(_)) => Err(NotStored::Failed),
            Err(_) => Err(NotStored::Timeout),
        }
    }
}

async fn commit_loop(
    mut requests_rx: mpsc::Receiver<Request>,
    writer: MirrorWriter,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests_rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (rows, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|r| (r.row, r.reply_tx)).unzip();
        let pending: Vec<bool> = rows
            .iter()
            .map(|r| r.state == EventState::Pending)
            .collect();
        let started = Instant::now();
        let outcome = writer.insert_webhook_events(rows).await;
        metrics
            .webhooks
            .inbox_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics
            .webhooks
            .inbox_commit_events
            .observe(replies.len() as f64);
        match outcome {
            Ok(inserted) => {
                let new_pending = inserted.iter().zip(&pending).any(|(&new, &p)| new && p);
                for (reply_tx, new) in replies.into_iter().zip(inserted) {
                    let stored = if new { Stored::New } else { Stored::Duplicate };
                    let _ = reply_tx.send(Ok(stored));
                }
                if new_pending {
                    wake.notify_one();
                }
            }
            Err(err) => {
                tracing::error!(
                    events = replies.len(),
                    error = %error_chain(&err),
                    "cannot store received webhooks in the mirror; answering 503 so that Ecwid sends them again"
                );
                for reply_tx in replies {
                    let _ = reply_tx.send(Err(NotStored::Failed));
                }
            }
        }
    }
}
