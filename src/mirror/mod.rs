//! Everything that speaks SQLite: opening and migrating the mirror, the single writer, the
//! upserts of remote documents (and a full pull's repair of rows written around them), the
//! capture of local stock changes and the read-only status queries.

pub mod actions;
pub mod apply;
pub mod capture;
mod checkpointer;
pub mod commit_watch;
pub mod conflicts;
pub mod customer_export;
pub mod dismiss;
pub mod entity;
pub mod fields;
pub mod full_progress;
pub mod gaps;
pub mod inbox;
pub mod inbox_review;
pub mod lock;
mod multi_row;
pub mod new_products;
pub mod outbox;
pub mod outbox_review;
pub mod privacy;
pub mod quarantine;
pub mod redaction;
pub mod rows;
mod stall;
pub mod state;
pub mod subject;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use apply::repair;
pub use writer::MirrorWriter;

/// Migrations in order; `PRAGMA user_version` is the number applied so far.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_initial", include_str!("../../schema/001_initial.sql")),
    (
        "002_current_platform",
        include_str!("../../schema/002_current_platform.sql"),
    ),
    (
        "003_no_silent_staleness",
        include_str!("../../schema/003_no_silent_staleness.sql"),
    ),
    (
        "004_webhooks",
        include_str!("../../schema/004_webhooks.sql"),
    ),
    (
        "005_stock_outbox",
        include_str!("../../schema/005_stock_outbox.sql"),
    ),
    (
        "006_field_push",
        include_str!("../../schema/006_field_push.sql"),
    ),
    (
        "007_dismissed_changes",
        include_str!("../../schema/007_dismissed_changes.sql"),
    ),
    (
        "008_value_bounds",
        include_str!("../../schema/008_value_bounds.sql"),
    ),
    ("009_repairs", include_str!("../../schema/009_repairs.sql")),
    (
        "010_bookkeeping_refused",
        include_str!("../../schema/010_bookkeeping_refused.sql"),
    ),
    ("011_privacy", include_str!("../../schema/011_privacy.sql")),
    (
        "012_stock_levels_shared",
        include_str!("../../schema/012_stock_levels_shared.sql"),
    ),
    (
        "013_operator_actions",
        include_str!("../../schema/013_operator_actions.sql"),
    ),
    (
        "014_more_fields",
        include_str!("../../schema/014_more_fields.sql"),
    ),
    (
        "015_new_products",
        include_str!("../../schema/015_new_products.sql"),
    ),
    (
        "016_category_fields",
        include_str!("../../schema/016_category_fields.sql"),
    ),
    (
        "017_create_attempts",
        include_str!("../../schema/017_create_attempts.sql"),
    ),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("cannot open the mirror {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the mirror {path} has schema version {found}, newer than this ecwid-sync understands ({supported}); upgrade ecwid-sync or point mirror.path at another file"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "the mirror {path} has not been created yet; run `ecwid-sync sync` (with `--store NAME` where several stores are configured) or the daemon first"
    )]
    Missing { path: String },
    #[error(
        "another ecwid-sync (pid {pid}) is using the mirror {path}; one process per mirror (read-only commands such as `status` work beside it)"
    )]
    Busy { path: String, pid: String },
    #[error(
        "another ecwid-sync is using the mirror file {path} under another name (a hard link to the same file); one process per mirror"
    )]
    BusyElsewhere { path: String },
    /// The file at the configured path is no longer the one this process writes.
    #[error(
        "the mirror {path} was {what} while ecwid-sync was running; stopping so that a restart creates the mirror again and pulls the store in full (local changes still open in the lost file are listed in the log)"
    )]
    Replaced { path: String, what: &'static str },
    #[error(
        "cannot open the mirror {path}: its lock file {lock}: {source}; the mirror's directory must exist and be writable by the user ecwid-sync runs as"
    )]
    Lock {
        path: String,
        lock: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migration {name} failed: {source}")]
    Migrate {
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the mirror {path} is read-only for the user ecwid-sync runs as; make the file (and any {path}-wal and {path}-shm beside it) writable by that user"
    )]
    ReadOnly { path: String },
    #[error(
        "the mirror {path} stayed locked for {secs} s: another process holds a write transaction on it (find it with `fuser {path}` or `lsof {path}`); the next pass resumes where this one stopped"
    )]
    Locked {
        path: String,
        secs: u64,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "cannot write the mirror {path} for {secs} s; check free disk space (df) and that the file, its -wal and -shm files and its directory are writable by the user ecwid-sync runs as"
    )]
    Unwritable {
        path: String,
        secs: u64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path} is a directory; name the SQLite file in it, e.g. {example}")]
    IsDirectory { path: String, example: String },
    #[error("{path} is not a SQLite database ({source})")]
    NotADatabase {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{path} is a SQLite database but not an ecwid-sync mirror (it has tables, and no schema version); name the mirror file, e.g. /var/lib/ecwid-sync/mirror.db"
    )]
    NotAMirror { path: String },
    /// A read-only command's query failed; never a write, so never worded as one.
    #[error("cannot read the mirror {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{path} exists and is not a mirror that `ecwid-sync demo` made; the demo replaces only its own files. Choose another file with --db, e.g. --db ecwid-demo-2.db"
    )]
    NotADemo { path: String },
    #[error("cannot remove the earlier demo mirror {path}: {source}")]
    DemoCleanup {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mirror write failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot parse a document from Ecwid: {0}")]
    Document(#[from] serde_json::Error),
    /// A document whose field `path` does not fit the model.
    #[error("field `{path}`: {message}")]
    Field { path: String, message: String },
    #[error("the mirror writer has stopped")]
    WriterGone,
}

fn pragmas(conn: &Connection) -> rusqlite::Result<()> {
    // WAL lets the accounting tools read while the daemon writes; NORMAL sync is safe with
    // WAL (a power cut may lose the last commits, never corrupt the file), and what it may
    // lose is re-pulled from Ecwid.
    conn.busy_timeout(Duration::from_secs(10))?;
    // Every commit rewrites the last, partly filled page of each table and index into the
    // WAL, which favours small pages. A product row with its document is a little over
    // 4 KB: an 8 KB page holds only one, half empty, while with 4 KB pages its document
    // spills into one overflow page that it nearly fills. 4 KB pages make the mirror of
    // 100,000 products a third smaller (725 MB instead of 1.08 GB), which is that much less
    // log to write, sync and copy: a full pull spent 15% less time writing (system time of
    // the writer, medians of 5 runs each). Only takes effect when the file is created.
    conn.pragma_update(None, "page_size", 4096)?;
    // 32 MB of page cache holds the indexes of a 100,000-product store while pulling.
    conn.pragma_update(None, "cache_size", -32768)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Checkpoints (copying the WAL into the file, with two fsyncs) run on the committing
    // thread; every 8192 pages (64 MB) instead of SQLite's 1000 keeps a bulk pull from
    // stalling on them, and the size limit gives the disk space back afterwards. The
    // daemon's writer also has a background checkpointer (see `checkpointer`), which does
    // most of that work before the writer's own checkpoint comes.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Bounds the page caches of every mirror this process opens to about `bytes` together
/// (SQLite's soft heap limit, process-wide): a daemon of many stores would otherwise keep
/// each store's 32 MB cache (see `pragmas`) filled with that store's pages, and fifty stores
/// would hold more than a gigabyte. Over the limit, a cache reuses its oldest pages instead
/// of growing; the pages come back from the operating system's cache when read again.
pub fn limit_page_caches(bytes: i64) -> Result<(), MirrorError> {
    let conn = Connection::open_in_memory().map_err(|source| MirrorError::Open {
        path: ":memory:".into(),
        source,
    })?;
    conn.pragma_update(None, "soft_heap_limit", bytes)
        .map_err(|source| MirrorError::Open {
            path: ":memory:".into(),
            source,
        })
}

/// Opens the mirror read-write as the daemon's writer does (triggers off), creating it if
/// needed, and applies pending migrations, without the process lock or retries the writer
/// adds (schema tests, tests of the daemon's writes).
pub fn open_and_migrate(path: &Path) -> Result<Connection, MirrorError> {
    let mut conn = open(path)?;
    own_writes(&conn)?;
    migrate(&mut conn, &path.display().to_string())?;
    Ok(conn)
}

/// Opens the mirror read-write, creating it if needed; [`migrate`] comes next.
fn open(path: &Path) -> Result<Connection, MirrorError> {
    let shown = path.display().to_string();
    let open_err = |source| MirrorError::Open {
        path: shown.clone(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    // SQLite opens a file it may not write read-only, without a word; every write would
    // then fail.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(open_err)? {
        return Err(MirrorError::ReadOnly { path: shown });
    }
    pragmas(&conn).map_err(open_err)?;
    immediate_transactions(&mut conn);
    Ok(conn)
}

/// Makes every transaction on `conn` take the write lock when it begins. Tools write to the
/// mirror too (stock changes); a deferred transaction that read before a tool's commit
/// could not write after it (SQLITE_BUSY at once, whatever the busy timeout), while one that
/// starts with the lock simply waits its turn.
fn immediate_transactions(conn: &mut Connection) {
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
}

/// Marks `conn` as one of ecwid-sync's own: triggers do not fire on it. The triggers are all
/// for tools: they check and capture tools' writes and refuse tools' writes to what the
/// daemon keeps for itself (schema 010), which its own connections must write.
fn own_writes(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER,
        false,
    )?;
    Ok(())
}

/// Opens an existing mirror for reading only (status, tests); never creates or migrates.
pub fn open_read_only(path: &Path) -> Result<Connection, MirrorError> {
    let shown = path.display().to_string();
    let (conn, version) = existing_file(path)?.ok_or_else(|| MirrorError::Missing {
        path: shown.clone(),
    })?;
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|source| MirrorError::Read {
                path: shown.clone(),
                source,
            })?;
        return Err(if tables == 0 {
            MirrorError::Missing { path: shown }
        } else {
            MirrorError::NotAMirror { path: shown }
        });
    }
    supported(version, &shown)?;
    Ok(conn)
}

