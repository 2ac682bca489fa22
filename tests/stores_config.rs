//! Several stores in one configuration, as an operator meets them on the command line: the
//! main file with `stores.d/<name>.toml` beside it, `check-config` over all of them, and
//! `--store` picking one store for `status`, `sync` and `outbox`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use ecwid_emulator::EmulatorConfig;
use serde_json::Value;

/// The main file: the listener, the console and the defaults every store inherits.
const MAIN: &str = "[webhooks]\nlisten = \"127.0.0.1:0\"\n[console]\nlisten = \"127.0.0.1:0\"\n\
                    [sync]\nfull_cron = \"0 0 4 * * *\"\n";

/// A configuration directory: `config.toml` and `stores.d/`.
struct Layout {
    scratch: Scratch,
}

impl Layout {
    fn new() -> Layout {
        let layout = Layout {
            scratch: Scratch::new(),
        };
        std::fs::write(layout.main(), MAIN).unwrap();
        std::fs::create_dir(layout.scratch.path("stores.d")).unwrap();
        layout
    }

    fn main(&self) -> PathBuf {
        self.scratch.path("config.toml")
    }

    fn store_file(&self, name: &str) -> PathBuf {
        self.scratch.path("stores.d").join(format!("{name}.toml"))
    }

    fn mirror(&self, name: &str) -> PathBuf {
        self.scratch.path(&format!("{name}.db"))
    }

    fn add(&self, name: &str, text: &str) {
        std::fs::write(self.store_file(name), text).unwrap();
    }

    /// Store `name` mirroring `store` into `<name>.db`: the test configuration's [ecwid],
    /// [mirror] and [sync], without the listener and console the main file holds.
    fn add_store(&self, name: &str, store: &TestStore) {
        let text = config_text(store, &self.mirror(name), &store.config.token, "");
        let own = &text[text.find("[ecwid]").expect("an [ecwid] section")..];
        self.add(name, own);
    }

    /// Store `name` for a store that is never asked (`check-config` only).
    fn add_offline_store(&self, name: &str, store_id: u64) {
        self.add(
            name,
            &format!(
                "[ecwid]\nstore_id = {store_id}\ntoken = \"secret_{name}\"\n[mirror]\npath = {:?}\n",
                self.mirror(name).display().to_string()
            ),
        );
    }

    fn run(&self, args: &[&str]) -> Output {
        run_as_operator(&self.main(), args)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The command failed with `code` and one error line holding every one of `needles`.
fn assert_error(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("ecwid-sync:") && !l.starts_with("ecwid-sync: warning:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected in: {err}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in {:?}",
            lines[0]
        );
    }
}

fn shop(store_id: u64, products: usize) -> EmulatorConfig {
    EmulatorConfig {
        store_id,
        token: format!("secret_token_{store_id}"),
        products,
        orders: 10,
        customers: 5,
        ..TestStore::small()
    }
}

#[test]
fn check_config_prints_every_store_under_its_name_and_file_with_secrets_masked() {
    let layout = Layout::new();
    layout.add_offline_store("north", 4101);
    layout.add_offline_store("south", 4102);
    std::fs::write(
        layout.scratch.path("stores.d/README"),
        "the stores this server mirrors",
    )
    .unwrap();

    let out = layout.run(&["check-config"]);

    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.starts_with(&format!("# {}: valid, 2 stores\n", layout.main().display())),
        "{printed}"
    );
    let north = printed
        .find(&format!(
            "# store north: {}\n",
            layout.store_file("north").display()
        ))
        .expect("north's header");
    let south = printed
        .find(&format!(
            "# store south: {}\n",
            layout.store_file("south").display()
        ))
        .expect("south's header");
    assert!(north < south, "sorted by name: {printed}");
    for (at, id, name) in [(north, "4101", "north"), (south, "4102", "south")] {
        let block = &printed[at..];
        assert!(block.contains(&format!("store_id = {id}")), "{block}");
        assert!(
            block.contains(&format!(
                "path = {:?}",
                layout.mirror(name).display().to_string()
            )),
            "{block}"
        );
        // Inherited from the main file.
        assert!(block.contains("full_cron = \"0 0 4 * * *\""), "{block}");
    }
    assert!(
        !printed.contains("secret_north") && !stderr(&out).contains("secret_north"),
        "{printed}"
    );
}

