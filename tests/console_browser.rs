//! The operator console in a real browser (headless Chromium over WebDriver): sign in, see
//! what needs a person, settle it by clicking, with JavaScript on and off; a page of another
//! site cannot act through it. Locally these skip with one line when Chromium is missing;
//! CI installs it (.ci/run) and never skips.

mod common;

use std::time::Duration;

use common::browser::{Browser, BrowserOptions};
use common::console::*;
use common::*;
use serde_json::json;

async fn signed_in(daemon: &ConsoleDaemon, options: BrowserOptions, page: &str) -> Option<Browser> {
    let browser = Browser::start(options).await?;
    browser.goto(&daemon.page(page)).await;
    browser.wait_for("#token").await.send_keys(TOKEN).await;
    browser.submit("form[action='/login']").await;
    browser.wait_for("main h1").await;
    Some(browser)
}

#[tokio::test]
async fn an_operator_signs_in_sees_the_refused_change_and_the_conflict_and_settles_the_conflict_by_clicking()
 {
    let mut daemon = ConsoleDaemon::start().await;
    let Some(browser) = signed_in(&daemon, BrowserOptions::default(), "/attention").await else {
        return;
    };
    assert!(
        browser.current_url().await.ends_with("/attention"),
        "back where the operator was going: {}",
        browser.current_url().await
    );
    browser.wait_for_text("Refused by Ecwid (1)").await;
    browser.wait_for_text("Conflicts (1)").await;
    let session = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name == "ecwid_sync_console")
        .expect("the session cookie");
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"));

    let conflict = count(&daemon.db, "SELECT id FROM conflicts WHERE state = 'open'");
    browser.goto(&daemon.page("/conflicts")).await;
    browser
        .wait_for(&format!("button[value='take_local:{conflict}']"))
        .await
        .click()
        .await;
    browser
        .wait_for_text(&format!("conflict {conflict}:"))
        .await;
    let contested = daemon.contested;
    let store = &daemon.store;
    let pushed = wait_until(Duration::from_secs(20), || async {
        store.state().await["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == contested && p["price"] == json!(11.0))
    })
    .await;
    assert!(
        pushed,
        "the mirror's price reached Ecwid: {}",
        daemon.log.text()
    );
    browser.goto(&daemon.page("/conflicts")).await;
    browser.wait_for_text("No open conflicts.").await;
    browser.close().await;
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn with_javascript_off_every_page_renders_and_a_ticked_change_is_dismissed_with_its_reason() {
    let mut daemon = ConsoleDaemon::start().await;
    let Some(browser) = signed_in(&daemon, BrowserOptions::without_javascript(), "/").await else {
        return;
    };
    for (page, heading) in [
        ("/", "Overview"),
        ("/attention", "Needs attention"),
        ("/conflicts", "Conflicts"),
        ("/webhooks", "Webhook inbox"),
        (&format!("/find?q={}", daemon.contested), "Find"),
    ] {
        browser.goto(&daemon.page(page)).await;
        let h1 = browser.wait_for("main h1").await.text().await;
        assert!(h1.starts_with(heading), "{page}: {h1}");
        let live = browser.find("#live").await.text().await;
        assert_eq!(
            live, "reload the page to refresh",
            "no script ran on {page}"
        );
    }
    let change = count(&daemon.db, "SELECT id FROM outbox WHERE state = 'failed'");
    browser.goto(&daemon.page("/attention")).await;
    browser
        .wait_for(&format!("input[name=change][value='{change}']"))
        .await
        .click()
        .await;
    browser
        .find("input[name=reason]")
        .await
        .send_keys("discontinued by the supplier")
        .await;
    browser
        .find("button[name=action][value=dismiss]")
        .await
        .click()
        .await;
    browser.wait_for_text(&format!("change {change}")).await;
    assert_eq!(
        query(
            &open(&daemon.db),
            &format!("SELECT state, dismiss_reason FROM outbox WHERE id = {change}")
        ),
        vec![json!(["dismissed", "discontinued by the supplier"])]
    );
    browser.close().await;
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn a_page_of_another_site_cannot_act_through_a_signed_in_browser() {
    let mut daemon = ConsoleDaemon::start().await;
    let Some(browser) = signed_in(&daemon, BrowserOptions::default(), "/").await else {
        return;
    };
    let change = count(&daemon.db, "SELECT id FROM outbox WHERE state = 'failed'");
    // Another site's page: a form aimed at the console's action, as a forged request.
    let act = daemon.page("/act");
    let forged = format!(
        "<!doctype html><form method=post action='{act}'>\
         <input name=one value='resend:{change}'><input name=form_token value=guessed>\
         <button type=submit>Win a prize</button></form>"
    );
    // Same host, another port: another origin, yet the same site, so the browser sends the
    // session cookie along (SameSite compares sites, not ports); the origin check refuses.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = forged.clone();
            async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    browser.goto(&format!("http://{other}/")).await;
    browser.submit("form").await;
    browser.wait_for_text("refused").await;
    assert_nothing_done(&daemon);
    browser.close().await;
    assert!(terminate(&mut daemon.child).await.success());
}
