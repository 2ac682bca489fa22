//! What the writer does when the mirror refuses a write.
//!
//! A tool holding a write transaction, a read-only file system or a full disk makes every
//! write fail. None of them is the store's fault, and each may pass: the writer retries the
//! whole transaction with growing pauses for a bounded time, says so once in the log when
//! writes start failing and once when they work again, and records the condition in the lock
//! file for `status` (the mirror itself cannot hold it). Past the bound, a locked mirror
//! fails the pass (the next one resumes) and an unwritable one stops the process with exit
//! code 4, so the service manager's restart policy applies and the operator sees it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};
use tokio_util::sync::CancellationToken;

use super::MirrorError;
use super::lock::{MirrorLock, WriteStall};
use super::unix_now;

/// Why the mirror refused a write, when waiting may help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Another connection holds the write lock.
    Locked,
    /// Read-only file or file system, disk full, I/O error.
    Unwritable,
}

impl Refusal {
    fn of(err: &rusqlite::Error) -> Option<Refusal> {
        let rusqlite::Error::SqliteFailure(failure, _) = err else {
            return None;
        };
        match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Some(Refusal::Locked),
            ErrorCode::ReadOnly
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen => Some(Refusal::Unwritable),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Refusal::Locked => "locked",
            Refusal::Unwritable => "unwritable",
        }
    }
}

/// The longest pause between two attempts: writes resume within about this long after a
/// tool lets its lock go or space is freed (SQLite's own busy wait, in between, notices a
/// lock let go within milliseconds).
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The writer thread's retry state; lives as long as the thread.
pub struct Stalls {
    mirror: PathBuf,
    lock: MirrorLock,
    retry_for: Duration,
    shutdown: CancellationToken,
    current: Option<Current>,
    /// `current`'s record, for readers outside the writer thread (health endpoints).
    shared: Arc<Mutex<Option<WriteStall>>>,
    /// The mirror file was deleted or replaced: what became of it. Every later job fails.
    lost: Option<&'static str>,
    /// The mirror stayed unwritable for the whole bound and the process is on its way out
    /// (exit code 4): the record stays for `status` even if a small write (the error for
    /// `sync_state`) still gets through.
    gave_up: bool,
}

struct Current {
    refusal: Refusal,
    started: Instant,
    record: WriteStall,
}

impl Stalls {
    pub fn new(
        mirror: PathBuf,
        lock: MirrorLock,
        retry_for: Duration,
        shared: Arc<Mutex<Option<WriteStall>>>,
        shutdown: CancellationToken,
    ) -> Stalls {
        Stalls {
            mirror,
            lock,
            retry_for,
            shutdown,
            current: None,
            shared,
            lost: None,
            gave_up: false,
        }
    }

