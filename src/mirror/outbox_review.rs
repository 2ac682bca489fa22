//! The outbox as the operator sees it: counts, listings, settling uncertain changes by hand,
//! and pruning what was applied long ago.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::capture;
use super::fields::{self, Entity};
use super::outbox::rederive_quantity;
use super::subject::Subject;
use super::{MirrorError, unix_now};

/// Outbox rows by state, leaving out those applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    pub pending: i64,
    pub sending: i64,
    pub failed: i64,
    pub uncertain: i64,
    /// Field changes held in an open conflict.
    pub conflict: i64,
    /// Open conflicts (`ecwid-sync conflicts list`).
    pub open_conflicts: i64,
    /// Failed changes the operator ended (`ecwid-sync outbox dismiss`): settled, kept as a
    /// record until pruned with the applied ones, so in no count that calls for a person.
    pub dismissed: i64,
}

impl StateCounts {
    pub fn read(conn: &Connection) -> rusqlite::Result<StateCounts> {
        let mut counts = StateCounts::default();
        let mut stmt = conn.prepare_cached(
            "SELECT state, count(*) FROM outbox WHERE state NOT IN ('applied', 'dropped') GROUP BY state",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            match state.as_str() {
                "pending" => counts.pending = n,
                "sending" => counts.sending = n,
                "failed" => counts.failed = n,
                "uncertain" => counts.uncertain = n,
                "conflict" => counts.conflict = n,
                "dismissed" => counts.dismissed = n,
                _ => {}
            }
        }
        counts.open_conflicts = super::conflicts::open_count(conn)?;
        Ok(counts)
    }

    /// The states of changes on their way or waiting for the operator (the gauge's), not
    /// those settled (applied, dropped, dismissed).
    pub fn by_state(&self) -> [(&'static str, i64); 5] {
        [
            ("pending", self.pending),
            ("sending", self.sending),
            ("failed", self.failed),
            ("uncertain", self.uncertain),
            ("conflict", self.conflict),
        ]
    }
}

/// When what has waited longest began to wait (unix seconds), for `/metrics`' ages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Oldest {
    /// The oldest change still on its way (pending, sending) was made.
    pub open_change: Option<i64>,
    /// The oldest batch whose changes still wait for Ecwid's answer was first sent: once
    /// Ecwid forgets its key (`push.key_lifetime_secs`), it cannot be sent again safely.
    pub unanswered_batch: Option<i64>,
    /// The oldest open conflict was found.
    pub open_conflict: Option<i64>,
}

impl Oldest {
    pub fn read(conn: &Connection) -> rusqlite::Result<Oldest> {
        conn.prepare_cached(
            "SELECT (SELECT min(created_at) FROM outbox WHERE state IN ('pending', 'sending')),
                    (SELECT min(b.first_sent) FROM push_batches b
                      WHERE EXISTS (SELECT 1 FROM outbox o
                                     WHERE o.batch_key = b.key AND o.state = 'sending')),
                    (SELECT min(created_at) FROM conflicts WHERE state = 'open')",
        )?
        .query_row([], |r| {
            Ok(Oldest {
                open_change: r.get(0)?,
                unanswered_batch: r.get(1)?,
                open_conflict: r.get(2)?,
            })
        })
    }
}

/// The outbox in `status`.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxStatus {
    #[serde(flatten)]
    pub counts: StateCounts,
    /// When the oldest change still on its way was made.
    pub oldest_open_at: Option<i64>,
    /// When Ecwid last applied a change.
    pub last_applied_at: Option<i64>,
    /// Products a tool deleted with `[push] deletes` on, not yet confirmed by Ecwid (they
    /// are among the pending and sending changes too).
    pub deletions_open: i64,
    /// Products requested in `new_products` and not yet created or failed; 0 for a mirror
    /// without the table.
    pub creations_open: i64,
}

