//! The field changes of a push pass: decided against Ecwid's values in the mirror (read
//! again just before), recorded, and settled from a batch's answers.

use std::collections::HashSet;

use rusqlite::{Transaction, params};

use super::fields::{self, Decision, Update};
use super::plan::PlannedBatch;
use crate::config::ConflictsConfig;
use crate::mirror::MirrorError;
use crate::mirror::conflicts::{self, NewConflict};
use crate::mirror::fields::{self as mirror_fields, Entity, EntityType, FieldRow};
use crate::mirror::outbox::Outcome;
use crate::mirror::subject::Subject;
use crate::sync::Kind;

/// The products, orders and categories whose field changes wait to be decided: read again
/// from Ecwid first, so that a decision never rests on an old copy.
pub fn entities_to_read(rows: &[FieldRow]) -> [(Kind, Vec<i64>); 3] {
    let (mut products, mut orders, mut categories) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows.iter().filter(|r| r.batch_key.is_none()) {
        match r.entity.kind {
            EntityType::Order => orders.extend(r.entity.order_number),
            EntityType::Category => categories.extend(r.entity.category_id),
            _ => products.extend(r.entity.product_id),
        }
    }
    for list in [&mut products, &mut orders, &mut categories] {
        list.sort_unstable();
        list.dedup();
    }
    [
        (Kind::Products, products),
        (Kind::Orders, orders),
        (Kind::Categories, categories),
    ]
}

/// What deciding the pending field changes came to.
#[derive(Default)]
pub struct Decided {
    /// Values to send.
    pub updates: Vec<Update>,
    /// Conflicts found, for the log: the policy settled some, others wait.
    pub conflicts: Vec<NewConflict>,
    /// Changes with nothing to send (Ecwid already had the value, or it was written back).
    pub settled: usize,
}

/// Decides every pending field change in `tx` by `policies` and records the outcome of those
/// not sent: applied (nothing to send), dropped (Ecwid's value kept), conflict (held), failed
/// (the entity is gone). The mirror's columns show Ecwid's value for all of them.
pub fn decide_pending(
    tx: &Transaction,
    rows: &[FieldRow],
    policies: &ConflictsConfig,
    now: i64,
) -> Result<Decided, MirrorError> {
    // A field with a change of ours still on its way waits for it: Ecwid may show that
    // value already, which is no conflict, and the later change is decided against it.
    let in_flight: HashSet<(Entity, &str)> = rows
        .iter()
        .filter(|r| r.batch_key.is_some())
        .map(|r| (r.entity, r.field.column))
        .collect();
    let pending: Vec<&FieldRow> = rows
        .iter()
        .filter(|r| r.batch_key.is_none() && !in_flight.contains(&(r.entity, r.field.column)))
        .collect();
    let mut decided = Decided::default();
    let mut to_send = Vec::new();
    for c in fields::coalesce(&pending) {
        let Some((remote, remote_at)) = mirror_fields::remote_value(tx, &c.entity, c.field)? else {
            let gone = format!("the {} is no longer in the mirror", c.entity.shown());
            mirror_fields::set_state(tx, &c.ids, "failed", Some(&gone), now)?;
            continue;
        };
        conflicts::supersede(tx, &c.entity, c.field, now)?;
        let policy = policies.policy(c.field.group);
        let decision = fields::decide(&c.base, &c.local, &remote, policy, c.local_at, remote_at);
        let subject = Subject::read(tx, &c.entity)?;
        let conflict = |resolution| NewConflict {
            entity: c.entity,
            subject: subject.clone(),
            field: c.field,
            base: c.base.clone(),
            local: c.local.clone(),
            remote: remote.clone(),
            local_at: c.local_at,
            remote_at,
            policy: policy.name(),
            resolution,
            outbox_ids: c.ids.clone(),
        };
        let conflicting = !fields::same(&remote, &c.base);
        let (state, note) = match decision {
            Decision::Push => {
                if conflicting {
                    let found = conflict(Some("local"));
                    conflicts::record(tx, &found, now)?;
                    decided.conflicts.push(found);
                }
                to_send.push(c);
                continue;
            }
            Decision::AlreadyThere => ("applied", "Ecwid already had this value"),
            Decision::Cancelled => (
                "applied",
                "written back to the value Ecwid had: nothing to send",
            ),
            Decision::KeepRemote => {
                let found = conflict(Some("remote"));
                conflicts::record(tx, &found, now)?;
                decided.conflicts.push(found);
                (
                    "dropped",
                    "conflict: Ecwid's value changed meanwhile and was kept",
                )
            }
            Decision::Hold => {
                let found = conflict(None);
                conflicts::record(tx, &found, now)?;
                decided.conflicts.push(found);
                (
                    "conflict",
                    "conflict: waits for `ecwid-sync conflicts resolve`",
                )
            }
        };
        decided.settled += 1;
        mirror_fields::set_state(tx, &c.ids, state, Some(note), now)?;
        mirror_fields::restore(tx, &c.entity, c.field)?;
    }
    decided.updates = fields::updates(to_send);
    Ok(decided)
}

