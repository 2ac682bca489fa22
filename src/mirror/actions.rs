//! What the operator decides, from the command line or the console: sending changes again,
//! recording them as applied, dismissing failed ones, taking a side in a conflict. One entry
//! point, [`perform`], settles each id with the functions of `outbox_review`, `dismiss` and
//! `conflicts`, and records who did what, how, why and with what outcome in
//! `operator_actions` in the same transaction, so that no settlement goes unrecorded.

use std::collections::BTreeMap;

use rusqlite::{Connection, Transaction, params};
use serde::Serialize;

use super::conflicts::{self, Take};
use super::dismiss::{self, DismissError, Dismissed, MAX_REASON_CHARS, Target};
use super::outbox_review::{self, Resolution};
use super::{MirrorError, unix_now};

/// How the operator reached the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Cli,
    Console,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Console => "console",
        }
    }
}

/// Who acts, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub name: String,
    pub via: Via,
}

impl Actor {
    /// The person running a command: see [`login_operator`].
    pub fn cli() -> Actor {
        Actor {
            name: login_operator(),
            via: Via::Cli,
        }
    }
}

/// Who runs the command: the user behind sudo, else the login user, else the process's uid
/// (a service account may have neither variable).
pub fn login_operator() -> String {
    use std::os::unix::fs::MetadataExt;
    ["SUDO_USER", "USER"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|user| user.trim().to_string())
        .find(|user| !user.is_empty())
        .or_else(|| {
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid {}", m.uid()))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// What the operator asks for; each id is settled on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send failed or uncertain changes (outbox ids) again, in a new batch.
    Resend { ids: Vec<i64> },
    /// Record uncertain changes (outbox ids) as applied: the store shows them.
    MarkApplied { ids: Vec<i64> },
    /// End the failed changes a target names (one change, a product's, an order's, all).
    Dismiss { target: Target },
    /// End failed changes, by outbox id.
    DismissChanges { ids: Vec<i64> },
    /// Settle open conflicts (conflict ids) with the mirror's value, which is sent to Ecwid.
    TakeLocal { ids: Vec<i64> },
    /// Settle open conflicts (conflict ids) with Ecwid's value; the local change is dropped.
    TakeRemote { ids: Vec<i64> },
}

impl Action {
    /// The name `operator_actions.action` holds.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Resend { .. } => "resend",
            Action::MarkApplied { .. } => "mark_applied",
            Action::Dismiss { .. } | Action::DismissChanges { .. } => "dismiss",
            Action::TakeLocal { .. } => "take_local",
            Action::TakeRemote { .. } => "take_remote",
        }
    }

    fn needs_reason(&self) -> bool {
        matches!(self, Action::Dismiss { .. } | Action::DismissChanges { .. })
    }
}

/// What became of one id (or of a dismissal's target).
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// What it was about, e.g. `change 12`, `conflict 3`, `failed changes of product 77`.
    pub target: String,
    /// What it did, in words, as `operator_actions.outcome` keeps it.
    pub outcome: String,
    /// Why nothing was done: the text the command line prints for the same refusal.
    pub error: Option<String>,
    /// The outbox changes it settled.
    pub changes: Vec<i64>,
    /// A dismissal: each change it ended.
    pub dismissed: Vec<Dismissed>,
    /// The row of `operator_actions` that records it; `None` for an id settled already
    /// by an earlier one of the same request (sent in one batch with it).
    pub recorded: Option<i64>,
}

impl Outcome {
    pub fn is_done(&self) -> bool {
        self.error.is_none()
    }
}

/// What [`perform`] did, id by id in the order asked.
#[derive(Clone, Debug, Serialize)]
pub struct Performed {
    pub action: &'static str,
    pub actor: Actor,
    pub reason: Option<String>,
    pub outcomes: Vec<Outcome>,
}

impl Performed {
    /// How many ids were refused.
    pub fn refused(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.is_done()).count()
    }
}

/// Why nothing at all was done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A dismissal's reason is missing or too long, or the mirror cannot record a dismissal.
    #[error(transparent)]
    Dismiss(DismissError),
    #[error("--reason is {0} characters long; keep it under {MAX_REASON_CHARS}")]
    ReasonTooLong(usize),
    #[error("nothing to do: name at least one id")]
    NoIds,
    #[error(
        "the mirror has no place yet to record what the operator does: start the daemon of this version (or run `ecwid-sync sync`) once to migrate it"
    )]
    NotMigrated,
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

impl From<rusqlite::Error> for ActionError {
    fn from(e: rusqlite::Error) -> Self {
        ActionError::Mirror(e.into())
    }
}

