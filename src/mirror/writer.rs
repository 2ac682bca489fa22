//! The mirror's one read-write connection, owned by a dedicated thread.
//!
//! SQLite allows one writer at a time, and rusqlite connections are blocking, so the daemon
//! keeps its connection on a thread of its own and sends it closures. Each closure runs to
//! completion before the next starts, so no transaction is ever held across an `.await` on
//! the network. Dropping the last handle is the shutdown signal: the thread drains its queue
//! and closes the connection. Every job commits before it replies, so a process that exits
//! without waiting for the thread loses nothing. Clean exits and full pulls checkpoint the
//! WAL into the main file ([`MirrorWriter::checkpoint`]), so `mirror.db` alone is complete.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::MirrorError;
use super::apply::{self, Applied, Rows};
use super::checkpointer::Checkpointer;
use super::full_progress::{self, FullProgress};
use super::gaps::{self, GapCounts};
use super::inbox::{self, InboxRow};
use super::lock::{MirrorLock, WriteStall};
use super::quarantine::{self, QuarantineSummary};
use super::repair::{self, Repair};
use super::stall::Stalls;
use super::state::{self, KindState, StateUpdate};
use crate::config::MirrorConfig;
use crate::kind::Kind;

type Job = Box<dyn FnOnce(&mut Connection, &mut Stalls) + Send>;

/// How long SQLite itself waits for another connection's write lock before a refused write
/// goes to [`Stalls`], which logs it and keeps retrying.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a checkpoint the mirror is too busy for is tried, 20 ms apart.
const CHECKPOINT_TRIES: u32 = 10;

/// Prepared statements the writer keeps compiled.
const STATEMENT_CACHE: usize = 64;

/// A cheap-to-clone handle to the writer thread.
#[derive(Clone)]
pub struct MirrorWriter {
    jobs_tx: mpsc::Sender<Job>,
    /// Set while webhooks are configured: pages applied through this handle count the
    /// rows they change that no webhook announced (see [`super::gaps`]).
    gaps: Option<Arc<GapCounts>>,
    /// The refusal the writer is waiting out, shared by [`Stalls`].
    stall: Arc<Mutex<Option<WriteStall>>>,
}

impl MirrorWriter {
    /// Opens (creating and migrating) the mirror and starts its writer thread.
    /// Takes the mirror's lock first (see [`super::lock`]): a second instance stops here.
    /// Writes the mirror refuses are retried for `mirror.write_retry` (see [`Stalls`]);
    /// `shutdown` cuts those waits short.
    pub fn open(
        mirror: &MirrorConfig,
        shutdown: CancellationToken,
    ) -> Result<MirrorWriter, MirrorError> {
        let lock = super::lock::lock(&mirror.path)?;
        Self::open_locked(mirror, lock, shutdown)
    }

    /// [`MirrorWriter::open`] for the daemon: another ecwid-sync holding the mirror is waited
    /// for, up to `mirror.lock_wait`. `Ok(None)`: `shutdown` came first.
    pub async fn open_waiting(
        mirror: &MirrorConfig,
        shutdown: CancellationToken,
    ) -> Result<Option<MirrorWriter>, MirrorError> {
        match super::lock::lock_waiting(&mirror.path, mirror.lock_wait, &shutdown).await? {
            Some(lock) => Self::open_locked(mirror, lock, shutdown).map(Some),
            None => Ok(None),
        }
    }

    fn open_locked(
        mirror: &MirrorConfig,
        mut lock: MirrorLock,
        shutdown: CancellationToken,
    ) -> Result<MirrorWriter, MirrorError> {
        // Before SQLite opens it: through a hard link, SQLite would use another -wal and -shm
        // than the process that holds the file.
        if mirror.path.exists() {
            lock.hold_file(&mirror.path)?;
        }
        let mut conn = super::open(&mirror.path)?;
        // A new file: SQLite has just created it, and no other name can reach it yet.
        if !lock.holds_file() {
            lock.hold_file(&mirror.path)?;
        }
        super::own_writes(&conn)?;
        let stall = Arc::new(Mutex::new(None));
        let mut stalls = Stalls::new(
            mirror.path.clone(),
            lock,
            mirror.write_retry,
            stall.clone(),
            shutdown,
        );
        let shown = mirror.path.display().to_string();
        stalls.run(&mut conn, |conn| {
            super::migrate(conn, &shown)?;
            Ok(super::capture::clear_stale_flag(conn)?)
        })?;
        conn.busy_timeout(BUSY_TIMEOUT.min(mirror.write_retry))?;
        // Statements over many rows come in a few chunk sizes per table (see `multi_row`);
        // with rusqlite's default of 16 they would push each other out of the cache and be
        // compiled again for every page.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpointer = super::checkpointer::start(&mirror.path)?;
        Ok(Self::start(conn, stalls, checkpointer, stall))
    }

