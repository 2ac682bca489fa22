//! Local stock changes and the daemon's own writes.
//!
//! Triggers (schema 005) record every change a tool makes to a quantity in `outbox`. The
//! daemon's writes of what Ecwid reports must not be recorded. Its own connections run with
//! triggers off (see `mirror::own_writes`), which already keeps them silent; the writes of
//! remote values also run inside [`uncaptured`], which raises the flag the triggers check in
//! `capture_paused` for the length of the write only, so that they stay uncaptured on any
//! connection that has triggers on. The flag is a row that is never committed, so no other
//! connection can ever see it.

use rusqlite::Connection;

use super::MirrorError;

/// The states of a change whose delta the mirror's quantity includes (on top of Ecwid's
/// latest value) until it is settled.
pub const OPEN_STATES: &str = "('pending', 'sending')";

/// Runs `f`, a write of remote values inside the transaction on `conn`, without capturing
/// the quantities it changes. The flag is lowered again whether `f` succeeds or not, so even
/// a caller that commits after an error leaves capture on for everyone else.
pub fn uncaptured<R>(
    conn: &Connection,
    f: impl FnOnce() -> Result<R, MirrorError>,
) -> Result<R, MirrorError> {
    let already: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM capture_paused)", [], |r| {
            r.get(0)
        })?;
    if already {
        return f();
    }
    conn.execute(
        "INSERT INTO capture_paused (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER))",
        [],
    )?;
    let out = f();
    conn.execute("DELETE FROM capture_paused", [])?;
    out
}

/// Lowers a flag that was ever committed (only a bug could do that): while a row is there,
/// tools' stock changes would go unrecorded.
/// The same for `capture_writing`, the capture triggers' own flag: while a row is there,
/// tools could write the outbox directly.
pub fn clear_stale_flag(conn: &Connection) -> rusqlite::Result<()> {
    for table in ["capture_paused", "capture_writing"] {
        let stale = conn.execute(&format!("DELETE FROM {table}"), [])?;
        if stale > 0 {
            tracing::error!(
                table,
                "the mirror held a committed capture flag; removed it"
            );
        }
    }
    Ok(())
}
