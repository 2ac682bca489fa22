//! Products tools ask the daemon to create (the `new_products` table, schema 015): claiming
//! them for a keyed batch before it is sent, and writing back what Ecwid did.

use rusqlite::{Connection, Transaction, params};
use serde_json::{Map, Value, json};

/// A request to create a product, as a tool wrote it, with the batch it travels in.
#[derive(Clone, Debug, PartialEq)]
pub struct NewProduct {
    pub id: i64,
    pub name: String,
    pub sku: String,
    pub price: f64,
    pub compare_to_price: Option<f64>,
    /// `None`: unlimited stock.
    pub quantity: Option<i64>,
    pub enabled: bool,
    pub description: Option<String>,
    pub weight: Option<f64>,
    /// A JSON array (checked by the table's trigger).
    pub category_ids: Option<String>,
    pub batch_key: Option<String>,
    pub ticket: Option<String>,
    pub first_sent: Option<i64>,
    /// Batches it was put in before (each gets a key of its own).
    pub attempts: i64,
}

impl NewProduct {
    /// The body of Ecwid's `POST /products`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name));
        body.insert("sku".into(), json!(self.sku));
        body.insert("price".into(), json!(self.price));
        body.insert("enabled".into(), json!(self.enabled));
        body.insert("unlimited".into(), json!(self.quantity.is_none()));
        if let Some(q) = self.quantity {
            body.insert("quantity".into(), json!(q));
        }
        if let Some(p) = self.compare_to_price {
            body.insert("compareToPrice".into(), json!(p));
        }
        if let Some(d) = &self.description {
            body.insert("description".into(), json!(d));
        }
        if let Some(w) = self.weight {
            body.insert("weight".into(), json!(w));
        }
        if let Some(ids) = self
            .category_ids
            .as_deref()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        {
            body.insert("categoryIds".into(), ids);
        }
        Value::Object(body)
    }
}

/// What Ecwid did with one create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// Created under this id.
    As(i64),
    /// Refused for good, in Ecwid's words.
    Failed(String),
    /// Not run: the request goes again in a later batch, under a new key.
    NotRun,
}

const COLUMNS: &str = "id, name, sku, price, compare_to_price, quantity, enabled, description,
                       weight, category_ids, batch_key, ticket, first_sent, attempts";

fn read(r: &rusqlite::Row) -> rusqlite::Result<NewProduct> {
    Ok(NewProduct {
        id: r.get(0)?,
        name: r.get(1)?,
        sku: r.get(2)?,
        price: r.get(3)?,
        compare_to_price: r.get(4)?,
        quantity: r.get(5)?,
        enabled: r.get(6)?,
        description: r.get(7)?,
        weight: r.get(8)?,
        category_ids: r.get(9)?,
        batch_key: r.get(10)?,
        ticket: r.get(11)?,
        first_sent: r.get(12)?,
        attempts: r.get(13)?,
    })
}

/// Requests not yet settled, oldest first: waiting to be sent, or sent (or perhaps sent)
/// in a batch without an outcome yet (those carry their `batch_key`).
pub fn open(conn: &Connection) -> rusqlite::Result<Vec<NewProduct>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM new_products WHERE state IN ('pending', 'sending') ORDER BY id"
    );
    conn.prepare_cached(&sql)?.query_map([], read)?.collect()
}

/// Whether any request waits to be sent or is on its way.
pub fn has_open(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM new_products WHERE state IN ('pending', 'sending'))",
    )?
    .query_row([], |r| r.get(0))
}

/// Records the key before the batch is sent: from here on a tool can no longer cancel the
/// request, and a crash re-sends the same key.
pub fn mark_sending(tx: &Transaction, ids: &[i64], key: &str, now: i64) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE new_products SET state = 'sending', batch_key = ?2, first_sent = ?3,
                attempts = attempts + 1
          WHERE id = ?1 AND state = 'pending'",
    )?;
    for id in ids {
        stmt.execute(params![id, key, now])?;
    }
    Ok(())
}

pub fn store_ticket(conn: &Connection, key: &str, ticket: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE new_products SET ticket = ?2 WHERE batch_key = ?1 AND state = 'sending'",
        params![key, ticket],
    )?;
    Ok(())
}

/// Ecwid no longer knows the batch's ticket; its key (still remembered) gets it again.
pub fn forget_ticket(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE new_products SET ticket = NULL WHERE batch_key = ?1 AND state = 'sending'",
        params![key],
    )?;
    Ok(())
}

pub fn note_error(conn: &Connection, key: &str, error: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE new_products SET error = ?2 WHERE batch_key = ?1 AND state = 'sending'",
        params![key, error],
    )?;
    Ok(())
}

/// Writes back what Ecwid did with request `id`.
pub fn settle(tx: &Transaction, id: i64, outcome: &Created, now: i64) -> rusqlite::Result<()> {
    match outcome {
        Created::As(product_id) => tx.execute(
            "UPDATE new_products SET state = 'created', product_id = ?2, error = NULL,
                    settled_at = ?3 WHERE id = ?1",
            params![id, product_id, now],
        )?,
        Created::Failed(error) => tx.execute(
            "UPDATE new_products SET state = 'failed', error = ?2, settled_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )?,
        Created::NotRun => tx.execute(
            "UPDATE new_products SET state = 'pending', batch_key = NULL, ticket = NULL,
                    first_sent = NULL WHERE id = ?1",
            params![id],
        )?,
    };
    Ok(())
}
