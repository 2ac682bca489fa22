//! Two-way stock in the daemon: a tool's change reaches the store on its own, the echoes
//! of our own writes change nothing, and a batch Ecwid never answered is settled safely
//! once Ecwid may have forgotten its key.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::stock::*;
use common::*;
use ecwid_emulator::EmulatorConfig;
use ecwid_sync::commands::push_once;
use ecwid_sync::config::Config;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn open_changes(db: &Path) -> i64 {
    count(
        db,
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
    )
}

#[tokio::test]
async fn the_daemon_pushes_a_tools_change_and_the_echo_webhooks_cause_no_further_writes() {
    let store = TestStore::start(TestStore::small()).await;
    let WebhookDaemon {
        _scratch,
        db,
        listen,
        child: mut daemon,
        log,
    } = WebhookDaemon::start(&store).await;
    let before = store_stock(&store.state().await);
    let product = *before.keys().find(|e| e.1.is_none()).unwrap();
    let variation = *before.keys().find(|e| e.1.is_some()).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(
                &db,
                "SELECT count(*) FROM webhook_events WHERE state = 'pending'",
            ) == 0
        })
        .await
    );
    let events_before = count(&db, "SELECT count(*) FROM webhook_events");
    store.reset_stats().await;

    // A tool records two sales at the counter, one UPDATE each, and a delivery of five of a
    // variation, in one transaction: the pusher meets the three changes together however
    // busy the machine is (separate commits could straddle one of its looks).
    {
        let mut conn = open(&db);
        let tx = conn.transaction().unwrap();
        for _ in 0..2 {
            tx.execute(
                "UPDATE products SET quantity = quantity - 1 WHERE id = ?1",
                [product.0],
            )
            .unwrap();
        }
        tx.execute(
            "UPDATE product_variations SET quantity = quantity + 5 WHERE id = ?1",
            [variation.1.unwrap()],
        )
        .unwrap();
        tx.commit().unwrap();
    }

    let mut expected = before.clone();
    *expected.get_mut(&product).unwrap() -= 2;
    *expected.get_mut(&variation).unwrap() += 5;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            store_stock(&store.state().await) == expected
        })
        .await,
        "the store holds both changes: {}",
        log.text()
    );
    // The echoes of the write arrive and are read; they find the mirror already up to date.
    assert!(
        wait_until(Duration::from_secs(10), || async {
            open_changes(&db) == 0
                && count(&db, "SELECT count(*) FROM webhook_events") > events_before
                && count(
                    &db,
                    "SELECT count(*) FROM webhook_events WHERE state = 'pending'",
                ) == 0
        })
        .await,
        "the echoes are processed"
    );
    assert_eq!(
        query(&open(&db), "SELECT delta, state FROM outbox ORDER BY id"),
        vec![
            json!([-1, "applied"]),
            json!([-1, "applied"]),
            json!([5, "applied"]),
        ],
        "the echoes added nothing to the outbox"
    );
    assert_eq!(mirror_stock(&db, product), Some(expected[&product]));
    assert_eq!(mirror_stock(&db, variation), Some(expected[&variation]));
    let stats = store.stats().await;
    assert_eq!(
        stats["requests"]["POST /batch"], 1,
        "one batch for both: {stats}"
    );
    let writes: Vec<&String> = stats["requests"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with("GET "))
        .filter(|k| k.as_str() != "POST /batch")
        .collect();
    assert!(writes.is_empty(), "no other write: {stats}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM webhook_events WHERE state = 'applied'"
        ),
        0,
        "every echo found the mirror as it was: {}",
        log.text()
    );
    let metrics = scrape_metrics(listen).await;
    let metric = |name: &str| metrics.get(name).copied().unwrap_or(f64::NAN);
    assert_eq!(metric("ecwid_sync_push_batches_total"), 1.0, "{metrics:?}");
    assert_eq!(
        metric("ecwid_sync_push_changes_total{outcome=\"applied\"}"),
        2.0,
        "a product and a variation"
    );
    assert_eq!(metric("ecwid_sync_outbox_changes{state=\"pending\"}"), 0.0);
    assert_eq!(
        metric("ecwid_sync_outbox_changes{state=\"uncertain\"}"),
        0.0
    );
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

/// A store that forgets batch keys after two seconds, a mirror that knows it, and a change
/// of +4 to `entity` sent in a batch that `fault` (a fault setting at rate 1 for `/batch`)
/// left without an answer.
struct Unanswered {
    store: TestStore,
    _scratch: Scratch,
    db: PathBuf,
    config: Config,
    entity: (i64, Option<i64>),
    before: i64,
}

impl Unanswered {
    async fn new(fault: &str) -> Unanswered {
        let (store, scratch, db, mut config) = mirrored(EmulatorConfig {
            batch_dedup_secs: 2,
            ..TestStore::small()
        })
        .await;
        config.push.key_lifetime = Duration::from_secs(2);
        config.ecwid.max_retries = 1;
        let state = store.state().await;
        let stock = store_stock(&state);
        // The storefront sells it later: a stock a sale takes from.
        let (&entity, &before) = stock
            .iter()
            .find(|(e, _)| sold_by_storefront(&state, **e))
            .unwrap();
        tool_change(&db, entity, 4);
        store
            .set_faults(json!({fault: 1.0, "path_contains": "/batch"}))
            .await;
        assert!(push_once(&config, CancellationToken::new()).await.is_err());
        Unanswered {
            store,
            _scratch: scratch,
            db,
            config,
            entity,
            before,
        }
    }