impl OutboxStatus {
    /// `None` for a mirror without the outbox (not yet migrated by a daemon of this version).
    pub fn read(conn: &Connection) -> rusqlite::Result<Option<OutboxStatus>> {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox')",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(None);
        }
        let (oldest_open_at, last_applied_at) = conn.query_row(
            "SELECT (SELECT min(created_at) FROM outbox WHERE state IN ('pending', 'sending')),
                    (SELECT max(settled_at) FROM outbox WHERE state = 'applied')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let deletions_open = conn.query_row(
            "SELECT count(*) FROM outbox WHERE field = ?1 AND state IN ('pending', 'sending')",
            [super::outbox::DELETE_FIELD],
            |r| r.get(0),
        )?;
        let has_new_products: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'new_products')",
            [],
            |r| r.get(0),
        )?;
        let creations_open = if has_new_products {
            conn.query_row(
                "SELECT count(*) FROM new_products WHERE state IN ('pending', 'sending')",
                [],
                |r| r.get(0),
            )?
        } else {
            0
        };
        Ok(Some(OutboxStatus {
            counts: StateCounts::read(conn)?,
            oldest_open_at,
            last_applied_at,
            deletions_open,
            creations_open,
        }))
    }
}

/// One outbox row, as `outbox list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub id: i64,
    #[serde(flatten)]
    pub subject: Subject,
    pub field: String,
    /// Stock: the change; other fields: NULL.
    pub delta: Option<i64>,
    /// Other fields: the new value.
    pub value: serde_json::Value,
    pub base: serde_json::Value,
    pub created_at: i64,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub batch_key: Option<String>,
    /// When it became applied, failed, uncertain, dropped or dismissed.
    pub settled_at: Option<i64>,
    /// A dismissed change: the operator who dismissed it, and why.
    pub dismissed_by: Option<String>,
    pub dismiss_reason: Option<String>,
}

impl Listed {
    /// A request to delete the product in Ecwid (`[push] deletes`), not a value change.
    pub fn is_deletion(&self) -> bool {
        self.field == super::outbox::DELETE_FIELD
    }
}

/// The rows in `state`, or every row not yet settled, oldest first.
pub fn list(conn: &Connection, state: Option<&str>) -> rusqlite::Result<Vec<Listed>> {
    list_where(
        conn,
        &ListFilter {
            which: state.map_or(Which::Open, Which::State),
            ..ListFilter::default()
        },
    )
}

/// Which outbox rows by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Which<'a> {
    /// Not yet settled: on its way or waiting for the operator.
    #[default]
    Open,
    /// Settled: applied, dropped or dismissed.
    Settled,
    State(&'a str),
}

/// Which rows [`list_where`] returns, and in what order.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListFilter<'a> {
    pub which: Which<'a>,
    /// Only the changes of this entity; a product's include its variations'.
    pub about: Option<&'a Entity>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    pub limit: Option<usize>,
}

/// The rows `filter` lets through.
pub fn list_where(conn: &Connection, filter: &ListFilter) -> rusqlite::Result<Vec<Listed>> {
    // A mirror a daemon of this version has not migrated yet has no dismissals to show.
    let dismissal_columns = if super::dismiss::recorded(conn)? {
        "o.dismissed_by, o.dismiss_reason"
    } else {
        "NULL, NULL"
    };
    let state = match filter.which {
        Which::Open => "o.state NOT IN ('applied', 'dropped', 'dismissed')",
        Which::Settled => "o.state IN ('applied', 'dropped', 'dismissed')",
        Which::State(_) => "o.state = ?1",
    };
    let about = match filter.about {
        Some(entity) => format!("o.{} = ?2", fields::outbox_key(entity.kind)),
        None => "?2 IS NULL".to_string(),
    };
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    let mut stmt = conn.prepare(&format!(
        "SELECT o.id, {}, o.field, o.delta, o.value, o.base, o.created_at, o.state,
                o.attempts, o.last_error, o.batch_key, o.settled_at, {dismissal_columns}
           FROM outbox o
          WHERE {state} AND {about}
          ORDER BY o.id {order}
          LIMIT ?3",
        Subject::columns("o")
    ))?;
    let state = match filter.which {
        Which::State(state) => Some(state),
        _ => None,
    };
    let limit = filter.limit.map_or(-1, |n| n as i64);
    let after = 1 + Subject::WIDTH;
    stmt.query_map(params![state, filter.about.map(Entity::key), limit], |r| {
        Ok(Listed {
            id: r.get(0)?,
            subject: Subject::from_row(r, 1)?,
            field: r.get(after)?,
            delta: r.get(after + 1)?,
            value: super::fields::to_json(r.get(after + 2)?),
            base: super::fields::to_json(r.get(after + 3)?),
            created_at: r.get(after + 4)?,
            state: r.get(after + 5)?,
            attempts: r.get(after + 6)?,
            last_error: r.get(after + 7)?,
            batch_key: r.get(after + 8)?,
            settled_at: r.get(after + 9)?,
            dismissed_by: r.get(after + 10)?,
            dismiss_reason: r.get(after + 11)?,
        })
    })?
    .collect()
}

