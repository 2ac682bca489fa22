//! Conflicts: a field changed in the mirror and in Ecwid since the change's base. Each is
//! recorded with both values; `manual` ones stay open until the operator takes a side.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::fields::{self, Entity, EntityType, FieldSpec};
use super::subject::Subject;
use super::{MirrorError, unix_now};

/// A conflict found by the pusher.
#[derive(Clone, Debug)]
pub struct NewConflict {
    pub entity: Entity,
    /// The entity as people know it (an order by its public id), for the log.
    pub subject: Subject,
    pub field: &'static FieldSpec,
    pub base: Value,
    pub local: Value,
    pub remote: Value,
    pub local_at: i64,
    pub remote_at: Option<i64>,
    pub policy: &'static str,
    /// `None` while open; `local` or `remote` when the policy settled it at once.
    pub resolution: Option<&'static str>,
    pub outbox_ids: Vec<i64>,
}

/// Records `c`; returns its id.
pub fn record(tx: &Transaction, c: &NewConflict, now: i64) -> rusqlite::Result<i64> {
    let ids = serde_json::to_string(&c.outbox_ids).unwrap_or_else(|_| "[]".into());
    tx.prepare_cached(
        "INSERT INTO conflicts (entity, product_id, variation_id, order_number, field, base, local,
                                remote, local_at, remote_at, policy, created_at, state, resolution,
                                resolved_at, outbox_ids, category_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                 CASE WHEN ?13 IS NULL THEN 'open' ELSE 'resolved' END, ?13,
                 CASE WHEN ?13 IS NULL THEN NULL ELSE ?12 END, ?14, ?15)",
    )?
    .execute(params![
        c.entity.kind.name(),
        c.entity.product_id,
        c.entity.variation_id,
        c.entity.order_number,
        c.field.column,
        c.base,
        c.local,
        c.remote,
        c.local_at,
        c.remote_at,
        c.policy,
        now,
        c.resolution,
        ids,
        c.entity.category_id
    ])?;
    Ok(tx.last_insert_rowid())
}

/// A conflict as `conflicts list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub id: i64,
    #[serde(flatten)]
    pub subject: Subject,
    pub field: String,
    pub base: serde_json::Value,
    pub local: serde_json::Value,
    pub remote: serde_json::Value,
    pub local_at: i64,
    pub remote_at: Option<i64>,
    pub policy: String,
    pub state: String,
    pub resolution: Option<String>,
}

/// Open conflicts, or all of them with `all`, oldest first.
pub fn list(conn: &Connection, all: bool) -> rusqlite::Result<Vec<Listed>> {
    list_where(
        conn,
        &ListFilter {
            all,
            ..ListFilter::default()
        },
    )
}

/// Which conflicts [`list_where`] returns, and in what order.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListFilter<'a> {
    /// Resolved ones too.
    pub all: bool,
    /// Only the conflicts of this entity; a product's include its variations'.
    pub about: Option<&'a Entity>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    pub limit: Option<usize>,
}

/// The conflicts `filter` lets through.
pub fn list_where(conn: &Connection, filter: &ListFilter) -> rusqlite::Result<Vec<Listed>> {
    let about = match filter.about {
        Some(entity) => format!("c.{} = ?2", fields::outbox_key(entity.kind)),
        None => "?2 IS NULL".to_string(),
    };
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    let mut stmt = conn.prepare(&format!(
        "SELECT c.id, {}, c.field, c.base, c.local, c.remote,
                c.local_at, c.remote_at, c.policy, c.state, c.resolution
           FROM conflicts c WHERE (?1 OR c.state = 'open') AND {about}
          ORDER BY c.id {order} LIMIT ?3",
        Subject::columns("c")
    ))?;
    let limit = filter.limit.map_or(-1, |n| n as i64);
    let after = 1 + Subject::WIDTH;
    stmt.query_map(
        params![filter.all, filter.about.map(Entity::key), limit],
        |r| {
            Ok(Listed {
                id: r.get(0)?,
                subject: Subject::from_row(r, 1)?,
                field: r.get(after)?,
                base: fields::to_json(r.get(after + 1)?),
                local: fields::to_json(r.get(after + 2)?),
                remote: fields::to_json(r.get(after + 3)?),
                local_at: r.get(after + 4)?,
                remote_at: r.get(after + 5)?,
                policy: r.get(after + 6)?,
                state: r.get(after + 7)?,
                resolution: r.get(after + 8)?,
            })
        },
    )?
    .collect()
}

pub fn open_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM conflicts WHERE state = 'open'",
        [],
        |r| r.get(0),
    )
}

/// Whose value the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    Local,
    Remote,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("there is no conflict {0}; `ecwid-sync conflicts list` shows the open ones")]
    NoSuchConflict(i64),
    #[error("conflict {0} is already resolved")]
    Resolved(i64),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

