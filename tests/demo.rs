//! `ecwid-sync demo` as a newcomer runs it: the commands it prints, pasted into a shell,
//! change the emulated store through the demo's daemon, and the store's sales reach the
//! mirror by webhook.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::console;
use common::*;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// The demo running in its own process, past its first pull, with what it printed.
struct Demo {
    _scratch: Scratch,
    db: PathBuf,
    child: tokio::process::Child,
    log: StderrLog,
    tour: String,
}

impl Demo {
    async fn start() -> Demo {
        for (tool, package) in [("sqlite3", "sqlite3"), ("curl", "curl")] {
            let found = std::process::Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
            assert!(
                found,
                "the demo's printed commands need `{tool}`, which is not installed: install the package {package} (apt-get install {package})"
            );
        }
        let scratch = Scratch::new();
        let db = scratch.path("demo.db");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
            .args(["demo", "--products", "30", "--db", db.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the demo");
        let log = StderrLog::collect(&mut child);
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut tour = String::new();
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                tour.push_str(&line);
                tour.push('\n');
                if line.contains("Press Ctrl-C to stop.") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(read, Ok(true)),
            "the demo prints what to try: {tour}\n{}",
            log.text()
        );
        Demo {
            _scratch: scratch,
            db,
            child,
            log,
            tour,
        }
    }

    /// The emulated store's id, from the printed curl command's address.
    fn store_id(&self) -> String {
        let curl = self.command("curl");
        let url = curl.rsplit(' ').next().unwrap().trim_matches('\'');
        url.split("/api/v3/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    }

    /// The printed command that starts with `program`, as printed.
    fn command(&self, program: &str) -> String {
        self.tour
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{program} ")))
            .unwrap_or_else(|| panic!("the demo prints a {program} command: {}", self.tour))
            .to_string()
    }

    /// Runs a printed command through the shell, as a newcomer pasting it would.
    async fn paste(&self, command: &str) -> String {
        let out = tokio::process::Command::new("sh")
            .args(["-c", command])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The product the printed curl command changes, read from the emulated store's API at
    /// the address and with the token that command names.
    async fn store_product(&self) -> Value {
        let curl = self.command("curl");
        let url = curl.rsplit(' ').next().unwrap();
        let token = curl
            .split("Bearer ")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a bearer token");
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        let status = terminate(&mut self.child).await;
        assert_eq!(status.code(), Some(0), "{}", self.log.text());
    }
}

/// Whether two prices are the same amount.
fn same_price(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 0.005)
}

#[tokio::test]
async fn the_printed_mirror_change_reaches_the_emulated_store_within_seconds() {
    let demo = Demo::start().await;
    let before = demo.store_product().await;
    let (quantity, price) = (
        before["quantity"].as_i64().unwrap(),
        before["price"].as_f64().unwrap(),
    );

    demo.paste(&demo.command("sqlite3 -cmd")).await;

    assert!(
        wait_until(Duration::from_secs(10), || async {
            let now = demo.store_product().await;
            now["quantity"].as_i64() == Some(quantity + 5) && same_price(&now["price"], price + 1.0)
        })
        .await,
        "the store has the new stock and price: {}\n{}",
        demo.store_product().await,
        demo.log.text()
    );
    let id = before["id"].as_i64().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(
                &demo.db,
                &format!(
                    "SELECT count(*) FROM outbox WHERE product_id = {id} AND state = 'applied'"
                ),
            ) == 2
                && count(
                    &demo.db,
                    &format!(
                        "SELECT count(*) FROM outbox WHERE product_id = {id} AND state <> 'applied'"
                    ),
                ) == 0
        })
        .await,
        "the stock and the price change are applied: {:?}",
        query(&open(&demo.db), "SELECT field, delta, state FROM outbox")
    );
    demo.stop().await;
}

#[tokio::test]
async fn the_printed_store_change_then_mirror_change_make_a_conflict_held_for_the_operator() {
    let demo = Demo::start().await;
    let id = demo.store_product().await["id"].as_i64().unwrap();

    demo.paste(&demo.command("curl")).await;
    demo.paste(&demo.command("sqlite3 -cmd")).await;

    let conflicts = || async {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
            .args(["conflicts", "list", "--json", "--mirror"])
            .arg(&demo.db)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert!(
        wait_until(Duration::from_secs(10), || async {
            conflicts().await.as_array().unwrap().iter().any(|c| {
                c["product_id"] == id
                    && c["field"] == "price"
                    && c["state"] == "open"
                    && c["policy"] == "manual"
            })
        })
        .await,
        "conflicts list shows the open price conflict: {}\n{}",
        conflicts().await,
        demo.log.text()
    );

    // The printed link signs in once; the console shows the conflict and settles it.
    let link = demo
        .tour
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http://") && l.contains("/login/once/"))
        .unwrap_or_else(|| panic!("the demo prints a sign-in link: {}", demo.tour))
        .to_string();
    let answer = console::http().get(&link).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let again = console::http().get(&link).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 401, "the link works once");
    let origin = link.split("/login").next().unwrap().to_string();
    let (status, home) = console::get_page(&format!("{origin}/"), &cookie).await;
    assert_eq!(status, 303, "{home}");
    let store_id = demo.store_id();
    let attention = format!("{origin}/stores/{store_id}/attention");
    let (_, page) = console::get_page(&attention, &cookie).await;
    assert!(page.contains("Conflicts (1)"), "{page}");
    let conflict = conflicts().await[0]["id"].as_i64().unwrap();
    // While held, the mirror shows Ecwid's price; the conflict keeps the mirror's own.
    let local = conflicts().await[0]["local"].clone();
    assert_ne!(demo.store_product().await["price"], local);
    let settled = console::http()
        .post(format!("{origin}/stores/{store_id}/act"))
        .header("cookie", &cookie)
        .form(&[
            ("form_token", console::form_token(&page)),
            ("one", format!("take_local:{conflict}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(settled.status().as_u16(), 303);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            demo.store_product().await["price"] == local
        })
        .await,
        "the mirror's price {local} reaches the store: {}",
        demo.log.text()
    );
    demo.stop().await;
}

#[tokio::test]
async fn a_storefront_sale_reaches_the_demo_mirror_by_webhook() {
    let demo = Demo::start().await;

    assert!(
        wait_until(Duration::from_secs(40), || async {
            count(
                &demo.db,
                "SELECT count(*) FROM webhook_events WHERE event_type = 'order.created' AND state = 'applied'",
            ) >= 1
        })
        .await,
        "{}",
        demo.log.text()
    );
    demo.stop().await;
}
