//! One process per mirror, and where that process tells `status` about its health.
//!
//! Two advisory locks hold the mirror for the life of the process; the kernel releases them
//! however the process ends, so a crash never leaves a stale lock:
//! - `<mirror>.lock`, named after the mirror's real path (symlinks and `..` resolved), which
//!   also carries what `status` cannot learn from the mirror itself: the owner's pid, and
//!   whether the mirror is refusing its writes (it cannot record that in the mirror it cannot
//!   write). It is opened once, at start, and rewritten in place, so a report still gets
//!   through when the directory has become read-only or the disk is full.
//! - the mirror file itself, which no path can hide: a hard link to a mirror is the same file.
//!
//! The descriptor that holds the mirror file also tells whether the file at the configured
//! path is still the one this process writes: deleted, moved or replaced, it is not.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::MirrorError;

/// Room kept in the lock file for a report, written at start so that later reports
/// overwrite bytes the file system has already allocated.
const REPORT_ROOM: usize = 1024;

/// How long a one-off command waits for another process's lock: long enough for `status`'s
/// instant of shared locking, short enough that a daemon's lock is reported at once.
const BRIEF_PATIENCE: Duration = Duration::from_millis(500);

/// A writer of this same process that was just dropped releases its locks when its thread
/// has closed the mirror: that is worth waiting for.
const OWN_PATIENCE: Duration = Duration::from_secs(5);

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

/// The locks held by this process.
pub struct MirrorLock {
    /// Declared first, so dropped first: a writer of this process that opens the mirror next
    /// finds the mirror file free once it holds `<mirror>.lock`.
    held: Option<HeldFile>,
    file: File,
    path: PathBuf,
}

