//! Writing remote documents into the mirror: upserts guarded by Ecwid's update time, the
//! child rows that come with them (variations, category links, order items), and removals.

use std::collections::HashSet;
use std::sync::LazyLock;

use rusqlite::{Connection, Transaction, params};

use super::MirrorError;
use super::capture;
use super::fields::{self, EntityType};
use super::multi_row;
use super::outbox;
use super::redaction;
pub mod repair;

use crate::kind::Kind;
use repair::Repair;

pub use super::rows::{
    CategoryRow, CustomerRow, OrderItemRow, OrderRow, ProductRow, Rows, Unreadable, VariationRow,
    key_of,
};

/// What applying a page did to the mirror.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rows written (inserted or changed).
    pub written: usize,
    /// Orders removed because their document says they are unfinished checkouts.
    pub removed: usize,
    /// Entities whose rows disagreed with the document they hold and were written again
    /// (see [`super::repair`]), named as a person reads them (orders by their public id).
    pub repaired: Vec<String>,
}

impl Applied {
    pub fn of(rows: &Rows, changes: &[(i64, RowChange)]) -> Applied {
        let count = |c| changes.iter().filter(|(_, change)| *change == c).count();
        let public_ids: std::collections::HashMap<i64, &str> =
            rows.order_ids().into_iter().collect();
        Applied {
            written: count(RowChange::Written),
            removed: count(RowChange::Removed),
            repaired: changes
                .iter()
                .filter(|(_, change)| *change == RowChange::Repaired)
                .map(|(key, _)| {
                    public_ids
                        .get(key)
                        .map_or_else(|| key.to_string(), |id| id.to_string())
                })
                .collect(),
        }
    }
}

/// What applying one document did to its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowChange {
    /// Inserted, or changed.
    Written,
    /// An unfinished order's document removed the order.
    Removed,
    /// The mirror already held this document, or a newer one: nothing was written.
    Unchanged,
    /// The mirror held this document, but its row or child rows disagreed with it: they
    /// were written again (only when applying with [`Repair::On`]).
    Repaired,
}

/// Writes every row that changes the mirror, and tells what happened to each entity's row
/// (by its key, in the order of `rows`). A row whose
/// stored `updated_at` is newer than the document's is left alone: webhooks and pulls arrive
/// out of order, and an older document must never overwrite a newer one. A row whose stored
/// update time and document equal the ones read is left alone too, child rows included
/// (they derive from the document): every pass reads its overlap window again, and
/// rewriting it would churn the WAL, move `synced_at` and fire the update triggers of
/// whoever watches the mirror, for nothing. So a change to how columns derive from the
/// document needs a migration that rewrites them: an incremental pull would not, and the
/// next full pull would count every such row as repaired (see [`super::repair`]).
///
/// These are Ecwid's values, never captured as local stock changes; a stock change still
/// waiting to reach Ecwid stays on top of Ecwid's quantity (see [`capture::OPEN_STATES`]).
pub fn apply_rows(
    tx: &Transaction,
    rows: &Rows,
    synced_at: i64,
) -> Result<Vec<(i64, RowChange)>, MirrorError> {
    apply_rows_with(tx, rows, synced_at, Repair::Off)
}

/// [`apply_rows`], and with [`Repair::On`] also the repair of rows that hold a document of
/// `rows` but disagree with it (see [`super::repair`]).
pub fn apply_rows_with(
    tx: &Transaction,
    rows: &Rows,
    synced_at: i64,
    repair: Repair,
) -> Result<Vec<(i64, RowChange)>, MirrorError> {
    // The one place documents become rows: what a customer had erased stays erased,
    // whichever pull or webhook brings their documents again.
    let redacted = redaction::redact_erased(tx, rows)?;
    let rows = redacted.as_ref().unwrap_or(rows);
    let changes = capture::uncaptured(tx, || apply_remote_rows(tx, rows, synced_at, repair))?;
    // A field change still on its way stays on top of the value Ecwid sent.
    if fields::any_open(tx)? {
        let written: Vec<i64> = changes
            .iter()
            .filter(|(_, c)| matches!(c, RowChange::Written | RowChange::Repaired))
            .map(|(k, _)| *k)
            .collect();
        match rows.kind() {
            Kind::Products => {
                fields::overlay(tx, EntityType::Product, Some(&written))?;
                fields::overlay(tx, EntityType::Variation, None)?;
            }
            Kind::Orders => fields::overlay(tx, EntityType::Order, Some(&written))?,
            Kind::Categories => fields::overlay(tx, EntityType::Category, Some(&written))?,
            Kind::Customers => {}
        }
    }
    Ok(changes)
}

