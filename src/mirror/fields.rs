//! Local changes of values (prices, names, order status ...): which columns tools may write,
//! how each maps to Ecwid's document, and how the mirror shows a change on its way.
//!
//! The triggers of schema 006 record each write as an outbox row with the new value and
//! the value from Ecwid it replaced (`base`). While such a change is open, the mirror's
//! column shows it, also after a pull brings Ecwid's document; once it is settled, the
//! column shows Ecwid's value again.

use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params};

use super::MirrorError;
use super::capture;
pub use crate::config::Group;

/// How a value is written in Ecwid's JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Number,
    /// 1 or 0 in the mirror, `true` or `false` in Ecwid.
    Flag,
    Text,
    /// A set of ids: in the mirror, rows of a link table; in the outbox and in comparisons,
    /// a JSON array sorted ascending (`[3,7]`), so equal sets compare equal; in Ecwid, an
    /// array.
    Ids,
}

/// Which entity a field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Product,
    Variation,
    Order,
    Category,
}

impl EntityType {
    pub fn name(self) -> &'static str {
        match self {
            EntityType::Product => "product",
            EntityType::Variation => "variation",
            EntityType::Order => "order",
            EntityType::Category => "category",
        }
    }

    pub fn parse(name: &str) -> Option<EntityType> {
        match name {
            "product" => Some(EntityType::Product),
            "variation" => Some(EntityType::Variation),
            "order" => Some(EntityType::Order),
            "category" => Some(EntityType::Category),
            _ => None,
        }
    }

    fn table(self) -> &'static str {
        match self {
            EntityType::Product => "products",
            EntityType::Variation => "product_variations",
            EntityType::Order => "orders",
            EntityType::Category => "categories",
        }
    }

    fn key_column(self) -> &'static str {
        match self {
            EntityType::Order => "order_number",
            _ => "id",
        }
    }

    /// The outbox column naming this entity.
    fn outbox_key(self) -> &'static str {
        match self {
            EntityType::Product => "product_id",
            EntityType::Variation => "variation_id",
            EntityType::Order => "order_number",
            EntityType::Category => "category_id",
        }
    }
}

/// A column tools may write, other than stock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub entity: EntityType,
    pub column: &'static str,
    /// Its name in Ecwid's document.
    pub json: &'static str,
    pub group: Group,
    pub shape: Shape,
}

const fn spec(
    entity: EntityType,
    column: &'static str,
    json: &'static str,
    group: Group,
    shape: Shape,
) -> FieldSpec {
    FieldSpec {
        entity,
        column,
        json,
        group,
        shape,
    }
}

/// Every writable field; the triggers of schemas 006, 014 and 016 capture the same ones.
pub const FIELDS: [FieldSpec; 19] = [
    spec(
        EntityType::Product,
        "price",
        "price",
        Group::Price,
        Shape::Number,
    ),
    spec(
        EntityType::Product,
        "compare_to_price",
        "compareToPrice",
        Group::Price,
        Shape::Number,
    ),
    spec(
        EntityType::Product,
        "name",
        "name",
        Group::Name,
        Shape::Text,
    ),
    spec(
        EntityType::Product,
        "enabled",
        "enabled",
        Group::Catalog,
        Shape::Flag,
    ),
    spec(
        EntityType::Product,
        "sku",
        "sku",
        Group::Catalog,
        Shape::Text,
    ),
    spec(
        EntityType::Product,
        "weight",
        "weight",
        Group::Catalog,
        Shape::Number,
    ),
    spec(
        EntityType::Product,
        "description",
        "description",
        Group::Name,
        Shape::Text,
    ),
    spec(
        EntityType::Product,
        "cost_price",
        "costPrice",
        Group::Price,
        Shape::Number,
    ),
    spec(
        EntityType::Product,
        "category_ids",
        "categoryIds",
        Group::Catalog,
        Shape::Ids,
    ),
    spec(
        EntityType::Variation,
        "price",
        "price",
        Group::Price,
        Shape::Number,
    ),
    spec(
        EntityType::Variation,
        "sku",
        "sku",
        Group::Catalog,
        Shape::Text,
    ),
    spec(
        EntityType::Variation,
        "compare_to_price",
        "compareToPrice",
        Group::Price,
        Shape::Number,
    ),
    spec(
        EntityType::Variation,
        "weight",
        "weight",
        Group::Catalog,
        Shape::Number,
    ),
    spec(
        EntityType::Order,
        "fulfillment_status",
        "fulfillmentStatus",
        Group::OrderStatus,
        Shape::Text,
    ),
    spec(
        EntityType::Order,
        "payment_status",
        "paymentStatus",
        Group::OrderStatus,
        Shape::Text,
    ),
    spec(
        EntityType::Order,
        "tracking_number",
        "trackingNumber",
        Group::Tracking,
        Shape::Text,
    ),
    spec(
        EntityType::Order,
        "private_admin_note",
        "privateAdminNotes",
        Group::Tracking,
        Shape::Text,
    ),
    spec(
        EntityType::Category,
        "name",
        "name",
        Group::Name,
        Shape::Text,
    ),
    spec(
        EntityType::Category,
        "enabled",
        "enabled",
        Group::Catalog,
        Shape::Flag,
    ),
];

