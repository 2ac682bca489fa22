//! The frame every console page shares: header with the store's pages, the flash message,
//! the live-refresh script. Pages render their `<main>` only.

use maud::{DOCTYPE, Markup, html};

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
    pub here: Nav,
    pub flash: Option<&'a str>,
}

pub fn page(frame: &Frame, title: &str, main: Markup) -> Markup {
    let store = frame.store;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · store {store}")))
            body {
                header {
                    span.brand { "ecwid-sync · store " (store) }
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
                }
                main {
                    @if let Some(message) = frame.flash {
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