fn apply_remote_rows(
    tx: &Transaction,
    rows: &Rows,
    synced_at: i64,
    repair: Repair,
) -> Result<Vec<(i64, RowChange)>, MirrorError> {
    let written = |changed: bool| {
        if changed {
            RowChange::Written
        } else {
            RowChange::Unchanged
        }
    };
    let mut changes = Vec::with_capacity(rows.len());
    match rows {
        Rows::Products(rows) => {
            let open_stock = outbox::has_open(tx)?;
            let mut changed = Vec::new();
            for row in rows {
                let written_now = upsert_product(tx, row, synced_at, open_stock, Over::Older)?;
                if written_now {
                    changed.push(row);
                }
                changes.push((row.id, written(written_now)));
            }
            replace_product_children(tx, &changed, synced_at, open_stock)?;
            if repair == Repair::On {
                let repaired = repair::products(tx, rows, &changes, synced_at, open_stock)?;
                mark_repaired(&mut changes, &repaired);
            }
        }
        Rows::Categories(rows) => {
            for row in rows {
                let changed = upsert_category(tx, row, synced_at, Over::Older)?;
                changes.push((row.id, written(changed)));
            }
            if repair == Repair::On {
                let repaired = repair::categories(tx, rows, &changes, synced_at)?;
                mark_repaired(&mut changes, &repaired);
            }
        }
        Rows::Orders(rows) => {
            for row in rows {
                let change = if row.is_unfinished() {
                    match remove_unfinished_order(tx, row)? {
                        0 => RowChange::Unchanged,
                        _ => RowChange::Removed,
                    }
                } else {
                    let changed = upsert_order(tx, row, synced_at, Over::Older)?;
                    if changed {
                        replace_order_items(tx, &[row])?;
                    }
                    written(changed)
                };
                changes.push((row.order_number, change));
            }
            if repair == Repair::On {
                let repaired = repair::orders(tx, rows, &changes, synced_at)?;
                mark_repaired(&mut changes, &repaired);
            }
        }
        Rows::Customers(rows) => {
            // An erased customer's document is personal data through and through: it is
            // never stored, by an upsert or a repair.
            let mut kept = Vec::with_capacity(rows.len());
            for row in rows {
                if redaction::is_erased(tx, row.id)? {
                    changes.push((row.id, RowChange::Unchanged));
                    continue;
                }
                kept.push(row);
                let changed = upsert_customer(tx, row, synced_at, Over::Older)?;
                changes.push((row.id, written(changed)));
            }
            if repair == Repair::On {
                let repaired = repair::customers(tx, &kept, &changes, synced_at)?;
                mark_repaired(&mut changes, &repaired);
            }
        }
    }
    Ok(changes)
}

/// Marks the entities `repaired` in `changes`, each once: at its last document, the one the
/// repair wrote from.
fn mark_repaired(changes: &mut [(i64, RowChange)], repaired: &[i64]) {
    let mut left: HashSet<i64> = repaired.iter().copied().collect();
    for (key, change) in changes.iter_mut().rev() {
        if *change == RowChange::Unchanged && left.remove(key) {
            *change = RowChange::Repaired;
        }
    }
}

/// Which rows an upsert writes over (a row the mirror does not hold is always inserted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Over {
    /// Rows holding an older document, or another one of the same update time.
    Older,
    /// Rows holding exactly the document given whose columns disagree with it (see
    /// [`super::repair`]).
    Disagreeing,
}

/// The `WHERE` of an upsert into `table` (key `key`, compared `columns`, local changes of
/// `entity`) that writes over the rows `over` names. A document with an update time older
/// than the row's never writes over it.
fn upsert_when(
    table: &str,
    columns: &[&str],
    entity: Option<EntityType>,
    has_update_time: bool,
    over: Over,
) -> String {
    match (over, has_update_time) {
        (Over::Older, true) => format!(
            "(excluded.updated_at IS NULL OR {table}.updated_at IS NULL
              OR excluded.updated_at >= {table}.updated_at)
             AND (excluded.updated_at IS NOT {table}.updated_at
                  OR excluded.raw_json IS NOT {table}.raw_json)"
        ),
        (Over::Older, false) => format!("excluded.raw_json IS NOT {table}.raw_json"),
        (Over::Disagreeing, has_update_time) => format!(
            "{same_time}excluded.raw_json IS {table}.raw_json AND ({differs})",
            same_time = if has_update_time {
                format!("excluded.updated_at IS {table}.updated_at AND ")
            } else {
                String::new()
            },
            differs = repair::differs(table, "excluded", columns, entity),
        ),
    }
}

