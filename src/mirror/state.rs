//! The `sync_state` bookkeeping (cursors, run times, last error) and the read-only status
//! report built from it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::full_progress::{self, FullStep};
use super::inbox::{self, WebhookStatus};
use super::lock::{self, LockReport};
use super::quarantine;
use crate::kind::Kind;

/// One kind's row of `sync_state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindState {
    pub cursor: Option<i64>,
    pub deleted_cursor: Option<i64>,
    pub stats_marker: Option<String>,
    pub last_full_started: Option<i64>,
    pub last_full_finished: Option<i64>,
    pub last_incremental: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Times latest-stats' count differed from the mirror's rows on a quiet store (each
    /// scheduled a full pull), and the store's count the last time.
    pub count_mismatches: i64,
    pub count_mismatch_store: Option<i64>,
}

impl KindState {
    /// When the last pull, incremental or full, succeeded (unix seconds).
    pub fn last_success(&self) -> Option<i64> {
        match (self.last_incremental, self.last_full_finished) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Changes to one kind's row; `None` leaves a column as it is. The cursors only move forward.
#[derive(Clone, Debug, Default)]
pub struct StateUpdate {
    pub cursor: Option<i64>,
    pub deleted_cursor: Option<i64>,
    /// `Some(None)` clears the marker.
    pub stats_marker: Option<Option<String>>,
    pub last_full_started: Option<i64>,
    pub last_full_finished: Option<i64>,
    pub last_incremental: Option<i64>,
    /// `Some(None)` clears the error after a successful run, unless the kind has
    /// quarantined entities.
    pub error: Option<Option<(String, i64)>>,
    /// Counts one more count mismatch, with the store's count.
    pub count_mismatch: Option<i64>,
    /// A step of a full pull, so that an interrupted one can resume.
    pub full: Option<FullStep>,
}

/// A successful run does not clear the error while the kind has quarantined entities: the
/// pass reports them right after, and `status` must never show the kind clean meanwhile.
pub fn update(conn: &Connection, kind: Kind, u: &StateUpdate) -> rusqlite::Result<()> {
    let set_error = match &u.error {
        None => false,
        Some(None) => !quarantine::any(conn, kind)?,
        Some(Some(_)) => true,
    };
    conn.prepare_cached("INSERT OR IGNORE INTO sync_state (kind) VALUES (?1)")?
        .execute([kind.name()])?;
    conn.prepare_cached(
        "UPDATE sync_state SET
             cursor = CASE WHEN ?2 IS NULL THEN cursor ELSE max(coalesce(cursor, ?2), ?2) END,
             deleted_cursor = CASE WHEN ?3 IS NULL THEN deleted_cursor
                                   ELSE max(coalesce(deleted_cursor, ?3), ?3) END,
             stats_marker = CASE WHEN ?4 THEN ?5 ELSE stats_marker END,
             last_full_started = coalesce(?6, last_full_started),
             last_full_finished = coalesce(?7, last_full_finished),
             last_incremental = coalesce(?8, last_incremental),
             last_error = CASE WHEN ?9 THEN ?10 ELSE last_error END,
             last_error_at = CASE WHEN ?9 THEN ?11 ELSE last_error_at END,
             count_mismatches = count_mismatches + (?12 IS NOT NULL),
             count_mismatch_store = coalesce(?12, count_mismatch_store)
         WHERE kind = ?1",
    )?
    .execute(params![
        kind.name(),
        u.cursor,
        u.deleted_cursor,
        u.stats_marker.is_some(),
        u.stats_marker.clone().flatten(),
        u.last_full_started,
        u.last_full_finished,
        u.last_incremental,
        set_error,
        u.error
            .as_ref()
            .and_then(|e| e.as_ref().map(|(m, _)| m.clone())),
        u.error.as_ref().and_then(|e| e.as_ref().map(|(_, at)| *at)),
        u.count_mismatch,
    ])?;
    if let Some(step) = &u.full {
        full_progress::record(conn, kind, step, super::unix_now())?;
    }
    Ok(())
}

pub fn read(conn: &Connection, kind: Kind) -> rusqlite::Result<KindState> {
    Ok(conn
        .prepare_cached(
            "SELECT cursor, deleted_cursor, stats_marker, last_full_started, last_full_finished,
                    last_incremental, last_error, last_error_at, count_mismatches,
                    count_mismatch_store
               FROM sync_state WHERE kind = ?1",
        )?
        .query_row([kind.name()], |r| {
            Ok(KindState {
                cursor: r.get(0)?,
                deleted_cursor: r.get(1)?,
                stats_marker: r.get(2)?,
                last_full_started: r.get(3)?,
                last_full_finished: r.get(4)?,
                last_incremental: r.get(5)?,
                last_error: r.get(6)?,
                last_error_at: r.get(7)?,
                count_mismatches: r.get(8)?,
                count_mismatch_store: r.get(9)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// What `ecwid-sync status` shows for one kind.
#[derive(Debug, Serialize)]
pub struct KindStatus {
    pub kind: &'static str,
    pub rows: i64,
    /// Child rows: variations of products, items of orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_rows: Option<i64>,
    #[serde(flatten)]
    pub state: KindState,
    /// Entities full pulls found disagreeing with Ecwid's documents and wrote again (see
    /// [`super::repair`]).
    pub rows_repaired: i64,
    /// Entities whose document does not fit the model: how many, and the first few.
    pub quarantine: quarantine::QuarantineSummary,
}

/// The rows of a table.
pub fn row_count(conn: &Connection, table: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
}

/// What `ecwid-sync status` shows: the mirror as a whole, then each kind.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The ecwid-sync reading the mirror (see [`crate::version`]).
    pub version: &'static str,
    pub mirror: String,
    /// The daemon (or `sync`) holding the mirror, from its lock file.
    pub daemon: LockReport,
    /// The size of `<mirror>-wal`: it grows while a reader keeps a transaction open.
    pub wal_bytes: u64,
    pub kinds: Vec<KindStatus>,
    /// The webhook inbox and the gaps pulls found; `null` for a mirror without the inbox
    /// (not yet migrated by a daemon of this version).
    pub webhooks: Option<WebhookStatus>,
    /// Local stock changes on their way to Ecwid or waiting for the operator; `null` for a
    /// mirror without the outbox.
    pub outbox: Option<super::outbox_review::OutboxStatus>,
    /// Privacy requests received and customers erased; `null` for a mirror without the
    /// privacy tables.
    pub privacy: Option<super::privacy::PrivacyStatus>,
}

impl Status {
    pub fn read(conn: &Connection, path: &Path) -> rusqlite::Result<Status> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Status {
            version: crate::version::VERSION,
            mirror: path.display().to_string(),
            daemon: lock::read_report(&lock::lock_path(path)),
            wal_bytes: std::fs::metadata(wal).map_or(0, |m| m.len()),
            kinds: kinds_status(conn)?,
            webhooks: inbox::status(conn, super::unix_now())?,
            outbox: super::outbox_review::OutboxStatus::read(conn)?,
            privacy: super::privacy::status(conn)?,
        })
    }
}

fn kinds_status(conn: &Connection) -> rusqlite::Result<Vec<KindStatus>> {
    // A mirror the daemon has not migrated yet (status runs beside an older daemon, or
    // before the first start of a new binary) has no quarantine.
    let has_quarantine = quarantine::table_exists(conn)?;
    Kind::ALL
        .iter()
        .map(|&kind| {
            let count = |table: &str| row_count(conn, table);
            Ok(KindStatus {
                kind: kind.name(),
                rows: count(kind.table())?,
                child_rows: kind.child_table().map(count).transpose()?,
                state: read(conn, kind)?,
                rows_repaired: super::repair::repaired(conn, kind)?,
                quarantine: if has_quarantine {
                    quarantine::summary(conn, kind, quarantine::SHOWN)?
                } else {
                    Default::default()
                },
            })
        })
        .collect()
}