    async fn store_quantity(&self) -> i64 {
        store_stock(&self.store.state().await)[&self.entity]
    }

    /// Runs passes until the change is uncertain.
    async fn until_uncertain(&self) {
        assert!(
            wait_until(Duration::from_secs(15), || async {
                let _ = push_once(&self.config, CancellationToken::new()).await;
                count(
                    &self.db,
                    "SELECT count(*) FROM outbox WHERE state = 'uncertain'",
                ) == 1
            })
            .await,
            "the change becomes uncertain"
        );
    }
}

/// Whether the lifetime of every batch key (two seconds here) has passed.
fn key_forgotten(db: &Path) -> bool {
    count(
        db,
        "SELECT count(*) FROM push_batches WHERE CAST(strftime('%s', 'now') AS INTEGER) - first_sent < 2",
    ) == 0
}

#[tokio::test]
async fn a_batch_that_never_reached_ecwid_is_sent_again_once_its_key_is_forgotten() {
    let t = Unanswered::new("drop_before_apply_rate").await;
    t.store.set_faults(json!({})).await;
    assert!(
        wait_until(Duration::from_secs(5), || async { key_forgotten(&t.db) }).await,
        "the key's lifetime passes"
    );

    assert!(
        wait_until(Duration::from_secs(15), || async {
            let _ = push_once(&t.config, CancellationToken::new()).await;
            open_changes(&t.db) == 0
        })
        .await,
        "the change gets an outcome"
    );

    assert_eq!(t.store_quantity().await, t.before + 4);
    assert_eq!(
        query(&open(&t.db), "SELECT state, attempts FROM outbox"),
        vec![json!(["applied", 2])],
        "sent in a second batch with a new key"
    );
}

#[tokio::test]
async fn a_batch_whose_answers_were_lost_past_its_keys_hour_waits_for_the_operator() {
    // Ecwid runs the batch; every answer about it is lost until Ecwid forgot the key.
    let t = Unanswered::new("drop_after_apply_rate").await;
    assert_eq!(t.store_quantity().await, t.before + 4);
    t.until_uncertain().await;
    t.store.set_faults(json!({})).await;
    push_once(&t.config, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        t.store_quantity().await,
        t.before + 4,
        "never sent again blindly"
    );
    assert_eq!(
        mirror_stock(&t.db, t.entity),
        Some(t.before + 4),
        "the mirror shows what Ecwid has"
    );

    // The operator sees it, checks the store, and settles it.
    let config_file = write_config(&t.store, &t.db, "");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
            .arg("--config")
            .arg(&config_file)
            .args(args)
            .output()
            .unwrap()
    };
    let status = run(&["status"]);
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status_text.contains("0 failed, 1 uncertain"),
        "{status_text}"
    );
    let listed = run(&["outbox", "list", "--state", "uncertain", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = listed[0]["id"].as_i64().unwrap();
    assert!(
        listed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("outbox resolve"),
        "{listed}"
    );
    let wrong = run(&["outbox", "resolve", "999", "--applied"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("there is no change 999"));
    let neither = run(&["outbox", "resolve", &id.to_string()]);
    assert_eq!(
        neither.status.code(),
        Some(2),
        "--applied or --resend is required"
    );

    let resolved = run(&["outbox", "resolve", &id.to_string(), "--applied"]);
    assert!(resolved.status.success(), "{resolved:?}");
    assert_eq!(
        query(&open(&t.db), "SELECT state FROM outbox"),
        vec![json!(["applied"])]
    );
    let again = run(&["outbox", "resolve", &id.to_string(), "--resend"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is applied"),
        "{again:?}"
    );
}

#[tokio::test]
async fn an_uncertain_change_the_store_does_not_show_is_sent_again_on_the_operators_word() {
    // Answers are lost, and a sale changes the product meanwhile: nothing can be told.
    let t = Unanswered::new("drop_after_apply_rate").await;
    t.store.sale(t.entity.0, t.entity.1, 1).await;
    t.until_uncertain().await;
    t.store.set_faults(json!({})).await;
    // Say the operator judged wrongly that the store lacks it: the change goes again, once.
    let id = count(&t.db, "SELECT id FROM outbox");
    ecwid_sync::mirror::outbox_review::resolve(
        &mut ecwid_sync::mirror::open_existing(&t.db).unwrap(),
        id,
        ecwid_sync::mirror::outbox_review::Resolution::Resend,
    )
    .unwrap();
    assert_eq!(mirror_stock(&t.db, t.entity), Some(t.before - 1 + 4 + 4));
    push_once(&t.config, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        t.store_quantity().await,
        t.before - 1 + 4 + 4,
        "sent once more, as told"
    );
    assert_eq!(open_changes(&t.db), 0);
}
