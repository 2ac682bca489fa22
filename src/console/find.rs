//! Find: a product, variation or order by id, SKU or the order's public id, and its whole
//! story on one page: its mirror row, its changes with their batches, its conflicts and the
//! webhook events that named it.

use axum::extract::Query;
use axum::response::Response;
use maud::{Markup, html};

use super::Visit;
use super::attention::change_cells;
use super::conflicts::conflict_rows;
use super::layout::{Nav, store_url, value};
use super::webhooks::events_table;
use crate::mirror::entity::{self, Entity, Found, Story};
use crate::mirror::fields::EntityType;
use crate::mirror::outbox_review::Listed;
use crate::when::fmt_time;

#[derive(serde::Deserialize)]
pub struct Wanted {
    /// What the operator typed.
    q: Option<String>,
    /// A match picked from a list: `product`, `variation`, `order` or `category`, with its
    /// keys.
    kind: Option<String>,
    product: Option<i64>,
    variation: Option<i64>,
    order: Option<i64>,
    category: Option<i64>,
}

impl Wanted {
    /// The entity a link names directly.
    fn entity(&self) -> Option<Entity> {
        match EntityType::parse(self.kind.as_deref()?)? {
            EntityType::Product => Some(entity::product(self.product?)),
            EntityType::Variation => Some(entity::variation(self.product?, self.variation?)),
            EntityType::Order => Some(entity::order(self.order?)),
            EntityType::Category => Some(entity::category(self.category?)),
        }
    }
}

/// What the page shows.
enum Answer {
    Ask,
    Nothing(String),
    Several(String, Vec<Found>),
    Story(Box<Story>),
}

pub async fn page(visit: Visit, Query(wanted): Query<Wanted>) -> Result<Response, Response> {
    let store = visit.store();
    let direct = wanted.entity();
    let typed = wanted
        .q
        .clone()
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    let read = visit
        .read(move |conn| {
            let entity = match (direct, typed) {
                (Some(entity), _) => entity,
                (None, None) => return Ok(Answer::Ask),
                (None, Some(q)) => {
                    let mut found = entity::find(conn, &q)?;
                    match found.len() {
                        0 => return Ok(Answer::Nothing(q)),
                        1 => found.remove(0).entity,
                        _ => return Ok(Answer::Several(q, found)),
                    }
                }
            };
            Ok(match entity::story(conn, &entity)? {
                Some(story) => Answer::Story(Box::new(story)),
                None => Answer::Nothing(format!("{} {}", entity.kind.name(), entity.key())),
            })
        })
        .await;
    let answer = read?;
    let here = store_url(store, Nav::Find.path());
    let main = html! {
        h1 { "Find" }
        form.actions method="get" action=(here) {
            input type="search" name="q" value=(wanted.q.clone().unwrap_or_default())
                placeholder="product or variation id, SKU, order number or public id, category id or name" aria-label="What to find";
            button.primary type="submit" { "Find" }
        }
        @match &answer {
            Answer::Ask => p.muted { "Type a product or variation id, a SKU, an order number or an order's public id (such as BK1G6)." },
            Answer::Nothing(q) => p.flash.error { "Nothing in the mirror matches " code { (q) } "." },
            Answer::Several(q, found) => {
                p { (found.len()) " matches for " code { (q) } ":" }
                ul { @for f in found {
                    li { a href=(link(&here, &f.entity)) { (f.label) } span.muted { " (" (f.matched) ")" } }
                } }
            }
            Answer::Story(story) => (story_of(store, &here, story)),
        }
    };
    Ok(visit.render(Nav::Find, "Find", main))
}

/// The page of one entity.
fn link(here: &str, e: &Entity) -> String {
    let mut url = format!("{here}?kind={}", e.kind.name());
    if let Some(p) = e.product_id {
        url.push_str(&format!("&product={p}"));
    }
    if let Some(v) = e.variation_id {
        url.push_str(&format!("&variation={v}"));
    }
    if let Some(o) = e.order_number {
        url.push_str(&format!("&order={o}"));
    }
    if let Some(c) = e.category_id {
        url.push_str(&format!("&category={c}"));
    }
    url
}