/// An existing file at `path` opened read-only, with its schema version (0: not a mirror
/// yet); `None` when there is no file. A directory, or a file SQLite cannot read as a
/// database, is an error that says so.
fn existing_file(path: &Path) -> Result<Option<(Connection, i64)>, MirrorError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(MirrorError::IsDirectory {
            path: shown,
            example: path.join("mirror.db").display().to_string(),
        });
    }
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| MirrorError::Open {
        path: shown.clone(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|source| MirrorError::Read {
            path: shown.clone(),
            source,
        })?;
    // SQLite opens any file; the first read finds out whether it is a database.
    let version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|source| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => MirrorError::NotADatabase {
                path: shown.clone(),
                source,
            },
            _ => MirrorError::Read {
                path: shown.clone(),
                source,
            },
        })?;
    Ok(Some((conn, version)))
}

/// Opens an existing mirror read-write for a command that changes it beside the daemon
/// (`outbox resolve`); never creates or migrates.
pub fn open_existing(path: &Path) -> Result<Connection, MirrorError> {
    drop(open_read_only(path)?);
    let shown = path.display().to_string();
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| MirrorError::Open {
        path: shown.clone(),
        source,
    })?;
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(MirrorError::ReadOnly { path: shown });
    }
    conn.busy_timeout(Duration::from_secs(10))?;
    immediate_transactions(&mut conn);
    own_writes(&conn)?;
    Ok(conn)
}

