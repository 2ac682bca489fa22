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
    /// An order's public id (`orders.id`, the one the shop knows), when known: it names the
    /// order in place of the internal number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

impl Subject {
    /// A stock change's subject: a product's own stock, or one of its variations.
    pub fn stock(product_id: i64, variation_id: Option<i64>) -> Subject {
        Subject {
            entity: if variation_id.is_some() {
                "variation"
            } else {
                "product"
            }
            .to_string(),
            product_id: Some(product_id),
            variation_id,
            order_number: None,
            order_id: None,
        }
    }

    /// The columns `entity, product_id, variation_id, order_number` of `row`, from `first` on.
    pub fn from_row(row: &rusqlite::Row, first: usize) -> rusqlite::Result<Subject> {
        Ok(Subject {
            entity: row.get(first)?,
            product_id: row.get(first + 1)?,
            variation_id: row.get(first + 2)?,
            order_number: row.get(first + 3)?,
            order_id: None,
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
            ("order", ..) if self.order_id.is_some() => {
                write!(f, "order {}", self.order_id.as_deref().unwrap_or_default())
            }
            ("order", _, _, Some(o)) => write!(f, "order {o}"),
            (_, Some(p), _, _) => write!(f, "product {p}"),
            (entity, ..) => f.write_str(entity),
        }
    }
}
