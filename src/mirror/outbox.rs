//! Reading and settling captured local stock changes (the `outbox` table, schema 005).

use rusqlite::{Connection, Transaction, params};

use super::MirrorError;
use super::apply::{self, Rows};
use super::capture;

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
}

/// Every open change, oldest first.
pub fn open_changes(conn: &Connection) -> rusqlite::Result<Vec<OpenChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, product_id, variation_id, delta, attempts, batch_key FROM outbox
          WHERE state IN ('pending', 'sending') ORDER BY id",
    )?;
    stmt.query_map([], |r| {
        Ok(OpenChange {
            id: r.get(0)?,
            product_id: r.get(1)?,
            variation_id: r.get(2)?,
            delta: r.get(3)?,
            attempts: r.get(4)?,
            batch_key: r.get::<_, Option<String>>(5)?,
        })
    })?
    .collect()
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

/// Marks changes as carried by the batch `key`, before it is sent: a crash or a lost answer
/// later re-sends the same key, which Ecwid runs at most once.
pub fn mark_sending(tx: &Transaction, ids: &[i64], key: &str) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE outbox SET state = 'sending', batch_key = ?2, attempts = attempts + 1
          WHERE id = ?1",
    )?;
    for id in ids {
        stmt.execute(params![id, key])?;
    }
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
}

/// One entity's settled changes.
#[derive(Clone, Debug)]
pub struct Settled {
    pub product_id: i64,
    pub variation_id: Option<i64>,
    pub ids: Vec<i64>,
    pub outcome: Outcome,
}

/// Settles a batch in one transaction: each change's state, the products Ecwid returned
/// after applying it (Ecwid's resulting quantities, never older than the mirror's copy),
/// and each entity's quantity again as Ecwid's latest plus what is still open.
pub fn settle(
    tx: &Transaction,
    settled: &[Settled],
    read_back: &Rows,
    now: i64,
) -> Result<(), MirrorError> {
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
            };
            for id in &s.ids {
                stmt.execute(params![id, state, error, at])?;
            }
        }
        apply::apply_rows(tx, read_back, now)?;
        for s in settled {
            rederive_quantity(tx, s.product_id, s.variation_id)?;
        }
        Ok(())
    })
}

/// Sets an entity's quantity to Ecwid's latest (from its document) plus its open changes.
fn rederive_quantity(
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
