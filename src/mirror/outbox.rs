//! Reading and settling captured local stock changes (the `outbox` table, schema 005).

use rusqlite::{Connection, Transaction, params};

use super::MirrorError;
use super::capture;

/// The `field` of an outbox row that asks Ecwid to delete its product (schema 015).
pub const DELETE_FIELD: &str = "delete";

/// A change waiting to reach Ecwid (`pending`), or on its way (`sending`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenChange {
    pub id: i64,
    pub product_id: i64,
    pub variation_id: Option<i64>,
    pub delta: i64,
    pub attempts: i64,
    /// Set while `sending`: the key of the batch that carries it.
    pub batch_key: Option<String>,
    /// The batch's first send, and Ecwid's ticket for it once a create was answered.
    pub first_sent: Option<i64>,
    pub ticket: Option<String>,
    /// The entity as the mirror knew it from Ecwid when the batch was made.
    pub seen_updated: Option<i64>,
    pub seen_quantity: Option<i64>,
}

/// Every open change, oldest first.
pub fn open_changes(conn: &Connection) -> rusqlite::Result<Vec<OpenChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.product_id, o.variation_id, o.delta, o.attempts, o.batch_key,
                b.first_sent, b.ticket, o.seen_updated, o.seen_quantity
           FROM outbox o LEFT JOIN push_batches b ON b.key = o.batch_key
          WHERE o.state IN ('pending', 'sending') AND o.field = 'quantity' ORDER BY o.id",
    )?;
    stmt.query_map([], |r| {
        Ok(OpenChange {
            id: r.get(0)?,
            product_id: r.get(1)?,
            variation_id: r.get(2)?,
            delta: r.get(3)?,
            attempts: r.get(4)?,
            batch_key: r.get(5)?,
            first_sent: r.get(6)?,
            ticket: r.get(7)?,
            seen_updated: r.get(8)?,
            seen_quantity: r.get(9)?,
        })
    })?
    .collect()
}

/// Whether any change waits to reach Ecwid or is on its way.
pub fn has_open(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE state IN ('pending', 'sending'))",
    )?
    .query_row([], |r| r.get(0))
}

/// The mirror's random name, part of every batch key.
pub fn mirror_uid(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("SELECT uid FROM mirror_identity", [], |r| r.get(0))
}

/// Settles changes whose deltas summed to zero: there is nothing to send.
pub fn cancel_out(tx: &Transaction, ids: &[i64], now: i64) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE outbox SET state = 'applied', settled_at = ?2, last_error = NULL WHERE id = ?1",
    )?;
    for id in ids {
        stmt.execute(params![id, now])?;
    }
    Ok(())
}

/// Marks changes as carried by the new batch `key`, before it is first sent at `now`: a
/// crash or a lost answer later re-sends the same key, which Ecwid runs at most once. Each
/// change keeps what the mirror knew of its entity then, to tell later whether Ecwid ran it.
pub fn mark_sending(tx: &Transaction, ids: &[i64], key: &str, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO push_batches (key, first_sent) VALUES (?1, ?2)")?
        .execute(params![key, now])?;
    let mut stmt = tx.prepare_cached(
        "UPDATE outbox SET state = 'sending', batch_key = ?2, attempts = attempts + 1,
                seen_updated = (SELECT updated_at FROM products WHERE id = outbox.product_id),
                seen_quantity = CASE WHEN variation_id IS NULL
                    THEN (SELECT json_extract(raw_json, '$.quantity') FROM products
                           WHERE id = outbox.product_id)
                    ELSE (SELECT json_extract(raw_json, '$.quantity') FROM product_variations
                           WHERE id = outbox.variation_id) END
          WHERE id = ?1",
    )?;
    for id in ids {
        stmt.execute(params![id, key])?;
    }
    Ok(())
}

