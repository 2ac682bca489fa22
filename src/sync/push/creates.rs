//! Products tools asked for in `new_products`, created in Ecwid exactly once.
//!
//! Like stock, a create goes in a keyed batch (contract 17.4) whose key is stored with the
//! requests before the batch is sent: a lost answer or a crash sends the same key again,
//! which Ecwid runs at most once. Once Ecwid may have forgotten the key, the request is not
//! sent again blindly: the store is searched for its SKU (unique per store), which tells
//! whether the first send created it.

use super::{answers, keyed};
use crate::ecwid::batch::MAX_BATCH_REQUESTS;
use crate::ecwid::model::{BatchRequest, BatchStatus, Page};
use crate::ecwid::{ApiError, Client};
use crate::errors::error_chain;
use crate::mirror::apply::{self, Rows};
use crate::mirror::new_products::{self, Created, NewProduct};
use crate::mirror::outbox::Outcome;
use crate::mirror::unix_now;
use crate::sync::{Kind, PullError, fetch};

/// Creates per batch. Each created product is read back after its batch, one id list per
/// 100, outside the batch (its id is not known before).
pub const CREATES_PER_BATCH: usize = 100;

const _: () = assert!(CREATES_PER_BATCH <= MAX_BATCH_REQUESTS);

/// A batch of creates: made by this pass (`sent` false), or by an earlier one.
#[derive(Clone, Debug)]
pub struct CreateBatch {
    pub key: String,
    pub requests: Vec<NewProduct>,
    pub ticket: Option<String>,
    pub first_sent: i64,
}

/// The key of a batch of creates: derived from the mirror and the request ids (never
/// reused: `new_products` ids come from AUTOINCREMENT), in the UUID form Ecwid's SDK sends.
pub fn create_key(mirror_uid: &str, ids: &[i64]) -> String {
    super::plan::uuid_key(&format!("ecwid-sync new_products {mirror_uid}:"), ids)
}

/// Groups requests sent before by their key, and puts pending ones into new batches.
pub fn plan(
    sending: Vec<NewProduct>,
    pending: Vec<NewProduct>,
    uid: &str,
    now: i64,
) -> Vec<CreateBatch> {
    let mut batches: Vec<CreateBatch> = Vec::new();
    for r in sending {
        let key = r.batch_key.clone().unwrap_or_default();
        match batches.iter_mut().find(|b| b.key == key) {
            Some(b) => {
                b.ticket = b.ticket.take().or(r.ticket.clone());
                b.first_sent = b.first_sent.min(r.first_sent.unwrap_or(now));
                b.requests.push(r);
            }
            None => batches.push(CreateBatch {
                key,
                ticket: r.ticket.clone(),
                first_sent: r.first_sent.unwrap_or(now),
                requests: vec![r],
            }),
        }
    }
    for chunk in pending.chunks(CREATES_PER_BATCH) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
        batches.push(CreateBatch {
            key: create_key(uid, &ids),
            requests: chunk.to_vec(),
            ticket: None,
            first_sent: now,
        });
    }
    batches
}

fn requests(batch: &CreateBatch) -> Vec<BatchRequest> {
    batch
        .requests
        .iter()
        .map(|r| BatchRequest {
            id: format!("create-{}", r.id),
            path: "/products".into(),
            method: "POST",
            body: Some(r.body()),
        })
        .collect()
}