/// Settles what `action` names, each id in a transaction of its own with its record in
/// `operator_actions`: one id refused (settled already, say) is reported with its reason
/// and does not stop the others. A refusal is recorded too, so the record shows every
/// decision tried. Stops at the first failure of the mirror itself; what was settled before
/// it stays settled and recorded.
pub fn perform(
    conn: &mut Connection,
    action: &Action,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<Performed, ActionError> {
    let reason = checked_reason(action, reason)?;
    if !recorded(conn)? {
        return Err(ActionError::NotMigrated);
    }
    let items: Vec<Item> = match action {
        Action::Resend { ids } => ids
            .iter()
            .map(|&id| Item::Resolve(id, Resolution::Resend))
            .collect(),
        Action::MarkApplied { ids } => ids
            .iter()
            .map(|&id| Item::Resolve(id, Resolution::Applied))
            .collect(),
        Action::DismissChanges { ids } => ids
            .iter()
            .map(|&id| Item::Dismiss(Target::Change { id }))
            .collect(),
        Action::TakeLocal { ids } => ids.iter().map(|&id| Item::Take(id, Take::Local)).collect(),
        Action::TakeRemote { ids } => ids.iter().map(|&id| Item::Take(id, Take::Remote)).collect(),
        Action::Dismiss { target } => vec![Item::Dismiss(target.clone())],
    };
    if items.is_empty() {
        return Err(ActionError::NoIds);
    }
    let mut performed = Performed {
        action: action.name(),
        actor: actor.clone(),
        reason: reason.map(str::to_string),
        outcomes: Vec::with_capacity(items.len()),
    };
    // Changes settled by an earlier id of this request, and by which: a batch's changes are
    // settled together.
    let mut settled_with: BTreeMap<i64, i64> = BTreeMap::new();
    for item in items {
        let target = item.shown();
        if let Item::Resolve(id, _) = item
            && let Some(first) = settled_with.get(&id)
        {
            performed.outcomes.push(Outcome {
                target,
                outcome: format!("settled with change {first}, sent in the same batch"),
                error: None,
                changes: Vec::new(),
                dismissed: Vec::new(),
                recorded: None,
            });
            continue;
        }
        let tx = conn.transaction()?;
        let mut outcome = match settle(&tx, &item, reason.unwrap_or_default(), actor)? {
            Ok(done) => done.into_outcome(target),
            Err(error) => {
                // Nothing of a refused id is kept but its record.
                drop(tx);
                let tx = conn.transaction()?;
                let mut outcome = Outcome {
                    outcome: format!("refused: {error}"),
                    error: Some(error),
                    target,
                    changes: Vec::new(),
                    dismissed: Vec::new(),
                    recorded: None,
                };
                outcome.recorded = Some(record(&tx, action, actor, reason, &outcome)?);
                tx.commit()?;
                log(action, actor, reason, &outcome);
                performed.outcomes.push(outcome);
                continue;
            }
        };
        outcome.recorded = Some(record(&tx, action, actor, reason, &outcome)?);
        tx.commit()?;
        if let Item::Resolve(id, _) = item {
            for &change in &outcome.changes {
                settled_with.entry(change).or_insert(id);
            }
        }
        log(action, actor, reason, &outcome);
        performed.outcomes.push(outcome);
    }
    Ok(performed)
}

/// The reason trimmed, `None` when empty; required for a dismissal.
fn checked_reason<'a>(
    action: &Action,
    reason: Option<&'a str>,
) -> Result<Option<&'a str>, ActionError> {
    if action.needs_reason() {
        return dismiss::checked_reason(reason.unwrap_or_default())
            .map(Some)
            .map_err(ActionError::Dismiss);
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason {
        let length = r.chars().count();
        if length > MAX_REASON_CHARS {
            return Err(ActionError::ReasonTooLong(length));
        }
    }
    Ok(reason)
}

/// One thing to settle, in a transaction of its own.
enum Item {
    Resolve(i64, Resolution),
    Take(i64, Take),
    Dismiss(Target),
}

impl Item {
    fn shown(&self) -> String {
        match self {
            Item::Resolve(id, _) => format!("change {id}"),
            Item::Take(id, _) => format!("conflict {id}"),
            Item::Dismiss(target) => match target {
                Target::Change { id } => format!("change {id}"),
                Target::Product {
                    product_id,
                    variation_id: None,
                } => format!("failed changes of product {product_id}"),
                Target::Product {
                    product_id,
                    variation_id: Some(v),
                } => format!("failed changes of variation {v} of product {product_id}"),
                Target::Order { order } => format!("failed changes of order {order}"),
                Target::Category { category_id } => {
                    format!("failed changes of category {category_id}")
                }
                Target::AllFailed => "every failed change".to_string(),
            },
        }
    }
}

