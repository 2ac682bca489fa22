//! What an operator or a tool may do by mistake at this machine's edges: run the demo on a
//! real mirror, delete or replace the mirror under the daemon, reach one mirror by several
//! paths, write the daemon's bookkeeping, hold the mirror's write lock, start the service
//! while a hand-run command holds the mirror. Each ends in a clear refusal or a loud, logged
//! recovery, through the real binary.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn ecwid_sync(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args(args)
        .env_remove("ECWID_SYNC_CONFIG")
        .output()
        .await
        .expect("run ecwid-sync")
}

async fn with_config(config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    ecwid_sync(&all).await
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// A small store, and a mirror of it pulled once by `sync`.
async fn synced() -> (TestStore, Scratch, PathBuf, PathBuf) {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "");
    let out = with_config(&config, &["sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (store, scratch, db, config)
}

fn first_product(db: &Path) -> i64 {
    query(
        &open(db),
        "SELECT id FROM products WHERE unlimited = 0 ORDER BY id LIMIT 1",
    )[0][0]
        .as_i64()
        .unwrap()
}

// ---- the demo ----

#[tokio::test]
async fn the_demo_refuses_a_file_it_did_not_make_and_leaves_it_untouched() {
    let (_store, _scratch, db, _config) = synced().await;
    let id = first_product(&db);
    open(&db)
        .execute(
            "UPDATE products SET quantity = quantity + 3 WHERE id = ?1",
            [id],
        )
        .unwrap();
    let before = inode(&db);

    let out = ecwid_sync(&[
        "demo",
        "--db",
        db.to_str().unwrap(),
        "--once",
        "--products",
        "20",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a mirror that `ecwid-sync demo` made")
            && stderr(&out).contains("--db"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("generating"), "{}", stderr(&out));
    assert_eq!(inode(&db), before);
    assert_eq!(
        query(&open(&db), "SELECT delta, state FROM outbox"),
        vec![json!([3, "pending"])]
    );

    let notes = db.with_file_name("notes.txt");
    std::fs::write(&notes, "the shop's own notes").unwrap();
    let out = ecwid_sync(&["demo", "--db", notes.to_str().unwrap(), "--once"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "the shop's own notes"
    );
}

#[tokio::test]
async fn a_demo_replaces_its_own_earlier_mirror_but_never_one_a_running_demo_holds() {
    let scratch = Scratch::new();
    let db = scratch.path("demo.db");
    let demo = |once: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"));
        command.args(["demo", "--db", db.to_str().unwrap(), "--products", "20"]);
        if once {
            command.arg("--once");
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    };
    let out = demo(true).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        query(&open(&db), "PRAGMA application_id"),
        vec![json!([ecwid_sync::mirror::DEMO_APPLICATION_ID])]
    );

    // A second demo replaces the first one's mirror (before it says where it mirrors to),
    // and runs on.
    let mut running = demo(false).spawn().unwrap();
    let log = StderrLog::collect(&mut running);
    assert!(
        wait_until(Duration::from_secs(60), || async {
            log.contains("mirroring it into") && count(&db, "SELECT count(*) FROM products") == 20
        })
        .await,
        "{}",
        log.text()
    );
    let held = inode(&db);

    let out = demo(true).output().await.unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another ecwid-sync"),
        "{}",
        stderr(&out)
    );
    assert_eq!(inode(&db), held, "the running demo's mirror stays");
    assert_eq!(count(&db, "SELECT count(*) FROM products"), 20);

    assert_eq!(terminate(&mut running).await.code(), Some(0));
    let out = demo(true).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

// ---- a mirror deleted or replaced under the daemon ----

/// A daemon on a pulled mirror, with one local change Ecwid refused (its product was deleted
/// in the store): a change that stays open in the mirror.
async fn daemon_with_a_refused_change() -> (TestStore, Scratch, PathBuf, PathBuf, i64) {
    let (store, scratch, db, config) = synced().await;
    let id = first_product(&db);
    store.admin_delete_product(id).await;
    open(&db)
        .execute(
            "UPDATE products SET quantity = quantity + 5 WHERE id = ?1",
            [id],
        )
        .unwrap();
    let out = with_config(&config, &["push"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        query(&open(&db), "SELECT state FROM outbox"),
        vec![json!(["failed"])]
    );
    (store, scratch, db, config, id)
}

/// `ecwid-sync run` on `config`, once it has said it started.
async fn started(config: &Path) -> (tokio::process::Child, StderrLog) {
    let mut daemon = spawn_ecwid_sync(config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(
        wait_until(Duration::from_secs(20), || async {
            log.contains("ecwid-sync started")
        })
        .await,
        "{}",
        log.text()
    );
    (daemon, log)
}

/// The exit code of `child`, once every line it wrote is in `log`.
async fn exits_with(child: &mut tokio::process::Child, log: &StderrLog) -> Option<i32> {
    let code = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap_or_else(|_| panic!("the daemon did not stop: {}", log.text()))
        .unwrap()
        .code();
    log.whole().await;
    code
}

#[tokio::test]
async fn a_mirror_deleted_under_the_daemon_stops_it_with_code_5_listing_the_open_changes_and_a_restart_pulls_anew()
 {
    let (store, _scratch, db, config, _) = daemon_with_a_refused_change().await;
    let (mut daemon, log) = started(&config).await;

    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }

    assert_eq!(
        exits_with(&mut daemon, &log).await,
        Some(5),
        "{}",
        log.text()
    );
    let text = log.text();
    assert!(
        text.contains("the mirror file was deleted or moved away while ecwid-sync was writing it"),
        "{text}"
    );
    let listed = text
        .lines()
        .find(|l| l.contains("a local change open in the lost mirror"))
        .unwrap_or_else(|| panic!("the open change is listed: {text}"));
    assert!(
        listed.contains("id=1") && listed.contains("quantity +5") && listed.contains("failed"),
        "{listed}"
    );

    // The restart makes a new mirror and pulls the store into it.
    let mut again = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let again_log = StderrLog::collect(&mut again);
    assert!(first_pass_done(&db).await, "{}", again_log.text());
    assert_mirror_equals_store(&open(&db), &store.state().await);
    assert_eq!(terminate(&mut again).await.code(), Some(0));
}

#[tokio::test]
async fn a_mirror_replaced_under_the_daemon_is_noticed_and_the_new_file_is_left_as_it_is() {
    let (_store, _scratch, db, config, _) = daemon_with_a_refused_change().await;
    let (mut daemon, log) = started(&config).await;

    let other = db.with_file_name("other.db");
    std::fs::write(&other, b"").unwrap();
    std::fs::rename(&other, &db).unwrap();
    let replaced = inode(&db);

    assert_eq!(
        exits_with(&mut daemon, &log).await,
        Some(5),
        "{}",
        log.text()
    );
    assert!(
        log.contains("the mirror file was replaced by another file"),
        "{}",
        log.text()
    );
    assert_eq!(inode(&db), replaced);
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "nothing written into it"
    );
}

// ---- one daemon per mirror, whatever the path ----

#[tokio::test]
async fn a_mirror_held_by_a_daemon_is_refused_through_a_symlink_a_dotdot_path_and_a_hard_link() {
    let (store, scratch, db, config) = synced().await;
    let (mut daemon, _log) = started(&config).await;
    let pid = daemon.id().unwrap().to_string();

    let symlink = scratch.path("link.db");
    std::os::unix::fs::symlink(&db, &symlink).unwrap();
    std::fs::create_dir(scratch.path("sub")).unwrap();
    let dotdot = scratch.path("sub").join("..").join("mirror.db");
    let hard = scratch.path("hard.db");
    std::fs::hard_link(&db, &hard).unwrap();

    for (path, says) in [
        (&symlink, format!("another ecwid-sync (pid {pid})")),
        (&dotdot, format!("another ecwid-sync (pid {pid})")),
        (
            &hard,
            "under another name (a hard link to the same file)".to_string(),
        ),
    ] {
        let other = scratch.path("other.toml");
        std::fs::write(&other, config_text(&store, path, &store.config.token, "")).unwrap();
        for command in ["sync", "push"] {
            let out = with_config(&other, &[command]).await;
            assert_eq!(
                out.status.code(),
                Some(6),
                "{command} via {}: {}",
                path.display(),
                stderr(&out)
            );
            assert!(stderr(&out).contains(&says), "{}", stderr(&out));
        }
    }
    // No second set of log files was made beside the hard link.
    assert!(!scratch.path("hard.db-wal").exists());

    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

#[tokio::test]
async fn the_daemon_waits_for_a_hand_run_command_that_holds_the_mirror_and_gives_up_with_code_6() {
    let (store, _scratch, db, _config) = synced().await;
    let text = config_text(&store, &db, &store.config.token, "");

    // What a hand-run `sync` holds while the service starts.
    let held = ecwid_sync::mirror::MirrorWriter::open(
        &config(&store, &db).mirror,
        tokio_util::sync::CancellationToken::new(),
    )
    .unwrap();

    let patient = db.with_file_name("patient.toml");
    std::fs::write(&patient, with_mirror_setting(&text, "lock_wait_secs = 60")).unwrap();
    let mut daemon = spawn_ecwid_sync(&patient, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(
        wait_until(Duration::from_secs(20), || async {
            log.contains("another ecwid-sync holds the mirror; waiting for it")
        })
        .await,
        "{}",
        log.text()
    );

    let impatient = db.with_file_name("impatient.toml");
    std::fs::write(&impatient, with_mirror_setting(&text, "lock_wait_secs = 1")).unwrap();
    let out = with_config(&impatient, &["run"]).await;
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));

    drop(held);
    assert!(
        wait_until(Duration::from_secs(20), || async {
            log.contains("the other ecwid-sync let the mirror go; starting")
                && log.contains("ecwid-sync started")
        })
        .await,
        "{}",
        log.text()
    );
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

// ---- exit codes ----

#[tokio::test]
async fn a_mirror_from_a_newer_ecwid_sync_stops_run_with_a_code_the_unit_does_not_restart() {
    let (_store, _scratch, db, config) = synced().await;
    open(&db).pragma_update(None, "user_version", 99).unwrap();

    let out = with_config(&config, &["run"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("newer than this ecwid-sync understands"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn help_prints_the_exit_code_table() {
    let out = ecwid_sync(&["--help"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    for (code, _, meaning) in ecwid_sync::exit_code::TABLE {
        assert!(text.contains(&format!("{code}")), "{text}");
        assert!(text.contains(meaning), "{meaning}: {text}");
    }
}

// ---- the daemon's bookkeeping ----

#[tokio::test]
async fn tools_cannot_write_the_daemons_bookkeeping_and_the_refusal_names_the_command_to_use() {
    let (_store, _scratch, db, _config) = synced().await;
    let id = first_product(&db);
    let quantity = |conn: &rusqlite::Connection| {
        query(
            conn,
            &format!("SELECT quantity FROM products WHERE id = {id}"),
        )[0]
        .clone()
    };
    let mut tool = open(&db);
    let before = quantity(&tool);

    // The mistake from the field: stock raised, and its record removed with it.
    let tx = tool.transaction().unwrap();
    tx.execute(
        "UPDATE products SET quantity = quantity + 100 WHERE id = ?1",
        [id],
    )
    .unwrap();
    let err = tx
        .execute("DELETE FROM outbox WHERE product_id = ?1", [id])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rows cannot be deleted from outbox") && err.contains("ecwid-sync outbox"),
        "{err}"
    );
    drop(tx);
    assert_eq!(quantity(&tool), before, "rolled back");

    // A tool's stock change is still recorded, by the capture triggers.
    tool.execute(
        "UPDATE products SET quantity = quantity + 1 WHERE id = ?1",
        [id],
    )
    .unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 1);

    for table in [
        "outbox",
        "push_batches",
        "conflicts",
        "sync_state",
        "webhook_events",
        "quarantine",
        "full_pull_progress",
        "full_pull_pages",
        "mirror_identity",
    ] {
        let err = tool
            .execute(&format!("INSERT INTO {table} DEFAULT VALUES"), [])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("rows cannot be added to {table}")),
            "{err}"
        );
    }
    for (table, verb) in [
        ("outbox", "changed in"),
        ("sync_state", "changed in"),
        ("mirror_identity", "changed in"),
    ] {
        let err = tool
            .execute(&format!("UPDATE {table} SET rowid = rowid"), [])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("rows cannot be {verb} {table}")),
            "{err}"
        );
    }
    for table in ["outbox", "sync_state", "mirror_identity"] {
        let err = tool
            .execute(&format!("DELETE FROM {table}"), [])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("rows cannot be deleted from {table}")),
            "{err}"
        );
    }
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM capture_writing"), 0);
}

// ---- prompt recovery ----

async fn get(url: String) -> (u16, Value) {
    match reqwest::get(url).await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

#[tokio::test]
async fn writes_resume_within_two_seconds_of_a_tool_letting_go_of_a_long_write_lock() {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = WebhookDaemon::start(&store).await;
    let healthz = format!("http://{}/healthz", daemon.listen);
    let readyz = format!("http://{}/readyz", daemon.listen);

    let tool = open(&daemon.db);
    tool.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Held long enough for the old growing pauses to reach several seconds.
    assert!(
        wait_until(Duration::from_secs(60), || async {
            let (status, body) = get(healthz.clone()).await;
            let since = status_since(&body);
            status == 503 && since.is_some_and(|s| ecwid_sync::mirror::unix_now() - s >= 12)
        })
        .await,
        "/healthz never reported the lock: {}",
        daemon.log.text()
    );
    let (status, ready) = get(readyz.clone()).await;
    assert_eq!(status, 503);
    assert_eq!(ready["migrated"], true, "{ready}");
    assert_eq!(ready["mirror_writable"], false, "{ready}");
    assert!(
        ready["problems"][0]
            .as_str()
            .unwrap_or_default()
            .contains("the mirror is locked since"),
        "{ready}"
    );

    tool.execute_batch("COMMIT").unwrap();
    let released = Instant::now();
    assert!(
        wait_until(Duration::from_secs(2), || async {
            get(healthz.clone()).await.0 == 200
        })
        .await,
        "/healthz still failing {:?} after the lock went",
        released.elapsed()
    );
    assert_eq!(get(readyz).await.0, 200);
}

/// The unix time in `/healthz`'s "the mirror is locked since T (unix time)" error.
fn status_since(body: &Value) -> Option<i64> {
    let error = body["error"].as_str()?;
    let rest = error.split("the mirror is locked since ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[tokio::test]
async fn a_lost_mirror_fails_every_write_and_the_health_probe_saying_what_became_of_it() {
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let mirror = ecwid_sync::config::MirrorConfig {
        path: db.clone(),
        write_retry: Duration::from_secs(5),
        lock_wait: Duration::ZERO,
    };
    let writer =
        ecwid_sync::mirror::MirrorWriter::open(&mirror, tokio_util::sync::CancellationToken::new())
            .unwrap();
    assert!(writer.probe().await.is_ok());

    std::fs::remove_file(&db).unwrap();

    // What `/healthz` reads: the probe's error and the writer's record of the refusal.
    for _ in 0..2 {
        let err = writer.probe().await.unwrap_err();
        assert!(
            matches!(err, ecwid_sync::mirror::MirrorError::Replaced { .. })
                && err.to_string().contains("was deleted or moved away"),
            "{err}"
        );
    }
    let stall = writer.write_stall().expect("the loss is recorded");
    assert_eq!(stall.problem, "lost");
    assert!(!db.exists(), "nothing was created in its place");
}
