//! Full pulls repair the mirror. A row that holds the very document Ecwid sends again, yet
//! whose columns or child rows disagree with what that document makes of them (with the
//! entity's open local changes on top), can only be the work of a writer that went around
//! the daemon: a connection with triggers off, a restored file, a tool of another version.
//! Pulls never rewrite a row whose document did not change, so without this the mirror
//! would stay wrong for good. A full pull compares every row it reads a document for, writes
//! the ones that disagree again, and counts them per kind (`sync_state.rows_repaired`,
//! `status`, `/metrics`).
//!
//! The comparison runs inside the page's transaction, in SQL, a chunk of rows per
//! statement: the page's documents as `VALUES` joined with the mirror's rows. A row that
//! disagrees is written by the pull's own upsert with another `WHERE`, child rows by the
//! pull's own replacement. Rows the page wrote anyway (new or changed documents) are
//! not compared, so a pull into a new mirror pays nothing for it.

use std::collections::{HashMap, HashSet};

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{CategoryRow, CustomerRow, ORDER_ITEM_VALUES, OrderRow, Over, ProductRow, RowChange};
use crate::kind::Kind;
use crate::mirror::fields::{self, EntityType};
use crate::mirror::multi_row;

/// Whether applying a page also repairs the rows that hold its documents but disagree with
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Repair {
    /// Only documents newer than the mirror's copy are written (incremental pulls,
    /// webhooks, the pusher's read-backs).
    #[default]
    Off,
    /// Full pulls.
    On,
}

/// The columns of `products` that derive from a product's document, besides its key, its
/// update time and the document itself: what a repair compares.
pub(super) const PRODUCT_COLUMNS: &[&str] = &[
    "sku",
    "name",
    "price",
    "compare_to_price",
    "quantity",
    "unlimited",
    "in_stock",
    "enabled",
    "weight",
    "default_category_id",
    "created_at",
    "description",
    "cost_price",
];

/// The same for `product_variations` (whose update time is its product's), `categories`
/// (which has none), `orders`, `order_items` (keyed by order and line) and `customers`.
pub(super) const VARIATION_COLUMNS: &[&str] = &[
    "product_id",
    "sku",
    "quantity",
    "unlimited",
    "price",
    "options_json",
    "raw_json",
    "compare_to_price",
    "weight",
];
pub(super) const CATEGORY_COLUMNS: &[&str] = &["parent_id", "name", "enabled", "order_by"];
pub(super) const ORDER_COLUMNS: &[&str] = &[
    "id",
    "email",
    "customer_id",
    "payment_status",
    "fulfillment_status",
    "total",
    "subtotal",
    "tax",
    "tracking_number",
    "created_at",
    "hidden",
    "private_admin_note",
];
pub(super) const ORDER_ITEM_COLUMNS: &[&str] = &[
    "item_id",
    "product_id",
    "sku",
    "name",
    "quantity",
    "price",
    "options_json",
    "combination_id",
];
pub(super) const CUSTOMER_COLUMNS: &[&str] = &["email", "name"];

/// `mirror.c IS NOT expected.c OR ...` over `columns`: whether a row of `mirror` disagrees
/// with the `expected` one. A column that holds a local change still on its way (a field of
/// `entity`, see [`fields::FIELDS`]) shows that change, not the document's value, and is left
/// out of the comparison while the change is open: the pull's overlay keeps it.
pub(super) fn differs(
    mirror: &str,
    expected: &str,
    columns: &[&str],
    entity: Option<EntityType>,
) -> String {
    columns
        .iter()
        .map(|column| {
            let field = entity.and_then(|entity| fields::find(entity, column));
            match field {
                // CASE, so that the lookup runs only for a column that differs.
                Some(field) => format!(
                    "(CASE WHEN {mirror}.{column} IS NOT {expected}.{column}
                      THEN NOT EXISTS (SELECT 1 FROM outbox
                                        WHERE {key} = {expected}.{own_key} AND entity = '{name}'
                                          AND field = '{column}' AND state IN {open})
                      ELSE 0 END)",
                    open = crate::mirror::capture::OPEN_STATES,
                    key = fields::outbox_key(field.entity),
                    own_key = match field.entity {
                        EntityType::Order => "order_number",
                        _ => "id",
                    },
                    name = field.entity.name(),
                ),
                None => format!("{mirror}.{column} IS NOT {expected}.{column}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The last document of each entity in `rows` that the page did not write (written rows need
/// no check), in the page's order.
fn unwritten<'a, T>(
    rows: &'a [T],
    key: impl Fn(&T) -> i64,
    changes: &[(i64, RowChange)],
) -> Vec<&'a T> {
    let written: HashSet<i64> = changes
        .iter()
        .filter(|(_, change)| *change != RowChange::Unchanged)
        .map(|(key, _)| *key)
        .collect();
    let mut seen = HashSet::new();
    let mut last: Vec<&T> = rows
        .iter()
        .rev()
        .filter(|row| !written.contains(&key(row)) && seen.insert(key(row)))
        .collect();
    last.reverse();
    last
}

/// Of the entities compared, which hold the document read, and of those, which rows
/// disagree with it.
struct Parents {
    holding: HashSet<i64>,
    differ: HashSet<i64>,
}

impl Parents {
    /// Runs a comparison whose result rows are (key, disagrees): only rows whose mirror copy
    /// has the document's update time come back. Such a row holds the very document read:
    /// the page's upsert, which left it alone, would have written over another one of the
    /// same time.
    fn read<T, const N: usize>(
        tx: &Transaction,
        statement: (&'static str, &'static str, &'static str),
        rows: &[T],
        bind: impl Fn(&T) -> [&dyn ToSql; N],
    ) -> rusqlite::Result<Parents> {
        let mut parents = Parents {
            holding: HashSet::new(),
            differ: HashSet::new(),
        };
        let compared = multi_row::query(tx, statement, rows, bind, |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?))
        })?;
        for (key, differs) in compared {
            parents.holding.insert(key);
            if differs {
                parents.differ.insert(key);
            }
        }
        Ok(parents)
    }
}

