//! Products a tool deleted from the mirror with `[push] deletes = true`: deleted in Ecwid
//! exactly once, then from the mirror.
//!
//! The tool's DELETE became an outbox row with field `delete` (schema 015); the row of the
//! product stays until Ecwid confirms. Each deletion goes in a keyed batch whose key is
//! stored before sending, like stock. A deletion Ecwid answers 404 for is done: the product
//! is gone either way. Once Ecwid may have forgotten a key, a read of the product decides.

use rusqlite::{Connection, params};

use super::{keyed, outcome, plan};
use crate::ecwid::Client;
use crate::ecwid::batch::BatchOptions;
use crate::ecwid::model::{BatchRequest, BatchStatus};
use crate::mirror::apply::{self, Rows};
use crate::mirror::outbox::{self, DELETE_FIELD, Outcome, Settled};
use crate::mirror::{MirrorWriter, unix_now};
use crate::sync::{Kind, PullError, fetch};

/// Deletions per batch.
const PER_BATCH: usize = 100;

#[derive(Clone, Debug)]
struct Deletion {
    outbox_id: i64,
    product_id: i64,
    attempts: i64,
    batch_key: Option<String>,
    first_sent: Option<i64>,
    ticket: Option<String>,
}

#[derive(Clone, Debug)]
struct DeleteBatch {
    key: String,
    deletions: Vec<Deletion>,
    ticket: Option<String>,
    first_sent: i64,
    new: bool,
}

fn open_deletions(conn: &Connection) -> rusqlite::Result<Vec<Deletion>> {
    conn.prepare_cached(
        "SELECT o.id, o.product_id, o.attempts, o.batch_key, b.first_sent, b.ticket
           FROM outbox o LEFT JOIN push_batches b ON b.key = o.batch_key
          WHERE o.field = ?1 AND o.state IN ('pending', 'sending') ORDER BY o.id",
    )?
    .query_map([DELETE_FIELD], |r| {
        Ok(Deletion {
            outbox_id: r.get(0)?,
            product_id: r.get(1)?,
            attempts: r.get(2)?,
            batch_key: r.get(3)?,
            first_sent: r.get(4)?,
            ticket: r.get(5)?,
        })
    })?
    .collect()
}

fn batches(open: Vec<Deletion>, uid: &str, now: i64) -> Vec<DeleteBatch> {
    let mut out: Vec<DeleteBatch> = Vec::new();
    let (sent, pending): (Vec<_>, Vec<_>) = open.into_iter().partition(|d| d.batch_key.is_some());
    for d in sent {
        let key = d.batch_key.clone().unwrap_or_default();
        match out.iter_mut().find(|b| b.key == key) {
            Some(b) => b.deletions.push(d),
            None => out.push(DeleteBatch {
                key,
                ticket: d.ticket.clone(),
                first_sent: d.first_sent.unwrap_or(now),
                deletions: vec![d],
                new: false,
            }),
        }
    }
    for chunk in pending.chunks(PER_BATCH) {
        let ids: Vec<i64> = chunk.iter().map(|d| d.outbox_id).collect();
        // The attempt number keeps a deletion Ecwid did not run from meeting its old key.
        let round = chunk.iter().map(|d| d.attempts).max().unwrap_or(0);
        out.push(DeleteBatch {
            key: plan::batch_key(uid, round, &ids, &[]),
            deletions: chunk.to_vec(),
            ticket: None,
            first_sent: now,
            new: true,
        });
    }
    out
}

fn settled(d: &Deletion, outcome: Outcome) -> Settled {
    Settled {
        product_id: d.product_id,
        variation_id: None,
        ids: vec![d.outbox_id],
        outcome,
    }
}

