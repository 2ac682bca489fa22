//! A batch's requests (stock adjustments, field updates, then reads of what they changed),
//! and what its answers say.

use std::collections::HashSet;

use serde_json::json;

use super::outcome::{body, outcome};
use super::plan::PlannedBatch;
use crate::ecwid::batch::MAX_BATCH_REQUESTS;
use crate::ecwid::model::{BatchRequest, BatchStatus, Page};
use crate::mirror::apply::Rows;
use crate::mirror::fields::EntityType;
use crate::mirror::outbox::{Outcome, Settled};
use crate::sync::Kind;

/// Products read back per request inside a batch (an id list of one page).
pub const READS_PER_REQUEST: usize = 100;

/// Changes and updates per batch: with the reads of their products, orders and categories
/// within Ecwid's 500 requests (the reads of 490 entities of three kinds take at most 4 full
/// requests and one partly filled one per kind: 7 of the 10 kept for them).
pub const ENTITIES_PER_BATCH: usize =
    MAX_BATCH_REQUESTS - 2 * MAX_BATCH_REQUESTS.div_ceil(READS_PER_REQUEST);

/// The requests of a batch: one create per new product, one inventory adjustment per stock
/// change, one partial update per entity with field changes, then reads of their products, orders and categories, which
/// run after them (a store's batch runs in order).
pub fn requests(batch: &PlannedBatch) -> Vec<BatchRequest> {
    let mut requests: Vec<BatchRequest> = super::creates::requests(&batch.creates).collect();
    requests.extend(batch.changes.iter().enumerate().map(|(i, c)| BatchRequest {
        id: format!("change-{i}"),
        path: match c.variation_id {
            None => format!("/products/{}/inventory", c.product_id),
            Some(v) => format!("/products/{}/combinations/{v}/inventory", c.product_id),
        },
        method: "PUT",
        body: Some(json!({ "quantityDelta": c.delta })),
    }));
    for (i, u) in batch.updates.iter().enumerate() {
        let e = &u.entity;
        requests.push(BatchRequest {
            id: format!("update-{i}"),
            path: match e.kind {
                EntityType::Product => format!("/products/{}", e.key()),
                EntityType::Variation => format!(
                    "/products/{}/combinations/{}",
                    e.product_id.unwrap_or_default(),
                    e.key()
                ),
                // The string id, as the platform asks; the internal id if the mirror has none.
                EntityType::Order => format!(
                    "/orders/{}",
                    u.order_id.clone().unwrap_or_else(|| e.key().to_string())
                ),
                EntityType::Category => format!("/categories/{}", e.key()),
            },
            method: "PUT",
            body: Some(u.body()),
        });
    }
    for (i, chunk) in products_of(batch).chunks(READS_PER_REQUEST).enumerate() {
        requests.push(read("read-", i, "products?productId", chunk));
    }
    for (i, chunk) in orders_of(batch).chunks(READS_PER_REQUEST).enumerate() {
        requests.push(read("read-orders-", i, "orders?ids", chunk));
    }
    for (i, chunk) in keys_of(batch, EntityType::Category)
        .chunks(READS_PER_REQUEST)
        .enumerate()
    {
        // A hidden category is left out of a search unless asked for.
        let what = "categories?hidden_categories=true&categoryIds";
        requests.push(read("read-categories-", i, what, chunk));
    }
    requests
}

fn read(prefix: &str, i: usize, what: &str, ids: &[i64]) -> BatchRequest {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    BatchRequest {
        id: format!("{prefix}{i}"),
        path: format!("/{what}={}&limit={READS_PER_REQUEST}", list.join(",")),
        method: "GET",
        body: None,
    }
}

/// The products a batch changes: those of its stock changes and of its product and
/// variation updates.
fn products_of(batch: &PlannedBatch) -> Vec<i64> {
    let mut products: Vec<i64> = batch
        .changes
        .iter()
        .map(|c| c.product_id)
        .chain(
            batch
                .updates
                .iter()
                .filter(|u| u.entity.kind != EntityType::Order)
                .filter_map(|u| u.entity.product_id),
        )
        .collect();
    products.sort_unstable();
    products.dedup();
    products
}

fn orders_of(batch: &PlannedBatch) -> Vec<i64> {
    keys_of(batch, EntityType::Order)
}