/// A product's upsert, with `quantity` the expression of its quantity from `?6`.
fn upsert_product_sql(quantity: &str, over: Over) -> String {
    format!(
        "INSERT INTO products (id, sku, name, price, compare_to_price, quantity, unlimited,
             in_stock, enabled, weight, default_category_id, created_at, updated_at,
             raw_json, synced_at, description, cost_price)
         VALUES (?1, ?2, ?3, ?4, ?5, {quantity}, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 json_extract(?14, '$.description'), json_extract(?14, '$.costPrice'))
         ON CONFLICT (id) DO UPDATE SET
             sku = excluded.sku, name = excluded.name, price = excluded.price,
             compare_to_price = excluded.compare_to_price, quantity = excluded.quantity,
             unlimited = excluded.unlimited, in_stock = excluded.in_stock,
             enabled = excluded.enabled, weight = excluded.weight,
             default_category_id = excluded.default_category_id,
             created_at = excluded.created_at, updated_at = excluded.updated_at,
             raw_json = excluded.raw_json, synced_at = excluded.synced_at,
             description = excluded.description, cost_price = excluded.cost_price
         WHERE {}",
        upsert_when(
            "products",
            repair::PRODUCT_COLUMNS,
            Some(EntityType::Product),
            true,
            over
        )
    )
}

/// A product's quantity from `?6` (Ecwid's), with `open_stock` plus the stock changes still
/// on their way (`?1` is the product).
pub(super) fn product_quantity(open_stock: bool) -> &'static str {
    match open_stock {
        true => {
            "?6 + (SELECT coalesce(sum(delta), 0) FROM outbox
                   WHERE product_id = ?1 AND variation_id IS NULL
                     AND state IN ('pending', 'sending'))"
        }
        false => "?6",
    }
}

/// The product upserts by whether stock changes are open, then by [`Over`].
static UPSERT_PRODUCT: LazyLock<[[String; 2]; 2]> = LazyLock::new(|| {
    [false, true].map(|open_stock| {
        [Over::Older, Over::Disagreeing]
            .map(|over| upsert_product_sql(product_quantity(open_stock), over))
    })
});

/// `open_stock`: whether any stock change waits to reach Ecwid ([`outbox::has_open`]); only
/// then can one be added to Ecwid's quantity, and the lookup for it be worth its cost.
pub(super) fn upsert_product(
    tx: &Transaction,
    p: &ProductRow,
    synced_at: i64,
    open_stock: bool,
    over: Over,
) -> rusqlite::Result<bool> {
    let sql = &UPSERT_PRODUCT[usize::from(open_stock)][over as usize];
    let changed = tx.prepare_cached(sql)?.execute(params![
        p.id,
        p.sku,
        p.name,
        p.price,
        p.compare_to_price,
        p.quantity,
        p.unlimited,
        p.in_stock,
        p.enabled,
        p.weight,
        p.default_category_id,
        p.created_at,
        p.updated_at,
        p.raw_json,
        synced_at
    ])?;
    Ok(changed > 0)
}

/// A variation's values as a row of `VALUES`, in the order (id, product_id, sku, quantity,
/// unlimited, price, options_json, raw_json, synced_at, compare_to_price, weight), the last
/// two from its document: with `open_stock`, its quantity is
/// Ecwid's plus the stock changes still on their way.
pub(super) fn variation_values(open_stock: bool) -> &'static str {
    match open_stock {
        true => {
            "(?1, ?2, ?3, ?4 + (SELECT coalesce(sum(delta), 0) FROM outbox
                                WHERE product_id = ?2 AND variation_id = ?1
                                  AND state IN ('pending', 'sending')),
              ?5, ?6, ?7, ?8, ?9,
              json_extract(?8, '$.compareToPrice'), json_extract(?8, '$.weight'))"
        }
        false => {
            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
              json_extract(?8, '$.compareToPrice'), json_extract(?8, '$.weight'))"
        }
    }
}

/// The parameters of [`variation_values`].
pub(super) fn bind_variation<'a>(
    product_id: &'a i64,
    v: &'a VariationRow,
    synced_at: &'a i64,
) -> [&'a dyn rusqlite::ToSql; 9] {
    [
        &v.id,
        product_id,
        &v.sku,
        &v.quantity,
        &v.unlimited,
        &v.price,
        &v.options_json,
        &v.raw_json,
        synced_at,
    ]
}