/// What settling one item did.
struct Done {
    changes: Vec<i64>,
    dismissed: Vec<Dismissed>,
    said: String,
}

impl Done {
    fn into_outcome(self, target: String) -> Outcome {
        Outcome {
            target,
            outcome: self.said,
            error: None,
            changes: self.changes,
            dismissed: self.dismissed,
            recorded: None,
        }
    }
}

/// Settles `item` in `tx`. The outer error is the mirror's; the inner one, the refusal of
/// this item in the words the command line uses.
fn settle(
    tx: &Transaction,
    item: &Item,
    reason: &str,
    actor: &Actor,
) -> Result<Result<Done, String>, ActionError> {
    fn changes_said(ids: &[i64], what: &str) -> String {
        let shown: Vec<String> = ids.iter().map(i64::to_string).collect();
        format!(
            "{} {}: {what}",
            if ids.len() == 1 { "change" } else { "changes" },
            shown.join(", ")
        )
    }
    match item {
        Item::Resolve(id, resolution) => match outbox_review::resolve_in(tx, *id, *resolution) {
            Ok(ids) => Ok(Ok(Done {
                said: changes_said(
                    &ids,
                    match resolution {
                        Resolution::Applied => "recorded as applied",
                        Resolution::Resend => "pending again",
                    },
                ),
                changes: ids,
                dismissed: Vec::new(),
            })),
            Err(outbox_review::ResolveError::Mirror(e)) => Err(ActionError::Mirror(e)),
            Err(refused) => Ok(Err(refused.to_string())),
        },
        Item::Take(id, take) => match conflicts::resolve_in(tx, *id, *take) {
            Ok(ids) => Ok(Ok(Done {
                said: match take {
                    Take::Local => "the mirror's value is sent to Ecwid".to_string(),
                    Take::Remote => "Ecwid's value is kept; the local change is dropped".into(),
                },
                changes: ids,
                dismissed: Vec::new(),
            })),
            Err(conflicts::ResolveError::Mirror(e)) => Err(ActionError::Mirror(e)),
            Err(refused) => Ok(Err(refused.to_string())),
        },
        Item::Dismiss(target) => match dismiss::dismiss_in(tx, target, reason, &actor.name) {
            Ok(dismissed) => {
                let ids: Vec<i64> = dismissed.iter().map(|d| d.id).collect();
                Ok(Ok(Done {
                    said: if ids.is_empty() {
                        "no failed changes: nothing dismissed".to_string()
                    } else {
                        changes_said(&ids, "dismissed")
                    },
                    changes: ids,
                    dismissed,
                }))
            }
            Err(DismissError::Mirror(e)) => Err(ActionError::Mirror(e)),
            Err(refused) => Ok(Err(refused.to_string())),
        },
    }
}

fn record(
    tx: &Transaction,
    action: &Action,
    actor: &Actor,
    reason: Option<&str>,
    outcome: &Outcome,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO operator_actions (at, operator, via, action, target, reason, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        unix_now(),
        actor.name,
        actor.via.name(),
        action.name(),
        outcome.target,
        reason,
        outcome.outcome
    ])?;
    Ok(tx.last_insert_rowid())
}

fn log(action: &Action, actor: &Actor, reason: Option<&str>, outcome: &Outcome) {
    tracing::info!(
        operator = %actor.name,
        via = actor.via.name(),
        action = action.name(),
        target = %outcome.target,
        reason = reason.unwrap_or(""),
        outcome = %outcome.outcome,
        "operator action"
    );
}

/// Whether the mirror has `operator_actions` (schema 013): commands run beside a daemon of
/// an earlier version, which has not migrated it.
fn recorded(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'operator_actions')",
        [],
        |r| r.get(0),
    )
}

/// One row of `operator_actions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub id: i64,
    pub at: i64,
    pub operator: String,
    pub via: String,
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    pub outcome: String,
}

/// The newest `limit` records, newest first; none on a mirror without the table yet.
pub fn recent(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Recorded>> {
    if !recorded(conn)? {
        return Ok(Vec::new());
    }
    conn.prepare_cached(
        "SELECT id, at, operator, via, action, target, reason, outcome
           FROM operator_actions ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([limit as i64], |r| {
        Ok(Recorded {
            id: r.get(0)?,
            at: r.get(1)?,
            operator: r.get(2)?,
            via: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            reason: r.get(6)?,
            outcome: r.get(7)?,
        })
    })?
    .collect()
}
