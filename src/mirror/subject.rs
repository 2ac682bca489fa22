//! What a local change or a conflict is about, as the outbox and the conflicts table name
//! it: a product, one of its variations, or an order.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Subject {
    pub entity: String,
    pub product_id: Option<i64>,
    pub variation_id: Option<i64>,
    pub order_number: Option<i64>,
}

impl Subject {
    /// The columns `entity, product_id, variation_id, order_number` of `row`, from `first` on.
    pub fn from_row(row: &rusqlite::Row, first: usize) -> rusqlite::Result<Subject> {
        Ok(Subject {
            entity: row.get(first)?,
            product_id: row.get(first + 1)?,
            variation_id: row.get(first + 2)?,
            order_number: row.get(first + 3)?,
        })
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (
            self.entity.as_str(),
            self.product_id,
            self.variation_id,
            self.order_number,
        ) {
            ("variation", Some(p), Some(v), _) => write!(f, "variation {v} of product {p}"),
            ("order", _, _, Some(o)) => write!(f, "order {o}"),
            (_, Some(p), _, _) => write!(f, "product {p}"),
            (entity, ..) => f.write_str(entity),
        }
    }
}