/// A product's values as a row of `VALUES`, numbered as the product's upsert numbers them
/// (up to its update time, ?13, then the columns read from its document, ?14), its quantity
/// with the open stock changes when `open_stock`.
fn product_values(open_stock: bool) -> &'static str {
    static ROWS: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        [false, true].map(|open| {
            format!(
                "(?1, ?2, ?3, ?4, ?5, {}, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                  json_extract(?14, '$.description'), json_extract(?14, '$.costPrice'))",
                super::product_quantity(open)
            )
        })
    });
    ROWS[usize::from(open_stock)].as_str()
}

/// Compares the product rows of `e` (see [`Parents::read`]).
fn products_tail() -> &'static str {
    static TAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            ") SELECT e.id, {} FROM e JOIN products t ON t.id = e.id
                WHERE t.updated_at IS e.updated_at",
            differs("t", "e", PRODUCT_COLUMNS, Some(EntityType::Product))
        )
    });
    TAIL.as_str()
}

/// Compares the order rows of `e` (see [`Parents::read`]).
fn orders_tail() -> &'static str {
    static TAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            ") SELECT e.order_number, {} FROM e JOIN orders t ON t.order_number = e.order_number
                WHERE t.updated_at IS e.updated_at",
            differs("t", "e", ORDER_COLUMNS, Some(EntityType::Order))
        )
    });
    TAIL.as_str()
}

/// The mirror's child rows of `parents` as (parent, child key) pairs, by parent.
fn children(
    tx: &Transaction,
    head: &'static str,
    parents: &[i64],
) -> rusqlite::Result<HashMap<i64, HashSet<i64>>> {
    let mut by_parent: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (parent, child) in multi_row::query_in(tx, head, parents, |r| Ok((r.get(0)?, r.get(1)?)))? {
        by_parent.entry(parent).or_default().insert(child);
    }
    Ok(by_parent)
}