/// Fills in the string id each order update's path takes.
pub fn name_orders(tx: &Transaction, batches: &mut [PlannedBatch]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("SELECT id FROM orders WHERE order_number = ?1")?;
    for u in batches
        .iter_mut()
        .flat_map(|b| b.updates.iter_mut())
        .filter(|u| u.entity.kind == EntityType::Order)
    {
        u.order_id = stmt
            .query_row([u.entity.key()], |r| r.get::<_, Option<String>>(0))
            .unwrap_or(None);
    }
    Ok(())
}

/// Records what Ecwid did with each field update of `batch`. A refused one shows Ecwid's
/// value again; one Ecwid did not run goes back to pending, to be decided again.
pub fn settle(
    tx: &Transaction,
    batch: &PlannedBatch,
    outcomes: &[Outcome],
    now: i64,
) -> Result<(), MirrorError> {
    for (update, outcome) in batch.updates.iter().zip(outcomes) {
        let (state, error) = match outcome {
            Outcome::Applied => ("applied", None),
            Outcome::Failed(e) => ("failed", Some(e.as_str())),
            Outcome::NotRun(e) | Outcome::Uncertain(e) => ("pending", Some(e.as_str())),
        };
        mirror_fields::set_state(tx, &update.ids, state, error, now)?;
        if state == "applied" {
            rebase_later_changes(tx, update)?;
        }
        if state == "failed" {
            for (field, _) in &update.fields {
                mirror_fields::restore(tx, &update.entity, field)?;
            }
        }
    }
    Ok(())
}

/// Field updates of a batch whose key Ecwid may have forgotten: setting a value twice does
/// no harm, so they go back to pending and are decided again against Ecwid's values then.
pub fn expire(tx: &Transaction, batch: &PlannedBatch, now: i64) -> rusqlite::Result<()> {
    for u in &batch.updates {
        mirror_fields::set_state(
            tx,
            &u.ids,
            "pending",
            Some(
                "Ecwid did not answer the batch within the hour it remembers its key: decided again",
            ),
            now,
        )?;
    }
    Ok(())
}

/// Changes of the same fields made after an applied update were made over its value, not
/// over the one Ecwid had before it: that value becomes their base, so Ecwid showing it is
/// no conflict.
fn rebase_later_changes(tx: &Transaction, update: &Update) -> rusqlite::Result<()> {
    let last = update.ids.iter().copied().max().unwrap_or_default();
    let sql = format!(
        "UPDATE outbox SET base = ?1
          WHERE state = 'pending' AND entity = ?2 AND {} = ?3 AND field = ?4 AND id > ?5",
        mirror_fields::outbox_key(update.entity.kind)
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    for (field, value) in &update.fields {
        stmt.execute(params![
            value,
            update.entity.kind.name(),
            update.entity.key(),
            field.column,
            last
        ])?;
    }
    Ok(())
}