#[test]
fn check_config_names_the_file_of_each_error() {
    let layout = Layout::new();
    layout.add_offline_store("north", 4101);
    layout.add(
        "south",
        "[ecwid]\nstore_id = 4102\ntoken = \"secret_south\"\nburst = 0\n[mirror]\npath = \"s.db\"\n",
    );
    let out = layout.run(&["check-config"]);
    let south = layout.store_file("south").display().to_string();
    assert_error(
        &out,
        2,
        &[&format!(
            "{south}: ecwid.burst: expected an integer from 1 to 1000"
        )],
    );

    layout.add_offline_store("south", 4102);
    std::fs::write(layout.main(), MAIN.replace("0 0 4 * * *", "0 0 0 31 2 *")).unwrap();
    let out = layout.run(&["check-config"]);
    let main = layout.main().display().to_string();
    assert_error(&out, 2, &[&format!("{main}: sync.full_cron: ")]);

    std::fs::write(layout.main(), MAIN).unwrap();
    layout.add(
        "south",
        &format!(
            "{}[log]\nlevel = \"debug\"\n",
            std::fs::read_to_string(layout.store_file("north"))
                .unwrap()
                .replace("4101", "4102")
                .replace("north.db", "south.db")
        ),
    );
    let out = layout.run(&["check-config"]);
    assert_error(
        &out,
        2,
        &[&format!("{south}: [log] belongs in the main file {main}")],
    );

    layout.add_offline_store("south", 4101);
    let out = layout.run(&["check-config"]);
    assert_error(
        &out,
        2,
        &[&format!(
            "{} and {south} both set ecwid.store_id = 4101",
            layout.store_file("north").display()
        )],
    );
    assert!(!stderr(&out).contains("secret_"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_picks_one_store_and_status_without_it_lists_every_store() {
    let north = TestStore::start(shop(4201, 12)).await;
    let south = TestStore::start(shop(4202, 17)).await;
    let layout = Layout::new();
    layout.add_store("north", &north);
    layout.add_store("south", &south);

    // A command acting on one store needs to be told which.
    let out = layout.run(&["sync"]);
    assert_error(
        &out,
        2,
        &["several stores are configured (north, south): pass --store NAME"],
    );
    for name in ["north", "south"] {
        let out = layout.run(&["sync", "--store", name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    }
    let products = |path: &Path| count(path, "SELECT count(*) FROM products");
    assert_eq!(products(&layout.mirror("north")), 12);
    assert_eq!(products(&layout.mirror("south")), 17);

    let out = layout.run(&["status", "--store", "south", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_kind(&status, "products")["rows"], 17);
    assert_eq!(
        status["mirror"],
        layout.mirror("south").display().to_string()
    );

    let out = layout.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for name in ["north", "south"] {
        let header = format!(
            "== store {name} ({}) ==\n",
            layout.store_file(name).display()
        );
        assert!(text.contains(&header), "{header} not in {text}");
        assert!(
            text.contains(&format!("mirror: {}\n", layout.mirror(name).display())),
            "{text}"
        );
    }

    let out = layout.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let every: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_kind(&every["north"], "products")["rows"], 12);
    assert_eq!(status_kind(&every["south"], "products")["rows"], 17);

    for args in [
        &["status", "--store", "nope"][..],
        &["outbox", "list", "--store", "nope"],
        &["push", "--store", "nope"],
    ] {
        let out = layout.run(args);
        assert_error(
            &out,
            2,
            &["no store named \"nope\"; the stores are: north, south"],
        );
    }

    // --store before or after the subcommand's action.
    for args in [
        &["outbox", "--store", "north", "list"][..],
        &["outbox", "list", "--store", "north"],
    ] {
        let out = layout.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains("(no changes)"), "{}", stdout(&out));
    }
    let out = layout.run(&["outbox", "list"]);
    assert_error(&out, 2, &["pass --store NAME"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_store_configuration_reads_and_prints_as_before() {
    let store = TestStore::start(shop(4301, 9)).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let config = write_config(&store, &db, "");

    let out = run_as_operator(&config, &["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.starts_with(&format!("# {}: valid\n", config.display())),
        "{printed}"
    );
    assert!(!printed.contains("# store "), "{printed}");

    let out = run_as_operator(&config, &["sync", "--store", "default"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_as_operator(&config, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ecwid-sync "), "{}", stdout(&out));
    let out = run_as_operator(&config, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_kind(&status, "products")["rows"], 9);
}
