//! `ecwid-sync run` with its console, over a mirror where a person has things to decide: a
//! change Ecwid refused (its product was deleted in Ecwid) and a price conflict held for
//! the operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ecwid_sync::commands::push_once;
use ecwid_sync::config::Policy;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::stock::{store_stock, tool_change};
use super::*;

pub const TOKEN: &str = "console-test-token-0123456789";

pub struct ConsoleDaemon {
    pub store: TestStore,
    pub _scratch: Scratch,
    pub db: PathBuf,
    pub config: PathBuf,
    /// The console's address.
    pub console: SocketAddr,
    /// The webhook listener's.
    pub listen: SocketAddr,
    pub child: tokio::process::Child,
    pub log: StderrLog,
    /// The product whose stock change Ecwid refused (deleted in Ecwid).
    pub gone: i64,
    /// The product whose price is in conflict: 11 in the mirror, 12 in Ecwid.
    pub contested: i64,
}

impl ConsoleDaemon {
    pub async fn start() -> ConsoleDaemon {
        let (store, scratch, db, mut config) = mirrored(TestStore::small()).await;
        let stock = store_stock(&store.state().await);
        let gone = stock
            .keys()
            .find(|(_, variation)| variation.is_none())
            .expect("a product with stock of its own")
            .0;
        let contested = store.state().await["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .find(|&id| id != gone)
            .unwrap();
        tool_change(&db, (gone, None), 3);
        store.admin_delete_product(gone).await;
        open(&db)
            .execute("UPDATE products SET price = 11 WHERE id = ?1", [contested])
            .unwrap();
        store
            .admin_edit_product(contested, json!({"price": 12.0}))
            .await;
        config.conflicts.price = Policy::Manual;
        let summary = push_once(&config, CancellationToken::new()).await.unwrap();
        assert_eq!((summary.failed, summary.conflicts), (1, 1), "{summary:?}");

        ConsoleDaemon::serve(store, scratch, db, "price = \"manual\"", gone, contested).await
    }

    /// `ecwid-sync run` with its console over the mirror `db` of `store`, with `conflicts`
    /// (lines of the `[conflicts]` table); `gone` and `contested` name what the test staged.
    pub async fn serve(
        store: TestStore,
        scratch: Scratch,
        db: PathBuf,
        conflicts: &str,
        gone: i64,
        contested: i64,
    ) -> ConsoleDaemon {
        let console = free_local_addr();
        let listen = free_local_addr();
        let token_file = scratch.path("console-token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let text = webhook_config_text(&store, &db, listen, "").replace(
            "[console]\nlisten = \"127.0.0.1:0\"",
            &format!(
                "[console]\nlisten = \"{console}\"\ntoken_file = \"{}\"",
                token_file.display()
            ),
        ) + &format!("\n[conflicts]\n{conflicts}\n");
        let config = scratch.path("daemon.toml");
        std::fs::write(&config, text).unwrap();
        let mut child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
        let log = StderrLog::collect(&mut child);
        let answers = wait_until(Duration::from_secs(30), || async {
            reqwest::get(format!("http://{console}/login"))
                .await
                .is_ok()
        })
        .await;
        assert!(answers, "the console answers: {}", log.text());
        ConsoleDaemon {
            store,
            _scratch: scratch,
            db,
            config,
            console,
            listen,
            child,
            log,
            gone,
            contested,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.console)
    }

    /// The store's page `path` (`/`, `/attention`, ...).
    pub fn page(&self, path: &str) -> String {
        self.url(&format!("/stores/{}{path}", self.store.config.store_id))
    }
}

/// An HTTP client that follows no redirects, so tests see each answer.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `token`; the session cookie (`name=value`) on success.
pub async fn sign_in(daemon: &ConsoleDaemon, token: &str) -> Option<String> {
    sign_in_at(daemon.console, token).await
}

/// Signs in to the console at `console` with `token`; the session cookie on success.
pub async fn sign_in_at(console: SocketAddr, token: &str) -> Option<String> {
    let answer = http()
        .post(format!("http://{console}/login"))
        .form(&[("token", token), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = answer
        .headers()
        .get("set-cookie")?
        .to_str()
        .ok()?
        .to_string();
    Some(cookie.split(';').next().unwrap().to_string())
}

/// The page at `url` as a signed-in browser gets it: (status, body).
pub async fn get_page(url: &str, cookie: &str) -> (u16, String) {
    let answer = http()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// The form token in a page's forms.
pub fn form_token(page: &str) -> String {
    let at = page
        .find("name=\"form_token\" value=\"")
        .expect("a form token in the page")
        + "name=\"form_token\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

/// Asserts that no action reached the mirror: the refused change is still failed, and no
/// operator action is recorded.
pub fn assert_nothing_done(daemon: &ConsoleDaemon) {
    assert_eq!(
        count(
            &daemon.db,
            "SELECT count(*) FROM outbox WHERE state = 'failed'"
        ),
        1,
        "nothing was re-sent"
    );
    assert_eq!(
        count(&daemon.db, "SELECT count(*) FROM operator_actions"),
        0
    );
}
