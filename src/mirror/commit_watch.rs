//! Commits to the mirror, noticed as they happen, whoever makes them.
//!
//! A tool's transaction (a stock change in the outbox, a webhook event a test records) lands
//! in the mirror's write-ahead log, `<mirror>-wal`, which the daemon keeps open. The kernel
//! tells of every write to that file (inotify), so the workers that wait for such commits
//! wake when one happens instead of looking every few hundred milliseconds: a quiet store
//! costs nothing between commits, and a tool's change is seen within milliseconds.
//!
//! The daemon's own commits wake them too; they find nothing to do and wait again. Where the
//! log cannot be watched (no inotify, the log not there), [`Commits::watch`] says so and the
//! workers keep looking on their own schedule.

use std::io;
use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tracing::Instrument;

/// A subscription to the mirror's commits; clones share the watch.
#[derive(Clone)]
pub struct Commits(watch::Receiver<u64>);

impl Commits {
    /// Watches the log of the mirror at `mirror` until every subscription is dropped.
    /// `Err`: it cannot be watched here.
    pub fn watch(mirror: &Path) -> io::Result<Commits> {
        let log = wal_path(mirror);
        let watcher = inotify::LogWatcher::new(&log)?;
        let (tx, rx) = watch::channel(0u64);
        tokio::spawn(async move {
            let mut watcher = watcher;
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    written = watcher.written() => match written {
                        Ok(()) => {
                            tx.send_modify(|n| *n = n.wrapping_add(1));
                        }
                        Err(e) => {
                            // The subscribers see the watch end and look on their own again.
                            tracing::warn!(
                                error = %e,
                                log = %log.display(),
                                "cannot watch the mirror's log any more; local changes are looked for on a schedule"
                            );
                            return;
                        }
                    },
                }
            }
        }.instrument(tracing::Span::current()));
        Ok(Commits(rx))
    }

    /// Returns once a commit has been made since this subscription last returned. `Err`:
    /// the watch has ended; the caller looks on its own from now on.
    pub async fn committed(&mut self) -> Result<(), Ended> {
        self.0.changed().await.map_err(|_| Ended)
    }
}

/// The watch has ended.
#[derive(Debug)]
pub struct Ended;

/// For a worker that may or may not watch: `true` once a commit was made; `false` once the
/// watch ended, which is then dropped so that the worker looks on its own from then on.
/// Never returns without a watch.
pub async fn next(commits: &mut Option<Commits>) -> bool {
    let Some(watch) = commits else {
        return std::future::pending().await;
    };
    match watch.committed().await {
        Ok(()) => true,
        Err(Ended) => {
            *commits = None;
            false
        }
    }
}

/// SQLite's name for the write-ahead log of the database at `mirror`.
fn wal_path(mirror: &Path) -> PathBuf {
    let mut name = mirror.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

#[cfg(target_os = "linux")]
mod inotify {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// An inotify instance watching one file for writes.
    pub struct LogWatcher(AsyncFd<OwnedFd>);

    impl LogWatcher {
        pub fn new(file: &Path) -> io::Result<LogWatcher> {
            // SAFETY: plain system calls; the descriptor is owned from here on.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let path = std::ffi::CString::new(file.as_os_str().as_bytes())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let watch =
                unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
            if watch < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: the OwnedFd is the descriptor's only owner and lives inside the AsyncFd.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(|e| io::Error::other(e.to_string()))?;
            Ok(LogWatcher(fd))
        }

        /// Returns once the file has been written; every event queued by then counts once,
        /// so a burst of writes wakes the caller once.
        pub async fn written(&mut self) -> io::Result<()> {
            loop {
                let mut ready = self.0.readable().await?;
                let mut events = [0u8; 4096];
                let mut read_any = false;
                loop {
                    match ready.try_io(|fd| {
                        // SAFETY: reads into a buffer of the length given.
                        let n = unsafe {
                            libc::read(fd.as_raw_fd(), events.as_mut_ptr().cast(), events.len())
                        };
                        if n < 0 {
                            Err(io::Error::last_os_error())
                        } else {
                            Ok(n)
                        }
                    }) {
                        Ok(Ok(0)) => break,
                        Ok(Ok(_)) => read_any = true,
                        Ok(Err(e)) => return Err(e),
                        // Drained: readiness is cleared for the next wait.
                        Err(_would_block) => break,
                    }
                }
                if read_any {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod inotify {
    use std::io;
    use std::path::Path;

    /// Elsewhere than Linux the workers look on their own schedule.
    pub struct LogWatcher;

    impl LogWatcher {
        pub fn new(_file: &Path) -> io::Result<LogWatcher> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "watching files needs Linux's inotify",
            ))
        }

        pub async fn written(&mut self) -> io::Result<()> {
            std::future::pending().await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn another_connections_commit_wakes_a_subscriber_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let daemon = rusqlite::Connection::open(&db).unwrap();
        daemon
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        let mut commits = Commits::watch(&db).unwrap();
        let tool = rusqlite::Connection::open(&db).unwrap();
        tool.execute_batch("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); COMMIT")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), commits.committed())
            .await
            .expect("woken within 5 s")
            .unwrap();
        // The commit's writes may come as more than one wake; then the watch is quiet.
        while tokio::time::timeout(Duration::from_millis(100), commits.committed())
            .await
            .is_ok()
        {}
        let reads: i64 = tool
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(reads, 2);
        let quiet = tokio::time::timeout(Duration::from_millis(300), commits.committed()).await;
        assert!(quiet.is_err(), "woken by a read");
    }

    #[test]
    fn a_mirror_without_its_log_cannot_be_watched() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _guard = runtime.enter();
        assert!(Commits::watch(&dir.path().join("none.db")).is_err());
    }
}