/// The mirror file, locked, and which file it is.
///
/// Closing any descriptor of a file drops every POSIX lock this process holds on it,
/// SQLite's among them: this one must be closed only after the process's connections to the
/// mirror (the writer drops it last).
struct HeldFile {
    /// Held open for its lock alone.
    _file: File,
    mirror: PathBuf,
    dev: u64,
    ino: u64,
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

/// `<mirror>.lock` beside the mirror's real path, so that every path to one mirror (a
/// symlink, `..`) names the same lock.
pub fn lock_path(mirror: &Path) -> PathBuf {
    let mut path = real_path(mirror).into_os_string();
    path.push(".lock");
    PathBuf::from(path)
}

/// The path with symlinks and `..` resolved; for a file not created yet, its directory's
/// real path and its name.
fn real_path(mirror: &Path) -> PathBuf {
    if let Ok(real) = mirror.canonicalize() {
        return real;
    }
    let dir = match mirror.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (dir.canonicalize(), mirror.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => mirror.to_path_buf(),
    }
}

/// Takes the mirror for a one-off command (or a test): another process's lock is reported
/// at once (after [`BRIEF_PATIENCE`]), as [`MirrorError::Busy`].
pub fn lock(mirror: &Path) -> Result<MirrorLock, MirrorError> {
    let (file, path) = open_lock_file(mirror)?;
    let own_pid = std::process::id();
    let started = Instant::now();
    loop {
        if take(&file, mirror, &path)? {
            return MirrorLock::new(file, path, mirror);
        }
        let pid = read_report(&path).pid;
        let patience = if pid == Some(own_pid) {
            OWN_PATIENCE
        } else {
            BRIEF_PATIENCE
        };
        if started.elapsed() >= patience {
            return Err(busy(mirror, pid));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Takes the mirror for the daemon, waiting up to `wait` for another ecwid-sync that holds
/// it (a hand-run `sync` while the service starts). The wait is logged when it begins and
/// when it ends. `Ok(None)`: `shutdown` came first.
pub async fn lock_waiting(
    mirror: &Path,
    wait: Duration,
    shutdown: &CancellationToken,
) -> Result<Option<MirrorLock>, MirrorError> {
    let (file, path) = open_lock_file(mirror)?;
    let started = Instant::now();
    let mut logged = false;
    loop {
        if take(&file, mirror, &path)? {
            if logged {
                tracing::info!(
                    mirror = %mirror.display(),
                    waited_secs = started.elapsed().as_secs(),
                    "the other ecwid-sync let the mirror go; starting"
                );
            }
            return MirrorLock::new(file, path, mirror).map(Some);
        }
        let pid = read_report(&path).pid;
        if started.elapsed() >= wait {
            return Err(busy(mirror, pid));
        }
        if !logged {
            logged = true;
            tracing::warn!(
                mirror = %mirror.display(),
                pid = pid.map_or_else(|| "unknown".into(), |p| p.to_string()),
                wait_secs = wait.as_secs(),
                "another ecwid-sync holds the mirror; waiting for it (mirror.lock_wait_secs)"
            );
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

fn open_lock_file(mirror: &Path) -> Result<(File, PathBuf), MirrorError> {
    let path = lock_path(mirror);
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| lock_error(mirror, &path, source))?;
    Ok((file, path))
}

/// One attempt at `<mirror>.lock`: `Ok(false)` while another process holds it.
fn take(file: &File, mirror: &Path, path: &Path) -> Result<bool, MirrorError> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(lock_error(mirror, path, e)),
    }
}

fn lock_error(mirror: &Path, lock: &Path, source: std::io::Error) -> MirrorError {
    MirrorError::Lock {
        path: mirror.display().to_string(),
        lock: lock.display().to_string(),
        source,
    }
}

fn busy(mirror: &Path, pid: Option<u32>) -> MirrorError {
    MirrorError::Busy {
        path: mirror.display().to_string(),
        pid: pid.map_or_else(|| "unknown".into(), |p| p.to_string()),
    }
}

impl MirrorLock {
    fn new(file: File, path: PathBuf, mirror: &Path) -> Result<MirrorLock, MirrorError> {
        let mut lock = MirrorLock {
            held: None,
            file,
            path,
        };
        lock.write(None)
            .map_err(|source| lock_error(mirror, &lock.path, source))?;
        Ok(lock)
    }

    /// Locks the mirror file itself, once it exists (SQLite has opened or created it): a
    /// second process that reached it under another name, a hard link, is refused here.
    pub fn hold_file(&mut self, mirror: &Path) -> Result<(), MirrorError> {
        let shown = mirror.display().to_string();
        if mirror.is_dir() {
            return Err(MirrorError::IsDirectory {
                path: shown,
                example: mirror.join("mirror.db").display().to_string(),
            });
        }
        let file = File::open(mirror).map_err(|source| MirrorError::Lock {
            path: shown.clone(),
            lock: shown.clone(),
            source,
        })?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                // Whoever holds `<mirror>.lock` has let go of the file before it: a holder
                // here reached it by another name.
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < BRIEF_PATIENCE => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(MirrorError::BusyElsewhere { path: shown });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(MirrorError::Lock {
                        path: shown.clone(),
                        lock: shown,
                        source,
                    });
                }
            }
        }
        let meta = file.metadata().map_err(|source| MirrorError::Lock {
            path: shown.clone(),
            lock: shown,
            source,
        })?;
        self.held = Some(HeldFile {
            _file: file,
            mirror: mirror.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        });
        Ok(())
    }

    pub fn holds_file(&self) -> bool {
        self.held.is_some()
    }

    /// Whether the configured path still names the file this process holds; if not, what
    /// became of it. A `stat`, cheap enough to ask before every transaction.
    pub fn file_lost(&self) -> Option<&'static str> {
        let held = self.held.as_ref()?;
        match std::fs::metadata(&held.mirror) {
            Ok(meta) if meta.dev() == held.dev && meta.ino() == held.ino => None,
            Ok(_) => Some("replaced by another file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("deleted or moved away"),
            // Unreadable for a moment (a directory's permissions changed): the writes say
            // more than a guess would.
            Err(_) => None,
        }
    }

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
