//! Signals to the real binary: SIGHUP reloads the daemon's configuration, and no signal an
//! operator or a service manager sends ends a process without a log line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// `ecwid-sync run` with JSON logs, its mirror past the first pass.
struct Running {
    _scratch: Scratch,
    db: PathBuf,
    config: PathBuf,
    child: tokio::process::Child,
    log: StderrLog,
}

impl Running {
    async fn start(store: &TestStore, sync_extra: &str) -> Running {
        Running::start_with(store, sync_extra, &[]).await
    }

    /// [`Running::start`] with `options` before `run`.
    async fn start_with(store: &TestStore, sync_extra: &str, options: &[&str]) -> Running {
        let scratch = Scratch::new();
        let db = scratch.path("mirror.db");
        let config = write_config(store, &db, sync_extra);
        let args = [options, &["--log-format", "json", "run"]].concat();
        let mut child = spawn_ecwid_sync(&config, &args, Stdio::piped());
        let log = StderrLog::collect(&mut child);
        assert!(first_pass_done(&db).await, "first pass: {}", log.text());
        Running {
            _scratch: scratch,
            db,
            config,
            child,
            log,
        }
    }

    fn rewrite_config(&self, store: &TestStore, db: &Path, sync_extra: &str) {
        std::fs::write(
            &self.config,
            config_text(store, db, &store.config.token, sync_extra),
        )
        .unwrap();
    }

    fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("still running") as i32;
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// The first JSON log line whose message is `message` and that `also` accepts.
    async fn line(&self, message: &str, also: impl Fn(&Value) -> bool) -> Value {
        let found = |text: String| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| l["fields"]["message"] == message && also(l))
        };
        assert!(
            wait_until(Duration::from_secs(20), || async {
                found(self.log.text()).is_some()
            })
            .await,
            "no {message:?} line in: {}",
            self.log.text()
        );
        found(self.log.text()).unwrap()
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Edits a product in the store and waits for the daemon to bring it into the mirror.
    async fn follows_an_edit(&self, store: &TestStore, name: &str) -> bool {
        let id = store.state().await["products"][0]["id"].as_i64().unwrap();
        store.admin_edit_product(id, json!({"name": name})).await;
        let sql = format!("SELECT count(*) FROM products WHERE id = {id} AND name = '{name}'");
        wait_until(Duration::from_secs(20), || async {
            count(&self.db, &sql) == 1
        })
        .await
    }
}

const EVERY_SECOND: &str = "incremental_cron = \"* * * * * *\"";
/// A schedule that does not fire while a test runs (midnight on the first of January).
const NEVER_DURING_A_TEST: &str = "incremental_cron = \"0 0 0 1 1 *\"";

#[tokio::test]
async fn sighup_applies_a_new_schedule_and_log_level_and_sigterm_still_exits_zero_with_the_log_checkpointed()
 {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = Running::start(&store, NEVER_DURING_A_TEST).await;
    let passes_before = store.request_count("GET /latest-stats").await;

    daemon.rewrite_config(
        &store,
        &daemon.db.clone(),
        &format!("{EVERY_SECOND}\n[log]\nlevel = \"debug\"\n"),
    );
    daemon.signal(libc::SIGHUP);

    let reloaded = daemon.line("configuration reloaded", |_| true).await;
    assert_eq!(
        reloaded["fields"]["changed"], "sync.incremental_cron, log.level",
        "{reloaded}"
    );
    assert!(
        wait_until(Duration::from_secs(20), || async {
            store.request_count("GET /latest-stats").await >= passes_before + 2
        })
        .await,
        "the new schedule runs passes every second"
    );
    // Logged only at debug: the new level is in force.
    daemon
        .line("nothing changed since the last pull", |_| true)
        .await;
    assert!(daemon.still_running());
    assert!(
        daemon
            .follows_an_edit(&store, "Edited after a reload")
            .await
    );

    assert_eq!(terminate(&mut daemon.child).await.code(), Some(0));
    assert_eq!(
        count_in_main_file_copy(
            &daemon.db,
            "SELECT count(*) FROM products WHERE name = 'Edited after a reload'"
        ),
        1,
        "after a clean exit mirror.db alone holds everything"
    );
    assert!(
        !daemon.log.text().contains(&store.config.token),
        "the token leaked into the logs"
    );
}

#[tokio::test]
async fn a_log_level_given_on_the_command_line_wins_over_the_files_at_a_reload_as_at_start() {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = Running::start_with(&store, EVERY_SECOND, &["--log-level", "info"]).await;

    daemon.rewrite_config(
        &store,
        &daemon.db.clone(),
        &format!("{EVERY_SECOND}\n[log]\nlevel = \"debug\"\n"),
    );
    daemon.signal(libc::SIGHUP);

    let reloaded = daemon.line("configuration reloaded", |_| true).await;
    assert_eq!(reloaded["fields"]["changed"], "nothing", "{reloaded}");
    // Passes every second meanwhile: none logs at debug.
    assert!(daemon.follows_an_edit(&store, "Still at info").await);
    assert!(
        !daemon.log.contains("\"level\":\"DEBUG\""),
        "{}",
        daemon.log.text()
    );
    assert_eq!(terminate(&mut daemon.child).await.code(), Some(0));
}

