//! Products tools asked for in `new_products`, created in Ecwid exactly once.
//!
//! Creates travel in the same keyed batches as stock and field changes (contract 17.4): the
//! batch's key is stored with the requests before it is sent, so a lost answer or a crash
//! sends the same key again, which Ecwid runs at most once. Once Ecwid may have forgotten
//! the key, a request is not sent again blindly: the store is searched for its SKU (unique
//! per store), which tells whether the first send created it.

use rusqlite::Transaction;

use super::outcome::{body, outcome};
use crate::ecwid::batch::MAX_BATCH_REQUESTS;
use crate::ecwid::model::{BatchRequest, BatchStatus, Page};
use crate::ecwid::{ApiError, Client};
use crate::errors::error_chain;
use crate::mirror::apply::Rows;
use crate::mirror::new_products::{self, Created, NewProduct};
use crate::mirror::outbox::Outcome;
use crate::sync::{Kind, PullError, fetch};

/// Creates per batch. Each created product is read back after its batch, one id list per
/// 100, outside the batch (its id is not known before).
pub const CREATES_PER_BATCH: usize = 100;

const _: () = assert!(CREATES_PER_BATCH <= MAX_BATCH_REQUESTS);

/// One `POST /products` per request.
pub(super) fn requests(creates: &[NewProduct]) -> impl Iterator<Item = BatchRequest> + '_ {
    creates.iter().map(|r| BatchRequest {
        id: request_id(r),
        path: "/products".into(),
        method: "POST",
        body: Some(r.body()),
    })
}

fn request_id(r: &NewProduct) -> String {
    format!("create-{}", r.id)
}

/// What Ecwid did with each create of a completed batch.
pub(super) fn outcomes(creates: &[NewProduct], status: &BatchStatus) -> Vec<(i64, Created)> {
    creates
        .iter()
        .map(|r| {
            let name = request_id(r);
            let created = match outcome(status, &name) {
                Outcome::Applied => status
                    .response(&name)
                    .map(body)
                    .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                    .and_then(|b| b["id"].as_i64())
                    .map_or_else(
                        || Created::Failed("Ecwid answered the create without an id".into()),
                        Created::As,
                    ),
                Outcome::Failed(error) => Created::Failed(error),
                _ => Created::NotRun,
            };
            (r.id, created)
        })
        .collect()
}

/// Every create of a batch Ecwid refused as a whole.
pub(super) fn refused(creates: &[NewProduct], reason: &str) -> Vec<(i64, Created)> {
    creates
        .iter()
        .map(|r| (r.id, Created::Failed(reason.to_string())))
        .collect()
}

/// Creates of a batch whose key Ecwid may have forgotten: each request's SKU, searched in
/// the store, says whether it was created; one not found goes again under a new key.
pub(super) async fn expired(
    client: &Client,
    creates: &[NewProduct],
) -> Result<Vec<(i64, Created)>, PullError> {
    let mut settled = Vec::new();
    for r in creates {
        let body = client
            .get_bytes("/products", &[("sku", r.sku.clone())])
            .await?;
        let page: Page = serde_json::from_slice(&body).map_err(|e| ApiError::Request {
            detail: format!("the search for SKU {} answered no product page: {e}", r.sku),
        })?;
        let found = page.items.iter().find_map(|item| {
            let p: crate::ecwid::model::Product = serde_json::from_str(item.get()).ok()?;
            (p.sku.as_deref() == Some(r.sku.as_str())).then_some(p.id)
        });
        settled.push((r.id, found.map_or(Created::NotRun, Created::As)));
    }
    Ok(settled)
}

/// The created products as Ecwid has them, so they are in `products` at once, as if pulled;
/// `None` when nothing was created. A read that fails leaves them to the next pull.
pub(super) async fn read_created(client: &Client, settled: &[(i64, Created)]) -> Option<Rows> {
    let ids: Vec<i64> = settled
        .iter()
        .filter_map(|(_, c)| match c {
            Created::As(id) => Some(*id),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return None;
    }
    match fetch::by_keys(client, Kind::Products, &ids).await {
        Ok(found) => Some(found.rows),
        Err(err) => {
            tracing::warn!(
                error = %error_chain(&err),
                products = ids.len(),
                "cannot read back new products; the next pull brings them"
            );
            None
        }
    }
}

/// Writes back what Ecwid did with each request, and logs it.
pub(super) fn settle(
    tx: &Transaction,
    settled: &[(i64, Created)],
    now: i64,
) -> rusqlite::Result<()> {
    for (id, c) in settled {
        match c {
            Created::As(product_id) => {
                tracing::info!(request = id, product_id, "new product created in Ecwid")
            }
            Created::Failed(error) => {
                tracing::warn!(request = id, error, "Ecwid refused to create a new product")
            }
            Created::NotRun => {
                tracing::info!(request = id, "Ecwid did not run a create; it goes again")
            }
        }
        new_products::settle(tx, *id, c, now)?;
    }
    Ok(())
}
