//! One process per mirror, and where that process tells `status` about its health.
//!
//! An advisory lock on `<mirror>.lock` holds the mirror for the life of the process; the
//! kernel releases it however the process ends, so a crash never leaves a stale lock. The
//! file also carries what `status` cannot learn from the mirror itself: the owner's pid, and
//! whether the mirror is refusing its writes (it cannot record that in the mirror it cannot
//! write). The file is opened once, at start, and rewritten in place, so a report still gets
//! through when the directory has become read-only or the disk is full.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::MirrorError;

/// Room kept in the lock file for a report, written at start so that later reports
/// overwrite bytes the file system has already allocated.
const REPORT_ROOM: usize = 1024;

/// The mirror refusing writes, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStall {
    /// `locked`: another process holds a write transaction; `unwritable`: read-only file or
    /// file system, disk full, I/O error.
    pub problem: String,
    /// Unix seconds of the first refused write.
    pub since: i64,
    pub error: String,
}

/// The lock held by this process.
pub struct MirrorLock {
    file: File,
    path: PathBuf,
}

/// What a lock file says, read by `status`.
#[derive(Debug, Default, Serialize)]
pub struct LockReport {
    /// The pid of the last process that held the mirror.
    pub pid: Option<u32>,
    /// Whether that process still holds it (is running).
    pub running: bool,
    pub write_stall: Option<WriteStall>,
}

pub fn lock_path(mirror: &Path) -> PathBuf {
    let mut path = mirror.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// Takes the mirror for this process. A writer of this same process that was just dropped
/// releases the lock when its thread has drained its queue, and `status` takes a shared lock
/// for an instant to see whether a daemon runs: wait a moment for either before giving up.
pub fn lock(mirror: &Path) -> Result<MirrorLock, MirrorError> {
    let path = lock_path(mirror);
    let shown = mirror.display().to_string();
    let shown_lock = path.display().to_string();
    let io_err = |source| MirrorError::Lock {
        path: shown.clone(),
        lock: shown_lock.clone(),
        source,
    };
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    let own_pid = std::process::id();
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = read_report(&path).pid;
                let patience = if pid == Some(own_pid) { 5_000 } else { 500 };
                if started.elapsed() < Duration::from_millis(patience) {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                return Err(MirrorError::Busy {
                    path: shown.clone(),
                    pid: pid.map_or_else(|| "unknown".into(), |p| p.to_string()),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
    }
    let mut lock = MirrorLock { file, path };
    lock.write(None).map_err(io_err)?;
    Ok(lock)
}

impl MirrorLock {
    /// Records the mirror's write health for `status`; `None` when writes succeed.
    pub fn report(&mut self, stall: Option<&WriteStall>) {
        if let Err(e) = self.write(stall) {
            tracing::warn!(lock = %self.path.display(), error = %e, "cannot record the mirror's write health in its lock file");
        }
    }

    fn write(&mut self, stall: Option<&WriteStall>) -> std::io::Result<()> {
        let mut text = format!("{}\n", std::process::id());
        if let Some(stall) = stall {
            text.push_str(&serde_json::to_string(stall).expect("a stall serializes"));
            text.push('\n');
        }
        // Padding keeps the file's size, so a report never needs a new block.
        let room = REPORT_ROOM.max(text.len());
        text.extend(std::iter::repeat_n(' ', room - text.len()));
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.set_len(room as u64)?;
        self.file.flush()
    }
}

/// Reads `<mirror>.lock`, for `status` (which may run as another user, beside the daemon).
/// A missing or unreadable file reads as "no daemon has run here".
pub fn read_report(lock: &Path) -> LockReport {
    let Ok(mut file) = File::open(lock) else {
        return LockReport::default();
    };
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return LockReport::default();
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let pid = lines.next().and_then(|l| l.parse().ok());
    let write_stall = lines.next().and_then(|l| serde_json::from_str(l).ok());
    // A shared lock is refused while a process holds the exclusive one.
    let running = matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    );
    LockReport {
        pid,
        running,
        write_stall,
    }
}
