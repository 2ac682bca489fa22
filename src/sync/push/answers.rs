//! A stock batch's requests, and what its answers say.

use std::collections::HashSet;

use serde_json::json;

use super::plan::PlannedBatch;
use crate::ecwid::batch::MAX_BATCH_REQUESTS;
use crate::ecwid::model::{BatchRequest, BatchStatus, Page};
use crate::mirror::apply::Rows;
use crate::mirror::outbox::{Outcome, Settled};
use crate::sync::Kind;

/// Products read back per request inside a batch (an id list of one page).
pub const READS_PER_REQUEST: usize = 100;

/// Entities per batch: with the reads of their products, within Ecwid's 500 requests.
pub const ENTITIES_PER_BATCH: usize =
    MAX_BATCH_REQUESTS - MAX_BATCH_REQUESTS.div_ceil(READS_PER_REQUEST);

/// The requests of a batch: one inventory adjustment per entity, then reads of their
/// products, which run after the adjustments (a store's batch runs in order).
pub fn requests(batch: &PlannedBatch) -> Vec<BatchRequest> {
    let mut requests: Vec<BatchRequest> = batch
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| BatchRequest {
            id: format!("change-{i}"),
            path: match c.variation_id {
                None => format!("/products/{}/inventory", c.product_id),
                Some(v) => format!("/products/{}/combinations/{v}/inventory", c.product_id),
            },
            method: "PUT",
            body: Some(json!({ "quantityDelta": c.delta })),
        })
        .collect();
    let mut products: Vec<i64> = batch.changes.iter().map(|c| c.product_id).collect();
    products.sort_unstable();
    products.dedup();
    for (i, chunk) in products.chunks(READS_PER_REQUEST).enumerate() {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        requests.push(BatchRequest {
            id: format!("read-{i}"),
            path: format!(
                "/products?productId={}&limit={READS_PER_REQUEST}",
                list.join(",")
            ),
            method: "GET",
            body: None,
        });
    }
    requests
}

/// What Ecwid did with each change of a completed batch.
pub fn outcomes(batch: &PlannedBatch, status: &BatchStatus) -> Vec<Settled> {
    batch
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let outcome = match status.response(&format!("change-{i}")) {
                Some(r) if r.status == "COMPLETED" => Outcome::Applied,
                Some(r) => {
                    let code = r.http_status_code.unwrap_or(0);
                    let body = r
                        .escaped_http_body
                        .clone()
                        .or_else(|| r.http_body.as_ref().map(|b| b.get().to_string()))
                        .unwrap_or_default();
                    let message = serde_json::from_str::<crate::ecwid::model::ErrorBody>(&body)
                        .ok()
                        .and_then(|e| e.error_message)
                        .unwrap_or(body);
                    let error = format!("Ecwid answered {code} ({}): {message}", r.status);
                    if (400..500).contains(&code) && code != 429 {
                        Outcome::Failed(error)
                    } else {
                        Outcome::NotRun(error)
                    }
                }
                None => Outcome::NotRun("the batch has no answer for this change".into()),
            };
            super::settled(c, outcome)
        })
        .collect()
}

/// The products the batch read back after its changes. A read that failed, or that Ecwid
/// answered with products not asked for, adds nothing: the next pull or webhook brings them.
pub fn read_back(batch: &PlannedBatch, status: &BatchStatus) -> Rows {
    let asked: HashSet<i64> = batch.changes.iter().map(|c| c.product_id).collect();
    let mut rows = Rows::empty(Kind::Products);
    for r in status
        .responses
        .iter()
        .filter(|r| r.id.as_deref().is_some_and(|id| id.starts_with("read-")))
        .filter(|r| r.status == "COMPLETED")
    {
        let body = r
            .escaped_http_body
            .clone()
            .or_else(|| r.http_body.as_ref().map(|b| b.get().to_string()))
            .unwrap_or_default();
        let Ok(page) = serde_json::from_str::<Page>(&body) else {
            continue;
        };
        let (found, _unreadable) = Rows::parse(Kind::Products, &page.items);
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
            sent: None,
        };
        let requests = requests(&batch);
        assert_eq!(requests.len(), MAX_BATCH_REQUESTS);
        assert_eq!(requests.last().unwrap().method, "GET");
    }
}
