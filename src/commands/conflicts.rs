//! `ecwid-sync conflicts ...` and the conflicts' line in `status`.

use std::path::Path;

use super::outbox::{mirror_path, perform_one};
use super::shorten;
use super::{CommandError, emit, fmt_time};
use crate::cli::{ConflictsAction, TakeSide};
use crate::mirror::actions::Action;
use crate::mirror::conflicts;
use crate::mirror::{self, MirrorError};

pub fn execute(
    config: &Path,
    store: Option<&str>,
    action: ConflictsAction,
) -> Result<(), CommandError> {
    match action {
        ConflictsAction::List { all, json, mirror } => {
            let conn = mirror::open_read_only(&mirror_path(config, store, mirror)?)?;
            let rows = conflicts::list(&conn, all).map_err(MirrorError::from)?;
            if json {
                let text = serde_json::to_string_pretty(&rows).expect("rows serialize");
                emit(&format!("{text}\n"));
                return Ok(());
            }
            let mut out = String::new();
            for c in &rows {
                let what = &c.subject;
                let settled = match c.resolution.as_deref() {
                    None => "open".to_string(),
                    Some(side) => format!("resolved: {side} kept"),
                };
                outln!(
                    out,
                    "{:>6}  {what} {}: was {}, mirror {} ({}), Ecwid {} ({}); {} [{}]",
                    c.id,
                    c.field,
                    shorten::value(&c.base),
                    shorten::value(&c.local),
                    fmt_time(Some(c.local_at)),
                    shorten::value(&c.remote),
                    fmt_time(c.remote_at),
                    settled,
                    c.policy
                );
            }
            if rows.is_empty() {
                outln!(out, "(no conflicts)");
            }
            emit(&out);
            Ok(())
        }
        ConflictsAction::Resolve {
            id,
            take,
            reason,
            mirror,
        } => {
            let mut conn = mirror::open_existing(&mirror_path(config, store, mirror)?)?;
            let action = match take {
                TakeSide::Local => Action::TakeLocal { ids: vec![id] },
                TakeSide::Remote => Action::TakeRemote { ids: vec![id] },
            };
            perform_one(&mut conn, &action, reason.as_deref())?;
            emit(&format!(
                "conflict {id}: {}\n",
                match take {
                    TakeSide::Local =>
                        "the mirror's value is sent to Ecwid (by the daemon, or `ecwid-sync push`)",
                    TakeSide::Remote => "Ecwid's value is kept; the local change is dropped",
                }
            ));
            Ok(())
        }
    }
}
