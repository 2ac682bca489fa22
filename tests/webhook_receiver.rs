//! The webhook receiver inside `ecwid-sync run`: the emulator's real signed webhooks, forged
//! and broken deliveries sent directly, the health endpoints and the metrics.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A running daemon with its store, its mirror and its listener's base URL.
struct Daemon {
    store: TestStore,
    _scratch: Scratch,
    db: PathBuf,
    base: String,
    log: StderrLog,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl Daemon {
    /// Starts `ecwid-sync run` on a free port, with the store's client secret when
    /// `webhooks` is set, and waits until it answers `/healthz`.
    async fn start(webhooks: bool) -> Daemon {
        Daemon::start_with(webhooks, "").await
    }

    /// [`Daemon::start`] with `sync_extra` added to `[sync]`.
    async fn start_with(webhooks: bool, sync_extra: &str) -> Daemon {
        let store = TestStore::start(TestStore::small()).await;
        let scratch = Scratch::new();
        let db = scratch.path("mirror.db");
        let listen = free_local_addr();
        let mut text = webhook_config_text(&store, &db, listen, sync_extra);
        if !webhooks {
            text = text.replace("client_secret = ", "# client_secret = ");
        }
        let config = db.with_extension("toml");
        std::fs::write(&config, text).unwrap();
        let mut child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
        let log = StderrLog::collect(&mut child);
        let daemon = Daemon {
            store,
            _scratch: scratch,
            db,
            base: format!("http://{listen}"),
            log,
            _child: child,
            http: reqwest::Client::new(),
        };
        let up = wait_until(WAIT, || async {
            daemon.get("/healthz").await.is_some_and(|(s, _)| s == 200)
        })
        .await;
        assert!(up, "/healthz never answered 200:\n{}", daemon.log.text());
        daemon
    }

    fn hook_url(&self) -> String {
        format!("{}/webhooks/ecwid", self.base)
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// Posts `body` to the webhook path with `signature` (none when `None`); the status.
    async fn deliver(&self, body: impl Into<reqwest::Body>, signature: Option<&str>) -> u16 {
        let url = format!("{}?eventtype=product.updated", self.hook_url());
        post_webhook(&self.http, &url, body, signature).await
    }

    /// Posts `event` signed with `secret`, as Ecwid would.
    async fn deliver_signed(&self, event: &Value, secret: &str) -> u16 {
        let signature = signature_of(event, secret);
        self.deliver(event.to_string(), Some(&signature)).await
    }

    fn secret(&self) -> &str {
        &self.store.config.client_secret
    }

    fn events(&self, filter: &str) -> i64 {
        count(
            &self.db,
            &format!("SELECT count(*) FROM webhook_events WHERE {filter}"),
        )
    }

    /// `/metrics`, parsed as Prometheus text: value by metric name with its labels sorted,
    /// e.g. `ecwid_sync_webhooks_rejected_total{reason="wrong_store"}`.
    async fn metrics(&self) -> HashMap<String, f64> {
        let (status, text) = self.get("/metrics").await.expect("/metrics answers");
        assert_eq!(status, 200, "{text}");
        parse_metrics(&text)
    }
}

fn rejected(metrics: &HashMap<String, f64>, reason: &str) -> f64 {
    metrics[&format!("ecwid_sync_webhooks_rejected_total{{reason=\"{reason}\"}}")]
}

#[tokio::test]
async fn the_stores_signed_webhooks_for_sales_and_edits_are_stored_applied_to_the_mirror_and_other_types_ignored()
 {
    // The start's pass, then no scheduled pull for a year: only webhooks can bring changes.
    let daemon = Daemon::start_with(true, "incremental_cron = \"0 0 0 1 1 *\"").await;
    let store = &daemon.store;
    assert!(
        wait_until(WAIT, || async {
            count(
                &daemon.db,
                "SELECT count(*) FROM sync_state WHERE last_full_finished IS NOT NULL",
            ) == 4
        })
        .await
    );
    store.set_webhooks(json!({"url": daemon.hook_url()})).await;
    let state = store.state().await;
    let products = state["products"].as_array().unwrap();
    let in_stock = |p: &&Value| p["unlimited"] == true || p["quantity"].as_i64() > Some(0);
    let sold = products.iter().find(in_stock).unwrap()["id"]
        .as_i64()
        .unwrap();
    let edited = products.iter().rev().find(in_stock).unwrap()["id"]
        .as_i64()
        .unwrap();

    let order = store.sale(sold, None, 1).await;
    store
        .admin_edit_product(edited, json!({"name": "Renamed while webhooks flow"}))
        .await;
    store
        .send_webhook(json!({"eventType": "review.created"}))
        .await;

    let (internal, public) = (
        order["id"].as_i64().unwrap(),
        order["orderId"].as_str().unwrap(),
    );
    let order_row = format!(
        "event_type = 'order.created' AND kind = 'orders' AND entity_key = {internal}
         AND order_id = '{public}' AND state IN ('pending', 'applied', 'echo')"
    );
    let sold_row = format!(
        "event_type = 'product.updated' AND entity_key = {sold} AND state IN ('pending', 'applied', 'echo')"
    );
    let edited_row = format!(
        "event_type = 'product.updated' AND kind = 'products' AND entity_key = {edited} AND state IN ('pending', 'applied', 'echo')"
    );
    let review_row = "event_type = 'review.created' AND state = 'ignored' AND kind IS NULL";
    let stored = wait_until(WAIT, || async {
        [&order_row, &sold_row, &edited_row, review_row]
            .iter()
            .all(|f| daemon.events(f) == 1)
    })
    .await;
    assert!(
        stored,
        "not every webhook reached the inbox; rows: {:?}\n{}",
        query(
            &open(&daemon.db),
            "SELECT event_type, kind, entity_key, order_id, state FROM webhook_events"
        ),
        daemon.log.text()
    );

    // Every delivery got its 200 (the store retries anything else), and the counters agree
    // with the inbox.
    let all_delivered = wait_until(WAIT, || async {
        let webhooks = &store.stats().await["webhooks"];
        webhooks["delivered"] == webhooks["sent"] && webhooks["failed"] == 0
    })
    .await;
    assert!(all_delivered, "{}", store.stats().await["webhooks"]);
    let sent = store.stats().await["webhooks"]["sent"].as_f64().unwrap();
    let metrics = daemon.metrics().await;
    assert_eq!(metrics["ecwid_sync_webhooks_received_total"], sent);
    assert_eq!(daemon.events("1 = 1") as f64, sent);
    assert_eq!(metrics["ecwid_sync_webhooks_ignored_total"], 1.0);
    assert_eq!(metrics["ecwid_sync_webhooks_duplicate_total"], 0.0);
    assert!(metrics["ecwid_sync_webhook_inbox_commit_seconds_count"] >= 1.0);

    // The delta worker reads what the events name and the mirror follows the store.
    let stock = |id: i64| {
        count(
            &daemon.db,
            &format!("SELECT coalesce(sum(quantity), -1) FROM products WHERE id = {id}"),
        )
    };
    let applied = wait_until(WAIT, || async {
        let state = store.state().await;
        let product = |id: i64| {
            state["products"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id)
                .unwrap()
                .clone()
        };
        let sold_ok = product(sold)["quantity"]
            .as_i64()
            .is_none_or(|q| stock(sold) == q);
        let renamed = format!(
            "SELECT count(*) FROM products WHERE id = {edited} AND name = 'Renamed while webhooks flow'"
        );
        sold_ok
            && count(&daemon.db, &renamed) == 1
            && count(&daemon.db, &format!("SELECT count(*) FROM orders WHERE order_number = {internal}")) == 1
            && daemon.events("state = 'pending'") == 0
    })
    .await;
    assert!(applied, "{}", daemon.log.text());
    assert_eq!(
        store.request_count("GET /latest-stats").await,
        1,
        "only the start's pass ran"
    );
    let metrics = daemon.metrics().await;
    assert!(
        metrics["ecwid_sync_webhook_events_applied_total"]
            + metrics["ecwid_sync_webhook_events_echo_total"]
            >= 3.0,
        "{metrics:?}"
    );
    assert_eq!(metrics["ecwid_sync_webhook_events_pending"], 0.0);
}

#[tokio::test]
async fn forged_foreign_oversized_and_malformed_deliveries_get_their_answer_store_nothing_and_the_daemon_keeps_serving()
 {
    let daemon = Daemon::start(true).await;
    let secret = daemon.secret().to_string();
    let event = product_event("e-forged", 101);
    let good =
        ecwid_emulator::signature(&secret, event["eventCreated"].as_i64().unwrap(), "e-forged");

    // A signature of another event, one of this event under another secret, none at all.
    let other =
        ecwid_emulator::signature(&secret, event["eventCreated"].as_i64().unwrap(), "e-other");
    assert_eq!(daemon.deliver(event.to_string(), Some(&other)).await, 401);
    assert_eq!(
        daemon.deliver_signed(&event, "not_the_client_secret").await,
        401
    );
    assert_eq!(daemon.deliver(event.to_string(), None).await, 401);
    // Correctly signed, for another store.
    let mut foreign = event.clone();
    foreign["storeId"] = json!(2004);
    assert_eq!(daemon.deliver_signed(&foreign, &secret).await, 401);
    // 70 KiB, signed: too large before anything else.
    let mut large = event.clone();
    large["data"] = json!({"padding": "x".repeat(70 * 1024)});
    assert_eq!(daemon.deliver_signed(&large, &secret).await, 413);
    // Not JSON; and signed but without the product it announces.
    assert_eq!(daemon.deliver("{\"eventId\": ", Some(&good)).await, 400);
    let mut without_entity = event.clone();
    without_entity.as_object_mut().unwrap().remove("entityId");
    assert_eq!(daemon.deliver_signed(&without_entity, &secret).await, 400);

    assert_eq!(daemon.events("1 = 1"), 0, "a refused delivery was stored");
    // Still serving: the genuine event is stored.
    assert_eq!(daemon.deliver(event.to_string(), Some(&good)).await, 200);
    assert_eq!(
        daemon.events("event_id = 'e-forged' AND state = 'pending'"),
        1
    );

    let metrics = daemon.metrics().await;
    assert_eq!(rejected(&metrics, "bad_signature"), 2.0);
    assert_eq!(rejected(&metrics, "missing_signature"), 1.0);
    assert_eq!(rejected(&metrics, "wrong_store"), 1.0);
    assert_eq!(rejected(&metrics, "too_large"), 1.0);
    assert_eq!(rejected(&metrics, "malformed"), 2.0);
    assert_eq!(rejected(&metrics, "unavailable"), 0.0);
    assert_eq!(metrics["ecwid_sync_webhooks_received_total"], 1.0);

    // One warning for the first refusal of each of the five reasons, naming who sent it
    // (the second bad signature and malformed body wait for the minute's summary line);
    // never the secret or a signature.
    let refused = || daemon.log.text().matches("webhook refused").count();
    assert!(
        wait_until(WAIT, || async { refused() == 5 }).await,
        "{}",
        daemon.log.text()
    );
    let log = daemon.log.text();
    assert!(log.contains("remote=127.0.0.1:"), "{log}");
    assert!(log.contains("reason=\"wrong_store\""), "{log}");
    // A bad signature is refused once the store is known, and its line names the store.
    let bad_signature = log
        .lines()
        .find(|line| line.contains("reason=\"bad_signature\""))
        .unwrap_or_default();
    assert!(bad_signature.contains("store=\"default\""), "{log}");
    for leak in [secret.as_str(), good.as_str(), other.as_str()] {
        assert!(!log.contains(leak), "the log shows {leak}");
    }
}

#[tokio::test]
async fn an_event_delivered_five_times_is_stored_once_and_old_events_are_acknowledged_but_not_applied()
 {
    let daemon = Daemon::start(true).await;
    let secret = daemon.secret().to_string();
    // A numeric eventId and a string entityId, as some deliveries have.
    let mut event = product_event("x", 0);
    event["eventId"] = json!(987654321);
    event["entityId"] = json!("202");
    // At once, so that copies share a commit as well as follow one another.
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (http, url) = (daemon.http.clone(), daemon.hook_url());
        let body = event.to_string();
        let signature = ecwid_emulator::signature(
            &secret,
            event["eventCreated"].as_i64().unwrap(),
            "987654321",
        );
        deliveries.spawn(async move {
            let response = http
                .post(url)
                .header("X-Ecwid-Webhook-Signature", signature)
                .body(body)
                .send()
                .await;
            response.expect("the daemon answers").status().as_u16()
        });
    }
    assert_eq!(deliveries.join_all().await, vec![200; 5]);
    // Stored once, whatever the delta worker has made of it by now.
    assert_eq!(
        daemon.events("event_id = '987654321' AND entity_key = 202"),
        1
    );

    let mut old = product_event("e-old", 303);
    old["eventCreated"] = json!(ecwid_sync::mirror::unix_now() - 172_800 - 60);
    assert_eq!(daemon.deliver_signed(&old, &secret).await, 200);
    assert_eq!(daemon.events("event_id = 'e-old' AND state = 'too_old'"), 1);
    assert!(
        wait_until(WAIT, || async {
            daemon
                .log
                .contains("older than webhooks.max_event_age_secs")
        })
        .await
    );

    let metrics = daemon.metrics().await;
    assert_eq!(metrics["ecwid_sync_webhooks_received_total"], 6.0);
    assert_eq!(metrics["ecwid_sync_webhooks_duplicate_total"], 4.0);
    assert_eq!(metrics["ecwid_sync_webhooks_too_old_total"], 1.0);
    assert_eq!(daemon.events("1 = 1"), 2);
}

#[tokio::test]
async fn health_and_readiness_answer_and_without_a_client_secret_only_webhooks_are_off() {
    let daemon = Daemon::start(false).await;
    let (status, body) = daemon.get("/healthz").await.unwrap();
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, &health["mirror_writable"]),
        (200, &json!(true)),
        "{body}"
    );
    let ready = wait_until(WAIT, || async {
        daemon.get("/readyz").await.is_some_and(|(s, _)| s == 200)
    })
    .await;
    let (_, body) = daemon.get("/readyz").await.unwrap();
    assert!(ready, "{body}");
    let readiness: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readiness["migrated"], true, "{body}");
    assert_eq!(readiness["schedules_running"], true, "{body}");

    let event = product_event("e-1", 5);
    let signature = ecwid_emulator::signature(
        daemon.secret(),
        event["eventCreated"].as_i64().unwrap(),
        "e-1",
    );
    assert_eq!(
        daemon.deliver(event.to_string(), Some(&signature)).await,
        404
    );
    assert!(
        daemon.log.contains("webhooks are off"),
        "{}",
        daemon.log.text()
    );
    assert_eq!(
        daemon.metrics().await["ecwid_sync_webhooks_received_total"],
        0.0
    );
}