/// Repairs the products of a page: their rows, variations and category links. Returns the
/// keys of those repaired.
pub(super) fn products(
    tx: &Transaction,
    rows: &[ProductRow],
    changes: &[(i64, RowChange)],
    synced_at: i64,
    open_stock: bool,
) -> rusqlite::Result<Vec<i64>> {
    let candidates = unwritten(rows, |p| p.id, changes);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let parents = Parents::read(
        tx,
        (
            "WITH e(id, sku, name, price, compare_to_price, quantity, unlimited, in_stock,
                    enabled, weight, default_category_id, created_at, updated_at, description,
                    cost_price) AS (VALUES ",
            product_values(open_stock),
            products_tail(),
        ),
        &candidates,
        |p| {
            [
                &p.id,
                &p.sku,
                &p.name,
                &p.price,
                &p.compare_to_price,
                &p.quantity,
                &p.unlimited,
                &p.in_stock,
                &p.enabled,
                &p.weight,
                &p.default_category_id,
                &p.created_at,
                &p.updated_at,
                &p.raw_json,
            ]
        },
    )?;
    let candidates: Vec<&ProductRow> = candidates
        .into_iter()
        .filter(|p| parents.holding.contains(&p.id))
        .collect();
    let mut repaired = HashSet::new();
    for p in candidates.iter().filter(|p| parents.differ.contains(&p.id)) {
        if super::upsert_product(tx, p, synced_at, open_stock, Over::Disagreeing)? {
            repaired.insert(p.id);
        }
    }
    let ids: Vec<i64> = candidates.iter().map(|p| p.id).collect();
    let variations = children(
        tx,
        "SELECT product_id, id FROM product_variations WHERE product_id IN (",
        &ids,
    )?;
    let links = children(
        tx,
        "SELECT product_id, category_id FROM product_categories WHERE product_id IN (",
        &ids,
    )?;
    // A product whose categories a tool changed shows that change until it is settled, as a
    // column does (see `differs`): its links are not compared meanwhile.
    let links_open: HashSet<i64> = multi_row::query_in(
        tx,
        "SELECT DISTINCT product_id FROM outbox
          WHERE field = 'category_ids' AND state IN ('pending', 'sending') AND product_id IN (",
        &ids,
        |r| r.get(0),
    )?
    .into_iter()
    .collect();
    let empty = HashSet::new();
    let mut children_differ: HashSet<i64> = candidates
        .iter()
        .filter(|p| {
            let expected: HashSet<i64> = p.variations.iter().map(|v| v.id).collect();
            let categories: HashSet<i64> = p.category_ids.iter().copied().collect();
            *variations.get(&p.id).unwrap_or(&empty) != expected
                || (!links_open.contains(&p.id)
                    && *links.get(&p.id).unwrap_or(&empty) != categories)
        })
        .map(|p| p.id)
        .collect();
    // Same variations, by id: compare their columns.
    let expected: Vec<(i64, &super::VariationRow)> = candidates
        .iter()
        .filter(|p| !children_differ.contains(&p.id))
        .flat_map(|p| p.variations.iter().map(|v| (p.id, v)))
        .collect();
    children_differ.extend(multi_row::query(
        tx,
        (
            variations_head(),
            super::variation_values(open_stock),
            variations_tail(),
        ),
        &expected,
        |(product_id, v)| super::bind_variation(product_id, v, &synced_at),
        |r| r.get::<_, i64>(0),
    )?);
    let rewrite: Vec<&ProductRow> = candidates
        .iter()
        .filter(|p| children_differ.contains(&p.id))
        .copied()
        .collect();
    super::replace_product_children(tx, &rewrite, synced_at, open_stock)?;
    repaired.extend(children_differ);
    Ok(ids.into_iter().filter(|id| repaired.contains(id)).collect())
}

fn variations_head() -> &'static str {
    "WITH e(id, product_id, sku, quantity, unlimited, price, options_json, raw_json, synced_at,
            compare_to_price, weight)
       AS (VALUES "
}

/// Selects the products of the variations in `e` whose mirror rows disagree with them.
fn variations_tail() -> &'static str {
    static TAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            ") SELECT DISTINCT e.product_id FROM e JOIN product_variations v ON v.id = e.id
                WHERE {}",
            differs("v", "e", VARIATION_COLUMNS, Some(EntityType::Variation))
        )
    });
    TAIL.as_str()
}

/// Repairs the orders of a page: their rows and their items. Returns the keys of those
/// repaired.
pub(super) fn orders(
    tx: &Transaction,
    rows: &[OrderRow],
    changes: &[(i64, RowChange)],
    synced_at: i64,
) -> rusqlite::Result<Vec<i64>> {
    let candidates: Vec<&OrderRow> = unwritten(rows, |o| o.order_number, changes)
        .into_iter()
        .filter(|o| !o.is_unfinished())
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let parents = Parents::read(
        tx,
        (
            "WITH e(order_number, id, email, customer_id, payment_status, fulfillment_status,
                    total, subtotal, tax, tracking_number, created_at, updated_at, hidden,
                    private_admin_note)
               AS (VALUES ",
            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
              json_extract(?14, '$.privateAdminNotes'))",
            orders_tail(),
        ),
        &candidates,
        |o| {
            [
                &o.order_number,
                &o.id,
                &o.email,
                &o.customer_id,
                &o.payment_status,
                &o.fulfillment_status,
                &o.total,
                &o.subtotal,
                &o.tax,
                &o.tracking_number,
                &o.created_at,
                &o.updated_at,
                &o.hidden,
                &o.raw_json,
            ]
        },
    )?;
    let candidates: Vec<&OrderRow> = candidates
        .into_iter()
        .filter(|o| parents.holding.contains(&o.order_number))
        .collect();
    let mut repaired = HashSet::new();
    for o in candidates
        .iter()
        .filter(|o| parents.differ.contains(&o.order_number))
    {
        if super::upsert_order(tx, o, synced_at, Over::Disagreeing)? {
            repaired.insert(o.order_number);
        }
    }
    let keys: Vec<i64> = candidates.iter().map(|o| o.order_number).collect();
    let lines = children(
        tx,
        "SELECT order_number, line FROM order_items WHERE order_number IN (",
        &keys,
    )?;
    let empty = HashSet::new();
    let mut items_differ: HashSet<i64> = candidates
        .iter()
        .filter(|o| {
            let expected: HashSet<i64> = (0..o.items.len() as i64).collect();
            *lines.get(&o.order_number).unwrap_or(&empty) != expected
        })
        .map(|o| o.order_number)
        .collect();
    let expected: Vec<(i64, i64, &super::OrderItemRow)> = candidates
        .iter()
        .filter(|o| !items_differ.contains(&o.order_number))
        .flat_map(|o| {
            o.items
                .iter()
                .enumerate()
                .map(|(line, i)| (o.order_number, line as i64, i))
        })
        .collect();
    items_differ.extend(multi_row::query(
        tx,
        (
            "WITH e(order_number, line, item_id, product_id, sku, name, quantity, price,
                    options_json, combination_id) AS (VALUES ",
            ORDER_ITEM_VALUES,
            order_items_tail(),
        ),
        &expected,
        |(order_number, line, i)| super::bind_order_item(order_number, line, i),
        |r| r.get::<_, i64>(0),
    )?);
    let rewrite: Vec<&OrderRow> = candidates
        .iter()
        .filter(|o| items_differ.contains(&o.order_number))
        .copied()
        .collect();
    super::replace_order_items(tx, &rewrite)?;
    repaired.extend(items_differ);
    Ok(keys.into_iter().filter(|k| repaired.contains(k)).collect())
}

