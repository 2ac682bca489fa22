//! The `ecwid-sync` binary: exit codes, one-line errors, status and check-config.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

async fn run(args: &[&str], config: Option<&Path>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"));
    command
        .args(args)
        .env_remove("ECWID_SYNC_TOKEN")
        .env_remove("ECWID_SYNC_CLIENT_SECRET")
        .env_remove("ECWID_SYNC_CONFIG")
        .env_remove("RUST_LOG");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.output().await.expect("run ecwid-sync")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The error is one line naming the problem, and the process exits with `code`.
fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("ecwid-sync:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected in: {err}");
    assert!(
        lines[0].contains(needle),
        "{needle:?} not in {:?}",
        lines[0]
    );
}

async fn store_and_config(
    token: &str,
    extra: &str,
) -> (TestStore, Scratch, std::path::PathBuf, std::path::PathBuf) {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config_path = scratch.path("config.toml");
    std::fs::write(&config_path, config_text(&store, &db, token, extra)).unwrap();
    (store, scratch, db, config_path)
}

#[tokio::test]
async fn sync_exits_zero_and_status_reports_every_kind() {
    let (_store, _scratch, db, config) = store_and_config("secret_test", "").await;

    let out = run(&["sync"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("pull finished"));
    assert_eq!(
        count_in_main_file_copy(&db, "SELECT count(*) FROM products"),
        230,
        "after sync exits, mirror.db alone holds everything"
    );

    let out = run(&["status", "--json"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let products = status_kind(&status, "products");
    assert_eq!(products["rows"], 230);
    assert!(products["last_full_finished"].is_number());
    assert!(products["last_error"].is_null());

    let out = run(&["status", "--mirror", db.to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("products"));
}

#[tokio::test]
async fn a_refused_token_stops_sync_and_run_with_exit_code_3_before_any_mirror_file_exists() {
    let (store, _scratch, db, config) = store_and_config("wrong-token", "").await;

    for command in ["sync", "run"] {
        let out = run(&[command], Some(&config)).await;

        assert_one_line_error(&out, 3, "refused the access token");
        assert!(!stderr(&out).contains("wrong-token"), "the token leaked");
        assert_eq!(mirror_files(&db), Vec::<String>::new(), "{command}");
    }
    // Refused at once: no retries against a store that says no.
    assert_eq!(store.stats().await["status"]["403"], 2);
}

#[tokio::test]
async fn a_refused_token_leaves_an_older_mirror_unmigrated() {
    let (_store, _scratch, db, config) = store_and_config("wrong-token", "").await;
    schema_1_mirror(&db, "");

    let out = run(&["sync"], Some(&config)).await;

    assert_one_line_error(&out, 3, "refused the access token");
    let version: i64 = open(&db)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "an older binary can still read it");
}

#[tokio::test]
async fn a_store_id_the_token_does_not_belong_to_is_named_as_ecwid_store_id() {
    let (store, scratch, db, _config) = store_and_config("secret_test", "").await;
    let other_store = store.config.store_id + 1;
    let config = scratch.path("other-store.toml");
    std::fs::write(
        &config,
        config_text(&store, &db, "secret_test", "").replace(
            &format!("store_id = {}", store.config.store_id),
            &format!("store_id = {other_store}"),
        ),
    )
    .unwrap();

    let out = run(&["sync"], Some(&config)).await;

    assert_one_line_error(&out, 3, &format!("store {other_store}"));
    assert_one_line_error(&out, 3, "check ecwid.store_id");
    assert_eq!(mirror_files(&db), Vec::<String>::new());
}

#[tokio::test]
async fn check_config_masks_secrets() {
    let (_store, _scratch, _db, config) = store_and_config("secret_test", "").await;

    let out = run(&["check-config"], Some(&config)).await;

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("# ecwid.token: set in the configuration file"),
        "{text}"
    );
    assert!(!text.contains("secret_test"), "{text}");
}

#[tokio::test]
async fn bad_configuration_is_one_line_naming_the_key_and_writes_nothing() {
    let scratch = Scratch::new();
    let db = scratch.path("never.db");
    let cases = [
        (
            "[ecwid]\nstore_id = 1\ntoken = \"t\"\ncolour = \"red\"\n[mirror]\npath = \"DB\"\n",
            "colour",
        ),
        (
            "[ecwid]\nstore_id = 1\ntoken = \"t\"\nrequests_per_minute = 0\n[mirror]\npath = \"DB\"\n",
            "ecwid.requests_per_minute",
        ),
        (
            "[ecwid]\nstore_id = 1\n[mirror]\npath = \"DB\"\n",
            "ecwid.token",
        ),
        ("[ecwid]\nstore_id = 1\ntoken = \"t\"\n", "mirror.path"),
        (
            "[ecwid]\nstore_id = 1\ntoken = \"t\"\n[mirror]\npath = \"DB\"\n[sync]\nkinds = [\"widgets\"]\n",
            "sync.kinds",
        ),
        (
            "[ecwid]\nstore_id = 1\ntoken = \"t\"\n[mirror]\npath = \"DB\"\n[sync]\nincremental_cron = \"every minute\"\n",
            "sync.incremental_cron",
        ),
        (
            "[ecwid]\nstore_id = \"abc\"\ntoken = \"t\"\n[mirror]\npath = \"DB\"\n",
            "store_id",
        ),
        (
            "[ecwid]\nstore_id = \"1003\"\ntoken = \"t\"\n[mirror]\npath = \"DB\"\n",
            "ecwid-sync: ecwid.store_id: expected a whole number such as 1003, got the string \"1003\"",
        ),
        ("[ecwid\nstore_id = 1\n", "config file"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = scratch.path(&format!("bad{i}.toml"));
        std::fs::write(&path, text.replace("DB", db.to_str().unwrap())).unwrap();
        let out = run(&["sync"], Some(&path)).await;
        assert_one_line_error(&out, 2, needle);
    }
    let out = run(&["sync"], Some(&scratch.path("missing.toml"))).await;
    assert_one_line_error(&out, 2, "missing.toml");
    assert!(
        !db.exists(),
        "nothing may be written for a bad configuration"
    );
}

#[tokio::test]
async fn a_schedule_that_never_fires_is_refused_by_check_config_sync_and_run_naming_the_key() {
    let (store, _scratch, db, config) =
        store_and_config("secret_test", "full_cron = \"0 0 0 31 2 *\"").await;

    for command in ["check-config", "sync", "run"] {
        let out = run(&[command], Some(&config)).await;

        assert_one_line_error(
            &out,
            2,
            "sync.full_cron: cron expression \"0 0 0 31 2 *\" never fires",
        );
    }
    assert_eq!(mirror_files(&db), Vec::<String>::new());
    assert_eq!(store.stats().await["requests_total"], 0);
}

#[tokio::test]
async fn check_config_warns_of_a_listener_open_to_the_network_and_a_token_others_can_read_and_still_exits_zero()
 {
    use std::os::unix::fs::PermissionsExt;
    let (_store, _scratch, _db, config) = store_and_config("secret_test", "").await;
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "listen = \"127.0.0.1:0\"",
        "listen = \"0.0.0.0:0\"",
        1,
    );
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = run(&["check-config"], Some(&config)).await;

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("ecwid-sync: warning: webhooks.listen: 0.0.0.0:0 is not a loopback address")
            && err.contains("/metrics, /healthz and /readyz")
            && err.contains("location = /webhooks/ecwid {")
            && err.contains("proxy_pass http://127.0.0.1:0;"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "ecwid-sync: warning: ecwid.token: written in {}, which every user of this machine can read (mode 0644); run `chmod 640 {}`",
            config.display(),
            config.display()
        )),
        "{err}"
    );
    assert!(!err.contains("secret_test"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("# {}: valid\n", config.display()))
            && !stdout.contains("warning"),
        "stdout stays the configuration alone: {stdout}"
    );

    // Private again: only the listener is left to warn about.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&["check-config"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("ecwid-sync: warning:").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("ecwid.token"), "{}", stderr(&out));
}