fn story_of(store: u64, here: &str, s: &Story) -> Markup {
    html! {
        h2 { (s.label) }
        @if s.row.is_empty() {
            p.flash.error { "The mirror no longer has its row (deleted in Ecwid); its changes and events are kept." }
        } @else {
            table {
                tbody { @for c in &s.row { (column_row(&c.column, &c.value)) } }
            }
        }
        @if !s.variations.is_empty() {
            h2 { "Variations (" (s.variations.len()) ")" }
            table {
                thead { tr { th.num { "Id" } th { "SKU" } th.num { "Price" } th.num { "Stock" } th { "Options" } } }
                tbody { @for v in &s.variations {
                    tr {
                        td.num { a href=(link(here, &entity::variation(s.entity.key(), v.id))) { (v.id) } }
                        td { (v.sku.clone().unwrap_or_default()) @if !v.own_sku { span.muted { " (product's)" } } }
                        td.num { (v.price.map(|p| format!("{p:.2}")).unwrap_or_default()) }
                        td.num { @if v.unlimited { "unlimited" } @else { (v.quantity.map(|q| q.to_string()).unwrap_or_default()) } }
                        td { (options(&v.options)) }
                    }
                } }
            }
        }
        @if !s.items.is_empty() {
            h2 { "Items (" (s.items.len()) ")" }
            @for item in &s.items {
                table { tbody { @for c in item { (column_row(&c.column, &c.value)) } } }
            }
        }
        h2 { "Changes on their way or waiting (" (s.open_changes.len()) ")" }
        (changes(&s.open_changes))
        h2 { "Settled changes" }
        (changes(&s.settled_changes))
        @if !s.batches.is_empty() {
            h2 { "Batches that carried its changes" }
            table {
                thead { tr { th { "Key (deduplicationKey)" } th { "First sent" } th { "Ecwid's ticket" } th { "Changes" } } }
                tbody { @for b in &s.batches {
                    tr {
                        td { code { (b.key) } }
                        td { (fmt_time(b.first_sent)) }
                        td { code { (b.ticket.clone().unwrap_or_default()) } }
                        td { (b.changes.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")) }
                    }
                } }
            }
        }
        h2 { "Conflicts" }
        @if s.conflicts.is_empty() { p.muted { "None." } } @else { (conflict_rows(&s.conflicts, false)) }
        h2 { "Webhook events" }
        (events_table(store, &s.events))
    }
}

/// One column of a mirror row; unix times are also shown as dates.
fn column_row(column: &str, v: &serde_json::Value) -> Markup {
    html! {
        tr.kv {
            th { (column) }
            td {
                (value(v))
                @if let (true, Some(t)) = (column.ends_with("_at"), v.as_i64()) {
                    span.muted { " (" (fmt_time(Some(t))) " UTC)" }
                }
            }
        }
    }
}

/// A variation's option choices as a person reads them: `Size: S, Color: Red`.
fn options(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|choices| {
            choices
                .iter()
                .map(|c| {
                    let text = |key: &str| {
                        c[key]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| c[key].to_string())
                    };
                    format!("{}: {}", text("name"), text("value"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| v.to_string())
}

fn changes(rows: &[Listed]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "None." }
        } @else {
            table {
                thead { tr { th.num { "Id" } th { "What" } th { "Change" } th { "Made" } th { "State" } th.num { "Tries" } th { "Batch" } th { "Settled" } th { "Why" } } }
                tbody { @for c in rows {
                    tr {
                        (change_cells(c))
                        td { code { (c.batch_key.clone().unwrap_or_default()) } }
                        td { (fmt_time(c.settled_at)) }
                        td {
                            @match (&c.dismissed_by, &c.dismiss_reason) {
                                (Some(by), Some(why)) => { "dismissed by " (by) ": " (why) }
                                _ => (c.last_error.clone().unwrap_or_default()),
                            }
                        }
                    }
                } }
            }
        }
    }
}