/// How the operator settles a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The store shows the change: record it as applied.
    Applied,
    /// The store does not show it: send it again, in a new batch with a new key.
    Resend,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("there is no change {0} in the outbox; `ecwid-sync outbox list` shows them")]
    NoSuchChange(i64),
    #[error(
        "change {id} is {state}; only uncertain changes are settled by hand (and failed ones sent again with --resend; `ecwid-sync outbox dismiss ID --reason TEXT` ends a failed one)"
    )]
    NotOpenToResolve { id: i64, state: String },
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

impl From<rusqlite::Error> for ResolveError {
    fn from(e: rusqlite::Error) -> Self {
        ResolveError::Mirror(e.into())
    }
}

/// Settles change `id` and the changes sent with it for the same product or variation (one
/// request carried them all, so they ran together or not at all). Returns their ids.
pub fn resolve(
    conn: &mut Connection,
    id: i64,
    resolution: Resolution,
) -> Result<Vec<i64>, ResolveError> {
    let tx = conn.transaction()?;
    let ids = resolve_in(&tx, id, resolution)?;
    tx.commit()?;
    Ok(ids)
}

/// [`resolve`] inside the caller's transaction, which commits it (with the record of who
/// did it, `actions`) or rolls it back.
pub(super) fn resolve_in(
    tx: &Transaction,
    id: i64,
    resolution: Resolution,
) -> Result<Vec<i64>, ResolveError> {
    let row: Option<(String, i64, Option<i64>, Option<String>)> = tx
        .query_row(
            "SELECT state, product_id, variation_id, batch_key FROM outbox WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((state, product_id, variation_id, key)) = row else {
        return Err(ResolveError::NoSuchChange(id));
    };
    let allowed = state == "uncertain" || (state == "failed" && resolution == Resolution::Resend);
    if !allowed {
        return Err(ResolveError::NotOpenToResolve { id, state });
    }
    let ids: Vec<i64> = tx
        .prepare(
            "SELECT id FROM outbox WHERE state = ?1 AND product_id = ?2 AND variation_id IS ?3
                AND batch_key IS ?4 ORDER BY id",
        )?
        .query_map(params![state, product_id, variation_id, key], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (state, note) = match resolution {
        Resolution::Applied => ("applied", "settled by the operator as applied"),
        Resolution::Resend => ("pending", "sent again by the operator"),
    };
    let mut stmt = tx.prepare(
        "UPDATE outbox SET state = ?2, last_error = ?3,
                settled_at = CASE WHEN ?2 = 'applied' THEN ?4 END,
                batch_key = CASE WHEN ?2 = 'applied' THEN batch_key END
          WHERE id = ?1",
    )?;
    for id in &ids {
        stmt.execute(params![id, state, note, unix_now()])?;
    }
    drop(stmt);
    // A change sent again is on its way, so the mirror shows it on top of Ecwid's value.
    capture::uncaptured(tx, || Ok(rederive_quantity(tx, product_id, variation_id)?))?;
    Ok(ids)
}

/// Removes changes applied or dismissed more than `days` ago, and the batches no change
/// refers to.
pub fn prune(conn: &Connection, days: u32, now: i64) -> rusqlite::Result<usize> {
    let removed = conn.execute(
        "DELETE FROM outbox WHERE state IN ('applied', 'dismissed') AND settled_at < ?1",
        [now - i64::from(days) * 86_400],
    )?;
    conn.execute(
        "DELETE FROM push_batches
          WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE batch_key = push_batches.key)
            AND NOT EXISTS (SELECT 1 FROM new_products
                             WHERE batch_key = push_batches.key AND state = 'sending')",
        [],
    )?;
    Ok(removed)
}
