//! `ecwid-sync outbox ...` and the outbox's lines in `push` and `status`.

use std::path::{Path, PathBuf};

use super::{CommandError, emit, fmt_time, load_store, shorten};
use crate::cli::OutboxAction;
use crate::mirror::actions::{self, Action, ActionError, Actor, Outcome, login_operator};
use crate::mirror::dismiss::{DismissError, Target};
use crate::mirror::outbox_review::{self, OutboxStatus};
use crate::mirror::{self, MirrorError};
use crate::sync::push::PushSummary;

pub fn execute(
    config: &Path,
    store: Option<&str>,
    action: OutboxAction,
) -> Result<(), CommandError> {
    match action {
        OutboxAction::List {
            state,
            json,
            mirror,
        } => {
            let conn = mirror::open_read_only(&mirror_path(config, store, mirror)?)?;
            let rows =
                outbox_review::list(&conn, state.map(|s| s.name())).map_err(MirrorError::from)?;
            if json {
                let text = serde_json::to_string_pretty(&rows).expect("rows serialize");
                emit(&format!("{text}\n"));
                return Ok(());
            }
            let mut out = String::new();
            outln!(
                out,
                "{:>8}  {:<9}  {:<34}  {:<24}  {:<19}  {:>8}  last error",
                "id",
                "state",
                "what",
                "change",
                "made",
                "attempts"
            );
            for r in &rows {
                let what = r.subject.to_string();
                let change = match r.delta {
                    _ if r.is_deletion() => "delete the product in Ecwid".to_string(),
                    Some(delta) => format!("quantity {delta:+} (was {})", r.base),
                    None => format!(
                        "{} = {} (was {})",
                        r.field,
                        shorten::value(&r.value),
                        shorten::value(&r.base)
                    ),
                };
                let note = match (&r.dismissed_by, &r.dismiss_reason) {
                    (Some(by), Some(why)) => {
                        format!("dismissed by {by}: {}", shorten::shorten(why))
                    }
                    _ => shorten::shorten(r.last_error.as_deref().unwrap_or("-")).into_owned(),
                };
                outln!(
                    out,
                    "{:>8}  {:<9}  {:<34}  {:<24}  {:<19}  {:>8}  {}",
                    r.id,
                    r.state,
                    what,
                    change,
                    fmt_time(Some(r.created_at)),
                    r.attempts,
                    note,
                );
            }
            if rows.is_empty() {
                outln!(out, "(no changes)");
            }
            emit(&out);
            Ok(())
        }
        OutboxAction::Resolve {
            id,
            applied,
            resend: _,
            reason,
            mirror,
        } => {
            let mut conn = mirror::open_existing(&mirror_path(config, store, mirror)?)?;
            let action = if applied {
                Action::MarkApplied { ids: vec![id] }
            } else {
                Action::Resend { ids: vec![id] }
            };
            let outcome = perform_one(&mut conn, &action, reason.as_deref())?;
            let ids: Vec<String> = outcome.changes.iter().map(i64::to_string).collect();
            emit(&format!(
                "{} {}: {}\n",
                if ids.len() == 1 { "change" } else { "changes" },
                ids.join(", "),
                if applied {
                    "recorded as applied"
                } else {
                    "pending again; the daemon (or `ecwid-sync push`) sends them in a new batch"
                }
            ));
            Ok(())
        }
        OutboxAction::Dismiss {
            id,
            product,
            variation,
            order,
            category,
            all_failed: _,
            reason,
            mirror,
        } => {
            let target = match (id, product, order, category) {
                (Some(id), ..) => Target::Change { id },
                (_, Some(product_id), ..) => Target::Product {
                    product_id,
                    variation_id: variation,
                },
                (_, _, Some(order), _) => Target::Order { order },
                (.., Some(category_id)) => Target::Category { category_id },
                // clap requires exactly one of ID, --product, --order, --category and
                // --all-failed.
                _ => Target::AllFailed,
            };
            let mut conn = mirror::open_existing(&mirror_path(config, store, mirror)?)?;
            let outcome = perform_one(&mut conn, &Action::Dismiss { target }, Some(&reason))?;
            let dismissed = &outcome.dismissed;
            if dismissed.is_empty() {
                emit("no failed changes: nothing dismissed\n");
                return Ok(());
            }
            let mut out = String::new();
            for d in dismissed {
                outln!(out, "change {}: {} {}: dismissed", d.id, d.subject, d.field);
            }
            outln!(
                out,
                "{} recorded as dismissed by {}; the mirror shows Ecwid's values again (`ecwid-sync outbox list --state dismissed` lists them)",
                if dismissed.len() == 1 {
                    "1 change".to_string()
                } else {
                    format!("{} changes", dismissed.len())
                },
                login_operator()
            );
            emit(&out);
            Ok(())
        }
        OutboxAction::History {
            limit,
            json,
            mirror,
        } => {
            let conn = mirror::open_read_only(&mirror_path(config, store, mirror)?)?;
            let rows = actions::recent(&conn, limit).map_err(MirrorError::from)?;
            if json {
                let text = serde_json::to_string_pretty(&rows).expect("rows serialize");
                emit(&format!("{text}\n"));
                return Ok(());
            }
            let mut out = String::new();
            for r in &rows {
                outln!(
                    out,
                    "{}  {} ({})  {} {}: {}{}",
                    fmt_time(Some(r.at)),
                    r.operator,
                    r.via,
                    r.action,
                    r.target,
                    r.outcome,
                    r.reason
                        .as_deref()
                        .map(|why| format!(" [reason: {}]", shorten::shorten(why)))
                        .unwrap_or_default()
                );
            }
            if rows.is_empty() {
                outln!(out, "(no operator actions recorded)");
            }
            emit(&out);
            Ok(())
        }
    }
}