/// What Ecwid did with each create of a completed batch.
fn outcomes(batch: &CreateBatch, status: &BatchStatus) -> Vec<(i64, Created)> {
    batch
        .requests
        .iter()
        .map(|r| {
            let name = format!("create-{}", r.id);
            let created = match answers::outcome(status, &name) {
                Outcome::Applied => status
                    .response(&name)
                    .map(answers::body)
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

/// Counts of one pass of creates.
#[derive(Clone, Copy, Debug, Default)]
pub struct CreateSummary {
    pub batches: usize,
    pub created: usize,
    pub failed: usize,
}

/// Sends the pending creates and settles those sent before. Stops at the first batch whose
/// outcome stays unknown (its requests keep their key for the next pass).
pub async fn push_creates(
    client: &Client,
    writer: &crate::mirror::MirrorWriter,
    options: &crate::ecwid::batch::BatchOptions,
    key_lifetime: i64,
) -> Result<CreateSummary, PullError> {
    let batches = writer
        .call(|conn| {
            let tx = conn.transaction()?;
            let now = unix_now();
            let uid = crate::mirror::outbox::mirror_uid(&tx)?;
            let batches = plan(
                new_products::sending(&tx)?,
                new_products::pending(&tx)?,
                &uid,
                now,
            );
            for b in batches.iter().filter(|b| b.requests[0].batch_key.is_none()) {
                let ids: Vec<i64> = b.requests.iter().map(|r| r.id).collect();
                new_products::mark_sending(&tx, &ids, &b.key, now)?;
            }
            tx.commit()?;
            Ok(batches)
        })
        .await?;
    let usable = key_lifetime - (key_lifetime / 12).max(1);
    let mut summary = CreateSummary::default();
    for batch in &batches {
        summary.batches += 1;
        let settled = if unix_now() - batch.first_sent < usable {
            send(client, writer, options, batch).await?
        } else {
            expired(client, batch).await?
        };
        for (_, c) in &settled {
            match c {
                Created::As(_) => summary.created += 1,
                Created::Failed(_) => summary.failed += 1,
                Created::NotRun => {}
            }
        }
        settle(client, writer, settled).await?;
    }
    Ok(summary)
}

async fn send(
    client: &Client,
    writer: &crate::mirror::MirrorWriter,
    options: &crate::ecwid::batch::BatchOptions,
    batch: &CreateBatch,
) -> Result<Vec<(i64, Created)>, PullError> {
    let sent = keyed::send(
        client,
        writer,
        options,
        &NEW_PRODUCTS,
        &batch.key,
        batch.ticket.clone(),
        &requests(batch),
    )
    .await?;
    match sent {
        keyed::Sent::Answered(status) => Ok(outcomes(batch, &status)),
        keyed::Sent::Refused(reason) => Ok(batch
            .requests
            .iter()
            .map(|r| (r.id, Created::Failed(reason.clone())))
            .collect()),
        keyed::Sent::Unanswered(err) => Err(err.into()),
    }
}

/// Batches of new products keep their ticket and error in `new_products`.
const NEW_PRODUCTS: keyed::Ledger = keyed::Ledger {
    store_ticket: new_products::store_ticket,
    forget_ticket: new_products::forget_ticket,
    note_error: new_products::note_error,
    carries: "new products",
};

/// A batch whose key Ecwid may have forgotten: each request's SKU, searched in the store,
/// says whether it was created; one not found goes again under a new key.
async fn expired(client: &Client, batch: &CreateBatch) -> Result<Vec<(i64, Created)>, PullError> {
    let mut settled = Vec::new();
    for r in &batch.requests {
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

/// Writes the outcomes back, with the created products read from Ecwid so they are in
/// `products` at once, as if pulled. A read that fails leaves them to the next pull.
async fn settle(
    client: &Client,
    writer: &crate::mirror::MirrorWriter,
    settled: Vec<(i64, Created)>,
) -> Result<(), PullError> {
    let ids: Vec<i64> = settled
        .iter()
        .filter_map(|(_, c)| match c {
            Created::As(id) => Some(*id),
            _ => None,
        })
        .collect();
    let rows = match fetch::by_keys(client, Kind::Products, &ids).await {
        Ok(found) => found.rows,
        Err(err) => {
            tracing::warn!(
                error = %error_chain(&err),
                products = ids.len(),
                "cannot read back new products; the next pull brings them"
            );
            Rows::empty(Kind::Products)
        }
    };
    for (id, c) in &settled {
        match c {
            Created::As(product_id) => {
                tracing::info!(request = id, product_id, "new product created in Ecwid")
            }
            Created::Failed(error) => {
                tracing::warn!(request = id, error, "Ecwid refused to create a new product")
            }
            Created::NotRun => {}
        }
    }
    writer
        .call(move |conn| {
            let tx = conn.transaction()?;
            let now = unix_now();
            for (id, c) in &settled {
                new_products::settle(&tx, *id, c, now)?;
            }
            apply::apply_rows(&tx, &rows, now)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(())
}
