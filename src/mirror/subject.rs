//! What a local change or a conflict is about, as the outbox and the conflicts table name
//! it: a product, one of its variations, an order, or a category. The one place that names a subject
//! for people: lists, command output and log lines.

use std::fmt;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::fields::{Entity, EntityType};

#[derive(Clone, Debug, Serialize)]
pub struct Subject {
    pub entity: String,
    pub product_id: Option<i64>,
    pub variation_id: Option<i64>,
    pub order_number: Option<i64>,
    pub category_id: Option<i64>,
    /// An order's public id (`orders.id`, e.g. `BK1G6`), the name the shop knows it by;
    /// `None` for products, and for an order the mirror has no id for.
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
            category_id: None,
            order_id: None,
        }
    }

    /// How many columns [`Subject::columns`] names: the ones after them are read from
    /// `first + Subject::WIDTH` on.
    pub const WIDTH: usize = 6;

    /// The columns [`Subject::from_row`] reads, from the table (or alias) `table`, which has
    /// `entity, product_id, variation_id, order_number, category_id` like `outbox` and
    /// `conflicts`.
    pub fn columns(table: &str) -> String {
        format!(
            "{table}.entity, {table}.product_id, {table}.variation_id, {table}.order_number,
             (SELECT id FROM orders WHERE order_number = {table}.order_number),
             {table}.category_id"
        )
    }

    /// The [`Subject::WIDTH`] columns of [`Subject::columns`] in `row`, from `first` on.
    pub fn from_row(row: &rusqlite::Row, first: usize) -> rusqlite::Result<Subject> {
        Ok(Subject {
            entity: row.get(first)?,
            product_id: row.get(first + 1)?,
            variation_id: row.get(first + 2)?,
            order_number: row.get(first + 3)?,
            order_id: row
                .get::<_, Option<String>>(first + 4)?
                .filter(|id| !id.is_empty()),
            category_id: row.get(first + 5)?,
        })
    }

    /// `entity`, with `order_id`: the order's public id when the caller knows it.
    pub fn of(entity: &Entity, order_id: Option<&str>) -> Subject {
        Subject {
            entity: entity.kind.name().to_string(),
            product_id: entity.product_id,
            variation_id: entity.variation_id,
            order_number: entity.order_number,
            category_id: entity.category_id,
            order_id: match entity.kind {
                EntityType::Order => order_id.filter(|id| !id.is_empty()).map(str::to_string),
                _ => None,
            },
        }
    }
}

impl Subject {
    /// `entity`, an order by the public id the mirror holds for it.
    pub fn read(conn: &Connection, entity: &Entity) -> rusqlite::Result<Subject> {
        let order_id: Option<String> = match (entity.kind, entity.order_number) {
            (EntityType::Order, Some(number)) => conn
                .prepare_cached("SELECT id FROM orders WHERE order_number = ?1")?
                .query_row([number], |r| r.get(0))
                .optional()?
                .flatten(),
            _ => None,
        };
        Ok(Subject::of(entity, order_id.as_deref()))
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
            ("category", ..) if self.category_id.is_some() => {
                write!(f, "category {}", self.category_id.unwrap_or_default())
            }
            (_, Some(p), _, _) => write!(f, "product {p}"),
            (entity, ..) => f.write_str(entity),
        }
    }
}

/// How an entity is named where fields are concerned; here, beside [`Subject`], so that
/// the fields module need not know how subjects are written.
impl Entity {
    /// What it is, as the outbox and the conflicts name it; `order_id` is an order's public
    /// id, when known.
    pub fn subject(&self, order_id: Option<&str>) -> Subject {
        Subject::of(self, order_id)
    }

    pub fn shown(&self) -> String {
        self.subject(None).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(order_id: Option<&str>) -> Subject {
        let entity = Entity {
            kind: EntityType::Order,
            product_id: None,
            variation_id: None,
            order_number: Some(17),
            category_id: None,
        };
        Subject::of(&entity, order_id)
    }

    #[test]
    fn an_order_is_named_by_its_public_id_and_by_its_number_only_without_one() {
        assert_eq!(order(Some("BK1G6")).to_string(), "order BK1G6");
        assert_eq!(order(None).to_string(), "order 17");
        assert_eq!(order(Some("")).to_string(), "order 17");
    }

    #[test]
    fn products_and_variations_are_named_by_their_ids() {
        let variation = Entity {
            kind: EntityType::Variation,
            product_id: Some(3),
            variation_id: Some(9),
            order_number: None,
            category_id: None,
        };
        assert_eq!(
            Subject::of(&variation, Some("ignored")).to_string(),
            "variation 9 of product 3"
        );
        let product = Entity {
            kind: EntityType::Product,
            variation_id: None,
            ..variation
        };
        assert_eq!(Subject::of(&product, None).to_string(), "product 3");
    }

    #[test]
    fn a_category_is_named_by_its_id() {
        let category = Entity {
            kind: EntityType::Category,
            product_id: None,
            variation_id: None,
            order_number: None,
            category_id: Some(9001),
        };
        assert_eq!(Subject::of(&category, None).to_string(), "category 9001");
    }
}