#[tokio::test]
async fn sighup_with_a_new_mirror_path_names_it_in_a_warning_and_keeps_the_running_mirror() {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = Running::start(&store, EVERY_SECOND).await;
    let elsewhere = daemon.db.with_file_name("elsewhere.db");

    daemon.rewrite_config(&store, &elsewhere, EVERY_SECOND);
    daemon.signal(libc::SIGHUP);

    let reloaded = daemon.line("configuration reloaded", |_| true).await;
    assert_eq!(reloaded["fields"]["changed"], "nothing", "{reloaded}");
    let kept = daemon
        .line(
            "changed in the configuration file but applied only by a restart (systemctl restart ecwid-sync); the running values are kept",
            |_| true,
        )
        .await;
    assert_eq!(kept["level"], "WARN", "{kept}");
    assert_eq!(kept["fields"]["keys"], "mirror.path", "{kept}");

    assert!(
        daemon
            .follows_an_edit(&store, "Still the first mirror")
            .await
    );
    assert!(!elsewhere.exists(), "the new path is not opened");
    assert!(daemon.still_running());
    assert_eq!(terminate(&mut daemon.child).await.code(), Some(0));
}

#[tokio::test]
async fn sighup_with_a_file_that_no_longer_validates_logs_its_error_and_keeps_running_as_before() {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = Running::start(&store, EVERY_SECOND).await;

    daemon.rewrite_config(
        &store,
        &daemon.db.clone(),
        &format!("{EVERY_SECOND}\nfull_cron = \"at half past three\"\n"),
    );
    daemon.signal(libc::SIGHUP);

    let refused = daemon
        .line(
            "configuration not reloaded: the file is not valid; the running configuration is kept",
            |_| true,
        )
        .await;
    assert_eq!(refused["level"], "ERROR", "{refused}");
    let error = refused["fields"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("sync.full_cron: invalid cron expression \"at half past three\""),
        "{error}"
    );
    assert!(!daemon.log.contains("configuration reloaded"));
    assert!(
        daemon
            .follows_an_edit(&store, "Kept the old schedule")
            .await
    );

    // Once the file is mended, the next reload takes it.
    daemon.rewrite_config(
        &store,
        &daemon.db.clone(),
        &format!("{EVERY_SECOND}\nfull_cron = \"0 45 3 * * *\"\n"),
    );
    daemon.signal(libc::SIGHUP);
    let reloaded = daemon.line("configuration reloaded", |_| true).await;
    assert_eq!(
        reloaded["fields"]["changed"], "sync.full_cron",
        "{reloaded}"
    );
    assert_eq!(terminate(&mut daemon.child).await.code(), Some(0));
}

#[tokio::test]
async fn sigusr1_and_sigusr2_are_logged_and_ignored_and_sigquit_stops_the_daemon_cleanly() {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = Running::start(&store, EVERY_SECOND).await;

    for (signal, name) in [(libc::SIGUSR1, "SIGUSR1"), (libc::SIGUSR2, "SIGUSR2")] {
        daemon.signal(signal);
        daemon
            .line("signal ignored: ecwid-sync gives it no meaning", |l| {
                l["fields"]["signal"] == name
            })
            .await;
    }
    assert!(
        daemon
            .follows_an_edit(&store, "After two user signals")
            .await
    );
    assert!(daemon.still_running());

    daemon.signal(libc::SIGQUIT);
    let status = tokio::time::timeout(Duration::from_secs(20), daemon.child.wait())
        .await
        .expect("exits within 20 s of SIGQUIT")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", daemon.log.text());
    daemon
        .line("shutdown requested; finishing the current page", |l| {
            l["fields"]["signal"] == "SIGQUIT"
        })
        .await;
    daemon.line("ecwid-sync stopped", |_| true).await;
}

#[tokio::test]
async fn sighup_stops_a_one_off_sync_cleanly_with_a_log_line_as_a_hung_up_terminal_would() {
    let store = TestStore::start(ecwid_emulator::EmulatorConfig {
        products: 3000,
        ..TestStore::small()
    })
    .await;
    // Slow pages, so the pull is still running when the signal comes.
    store.set_faults(json!({"latency_ms": 40})).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "fetch_ahead = 1");
    let mut sync = spawn_ecwid_sync(&config, &["sync", "--only", "products"], Stdio::piped());
    let log = StderrLog::collect(&mut sync);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            count(&db, "SELECT count(*) FROM products") >= 300
        })
        .await
    );

    let pid = sync.id().unwrap() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(20), sync.wait())
        .await
        .expect("exits within 20 s of SIGHUP")
        .unwrap();

    assert_eq!(status.code(), Some(0), "{}", log.text());
    assert!(
        wait_until(Duration::from_secs(5), || async {
            log.contains("shutdown requested") && log.contains("SIGHUP")
        })
        .await,
        "{}",
        log.text()
    );
    let rows = count(&db, "SELECT count(*) FROM products");
    assert!(
        rows < 3000,
        "the pull should have been interrupted, has {rows}"
    );
    assert_eq!(rows % 100, 0, "only whole pages are committed: {rows}");
}

