//! One product, variation or order and its whole story: found by what the operator knows
//! of it (an id, a SKU, an order's number or public id), then its mirror row, its local
//! changes with their batches, its conflicts and the webhooks that announced it.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::conflicts;
use super::fields::{self, EntityType};
use super::inbox_review::{self, EventEntity, EventFilter, RecentEvent};
use super::outbox_review::{self, ListFilter, Which};
use crate::kind::Kind;

pub use super::fields::Entity;

/// The most rows of each list a story holds: the newest.
pub const STORY_LIMIT: usize = 50;

/// An entity the query names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub entity: Entity,
    /// What in the query matched: `product id`, `variation id`, `order number`, `SKU`,
    /// `public id`.
    pub matched: &'static str,
    /// The entity for people: `product 77 "Blue mug" (SKU MUG-1)`, `order BK1G6 (number 31)`.
    pub label: String,
}

/// Every product, variation and order `query` names: by product or variation id, order
/// number, SKU (a product's or a variation's own; any case for letters written all in one
/// case), or an order's public id (any case). Products first, then variations, then orders.
pub fn find(conn: &Connection, query: &str) -> rusqlite::Result<Vec<Found>> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let number: Option<i64> = query.parse().ok();
    let (upper, lower) = (query.to_uppercase(), query.to_lowercase());
    let mut found = Vec::new();
    let mut push = |f: Found| {
        if !found.iter().any(|g: &Found| g.entity == f.entity) {
            found.push(f);
        }
    };

    for (id, matched) in keyed_rows(
        conn,
        "SELECT id, 'product id' FROM products WHERE id = ?1
         UNION ALL
         SELECT id, 'SKU' FROM products WHERE sku IN (?2, ?3, ?4)
         ORDER BY 1",
        params![number, query, upper, lower],
    )? {
        let entity = product(id);
        push(Found {
            label: label(conn, &entity)?.unwrap_or_default(),
            entity,
            matched: matched_as(&matched),
        });
    }
    // A variation without a SKU of its own shows its product's: found as the product.
    let variation_rows = conn
        .prepare_cached(
            "SELECT id, product_id, 'variation id' FROM product_variations WHERE id = ?1
             UNION ALL
             SELECT id, product_id, 'SKU' FROM product_variations
              WHERE sku IN (?2, ?3, ?4) AND json_extract(raw_json, '$.sku') IS NOT NULL
             ORDER BY 1",
        )?
        .query_map(params![number, query, upper, lower], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, product_id, matched) in variation_rows {
        let entity = variation(product_id, id);
        push(Found {
            label: label(conn, &entity)?.unwrap_or_default(),
            entity,
            matched: matched_as(&matched),
        });
    }
    let orders = keyed_rows(
        conn,
        "SELECT order_number, 'order number' FROM orders WHERE order_number = ?1
         UNION ALL
         SELECT order_number, 'public id' FROM orders WHERE id = ?2 COLLATE NOCASE
         ORDER BY 1",
        params![number, query],
    )?;
    let categories = keyed_rows(
        conn,
        "SELECT id, 'category id' FROM categories WHERE id = ?1
         UNION ALL
         SELECT id, 'category name' FROM categories WHERE name = ?2 COLLATE NOCASE
         ORDER BY 1",
        params![number, query],
    )?;
    let entities = orders
        .into_iter()
        .map(|(key, matched)| (order(key), matched))
        .chain(categories.into_iter().map(|(key, m)| (category(key), m)));
    for (entity, matched) in entities {
        push(Found {
            label: label(conn, &entity)?.unwrap_or_default(),
            entity,
            matched: matched_as(&matched),
        });
    }
    Ok(found)
}

/// The key and the matching column of each row `sql` finds.
fn keyed_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare_cached(sql)?
        .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

fn matched_as(column: &str) -> &'static str {
    match column {
        "product id" => "product id",
        "variation id" => "variation id",
        "order number" => "order number",
        "public id" => "public id",
        "category id" => "category id",
        "category name" => "category name",
        _ => "SKU",
    }
}

pub fn product(id: i64) -> Entity {
    Entity {
        kind: EntityType::Product,
        product_id: Some(id),
        variation_id: None,
        order_number: None,
        category_id: None,
    }
}

pub fn variation(product_id: i64, id: i64) -> Entity {
    Entity {
        kind: EntityType::Variation,
        product_id: Some(product_id),
        variation_id: Some(id),
        order_number: None,
        category_id: None,
    }
}

pub fn order(number: i64) -> Entity {
    Entity {
        kind: EntityType::Order,
        product_id: None,
        variation_id: None,
        order_number: Some(number),
        category_id: None,
    }
}

pub fn category(id: i64) -> Entity {
    Entity {
        kind: EntityType::Category,
        product_id: None,
        variation_id: None,
        order_number: None,
        category_id: Some(id),
    }
}