#[tokio::test]
async fn a_listen_address_in_use_stops_the_daemon_with_exit_code_2_naming_the_key() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = db.with_extension("toml");
    let text = webhook_config_text(&store, &db, taken.local_addr().unwrap(), "");
    std::fs::write(&config, text).unwrap();
    let child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("exits at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("(webhooks.listen)"), "{stderr}");
}

#[tokio::test]
async fn metrics_count_the_requests_the_store_saw_and_each_kinds_pulls() {
    let daemon = Daemon::start(false).await;
    assert!(
        wait_until(WAIT, || async {
            daemon
                .metrics()
                .await
                .contains_key("ecwid_sync_pull_last_success_timestamp_seconds{kind=\"orders\"}")
        })
        .await,
        "{}",
        daemon.log.text()
    );
    // The store's own count and ours agree (read until no pass runs between the two reads).
    let agree = wait_until(WAIT, || async {
        let store = daemon.store.request_count("GET /products").await as f64;
        let ours = daemon.metrics().await;
        let listed = ours
            .get("ecwid_sync_api_requests_total{endpoint=\"/products\",method=\"GET\",status=\"200\"}")
            .copied()
            .unwrap_or(-1.0);
        store > 0.0 && listed == store
    })
    .await;
    let metrics = daemon.metrics().await;
    assert!(agree, "{metrics:?}");
    assert_eq!(
        metrics["ecwid_sync_entities_applied_total{kind=\"products\",source=\"pull\"}"],
        230.0
    );
    assert!(metrics["ecwid_sync_pull_duration_seconds{kind=\"products\",mode=\"full\"}"] >= 1.0);
    assert_eq!(metrics["ecwid_sync_api_throttled_total"], 0.0);
    assert_eq!(
        metrics["ecwid_sync_pull_failures_total{kind=\"products\"}"],
        0.0
    );
}
