//! `ecwid-sync status`: the mirror of one store, or of every configured store.

use std::path::{Path, PathBuf};

use super::{CommandError, customer, emit, fmt_bytes, fmt_time, outbox};
use crate::config::{SecretEnv, Stores};
use crate::mirror::{self, MirrorError, state};

/// `status [--mirror PATH] [--store NAME] [--json]`.
pub fn execute(
    config: &Path,
    store: Option<&str>,
    mirror: Option<PathBuf>,
    json: bool,
) -> Result<(), CommandError> {
    if let Some(path) = mirror {
        return print_one(&path, json);
    }
    let stores = Stores::load(config, &SecretEnv::from_process()).map_err(|e| {
        CommandError::usage(format!(
            "{e}; to read a mirror without the configuration: ecwid-sync status --mirror PATH"
        ))
    })?;
    if store.is_some() || stores.is_single() {
        return print_one(&stores.select(store)?.config.mirror.path, json);
    }
    print_every(&stores, json)
}

fn read(path: &Path) -> Result<state::Status, CommandError> {
    let conn = mirror::open_read_only(path)?;
    let report = state::Status::read(&conn, path).map_err(|source| MirrorError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(report)
}

fn print_one(path: &Path, json: bool) -> Result<(), CommandError> {
    let report = read(path)?;
    if json {
        let text = serde_json::to_string_pretty(&report).expect("status serializes");
        emit(&format!("{text}\n"));
    } else {
        emit(&render(path, &report));
    }
    Ok(())
}

/// One block per store, headed by its name (with --json, an object keyed by the names). A
/// store whose mirror cannot be read says why in its block, the others are still shown, and
/// the command then fails as reading that store's mirror alone would.
fn print_every(stores: &Stores, json: bool) -> Result<(), CommandError> {
    let mut first_failure: Option<CommandError> = None;
    let mut text = String::new();
    let mut object = serde_json::Map::new();
    for store in &stores.stores {
        let path = &store.config.mirror.path;
        let read = read(path);
        if json {
            let value = match &read {
                Ok(report) => serde_json::to_value(report).expect("status serializes"),
                Err(e) => serde_json::json!({ "error": e.message }),
            };
            object.insert(store.name.clone(), value);
        } else {
            if !text.is_empty() {
                text.push('\n');
            }
            outln!(
                text,
                "== store {} ({}) ==",
                store.name,
                store.file.display()
            );
            match &read {
                Ok(report) => text.push_str(&render(path, report)),
                Err(e) => outln!(text, "error: {}", e.message),
            }
        }
        if let (Err(e), None) = (read, &first_failure) {
            first_failure = Some(CommandError {
                code: e.code,
                message: format!("store {}: {}", store.name, e.message),
            });
        }
    }
    if json {
        let text = serde_json::to_string_pretty(&object).expect("status serializes");
        emit(&format!("{text}\n"));
    } else {
        emit(&text);
    }
    first_failure.map_or(Ok(()), Err)
}

/// The status of the mirror at `path` as `status` prints it.
fn render(path: &Path, report: &state::Status) -> String {
    let mut out = String::new();
    outln!(out, "ecwid-sync {}", report.version);
    outln!(out, "mirror: {}", path.display());
    outln!(
        out,
        "daemon: {}",
        match (report.daemon.pid, report.daemon.running) {
            (Some(pid), true) => format!("running (pid {pid})"),
            (Some(pid), false) => format!("not running (last pid {pid})"),
            (None, _) => "not running".to_string(),
        }
    );
    if let Some(stall) = &report.daemon.write_stall {
        let verb = if report.daemon.running {
            "failing"
        } else {
            "failed"
        };
        outln!(
            out,
            "mirror writes: {verb} since {} ({}): {}",
            fmt_time(Some(stall.since)),
            stall.problem,
            stall.error
        );
    }
    // The daemon keeps the log under 64 MiB by itself; beyond that a reader holds it.
    let hint = if report.wal_bytes > 64 * 1024 * 1024 {
        " (a reader keeps a transaction open, so it cannot be emptied; see fuser/lsof on it)"
    } else {
        ""
    };
    outln!(
        out,
        "write-ahead log: {}{hint}",
        fmt_bytes(report.wal_bytes)
    );
    if let Some(webhooks) = &report.webhooks {
        print_webhooks(&mut out, webhooks);
    }
    if let Some(outbox) = &report.outbox {
        outbox::print_status(&mut out, outbox);
    }
    if let Some(privacy) = &report.privacy {
        customer::print_status(&mut out, privacy);
    }
    outln!(
        out,
        "{:<11} {:>8} {:>9}  {:<20} {:<20} {:<20}  last error",
        "kind",
        "rows",
        "children",
        "cursor",
        "last full",
        "last incremental"
    );
    for k in &report.kinds {
        outln!(
            out,
            "{:<11} {:>8} {:>9}  {:<20} {:<20} {:<20}  {}",
            k.kind,
            k.rows,
            k.child_rows
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            fmt_time(k.state.cursor),
            fmt_time(k.state.last_full_finished),
            fmt_time(k.state.last_incremental),
            k.state.last_error.as_deref().unwrap_or("-"),
        );
    }
    for k in report.kinds.iter().filter(|k| k.state.count_mismatches > 0) {
        outln!(
            out,
            "{}: latest-stats' count differed from the mirror's rows {} time(s), each time scheduling a full pull (store count then: {})",
            k.kind,
            k.state.count_mismatches,
            k.state
                .count_mismatch_store
                .map_or_else(|| "-".into(), |n| n.to_string()),
        );
    }
    for k in report.kinds.iter().filter(|k| k.rows_repaired > 0) {
        outln!(
            out,
            "{}: {} row(s) repaired by full pulls (they disagreed with Ecwid's documents: something wrote the mirror around ecwid-sync; see the log's warnings)",
            k.kind,
            k.rows_repaired,
        );
    }
    for k in report.kinds.iter().filter(|k| k.quarantine.count > 0) {
        outln!(
            out,
            "{}: {} quarantined (documents that do not fit the model; their rows keep the last copy that did, and every pass reads them again):",
            k.kind,
            k.quarantine.count
        );
        for q in &k.quarantine.first {
            outln!(
                out,
                "  {}: {} (since {}, last read {})",
                q.key,
                q.error,
                fmt_time(Some(q.first_seen)),
                fmt_time(Some(q.last_seen)),
            );
        }
        let more = k.quarantine.count - k.quarantine.first.len() as i64;
        if more > 0 {
            outln!(
                out,
                "  ... and {more} more (table `quarantine` in the mirror)"
            );
        }
    }
    out
}

fn print_webhooks(out: &mut String, w: &crate::mirror::inbox::WebhookStatus) {
    let oldest = w
        .oldest_pending_age_secs
        .map(|age| format!(" (oldest received {age} s ago)"))
        .unwrap_or_default();
    outln!(
        out,
        "webhook events: {} pending{oldest}; last received {}",
        w.pending,
        match w.last_received_at {
            Some(at) => fmt_time(Some(at)),
            None => "never".to_string(),
        }
    );
    let gaps: Vec<String> = w
        .gaps
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    outln!(
        out,
        "webhook gaps (changes pulls found that no webhook had announced): {}",
        gaps.join(", ")
    );
}