    /// The thread owns the locks (inside `stalls`) with the connection: the mirror is held
    /// while it can write. The background checkpointer lives as long as the writer.
    fn start(
        mut conn: Connection,
        mut stalls: Stalls,
        checkpointer: Checkpointer,
        stall: Arc<Mutex<Option<WriteStall>>>,
    ) -> MirrorWriter {
        // A small queue: producers that outrun SQLite wait, which bounds memory during a
        // full pull instead of buffering the whole store.
        let (jobs_tx, mut jobs_rx) = mpsc::channel::<Job>(8);
        // The thread logs in the span it was started in: its store's, in a daemon of many.
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("mirror-writer".into())
            .spawn(move || {
                let _span = span.entered();
                while let Some(job) = jobs_rx.blocking_recv() {
                    job(&mut conn, &mut stalls);
                    checkpointer.nudge();
                }
                // Connections first, locks last: closing the lock's descriptor of the
                // mirror file would drop SQLite's locks on it (see `lock`).
                drop(conn);
                drop(checkpointer);
                drop(stalls);
            })
            .expect("spawn the mirror writer thread");
        MirrorWriter {
            jobs_tx,
            gaps: None,
            stall,
        }
    }

    /// Marks the mirror as one `ecwid-sync demo` made (see [`super::clear_for_demo`]).
    pub async fn mark_as_demo(&self) -> Result<(), MirrorError> {
        self.call(|conn| {
            Ok(conn.pragma_update(None, "application_id", super::DEMO_APPLICATION_ID)?)
        })
        .await
    }

    /// Why the mirror refuses writes right now, if it does: read without waiting for the
    /// writer thread, which is busy retrying the refused write (for `/healthz`, `/readyz`).
    pub fn write_stall(&self) -> Option<WriteStall> {
        self.stall.lock().map(|s| s.clone()).unwrap_or(None)
    }

    /// This handle's pages count webhook gaps into `counts` and `sync_state.webhook_gaps`
    /// (`None`: they do not, as when webhooks are not configured).
    pub fn counting_webhook_gaps(mut self, counts: Option<Arc<GapCounts>>) -> MirrorWriter {
        self.gaps = counts;
        self
    }

