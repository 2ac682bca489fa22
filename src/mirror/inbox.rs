//! The webhook inbox, `webhook_events`: the receiver commits each event it acknowledges as
//! a row (`pending`, or `ignored`/`too_old`); the delta worker reads the pending ones and
//! moves each on to `applied` or `echo` in the very transaction that writes what its entity
//! reads as now, so a crash can neither lose an event nor apply one twice.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::apply::{self, RowChange, Rows};
use super::{MirrorError, MirrorWriter, quarantine};
use crate::kind::Kind;

/// What becomes of an event, as `webhook_events.state` holds it. The receiver writes the
/// first three; the delta worker moves `pending` rows on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventState {
    /// To apply: the delta worker re-reads the entity.
    Pending,
    /// A type the mirror does not hold, or a kind not in `sync.kinds`.
    Ignored,
    /// Created before the replay window (`webhooks.max_event_age_secs`): never applied.
    TooOld,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Ignored => "ignored",
            EventState::TooOld => "too_old",
        }
    }
}

/// One row of `webhook_events` as the receiver writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxRow {
    pub event_id: String,
    pub event_type: String,
    pub kind: Option<Kind>,
    pub entity_key: Option<i64>,
    pub order_id: Option<String>,
    pub event_created: i64,
    pub received_at: i64,
    pub state: EventState,
}

/// Inserts `rows` in one transaction. Returns, per row, whether it was new: an eventId
/// already there (an earlier delivery, or the same event twice in `rows`) is left as it is.
pub fn insert_events(conn: &mut Connection, rows: &[InboxRow]) -> rusqlite::Result<Vec<bool>> {
    let tx = conn.transaction()?;
    let mut inserted = Vec::with_capacity(rows.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO webhook_events
                 (event_id, event_type, kind, entity_key, order_id, event_created, received_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for row in rows {
            let n = insert.execute(params![
                row.event_id,
                row.event_type,
                row.kind.map(Kind::name),
                row.entity_key,
                row.order_id,
                row.event_created,
                row.received_at,
                row.state.as_str(),
            ])?;
            inserted.push(n == 1);
        }
    }
    tx.commit()?;
    Ok(inserted)
}

/// A pending event as the worker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    pub event_id: String,
    pub event_type: String,
    /// As the receiver wrote it; `None` or a name the worker does not mirror is ignored.
    pub kind: Option<String>,
    pub entity_key: Option<i64>,
    /// Orders: the public string id.
    pub order_id: Option<String>,
    /// Ecwid's time of the event.
    pub event_created: i64,
}

/// One entity read again for the events that named it.
#[derive(Clone, Debug)]
pub struct DeltaTarget {
    /// The mirror's key; `None` for an order its events named by public id only.
    pub key: Option<i64>,
    pub order_id: Option<String>,
    pub event_ids: Vec<String>,
}

/// What one read of a kind's entities found, to apply with the events it answers.
pub struct DeltaWrite {
    pub kind: Kind,
    /// The documents Ecwid returned.
    pub rows: Rows,
    /// Entities that exist but whose documents do not fit the model (key, error).
    pub unfit: Vec<(i64, String)>,
    /// Every entity asked for; one that is in neither `rows` nor `unfit` is gone.
    pub targets: Vec<DeltaTarget>,
}

/// What applying a [`DeltaWrite`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeltaOutcome {
    /// Events whose entity changed the mirror (or went into the quarantine).
    pub applied: u64,
    /// Events whose entity the mirror already held as read.
    pub echoes: u64,
    /// Rows written.
    pub written: u64,
    /// Rows removed: entities Ecwid confirmed gone, orders that turned out unfinished.
    pub removed: u64,
}

/// How a target's entity ended.
enum TargetEnd {
    Changed,
    Unchanged,
    Quarantined(String),
}

