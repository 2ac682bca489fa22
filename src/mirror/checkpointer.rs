//! Copies the write-ahead log into the mirror's main file in the background.
//!
//! With `synchronous = NORMAL` nothing is synced at commit; a checkpoint syncs everything
//! written since the last one, then copies it. Run by the writer itself (SQLite's
//! autocheckpoint) after 64 MB of log, that took 40-75 ms on this project's machine, during
//! which every write waited: a webhook acknowledgement, which commits one row, waited as
//! long. This thread checkpoints every [`INTERVAL`] on its own connection, without blocking
//! the writer (a passive checkpoint never does), so the log is already synced and copied
//! when the writer's autocheckpoint comes, and that one has little left to do. The writer's
//! autocheckpoint stays: only a checkpoint between two of its transactions can finish the
//! log and let it start again from the beginning.
//!
//! The thread runs only after the writer has run a job ([`Checkpointer::nudge`]): a quiet
//! mirror costs no wake-ups, which a daemon of many stores would pay ten times a second per
//! store.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::MirrorError;

/// Short enough that the log written between two rounds syncs in a few milliseconds.
const INTERVAL: Duration = Duration::from_millis(100);

/// Dropping it stops the thread and waits for it, so its connection is closed when the drop
/// returns (the writer lets go of the mirror's locks only after that).
pub(super) struct Checkpointer {
    /// One nudge waits at most; dropping the sender stops the thread.
    nudges: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Tells the thread the writer has run a job: a round follows within [`INTERVAL`].
    pub(super) fn nudge(&self) {
        if let Some(nudges) = &self.nudges {
            // Full: a round is already due.
            let _ = nudges.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudges.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the thread on a connection of its own to the (migrated) mirror at `path`.
pub(super) fn start(path: &Path) -> Result<Checkpointer, MirrorError> {
    let open_err = |source| MirrorError::Open {
        path: path.display().to_string(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    let (nudges, nudged) = mpsc::sync_channel::<()>(1);
    let span = tracing::Span::current();
    let thread = std::thread::Builder::new()
        .name("mirror-checkpoint".into())
        .spawn(move || {
            let _span = span.entered();
            // Ends when the sender is dropped (disconnected), i.e. with the writer.
            while nudged.recv().is_ok() {
                // The writes of the next moments join this round.
                let round = std::time::Instant::now() + INTERVAL;
                loop {
                    let left = round.saturating_duration_since(std::time::Instant::now());
                    match nudged.recv_timeout(left) {
                        Ok(()) => continue,
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                // Busy (the writer's own checkpoint runs) or failing (the writer reports
                // unwritable mirrors): the next round, or the writer, does it.
                let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                });
                if let Err(e) = outcome {
                    tracing::debug!(error = %e, "background checkpoint did not run");
                }
            }
        })
        .expect("spawn the mirror checkpoint thread");
    Ok(Checkpointer {
        nudges: Some(nudges),
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio_util::sync::CancellationToken;

    use crate::config::MirrorConfig;
    use crate::mirror::MirrorWriter;
    use crate::mirror::inbox::{EventState, InboxRow};

    /// Rows in a copy of the main file alone, without the log beside it.
    fn rows_in_main_file(db: &std::path::Path) -> i64 {
        let copy = db.with_file_name("copy.db");
        std::fs::copy(db, &copy).unwrap();
        let n = rusqlite::Connection::open(&copy)
            .and_then(|c| c.query_row("SELECT count(*) FROM webhook_events", [], |r| r.get(0)))
            .unwrap_or(-1);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
        }
        n
    }

    #[tokio::test]
    async fn a_commit_reaches_the_main_file_in_the_background_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mirror = MirrorConfig {
            path: db.clone(),
            write_retry: Duration::from_secs(5),
            lock_wait: Duration::ZERO,
        };
        let writer = MirrorWriter::open(&mirror, CancellationToken::new()).unwrap();
        let row = InboxRow {
            event_id: "e-1".into(),
            event_type: "product.updated".into(),
            kind: None,
            entity_key: None,
            order_id: None,
            event_created: 1,
            received_at: 1,
            state: EventState::Ignored,
        };
        writer.insert_webhook_events(vec![row]).await.unwrap();
        // One small commit is far below the writer's autocheckpoint (64 MB of log).
        let deadline = Instant::now() + Duration::from_secs(5);
        while rows_in_main_file(&db) != 1 {
            assert!(
                Instant::now() < deadline,
                "the commit stayed in the log only"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
