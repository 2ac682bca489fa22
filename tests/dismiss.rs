//! Failed changes end on the operator's word: `ecwid-sync outbox dismiss` records who, when
//! and why, the mirror shows Ecwid's value again, and `status` and `/metrics` stop counting
//! them as failed. Also how the outbox and conflicts lists name orders and show long values.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::stock::*;
use common::*;
use ecwid_sync::commands::push_once;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn run(config: &Path, args: &[&str]) -> Output {
    run_as_operator(config, args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2 with one error line containing each of `needles`.
fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
}

fn failed(db: &Path) -> i64 {
    count(db, "SELECT count(*) FROM outbox WHERE state = 'failed'")
}

fn status_outbox(config: &Path) -> Value {
    let out = run(config, &["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    status["outbox"].clone()
}

/// Products with stock of their own, and a product with two variations that have theirs.
fn pick_entities(before: &std::collections::BTreeMap<(i64, Option<i64>), i64>) -> Picked {
    let mut own = before.keys().filter(|e| e.1.is_none()).map(|e| e.0);
    let first = own.next().unwrap();
    let second = own.next().unwrap();
    let with_two = before
        .keys()
        .filter(|e| e.1.is_some() && e.0 != first && e.0 != second)
        .map(|e| e.0)
        .find(|p| before.keys().filter(|e| e.0 == *p && e.1.is_some()).count() >= 2)
        .expect("a product with two variations of their own");
    let variations: Vec<i64> = before
        .keys()
        .filter(|e| e.0 == with_two)
        .filter_map(|e| e.1)
        .take(2)
        .collect();
    Picked {
        first,
        second,
        with_two,
        variations: (variations[0], variations[1]),
    }
}

struct Picked {
    first: i64,
    second: i64,
    with_two: i64,
    variations: (i64, i64),
}

/// An order the mirror holds whose public id differs from its number: (number, public id).
fn an_order(db: &Path) -> (i64, String) {
    let rows = query(
        &open(db),
        "SELECT order_number, id FROM orders
          WHERE id IS NOT NULL AND id <> CAST(order_number AS TEXT) ORDER BY order_number LIMIT 1",
    );
    (
        rows[0][0].as_i64().unwrap(),
        rows[0][1].as_str().unwrap().to_string(),
    )
}

/// The mirror's column `column` of product `id` next to Ecwid's value from its document.
fn mirror_and_ecwid(db: &Path, id: i64, column: &str, json_field: &str) -> Value {
    query(
        &open(db),
        &format!(
            "SELECT {column}, json_extract(raw_json, '$.{json_field}') FROM products WHERE id = {id}"
        ),
    )[0]
    .clone()
}

#[tokio::test]
async fn a_change_to_a_product_deleted_in_ecwid_is_dismissed_and_no_longer_counts_as_failed() {
    let (store, scratch, db, config) = mirrored(TestStore::small()).await;
    let before = store_stock(&store.state().await);
    let gone = pick_entities(&before).first;
    tool_change(&db, (gone, None), 3);
    open(&db)
        .execute(
            "UPDATE products SET name = 'Renamed at the counter' WHERE id = ?1",
            [gone],
        )
        .unwrap();
    store.admin_delete_product(gone).await;
    let summary = push_once(&config, CancellationToken::new()).await.unwrap();
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(failed(&db), 2, "the stock change and the name change");

    // The daemon runs and counts them as failed.
    let listen = free_local_addr();
    let config_file = scratch.path("daemon.toml");
    std::fs::write(&config_file, webhook_config_text(&store, &db, listen, "")).unwrap();
    let mut daemon = spawn_ecwid_sync(&config_file, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    let failed_metric = "ecwid_sync_outbox_changes{state=\"failed\"}";
    let gauge_shows = |n: f64| async move {
        reqwest::get(format!("http://{listen}/metrics"))
            .await
            .is_ok()
            && scrape_metrics(listen).await.get(failed_metric).copied() == Some(n)
    };
    assert!(
        wait_until(Duration::from_secs(30), || gauge_shows(2.0)).await,
        "the gauge counts both as failed: {}",
        log.text()
    );
    assert_eq!(status_outbox(&config_file)["failed"], 2);
    let status_text = stdout(&run(&config_file, &["status"]));
    assert!(
        status_text.contains("outbox dismiss ID --reason"),
        "{status_text}"
    );

    let out = run(
        &config_file,
        &[
            "outbox",
            "dismiss",
            "--product",
            &gone.to_string(),
            "--reason",
            "product deleted in Ecwid",
        ],
    );

    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains(&format!("product {gone} quantity: dismissed"))
            && printed.contains(&format!("product {gone} name: dismissed"))
            && printed.contains(&format!("dismissed by {OPERATOR}")),
        "{printed}"
    );
    let rows = query(
        &open(&db),
        "SELECT state, dismissed_by, dismiss_reason, settled_at >= created_at, last_error LIKE '%404%'
           FROM outbox ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![json!(["dismissed", OPERATOR, "product deleted in Ecwid", 1, 1]); 2],
        "who, when and why recorded, Ecwid's refusal kept"
    );
    let outbox = status_outbox(&config_file);
    assert_eq!(
        (outbox["failed"].clone(), outbox["dismissed"].clone()),
        (json!(0), json!(2))
    );
    let status_text = stdout(&run(&config_file, &["status"]));
    assert!(
        status_text.contains("0 failed") && !status_text.contains("outbox dismiss ID"),
        "nothing asks for a person any more: {status_text}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || gauge_shows(0.0)).await,
        "the gauge no longer counts them: {}",
        log.text()
    );
    let listed = stdout(&run(&config_file, &["outbox", "list"]));
    assert!(listed.contains("(no changes)"), "settled: {listed}");
    let dismissed: Value = serde_json::from_str(&stdout(&run(
        &config_file,
        &["outbox", "list", "--state", "dismissed", "--json"],
    )))
    .unwrap();
    assert_eq!(dismissed.as_array().unwrap().len(), 2, "{dismissed}");
    assert_eq!(dismissed[0]["dismissed_by"], OPERATOR);
    assert_eq!(dismissed[0]["dismiss_reason"], "product deleted in Ecwid");
    assert!(terminate(&mut daemon).await.success(), "{}", log.text());
}

#[tokio::test]
async fn a_dismissal_is_refused_for_an_unknown_change_a_change_not_failed_and_without_a_reason() {
    let (store, scratch, db, _config) = mirrored(TestStore::small()).await;
    let config = scratch.path("config.toml");
    std::fs::write(&config, config_text(&store, &db, "secret_test", "")).unwrap();
    let picked = pick_entities(&store_stock(&store.state().await));
    tool_change(&db, (picked.first, None), 2);
    let uncertain = count(&db, "SELECT id FROM outbox");
    write_as_daemon(
        &db,
        &format!(
            "UPDATE outbox SET state = 'uncertain', settled_at = created_at WHERE id = {uncertain}"
        ),
    );
    tool_change(&db, (picked.second, None), 1);
    let pending = count(&db, "SELECT max(id) FROM outbox");
    let dismiss = |args: &[&str]| {
        let mut all = vec!["outbox", "dismiss"];
        all.extend_from_slice(args);
        run(&config, &all)
    };

    assert_refused(
        &dismiss(&["999", "--reason", "typo"]),
        &["there is no change 999"],
    );
    assert_refused(
        &dismiss(&[&uncertain.to_string(), "--reason", "gone"]),
        &[
            &format!("change {uncertain} is uncertain"),
            "outbox resolve ID --applied",
        ],
    );
    assert_refused(
        &dismiss(&[&pending.to_string(), "--reason", "gone"]),
        &[&format!("change {pending} is pending"), "on its way"],
    );
    assert_refused(&dismiss(&[&pending.to_string()]), &["--reason"]);
    assert_refused(
        &dismiss(&[&pending.to_string(), "--reason", "  "]),
        &["--reason must say why"],
    );
    assert_refused(
        &dismiss(&["--reason", &"x".repeat(501)]),
        &["ID", "--all-failed"],
    );
    assert_refused(
        &dismiss(&["--all-failed", "--reason", &"x".repeat(501)]),
        &["501 characters"],
    );
    assert_refused(
        &dismiss(&["--variation", "5", "--reason", "gone"]),
        &["--product"],
    );
    assert_refused(
        &dismiss(&["--product", "1", "--all-failed", "--reason", "gone"]),
        &["cannot be used with"],
    );
    assert_refused(
        &dismiss(&["--product", &picked.second.to_string(), "--reason", "gone"]),
        &[&format!("product {} has no failed changes", picked.second)],
    );
    assert_refused(
        &dismiss(&["--order", "NO-SUCH-ORDER", "--reason", "gone"]),
        &["there is no order NO-SUCH-ORDER"],
    );
    let none = dismiss(&["--all-failed", "--reason", "cleanup"]);
    assert!(none.status.success(), "{}", stderr(&none));
    assert!(stdout(&none).contains("nothing dismissed"), "{none:?}");

    assert_eq!(
        query(&open(&db), "SELECT state FROM outbox ORDER BY id"),
        vec![json!(["uncertain"]), json!(["pending"])],
        "nothing changed"
    );
}

#[tokio::test]
async fn failed_changes_are_dismissed_by_variation_by_order_and_all_at_once() {
    let (store, scratch, db, config) = mirrored(TestStore::small()).await;
    let config_file = scratch.path("config.toml");
    std::fs::write(&config_file, config_text(&store, &db, "secret_test", "")).unwrap();
    let picked = pick_entities(&store_stock(&store.state().await));
    let (v1, v2) = picked.variations;
    tool_change(&db, (picked.first, None), 1);
    open(&db)
        .execute(
            "UPDATE products SET name = 'Renamed at the counter' WHERE id = ?1",
            [picked.first],
        )
        .unwrap();
    tool_change(&db, (picked.with_two, Some(v1)), 4);
    tool_change(&db, (picked.with_two, Some(v2)), 5);
    let (number, public_id) = an_order(&db);
    open(&db)
        .execute(
            "UPDATE orders SET tracking_number = 'TRACK-1' WHERE order_number = ?1",
            [number],
        )
        .unwrap();
    store.admin_delete_product(picked.first).await;
    store.admin_delete_product(picked.with_two).await;
    store.admin_delete_order(&public_id).await;
    push_once(&config, CancellationToken::new()).await.unwrap();
    assert_eq!(
        failed(&db),
        5,
        "{:?}",
        query(&open(&db), "SELECT * FROM outbox")
    );
    let dismiss = |args: &[&str]| {
        let mut all = vec!["outbox", "dismiss"];
        all.extend_from_slice(args);
        let out = run(&config_file, &all);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let dismissed_of = |sql: &str| {
        count(
            &db,
            &format!("SELECT count(*) FROM outbox WHERE state = 'dismissed' AND {sql}"),
        )
    };

    let printed = dismiss(&[
        "--product",
        &picked.with_two.to_string(),
        "--variation",
        &v1.to_string(),
        "--reason",
        "deleted",
    ]);
    assert!(
        printed.contains(&format!("variation {v1} of product {}", picked.with_two)),
        "{printed}"
    );
    assert_eq!(
        (dismissed_of(&format!("variation_id = {v1}")), failed(&db)),
        (1, 4),
        "only that variation's"
    );

    let printed = dismiss(&["--order", &public_id, "--reason", "order deleted"]);
    assert!(
        printed.contains(&format!("order {public_id} tracking_number: dismissed")),
        "the order named as the shop knows it: {printed}"
    );
    assert_eq!(
        (
            dismissed_of(&format!("order_number = {number}")),
            failed(&db)
        ),
        (1, 3)
    );
    let tracking = query(
        &open(&db),
        &format!(
            "SELECT tracking_number IS json_extract(raw_json, '$.trackingNumber') FROM orders
              WHERE order_number = {number}"
        ),
    );
    assert_eq!(tracking, vec![json!([1])], "Ecwid's tracking number again");

    dismiss(&[
        "--all-failed",
        "--reason",
        "cleanup after the catalogue purge",
    ]);
    assert_eq!(failed(&db), 0);
    assert_eq!(
        dismissed_of("dismiss_reason = 'cleanup after the catalogue purge'"),
        3
    );
    let name = mirror_and_ecwid(&db, picked.first, "name", "name");
    assert_eq!(name[0], name[1], "Ecwid's name again: {name}");
    // Kept as a record for push.keep_applied_days, like applied changes, then pruned.
    let month = 30 * 86_400;
    let prune =
        |now| ecwid_sync::mirror::outbox_review::prune(&open_as_daemon(&db), 30, now).unwrap();
    assert_eq!(prune(ecwid_sync::mirror::unix_now()), 0);
    assert_eq!(prune(ecwid_sync::mirror::unix_now() + month + 60), 5);
    for (product, variation) in [(picked.first, None), (picked.with_two, Some(v2))] {
        let shown = mirror_stock(&db, (product, variation));
        let table = if variation.is_some() {
            "product_variations"
        } else {
            "products"
        };
        let ecwid = count(
            &db,
            &format!(
                "SELECT json_extract(raw_json, '$.quantity') FROM {table} WHERE id = {}",
                variation.unwrap_or(product)
            ),
        );
        assert_eq!(
            shown,
            Some(ecwid),
            "Ecwid's quantity for {product}/{variation:?}"
        );
    }
}

#[tokio::test]
async fn an_order_status_change_is_listed_under_the_orders_public_id() {
    let (store, scratch, db, _config) = mirrored(TestStore::small()).await;
    let config = scratch.path("config.toml");
    std::fs::write(&config, config_text(&store, &db, "secret_test", "")).unwrap();
    let (number, public_id) = an_order(&db);
    open(&db)
        .execute(
            "UPDATE orders SET fulfillment_status = 'SHIPPED' WHERE order_number = ?1",
            [number],
        )
        .unwrap();

    let listed = stdout(&run(&config, &["outbox", "list"]));
    let json: Value =
        serde_json::from_str(&stdout(&run(&config, &["outbox", "list", "--json"]))).unwrap();

    assert!(listed.contains(&format!("order {public_id} ")), "{listed}");
    assert!(!listed.contains(&format!("order {number} ")), "{listed}");
    assert_eq!(json[0]["order_id"], public_id.as_str());
    assert_eq!(json[0]["order_number"], number, "the key stays");
}

#[tokio::test]
async fn long_values_are_shortened_in_the_lists_and_whole_in_json() {
    let (store, scratch, db, _config) = mirrored(TestStore::small()).await;
    let config = scratch.path("config.toml");
    std::fs::write(&config, config_text(&store, &db, "secret_test", "")).unwrap();
    let product = pick_entities(&store_stock(&store.state().await)).first;
    // Long, yet within the 4096 characters a tool may write.
    let long_name = "A very long name ".repeat(240);
    let length = long_name.chars().count();
    open(&db)
        .execute(
            "UPDATE products SET name = ?2 WHERE id = ?1",
            rusqlite::params![product, long_name],
        )
        .unwrap();
    // Held as a conflict, as a price or a name changed in Ecwid meanwhile is by default.
    write_as_daemon(
        &db,
        &format!(
            "INSERT INTO conflicts (entity, product_id, field, base, local, remote, local_at,
                                    policy, created_at, outbox_ids)
             VALUES ('product', {product}, 'name', 'Old', '{long_name}', 'New', 0, 'manual', 0,
                     '[]')"
        ),
    );

    let listed = run(&config, &["outbox", "list"]);
    let conflicts = run(&config, &["conflicts", "list"]);
    let listed_json: Value =
        serde_json::from_slice(&run(&config, &["outbox", "list", "--json"]).stdout).unwrap();
    let conflicts_json: Value =
        serde_json::from_slice(&run(&config, &["conflicts", "list", "--json"]).stdout).unwrap();

    for out in [&listed, &conflicts] {
        let text = stdout(out);
        assert!(out.status.success(), "{}", stderr(out));
        assert!(
            text.len() < 1000,
            "{} bytes: {}",
            text.len(),
            text.chars().take(300).collect::<String>()
        );
        assert!(
            text.contains(&format!("… ({} characters)", length + 2)),
            "the full length, quotes included, noted: {text}"
        );
    }
    assert_eq!(listed_json[0]["value"], long_name.as_str(), "whole in JSON");
    assert_eq!(
        conflicts_json[0]["local"],
        long_name.as_str(),
        "whole in JSON"
    );
}

#[tokio::test]
async fn push_log_lines_and_the_conflicts_list_name_orders_by_their_public_id() {
    let (store, scratch, db, _config) = mirrored(TestStore::small()).await;
    let config = scratch.path("config.toml");
    std::fs::write(&config, config_text(&store, &db, &store.config.token, "")).unwrap();
    let orders = query(
        &open(&db),
        "SELECT order_number, id FROM orders
          WHERE id IS NOT NULL AND id <> CAST(order_number AS TEXT) ORDER BY order_number LIMIT 2",
    );
    let name = |i: usize| {
        (
            orders[i][0].as_i64().unwrap(),
            orders[i][1].as_str().unwrap().to_string(),
        )
    };
    let ((conflicting, conflicting_id), (deleted, deleted_id)) = (name(0), name(1));
    // A status changed in the mirror and in Ecwid: a conflict, settled by its policy.
    open(&db)
        .execute(
            "UPDATE orders SET fulfillment_status = 'SHIPPED' WHERE order_number = ?1",
            [conflicting],
        )
        .unwrap();
    store
        .admin_edit_order(&conflicting_id, json!({"fulfillmentStatus": "PROCESSING"}))
        .await;
    // A tracking number for an order deleted in Ecwid meanwhile: refused.
    open(&db)
        .execute(
            "UPDATE orders SET tracking_number = 'TRACK-2' WHERE order_number = ?1",
            [deleted],
        )
        .unwrap();
    store.admin_delete_order(&deleted_id).await;

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "text", "push"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();

    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {log}"))
            .to_string()
    };
    let conflict = line("changed both in the mirror and in Ecwid");
    assert!(
        conflict.contains(&format!("order {conflicting_id}")),
        "{conflict}"
    );
    let refused = line("Ecwid refused a local change");
    assert!(
        refused.contains(&format!("order {deleted_id}")),
        "{refused}"
    );
    let conflicts = stdout(&run(&config, &["conflicts", "list", "--all"]));
    assert!(
        conflicts.contains(&format!("order {conflicting_id} fulfillment_status")),
        "{conflicts}"
    );
}

#[test]
fn a_mirror_not_yet_migrated_to_record_dismissals_is_listed_and_refuses_a_dismissal_saying_why() {
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    // A mirror as the previous version left it: schema 6, without the dismissal columns.
    let conn = ecwid_sync::mirror::open_and_migrate(&db).unwrap();
    conn.execute_batch(
        "ALTER TABLE outbox DROP COLUMN dismissed_by;
         ALTER TABLE outbox DROP COLUMN dismiss_reason;
         PRAGMA user_version = 6;",
    )
    .unwrap();
    drop(conn);
    let mirror = db.display().to_string();
    let absent = scratch.path("absent.toml");

    let listed = run(&absent, &["outbox", "list", "--mirror", &mirror]);
    let dismissed = run(
        &absent,
        &[
            "outbox",
            "dismiss",
            "--all-failed",
            "--reason",
            "cleanup",
            "--mirror",
            &mirror,
        ],
    );

    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains("(no changes)"));
    assert_refused(&dismissed, &["start the daemon of this version"]);
}