/// Pending events, oldest first, at most `limit`.
pub fn pending(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<PendingEvent>> {
    conn.prepare_cached(
        "SELECT event_id, event_type, kind, entity_key, order_id, event_created
           FROM webhook_events
          WHERE state = 'pending' ORDER BY received_at, rowid LIMIT ?1",
    )?
    .query_map([limit as i64], |r| {
        Ok(PendingEvent {
            event_id: r.get(0)?,
            event_type: r.get(1)?,
            kind: r.get(2)?,
            entity_key: r.get(3)?,
            order_id: r.get(4)?,
            event_created: r.get(5)?,
        })
    })?
    .collect()
}

/// Writes what was read and settles its events, in the caller's transaction. The rows go
/// through the same upserts as a pull's pages (an older document never overwrites a newer
/// one; an unfinished order leaves the mirror); an entity Ecwid no longer has is removed.
pub fn apply_deltas(
    tx: &Transaction,
    write: &DeltaWrite,
    now: i64,
) -> Result<DeltaOutcome, MirrorError> {
    let kind = write.kind;
    let changes: HashMap<i64, RowChange> = apply::apply_rows(tx, &write.rows, now)?
        .into_iter()
        .collect();
    let by_order_id: HashMap<&str, i64> = write
        .rows
        .order_ids()
        .into_iter()
        .map(|(key, id)| (id, key))
        .collect();
    let unfit: HashMap<i64, &str> = write
        .unfit
        .iter()
        .map(|(key, error)| (*key, error.as_str()))
        .collect();
    let mut outcome = DeltaOutcome {
        written: count(&changes, RowChange::Written),
        removed: count(&changes, RowChange::Removed),
        ..Default::default()
    };
    // Whether each entity found gone had a row to remove.
    let mut gone: HashMap<i64, bool> = HashMap::new();
    let mut settle = tx.prepare_cached(
        // A failure recorded by an earlier attempt stays: `attempts` and `last_error` tell
        // the story of an event that needed retries.
        "UPDATE webhook_events
            SET state = ?2, attempts = attempts + 1, last_error = coalesce(?3, last_error),
                processed_at = ?4
          WHERE event_id = ?1 AND state = 'pending'",
    )?;
    for target in &write.targets {
        let key = target.key.or_else(|| {
            let id = target.order_id.as_deref()?;
            by_order_id.get(id).copied()
        });
        let end = match key {
            Some(key) => match (changes.get(&key), unfit.get(&key)) {
                (Some(RowChange::Written | RowChange::Removed | RowChange::Repaired), _) => {
                    TargetEnd::Changed
                }
                (Some(RowChange::Unchanged), _) => TargetEnd::Unchanged,
                (None, Some(error)) => TargetEnd::Quarantined(error.to_string()),
                (None, None) => {
                    // Absent from a trusted id-list answer, or 404 on its own read.
                    let removed = match gone.get(&key) {
                        Some(removed) => *removed,
                        None => {
                            let removed = apply::delete_ids(tx, kind, &[key])? > 0;
                            outcome.removed += u64::from(removed);
                            gone.insert(key, removed);
                            removed
                        }
                    };
                    if removed {
                        TargetEnd::Changed
                    } else {
                        TargetEnd::Unchanged
                    }
                }
            },
            // An order known by public id only, which Ecwid does not have: the mirror, which
            // could only know it by its internal id, has nothing to remove.
            None => TargetEnd::Unchanged,
        };
        let (state, note) = match end {
            TargetEnd::Changed => ("applied", None),
            TargetEnd::Unchanged => ("echo", None),
            TargetEnd::Quarantined(error) => (
                "applied",
                Some(format!(
                    "the document does not fit the model, so the entity is in quarantine and every pass reads it again: {error}"
                )),
            ),
        };
        for event_id in &target.event_ids {
            let settled = settle.execute(params![event_id, state, note, now])? as u64;
            match state {
                "echo" => outcome.echoes += settled,
                _ => outcome.applied += settled,
            }
        }
    }
    let fit: Vec<i64> = changes.keys().chain(gone.keys()).copied().collect();
    quarantine::settle(tx, kind, &write.unfit, &fit, now)?;
    Ok(outcome)
}

fn count(changes: &HashMap<i64, RowChange>, which: RowChange) -> u64 {
    changes.values().filter(|c| **c == which).count() as u64
}

/// A failed read or write for these events: one more attempt, and why it failed. They stay
/// pending.
pub fn record_failure(
    conn: &Connection,
    event_ids: &[String],
    error: &str,
) -> rusqlite::Result<()> {
    let mut failed = conn.prepare_cached(
        "UPDATE webhook_events SET attempts = attempts + 1, last_error = ?2
          WHERE event_id = ?1 AND state = 'pending'",
    )?;
    for id in event_ids {
        failed.execute(params![id, error])?;
    }
    Ok(())
}

/// Settles events there is nothing to read for (their kind is not mirrored) as `ignored`.
pub fn ignore(
    conn: &Connection,
    event_ids: &[String],
    reason: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let mut ignore = conn.prepare_cached(
        "UPDATE webhook_events SET state = 'ignored', last_error = ?2, processed_at = ?3
          WHERE event_id = ?1 AND state = 'pending'",
    )?;
    for id in event_ids {
        ignore.execute(params![id, reason, now])?;
    }
    Ok(())
}

/// Deletes at most `limit` events processed before `cutoff` (those the receiver settled
/// without a processing time by when they were received); pending ones are never pruned.
pub fn prune(conn: &Connection, cutoff: i64, limit: usize) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM webhook_events WHERE rowid IN (
             SELECT rowid FROM webhook_events
              WHERE state <> 'pending' AND processed_at < ?1
             UNION ALL
             SELECT rowid FROM webhook_events
              WHERE state <> 'pending' AND processed_at IS NULL AND received_at < ?1
             LIMIT ?2)",
    )?
    .execute(params![cutoff, limit as i64])
}