/// The keys of the entities of `kind` (orders, categories) the batch updates.
fn keys_of(batch: &PlannedBatch, kind: EntityType) -> Vec<i64> {
    let mut keys: Vec<i64> = batch
        .updates
        .iter()
        .filter(|u| u.entity.kind == kind)
        .map(|u| u.entity.key())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// What Ecwid did with each field update of a completed batch.
pub fn update_outcomes(batch: &PlannedBatch, status: &BatchStatus) -> Vec<Outcome> {
    (0..batch.updates.len())
        .map(|i| outcome(status, &format!("update-{i}")))
        .collect()
}

/// What Ecwid did with each change of a completed batch.
pub fn outcomes(batch: &PlannedBatch, status: &BatchStatus) -> Vec<Settled> {
    batch
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| super::settled(c, outcome(status, &format!("change-{i}"))))
        .collect()
}

/// The products, and then the orders and categories, the batch read back after its changes.
/// A read that failed, or that Ecwid answered with entities not asked for, adds nothing: the
/// next pull or webhook brings them.
pub fn read_back(batch: &PlannedBatch, status: &BatchStatus) -> (Rows, Vec<Rows>) {
    let categories = keys_of(batch, EntityType::Category);
    (
        read_kind(status, "read-", Kind::Products, &products_of(batch)),
        vec![
            read_kind(status, "read-orders-", Kind::Orders, &orders_of(batch)),
            read_kind(status, "read-categories-", Kind::Categories, &categories),
        ],
    )
}

fn read_kind(status: &BatchStatus, prefix: &str, kind: Kind, asked: &[i64]) -> Rows {
    let asked: HashSet<i64> = asked.iter().copied().collect();
    let mut rows = Rows::empty(kind);
    for r in status
        .responses
        .iter()
        .filter(|r| {
            r.id.as_deref()
                .and_then(|id| id.strip_prefix(prefix))
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .filter(|r| r.status == "COMPLETED")
    {
        let text = body(r);
        let Ok(page) = serde_json::from_str::<Page>(&text) else {
            continue;
        };
        let (found, _unreadable) = Rows::parse(kind, &page.items);
        if found.keys().iter().all(|k| asked.contains(k)) {
            rows.append(found);
        }
    }
    rows
}

/// The products of applied changes that the batch's reads did not bring back.
pub fn not_read_back(settled: &[Settled], read_back: &Rows) -> Vec<i64> {
    let have: HashSet<i64> = read_back.keys().into_iter().collect();
    let mut missing: Vec<i64> = settled
        .iter()
        .filter(|s| s.outcome == Outcome::Applied && !have.contains(&s.product_id))
        .map(|s| s.product_id)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::push::plan::Change;

    #[test]
    fn a_full_batch_with_its_reads_stays_within_ecwids_limit() {
        let changes: Vec<Change> = (0..ENTITIES_PER_BATCH as i64)
            .map(|i| Change {
                product_id: i + 1,
                variation_id: None,
                delta: 1,
                ids: vec![i + 1],
                seen_updated: None,
                seen_quantity: None,
            })
            .collect();
        let batch = PlannedBatch {
            key: "k".into(),
            changes,
            updates: Vec::new(),
            creates: Vec::new(),
            sent: None,
        };
        let requests = requests(&batch);
        assert!(requests.len() <= MAX_BATCH_REQUESTS);
        assert_eq!(requests.last().unwrap().method, "GET");
    }

    #[test]
    fn a_full_batch_of_products_orders_and_categories_with_their_reads_stays_within_ecwids_limit() {
        use crate::mirror::fields::{Entity, find};
        use crate::sync::push::fields::Update;
        let kinds = [EntityType::Product, EntityType::Order, EntityType::Category];
        let updates: Vec<Update> = (0..ENTITIES_PER_BATCH as i64)
            .map(|i| {
                let kind = kinds[i as usize % 3];
                let key = Some(i + 1);
                Update {
                    entity: Entity {
                        kind,
                        product_id: key.filter(|_| kind == EntityType::Product),
                        variation_id: None,
                        order_number: key.filter(|_| kind == EntityType::Order),
                        category_id: key.filter(|_| kind == EntityType::Category),
                    },
                    fields: vec![(
                        find(kind, "name")
                            .or(find(kind, "tracking_number"))
                            .unwrap(),
                        "x".to_string().into(),
                    )],
                    ids: vec![i + 1],
                    attempts: 0,
                    order_id: None,
                }
            })
            .collect();
        let batch = PlannedBatch {
            key: "k".into(),
            changes: Vec::new(),
            updates,
            creates: Vec::new(),
            sent: None,
        };
        let requests = requests(&batch);
        assert!(requests.len() <= MAX_BATCH_REQUESTS, "{}", requests.len());
        let reads = |prefix: &str| requests.iter().filter(|r| r.id.starts_with(prefix)).count();
        assert_eq!(reads("read-categories-"), 2);
        assert_eq!(reads("read-orders-"), 2);
        assert!(
            requests
                .iter()
                .any(|r| r.path.starts_with("/categories/") && r.method == "PUT")
        );
    }
}
