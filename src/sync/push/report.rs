//! The log lines of a settled batch: one per entity whose changes Ecwid applied or refused,
//! saying what kind of change it was (stock, or the fields it set) and naming the entity as
//! `outbox list` does. Changes Ecwid did not run say nothing here: they go in a later batch,
//! and the pass's summary counts them.

use crate::mirror::outbox::{Outcome, Settled};
use crate::mirror::subject::Subject;

use super::plan::PlannedBatch;

/// `settled` and `updates` are the outcomes of `batch.changes` and `batch.updates`, in order.
pub fn settled(batch: &PlannedBatch, settled: &[Settled], updates: &[Outcome]) {
    for (change, s) in batch.changes.iter().zip(settled) {
        let entity = Subject::stock(s.product_id, s.variation_id).to_string();
        match &s.outcome {
            Outcome::Applied => tracing::info!(
                change = "stock",
                entity,
                delta = change.delta,
                "local change applied in Ecwid"
            ),
            Outcome::Failed(error) => tracing::warn!(
                change = "stock",
                entity,
                delta = change.delta,
                error,
                "Ecwid refused a local change; it stays in the outbox as failed (`ecwid-sync outbox dismiss` ends it)"
            ),
            Outcome::NotRun(_) | Outcome::Uncertain(_) => {}
        }
    }
    for (update, outcome) in batch.updates.iter().zip(updates) {
        let entity = update
            .entity
            .subject(update.order_id.as_deref())
            .to_string();
        let fields: Vec<&str> = update.fields.iter().map(|(f, _)| f.column).collect();
        let change = fields.join(", ");
        match outcome {
            Outcome::Applied => {
                tracing::info!(change, entity, "local change applied in Ecwid")
            }
            Outcome::Failed(error) => tracing::warn!(
                change,
                entity,
                error,
                "Ecwid refused a local change; it stays in the outbox as failed (`ecwid-sync outbox dismiss` ends it)"
            ),
            Outcome::NotRun(_) | Outcome::Uncertain(_) => {}
        }
    }
}
