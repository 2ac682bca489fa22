//! Redaction: the order fields of `privacy.order_fields` kept out of the mirror for customers
//! who asked to be erased, on every document on its way in (see [`super::privacy`]).

use rusqlite::{Connection, Transaction};
use serde_json::Value;
use serde_json::value::RawValue;

use super::MirrorError;
use super::rows::{self, Rows};

/// The order fields blanked for erased customers, as the mirror holds them.
pub fn policy(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT field FROM privacy_policy ORDER BY field")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// Replaces the policy with `fields` (the configuration's `privacy.order_fields`). Orders
/// already redacted take the new policy when their next document comes.
pub fn set_policy(tx: &Transaction, fields: &[String]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM privacy_policy", [])?;
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO privacy_policy (field) VALUES (?1)")?;
    for field in fields {
        insert.execute([field])?;
    }
    Ok(())
}

/// Whether the customer asked to be erased.
pub fn is_erased(tx: &Transaction, customer_id: i64) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM erasures WHERE customer_id = ?1)")?
        .query_row([customer_id], |r| r.get(0))
}

/// `rows` with the orders of erased customers redacted, or `None` when none of them is
/// (most pages: one lookup when nobody was ever erased). Customers are not changed here:
/// an erased customer's document is never stored at all (see [`super::apply`]).
pub fn redact_erased(tx: &Transaction, rows: &Rows) -> Result<Option<Rows>, MirrorError> {
    let Rows::Orders(orders) = rows else {
        return Ok(None);
    };
    let any: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM erasures)")?
        .query_row([], |r| r.get(0))?;
    if !any {
        return Ok(None);
    }
    let mut erased_customer =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM erasures WHERE customer_id = ?1)")?;
    let mut erased_order =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM erased_orders WHERE order_number = ?1)")?;
    let fields = policy(tx)?;
    let mut redacted = Vec::with_capacity(orders.len());
    let mut changed = false;
    for order in orders {
        let of_erased = match order.customer_id {
            Some(id) => erased_customer.query_row([id], |r| r.get::<_, bool>(0))?,
            None => false,
        } || erased_order
            .query_row([order.order_number], |r| r.get::<_, bool>(0))?;
        if of_erased {
            redacted.push(redact_order(order, &fields)?);
            changed = true;
        } else {
            redacted.push(order.clone());
        }
    }
    Ok(changed.then_some(Rows::Orders(redacted)))
}

/// The order rebuilt from its document without `fields`: columns derive from what is left.
pub(super) fn redact_order(
    order: &rows::OrderRow,
    fields: &[String],
) -> Result<rows::OrderRow, MirrorError> {
    let text = redact_document(&order.raw_json, fields)?;
    let raw: &RawValue = serde_json::from_str(&text).map_err(MirrorError::Document)?;
    rows::order_row(raw)
}

/// A document's text without its top-level `fields`.
pub(super) fn redact_document(text: &str, fields: &[String]) -> Result<String, MirrorError> {
    let mut doc: Value = serde_json::from_str(text).map_err(MirrorError::Document)?;
    if let Value::Object(map) = &mut doc {
        for field in fields {
            map.remove(field);
        }
    }
    Ok(doc.to_string())
}