/// How many events are pending, and when the oldest of them was received.
pub fn pending_figures(conn: &Connection) -> rusqlite::Result<(u64, Option<i64>)> {
    conn.prepare_cached(
        "SELECT count(*), min(received_at) FROM webhook_events WHERE state = 'pending'",
    )?
    .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
}

/// The webhook figures `ecwid-sync status` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStatus {
    /// Events received and not yet applied.
    pub pending: u64,
    /// Seconds since the oldest pending event was received.
    pub oldest_pending_age_secs: Option<i64>,
    /// When the last event was received (unix seconds).
    pub last_received_at: Option<i64>,
    /// Per kind: entities pulls found changed that no webhook had announced.
    pub gaps: BTreeMap<&'static str, i64>,
}

/// The webhook figures, or `None` for a mirror without the inbox yet (`status` beside an
/// older daemon that has not migrated it).
pub fn status(conn: &Connection, now: i64) -> rusqlite::Result<Option<WebhookStatus>> {
    let has_inbox: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'webhook_events')",
        [],
        |r| r.get(0),
    )?;
    if !has_inbox {
        return Ok(None);
    }
    let (pending, oldest) = pending_figures(conn)?;
    // The newest row is the last one inserted; reading it by rowid costs nothing however
    // many events the retention keeps.
    let last_received_at = conn
        .query_row(
            "SELECT received_at FROM webhook_events ORDER BY rowid DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let mut gaps = BTreeMap::new();
    for kind in Kind::ALL {
        let n: Option<i64> = conn
            .prepare_cached("SELECT webhook_gaps FROM sync_state WHERE kind = ?1")?
            .query_row([kind.name()], |r| r.get(0))
            .optional()?;
        gaps.insert(kind.name(), n.unwrap_or(0));
    }
    Ok(Some(WebhookStatus {
        pending,
        oldest_pending_age_secs: oldest.map(|t| (now - t).max(0)),
        last_received_at,
        gaps,
    }))
}

impl MirrorWriter {
    /// Pending events, oldest first, at most `limit`.
    pub async fn pending_events(&self, limit: usize) -> Result<Vec<PendingEvent>, MirrorError> {
        self.call(move |conn| Ok(pending(conn, limit)?)).await
    }

    /// Applies a read of entities and settles the events it answers, in one transaction.
    pub async fn apply_deltas(
        &self,
        write: DeltaWrite,
        now: i64,
    ) -> Result<DeltaOutcome, MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let outcome = apply_deltas(&tx, &write, now)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    /// See [`record_failure`].
    pub async fn record_delta_failure(
        &self,
        event_ids: Vec<String>,
        error: String,
    ) -> Result<(), MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            record_failure(&tx, &event_ids, &error)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// See [`ignore`].
    pub async fn ignore_events(
        &self,
        event_ids: Vec<String>,
        reason: &'static str,
        now: i64,
    ) -> Result<(), MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            ignore(&tx, &event_ids, reason, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// See [`prune`].
    pub async fn prune_events(&self, cutoff: i64, limit: usize) -> Result<usize, MirrorError> {
        self.call(move |conn| Ok(prune(conn, cutoff, limit)?)).await
    }

    /// See [`pending_figures`].
    pub async fn pending_figures(&self) -> Result<(u64, Option<i64>), MirrorError> {
        self.call(|conn| Ok(pending_figures(conn)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> InboxRow {
        InboxRow {
            event_id: id.into(),
            event_type: "product.updated".into(),
            kind: Some(Kind::Products),
            entity_key: Some(7),
            order_id: None,
            event_created: 1_700_000_000,
            received_at: 1_700_000_001,
            state: EventState::Pending,
        }
    }

    #[test]
    fn an_event_id_is_stored_once_whether_repeated_in_one_commit_or_across_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::mirror::open_and_migrate(&dir.path().join("m.db")).unwrap();
        let first = insert_events(&mut conn, &[row("a"), row("b"), row("a")]).unwrap();
        assert_eq!(first, vec![true, true, false]);
        let again = insert_events(&mut conn, &[row("b"), row("c")]).unwrap();
        assert_eq!(again, vec![false, true]);
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM webhook_events WHERE state = 'pending' AND kind = 'products'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 3);
    }
}
