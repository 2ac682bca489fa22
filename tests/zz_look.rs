mod common;
use common::browser::{Browser, BrowserOptions};
use common::console::*;
#[tokio::test]
async fn look() {
    let daemon = ConsoleDaemon::start().await;
    let browser = Browser::start(BrowserOptions {
        javascript: true,
        width: 1100,
        height: 900,
    })
    .await
    .unwrap();
    browser.goto(&daemon.page("/")).await;
    browser.wait_for("#token").await.send_keys(TOKEN).await;
    browser.submit("form[action='/login']").await;
    browser.wait_for("main h1").await;
    for (p, n) in [
        ("/", "overview"),
        ("/attention", "attention"),
        ("/conflicts", "conflicts"),
        ("/webhooks", "webhooks"),
    ] {
        browser.goto(&daemon.page(p)).await;
        browser.wait_for("main h1").await;
        browser
            .screenshot_png(std::path::Path::new(&format!("/tmp/look-{n}.png")))
            .await;
    }
}