/// Keeps Ecwid's ticket for the batch `key`: later polls need no create.
pub fn store_ticket(conn: &Connection, key: &str, ticket: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE push_batches SET ticket = ?2 WHERE key = ?1",
        params![key, ticket],
    )?;
    Ok(())
}

/// Drops a ticket Ecwid no longer knows; the key, still remembered, gets it again.
pub fn forget_ticket(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE push_batches SET ticket = NULL WHERE key = ?1",
        [key],
    )?;
    Ok(())
}

/// Notes why the batch `key` has no outcome yet; its changes stay `sending`.
pub fn note_batch_error(conn: &Connection, key: &str, error: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE outbox SET last_error = ?2 WHERE batch_key = ?1 AND state = 'sending'",
        params![key, error],
    )?;
    Ok(())
}

/// What Ecwid did with one entity's changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Refused for good (4xx): never sent again.
    Failed(String),
    /// Not run (5xx after Ecwid's own retries, or skipped): sent again in a new batch.
    NotRun(String),
    /// Perhaps run, perhaps not, and no way left to tell: held for the operator
    /// (`ecwid-sync outbox resolve`), never sent again blindly.
    Uncertain(String),
}

/// One entity's settled changes.
#[derive(Clone, Debug)]
pub struct Settled {
    pub product_id: i64,
    pub variation_id: Option<i64>,
    pub ids: Vec<i64>,
    pub outcome: Outcome,
}

/// Records what Ecwid did with each change of a batch. The caller then writes the products
/// Ecwid returned (never older than the mirror's copy) and calls [`rederive_settled`], all in
/// one transaction: `sync::push` does the three together.
pub fn record_outcomes(tx: &Transaction, settled: &[Settled], now: i64) -> Result<(), MirrorError> {
    capture::uncaptured(tx, || {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox
                SET state = ?2, last_error = ?3, settled_at = ?4,
                    batch_key = CASE WHEN ?2 = 'pending' THEN NULL ELSE batch_key END
              WHERE id = ?1",
        )?;
        for s in settled {
            let (state, error, at) = match &s.outcome {
                Outcome::Applied => ("applied", None, Some(now)),
                Outcome::Failed(e) => ("failed", Some(e.as_str()), Some(now)),
                Outcome::NotRun(e) => ("pending", Some(e.as_str()), None),
                Outcome::Uncertain(e) => ("uncertain", Some(e.as_str()), Some(now)),
            };
            for id in &s.ids {
                stmt.execute(params![id, state, error, at])?;
            }
        }
        Ok(())
    })
}

/// Each settled entity's quantity again: Ecwid's latest plus what is still open.
pub fn rederive_settled(tx: &Transaction, settled: &[Settled]) -> Result<(), MirrorError> {
    capture::uncaptured(tx, || {
        for s in settled {
            rederive_quantity(tx, s.product_id, s.variation_id)?;
        }
        Ok(())
    })
}

/// Sets an entity's quantity to Ecwid's latest (from its document) plus its open changes.
pub(super) fn rederive_quantity(
    tx: &Transaction,
    product_id: i64,
    variation_id: Option<i64>,
) -> rusqlite::Result<()> {
    let open = "(SELECT coalesce(sum(delta), 0) FROM outbox
                  WHERE product_id = ?1 AND variation_id IS ?2
                    AND state IN ('pending', 'sending'))";
    let sql = match variation_id {
        None => format!(
            "UPDATE products SET quantity = CASE WHEN unlimited = 1 THEN NULL
                 ELSE json_extract(raw_json, '$.quantity') + {open} END
              WHERE id = ?1 AND ?2 IS NULL"
        ),
        Some(_) => format!(
            "UPDATE product_variations SET quantity = CASE WHEN unlimited = 1 THEN NULL
                 ELSE json_extract(raw_json, '$.quantity') + {open} END
              WHERE id = ?2 AND product_id = ?1"
        ),
    };
    tx.prepare_cached(&sql)?
        .execute(params![product_id, variation_id])?;
    Ok(())
}