/// Selects the orders of the lines in `e` whose mirror rows disagree with them.
fn order_items_tail() -> &'static str {
    static TAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            ") SELECT DISTINCT e.order_number FROM e
                JOIN order_items i ON i.order_number = e.order_number AND i.line = e.line
                WHERE {}",
            differs("i", "e", ORDER_ITEM_COLUMNS, None)
        )
    });
    TAIL.as_str()
}

/// Repairs the categories of a page. Returns the keys of those repaired.
pub(super) fn categories(
    tx: &Transaction,
    rows: &[CategoryRow],
    changes: &[(i64, RowChange)],
    synced_at: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut repaired = Vec::new();
    for c in unwritten(rows, |c| c.id, changes) {
        if super::upsert_category(tx, c, synced_at, Over::Disagreeing)? {
            repaired.push(c.id);
        }
    }
    Ok(repaired)
}

/// Repairs the customers of a page. Returns the keys of those repaired.
pub(super) fn customers(
    tx: &Transaction,
    rows: &[&CustomerRow],
    changes: &[(i64, RowChange)],
    synced_at: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut repaired = Vec::new();
    for c in unwritten(rows, |c| c.id, changes) {
        if super::upsert_customer(tx, c, synced_at, Over::Disagreeing)? {
            repaired.push(c.id);
        }
    }
    Ok(repaired)
}

/// Adds `n` repairs to `kind`'s count in `sync_state` (whose row the page's bookkeeping
/// made).
pub(in crate::mirror) fn count(conn: &Connection, kind: Kind, n: usize) -> rusqlite::Result<()> {
    if n == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE sync_state SET rows_repaired = rows_repaired + ?2 WHERE kind = ?1",
    )?
    .execute(params![kind.name(), n as i64])?;
    Ok(())
}

/// The repairs counted for `kind`; 0 for a mirror from before they were counted (`status`
/// beside an older daemon).
pub fn repaired(conn: &Connection, kind: Kind) -> rusqlite::Result<i64> {
    let counted: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('sync_state') WHERE name = 'rows_repaired')",
        [],
        |r| r.get(0),
    )?;
    if !counted {
        return Ok(0);
    }
    Ok(conn
        .query_row(
            "SELECT rows_repaired FROM sync_state WHERE kind = ?1",
            [kind.name()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_compares_every_column_a_pull_derives_from_a_document() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::mirror::open_and_migrate(&dir.path().join("m.db")).unwrap();
        // Keys, and what the repair's WHERE compares itself or the pull sets anyway.
        let by_key = ["id", "updated_at", "raw_json", "synced_at"];
        for (table, compared, not_compared) in [
            ("products", PRODUCT_COLUMNS, &by_key[..]),
            (
                "product_variations",
                VARIATION_COLUMNS,
                &["id", "synced_at"][..],
            ),
            (
                "categories",
                CATEGORY_COLUMNS,
                &["id", "raw_json", "synced_at"][..],
            ),
            (
                "orders",
                ORDER_COLUMNS,
                &["order_number", "updated_at", "raw_json", "synced_at"][..],
            ),
            (
                "order_items",
                ORDER_ITEM_COLUMNS,
                &["order_number", "line"][..],
            ),
            ("customers", CUSTOMER_COLUMNS, &by_key[..]),
        ] {
            let mut columns: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            columns.retain(|c| !not_compared.contains(&c.as_str()));
            columns.sort();
            let mut compared: Vec<&str> = compared.to_vec();
            compared.sort();
            assert_eq!(columns, compared, "{table}");
        }
    }
}
