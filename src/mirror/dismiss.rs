//! Ending failed changes on the operator's word (`ecwid-sync outbox dismiss`). Ecwid refused
//! them for good (a product deleted in Ecwid, a value it does not accept), so sending them
//! again cannot help: a dismissed change is never sent, the mirror shows Ecwid's value
//! again, and the outbox row keeps who ended it, when and why.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::capture;
use super::fields::{self, Entity, EntityType};
use super::outbox::rederive_quantity;
use super::subject::Subject;
use super::{MirrorError, unix_now};

/// The longest reason kept: enough for a sentence and a ticket link, not for a pasted file.
pub const MAX_REASON_CHARS: usize = 500;

/// Which failed changes to dismiss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    /// One change, by its outbox id.
    Change { id: i64 },
    /// Every failed change of a product and its variations, or of one variation.
    Product {
        product_id: i64,
        variation_id: Option<i64>,
    },
    /// Every failed change of an order, named by its public id or its number.
    Order { order: String },
    /// Every failed change of a category.
    Category { category_id: i64 },
    /// Every failed change.
    AllFailed,
}

/// A change that was dismissed.
#[derive(Clone, Debug, Serialize)]
pub struct Dismissed {
    pub id: i64,
    #[serde(flatten)]
    pub subject: Subject,
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DismissError {
    #[error(
        "--reason must say why the change is dismissed (it is kept in the outbox row); it is empty"
    )]
    NoReason,
    #[error("--reason is {0} characters long; keep it under {MAX_REASON_CHARS}")]
    ReasonTooLong(usize),
    #[error(
        "there is no change {0} in the outbox; `ecwid-sync outbox list --state failed` shows the failed ones"
    )]
    NoSuchChange(i64),
    #[error("change {id} is {state}; only failed changes are dismissed: {advice}")]
    NotFailed {
        id: i64,
        state: String,
        advice: &'static str,
    },
    #[error(
        "{0} has no failed changes; `ecwid-sync outbox list --state failed` shows the failed ones"
    )]
    NoneFailed(String),
    #[error(
        "there is no order {0} in the mirror, by public id or by number; `ecwid-sync outbox list --state failed` names the orders of failed changes"
    )]
    NoSuchOrder(String),
    #[error(
        "the mirror has no place yet to record a dismissal: start the daemon of this version (or run `ecwid-sync sync`) once to migrate it"
    )]
    NotMigrated,
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

impl From<rusqlite::Error> for DismissError {
    fn from(e: rusqlite::Error) -> Self {
        DismissError::Mirror(e.into())
    }
}

/// What the operator can do instead with a change in `state`.
fn advice(state: &str) -> &'static str {
    match state {
        "uncertain" => {
            "check the store, then settle it with `ecwid-sync outbox resolve ID --applied` (the store shows it) or `--resend` (it does not)"
        }
        "pending" | "sending" => {
            "it is on its way to Ecwid; `ecwid-sync outbox list` shows what becomes of it"
        }
        "conflict" => {
            "it waits in a conflict; settle that with `ecwid-sync conflicts resolve ID --take local|remote`"
        }
        _ => "it is settled already; there is nothing to dismiss",
    }
}

/// Dismisses the failed changes `target` names, recording `operator` and `reason`, and
/// shows Ecwid's value again in the mirror for each field they changed, all in one
/// transaction. Safe beside the daemon, which never sends a change that is not open.
pub fn dismiss(
    conn: &mut Connection,
    target: &Target,
    reason: &str,
    operator: &str,
) -> Result<Vec<Dismissed>, DismissError> {
    let reason = checked_reason(reason)?;
    let tx = conn.transaction()?;
    let dismissed = dismiss_in(&tx, target, reason, operator)?;
    tx.commit()?;
    Ok(dismissed)
}

/// `reason` trimmed, or why it cannot be kept.
pub fn checked_reason(reason: &str) -> Result<&str, DismissError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(DismissError::NoReason);
    }
    let length = reason.chars().count();
    if length > MAX_REASON_CHARS {
        return Err(DismissError::ReasonTooLong(length));
    }
    Ok(reason)
}

