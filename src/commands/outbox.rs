//! `ecwid-sync outbox ...` and the outbox's lines in `push` and `status`.

use std::path::{Path, PathBuf};

use super::{CommandError, emit, fmt_time, load, shorten};
use crate::cli::OutboxAction;
use crate::mirror::dismiss::{self, DismissError, Target};
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
        OutboxAction::Dismiss {
            id,
            product,
            variation,
            order,
            all_failed: _,
            reason,
            mirror,
        } => {
            let target = match (id, product, order) {
                (Some(id), ..) => Target::Change(id),
                (_, Some(product_id), _) => Target::Product {
                    product_id,
                    variation_id: variation,
                },
                (_, _, Some(order)) => Target::Order(order),
                // clap requires exactly one of ID, --product, --order and --all-failed.
                _ => Target::AllFailed,
            };
            let mut conn = mirror::open_existing(&mirror_path(config, mirror)?)?;
            let operator = operator();
            let dismissed =
                dismiss::dismiss(&mut conn, &target, &reason, &operator).map_err(|e| match e {
                    DismissError::Mirror(e) => CommandError::from(e),
                    other => CommandError::usage(other.to_string()),
                })?;
            if dismissed.is_empty() {
                emit("no failed changes: nothing dismissed\n");
                return Ok(());
            }
            let mut out = String::new();
            for d in &dismissed {
                outln!(out, "change {}: {} {}: dismissed", d.id, d.subject, d.field);
            }
            outln!(
                out,
                "{} recorded as dismissed by {operator}; the mirror shows Ecwid's values again (`ecwid-sync outbox list --state dismissed` lists them)",
                if dismissed.len() == 1 {
                    "1 change".to_string()
                } else {
                    format!("{} changes", dismissed.len())
                }
            );
            emit(&out);
            Ok(())
        }
    }
}

/// Who runs the command, for the record of a dismissal: the user behind sudo, else the
/// login user, else the process's uid (a service account may have neither variable).
fn operator() -> String {
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