    /// Runs `f` on the writer thread and returns its result. `f` is one transaction: when
    /// the mirror refuses it, it is rolled back and run again (see [`Stalls`]).
    pub async fn call<R, F>(&self, f: F) -> Result<R, MirrorError>
    where
        R: Send + 'static,
        F: FnMut(&mut Connection) -> Result<R, MirrorError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn, stalls| {
            // The caller may have gone away (shutdown); the work itself is already done.
            let _ = reply_tx.send(stalls.run(conn, f));
        });
        self.jobs_tx
            .send(job)
            .await
            .map_err(|_| MirrorError::WriterGone)?;
        reply_rx.await.map_err(|_| MirrorError::WriterGone)?
    }

    /// Writes one page of remote documents and the kind's bookkeeping in one transaction.
    /// Returns how many rows were written (documents older than the mirror's copy, or equal
    /// to it, are not), how many unfinished orders were removed and, with [`Repair::On`],
    /// which rows that disagreed with their documents were repaired (counted in
    /// `sync_state.rows_repaired` in the same transaction).
    pub async fn apply_page(
        &self,
        rows: Rows,
        synced_at: i64,
        update: StateUpdate,
        repair: Repair,
    ) -> Result<Applied, MirrorError> {
        let counting_gaps = self.gaps.is_some();
        let kind = rows.kind();
        let (applied, gaps) = self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let previous = match counting_gaps {
                    true => gaps::previous_syncs(&tx, kind, &rows.keys())?,
                    false => None,
                };
                let changes = apply::apply_rows_with(&tx, &rows, synced_at, repair)?;
                let gaps = match &previous {
                    Some(previous) => gaps::count(&tx, kind, &changes, previous)?,
                    None => 0,
                };
                state::update(&tx, kind, &update)?;
                let applied = Applied::of(&rows, &changes);
                repair::count(&tx, kind, applied.repaired.len())?;
                tx.commit()?;
                Ok((applied, gaps))
            })
            .await?;
        if let Some(counts) = &self.gaps {
            counts.add(kind, gaps);
        }
        Ok(applied)
    }

    /// Removes entities Ecwid no longer has, and records the kind's bookkeeping, in one
    /// transaction.
    pub async fn delete(
        &self,
        kind: Kind,
        ids: Vec<i64>,
        update: StateUpdate,
    ) -> Result<usize, MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let removed = apply::delete_ids(&tx, kind, &ids)?;
            state::update(&tx, kind, &update)?;
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    pub async fn update_state(&self, kind: Kind, update: StateUpdate) -> Result<(), MirrorError> {
        self.call(move |conn| Ok(state::update(conn, kind, &update)?))
            .await
    }

    pub async fn read_state(&self, kind: Kind) -> Result<KindState, MirrorError> {
        self.call(move |conn| Ok(state::read(conn, kind)?)).await
    }

    /// The interrupted full pull of `kind`, if any (see [`super::full_progress`]).
    pub async fn full_progress(&self, kind: Kind) -> Result<Option<FullProgress>, MirrorError> {
        self.call(move |conn| Ok(full_progress::read(conn, kind)?))
            .await
    }

    /// Copies the WAL into the main file and empties it, so that `mirror.db` alone holds
    /// everything: a copy or backup of that one file is then complete. Readers in the middle
    /// of a transaction can keep part of the WAL alive; that is logged, not an error.
    pub async fn checkpoint(&self) -> Result<(), MirrorError> {
        self.call(|conn| {
            // The background checkpointer's own round makes this one busy at once: try again
            // briefly, so that a clean exit leaves the main file complete. A reader's
            // snapshot makes it busy only after the busy timeout: that is not waited twice.
            let mut tries = 1;
            loop {
                let started = std::time::Instant::now();
                let (busy, wal_pages, copied): (i64, i64, i64) =
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?;
                if busy == 0 {
                    return Ok(());
                }
                if tries == CHECKPOINT_TRIES || started.elapsed() > Duration::from_millis(100) {
                    tracing::info!(
                        wal_pages,
                        copied,
                        "a reader kept the mirror's WAL from being emptied; it is copied at the next checkpoint"
                    );
                    return Ok(());
                }
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
    }

    /// Commits received webhook events to the inbox in one transaction; per row, whether it
    /// was new (see [`inbox::insert_events`]).
    pub async fn insert_webhook_events(
        &self,
        rows: Vec<InboxRow>,
    ) -> Result<Vec<bool>, MirrorError> {
        self.call(move |conn| Ok(inbox::insert_events(conn, &rows)?))
            .await
    }

    /// Takes the write lock and lets it go, and returns the schema version: proof that the
    /// writer thread answers and the mirror can be written (for `/healthz` and `/readyz`).
    pub async fn probe(&self) -> Result<i64, MirrorError> {
        self.call(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            tx.rollback()?;
            Ok(version)
        })
        .await
    }

    /// How many entities of `kind` the mirror holds.
    pub async fn row_count(&self, kind: Kind) -> Result<u64, MirrorError> {
        self.call(move |conn| Ok(state::row_count(conn, kind.table())? as u64))
            .await
    }

    /// Every key of `kind` the mirror holds.
    pub async fn keys(&self, kind: Kind) -> Result<Vec<i64>, MirrorError> {
        self.call(move |conn| Ok(apply::keys(conn, kind)?)).await
    }

    /// Holds `unfit` (key, error) in `kind`'s quarantine and lets `fit` go, in one
    /// transaction.
    pub async fn settle_quarantine(
        &self,
        kind: Kind,
        unfit: Vec<(i64, String)>,
        fit: Vec<i64>,
        now: i64,
    ) -> Result<(), MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            quarantine::settle(&tx, kind, &unfit, &fit, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The keys of `kind`'s quarantined entities.
    pub async fn quarantined_keys(&self, kind: Kind) -> Result<Vec<i64>, MirrorError> {
        self.call(move |conn| Ok(quarantine::keys(conn, kind)?))
            .await
    }

    /// How many entities of `kind` are quarantined, and the first `shown` of them.
    pub async fn quarantine_summary(
        &self,
        kind: Kind,
        shown: usize,
    ) -> Result<QuarantineSummary, MirrorError> {
        self.call(move |conn| Ok(quarantine::summary(conn, kind, shown)?))
            .await
    }
}