/// The entity for people, or `None` when the mirror does not hold it.
fn label(conn: &Connection, entity: &Entity) -> rusqlite::Result<Option<String>> {
    let key = entity.key();
    Ok(match entity.kind {
        EntityType::Product => conn
            .prepare_cached("SELECT name, sku FROM products WHERE id = ?1")?
            .query_row([key], |r| {
                Ok(named(
                    format!("product {key}"),
                    r.get::<_, Option<String>>(0)?,
                    r.get(1)?,
                ))
            })
            .optional()?,
        EntityType::Variation => conn
            .prepare_cached(
                "SELECT p.name, v.sku, v.product_id FROM product_variations v
                   JOIN products p ON p.id = v.product_id WHERE v.id = ?1",
            )?
            .query_row([key], |r| {
                let product: i64 = r.get(2)?;
                Ok(named(
                    format!("variation {key} of product {product}"),
                    r.get(0)?,
                    r.get(1)?,
                ))
            })
            .optional()?,
        EntityType::Order => conn
            .prepare_cached("SELECT id, email FROM orders WHERE order_number = ?1")?
            .query_row([key], |r| {
                let id: Option<String> = r.get(0)?;
                let email: Option<String> = r.get(1)?;
                let mut label = match id.filter(|id| !id.is_empty()) {
                    Some(id) => format!("order {id} (number {key})"),
                    None => format!("order {key}"),
                };
                if let Some(email) = email.filter(|e| !e.is_empty()) {
                    label.push_str(&format!(", {email}"));
                }
                Ok(label)
            })
            .optional()?,
        EntityType::Category => conn
            .prepare_cached("SELECT name FROM categories WHERE id = ?1")?
            .query_row([key], |r| {
                Ok(named(format!("category {key}"), r.get(0)?, None))
            })
            .optional()?,
    })
}

fn named(what: String, name: Option<String>, sku: Option<String>) -> String {
    let mut label = what;
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        label.push_str(&format!(" {name:?}"));
    }
    if let Some(sku) = sku.filter(|s| !s.is_empty()) {
        label.push_str(&format!(" (SKU {sku})"));
    }
    label
}

/// One column of a mirror row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Column {
    pub column: String,
    pub value: serde_json::Value,
}

/// A product's variation, in brief.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariationBrief {
    pub id: i64,
    pub sku: Option<String>,
    /// Whether the SKU is the variation's own (else it shows its product's).
    pub own_sku: bool,
    pub price: Option<f64>,
    pub quantity: Option<i64>,
    pub unlimited: bool,
    /// The option choices that make it, as Ecwid sends them.
    pub options: serde_json::Value,
}

/// A keyed batch of changes sent to Ecwid (`push_batches`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// Its `deduplicationKey`.
    pub key: String,
    /// When it was first sent; Ecwid remembers the key for an hour from then.
    pub first_sent: Option<i64>,
    /// Ecwid's ticket, once a create was answered.
    pub ticket: Option<String>,
    /// The changes of this story it carried.
    pub changes: Vec<i64>,
}

/// Everything the mirror knows of one entity.
#[derive(Clone, Debug, Serialize)]
pub struct Story {
    pub entity: Entity,
    pub label: String,
    /// The mirror row, its columns in table order, without the copy of Ecwid's document.
    pub row: Vec<Column>,
    /// A product: its variations.
    pub variations: Vec<VariationBrief>,
    /// An order: its lines, each in table order.
    pub items: Vec<Vec<Column>>,
    /// Changes on their way or waiting for the operator, oldest first; a product's include
    /// its variations'.
    pub open_changes: Vec<outbox_review::Listed>,
    /// Changes settled (applied, dropped, dismissed), newest first, at most [`STORY_LIMIT`].
    pub settled_changes: Vec<outbox_review::Listed>,
    /// The batches that carried the changes above, newest first.
    pub batches: Vec<Batch>,
    /// Conflicts, open and resolved, newest first, at most [`STORY_LIMIT`].
    pub conflicts: Vec<conflicts::Listed>,
    /// Webhook events that named it (a variation's are its product's), newest first, at
    /// most [`STORY_LIMIT`].
    pub events: Vec<RecentEvent>,
}