/// Sends the open deletions (or, with `[push] deletes` off, fails those not yet sent) and
/// settles those sent before. Answers how many products were deleted.
pub async fn push_deletes(
    client: &Client,
    writer: &MirrorWriter,
    options: &BatchOptions,
    key_lifetime: i64,
    enabled: bool,
) -> Result<usize, PullError> {
    let planned = writer
        .call(move |conn| {
            let tx = conn.transaction()?;
            let now = unix_now();
            let open = open_deletions(&tx)?;
            if !enabled {
                // Asked for while deletes were on; the switch is off now, so nothing more
                // leaves. Those already on their way still settle.
                tx.execute(
                    "UPDATE outbox SET state = 'failed', settled_at = ?2,
                            last_error = '[push] deletes was switched off before this deletion was sent; the product stays'
                      WHERE field = ?1 AND state = 'pending'",
                    params![DELETE_FIELD, now],
                )?;
            }
            let open: Vec<Deletion> = open
                .into_iter()
                .filter(|d| enabled || d.batch_key.is_some())
                .collect();
            let planned = batches(open, &outbox::mirror_uid(&tx)?, now);
            for b in planned.iter().filter(|b| b.new) {
                let ids: Vec<i64> = b.deletions.iter().map(|d| d.outbox_id).collect();
                outbox::mark_sending(&tx, &ids, &b.key, now)?;
            }
            tx.commit()?;
            Ok(planned)
        })
        .await?;
    let usable = key_lifetime - (key_lifetime / 12).max(1);
    let mut deleted = 0;
    for batch in &planned {
        let outcomes = if unix_now() - batch.first_sent < usable {
            send(client, writer, options, batch).await?
        } else {
            expired(client, batch).await?
        };
        deleted += outcomes
            .iter()
            .filter(|s| s.outcome == Outcome::Applied)
            .count();
        settle(writer, outcomes).await?;
    }
    Ok(deleted)
}

fn requests(batch: &DeleteBatch) -> Vec<BatchRequest> {
    batch
        .deletions
        .iter()
        .map(|d| BatchRequest {
            id: format!("delete-{}", d.outbox_id),
            path: format!("/products/{}", d.product_id),
            method: "DELETE",
            body: None,
        })
        .collect()
}

fn outcomes(batch: &DeleteBatch, status: &BatchStatus) -> Vec<Settled> {
    batch
        .deletions
        .iter()
        .map(|d| {
            let name = format!("delete-{}", d.outbox_id);
            let gone = status
                .response(&name)
                .is_some_and(|r| r.http_status_code == Some(404));
            let outcome = if gone {
                Outcome::Applied
            } else {
                outcome::outcome(status, &name)
            };
            settled(d, outcome)
        })
        .collect()
}

async fn send(
    client: &Client,
    writer: &MirrorWriter,
    options: &BatchOptions,
    batch: &DeleteBatch,
) -> Result<Vec<Settled>, PullError> {
    let sent = keyed::send(
        client,
        writer,
        options,
        &DELETIONS,
        &batch.key,
        batch.ticket.clone(),
        &requests(batch),
    )
    .await?;
    match sent {
        keyed::Sent::Answered(status) => Ok(outcomes(batch, &status)),
        keyed::Sent::Refused(reason) => {
            let reason = Outcome::Failed(reason);
            Ok(batch
                .deletions
                .iter()
                .map(|d| settled(d, reason.clone()))
                .collect())
        }
        keyed::Sent::Unanswered(err) => Err(err.into()),
    }
}

/// Deletions ride in `push_batches` with their outbox rows, as local changes do.
const DELETIONS: keyed::Ledger = keyed::Ledger {
    store_ticket: outbox::store_ticket,
    forget_ticket: outbox::forget_ticket,
    note_error: outbox::note_batch_error,
    carries: "product deletions",
};

/// Ecwid may have forgotten the key: a product it no longer has was deleted; one it still
/// has goes again under a new key.
async fn expired(client: &Client, batch: &DeleteBatch) -> Result<Vec<Settled>, PullError> {
    let ids: Vec<i64> = batch.deletions.iter().map(|d| d.product_id).collect();
    let found = fetch::by_keys(client, Kind::Products, &ids).await?;
    let still = found.rows.keys();
    Ok(batch
        .deletions
        .iter()
        .map(|d| {
            let outcome = if still.contains(&d.product_id) {
                Outcome::NotRun("Ecwid forgot the batch and still has the product".into())
            } else {
                Outcome::Applied
            };
            settled(d, outcome)
        })
        .collect())
}

async fn settle(writer: &MirrorWriter, settled: Vec<Settled>) -> Result<(), PullError> {
    for s in &settled {
        match &s.outcome {
            Outcome::Applied => {
                tracing::info!(product_id = s.product_id, "product deleted in Ecwid")
            }
            Outcome::Failed(error) => tracing::warn!(
                product_id = s.product_id,
                error,
                "Ecwid refused to delete a product; it stays"
            ),
            _ => {}
        }
    }
    writer
        .call(move |conn| {
            let tx = conn.transaction()?;
            let now = unix_now();
            super::settle_stock(&tx, &settled, &Rows::empty(Kind::Products), now)?;
            let gone: Vec<i64> = settled
                .iter()
                .filter(|s| s.outcome == Outcome::Applied)
                .map(|s| s.product_id)
                .collect();
            apply::delete_ids(&tx, Kind::Products, &gone)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(())
}