/// What `check-config` can tell about `mirror.path` before a run would find out: the
/// directory exists and this user may create files in it (the lock, `-wal`, `-shm`), the
/// path is not a directory, and an existing file is a mirror of a version this binary
/// reads. Writes nothing but a probe file it removes at once.
pub fn check_path(path: &Path) -> Result<(), String> {
    let at_key = |e: MirrorError| format!("mirror.path: {e}");
    let existing = existing_file(path).map_err(at_key)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "mirror.path: the directory {} does not exist; create it (the systemd unit's StateDirectory= creates /var/lib/ecwid-sync)",
            dir.display()
        ));
    }
    let probe = dir.join(format!(".ecwid-sync-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => {
            return Err(format!(
                "mirror.path: cannot create files in {} ({e}); the mirror's directory must be writable by the user ecwid-sync runs as",
                dir.display()
            ));
        }
    }
    match existing {
        Some((_, version)) => supported(version, &path.display().to_string()).map_err(at_key),
        None => Ok(()),
    }
}

/// Refuses a mirror migrated by a newer ecwid-sync rather than misread it.
fn supported(version: i64, shown: &str) -> Result<(), MirrorError> {
    if version > SCHEMA_VERSION {
        return Err(MirrorError::TooNew {
            path: shown.to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies every migration above the file's `user_version`, all in one transaction, so a
/// crash mid-way leaves the previous version intact.
/// The version is read inside an immediate (write-locked) transaction: two processes
/// starting at once cannot both see version 0 and both create the tables.
fn migrate(conn: &mut Connection, shown: &str) -> Result<(), MirrorError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    supported(version, shown)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (name, sql) in &MIGRATIONS[version as usize..] {
        tx.execute_batch(sql)
            .map_err(|source| MirrorError::Migrate { name, source })?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    tracing::info!(
        from = version,
        to = SCHEMA_VERSION,
        "mirror schema migrated"
    );
    Ok(())
}

/// `PRAGMA application_id` of the mirrors `ecwid-sync demo` makes ("ESDM"), by which a later
/// demo knows a file it may replace.
pub const DEMO_APPLICATION_ID: i32 = 0x4553_444D;

/// Makes room at `path` for a new demo mirror: nothing there, or an earlier demo's mirror
/// that no process holds, whose files are removed. Anything else is refused before it is
/// touched: a real mirror, any other file, a demo still running on it.
pub fn clear_for_demo(path: &Path) -> Result<(), MirrorError> {
    let shown = path.display().to_string();
    let demo_made = match existing_file(path) {
        Ok(None) => return Ok(()),
        Ok(Some((conn, _))) => conn
            .pragma_query_value(None, "application_id", |r| r.get::<_, i32>(0))
            .is_ok_and(|id| id == DEMO_APPLICATION_ID),
        Err(e @ MirrorError::IsDirectory { .. }) => return Err(e),
        Err(_) => false,
    };
    if !demo_made {
        return Err(MirrorError::NotADemo { path: shown });
    }
    // Held while the files go, so that a demo still running keeps its mirror.
    let _lock = lock::lock(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(MirrorError::DemoCleanup {
                    path: PathBuf::from(name).display().to_string(),
                    source: e,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Seconds since the epoch, the unit of every time column.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_caches_limit_holds_for_every_connection_of_the_process() {
        super::limit_page_caches(512 * 1024 * 1024).unwrap();
        let other = rusqlite::Connection::open_in_memory().unwrap();
        let limit: i64 = other
            .query_row("PRAGMA soft_heap_limit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(limit, 512 * 1024 * 1024);
    }
}
