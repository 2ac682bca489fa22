//! Webhook gaps: entities a pull found changed although no webhook had announced them, so
//! lost or late webhooks that the scheduled pull repaired. Counted per kind in
//! `sync_state.webhook_gaps`, only while webhooks are configured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::apply::RowChange;
use crate::kind::Kind;

/// Gaps counted since the process started, per kind (in [`Kind::ALL`] order), beside the
/// running totals in `sync_state.webhook_gaps`.
#[derive(Debug, Default)]
pub struct GapCounts([AtomicU64; 4]);

impl GapCounts {
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind.index()].load(Ordering::Relaxed)
    }

    /// Called once the gaps are committed: a transaction the mirror refused is run again.
    pub(super) fn add(&self, kind: Kind, n: u64) {
        self.0[kind.index()].fetch_add(n, Ordering::Relaxed);
    }
}

/// When the mirror last wrote each of `keys` (`synced_at`), for the keys it holds; `None`
/// when gaps of `kind` are not counted yet: before its first full pull finished, every
/// row a pull writes is the store's first copy, not a change a webhook should have told of.
/// Read before a page is applied, which overwrites `synced_at`. One query per page.
pub fn previous_syncs(
    conn: &Connection,
    kind: Kind,
    keys: &[i64],
) -> rusqlite::Result<Option<HashMap<i64, i64>>> {
    let pulled_in_full: Option<bool> = conn
        .prepare_cached("SELECT last_full_finished IS NOT NULL FROM sync_state WHERE kind = ?1")?
        .query_row([kind.name()], |r| r.get(0))
        .optional()?;
    if pulled_in_full != Some(true) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT t.{key}, t.synced_at FROM {table} t JOIN json_each(?1) j ON t.{key} = j.value",
        key = kind.key_column(),
        table = kind.table(),
    );
    let list = serde_json::to_string(keys).expect("keys serialize");
    let previous = conn
        .prepare_cached(&sql)?
        .query_map([list], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(previous))
}

/// Counts the rows of `changes` that were written although no webhook event for them was
/// received since the mirror last wrote them (any event at all, for rows it did not hold),
/// adds them to `kind`'s `sync_state.webhook_gaps`, and returns how many.
/// Only written rows are looked at: a full pull of an unchanged store costs nothing here.
pub fn count(
    conn: &Connection,
    kind: Kind,
    changes: &[(i64, RowChange)],
    previous: &HashMap<i64, i64>,
) -> rusqlite::Result<u64> {
    let mut announced = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM webhook_events
                         WHERE kind = ?1 AND entity_key = ?2 AND received_at >= ?3)",
    )?;
    let mut gaps = 0;
    for (key, change) in changes {
        if *change != RowChange::Written {
            continue;
        }
        let since = previous.get(key).copied().unwrap_or(i64::MIN);
        let told: bool = announced.query_row(params![kind.name(), key, since], |r| r.get(0))?;
        gaps += u64::from(!told);
    }
    if gaps > 0 {
        conn.prepare_cached(
            "UPDATE sync_state SET webhook_gaps = webhook_gaps + ?2 WHERE kind = ?1",
        )?
        .execute(params![kind.name(), gaps as i64])?;
    }
    Ok(gaps)
}