/// Whether the pull stores `field` exactly as Ecwid's document holds it (nothing inherited
/// or derived), so that Ecwid's value is the document's, read by [`remote_value`].
fn stored_as_sent(field: &FieldSpec) -> bool {
    matches!(
        (field.entity, field.column),
        (
            EntityType::Product,
            "description" | "cost_price" | "category_ids"
        ) | (EntityType::Variation, "compare_to_price" | "weight")
            | (EntityType::Order, "private_admin_note")
            | (EntityType::Category, _)
    )
}

pub fn find(entity: EntityType, column: &str) -> Option<&'static FieldSpec> {
    FIELDS
        .iter()
        .find(|f| f.entity == entity && f.column == column)
}

/// An entity a field change belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Entity {
    pub kind: EntityType,
    /// The product (a variation's product too); `None` for an order or a category.
    pub product_id: Option<i64>,
    pub variation_id: Option<i64>,
    pub order_number: Option<i64>,
    pub category_id: Option<i64>,
}

impl Entity {
    /// Its key in its own table.
    pub fn key(&self) -> i64 {
        match self.kind {
            EntityType::Product => self.product_id,
            EntityType::Variation => self.variation_id,
            EntityType::Order => self.order_number,
            EntityType::Category => self.category_id,
        }
        .unwrap_or_default()
    }
}

/// An open change of a field: `pending`, or `sending` in the batch `batch_key`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRow {
    pub id: i64,
    pub entity: Entity,
    pub field: &'static FieldSpec,
    pub value: Value,
    pub base: Value,
    pub created_at: i64,
    pub attempts: i64,
    pub batch_key: Option<String>,
    pub first_sent: Option<i64>,
    pub ticket: Option<String>,
}

const OPEN_FIELD_ROWS: &str =
    "SELECT o.id, o.entity, o.product_id, o.variation_id, o.order_number, o.field, o.value,
            o.base, o.created_at, o.attempts, o.batch_key, b.first_sent, b.ticket, o.category_id
       FROM outbox o LEFT JOIN push_batches b ON b.key = o.batch_key
      WHERE o.state IN ('pending', 'sending') AND o.field NOT IN ('quantity', 'delete')
      ORDER BY o.id";

/// Every open field change, oldest first.
pub fn open_rows(conn: &Connection) -> rusqlite::Result<Vec<FieldRow>> {
    let mut stmt = conn.prepare_cached(OPEN_FIELD_ROWS)?;
    let rows = stmt.query_map([], |r| {
        let kind: String = r.get(1)?;
        let column: String = r.get(5)?;
        Ok((kind, column, r.get::<_, i64>(0)?, {
            (
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Value>(6)?,
                r.get::<_, Value>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
                r.get::<_, Option<String>>(10)?,
                r.get::<_, Option<i64>>(11)?,
                r.get::<_, Option<String>>(12)?,
                r.get::<_, Option<i64>>(13)?,
            )
        }))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, column, id, rest) = row?;
        // Rows the triggers did not write (an older or newer binary) are left alone.
        let Some(field) = EntityType::parse(&kind).and_then(|k| find(k, &column)) else {
            continue;
        };
        let (
            product_id,
            variation_id,
            order_number,
            value,
            base,
            created_at,
            attempts,
            key,
            first,
            ticket,
            category_id,
        ) = rest;
        out.push(FieldRow {
            id,
            entity: Entity {
                kind: field.entity,
                product_id,
                variation_id,
                order_number,
                category_id,
            },
            field,
            value,
            base,
            created_at,
            attempts,
            batch_key: key,
            first_sent: first,
            ticket,
        });
    }
    Ok(out)
}

