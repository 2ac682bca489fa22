//! The pusher: local stock changes captured in the outbox go to Ecwid as quantity deltas,
//! exactly once.
//!
//! A pass coalesces the open changes per product or variation (a change and its undo cancel
//! out with no request), puts them into keyed batches (contract 17.4) and stores each
//! batch's key with its changes before sending it. A lost answer (timeout, dropped
//! connection, 5xx) leaves the changes `sending` with their key, and the next attempt sends
//! the same key again, which Ecwid runs at most once. Each batch ends with reads of its
//! products, so the mirror takes Ecwid's resulting quantities in the transaction that marks
//! the changes applied.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::ecwid::batch::{BatchOptions, MAX_BATCH_REQUESTS};
use crate::ecwid::model::{BatchRequest, BatchStatus, Page};
use crate::ecwid::{ApiError, Client};
use crate::mirror::apply::Rows;
use crate::mirror::outbox::{self, OpenChange, Outcome, Settled};
use crate::mirror::{MirrorError, MirrorWriter, unix_now};
use crate::sync::Kind;

/// Products read back per request inside a batch (an id list of one page).
const READS_PER_REQUEST: usize = 100;

/// Entities per batch: with the reads of their products, within Ecwid's 500 requests.
pub const ENTITIES_PER_BATCH: usize =
    MAX_BATCH_REQUESTS - MAX_BATCH_REQUESTS.div_ceil(READS_PER_REQUEST);

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("sending stock changes to Ecwid: {0}")]
    Api(#[from] ApiError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

/// One product's or variation's open changes, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub product_id: i64,
    pub variation_id: Option<i64>,
    pub delta: i64,
    /// The outbox rows it sums.
    pub ids: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedBatch {
    pub key: String,
    pub changes: Vec<Change>,
    /// Already keyed and (perhaps) sent by an earlier attempt.
    pub resent: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Rows whose entity's changes sum to zero.
    pub cancelled: Vec<i64>,
    pub batches: Vec<PlannedBatch>,
}

/// Decides what a pass sends: batches already keyed go again under their keys, unchanged;
/// pending changes are summed per entity and put into new batches of at most `per_batch`
/// entities, keyed by [`batch_key`].
pub fn plan(open: &[OpenChange], mirror_uid: &str, per_batch: usize) -> Plan {
    let mut keyed: BTreeMap<&str, Vec<&OpenChange>> = BTreeMap::new();
    let mut pending = Vec::new();
    for c in open {
        match &c.batch_key {
            Some(key) => keyed.entry(key.as_str()).or_default().push(c),
            None => pending.push(c),
        }
    }
    let mut plan = Plan::default();
    for (key, rows) in keyed {
        plan.batches.push(PlannedBatch {
            key: key.to_string(),
            changes: coalesce(&rows),
            resent: true,
        });
    }
    let (zero, changes): (Vec<Change>, Vec<Change>) =
        coalesce(&pending).into_iter().partition(|c| c.delta == 0);
    plan.cancelled = zero.into_iter().flat_map(|c| c.ids).collect();
    plan.cancelled.sort_unstable();
    for chunk in changes.chunks(per_batch.max(1)) {
        let ids: Vec<i64> = chunk.iter().flat_map(|c| c.ids.iter().copied()).collect();
        let round = pending
            .iter()
            .filter(|c| ids.contains(&c.id))
            .map(|c| c.attempts)
            .max()
            .unwrap_or(0)
            + 1;
        plan.batches.push(PlannedBatch {
            key: batch_key(mirror_uid, round, &ids),
            changes: chunk.to_vec(),
            resent: false,
        });
    }
    plan
}

/// Sums rows per entity, in the order each entity first appears.
fn coalesce(rows: &[&OpenChange]) -> Vec<Change> {
    let mut order: Vec<(i64, Option<i64>)> = Vec::new();
    let mut sums: BTreeMap<(i64, Option<i64>), Change> = BTreeMap::new();
    for r in rows {
        let entity = (r.product_id, r.variation_id);
        let change = sums.entry(entity).or_insert_with(|| {
            order.push(entity);
            Change {
                product_id: r.product_id,
                variation_id: r.variation_id,
                delta: 0,
                ids: Vec::new(),
            }
        });
        change.delta += r.delta;
        change.ids.push(r.id);
    }
    order.into_iter().filter_map(|e| sums.remove(&e)).collect()
}

/// A UUID-shaped key derived from the mirror's name, the rows a batch carries and how many
/// times they were put in a batch: the same batch always gets the same key, and rows sent
/// again in a new batch (after Ecwid did not run them) get a new one.
pub fn batch_key(mirror_uid: &str, round: i64, ids: &[i64]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("ecwid-sync outbox {mirror_uid} {round}:").as_bytes());
    for id in ids {
        hash.update(format!("{id},").as_bytes());
    }
    let d = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The requests of a batch: one inventory adjustment per entity, then reads of their
/// products, which run after the adjustments (a store's batch runs in order).
fn requests(batch: &PlannedBatch) -> Vec<BatchRequest> {
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
fn outcomes(batch: &PlannedBatch, status: &BatchStatus) -> Vec<Settled> {
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
            Settled {
                product_id: c.product_id,
                variation_id: c.variation_id,
                ids: c.ids.clone(),
                outcome,
            }
        })
        .collect()
}

