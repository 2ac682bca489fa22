//! The webhook inbox (`webhook_events`): rows the receiver writes, one per event received.

use rusqlite::{Connection, params};

use crate::sync::Kind;

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