/// Whether any field change is open (pulls then keep them on top of Ecwid's values).
pub fn any_open(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox
                         WHERE state IN ('pending', 'sending') AND field NOT IN ('quantity', 'delete'))",
    )?
    .query_row([], |r| r.get(0))
}

/// Ecwid's value of `field` for `entity` as the mirror's copy of its document holds it, and
/// the entity's update time (a variation's: its product's).
pub fn remote_value(
    conn: &Connection,
    entity: &Entity,
    field: &FieldSpec,
) -> rusqlite::Result<Option<(Value, Option<i64>)>> {
    let sql = match entity.kind {
        EntityType::Product if field.shape == Shape::Ids => format!(
            "SELECT (SELECT json_group_array(value)
                       FROM (SELECT value FROM json_each(raw_json, '$.{}') ORDER BY value)),
                    updated_at FROM products WHERE id = ?1",
            field.json
        ),
        EntityType::Product => format!(
            "SELECT json_extract(raw_json, '$.{}'), updated_at FROM products WHERE id = ?1",
            field.json
        ),
        EntityType::Variation => format!(
            "SELECT json_extract(v.raw_json, '$.{}'), p.updated_at
               FROM product_variations v JOIN products p ON p.id = v.product_id
              WHERE v.id = ?1",
            field.json
        ),
        EntityType::Order => format!(
            "SELECT json_extract(raw_json, '$.{}'), updated_at FROM orders WHERE order_number = ?1",
            field.json
        ),
        // Ecwid keeps no update time for a category: unknown, which `newest_wins` counts as
        // older than any change of the mirror's (see schema/README.md). A document without
        // `enabled` is a visible category, as the pull reads it.
        EntityType::Category => format!(
            "SELECT COALESCE(json_extract(raw_json, '$.{}'), {}), NULL FROM categories WHERE id = ?1",
            field.json,
            if field.shape == Shape::Flag {
                "1"
            } else {
                "NULL"
            }
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([entity.key()])?;
    match rows.next()? {
        Some(r) => Ok(Some((r.get(0)?, r.get(1)?))),
        None => Ok(None),
    }
}

/// Writes every open field change of `kind`'s entities among `keys` (all of them when
/// `None`) into the mirror's columns, the newest change of a field last: a pull or a
/// settled batch wrote Ecwid's values there.
pub fn overlay(
    tx: &Transaction,
    kind: EntityType,
    keys: Option<&[i64]>,
) -> Result<(), MirrorError> {
    let rows: Vec<FieldRow> = open_rows(tx)?
        .into_iter()
        .filter(|r| r.entity.kind == kind)
        .filter(|r| keys.is_none_or(|k| k.contains(&r.entity.key())))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    capture::uncaptured(tx, || {
        for r in &rows {
            write_value(tx, &r.entity, r.field, &r.value)?;
        }
        Ok(())
    })
}

/// Writes `value` of `field` into the mirror for `entity`: its column, or for a set of ids
/// (a product's categories) the rows of its link table.
fn write_value(
    tx: &Transaction,
    entity: &Entity,
    field: &FieldSpec,
    value: &Value,
) -> rusqlite::Result<()> {
    if field.shape == Shape::Ids {
        tx.prepare_cached("DELETE FROM product_categories WHERE product_id = ?1")?
            .execute([entity.key()])?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO product_categories (product_id, category_id)
             SELECT ?1, value FROM json_each(?2)",
        )?
        .execute(params![entity.key(), value])?;
        return Ok(());
    }
    tx.prepare_cached(&format!(
        "UPDATE {} SET {} = ?2 WHERE {} = ?1",
        entity.kind.table(),
        field.column,
        entity.kind.key_column()
    ))?
    .execute(params![entity.key(), value])?;
    Ok(())
}