/// The products the batch read back after its changes. A read that failed, or that Ecwid
/// answered with products not asked for, adds nothing: the next pull or webhook brings them.
fn read_back(batch: &PlannedBatch, status: &BatchStatus) -> Rows {
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

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Batches sent (new or again).
    pub batches: usize,
    /// Entities whose changes Ecwid applied.
    pub applied: usize,
    /// Entities whose changes Ecwid refused for good.
    pub failed: usize,
    /// Entities Ecwid did not run; their changes go in a later batch.
    pub not_run: usize,
    /// Outbox rows whose entity's changes summed to zero.
    pub cancelled: usize,
}

pub struct Pusher {
    client: Client,
    writer: MirrorWriter,
    options: BatchOptions,
}

impl Pusher {
    pub fn new(client: Client, writer: MirrorWriter) -> Pusher {
        Pusher {
            client,
            writer,
            options: BatchOptions::default(),
        }
    }

    /// One pass over the outbox. Stops at the first batch whose outcome stays unknown (its
    /// changes keep their key for the next pass).
    pub async fn push_once(&self) -> Result<PushSummary, PushError> {
        let plan = self
            .writer
            .call(|conn| {
                let tx = conn.transaction()?;
                let open = outbox::open_changes(&tx)?;
                let plan = plan(&open, &outbox::mirror_uid(&tx)?, ENTITIES_PER_BATCH);
                let now = unix_now();
                outbox::cancel_out(&tx, &plan.cancelled, now)?;
                for batch in &plan.batches {
                    let ids: Vec<i64> = batch.changes.iter().flat_map(|c| c.ids.clone()).collect();
                    outbox::mark_sending(&tx, &ids, &batch.key)?;
                }
                tx.commit()?;
                Ok(plan)
            })
            .await?;
        let mut summary = PushSummary {
            cancelled: plan.cancelled.len(),
            ..PushSummary::default()
        };
        for batch in plan.batches {
            summary.batches += 1;
            let status = match self
                .client
                .run_keyed_batch(&batch.key, &requests(&batch), &self.options)
                .await
            {
                Ok(status) => status,
                Err(err) => {
                    let (key, error) = (batch.key.clone(), err.to_string());
                    tracing::warn!(
                        key,
                        error,
                        "stock batch has no outcome yet; sent again with the same key"
                    );
                    self.writer
                        .call(move |conn| Ok(outbox::note_batch_error(conn, &key, &error)?))
                        .await?;
                    return Err(err.into());
                }
            };
            let settled = outcomes(&batch, &status);
            let read_back = read_back(&batch, &status);
            for s in &settled {
                match &s.outcome {
                    Outcome::Applied => summary.applied += 1,
                    Outcome::Failed(error) => {
                        summary.failed += 1;
                        tracing::warn!(
                            product = s.product_id,
                            variation = s.variation_id,
                            error,
                            "Ecwid refused a stock change"
                        );
                    }
                    Outcome::NotRun(_) => summary.not_run += 1,
                }
            }
            self.writer
                .call(move |conn| {
                    let tx = conn.transaction()?;
                    outbox::settle(&tx, &settled, &read_back, unix_now())?;
                    tx.commit()?;
                    Ok(())
                })
                .await?;
            tracing::info!(
                key = batch.key,
                changes = batch.changes.len(),
                resent = batch.resent,
                "stock batch settled"
            );
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, product_id: i64, variation_id: Option<i64>, delta: i64) -> OpenChange {
        OpenChange {
            id,
            product_id,
            variation_id,
            delta,
            attempts: 0,
            batch_key: None,
        }
    }

    #[test]
    fn changes_are_summed_per_entity_and_a_change_and_its_undo_cancel_out() {
        let open = [
            row(1, 7, None, -1),
            row(2, 7, Some(70), 4),
            row(3, 7, None, -1),
            row(4, 8, None, 5),
            row(5, 8, None, -5),
        ];
        let plan = plan(&open, "uid", 10);
        assert_eq!(plan.cancelled, vec![4, 5]);
        assert_eq!(plan.batches.len(), 1);
        let deltas: Vec<_> = plan.batches[0]
            .changes
            .iter()
            .map(|c| (c.product_id, c.variation_id, c.delta, c.ids.clone()))
            .collect();
        assert_eq!(
            deltas,
            vec![(7, None, -2, vec![1, 3]), (7, Some(70), 4, vec![2])]
        );
    }

    #[test]
    fn keyed_changes_go_again_under_their_key_and_new_ones_get_new_batches() {
        let mut sent = row(1, 7, None, 3);
        sent.batch_key = Some("k1".into());
        sent.attempts = 1;
        let open = [sent, row(2, 7, None, 2), row(3, 9, None, 1)];
        let plan = plan(&open, "uid", 1);
        assert_eq!(plan.batches.len(), 3);
        assert_eq!(plan.batches[0].key, "k1");
        assert!(plan.batches[0].resent);
        assert_eq!(plan.batches[0].changes[0].delta, 3);
        assert_eq!(plan.batches[1].changes[0].ids, vec![2]);
        assert_eq!(plan.batches[2].changes[0].ids, vec![3]);
        assert_ne!(plan.batches[1].key, plan.batches[2].key);
    }

    #[test]
    fn a_batch_key_is_a_uuid_that_changes_with_the_mirror_the_rows_and_the_round() {
        let key = batch_key("uid", 1, &[1, 2]);
        assert_eq!(key, batch_key("uid", 1, &[1, 2]));
        assert_eq!(key.len(), 36);
        assert_eq!(&key[14..15], "4");
        assert_ne!(key, batch_key("other", 1, &[1, 2]));
        assert_ne!(key, batch_key("uid", 2, &[1, 2]));
        assert_ne!(key, batch_key("uid", 1, &[1, 3]));
    }

    #[test]
    fn a_full_batch_with_its_reads_stays_within_ecwids_limit() {
        let open: Vec<_> = (0..ENTITIES_PER_BATCH as i64)
            .map(|i| row(i + 1, i + 1, None, 1))
            .collect();
        let plan = plan(&open, "uid", ENTITIES_PER_BATCH);
        assert_eq!(plan.batches.len(), 1);
        assert!(requests(&plan.batches[0]).len() <= MAX_BATCH_REQUESTS);
    }
}
