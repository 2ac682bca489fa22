//! Group commit of received events: handlers hand their rows to one task, which writes
//! whatever has queued meanwhile in one transaction, then answers them all.
//!
//! A commit costs about the same for one row as for a hundred, so under load the inbox
//! keeps up with any rate the writer thread can take, and a handler waits at most for the
//! commit in progress plus its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tracing::Instrument;

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
        // In the span it was started in: its store's, in a daemon of many.
        tokio::spawn(
            commit_loop(requests_rx, writer, metrics, wake).instrument(tracing::Span::current()),
        );
        Inbox { requests_tx }
    }

    /// Rows handed over and not yet taken by a commit.
    pub fn queued(&self) -> usize {
        self.requests_tx.max_capacity() - self.requests_tx.capacity()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::MirrorConfig;

    fn row(id: usize) -> InboxRow {
        InboxRow {
            event_id: format!("e-{id}"),
            event_type: "product.updated".into(),
            kind: Some(crate::kind::Kind::Products),
            entity_key: Some(id as i64 + 1),
            order_id: None,
            event_created: 1,
            received_at: 1,
            state: EventState::Pending,
        }
    }

    /// A sample of the metrics text, e.g. `..._count`, of the one store the tests make.
    fn sample(metrics: &Metrics, name: &str) -> f64 {
        let text = metrics.encode();
        let series = format!("{name}{{store=\"default\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    async fn until(mut condition: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the condition holds within 5 s");
    }

    #[tokio::test]
    async fn rows_arriving_during_a_commit_share_the_next_one_and_wake_the_worker() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = MirrorConfig {
            path: dir.path().join("m.db"),
            write_retry: Duration::from_secs(5),
            lock_wait: Duration::ZERO,
        };
        let writer = MirrorWriter::open(&mirror, CancellationToken::new()).unwrap();
        let metrics = Metrics::new();
        let wake = Arc::new(Notify::new());
        let inbox = Inbox::start(writer.clone(), metrics.clone(), wake.clone());

        // Hold the writer thread, as a long page commit of a pull would.
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .call(move |_| {
                        let _ = started_tx.send(());
                        let _ = release_rx.recv();
                        Ok(())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .unwrap()
            .unwrap();

        let mut stores = tokio::task::JoinSet::new();
        // Polled once, the first store hands its row over; then the committer takes it and
        // waits for the writer with it.
        let mut first = Box::pin(inbox.store(row(0)));
        assert!(
            tokio::time::timeout(Duration::ZERO, &mut first)
                .await
                .is_err()
        );
        until(|| inbox.queued() == 0).await;
        for id in 1..10 {
            let inbox = inbox.clone();
            stores.spawn(async move { inbox.store(row(id)).await });
        }
        until(|| inbox.queued() == 9).await;
        release_tx.send(()).unwrap();

        assert_eq!(first.await, Ok(Stored::New));
        let outcomes = stores.join_all().await;
        assert_eq!(outcomes, vec![Ok(Stored::New); 9]);
        busy.await.unwrap().unwrap();
        let count = "ecwid_sync_webhook_inbox_commit_events_count";
        let sum = "ecwid_sync_webhook_inbox_commit_events_sum";
        assert_eq!(
            sample(&metrics, count),
            2.0,
            "one row, then the nine queued"
        );
        assert_eq!(sample(&metrics, sum), 10.0);
        // The worker finds a permit waiting.
        tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .expect("the commits woke the worker");
        assert_eq!(inbox.store(row(3)).await, Ok(Stored::Duplicate));
    }
}
