//! The frame every console page shares: header with the store's pages, the flash message,
//! the live-refresh script. Pages render their `<main>` only.

use maud::{DOCTYPE, Markup, html};

use crate::mirror::lock::WriteStall;
use crate::when::fmt_time;

/// The pages of one store, in the header's order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Attention,
    Conflicts,
    Webhooks,
    Find,
}

impl Nav {
    const ALL: [Nav; 5] = [
        Nav::Overview,
        Nav::Attention,
        Nav::Conflicts,
        Nav::Webhooks,
        Nav::Find,
    ];

    /// The page's path below `/stores/{id}`.
    pub fn path(self) -> &'static str {
        match self {
            Nav::Overview => "/",
            Nav::Attention => "/attention",
            Nav::Conflicts => "/conflicts",
            Nav::Webhooks => "/webhooks",
            Nav::Find => "/find",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Nav::Overview => "Overview",
            Nav::Attention => "Needs attention",
            Nav::Conflicts => "Conflicts",
            Nav::Webhooks => "Webhook inbox",
            Nav::Find => "Find",
        }
    }
}

/// `/stores/{store}{path}`: every page is scoped to the store it shows.
pub fn store_url(store: u64, path: &str) -> String {
    format!("/stores/{store}{path}")
}

/// What a page shows besides its own content.
pub struct Frame<'a> {
    pub store: u64,
    /// The store's name in the configuration.
    pub name: &'a str,
    /// Whether the console shows several stores: the header then names the store and leads
    /// back to their list. One store's header stays as it was before there could be more.
    pub several: bool,
    pub here: Nav,
    pub flash: Option<&'a str>,
}

pub fn page(frame: &Frame, title: &str, main: Markup) -> Markup {
    let store = frame.store;
    let (title, brand) = match frame.several {
        true => (
            format!("{title} · {} (store {store})", frame.name),
            html! {
                a href="/" { "All stores" } " · "
                span.brand { (frame.name) " · store " (store) }
            },
        ),
        false => (
            format!("{title} · store {store}"),
            html! { span.brand { "ecwid-sync · store " (store) } },
        ),
    };
    let header = html! {
        (brand)
        nav {
            @for nav in Nav::ALL {
                a.here[nav == frame.here] href=(store_url(store, nav.path())) { (nav.label()) }
                " "
            }
        }
        form method="get" action=(store_url(store, Nav::Find.path())) role="search" {
            input type="search" name="q" placeholder="product, SKU, order id" aria-label="Find a product, variation or order";
            button type="submit" { "Find" }
        }
    };
    signed_in(&title, header, frame.flash, main)
}

/// The list of the stores, the console's home when it shows several.
pub fn stores_page(flash: Option<&str>, main: Markup) -> Markup {
    signed_in(
        "Stores",
        html! { span.brand { "ecwid-sync · all stores" } },
        flash,
        main,
    )
}

/// A page for a signed-in operator: `header`'s content, the flash message, `main`, and the
/// footer with the live-refresh script and the sign-out button.
fn signed_in(title: &str, header: Markup, flash: Option<&str>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header { (header) }
                main {
                    @if let Some(message) = flash {
                        p.flash role="status" { (message) }
                    }
                    (main)
                }
                footer {
                    "ecwid-sync " (crate::version::VERSION) " · "
                    span #live { "reload the page to refresh" }
                    " · "
                    form method="post" action="/logout" style="display:inline" {
                        button type="submit" { "Sign out" }
                    }
                }
                script src="/assets/console.js" defer {}
            }
        }
    }
}

/// A page outside any store: sign-in, errors before a store is known.
pub fn bare(title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header { span.brand { "ecwid-sync" } }
                main { (main) }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · ecwid-sync" }
            link rel="stylesheet" href="/assets/console.css";
        }
    }
}

/// A state word styled by its class (`on-time`, `failed`, ...).
pub fn state(word: &str) -> Markup {
    let class = word.to_lowercase().replace([' ', '_'], "-");
    html! { span class={ "state " (class) } { (word) } }
}

/// Whether a mirror takes writes, or since when and why it refuses them.
pub fn writes(stall: Option<&WriteStall>) -> Markup {
    match stall {
        None => state("ok"),
        Some(s) => html! {
            (state("failing")) " since " (fmt_time(Some(s.since))) " (" (s.problem) "): " (s.error)
        },
    }
}

/// The hidden field every form of a signed-in page carries.
pub fn form_token(token: &str) -> Markup {
    html! { input type="hidden" name="form_token" value=(token); }
}

/// A JSON value as a tool would read it: strings without quotes, null as a dash.
pub fn value(v: &serde_json::Value) -> Markup {
    match v {
        serde_json::Value::Null => html! { span.muted { "-" } },
        serde_json::Value::String(s) => html! { (s) },
        other => html! { code { (other.to_string()) } },
    }
}
