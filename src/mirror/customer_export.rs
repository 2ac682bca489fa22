//! `ecwid-sync customer export`: everything the mirror holds about one customer, to answer
//! their personal data export request (see [`super::privacy`]).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

/// Everything the mirror holds about a customer, for answering an export request.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerExport {
    /// The customer's id, when the mirror knows one.
    pub customer_id: Option<i64>,
    /// The `customers` row (`raw_json` as the document Ecwid sent), if the mirror has it.
    pub customer: Option<Value>,
    /// Their orders, each with its `items`: by customer id or, for guest orders, by email.
    pub orders: Vec<Value>,
    /// Whether the customer was erased (then nothing personal remains to export).
    pub erased: bool,
}

/// What the mirror holds about the customer `who` names: a customer id (digits) or an
/// email (matched without regard to case). `None` when nothing matches.
pub fn export_customer(conn: &Connection, who: &str) -> rusqlite::Result<Option<CustomerExport>> {
    let who = who.trim();
    let (customer_id, email): (Option<i64>, Option<String>) = match who.parse::<i64>() {
        Ok(id) => {
            let email = conn
                .query_row("SELECT email FROM customers WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten();
            (Some(id), email)
        }
        Err(_) => {
            let id = conn
                .query_row(
                    "SELECT id FROM customers WHERE lower(email) = lower(?1) ORDER BY id LIMIT 1",
                    [who],
                    |r| r.get(0),
                )
                .optional()?;
            (id, Some(who.to_string()))
        }
    };
    let customer = match customer_id {
        Some(id) => conn
            .query_row(
                "SELECT id, email, name, updated_at, synced_at, raw_json FROM customers WHERE id = ?1",
                [id],
                |r| {
                    Ok(serde_json::json!({
                        "id": r.get::<_, i64>(0)?,
                        "email": r.get::<_, Option<String>>(1)?,
                        "name": r.get::<_, Option<String>>(2)?,
                        "updated_at": r.get::<_, Option<i64>>(3)?,
                        "synced_at": r.get::<_, Option<i64>>(4)?,
                        "raw_json": parsed(r.get::<_, Option<String>>(5)?),
                    }))
                },
            )
            .optional()?,
        None => None,
    };
    let mut orders = Vec::new();
    let mut seen = HashSet::new();
    let mut stmt = conn.prepare(
        "SELECT order_number, id, email, customer_id, payment_status, fulfillment_status,
                total, subtotal, tax, tracking_number, created_at, updated_at, hidden,
                synced_at, raw_json
           FROM orders
          WHERE customer_id = ?1 OR (?2 IS NOT NULL AND lower(email) = lower(?2))
          ORDER BY created_at, order_number",
    )?;
    let mut items = conn.prepare(
        "SELECT line, item_id, product_id, combination_id, sku, name, quantity, price, options_json
           FROM order_items WHERE order_number = ?1 ORDER BY line",
    )?;
    let rows = stmt
        .query_map(params![customer_id, email], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                serde_json::json!({
                    "order_number": r.get::<_, i64>(0)?,
                    "id": r.get::<_, Option<String>>(1)?,
                    "email": r.get::<_, Option<String>>(2)?,
                    "customer_id": r.get::<_, Option<i64>>(3)?,
                    "payment_status": r.get::<_, Option<String>>(4)?,
                    "fulfillment_status": r.get::<_, Option<String>>(5)?,
                    "total": r.get::<_, Option<f64>>(6)?,
                    "subtotal": r.get::<_, Option<f64>>(7)?,
                    "tax": r.get::<_, Option<f64>>(8)?,
                    "tracking_number": r.get::<_, Option<String>>(9)?,
                    "created_at": r.get::<_, Option<i64>>(10)?,
                    "updated_at": r.get::<_, Option<i64>>(11)?,
                    "hidden": r.get::<_, bool>(12)?,
                    "synced_at": r.get::<_, Option<i64>>(13)?,
                    "raw_json": parsed(r.get::<_, Option<String>>(14)?),
                }),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (number, mut order) in rows {
        if !seen.insert(number) {
            continue;
        }
        let lines = items
            .query_map([number], |r| {
                Ok(serde_json::json!({
                    "line": r.get::<_, i64>(0)?,
                    "item_id": r.get::<_, Option<i64>>(1)?,
                    "product_id": r.get::<_, Option<i64>>(2)?,
                    "combination_id": r.get::<_, Option<i64>>(3)?,
                    "sku": r.get::<_, Option<String>>(4)?,
                    "name": r.get::<_, Option<String>>(5)?,
                    "quantity": r.get::<_, Option<i64>>(6)?,
                    "price": r.get::<_, Option<f64>>(7)?,
                    "options_json": parsed(r.get::<_, Option<String>>(8)?),
                }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        order["items"] = Value::Array(lines);
        orders.push(order);
    }
    let erased = match customer_id {
        Some(id) => conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM erasures WHERE customer_id = ?1)",
            [id],
            |r| r.get(0),
        )?,
        None => false,
    };
    if customer.is_none() && orders.is_empty() && !erased {
        return Ok(None);
    }
    Ok(Some(CustomerExport {
        customer_id,
        customer,
        orders,
        erased,
    }))
}

/// A stored JSON text as JSON, or as the text when it does not parse.
fn parsed(text: Option<String>) -> Value {
    match text {
        Some(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
        None => Value::Null,
    }
}