/// Sets the state of outbox rows `ids` (field changes), with why.
pub fn set_state(
    tx: &Transaction,
    ids: &[i64],
    state: &str,
    error: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE outbox SET state = ?2, last_error = ?3,
                settled_at = CASE WHEN ?2 IN ('pending', 'sending', 'conflict') THEN NULL ELSE ?4 END,
                batch_key = CASE WHEN ?2 = 'pending' THEN NULL ELSE batch_key END
          WHERE id = ?1",
    )?;
    for id in ids {
        stmt.execute(params![id, state, error, now])?;
    }
    Ok(())
}

/// The outbox column naming entities of `kind`, for queries built elsewhere.
pub fn outbox_key(kind: EntityType) -> &'static str {
    kind.outbox_key()
}

/// Sets `field` of `entity` back to Ecwid's value, derived from the mirror's copy of its
/// document the way a pull derives it (a variation without a price of its own shows its
/// product's), with any change still open on top.
pub fn restore(tx: &Transaction, entity: &Entity, field: &FieldSpec) -> Result<(), MirrorError> {
    use super::rows::Rows;
    use crate::kind::Kind;

    if stored_as_sent(field) {
        let Some((value, _)) = remote_value(tx, entity, field)? else {
            return Ok(());
        };
        return write_restored(tx, entity, field, value);
    }
    let (kind, key) = match entity.kind {
        EntityType::Order => (Kind::Orders, entity.key()),
        EntityType::Category => (Kind::Categories, entity.key()),
        _ => (Kind::Products, entity.product_id.unwrap_or_default()),
    };
    let raw: Option<String> = tx
        .prepare_cached(&format!(
            "SELECT raw_json FROM {} WHERE {} = ?1",
            kind.table(),
            kind.key_column()
        ))?
        .query_row([key], |r| r.get(0))
        .ok();
    let Some(raw) = raw else {
        return Ok(());
    };
    let Ok(doc) = serde_json::value::RawValue::from_string(raw) else {
        return Ok(());
    };
    let (rows, _) = Rows::parse(kind, &[doc.as_ref()]);
    let value: Option<Value> = match (&rows, entity.kind) {
        (Rows::Products(p), EntityType::Product) => p.first().map(|p| match field.column {
            "price" => p.price.into(),
            "compare_to_price" => p.compare_to_price.into(),
            "name" => p.name.clone().into(),
            "enabled" => i64::from(p.enabled).into(),
            "sku" => p.sku.clone().into(),
            "weight" => p.weight.into(),
            _ => Value::Null,
        }),
        (Rows::Products(p), EntityType::Variation) => p
            .first()
            .and_then(|p| p.variations.iter().find(|v| v.id == entity.key()))
            .map(|v| match field.column {
                "price" => v.price.into(),
                _ => v.sku.clone().into(),
            }),
        (Rows::Orders(o), EntityType::Order) => o.first().map(|o| match field.column {
            "fulfillment_status" => o.fulfillment_status.clone().into(),
            "payment_status" => o.payment_status.clone().into(),
            _ => o.tracking_number.clone().into(),
        }),
        _ => None,
    };
    let Some(value) = value else {
        return Ok(());
    };
    write_restored(tx, entity, field, value)
}

/// Writes Ecwid's `value` of `field` into the mirror's column, with any change still open on
/// top.
fn write_restored(
    tx: &Transaction,
    entity: &Entity,
    field: &FieldSpec,
    value: Value,
) -> Result<(), MirrorError> {
    capture::uncaptured(tx, || {
        write_value(tx, entity, field, &value)?;
        Ok(())
    })?;
    overlay(tx, entity.kind, Some(&[entity.key()]))
}

/// A value of the mirror as JSON (`outbox list --json`, `conflicts list --json`).
pub fn to_json(v: Value) -> serde_json::Value {
    match v {
        Value::Null | Value::Blob(_) => serde_json::Value::Null,
        Value::Integer(i) => i.into(),
        Value::Real(r) => r.into(),
        Value::Text(t) => t.into(),
    }
}