/// Replaces the variations and category links of the products whose rows were just written.
/// Children are replaced whole: Ecwid sends a product with all its variations and
/// categories, and there is no other feed that says which ones went away. A product listed
/// twice keeps the children of its last document, as if each were written in turn.
pub(super) fn replace_product_children(
    tx: &Transaction,
    written: &[&ProductRow],
    synced_at: i64,
    open_stock: bool,
) -> rusqlite::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut products: Vec<&ProductRow> = written
        .iter()
        .rev()
        .filter(|p| seen.insert(p.id))
        .copied()
        .collect();
    products.reverse();
    let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
    multi_row::execute_in(
        tx,
        "DELETE FROM product_variations WHERE product_id IN (",
        &ids,
    )?;
    let variations: Vec<(i64, &VariationRow)> = products
        .iter()
        .flat_map(|p| p.variations.iter().map(|v| (p.id, v)))
        .collect();
    multi_row::execute(
        tx,
        "INSERT OR REPLACE INTO product_variations
             (id, product_id, sku, quantity, unlimited, price, options_json, raw_json, synced_at,
              compare_to_price, weight)
         VALUES ",
        variation_values(open_stock),
        &variations,
        |(product_id, v)| bind_variation(product_id, v, &synced_at),
    )?;
    multi_row::execute_in(
        tx,
        "DELETE FROM product_categories WHERE product_id IN (",
        &ids,
    )?;
    let links: Vec<(i64, i64)> = products
        .iter()
        .flat_map(|p| p.category_ids.iter().map(|c| (p.id, *c)))
        .collect();
    multi_row::execute(
        tx,
        "INSERT OR IGNORE INTO product_categories (product_id, category_id) VALUES ",
        "(?1, ?2)",
        &links,
        |(product_id, category_id)| [product_id, category_id],
    )?;
    Ok(())
}

/// The category upserts by [`Over`]. Categories carry no update time, so the newest fetch
/// wins whenever it differs.
static UPSERT_CATEGORY: LazyLock<[String; 2]> = LazyLock::new(|| {
    [Over::Older, Over::Disagreeing].map(|over| {
        format!(
            "INSERT INTO categories (id, parent_id, name, enabled, order_by, raw_json, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET
                 parent_id = excluded.parent_id, name = excluded.name,
                 enabled = excluded.enabled, order_by = excluded.order_by,
                 raw_json = excluded.raw_json, synced_at = excluded.synced_at
             WHERE {}",
            upsert_when(
                "categories",
                repair::CATEGORY_COLUMNS,
                Some(EntityType::Category),
                false,
                over
            )
        )
    })
});

pub(super) fn upsert_category(
    tx: &Transaction,
    c: &CategoryRow,
    synced_at: i64,
    over: Over,
) -> rusqlite::Result<bool> {
    let changed = tx
        .prepare_cached(&UPSERT_CATEGORY[over as usize])?
        .execute(params![
            c.id,
            c.parent_id,
            c.name,
            c.enabled,
            c.order_by,
            c.raw_json,
            synced_at
        ])?;
    Ok(changed > 0)
}

/// The order upserts by [`Over`]; an order's items are written apart
/// ([`replace_order_items`]).
static UPSERT_ORDER: LazyLock<[String; 2]> = LazyLock::new(|| {
    [Over::Older, Over::Disagreeing].map(|over| {
        format!(
            "INSERT INTO orders (order_number, id, email, customer_id, payment_status,
                 fulfillment_status, total, subtotal, tax, tracking_number, created_at,
                 updated_at, hidden, raw_json, synced_at, private_admin_note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                     json_extract(?14, '$.privateAdminNotes'))
             ON CONFLICT (order_number) DO UPDATE SET
                 id = excluded.id, email = excluded.email, customer_id = excluded.customer_id,
                 payment_status = excluded.payment_status,
                 fulfillment_status = excluded.fulfillment_status, total = excluded.total,
                 subtotal = excluded.subtotal, tax = excluded.tax,
                 tracking_number = excluded.tracking_number, created_at = excluded.created_at,
                 updated_at = excluded.updated_at, hidden = excluded.hidden,
                 raw_json = excluded.raw_json, synced_at = excluded.synced_at,
                 private_admin_note = excluded.private_admin_note
             WHERE {}",
            upsert_when(
                "orders",
                repair::ORDER_COLUMNS,
                Some(EntityType::Order),
                true,
                over
            )
        )
    })
});

pub(super) fn upsert_order(
    tx: &Transaction,
    o: &OrderRow,
    synced_at: i64,
    over: Over,
) -> rusqlite::Result<bool> {
    let changed = tx
        .prepare_cached(&UPSERT_ORDER[over as usize])?
        .execute(params![
            o.order_number,
            o.id,
            o.email,
            o.customer_id,
            o.payment_status,
            o.fulfillment_status,
            o.total,
            o.subtotal,
            o.tax,
            o.tracking_number,
            o.created_at,
            o.updated_at,
            o.hidden,
            o.raw_json,
            synced_at
        ])?;
    Ok(changed > 0)
}

