//! A mirror that refuses writes: another process's write lock, a file ecwid-sync may not
//! write, a disk that takes no more. The daemon waits, says so, and stops loudly when
//! waiting does not help; it never sits there silently stale.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::stock::sold_from_own_stock;
use common::*;
use serde_json::Value;

fn config_file(
    store: &TestStore,
    db: &Path,
    mirror_setting: &str,
    sync_extra: &str,
) -> std::path::PathBuf {
    let path = db.with_extension("toml");
    let text = config_text(store, db, &store.config.token, sync_extra);
    std::fs::write(&path, with_mirror_setting(&text, mirror_setting)).unwrap();
    path
}

async fn ecwid_sync(config: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .await
        .expect("run ecwid-sync")
}

/// A small store and a mirror that exists (its categories pulled), configured with
/// `mirror_setting` in `[mirror]`.
async fn started_mirror(mirror_setting: &str) -> (TestStore, Scratch, PathBuf, PathBuf) {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config_file(&store, &db, mirror_setting, "");
    assert_eq!(
        ecwid_sync(&config, &["sync", "--only", "categories"])
            .await
            .status
            .code(),
        Some(0)
    );
    (store, scratch, db, config)
}

/// `status --json`, or `Null` while there is no mirror to report on yet.
async fn status_json(config: &Path) -> Value {
    let out = ecwid_sync(config, &["status", "--json"]).await;
    if out.status.code() != Some(0) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

/// The next `sync` once the mirror takes writes again: it succeeds, the mirror holds every
/// product, and `status` no longer reports failing writes.
async fn catches_up(config: &Path, db: &Path, products: i64) {
    let out = ecwid_sync(config, &["sync"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(db, "SELECT count(*) FROM products"), products);
    let status = status_json(config).await;
    assert!(status["daemon"].is_object(), "{status}");
    assert!(status["daemon"]["write_stall"].is_null(), "{status}");
}

/// A tool's connection holding the mirror's write lock until dropped or committed.
fn hold_write_lock(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

#[tokio::test]
async fn a_tool_holding_the_write_lock_longer_than_sqlite_waits_delays_the_daemon_and_loses_nothing()
 {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config_file(&store, &db, "", "incremental_cron = \"* * * * * *\"");
    let mut daemon = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(&db, "SELECT count(*) FROM products") == 230
        })
        .await
    );

    let tool = hold_write_lock(&db);
    // A product whose sale moves its own quantity, the one checked below.
    let id = store.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["quantity"].as_i64() > Some(0) && sold_from_own_stock(p))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    store.sale(id, None, 1).await;
    assert!(
        wait_until(Duration::from_secs(30), || async {
            log.contains("another process holds a write transaction on the mirror")
        })
        .await,
        "the daemon never said it was waiting for the lock: {}",
        log.text()
    );
    tool.execute_batch("COMMIT").unwrap();

    let expected = store.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()["quantity"]
        .as_i64()
        .unwrap();
    let sql = format!("SELECT count(*) FROM products WHERE id = {id} AND quantity = {expected}");
    assert!(
        wait_until(Duration::from_secs(30), || async { count(&db, &sql) == 1 }).await,
        "the sale never reached the mirror after the lock was released: {}",
        log.text()
    );
    assert!(
        log.contains("the mirror accepts writes again"),
        "{}",
        log.text()
    );
    assert!(!log.contains("pass failed"), "{}", log.text());
    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
}

#[tokio::test]
async fn a_write_lock_held_past_the_bound_fails_the_pass_naming_the_mirror_and_the_next_pass_resumes()
 {
    let (_store, _scratch, db, config) = started_mirror("write_retry_secs = 1").await;

    let tool = hold_write_lock(&db);
    let out = ecwid_sync(&config, &["sync"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("the mirror {} stayed locked", db.display())),
        "{last}"
    );
    assert!(
        last.contains("another process holds a write transaction"),
        "{last}"
    );
    assert!(last.contains("fuser"), "{last}");
    drop(tool);

    catches_up(&config, &db, 230).await;
}

