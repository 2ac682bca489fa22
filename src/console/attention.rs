//! Needs attention: one list of everything a person must decide, each with its reason in
//! plain words and the actions the CLI has for it, one at a time or ticked in bulk with a
//! reason that is recorded.

use axum::response::Response;
use maud::{Markup, html};
use rusqlite::Connection;

use super::Visit;
use super::conflicts::conflict_rows;
use super::layout::{Nav, form_token, state, store_url, value};
use crate::kind::Kind;
use crate::mirror::outbox_review::{self, Listed};
use crate::mirror::quarantine::{self, QuarantineSummary};
use crate::mirror::{conflicts, unix_now};
use crate::when::{fmt_age, fmt_time};

/// Quarantined documents listed per kind.
const QUARANTINE_SHOWN: usize = 50;

pub async fn page(visit: Visit) -> Result<Response, Response> {
    let store = visit.store();
    let read = visit
        .read(|conn| {
            let quarantined = if quarantine::table_exists(conn)? {
                Kind::ALL
                    .iter()
                    .map(|&k| Ok((k, quarantine::summary(conn, k, QUARANTINE_SHOWN)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()?
            } else {
                Vec::new()
            };
            Ok((
                outbox_review::list(conn, None)?,
                conflicts::list(conn, false)?,
                quarantined,
            ))
        })
        .await;
    let (open, open_conflicts, quarantined) = read?;
    let now = unix_now();
    let late = visit.console().pending_attention();
    let failed: Vec<&Listed> = open.iter().filter(|c| c.state == "failed").collect();
    let uncertain: Vec<&Listed> = open.iter().filter(|c| c.state == "uncertain").collect();
    let waiting: Vec<&Listed> = open
        .iter()
        .filter(|c| {
            matches!(c.state.as_str(), "pending" | "sending")
                && c.created_at < waited_long_if_made_before(now, late)
        })
        .collect();
    let held: Vec<&(Kind, QuarantineSummary)> =
        quarantined.iter().filter(|(_, q)| q.count > 0).collect();
    let nothing = failed.is_empty()
        && uncertain.is_empty()
        && waiting.is_empty()
        && open_conflicts.is_empty()
        && held.is_empty();
    let act = store_url(store, "/act");
    let back = store_url(store, Nav::Attention.path());
    let token = &visit.form_token;
    let main = html! {
        h1 { "Needs attention" }
        @if nothing {
            p.flash { "Nothing needs a person: no failed, uncertain or long-waiting changes, no open conflicts, no quarantined documents." }
        }
        @if !failed.is_empty() {
            h2 { "Refused by Ecwid (" (failed.len()) ")" }
            p { "Ecwid refused these changes for good (a product deleted in Ecwid, a value it does not accept). "
                "Fix the cause and re-send, or dismiss: the mirror then shows Ecwid's value again." }
            form method="post" action=(act) {
                (form_token(token))
                input type="hidden" name="back" value=(back);
                (changes_table(&failed, &[("resend", "Re-send"), ("dismiss", "Dismiss")]))
                (bulk(&[("resend", "Re-send ticked"), ("dismiss", "Dismiss ticked")], true))
            }
        }
        @if !uncertain.is_empty() {
            h2 { "Outcome unknown (" (uncertain.len()) ")" }
            p { "Ecwid's answers could not say whether these were applied. Check the store: "
                "if it shows the change, mark it applied; if not, re-send it." }
            form method="post" action=(act) {
                (form_token(token))
                input type="hidden" name="back" value=(back);
                (changes_table(&uncertain, &[("applied", "Applied"), ("resend", "Re-send")]))
                (bulk(&[("applied", "Mark ticked applied"), ("resend", "Re-send ticked")], false))
            }
        }
        @if !open_conflicts.is_empty() {
            h2 { "Conflicts (" (open_conflicts.len()) ")" }
            p { "The field changed both in the mirror and in Ecwid since the last pull. Choose whose value the store keeps "
                "(" a href=(store_url(store, Nav::Conflicts.path())) { "side by side on the conflicts page" } ")." }
            form method="post" action=(act) {
                (form_token(token))
                input type="hidden" name="back" value=(back);
                (conflict_rows(&open_conflicts, true))
                (bulk(&[("take_local", "Keep the mirror's values"), ("take_remote", "Keep Ecwid's values")], false))
            }
        }
        @if !waiting.is_empty() {
            h2 { "Waiting long (" (waiting.len()) ")" }
            p { "These changes have waited more than " (fmt_age(late)) " to reach Ecwid. The daemon keeps trying; "
                "if they stay, check the log, the overview's request figures and whether the daemon runs." }
            (changes_table(&waiting, &[]))
        }
        @if !held.is_empty() {
            h2 { "Quarantined documents" }
            p { "Ecwid sent documents that do not fit the mirror's model. Their rows keep the last copy that did, "
                "and every pass reads them again; if they stay, report the error with the document's id." }
            table {
                thead { tr { th { "Kind" } th { "Id" } th { "Problem" } th { "Since" } th { "Last read" } } }
                tbody {
                    @for (kind, q) in &held {
                        @for d in &q.first {
                            tr { td { (kind.name()) } td { (d.key) } td { (d.error) }
                                 td { (fmt_time(Some(d.first_seen))) } td { (fmt_time(Some(d.last_seen))) } }
                        }
                        @if q.count > q.first.len() as i64 {
                            tr { td colspan="5" .muted { "... and " (q.count - q.first.len() as i64) " more " (kind.name()) " (table quarantine)" } }
                        }
                    }
                }
            }
        }
    };
    Ok(visit.render(Nav::Attention, "Needs attention", main))
}

/// Changes still on their way that were made before this have waited long: more than
/// `late` seconds at `now`. The page and the store list's count both ask it.
fn waited_long_if_made_before(now: i64, late: i64) -> i64 {
    now - late
}

/// How many things the page would list, counted in one read for the store list: changes
/// Ecwid refused or whose outcome is unknown, changes waiting long, open conflicts and
/// quarantined documents.
pub fn count(conn: &Connection, now: i64, late: i64) -> rusqlite::Result<i64> {
    let quarantined = match quarantine::table_exists(conn)? {
        true => "(SELECT count(*) FROM quarantine)",
        false => "0",
    };
    conn.query_row(
        &format!(
            "SELECT (SELECT count(*) FROM outbox
                      WHERE state IN ('failed', 'uncertain')
                         OR (state IN ('pending', 'sending') AND created_at < ?1))
                  + (SELECT count(*) FROM conflicts WHERE state = 'open')
                  + {quarantined}"
        ),
        [waited_long_if_made_before(now, late)],
        |r| r.get(0),
    )
}

/// Local changes with a tick box and per-row buttons (`one` = `action:id`).
pub fn changes_table(rows: &[&Listed], actions: &[(&str, &str)]) -> Markup {
    html! {
        table {
            thead { tr {
                @if !actions.is_empty() { th { span.muted { "Pick" } } }
                th.num { "Id" } th { "What" } th { "Change" } th { "Made" } th { "State" } th.num { "Tries" } th { "Why" }
                @if !actions.is_empty() { th { "Act" } }
            } }
            tbody {
                @for c in rows {
                    tr data-change=(c.id) {
                        @if !actions.is_empty() {
                            td { input type="checkbox" name="change" value=(c.id) aria-label={ "change " (c.id) }; }
                        }
                        (change_cells(c))
                        td { (c.last_error.as_deref().unwrap_or("")) }
                        @if !actions.is_empty() {
                            td { @for (action, label) in actions {
                                button type="submit" name="one" value={ (action) ":" (c.id) } { (label) } " "
                            } }
                        }
                    }
                }
            }
        }
    }
}

/// The cells every table of changes starts with: id, what, change, made, state, tries.
pub fn change_cells(c: &Listed) -> Markup {
    html! {
        td.num { (c.id) }
        td { (c.subject.to_string()) }
        td { (change_text(c)) }
        td { (fmt_time(Some(c.created_at))) }
        td { (state(&c.state)) }
        td.num { (c.attempts) }
    }
}

pub fn change_text(c: &Listed) -> Markup {
    match c.delta {
        _ if c.is_deletion() => html! { "delete the product in Ecwid" },
        Some(delta) => html! { "quantity " (format!("{delta:+}")) " (was " (value(&c.base)) ")" },
        None => html! { (c.field) " = " (value(&c.value)) " (was " (value(&c.base)) ")" },
    }
}

/// The bulk buttons under a table, with the reason field (required for dismissals).
fn bulk(actions: &[(&str, &str)], reason_required: bool) -> Markup {
    html! {
        div.actions {
            label { "Reason " input type="text" name="reason" maxlength="500"
                placeholder=(if reason_required { "why (required to dismiss)" } else { "why (optional, recorded)" }); }
            @for (action, label) in actions {
                button type="submit" name="action" value=(action) { (label) }
            }
        }
    }
}
