//! Conflicts: the value before, the mirror's and Ecwid's side by side with both times and
//! the policy that held them; settled from here.

use axum::response::Response;
use maud::{Markup, html};

use super::Visit;
use super::layout::{Nav, form_token, state, store_url, value};
use crate::mirror::conflicts::{self, Listed};
use crate::when::fmt_time;

/// Settled conflicts shown under the open ones.
const SETTLED_SHOWN: usize = 50;

pub async fn page(visit: Visit) -> Result<Response, Response> {
    let store = visit.store();
    let all = visit.read(|conn| conflicts::list(conn, true)).await?;
    let (open, settled): (Vec<Listed>, Vec<Listed>) =
        all.into_iter().partition(|c| c.state == "open");
    let act = store_url(store, "/act");
    let main = html! {
        h1 { "Conflicts" }
        @if open.is_empty() {
            p.flash { "No open conflicts." }
        } @else {
            p { "Each field below changed in the mirror and in Ecwid since the last pull. "
                "Keep the mirror's value (it is sent to Ecwid within a second) or Ecwid's (the local change is dropped)." }
            form method="post" action=(act) {
                (form_token(&visit.form_token))
                input type="hidden" name="back" value=(store_url(store, Nav::Conflicts.path()));
                div.actions {
                    label { "Reason " input type="text" name="reason" maxlength="500" placeholder="why (optional, recorded with the choice)"; }
                }
                @for c in &open { (side_by_side(c)) }
            }
        }
        @if !settled.is_empty() {
            h2 { "Settled" }
            @let newest: Vec<Listed> = settled.into_iter().rev().take(SETTLED_SHOWN).collect();
            (conflict_rows(&newest, false))
        }
    };
    Ok(visit.render(Nav::Conflicts, "Conflicts", main))
}

/// One open conflict as three values side by side, with its two buttons.
fn side_by_side(c: &Listed) -> Markup {
    html! {
        div.card data-conflict=(c.id) {
            h3 { "Conflict " (c.id) ": " (c.subject.to_string()) ", " (c.field) }
            div.side {
                div { div.label { "Before (last from Ecwid)" } div.v { (value(&c.base)) } }
                div { div.label { "Mirror, changed " (fmt_time(Some(c.local_at))) } div.v { (value(&c.local)) } }
                div { div.label { "Ecwid, changed " (fmt_time(c.remote_at)) } div.v { (value(&c.remote)) } }
            }
            p.muted { "Policy: " (c.policy) }
            div.actions {
                button type="submit" name="one" value={ "take_local:" (c.id) } { "Keep the mirror's value" }
                button type="submit" name="one" value={ "take_remote:" (c.id) } { "Keep Ecwid's value" }
            }
        }
    }
}

/// Conflicts as table rows; with `tick`, a box per row for bulk actions.
pub fn conflict_rows(rows: &[Listed], tick: bool) -> Markup {
    html! {
        table {
            thead { tr {
                @if tick { th { span.muted { "Pick" } } }
                th.num { "Id" } th { "What" } th { "Field" } th { "Before" } th { "Mirror" } th { "Ecwid" } th { "Policy" } th { "State" }
            } }
            tbody {
                @for c in rows {
                    tr data-conflict=(c.id) {
                        @if tick { td { input type="checkbox" name="conflict" value=(c.id) aria-label={ "conflict " (c.id) }; } }
                        td.num { (c.id) }
                        td { (c.subject.to_string()) }
                        td { (c.field) }
                        td { (value(&c.base)) }
                        td { (value(&c.local)) br; span.muted { (fmt_time(Some(c.local_at))) } }
                        td { (value(&c.remote)) br; span.muted { (fmt_time(c.remote_at)) } }
                        td { (c.policy) }
                        td { (state(&c.state)) @if let Some(side) = &c.resolution { " (" (side) " kept)" } }
                    }
                }
            }
        }
    }
}
