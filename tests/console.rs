//! The operator console over HTTP: who may see and act, what it refuses, and that its
//! actions do what the CLI's do. (Clicking through it in a browser: tests/console_browser.rs.)

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn pages_ask_for_the_token_and_a_session_shows_what_needs_a_person() {
    let mut daemon = ConsoleDaemon::start().await;
    let store = daemon.store.config.store_id;

    let answer = http().get(daemon.page("/attention")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    assert_eq!(
        answer.headers()["location"],
        format!("/login?next=%2Fstores%2F{store}%2Fattention").as_str()
    );
    assert!(
        sign_in(&daemon, "not-the-token-not-the-token")
            .await
            .is_none()
    );
    let refused = http()
        .post(daemon.url("/login"))
        .form(&[("token", "not-the-token-not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("not the console's token")
    );

    let answer = http()
        .post(daemon.url("/login"))
        .form(&[("token", TOKEN), ("next", "/")])
        .send()
        .await
        .unwrap();
    let set_cookie = answer.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let (status, overview) = get_page(&daemon.page("/"), &cookie).await;
    assert_eq!(status, 200, "{overview}");
    for shown in ["On time", "products", "Webhook intake", "Open conflicts: 1"] {
        assert!(overview.contains(shown), "{shown}: {overview}");
    }
    // The same version line as `--version` and `status`, with the build it came from.
    let version = format!("Version: {}", ecwid_sync::version::VERSION);
    assert!(overview.contains(&version), "{version}: {overview}");
    assert!(version.contains(" (commit ") || version.contains(" (built outside a git checkout)"));
    let (status, attention) = get_page(&daemon.page("/attention"), &cookie).await;
    assert_eq!(status, 200);
    assert!(
        attention.contains("Refused by Ecwid (1)")
            && attention.contains(&format!("product {}", daemon.gone))
            && attention.contains("Conflicts (1)")
            && attention.contains(&format!("product {}", daemon.contested)),
        "{attention}"
    );
    let (_, conflicts) = get_page(&daemon.page("/conflicts"), &cookie).await;
    assert!(
        conflicts.contains("Keep the mirror&#39;s value")
            || conflicts.contains("Keep the mirror's value"),
        "{conflicts}"
    );
    for page in ["/", "/attention", "/conflicts", "/webhooks"] {
        let (status, body) = get_page(&daemon.page(page), &cookie).await;
        assert_eq!(status, 200, "{page}");
        assert!(!body.contains(TOKEN), "{page} shows the token");
    }
    let (status, other) = get_page(&daemon.url("/stores/999/"), &cookie).await;
    assert_eq!(status, 404);
    assert!(
        other.contains(&format!("keeps no store 999; it keeps store {store}")),
        "{other}"
    );

    assert!(terminate(&mut daemon.child).await.success());
    let log = daemon.log.whole().await;
    assert!(
        log.contains("console: a sign-in with a wrong token was refused")
            && log.contains("console: an operator signed in"),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "the token is never logged: {log}");
}

#[tokio::test]
async fn an_action_without_a_session_from_another_site_or_without_the_form_token_is_refused() {
    let mut daemon = ConsoleDaemon::start().await;
    let cookie = sign_in(&daemon, TOKEN).await.unwrap();
    let (_, page) = get_page(&daemon.page("/attention"), &cookie).await;
    let token = form_token(&page);
    let resend = format!("resend:{}", change_of(&daemon, daemon.gone));
    let act = daemon.page("/act");
    let post = |cookie: Option<&str>, origin: Option<&str>, token: &str| {
        let mut request = http()
            .post(&act)
            .form(&[("one", resend.as_str()), ("form_token", token)]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };

    let without_session = post(None, None, &token).await.unwrap();
    assert_eq!(without_session.status().as_u16(), 401);
    let other_site = post(Some(&cookie), Some("http://shop.example"), &token)
        .await
        .unwrap();
    assert_eq!(other_site.status().as_u16(), 403);
    assert!(
        other_site
            .text()
            .await
            .unwrap()
            .contains("another origin (http://shop.example")
    );
    let no_form_token = post(Some(&cookie), None, "guessed").await.unwrap();
    assert_eq!(no_form_token.status().as_u16(), 403);
    assert_nothing_done(&daemon);

    let same_site = post(
        Some(&cookie),
        Some(&format!("http://{}", daemon.console)),
        &token,
    )
    .await
    .unwrap();
    assert_eq!(same_site.status().as_u16(), 303);
    assert_eq!(
        count(
            &daemon.db,
            "SELECT count(*) FROM operator_actions WHERE via = 'console'"
        ),
        1
    );
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn ticked_changes_are_settled_together_with_the_reason_recorded() {
    let mut daemon = ConsoleDaemon::start().await;
    let cookie = sign_in(&daemon, TOKEN).await.unwrap();
    let (_, page) = get_page(&daemon.page("/attention"), &cookie).await;
    let change = change_of(&daemon, daemon.gone).to_string();
    let conflict = count(&daemon.db, "SELECT id FROM conflicts WHERE state = 'open'").to_string();
    let form = |fields: Vec<(&str, &str)>| {
        let mut all = vec![
            ("form_token", form_token(&page)),
            (
                "back",
                format!("/stores/{}/attention", daemon.store.config.store_id),
            ),
        ];
        all.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        http()
            .post(daemon.page("/act"))
            .header("cookie", &cookie)
            .form(&all)
            .send()
    };

    // Dismissing needs a reason, as on the command line.
    let answer = form(vec![("action", "dismiss"), ("change", &change)])
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let (_, shown) = get_page(&daemon.page("/attention"), &cookie).await;
    assert!(shown.contains("Nothing done"), "{shown}");
    assert_eq!(
        count(
            &daemon.db,
            "SELECT count(*) FROM outbox WHERE state = 'failed'"
        ),
        1
    );

    form(vec![
        ("action", "dismiss"),
        ("change", &change),
        ("reason", "product retired in Ecwid"),
    ])
    .await
    .unwrap();
    form(vec![
        ("action", "take_local"),
        ("conflict", &conflict),
        ("reason", "our price list rules"),
    ])
    .await
    .unwrap();

    let rows = query(
        &open(&daemon.db),
        "SELECT via, reason FROM operator_actions ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![
            json!(["console", "product retired in Ecwid"]),
            json!(["console", "our price list rules"])
        ]
    );
    assert_eq!(
        query(
            &open(&daemon.db),
            &format!("SELECT state, dismiss_reason FROM outbox WHERE id = {change}")
        ),
        vec![json!(["dismissed", "product retired in Ecwid"])]
    );
    let contested = daemon.contested;
    let store = &daemon.store;
    let pushed = wait_until(Duration::from_secs(20), || async {
        product_price(store, contested).await == json!(11.0)
    })
    .await;
    assert!(
        pushed,
        "the mirror's price reaches Ecwid: {}",
        daemon.log.text()
    );
    let (_, after) = get_page(&daemon.page("/attention"), &cookie).await;
    assert!(after.contains("Nothing needs a person"), "{after}");
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn find_tells_a_products_whole_story_by_sku_or_id_and_an_orders_by_its_public_id() {
    let mut daemon = ConsoleDaemon::start().await;
    let cookie = sign_in(&daemon, TOKEN).await.unwrap();
    let contested = daemon.contested;
    let sku = query(
        &open(&daemon.db),
        &format!("SELECT sku FROM products WHERE id = {contested}"),
    )[0][0]
        .as_str()
        .unwrap()
        .to_string();
    for q in [sku.clone(), sku.to_lowercase(), contested.to_string()] {
        let (status, page) = get_page(&daemon.page(&format!("/find?q={q}")), &cookie).await;
        assert_eq!(status, 200);
        // The row, the change held in conflict and the conflict itself.
        assert!(
            page.contains(&format!("product {contested}"))
                && page.contains(&sku)
                && page.contains("price = ")
                && page.contains("manual"),
            "{q}: {page}"
        );
    }
    let (public_id, number) = {
        let row = &query(
            &open(&daemon.db),
            "SELECT id, order_number FROM orders WHERE id IS NOT NULL LIMIT 1",
        )[0];
        (
            row[0].as_str().unwrap().to_string(),
            row[1].as_i64().unwrap(),
        )
    };
    let (_, page) = get_page(&daemon.page(&format!("/find?q={public_id}")), &cookie).await;
    assert!(
        page.contains(&format!("order {public_id}")) && page.contains("Items ("),
        "{page}"
    );
    let (_, page) = get_page(
        &daemon.page(&format!("/find?kind=order&order={number}")),
        &cookie,
    )
    .await;
    assert!(page.contains(&format!("order {public_id}")), "{page}");
    let (_, page) = get_page(&daemon.page("/find?q=no-such-thing"), &cookie).await;
    assert!(page.contains("Nothing in the mirror matches"), "{page}");
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn find_shows_a_category_by_its_id_or_its_name() {
    let mut daemon = ConsoleDaemon::start().await;
    let cookie = sign_in(&daemon, TOKEN).await.unwrap();
    let row = &query(
        &open(&daemon.db),
        "SELECT id, name FROM categories WHERE name IS NOT NULL ORDER BY id LIMIT 1",
    )[0];
    let (id, name) = (
        row[0].as_i64().unwrap(),
        row[1].as_str().unwrap().to_string(),
    );
    let by_name = name.to_uppercase().replace(' ', "+");
    for q in [id.to_string(), by_name] {
        let (status, page) = get_page(&daemon.page(&format!("/find?q={q}")), &cookie).await;
        assert_eq!(status, 200);
        assert!(
            page.contains(&format!("category {id}")) && page.contains(&name),
            "{q}: {page}"
        );
    }
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn the_console_is_not_served_on_the_webhook_listener() {
    let mut daemon = ConsoleDaemon::start().await;
    let answer = reqwest::get(format!("http://{}/login", daemon.listen))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    let answer = reqwest::get(format!(
        "http://{}/stores/{}/",
        daemon.listen, daemon.store.config.store_id
    ))
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn a_console_open_to_the_network_without_a_token_is_refused_at_start() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = scratch.path("c.toml");
    let text = config_text(&store, &db, &store.config.token, "").replace(
        "[console]\nlisten = \"127.0.0.1:0\"",
        "[console]\nlisten = \"0.0.0.0:0\"",
    );
    std::fs::write(&config, text).unwrap();
    let mut child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut child);
    let status = child.wait().await.unwrap();
    let log = log.whole().await;
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.contains("console.listen: 0.0.0.0:0 is not a loopback address")
            && log.contains("console.token_file"),
        "{log}"
    );
    assert!(!db.exists(), "nothing was created");
}

/// The outbox change of `product`'s stock.
fn change_of(daemon: &ConsoleDaemon, product: i64) -> i64 {
    count(
        &daemon.db,
        &format!("SELECT id FROM outbox WHERE product_id = {product} AND field = 'quantity'"),
    )
}

async fn product_price(store: &TestStore, id: i64) -> serde_json::Value {
    store.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["price"].clone())
        .unwrap_or_default()
}