/// The story of `entity`, or `None` when the mirror holds neither its row nor any change,
/// conflict or event of it (an entity deleted in Ecwid keeps its changes and events).
pub fn story(conn: &Connection, entity: &Entity) -> rusqlite::Result<Option<Story>> {
    let (table, key_column) = match entity.kind {
        EntityType::Product => ("products", "id"),
        EntityType::Variation => ("product_variations", "id"),
        EntityType::Order => ("orders", "order_number"),
        EntityType::Category => ("categories", "id"),
    };
    let row = columns_of(
        conn,
        &format!("SELECT * FROM {table} WHERE {key_column} = ?1"),
        entity.key(),
    )?
    .into_iter()
    .next()
    .unwrap_or_default();
    let variations = match entity.kind {
        EntityType::Product => variations_of(conn, entity.key())?,
        _ => Vec::new(),
    };
    let items = match entity.kind {
        EntityType::Order => columns_of(
            conn,
            "SELECT * FROM order_items WHERE order_number = ?1 ORDER BY line",
            entity.key(),
        )?,
        _ => Vec::new(),
    };
    let open_changes = outbox_review::list_where(
        conn,
        &ListFilter {
            which: Which::Open,
            about: Some(entity),
            newest_first: false,
            limit: Some(STORY_LIMIT),
        },
    )?;
    let settled_changes = outbox_review::list_where(
        conn,
        &ListFilter {
            which: Which::Settled,
            about: Some(entity),
            newest_first: true,
            limit: Some(STORY_LIMIT),
        },
    )?;
    let batches = batches_of(conn, open_changes.iter().chain(&settled_changes))?;
    let conflicts = conflicts::list_where(
        conn,
        &conflicts::ListFilter {
            all: true,
            about: Some(entity),
            newest_first: true,
            limit: Some(STORY_LIMIT),
        },
    )?;
    let order_id: Option<String> = row
        .iter()
        .find(|c| entity.kind == EntityType::Order && c.column == "id")
        .and_then(|c| c.value.as_str().map(str::to_string));
    let events_of = match entity.kind {
        EntityType::Product | EntityType::Variation => EventEntity {
            kind: Kind::Products,
            key: entity.product_id.unwrap_or_default(),
            order_id: None,
        },
        EntityType::Order => EventEntity {
            kind: Kind::Orders,
            key: entity.key(),
            order_id,
        },
        EntityType::Category => EventEntity {
            kind: Kind::Categories,
            key: entity.key(),
            order_id: None,
        },
    };
    let events = inbox_review::recent(
        conn,
        &EventFilter {
            entity: Some(events_of),
            ..EventFilter::default()
        },
        STORY_LIMIT,
    )?;
    if row.is_empty()
        && open_changes.is_empty()
        && settled_changes.is_empty()
        && conflicts.is_empty()
        && events.is_empty()
    {
        return Ok(None);
    }
    let label = label(conn, entity)?.unwrap_or_else(|| {
        format!(
            "{} (no longer in the mirror: deleted in Ecwid)",
            entity.shown()
        )
    });
    Ok(Some(Story {
        entity: *entity,
        label,
        row,
        variations,
        items,
        open_changes,
        settled_changes,
        batches,
        conflicts,
        events,
    }))
}

/// The batches that carried `changes`, newest first. A batch whose record was pruned (its
/// changes applied long ago) is still named by its key.
fn batches_of<'a>(
    conn: &Connection,
    changes: impl Iterator<Item = &'a outbox_review::Listed>,
) -> rusqlite::Result<Vec<Batch>> {
    let mut batches: Vec<Batch> = Vec::new();
    for change in changes {
        let Some(key) = &change.batch_key else {
            continue;
        };
        match batches.iter_mut().find(|b| &b.key == key) {
            Some(batch) => batch.changes.push(change.id),
            None => {
                let (first_sent, ticket) = conn
                    .prepare_cached("SELECT first_sent, ticket FROM push_batches WHERE key = ?1")?
                    .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .unwrap_or((None, None));
                batches.push(Batch {
                    key: key.clone(),
                    first_sent,
                    ticket,
                    changes: vec![change.id],
                });
            }
        }
    }
    batches.sort_by(|a, b| b.first_sent.cmp(&a.first_sent).then(a.key.cmp(&b.key)));
    Ok(batches)
}

/// Each row of `sql` (one parameter, `key`) as columns, leaving out `raw_json`.
fn columns_of(conn: &Connection, sql: &str, key: i64) -> rusqlite::Result<Vec<Vec<Column>>> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    stmt.query_map([key], |r| {
        let mut row = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if name == "raw_json" {
                continue;
            }
            row.push(Column {
                column: name.clone(),
                value: fields::to_json(r.get::<_, Value>(i)?),
            });
        }
        Ok(row)
    })?
    .collect()
}

fn variations_of(conn: &Connection, product_id: i64) -> rusqlite::Result<Vec<VariationBrief>> {
    conn.prepare_cached(
        "SELECT id, sku, json_extract(raw_json, '$.sku') IS NOT NULL, price, quantity,
                unlimited, options_json
           FROM product_variations WHERE product_id = ?1 ORDER BY id",
    )?
    .query_map([product_id], |r| {
        let options: Option<String> = r.get(6)?;
        Ok(VariationBrief {
            id: r.get(0)?,
            sku: r.get(1)?,
            own_sku: r.get(2)?,
            price: r.get(3)?,
            quantity: r.get(4)?,
            unlimited: r.get(5)?,
            options: options
                .and_then(|o| serde_json::from_str(&o).ok())
                .unwrap_or(serde_json::Value::Null),
        })
    })?
    .collect()
}