/// [`dismiss`] inside the caller's transaction, which commits it (with the record of who
/// did it, `actions`) or rolls it back; `reason` is one [`checked_reason`] let through.
pub(super) fn dismiss_in(
    tx: &Transaction,
    target: &Target,
    reason: &str,
    operator: &str,
) -> Result<Vec<Dismissed>, DismissError> {
    if !recorded(tx)? {
        return Err(DismissError::NotMigrated);
    }
    let (filter, keys, shown): (&str, Vec<i64>, String) = match target {
        Target::Change { id } => {
            let state: Option<String> = tx
                .query_row("SELECT state FROM outbox WHERE id = ?1", [id], |r| r.get(0))
                .optional()?;
            match state {
                None => return Err(DismissError::NoSuchChange(*id)),
                Some(state) if state != "failed" => {
                    return Err(DismissError::NotFailed {
                        id: *id,
                        advice: advice(&state),
                        state,
                    });
                }
                Some(_) => ("o.id = ?1", vec![*id], format!("change {id}")),
            }
        }
        Target::Product {
            product_id,
            variation_id: None,
        } => (
            "o.product_id = ?1",
            vec![*product_id],
            format!("product {product_id}"),
        ),
        Target::Product {
            product_id,
            variation_id: Some(v),
        } => (
            "o.product_id = ?1 AND o.variation_id = ?2",
            vec![*product_id, *v],
            format!("variation {v} of product {product_id}"),
        ),
        Target::Order { order: name } => {
            let number = order_number(tx, name)?;
            ("o.order_number = ?1", vec![number], format!("order {name}"))
        }
        Target::Category { category_id } => (
            "o.category_id = ?1",
            vec![*category_id],
            format!("category {category_id}"),
        ),
        Target::AllFailed => ("1", Vec::new(), "the outbox".to_string()),
    };
    let mut stmt = tx.prepare(&format!(
        "SELECT o.id, {}, o.field FROM outbox o WHERE o.state = 'failed' AND {filter} ORDER BY o.id",
        Subject::columns("o")
    ))?;
    let after = 1 + Subject::WIDTH;
    let dismissed: Vec<Dismissed> = stmt
        .query_map(rusqlite::params_from_iter(&keys), |r| {
            Ok(Dismissed {
                id: r.get(0)?,
                subject: Subject::from_row(r, 1)?,
                field: r.get(after)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    if dismissed.is_empty() {
        // Nothing failed at all is no mistake of the operator's; a named entity without a
        // failed change likely is one (a wrong id).
        if *target == Target::AllFailed {
            return Ok(dismissed);
        }
        return Err(DismissError::NoneFailed(shown));
    }
    let now = unix_now();
    // Each field once: its value comes from Ecwid's document and the changes still open,
    // whichever dismissed change touched it.
    let touched: BTreeSet<(Entity, &str)> = dismissed
        .iter()
        .filter_map(|d| entity(&d.subject).map(|e| (e, d.field.as_str())))
        .collect();
    // Nothing here is a tool's change to Ecwid's values: the outbox is bookkeeping, and the
    // values shown again are Ecwid's.
    capture::uncaptured(tx, || {
        let mut stmt = tx.prepare(
            "UPDATE outbox SET state = 'dismissed', settled_at = ?2, dismissed_by = ?3,
                    dismiss_reason = ?4
              WHERE id = ?1 AND state = 'failed'",
        )?;
        for d in &dismissed {
            stmt.execute(params![d.id, now, operator, reason])?;
        }
        for (entity, column) in &touched {
            if *column == "quantity" {
                if let Some(product_id) = entity.product_id {
                    rederive_quantity(tx, product_id, entity.variation_id)?;
                }
            } else if let Some(field) = fields::find(entity.kind, column) {
                fields::restore(tx, entity, field)?;
            }
        }
        Ok(())
    })?;
    Ok(dismissed)
}

/// Whether the mirror has the columns of a dismissal (schema 007): read-only commands read
/// mirrors that no daemon of this version has migrated yet.
pub(super) fn recorded(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('outbox') WHERE name = 'dismissed_by')",
        [],
        |r| r.get(0),
    )
}

/// The number of the order the operator named by its public id or its number.
fn order_number(tx: &rusqlite::Transaction, name: &str) -> Result<i64, DismissError> {
    let by_id: Option<i64> = tx
        .query_row(
            "SELECT order_number FROM orders WHERE id = ?1",
            [name.trim()],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(number) = by_id {
        return Ok(number);
    }
    // An order deleted in Ecwid is gone from the mirror, but its changes keep its number.
    let number: Option<i64> = name.trim().parse().ok();
    match number {
        Some(n) => Ok(n),
        None => Err(DismissError::NoSuchOrder(name.to_string())),
    }
}

fn entity(subject: &Subject) -> Option<Entity> {
    Some(Entity {
        kind: EntityType::parse(&subject.entity)?,
        product_id: subject.product_id,
        variation_id: subject.variation_id,
        order_number: subject.order_number,
        category_id: subject.category_id,
    })
}