/// Posts a signed `product.updated` event created `age_secs` ago to `daemon`; the status.
async fn deliver_aged_event(
    store: &TestStore,
    daemon: &WebhookDaemon,
    event_id: &str,
    age_secs: i64,
) -> u16 {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - age_secs;
    let event = json!({
        "eventId": event_id,
        "eventType": "product.updated",
        "eventCreated": created,
        "storeId": store.config.store_id,
        "entityId": store.state().await["products"][0]["id"],
    });
    reqwest::Client::new()
        .post(format!("http://{}/webhooks/ecwid", daemon.listen))
        .header(
            "X-Ecwid-Webhook-Signature",
            ecwid_emulator::signature(&store.config.client_secret, created, event_id),
        )
        .body(event.to_string())
        .send()
        .await
        .expect("the daemon answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_reload_that_shortens_the_webhook_replay_window_applies_to_the_next_delivery() {
    let store = TestStore::start(TestStore::small()).await;
    let mut daemon = WebhookDaemon::start(&store).await;
    let too_old = |id: &str| {
        count(
            &daemon.db,
            &format!(
                "SELECT count(*) FROM webhook_events WHERE event_id = '{id}' AND state = 'too_old'"
            ),
        )
    };
    assert_eq!(
        deliver_aged_event(&store, &daemon, "before", 600).await,
        200
    );
    assert_eq!(too_old("before"), 0, "within the default two days");

    let listen = format!("listen = \"{}\"", daemon.listen);
    std::fs::write(
        daemon.db.with_extension("toml"),
        webhook_config_text(&store, &daemon.db, daemon.listen, "")
            .replace(&listen, &format!("{listen}\nmax_event_age_secs = 60")),
    )
    .unwrap();
    let pid = daemon.child.id().unwrap() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert!(
        wait_until(Duration::from_secs(20), || async {
            daemon.log.text().lines().any(|l| {
                l.contains("configuration reloaded") && l.contains("webhooks.max_event_age_secs")
            })
        })
        .await,
        "{}",
        daemon.log.text()
    );

    assert_eq!(deliver_aged_event(&store, &daemon, "after", 600).await, 200);
    assert_eq!(too_old("after"), 1, "past the reloaded 60 s");
    assert_eq!(terminate(&mut daemon.child).await.code(), Some(0));
}

#[tokio::test]
async fn a_reload_that_changes_a_conflict_policy_settles_the_next_conflict_by_the_new_policy() {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = Running::start(&store, NEVER_DURING_A_TEST).await;
    let id = store.state().await["products"][3]["id"].as_i64().unwrap();

    // Prices start as `manual`: a conflict would wait for the operator.
    daemon.rewrite_config(
        &store,
        &daemon.db.clone(),
        &format!("{NEVER_DURING_A_TEST}\n[conflicts]\nprice = \"local_wins\"\n"),
    );
    daemon.signal(libc::SIGHUP);
    let reloaded = daemon.line("configuration reloaded", |_| true).await;
    assert_eq!(
        reloaded["fields"]["changed"], "conflicts.price",
        "{reloaded}"
    );

    // Changed in Ecwid, unseen by the mirror, then changed in the mirror by a tool.
    store.admin_edit_product(id, json!({"price": 12.0})).await;
    open(&daemon.db)
        .execute(
            &format!("UPDATE products SET price = 11 WHERE id = {id}"),
            [],
        )
        .unwrap();

    let store_price = || async {
        let state = store.state().await;
        state["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["price"]
            .clone()
    };
    assert!(
        wait_until(Duration::from_secs(20), || async {
            store_price().await == json!(11.0)
        })
        .await,
        "the local price wins: {}",
        daemon.log.text()
    );
    assert_eq!(
        query(
            &open(&daemon.db),
            "SELECT policy, state, resolution FROM conflicts"
        ),
        vec![json!(["local_wins", "resolved", "local"])]
    );
}

#[tokio::test]
async fn systemd_is_told_reloading_then_ready_around_a_reload() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, NEVER_DURING_A_TEST);
    // Where systemd would listen for the service's notifications.
    let socket_path = scratch.path("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let next = || async {
        let mut buf = vec![0; 4096];
        let n = tokio::time::timeout(Duration::from_secs(20), socket.recv(&mut buf))
            .await
            .expect("a notification within 20 s")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next().await, "READY=1\n");

    assert_eq!(
        unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGHUP) },
        0
    );
    let reloading = next().await;
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert_eq!(next().await, "READY=1\n");

    assert_eq!(terminate(&mut child).await.code(), Some(0));
    assert_eq!(next().await, "STOPPING=1\n");
}
