//! The browser harness (tests/common/browser.rs) against a small page served here: what the
//! console tests rely on (clicking a form's button, reading cookies, JavaScript really off,
//! screenshots) is proven before any console page exists.

mod common;

use std::net::SocketAddr;

use axum::Form;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use common::browser::{Browser, BrowserOptions};

const TOKEN: &str = "operator-token";

/// The server writes one sentence, the script replaces it: which one shows says whether
/// scripts ran.
const SIGN_IN_PAGE: &str = r#"<!doctype html>
<html><head><title>Sign in</title></head><body><main>
<p id="scripts">scripts did not run</p>
<script>document.getElementById("scripts").textContent = "scripts ran";</script>
<form id="sign-in" method="post" action="/sign-in">
  <input name="token" type="password">
  <button type="submit">Sign in</button>
</form>
</main></body></html>"#;

#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(Form(form): Form<SignIn>) -> impl IntoResponse {
    if form.token != TOKEN {
        return (StatusCode::UNAUTHORIZED, Html("<p>wrong token</p>")).into_response();
    }
    (
        [(
            header::SET_COOKIE,
            "session=s3ss10n; Path=/; HttpOnly; SameSite=Strict",
        )],
        Redirect::to("/signed-in"),
    )
        .into_response()
}

async fn signed_in(headers: HeaderMap) -> Html<String> {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    Html(format!(
        "<!doctype html><title>Signed in</title><main><p>Signed in with {cookie}</p></main>"
    ))
}

/// The page above on a free port of 127.0.0.1, served until the test ends.
async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { Html(SIGN_IN_PAGE) }))
        .route("/sign-in", post(sign_in))
        .route("/signed-in", get(signed_in));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn clicking_a_forms_button_posts_it_and_the_browser_keeps_the_session_cookie() {
    let addr = serve().await;
    let Some(browser) = Browser::start(BrowserOptions::default()).await else {
        return;
    };
    browser.goto(&format!("http://{addr}/")).await;
    assert_eq!(browser.title().await, "Sign in");
    let token = browser.find("#sign-in input[name=token]").await;
    token.send_keys("wrong").await;
    token.clear().await;
    assert_eq!(token.property("value").await, "");
    assert_eq!(token.attr("type").await.as_deref(), Some("password"));
    token.send_keys(TOKEN).await;
    browser.submit("#sign-in").await;

    browser
        .wait_for_text("Signed in with session=s3ss10n")
        .await;
    assert_eq!(
        browser.current_url().await,
        format!("http://{addr}/signed-in")
    );
    let cookies = browser.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c.name == "session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session.value, "s3ss10n");
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"));
    // HttpOnly: the browser holds the cookie, the page's scripts cannot read it.
    assert_eq!(browser.execute("return document.cookie").await, "");
    browser.close().await;
}

#[tokio::test]
async fn with_javascript_off_a_page_shows_what_the_server_wrote_and_with_it_on_what_its_script_wrote()
 {
    let addr = serve().await;
    for (options, shown) in [
        (BrowserOptions::default(), "scripts ran"),
        (BrowserOptions::without_javascript(), "scripts did not run"),
    ] {
        let Some(browser) = Browser::start(options).await else {
            return;
        };
        browser.goto(&format!("http://{addr}/")).await;
        browser.wait_for("main").await;
        assert_eq!(browser.find("#scripts").await.text().await, shown);
        assert_eq!(browser.find_all("#sign-in input").await.len(), 1);
    }
}

#[tokio::test]
async fn a_screenshot_is_a_png_of_the_window_size() {
    let addr = serve().await;
    let options = BrowserOptions {
        width: 800,
        height: 600,
        ..BrowserOptions::default()
    };
    let Some(browser) = Browser::start(options).await else {
        return;
    };
    browser.goto(&format!("http://{addr}/")).await;
    browser.wait_for("main").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shots/sign-in.png");
    browser.screenshot_png(&path).await;

    let png = std::fs::read(&path).expect("the screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    // IHDR, the first chunk, starts with the width and height (big-endian).
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (800, 600));
}

#[tokio::test]
async fn a_test_that_panics_leaves_no_chromium_or_chromedriver_running() {
    let addr = serve().await;
    let Some(browser) = Browser::start(BrowserOptions::default()).await else {
        return;
    };
    let group = browser.process_group();
    let failed = tokio::spawn(async move {
        browser.goto(&format!("http://{addr}/")).await;
        browser.wait_for("main").await;
        panic!("a deliberate failure, with the browser open");
    })
    .await;
    assert!(failed.expect_err("the task panicked").is_panic());

    // kill(pid, 0) sends nothing; it fails once no process of the group is left.
    let gone = common::wait_until(std::time::Duration::from_secs(10), || async {
        // SAFETY: signal 0 to a process group this test started; no memory involved.
        unsafe { libc::kill(-group, 0) != 0 }
    })
    .await;
    assert!(
        gone,
        "processes of group {group} outlived the panicking test"
    );
}