#[tokio::test]
async fn run_logs_the_warning_about_a_listener_open_to_the_network_once_at_start() {
    let (_store, _scratch, db, config) = store_and_config("secret_test", "").await;
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "listen = \"127.0.0.1:0\"",
        "listen = \"0.0.0.0:0\"",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let mut daemon = spawn_ecwid_sync(&config, &["run"], std::process::Stdio::piped());
    let log = StderrLog::collect(&mut daemon);
    assert!(first_pass_done(&db).await, "{}", log.text());

    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
    let text = log.text();
    assert_eq!(
        text.matches("webhooks.listen: 0.0.0.0:0 is not a loopback address")
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("location = /webhooks/ecwid {"), "{text}");
}

#[tokio::test]
async fn a_missing_mirror_directory_is_a_configuration_error_exit_2_naming_the_path() {
    let (store, scratch, _db, _config) = store_and_config("secret_test", "").await;
    let bad_db = Path::new("/proc/ecwid-sync-test/mirror.db");
    let config = scratch.path("unwritable.toml");
    std::fs::write(&config, config_text(&store, bad_db, "secret_test", "")).unwrap();

    let out = run(&["sync"], Some(&config)).await;

    assert_one_line_error(
        &out,
        2,
        "cannot open the mirror /proc/ecwid-sync-test/mirror.db",
    );
    assert!(
        stderr(&out).contains("must exist and be writable"),
        "{}",
        stderr(&out)
    );
    // The token check, asked before the mirror is opened, and no pass.
    let stats = store.stats().await;
    assert_eq!(stats["requests"]["GET /profile"], 1, "{stats}");
    assert_eq!(stats["requests_total"], 1, "{stats}");
}

