//! `ecwid-sync outbox ...` and the outbox's lines in `push` and `status`.

use std::path::{Path, PathBuf};

use super::{CommandError, emit, fmt_time, load};
use crate::cli::OutboxAction;
use crate::mirror::outbox_review::{self, OutboxStatus, Resolution, ResolveError};
use crate::mirror::{self, MirrorError};
use crate::sync::push::PushSummary;

pub fn execute(config: &Path, action: OutboxAction) -> Result<(), CommandError> {
    match action {
        OutboxAction::List {
            state,
            json,
            mirror,
        } => {
            let conn = mirror::open_read_only(&mirror_path(config, mirror)?)?;
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
                    Some(delta) => format!("quantity {delta:+} (was {})", r.base),
                    None => format!("{} = {} (was {})", r.field, r.value, r.base),
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
                    r.last_error.as_deref().unwrap_or("-"),
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
            mirror,
        } => {
            let mut conn = mirror::open_existing(&mirror_path(config, mirror)?)?;
            let resolution = if applied {
                Resolution::Applied
            } else {
                Resolution::Resend
            };
            let ids = outbox_review::resolve(&mut conn, id, resolution).map_err(|e| match e {
                ResolveError::Mirror(e) => CommandError::from(e),
                other => CommandError::usage(other.to_string()),
            })?;
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            emit(&format!(
                "{} {}: {}\n",
                if ids.len() == 1 { "change" } else { "changes" },
                ids.join(", "),
                match resolution {
                    Resolution::Applied => "recorded as applied",
                    Resolution::Resend =>
                        "pending again; the daemon (or `ecwid-sync push`) sends them in a new batch",
                }
            ));
            Ok(())
        }
    }
}

pub(super) fn mirror_path(config: &Path, mirror: Option<PathBuf>) -> Result<PathBuf, CommandError> {
    Ok(match mirror {
        Some(path) => path,
        None => load(config)?.mirror.path,
    })
}

/// What `ecwid-sync push` prints.
pub fn summary_line(s: &PushSummary) -> String {
    format!(
        "stock: {} applied, {} refused by Ecwid, {} to send again, {} uncertain, {} cancelled out; fields: {} updated, {} conflicts ({} {})\n",
        s.applied,
        s.failed,
        s.not_run,
        s.uncertain,
        s.cancelled,
        s.updated,
        s.conflicts,
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
        "local changes: {} pending, {} sending{oldest}, {} failed, {} uncertain, {} in conflict; last applied {}",
        o.counts.pending,
        o.counts.sending,
        o.counts.failed,
        o.counts.uncertain,
        o.counts.conflict,
        o.last_applied_at
            .map_or_else(|| "never".into(), |at| fmt_time(Some(at)))
    );
    if o.counts.open_conflicts > 0 {
        outln!(
            out,
            "  {} open conflict(s): see them with `ecwid-sync conflicts list`; settle each with `ecwid-sync conflicts resolve ID --take local|remote`",
            o.counts.open_conflicts
        );
    }
    if o.counts.failed + o.counts.uncertain > 0 {
        outln!(
            out,
            "  see them with `ecwid-sync outbox list --state failed` or `--state uncertain`; settle with `ecwid-sync outbox resolve ID --applied|--resend`"
        );
    }
}
