//! The webhook inbox: recent events with what became of each, and counts per type today.

use axum::extract::Query;
use axum::response::Response;
use maud::{Markup, html};

use super::Visit;
use super::layout::{Nav, state, store_url};
use crate::mirror::inbox_review::{self, EventFilter, RecentEvent, STATES, state_named};
use crate::when::fmt_time;

/// Events one page lists.
const SHOWN: usize = 200;

#[derive(serde::Deserialize)]
pub struct Filter {
    state: Option<String>,
    r#type: Option<String>,
}

pub async fn page(visit: Visit, Query(q): Query<Filter>) -> Result<Response, Response> {
    let store = visit.store();
    let state = match q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(state_named)
    {
        Some(Err(why)) => {
            return Err(super::error_page(axum::http::StatusCode::BAD_REQUEST, &why));
        }
        Some(Ok(state)) => Some(state),
        None => None,
    };
    let filter = EventFilter {
        state,
        event_type: q.r#type.filter(|t| !t.is_empty()),
        entity: None,
    };
    let since = crate::mirror::unix_now() - 86_400;
    let shown_filter = filter.clone();
    let read = visit
        .read(move |conn| {
            Ok((
                inbox_review::recent(conn, &shown_filter, SHOWN)?,
                inbox_review::counts(conn, since)?,
            ))
        })
        .await;
    let (events, counts) = read?;
    let here = store_url(store, Nav::Webhooks.path());
    let main = html! {
        h1 { "Webhook inbox" }
        h2 { "The last 24 hours, per type" }
        @if counts.is_empty() {
            p.muted { "No webhook events in the last 24 hours." }
        } @else {
            table {
                thead { tr { th { "Type" } th.num { "All" }
                    @for s in STATES { th.num { (s) } } } }
                tbody {
                    @for c in &counts {
                        tr {
                            td { a href={ (here) "?type=" (c.event_type) } { (c.event_type) } }
                            td.num { (c.total) }
                            @for s in STATES {
                                td.num { (c.by_state.get(s).copied().unwrap_or(0)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Recent events" }
        form.actions method="get" action=(here) {
            label { "State " select name="state" {
                option value="" { "any" }
                @for s in STATES {
                    option value=(s) selected[filter.state == Some(s)] { (s) }
                }
            } }
            label { " Type " input type="text" name="type" value=(filter.event_type.clone().unwrap_or_default()) placeholder="product.updated"; }
            button type="submit" { "Show" }
        }
        (events_table(store, &events))
    };
    Ok(visit.render(Nav::Webhooks, "Webhook inbox", main))
}

/// Events as a table; also on the entity page.
pub fn events_table(store: u64, events: &[RecentEvent]) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted { "No events." }
        } @else {
            table {
                thead { tr { th { "Received" } th { "Type" } th { "About" } th { "State" } th.num { "Reads" } th { "Last error" } } }
                tbody {
                    @for e in events {
                        tr {
                            td { (fmt_time(Some(e.received))) }
                            td { (e.event_type) }
                            td { (about(store, e)) }
                            td { (state(&e.state)) }
                            td.num { (e.attempts) }
                            td { (e.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

fn about(store: u64, e: &RecentEvent) -> Markup {
    let find = |q: String, label: String| {
        html! { a href={ (store_url(store, Nav::Find.path())) "?q=" (q) } { (label) } }
    };
    match (e.kind.as_deref(), e.entity_key, e.order_id.as_deref()) {
        (Some("products"), Some(id), _) => html! {
            a href={ (store_url(store, Nav::Find.path())) "?kind=product&product=" (id) } { "product " (id) }
        },
        (Some("orders"), _, Some(public)) => find(public.to_string(), format!("order {public}")),
        (Some(kind), Some(key), _) => html! { (kind) " " (key) },
        _ => html! { span.muted { "-" } },
    }
}