#[tokio::test]
async fn the_token_may_come_from_a_file_or_the_environment() {
    let (_store, scratch, _db, _config) = store_and_config("secret_test", "").await;
    let token_file = scratch.path("token");
    std::fs::write(&token_file, "secret_test\n").unwrap();
    let text = std::fs::read_to_string(scratch.path("config.toml"))
        .unwrap()
        .replace(
            "token = \"secret_test\"",
            &format!("token_file = \"{}\"", token_file.display()),
        );
    let config = scratch.path("file-token.toml");
    std::fs::write(&config, &text).unwrap();
    let out = run(&["sync", "--only", "categories"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let no_token = text.replace(&format!("token_file = \"{}\"", token_file.display()), "");
    std::fs::write(&config, no_token).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"));
    let out = command
        .args([
            "--config",
            config.to_str().unwrap(),
            "sync",
            "--only",
            "categories",
        ])
        .env("ECWID_SYNC_TOKEN", "secret_test")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test]
async fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["sync", "--help"],
        vec!["status", "--help"],
        vec!["check-config", "--help"],
        vec!["demo", "--help"],
        vec!["customer", "export", "--help"],
        vec!["completions", "--help"],
    ] {
        let out = run(&args, None).await;
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

#[tokio::test]
async fn a_second_instance_on_one_mirror_exits_6_naming_the_first_and_status_still_works() {
    let (_store, _scratch, db, config) =
        store_and_config("secret_test", "incremental_cron = \"* * * * * *\"").await;
    // `run` waits for the first instance this long before it gives up.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, with_mirror_setting(&text, "lock_wait_secs = 1")).unwrap();
    let mut daemon = spawn_ecwid_sync(&config, &["run"], std::process::Stdio::null());
    assert!(
        wait_until(std::time::Duration::from_secs(30), || async {
            count(&db, "SELECT count(*) FROM products") == 230
        })
        .await
    );
    let pid = daemon.id().unwrap().to_string();

    for args in [&["sync"][..], &["run"][..]] {
        let out = run(args, Some(&config)).await;
        assert_one_line_error(&out, 6, &format!("another ecwid-sync (pid {pid})"));
    }
    let out = run(&["status"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(terminate(&mut daemon).await.code(), Some(0));
    let out = run(&["sync"], Some(&config)).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "the lock went with the daemon: {}",
        stderr(&out)
    );
}

#[tokio::test]
async fn two_syncs_started_at_once_on_a_fresh_mirror_never_fail_on_the_migration() {
    let (_store, _scratch, _db, config) = store_and_config("secret_test", "").await;
    let (a, b) = tokio::join!(run(&["sync"], Some(&config)), run(&["sync"], Some(&config)));
    for out in [&a, &b] {
        assert!(!stderr(out).contains("migration"), "{}", stderr(out));
        assert!(
            matches!(out.status.code(), Some(0) | Some(6)),
            "{}",
            stderr(out)
        );
    }
    assert!(
        a.status.code() == Some(0) || b.status.code() == Some(0),
        "one of them ran"
    );
}

#[tokio::test]
async fn status_into_a_reader_that_stopped_early_exits_quietly() {
    use std::os::fd::FromRawFd;
    let (_store, _scratch, _db, config) = store_and_config("secret_test", "").await;
    assert_eq!(run(&["sync"], Some(&config)).await.status.code(), Some(0));
    // A pipe whose reader is already gone, as after `ecwid-sync status | head -1`.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { libc::close(fds[0]) };
    let closed = unsafe { std::fs::File::from_raw_fd(fds[1]) };

    for args in [&["status"][..], &["status", "--json"][..]] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(closed.try_clone().unwrap())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn status_on_a_path_that_is_no_mirror_says_what_it_is_and_never_speaks_of_writing() {
    let scratch = Scratch::new();
    let text = scratch.path("notes.txt");
    std::fs::write(&text, "not a database, but long enough to have a header ....................................................................").unwrap();
    let dir = scratch.path("mirrors");
    std::fs::create_dir(&dir).unwrap();
    let other = scratch.path("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER)")
        .unwrap();

    for (path, needle) in [
        (&text, "is not a SQLite database"),
        (&dir, "is a directory; name the SQLite file in it"),
        (&other, "is a SQLite database but not an ecwid-sync mirror"),
    ] {
        for json in [false, true] {
            let mut args = vec!["status", "--mirror", path.to_str().unwrap()];
            if json {
                args.push("--json");
            }
            let out = run(&args, None).await;
            assert_one_line_error(&out, 2, needle);
            assert!(!stderr(&out).contains("write"), "{}", stderr(&out));
        }
    }
}

#[tokio::test]
async fn status_on_a_mirror_it_cannot_read_says_it_cannot_read_it() {
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let conn = ecwid_sync::mirror::open_and_migrate(&db).unwrap();
    conn.execute_batch("DROP TABLE sync_state").unwrap();
    drop(conn);

    let out = run(&["status", "--mirror", db.to_str().unwrap()], None).await;

    assert_one_line_error(&out, 1, "cannot read the mirror");
    assert!(!stderr(&out).contains("write"), "{}", stderr(&out));
}

#[tokio::test]
async fn status_without_a_readable_configuration_suggests_naming_the_mirror() {
    let scratch = Scratch::new();
    let config = scratch.path("config.toml");
    for text in [
        None,
        Some("[ecwid]\nstore_id = 1\n[mirror]\npath = \"m.db\"\n"),
    ] {
        if let Some(text) = text {
            std::fs::write(&config, text).unwrap();
        }
        let out = run(&["status"], Some(&config)).await;
        assert_one_line_error(&out, 2, "ecwid-sync status --mirror PATH");
    }
}

#[tokio::test]
async fn a_log_level_that_is_not_a_level_is_a_configuration_error_naming_the_valid_ones() {
    let (_store, _scratch, db, config) = store_and_config("secret_test", "").await;

    let out = run(&["--log-level", "verbose", "check-config"], Some(&config)).await;
    assert_one_line_error(
        &out,
        2,
        "--log-level: expected a level (off, error, warn, info, debug, trace)",
    );
    let out = run(&["--log-level", "verbose", "sync"], Some(&config)).await;
    assert_one_line_error(&out, 2, "got \"verbose\"");

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[log]\nlevel = \"verbose\"\n");
    std::fs::write(&config, text).unwrap();
    let out = run(&["check-config"], Some(&config)).await;
    assert_one_line_error(
        &out,
        2,
        "log.level: expected a level (off, error, warn, info, debug, trace)",
    );
    assert!(!db.exists(), "nothing was written");
}

#[tokio::test]
async fn check_config_refuses_a_mirror_path_a_run_could_not_use() {
    let (_store, scratch, db, config) = store_and_config("secret_test", "").await;
    let text = std::fs::read_to_string(&config).unwrap();
    let db_line = format!("{:?}", db.display().to_string());
    let with_path = |path: &Path| {
        std::fs::write(
            &config,
            text.replace(&db_line, &format!("{:?}", path.display().to_string())),
        )
        .unwrap();
    };

    with_path(&scratch.path("missing/mirror.db"));
    let out = run(&["check-config"], Some(&config)).await;
    assert_one_line_error(&out, 2, "does not exist; create it");

    with_path(&scratch.path(""));
    let out = run(&["check-config"], Some(&config)).await;
    assert_one_line_error(&out, 2, "is a directory; name the SQLite file in it");

    let not_db = scratch.path("notes.txt");
    std::fs::write(&not_db, "not a database, but long enough to have a header ....................................................................").unwrap();
    with_path(&not_db);
    let out = run(&["check-config"], Some(&config)).await;
    assert_one_line_error(&out, 2, "is not a SQLite database");

    let newer = scratch.path("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    with_path(&newer);
    let out = run(&["check-config"], Some(&config)).await;
    assert_one_line_error(&out, 2, "has schema version 999, newer than");

    with_path(&db);
    let out = run(&["check-config"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!db.exists(), "check-config creates no mirror");
}

#[tokio::test]
async fn sync_against_a_store_it_cannot_reach_warns_at_once_and_exits_1_within_its_bound() {
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    // A port that was free a moment ago and that nothing listens on now.
    let closed = free_local_addr();
    let config = scratch.path("config.toml");
    let api_base = format!("http://{closed}/api/v3");
    std::fs::write(
        &config,
        format!(
            "[ecwid]\nstore_id = 1003\ntoken = \"secret_test\"\napi_base = \"{api_base}\"\n\
             max_retries = 50\nunreachable_give_up_secs = 5\n\n[mirror]\npath = \"{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut child = spawn_ecwid_sync(&config, &["sync"], std::process::Stdio::piped());
    let log = StderrLog::collect(&mut child);

    // The person at the terminal learns at once that it waits, for what, and until when.
    let warned = wait_until(std::time::Duration::from_secs(10), || async {
        log.contains("WARN")
    })
    .await;
    assert!(warned, "a warning within 10 s: {}", log.text());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("sync gives up")
        .unwrap();

    let took = started.elapsed();
    let text = log.whole().await;
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(took >= std::time::Duration::from_secs(4), "{took:?}");
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning for the outage: {text}");
    for needle in [
        api_base.as_str(),
        "Connection refused",
        "next_attempt_in_secs=",
    ] {
        assert!(
            warnings[0].contains(needle),
            "{needle:?} not in {}",
            warnings[0]
        );
    }
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ecwid-sync:"))
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    for needle in [
        format!("cannot reach Ecwid at {api_base}"),
        "ecwid.unreachable_give_up_secs (5 s)".to_string(),
    ] {
        assert!(
            errors[0].contains(&needle),
            "{needle:?} not in {}",
            errors[0]
        );
    }
    assert!(!db.exists(), "nothing is written before the store answers");
}

/// The version line `--version` prints for this checkout, as git tells it.
fn expected_version() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let build = match (
        git(&["rev-parse", "--short=12", "HEAD"]),
        git(&["log", "-1", "--format=%cI", "HEAD"]),
    ) {
        (Some(commit), Some(date)) => format!("commit {commit}, {date}"),
        _ => "built outside a git checkout".to_string(),
    };
    format!("{} ({build})", env!("CARGO_PKG_VERSION"))
}

#[tokio::test]
async fn version_names_the_commit_and_its_date_and_status_shows_the_same() {
    let expected = expected_version();
    let out = run(&["--version"], None).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("ecwid-sync {expected}\n")
    );

    let (_store, _scratch, db, config) = store_and_config("secret_test", "").await;
    let out = run(&["sync"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let out = run(&["status", "--mirror", db.to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().next(),
        Some(format!("ecwid-sync {expected}").as_str()),
        "{text}"
    );
    let out = run(&["status", "--json"], Some(&config)).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["version"], expected.as_str());
}

#[tokio::test]
async fn completions_for_bash_zsh_and_fish_name_every_subcommand_and_another_shell_is_refused() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], None).await;
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in [
            "check-config",
            "outbox",
            "dismiss",
            "all-failed",
            "completions",
        ] {
            assert!(script.contains(word), "{shell}: {word} not in {script}");
        }
        assert!(
            !script.contains("manpages"),
            "{shell}: offers the hidden manpages"
        );
    }

    let out = run(&["completions", "tcsh"], None).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(err.contains("bash, zsh, fish"), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn manpages_writes_a_page_for_the_program_and_each_subcommand_from_the_help_text() {
    let scratch = Scratch::new();
    let dir = scratch.path("man");
    std::fs::create_dir(&dir).unwrap();
    let out = run(&["manpages", dir.to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));

    let page = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let main = page("ecwid-sync.1");
    assert!(main.starts_with(".ie"), "{main}");
    assert!(main.contains(".TH ecwid-sync 1"), "{main}");
    for sub in ["run", "status", "check\\-config", "outbox", "completions"] {
        assert!(
            main.contains(&format!("ecwid\\-sync\\-{sub}(1)")),
            "{sub} not in {main}"
        );
    }
    // The exit codes of `run --help` are in the page of `run`.
    assert!(page("ecwid-sync-run.1").contains("Exit codes"));
    assert!(page("ecwid-sync-outbox-dismiss.1").contains("reason"));
    assert!(!dir.join("ecwid-sync-manpages.1").exists());

    // A directory not there yet is made; a file in the way is a clear error.
    let missing = scratch.path("share/man/man1");
    let out = run(&["manpages", missing.to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(missing.join("ecwid-sync.1").is_file());
    let file = scratch.path("a-file");
    std::fs::write(&file, "").unwrap();
    let out = run(&["manpages", file.to_str().unwrap()], None).await;
    assert_one_line_error(&out, 2, "cannot write the man pages into");
}

#[tokio::test]
async fn the_shipped_example_config_is_refused_by_check_config_and_run_until_the_store_id_is_set() {
    let scratch = Scratch::new();
    let config = scratch.path("config.toml");
    let example = include_str!("../config.toml.example");
    std::fs::write(&config, example).unwrap();
    let expected = format!(
        "ecwid-sync: set [ecwid] store_id in {}: 0 is the example's placeholder",
        config.display()
    );
    for command in ["check-config", "run"] {
        let out = run(&[command], Some(&config)).await;
        assert_one_line_error(&out, 2, &expected);
    }

    let db = scratch.path("mirror.db");
    let set = example
        .replace("\nstore_id = 0\n", "\nstore_id = 1003\n")
        .replace("/var/lib/ecwid-sync/mirror.db", db.to_str().unwrap())
        .replace(
            "token_file = \"/run/credentials/ecwid-sync.service/token\"",
            "token = \"secret_test\"",
        );
    std::fs::write(&config, set).unwrap();
    let out = run(&["check-config"], Some(&config)).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}
