//! The console screenshots in docs/ (shown in the README and docs/operations.md), taken with
//! headless Chromium from a running console (the demo's): `scripts/console-screenshots`, or
//! `CONSOLE_URL=<sign-in link> cargo test --locked --test screenshots -- --ignored`.
//!
//! CONSOLE_URL is the one-time sign-in link the demo prints: following it signs in and lands
//! on the overview. The needs-attention page is CONSOLE_ATTENTION_URL when set, otherwise
//! the page the overview's first link to "attention" leads to.

mod common;

use std::path::Path;

use common::browser::{Browser, BrowserOptions};

/// Small enough to sit in the README at full size, wide enough for the console's tables.
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 700;

#[tokio::test]
#[ignore = "needs a running console: set CONSOLE_URL and run with --ignored"]
async fn the_overview_and_needs_attention_pages_are_shot_for_the_readme() {
    let sign_in = std::env::var("CONSOLE_URL").expect(
        "CONSOLE_URL must be the console's sign-in link (the demo prints it), \
         e.g. CONSOLE_URL='http://127.0.0.1:8090/...' scripts/console-screenshots",
    );
    let options = BrowserOptions {
        width: WIDTH,
        height: HEIGHT,
        ..BrowserOptions::default()
    };
    let Some(browser) = Browser::start(options).await else {
        panic!("screenshots need headless Chromium");
    };
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");

    browser.goto(&sign_in).await;
    browser.wait_for("main").await;
    let overview = docs.join("console-overview.png");
    browser.screenshot_png(&overview).await;

    match std::env::var("CONSOLE_ATTENTION_URL") {
        Ok(url) => browser.goto(&url).await,
        Err(_) => browser.find("a[href*=attention]").await.click().await,
    }
    browser.wait_for("main").await;
    let attention = docs.join("console-attention.png");
    browser.screenshot_png(&attention).await;

    println!("wrote {} and {}", overview.display(), attention.display());
    browser.close().await;
}
