//! The overview: is anything wrong, and where. Per kind a freshness state derived from its
//! schedule and last success; webhook intake; the outbox; conflicts and quarantine;
//! throttling and the request budget; the mirror's health.

use axum::response::Response;
use maud::{Markup, html};

use super::Visit;
use super::layout::{Nav, state, store_url, writes};
use crate::freshness::{Freshness, freshness};
use crate::mirror::state::Status;
use crate::mirror::unix_now;
use crate::when::{fmt_age, fmt_bytes, fmt_time};

pub async fn page(visit: Visit) -> Result<Response, Response> {
    let store = visit.store();
    let path = visit.site().mirror.clone();
    let since = start_of_today();
    let read = visit
        .read(move |conn| {
            let status = Status::read(conn, &path)?;
            let today = crate::mirror::inbox_review::counts(conn, since)?;
            Ok((status, today))
        })
        .await;
    let (status, today) = read?;
    let now = unix_now();
    // The store's own schedules and budget; how long a change may wait is the console's.
    let (sync, limits) = visit
        .site()
        .live
        .read(|c| (c.sync.clone(), (c.ecwid.requests_per_minute, c.ecwid.burst)));
    let pending_attention = visit.console().pending_attention();
    let events_today: i64 = today.iter().map(|t| t.total).sum();
    let api = &visit.site().metrics.api;
    let stall = visit.site().writer.write_stall();
    let main = html! {
        h1 { "Overview" }
        h2 { "Pulls" }
        table {
            thead { tr { th { "Kind" } th { "State" } th.num { "Rows" } th { "Last pass" } th { "Why" } } }
            tbody {
                @for k in &status.kinds {
                    @let mirrored = sync.kinds.iter().any(|m| m.name() == k.kind);
                    tr {
                        td { (k.kind) }
                        @if mirrored {
                            @let f = freshness(&k.state, &sync, now);
                            td { (fresh_word(&f)) }
                            td.num { (k.rows) @if let Some(c) = k.child_rows { span.muted { " (" (c) " " (children(k.kind)) ")" } } }
                            td { (fmt_time(f.last_success)) }
                            td { (f.reason) }
                        } @else {
                            td.muted { "not mirrored" }
                            td.num { (k.rows) }
                            td.muted { "-" }
                            td.muted { "not in sync.kinds" }
                        }
                    }
                }
            }
        }
        section.cards {
            div.card {
                h3 { "Webhook intake" }
                @match &status.webhooks {
                    Some(w) => {
                        p { "Last event: " (fmt_time(w.last_received_at))
                            @if let Some(at) = w.last_received_at { span.muted { " (" (fmt_age(now - at)) " ago)" } } }
                        p { "Events today (UTC): " (events_today) }
                        p { "Waiting to be applied: " (w.pending)
                            @if let Some(age) = w.oldest_pending_age_secs { " (oldest " (fmt_age(age)) ")" } }
                        @let gaps: i64 = w.gaps.values().sum();
                        p { "Changes pulls found that no webhook announced: " (gaps) }
                        p { a href=(store_url(store, Nav::Webhooks.path())) { "Webhook inbox" } }
                    }
                    None => p.muted { "The mirror has no webhook inbox yet." },
                }
            }
            div.card {
                h3 { "Local changes (outbox)" }
                @match &status.outbox {
                    Some(o) => {
                        @for (name, n) in o.counts.by_state() {
                            p { (state(name)) ": " (n) }
                        }
                        p { "Dismissed by an operator: " (o.counts.dismissed) }
                        p { "Oldest open: "
                            @match o.oldest_open_at {
                                Some(at) => { (fmt_age(now - at)) " old"
                                    @if now - at > pending_attention { " " (state("late")) } }
                                None => span.muted { "none" },
                            }
                        }
                        p { "Last applied: " (fmt_time(o.last_applied_at)) }
                        p { "Products to create: " (o.creations_open) ", to delete: " (o.deletions_open) }
                    }
                    None => p.muted { "The mirror has no outbox yet." },
                }
            }
            div.card {
                h3 { "For a person to decide" }
                @let conflicts = status.outbox.as_ref().map_or(0, |o| o.counts.open_conflicts);
                @let quarantined: i64 = status.kinds.iter().map(|k| k.quarantine.count).sum();
                p { "Open conflicts: " (conflicts) }
                p { "Quarantined documents: " (quarantined) }
                p { a href=(store_url(store, Nav::Attention.path())) { "Needs attention" } }
            }
            div.card {
                h3 { "Requests to Ecwid" }
                p { "Budget: " (limits.0) " per minute, burst " (limits.1) }
                p { "Answered 429 (throttled) since start: " (api.throttled.get()) }
                p { "Waited for the budget: " (format!("{:.1}", api.budget_wait_seconds.get())) " s" }
                p { "Sent again after errors: " (api.retries.get()) }
            }
            div.card {
                h3 { "Mirror" }
                p { code { (status.mirror) } }
                p { "Writes: " (writes(stall.as_ref())) }
                p { "Write-ahead log: " (fmt_bytes(status.wal_bytes)) }
                p { "Daemon: "
                    @match (status.daemon.pid, status.daemon.running) {
                        (Some(pid), true) => { "running (pid " (pid) ")" }
                        _ => "not running",
                    }
                }
                p { "Version: " (crate::version::VERSION) }
            }
        }
    };
    Ok(visit.render(Nav::Overview, "Overview", main))
}

fn fresh_word(f: &Freshness) -> Markup {
    state(f.state.label())
}

/// What a kind's child rows are called.
fn children(kind: &str) -> &'static str {
    match kind {
        "products" => "variations",
        "orders" => "items",
        _ => "rows",
    }
}

/// Midnight UTC today, for "events today".
fn start_of_today() -> i64 {
    let now = unix_now();
    now - now.rem_euclid(86_400)
}