impl From<rusqlite::Error> for ResolveError {
    fn from(e: rusqlite::Error) -> Self {
        ResolveError::Mirror(e.into())
    }
}

/// Settles open conflict `id`. `Local` sends the local value again, against Ecwid's value
/// of the conflict as its new base (a change in Ecwid since is a new conflict); `Remote`
/// drops the local change. The mirror shows the local value while it is on its way.
pub fn resolve(conn: &mut Connection, id: i64, take: Take) -> Result<(), ResolveError> {
    let tx = conn.transaction()?;
    resolve_in(&tx, id, take)?;
    tx.commit()?;
    Ok(())
}

/// [`resolve`] inside the caller's transaction, which commits it (with the record of who
/// did it, `actions`) or rolls it back. Returns the outbox changes the conflict held.
pub(super) fn resolve_in(tx: &Transaction, id: i64, take: Take) -> Result<Vec<i64>, ResolveError> {
    struct Held {
        state: String,
        entity: Option<Entity>,
        column: String,
        remote: Value,
        outbox_ids: String,
    }
    let held = tx
        .query_row(
            "SELECT state, entity, field, remote, product_id, variation_id, order_number, outbox_ids,
                    category_id
               FROM conflicts WHERE id = ?1",
            [id],
            |r| {
                let kind: String = r.get(1)?;
                let entity = match EntityType::parse(&kind) {
                    Some(kind) => Some(Entity {
                        kind,
                        product_id: r.get(4)?,
                        variation_id: r.get(5)?,
                        order_number: r.get(6)?,
                        category_id: r.get(8)?,
                    }),
                    None => None,
                };
                Ok(Held {
                    state: r.get(0)?,
                    entity,
                    column: r.get(2)?,
                    remote: r.get(3)?,
                    outbox_ids: r.get(7)?,
                })
            },
        )
        .optional()?
        .ok_or(ResolveError::NoSuchConflict(id))?;
    if held.state != "open" {
        return Err(ResolveError::Resolved(id));
    }
    let now = unix_now();
    let ids: Vec<i64> = serde_json::from_str(&held.outbox_ids).unwrap_or_default();
    let (resolution, sql) = match take {
        Take::Local => (
            "local",
            "UPDATE outbox SET state = 'pending', base = ?2, batch_key = NULL, settled_at = NULL,
                    last_error = 'conflict resolved by the operator: the local value is sent'
              WHERE id = ?1 AND state = 'conflict'",
        ),
        Take::Remote => (
            "remote",
            "UPDATE outbox SET state = 'dropped', settled_at = ?2,
                    last_error = 'conflict resolved by the operator: Ecwid''s value kept'
              WHERE id = ?1 AND state = 'conflict'",
        ),
    };
    {
        let mut stmt = tx.prepare(sql)?;
        for oid in &ids {
            match take {
                Take::Local => stmt.execute(params![oid, held.remote])?,
                Take::Remote => stmt.execute(params![oid, now])?,
            };
        }
    }
    tx.execute(
        "UPDATE conflicts SET state = 'resolved', resolution = ?2, resolved_at = ?3 WHERE id = ?1",
        params![id, resolution, now],
    )?;
    if let Some(entity) = held.entity
        && let Some(field) = fields::find(entity.kind, &held.column)
    {
        fields::restore(tx, &entity, field)?;
    }
    Ok(ids)
}

/// Closes the open conflicts of `field` of `entity`: a tool wrote the field again since, over
/// the value the mirror showed (Ecwid's), and that later change is what counts now.
pub fn supersede(
    tx: &Transaction,
    entity: &Entity,
    field: &FieldSpec,
    now: i64,
) -> rusqlite::Result<usize> {
    let key = fields::outbox_key(entity.kind);
    let ids: Vec<String> = tx
        .prepare_cached(&format!(
            "SELECT outbox_ids FROM conflicts
              WHERE state = 'open' AND entity = ?1 AND {key} = ?2 AND field = ?3"
        ))?
        .query_map(
            params![entity.kind.name(), entity.key(), field.column],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for list in &ids {
        let rows: Vec<i64> = serde_json::from_str(list).unwrap_or_default();
        for id in rows {
            tx.execute(
                "UPDATE outbox SET state = 'dropped', settled_at = ?2,
                        last_error = 'superseded by a later change of the same field'
                  WHERE id = ?1 AND state = 'conflict'",
                params![id, now],
            )?;
        }
    }
    tx.prepare_cached(&format!(
        "UPDATE conflicts SET state = 'resolved', resolution = 'superseded', resolved_at = ?4
          WHERE state = 'open' AND entity = ?1 AND {key} = ?2 AND field = ?3"
    ))?
    .execute(params![entity.kind.name(), entity.key(), field.column, now])
}