/// An order line as a row of `VALUES`, in the order (order_number, line, item_id,
/// product_id, sku, name, quantity, price, options_json, combination_id).
pub(super) const ORDER_ITEM_VALUES: &str = "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The parameters of [`ORDER_ITEM_VALUES`] for line `line` of order `order_number`.
pub(super) fn bind_order_item<'a>(
    order_number: &'a i64,
    line: &'a i64,
    i: &'a OrderItemRow,
) -> [&'a dyn rusqlite::ToSql; 10] {
    [
        order_number,
        line,
        &i.item_id,
        &i.product_id,
        &i.sku,
        &i.name,
        &i.quantity,
        &i.price,
        &i.options_json,
        &i.combination_id,
    ]
}

/// Replaces the items of `orders` whole, from their documents (the API, too, replaces an
/// order's items whole).
pub(super) fn replace_order_items(tx: &Transaction, orders: &[&OrderRow]) -> rusqlite::Result<()> {
    let mut delete = tx.prepare_cached("DELETE FROM order_items WHERE order_number = ?1")?;
    let mut insert_item = tx.prepare_cached(&format!(
        "INSERT INTO order_items (order_number, line, item_id, product_id, sku, name, quantity,
             price, options_json, combination_id)
         VALUES {ORDER_ITEM_VALUES}"
    ))?;
    for o in orders {
        delete.execute([o.order_number])?;
        for (line, i) in o.items.iter().enumerate() {
            let line = line as i64;
            let values = bind_order_item(&o.order_number, &line, i);
            insert_item.execute(&values[..])?;
        }
    }
    Ok(())
}

/// An order that became an unfinished checkout again leaves the mirror, its items with it;
/// as with any document, only when it is not older than the mirror's copy. Returns 1 when
/// it was there.
fn remove_unfinished_order(tx: &Transaction, o: &OrderRow) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM orders
          WHERE order_number = ?1
            AND (?2 IS NULL OR updated_at IS NULL OR updated_at <= ?2)",
    )?
    .execute(params![o.order_number, o.updated_at])
}

/// The customer upserts by [`Over`].
static UPSERT_CUSTOMER: LazyLock<[String; 2]> = LazyLock::new(|| {
    [Over::Older, Over::Disagreeing].map(|over| {
        format!(
            "INSERT INTO customers (id, email, name, updated_at, raw_json, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET
                 email = excluded.email, name = excluded.name, updated_at = excluded.updated_at,
                 raw_json = excluded.raw_json, synced_at = excluded.synced_at
             WHERE {}",
            upsert_when("customers", repair::CUSTOMER_COLUMNS, None, true, over)
        )
    })
});

pub(super) fn upsert_customer(
    tx: &Transaction,
    c: &CustomerRow,
    synced_at: i64,
    over: Over,
) -> rusqlite::Result<bool> {
    let changed = tx
        .prepare_cached(&UPSERT_CUSTOMER[over as usize])?
        .execute(params![
            c.id,
            c.email,
            c.name,
            c.updated_at,
            c.raw_json,
            synced_at
        ])?;
    Ok(changed > 0)
}

/// Removes entities by key; child rows go with them (ON DELETE CASCADE).
pub fn delete_ids(tx: &Transaction, kind: Kind, ids: &[i64]) -> Result<usize, MirrorError> {
    capture::uncaptured(tx, || delete_remote_ids(tx, kind, ids))
}

fn delete_remote_ids(tx: &Transaction, kind: Kind, ids: &[i64]) -> Result<usize, MirrorError> {
    let sql = format!(
        "DELETE FROM {} WHERE {} = ?1",
        kind.table(),
        kind.key_column()
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut removed = 0;
    for id in ids {
        removed += stmt.execute([id])?;
    }
    if kind == Kind::Categories {
        // Ecwid drops a deleted category from its products' categoryIds; so does the mirror.
        let mut unlink =
            tx.prepare_cached("DELETE FROM product_categories WHERE category_id = ?1")?;
        for id in ids {
            unlink.execute([id])?;
        }
    }
    Ok(removed)
}

pub fn keys(conn: &Connection, kind: Kind) -> rusqlite::Result<Vec<i64>> {
    let sql = format!("SELECT {} FROM {}", kind.key_column(), kind.table());
    let mut stmt = conn.prepare(&sql)?;
    let keys = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(keys)
}