/// Performs `action` on one id (or one dismissal's target) as the person running the
/// command; its refusal is a usage error with the refusal's own text.
pub(super) fn perform_one(
    conn: &mut rusqlite::Connection,
    action: &Action,
    reason: Option<&str>,
) -> Result<Outcome, CommandError> {
    let performed = actions::perform(conn, action, &Actor::cli(), reason).map_err(|e| match e {
        ActionError::Mirror(e) => CommandError::from(e),
        ActionError::Dismiss(DismissError::Mirror(e)) => CommandError::from(e),
        other => CommandError::usage(other.to_string()),
    })?;
    let outcome = performed
        .outcomes
        .into_iter()
        .next()
        .expect("one id asked, one outcome");
    match &outcome.error {
        Some(refused) => Err(CommandError::usage(refused.clone())),
        None => Ok(outcome),
    }
}

/// The mirror a command reads or changes: `--mirror`, else the mirror of the store named by
/// `--store` (or of the only store configured).
pub(super) fn mirror_path(
    config: &Path,
    store: Option<&str>,
    mirror: Option<PathBuf>,
) -> Result<PathBuf, CommandError> {
    match (mirror, store) {
        (Some(_), Some(_)) => Err(CommandError::usage(
            "--mirror names the mirror file itself: pass --mirror PATH or --store NAME, not both",
        )),
        (Some(path), None) => Ok(path),
        (None, store) => Ok(load_store(config, store)?.mirror.path),
    }
}

/// What `ecwid-sync push` prints.
pub fn summary_line(s: &PushSummary) -> String {
    format!(
        "stock: {} applied, {} refused by Ecwid, {} to send again, {} uncertain, {} cancelled out; fields: {} updated, {} conflicts; products: {} created, {} refused, {} deleted ({} {})\n",
        s.applied,
        s.failed,
        s.not_run,
        s.uncertain,
        s.cancelled,
        s.updated,
        s.conflicts,
        s.created,
        s.not_created,
        s.deleted,
        s.batches,
        if s.batches == 1 { "batch" } else { "batches" }
    )
}

/// The outbox's line in `status`, and a hint when a change waits for the operator.
pub fn print_status(out: &mut String, o: &OutboxStatus) {
    let oldest = o
        .oldest_open_at
        .map(|at| format!(" (oldest made {})", fmt_time(Some(at))))
        .unwrap_or_default();
    outln!(
        out,
        "local changes: {} pending, {} sending{oldest}, {} failed, {} uncertain, {} in conflict; last applied {}{}",
        o.counts.pending,
        o.counts.sending,
        o.counts.failed,
        o.counts.uncertain,
        o.counts.conflict,
        o.last_applied_at
            .map_or_else(|| "never".into(), |at| fmt_time(Some(at))),
        // Settled, so beside the counts that need a person rather than among them.
        if o.counts.dismissed > 0 {
            format!(
                "; {} dismissed by the operator (settled, kept as a record)",
                o.counts.dismissed
            )
        } else {
            String::new()
        }
    );
    if o.deletions_open > 0 || o.creations_open > 0 {
        outln!(
            out,
            "products: {} to create in Ecwid (new_products), {} to delete in Ecwid",
            o.creations_open,
            o.deletions_open
        );
    }
    if o.counts.open_conflicts > 0 {
        outln!(
            out,
            "  {} open conflict(s): see them with `ecwid-sync conflicts list`; settle each with `ecwid-sync conflicts resolve ID --take local|remote`",
            o.counts.open_conflicts
        );
    }
    if o.counts.failed > 0 {
        outln!(
            out,
            "  see the failed ones with `ecwid-sync outbox list --state failed`; once the cause is fixed, send one again with `ecwid-sync outbox resolve ID --resend`, or end it with `ecwid-sync outbox dismiss ID --reason TEXT` (the mirror shows Ecwid's value again)"
        );
    }
    if o.counts.uncertain > 0 {
        outln!(
            out,
            "  see the uncertain ones with `ecwid-sync outbox list --state uncertain`; settle each with `ecwid-sync outbox resolve ID --applied|--resend`"
        );
    }
}