    /// Runs `job` (one whole transaction, safe to run again after a rollback) until it
    /// succeeds, fails for a reason waiting cannot mend, or the mirror has refused writes for
    /// longer than the bound. Time already spent refusing counts: after a give-up, the next
    /// job gives up at its first refusal instead of waiting the whole bound again.
    pub fn run<R>(
        &mut self,
        conn: &mut Connection,
        mut job: impl FnMut(&mut Connection) -> Result<R, MirrorError>,
    ) -> Result<R, MirrorError> {
        self.check_file(conn)?;
        let mut pause = Duration::from_millis(100);
        loop {
            let changes = conn.total_changes();
            let err = match job(conn) {
                Ok(out) => {
                    // Only a write proves the mirror takes writes again: a job that only
                    // read (the pusher looking at the outbox) succeeds on a full disk too.
                    if conn.total_changes() != changes {
                        self.recovered();
                    }
                    return Ok(out);
                }
                Err(MirrorError::Sql(err)) => err,
                Err(other) => return Err(other),
            };
            let Some(refusal) = Refusal::of(&err) else {
                return Err(MirrorError::Sql(err));
            };
            let started = self.refused(refusal, &err);
            let left = self.retry_for.saturating_sub(started.elapsed());
            if left.is_zero() || self.shutdown.is_cancelled() {
                return Err(self.give_up(refusal, started, err));
            }
            self.sleep(pause.min(left));
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Notes a refusal; logs and records it only when the condition is new or changed.
    fn refused(&mut self, refusal: Refusal, err: &rusqlite::Error) -> Instant {
        if let Some(current) = &self.current
            && current.refusal == refusal
        {
            return current.started;
        }
        let record = WriteStall {
            problem: refusal.name().to_string(),
            since: unix_now(),
            error: err.to_string(),
        };
        match refusal {
            Refusal::Locked => tracing::warn!(
                mirror = %self.mirror.display(),
                error = %record.error,
                retry_for_secs = self.retry_for.as_secs(),
                "another process holds a write transaction on the mirror; waiting for it (find it with fuser or lsof on the mirror file)"
            ),
            Refusal::Unwritable => tracing::error!(
                mirror = %self.mirror.display(),
                error = %record.error,
                retry_for_secs = self.retry_for.as_secs(),
                "cannot write the mirror; retrying (check free disk space and that the mirror, its -wal and -shm files and its directory are writable)"
            ),
        }
        self.lock.report(Some(&record));
        self.share(Some(record.clone()));
        notify_service_manager(&format!("mirror {}: {}", refusal.name(), record.error));
        let started = Instant::now();
        self.current = Some(Current {
            refusal,
            started,
            record,
        });
        started
    }

    fn recovered(&mut self) {
        if self.gave_up {
            return;
        }
        let Some(current) = self.current.take() else {
            return;
        };
        tracing::info!(
            mirror = %self.mirror.display(),
            problem = current.record.problem,
            after_secs = current.started.elapsed().as_secs(),
            "the mirror accepts writes again"
        );
        self.lock.report(None);
        self.share(None);
        notify_service_manager("mirror writable");
    }

    fn share(&self, record: Option<WriteStall>) {
        if let Ok(mut shared) = self.shared.lock() {
            *shared = record;
        }
    }

    /// Fails every job once the configured path no longer names the file this process
    /// writes: what it writes then would be lost at exit. The first time, says so and lists
    /// the local changes still open in the lost file (its connection can still read it), so
    /// that the operator can make them again in the new mirror.
    fn check_file(&mut self, conn: &Connection) -> Result<(), MirrorError> {
        if self.lost.is_none() {
            let Some(what) = self.lock.file_lost() else {
                return Ok(());
            };
            self.lost = Some(what);
            report_lost(&self.mirror, what, conn);
            let record = WriteStall {
                problem: "lost".into(),
                since: unix_now(),
                error: format!("the mirror file was {what}"),
            };
            self.share(Some(record));
            notify_service_manager(&format!("mirror file {what}"));
        }
        Err(MirrorError::Replaced {
            path: self.mirror.display().to_string(),
            what: self.lost.unwrap_or("lost"),
        })
    }

    fn give_up(
        &mut self,
        refusal: Refusal,
        started: Instant,
        source: rusqlite::Error,
    ) -> MirrorError {
        let path = self.mirror.display().to_string();
        let secs = started.elapsed().as_secs();
        match refusal {
            Refusal::Locked => MirrorError::Locked { path, secs, source },
            Refusal::Unwritable => {
                self.gave_up = true;
                MirrorError::Unwritable { path, secs, source }
            }
        }
    }

    /// Sleeps, waking early for shutdown: systemd's stop timeout is shorter than the bound.
    fn sleep(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while !self.shutdown.is_cancelled() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// One error line for the lost file, then one per local change it still held open.
fn report_lost(mirror: &std::path::Path, what: &str, conn: &Connection) {
    let open = super::outbox_review::list(conn, None);
    tracing::error!(
        mirror = %mirror.display(),
        open_changes = open.as_ref().map_or(0, Vec::len),
        "the mirror file was {what} while ecwid-sync was writing it; stopping, so that the service restarts on a new mirror and pulls the store in full"
    );
    match open {
        Ok(changes) => {
            for c in changes {
                let change = match c.delta {
                    Some(delta) => format!("quantity {delta:+}"),
                    None => format!("{} = {}", c.field, c.value),
                };
                tracing::error!(
                    id = c.id,
                    state = %c.state,
                    subject = %c.subject,
                    change,
                    "a local change open in the lost mirror; make it again in the new mirror if the store does not show it"
                );
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot list the local changes open in the lost mirror")
        }
    }
}

/// `systemctl status` shows the mirror's write health in its Status line (a no-op when not
/// run by systemd).
fn notify_service_manager(status: &str) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(status)]);
}