/// Starts ecwid-sync with a limit on the size of the files it writes (`ulimit -f`, in
/// 512-byte blocks), the way a full disk refuses writes. The signal that would kill it
/// is ignored, so a write past the limit fails with an I/O error instead.
fn spawn_with_file_size_limit(config: &Path, args: &[&str], blocks: u64) -> tokio::process::Child {
    tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start ecwid-sync under sh")
}

#[tokio::test]
async fn a_mirror_that_cannot_be_written_shows_in_status_and_stops_the_daemon_with_exit_code_4() {
    let store = TestStore::start(ecwid_emulator::EmulatorConfig {
        products: 3000,
        ..TestStore::small()
    })
    .await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config_file(
        &store,
        &db,
        "write_retry_secs = 4",
        "incremental_cron = \"* * * * * *\"",
    );
    // About 1 MB: the schema fits, the store's products do not.
    let mut daemon = spawn_with_file_size_limit(&config, &["run"], 2048);
    let log = StderrLog::collect(&mut daemon);

    assert!(
        wait_until(Duration::from_secs(30), || async {
            let status = status_json(&config).await;
            status["daemon"]["running"] == true
                && status["daemon"]["write_stall"]["problem"] == "unwritable"
        })
        .await,
        "status never showed the failing writes: {}",
        log.text()
    );
    let exit = tokio::time::timeout(Duration::from_secs(30), daemon.wait())
        .await
        .expect("the daemon stops once the bound has passed")
        .unwrap();
    let whole = log.whole().await;
    assert_eq!(exit.code(), Some(4), "{whole}");
    let last = whole.lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains(&format!("cannot write the mirror {}", db.display())),
        "{last}"
    );
    assert!(last.contains("check free disk space"), "{last}");
    // A small write may still fit between two that do not: each refusal after a write
    // that went through is a new state, logged again; retries are never logged.
    let text = log.text();
    assert_eq!(
        text.matches("cannot write the mirror; retrying").count(),
        text.matches("the mirror accepts writes again").count() + 1,
        "logged once per state change: {text}"
    );

    let out = ecwid_sync(&config, &["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mirror writes: failed since"), "{text}");
    assert!(text.contains("(unwritable)"), "{text}");

    // Room again: the next start catches up and the record goes.
    catches_up(&config, &db, 3000).await;
}

#[tokio::test]
async fn a_read_only_mirror_file_is_a_configuration_error_naming_the_path() {
    let (_store, _scratch, db, config) = started_mirror("").await;

    use std::os::unix::fs::PermissionsExt;
    let set_mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set_mode(&db, 0o444);
    // Root writes any file whatever its mode: run as an unprivileged user where we are
    // root, in a directory that user may write.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        set_mode(db.parent().unwrap(), 0o777);
        std::fs::remove_file(db.with_extension("db.lock")).unwrap();
        let mut c = tokio::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ecwid-sync"));
        c
    } else {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
    };
    let out = command
        .arg("--config")
        .arg(&config)
        .arg("sync")
        .output()
        .await
        .unwrap();

    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("the mirror {} is read-only", db.display())),
        "{err}"
    );
}

#[tokio::test]
async fn status_shows_the_write_ahead_log_that_a_long_reader_keeps_from_being_emptied() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = config_file(&store, &db, "", "");
    assert_eq!(ecwid_sync(&config, &["sync"]).await.status.code(), Some(0));

    // A report left open: its snapshot pins the log while the next pass writes.
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let rows: i64 = reader
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 230);
    assert_eq!(
        ecwid_sync(&config, &["sync", "--full"]).await.status.code(),
        Some(0)
    );

    let wal = std::fs::metadata(db.with_extension("db-wal"))
        .unwrap()
        .len();
    assert!(wal > 0, "the reader kept the log alive");
    assert_eq!(status_json(&config).await["wal_bytes"], wal);
    let out = ecwid_sync(&config, &["status"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("write-ahead log: "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(reader);
}
