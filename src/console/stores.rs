//! The store list, the console's home when the daemon keeps several stores: per store its
//! name and id, whether its mirror takes writes, and how many things wait for a person,
//! each leading to the store's own pages. One read per store, so the list stays cheap with
//! many stores.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

use super::layout::{self, Nav, state, store_url};
use super::{Console, StoreSite, Stores, attention, error_page, read_mirror};
use crate::mirror::unix_now;

/// What the list shows of one store.
struct Row {
    site: Arc<StoreSite>,
    /// Things waiting for a person, or why the mirror could not be read.
    attention: Result<i64, String>,
}

pub async fn page(console: &Console, stores: Stores, flash: Option<&str>) -> Response {
    let now = unix_now();
    let late = console.pending_attention();
    let rows = tokio::task::spawn_blocking(move || {
        stores
            .iter()
            .map(|site| Row {
                site: site.clone(),
                attention: read_mirror(&site.mirror, |conn| attention::count(conn, now, late)),
            })
            .collect::<Vec<Row>>()
    })
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the read stopped: {e}"),
            );
        }
    };
    let main = html! {
        h1 { "Stores" }
        p { "This daemon keeps " (rows.len()) " stores. Each store's pages show its own mirror." }
        table {
            thead { tr { th { "Store" } th.num { "Store id" } th { "Mirror writes" } th { "Needs attention" } } }
            tbody {
                @for row in &rows {
                    @let id = row.site.store_id;
                    tr data-store=(id) {
                        td { a href=(store_url(id, Nav::Overview.path())) { (row.site.name) } }
                        td.num { (id) }
                        td { (layout::writes(row.site.writer.write_stall().as_ref())) }
                        td { (attention_cell(id, &row.attention)) }
                    }
                }
            }
        }
    };
    Html(layout::stores_page(flash, main).into_string()).into_response()
}

fn attention_cell(store: u64, counted: &Result<i64, String>) -> Markup {
    let page = store_url(store, Nav::Attention.path());
    match counted {
        Ok(0) => html! { span.muted { "nothing" } },
        Ok(n) => html! { a href=(page) { (n) } },
        Err(why) => html! { (state("failed")) " " (why) },
    }
}
