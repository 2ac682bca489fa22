//! Several stores in one configuration: the main file, and one file per store in
//! `stores.d/` beside it (`stores.d/<name>.toml`, the store named `<name>`).
//!
//! A store's file holds its own `[ecwid]` and `[mirror]`, and may override the main file's
//! `[sync]`, `[push]`, `[conflicts]` and `[privacy]` key by key; the listener, the console
//! and the log are one for every store, so they stay in the main file. A main file alone is
//! today's single store, read exactly as [`Config::load`] reads it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};

use super::{
    Config, ConfigError, RawConfig, SecretEnv, file_errors, raw_from_text, read, validate,
};

/// The name of the store configured in the main file itself.
pub const MAIN_STORE: &str = "default";

/// The directory beside the main file that holds one file per store.
pub const STORES_DIR: &str = "stores.d";

/// A store's own sections: never inherited from the main file, whose `[ecwid]` and
/// `[mirror]` are another store's (its token, its mirror file).
const OWN_SECTIONS: [&str; 2] = ["ecwid", "mirror"];

/// Sections one listener, one console and one log serve for every store.
const MAIN_FILE_SECTIONS: [&str; 3] = ["webhooks", "console", "log"];

/// One store: its name (in logs, metrics and `--store`), the file it is configured in, and
/// its whole configuration, the main file's shared sections included.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub name: String,
    pub file: PathBuf,
    pub config: Config,
}

/// Every store the configuration names, sorted by name.
#[derive(Clone, Debug)]
pub struct Stores {
    /// The main configuration file.
    pub main: PathBuf,
    pub stores: Vec<StoreConfig>,
}

/// What a newer reading of the configuration changes in the set of stores, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoresDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
}

impl Stores {
    /// One store, named [`MAIN_STORE`], configured by `config` alone (the demo, tests).
    pub fn single(config: Config) -> Stores {
        Stores {
            main: PathBuf::new(),
            stores: vec![StoreConfig {
                name: MAIN_STORE.into(),
                file: PathBuf::new(),
                config,
            }],
        }
    }

    /// Reads the main file at `main` and the stores' files in `stores.d/` beside it.
    /// Secrets from `env` (the environment) apply only to the main file's store: the
    /// environment holds one token, and which store it belongs to must not be guessed.
    pub fn load(main: &Path, env: &SecretEnv) -> Result<Stores, ConfigError> {
        let files = store_files(&main.with_file_name(STORES_DIR))?;
        let text = read(main)?;
        let main_table = toml::from_str::<Table>(&text).ok();
        let main_is_store = main_table
            .as_ref()
            .is_none_or(|t| OWN_SECTIONS.iter().any(|s| t.contains_key(*s)));
        if files.is_empty() {
            // Today's single store: its errors as Config::load gives them, except that a
            // main file configuring no store at all is named, as stores.d could have held one.
            let config = Config::parse(&text, env).map_err(|e| match main_is_store {
                true => e.with_path(main),
                false => e.in_file(main),
            })?;
            return Ok(Stores {
                main: main.to_owned(),
                stores: vec![StoreConfig {
                    name: MAIN_STORE.to_string(),
                    file: main.to_owned(),
                    config,
                }],
            });
        }

        let main_table = checked_table(&text).map_err(|e| e.in_file(main))?;
        let mut stores = Vec::new();
        if main_is_store {
            stores.push(StoreConfig {
                name: MAIN_STORE.to_string(),
                file: main.to_owned(),
                config: Config::parse(&text, env).map_err(|e| e.in_file(main))?,
            });
        }
        let store_env = SecretEnv {
            token: None,
            client_secret: None,
            console_token: env.console_token.clone(),
            unit_dirs: env.unit_dirs.clone(),
        };
        for (name, file) in files {
            if main_is_store && name == MAIN_STORE {
                return Err(ConfigError::MainStoreClash {
                    path: file,
                    main: main.to_owned(),
                });
            }
            let config = store_config(main, &main_table, &file, &store_env)?;
            stores.push(StoreConfig { name, file, config });
        }
        check_distinct(&stores)?;
        stores.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Stores {
            main: main.to_owned(),
            stores,
        })
    }

    pub fn get(&self, name: &str) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.name == name)
    }

    /// The stores' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.stores.iter().map(|s| s.name.clone()).collect()
    }

    /// Whether there is one store only, so that naming it is never needed.
    pub fn is_single(&self) -> bool {
        self.stores.len() == 1
    }

    /// The store called `name`; without a name, the only store there is.
    pub fn select(&self, name: Option<&str>) -> Result<&StoreConfig, ConfigError> {
        match (name, self.stores.as_slice()) {
            (None, [only]) => Ok(only),
            (None, _) => Err(ConfigError::StoreNotChosen {
                names: self.names(),
            }),
            (Some(name), _) => self.get(name).ok_or_else(|| ConfigError::UnknownStore {
                name: name.to_string(),
                names: self.names(),
            }),
        }
    }

    /// The stores `newer` starts, stops and keeps compared with these, by name.
    pub fn diff(&self, newer: &Stores) -> StoresDiff {
        let mut diff = StoresDiff::default();
        for name in newer.names() {
            match self.get(&name) {
                Some(_) => diff.kept.push(name),
                None => diff.added.push(name),
            }
        }
        diff.removed = self
            .names()
            .into_iter()
            .filter(|name| newer.get(name).is_none())
            .collect();
        diff
    }
}

/// The stores' files in `dir`, `(name, path)` sorted by name; none when it does not exist.
/// Only `*.toml` counts, so that an editor's backup or a `README` beside them is no store.
fn store_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, ConfigError> {
    let unreadable = |source| ConfigError::Read {
        path: dir.to_owned(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(unreadable)?.path();
        let file_name = path.file_name().unwrap_or_default();
        if !file_name.as_encoded_bytes().ends_with(b".toml") {
            continue;
        }
        let name = file_name
            .to_str()
            .and_then(|n| n.strip_suffix(".toml"))
            .filter(|name| is_store_name(name))
            .ok_or_else(|| ConfigError::StoreName { path: path.clone() })?;
        files.push((name.to_string(), path));
    }
    files.sort();
    Ok(files)
}

/// A name that is safe in a log field, a metric label, a file name and a command line.
fn is_store_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The file's text as a table, once every key in it is known to be of its type (so that
/// its errors say their line, which the merged table no longer can).
fn checked_table(text: &str) -> Result<Table, ConfigError> {
    raw_from_text(text)?;
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: PathBuf::new(),
        message: file_errors::describe_syntax(text, &e),
    })
}

/// The store configured in `file`: its own sections over the main file's.
fn store_config(
    main: &Path,
    main_table: &Table,
    file: &Path,
    env: &SecretEnv,
) -> Result<Config, ConfigError> {
    let text = read(file)?;
    let own = toml::from_str::<Table>(&text).map_err(|e| ConfigError::Parse {
        path: file.to_owned(),
        message: file_errors::describe_syntax(&text, &e),
    })?;
    if let Some(section) = own
        .keys()
        .find(|key| MAIN_FILE_SECTIONS.contains(&key.as_str()))
    {
        return Err(ConfigError::MainFileOnly {
            path: file.to_owned(),
            section: section.clone(),
            main: main.to_owned(),
        });
    }
    let own = checked_table(&text).map_err(|e| e.in_file(file))?;
    if let Some(section) = OWN_SECTIONS.into_iter().find(|s| !own.contains_key(*s)) {
        return Err(ConfigError::StoreSectionMissing {
            path: file.to_owned(),
            section,
        });
    }
    let raw = RawConfig::deserialize(Value::Table(merged(main_table, &own))).map_err(|e| {
        ConfigError::Parse {
            path: file.to_owned(),
            message: e.message().to_string(),
        }
    })?;
    validate(raw, env).map_err(|e| {
        let from = if written_in(&e, &own) { file } else { main };
        e.in_file(from)
    })
}

/// The main file's sections but its store's own, with the store's sections over them key
/// by key: a store inherits `[sync] full_cron` while setting its own `incremental_cron`.
fn merged(main: &Table, own: &Table) -> Table {
    let mut sections: Table = main
        .iter()
        .filter(|(section, _)| !OWN_SECTIONS.contains(&section.as_str()))
        .map(|(section, keys)| (section.clone(), keys.clone()))
        .collect();
    for (section, keys) in own {
        match (sections.get_mut(section), keys) {
            (Some(Value::Table(inherited)), Value::Table(keys)) => {
                inherited.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                sections.insert(section.clone(), keys.clone());
            }
        }
    }
    sections
}

/// Whether the key `err` is about comes from the store's file (`own`) rather than from
/// the main file it inherits the rest from.
fn written_in(err: &ConfigError, own: &Table) -> bool {
    let key = match err {
        ConfigError::Invalid { key, .. } => *key,
        ConfigError::Type { key, .. } => key.as_str(),
        _ => return true,
    };
    let (section, name) = key.split_once('.').unwrap_or((key, ""));
    let name = name.split('[').next().unwrap_or(name);
    OWN_SECTIONS.contains(&section)
        || own
            .get(section)
            .and_then(Value::as_table)
            .is_some_and(|keys| keys.contains_key(name))
}

/// Two stores writing one mirror would overwrite each other's rows, and one store twice
/// would pull and push everything twice.
fn check_distinct(stores: &[StoreConfig]) -> Result<(), ConfigError> {
    let mirrors: Vec<PathBuf> = stores
        .iter()
        .map(|s| mirror_identity(&s.config.mirror.path))
        .collect();
    for (i, a) in stores.iter().enumerate() {
        for (j, b) in stores.iter().enumerate().skip(i + 1) {
            if a.config.ecwid.store_id == b.config.ecwid.store_id {
                return Err(ConfigError::SameStoreId {
                    first: a.file.clone(),
                    second: b.file.clone(),
                    store_id: a.config.ecwid.store_id,
                });
            }
            if mirrors[i] == mirrors[j] {
                return Err(ConfigError::SameMirror {
                    first: a.file.clone(),
                    second: b.file.clone(),
                    mirror: mirrors[i].clone(),
                });
            }
        }
    }
    Ok(())
}

/// The mirror file as one path whatever way it is written: absolute, links resolved. The
/// file itself may not exist yet (a store never pulled), so then its directory is resolved.
fn mirror_identity(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    if let Ok(real) = absolute.canonicalize() {
        return real;
    }
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|dir| dir.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A main file and its stores' files in a temporary directory.
    struct Layout {
        dir: tempfile::TempDir,
    }

    impl Layout {
        fn new(main: &str) -> Layout {
            let layout = Layout {
                dir: tempfile::tempdir().unwrap(),
            };
            std::fs::write(layout.main(), main.replace("DIR", &layout.dir_text())).unwrap();
            layout
        }

        fn dir_text(&self) -> String {
            self.dir.path().display().to_string()
        }

        fn main(&self) -> PathBuf {
            self.dir.path().join("config.toml")
        }

        fn store_file(&self, name: &str) -> PathBuf {
            self.dir.path().join(STORES_DIR).join(name)
        }

        fn add(&self, file_name: &str, text: &str) -> &Layout {
            let path = self.store_file(file_name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text.replace("DIR", &self.dir_text())).unwrap();
            self
        }

        fn load(&self) -> Result<Stores, ConfigError> {
            Stores::load(&self.main(), &SecretEnv::default())
        }

        fn error(&self) -> String {
            let err = self.load().unwrap_err().to_string();
            assert!(!err.contains('\n'), "one line: {err}");
            err
        }

        fn assert_error_starts(&self, start: &str) {
            let err = self.error();
            assert!(err.starts_with(start), "{start:?} does not start {err:?}");
        }
    }

    fn store(id: u64, mirror: &str) -> String {
        format!(
            "[ecwid]\nstore_id = {id}\ntoken = \"secret_{id}\"\n[mirror]\npath = \"DIR/{mirror}\"\n"
        )
    }

    const SHARED: &str = "[sync]\nfull_cron = \"0 0 4 * * *\"\nincremental_cron = \"0 */5 * * * *\"\n\
                          [webhooks]\nlisten = \"127.0.0.1:9911\"\n";

    #[test]
    fn a_main_file_alone_is_the_single_store_config_load_reads() {
        let layout = Layout::new(&format!("{}{SHARED}", store(1003, "m.db")));
        let stores = layout.load().unwrap();
        assert!(stores.is_single());
        assert_eq!(stores.names(), [MAIN_STORE]);
        let only = stores.select(None).unwrap();
        assert_eq!(only.file, layout.main());
        let direct = Config::load(&layout.main(), &SecretEnv::default()).unwrap();
        assert_eq!(only.config.to_masked_toml(), direct.to_masked_toml());
        assert_eq!(only.config.ecwid.token.expose(), "secret_1003");
        // An empty stores.d, or one holding no .toml, changes nothing.
        layout.add("README", "stores go here");
        assert!(layout.load().unwrap().is_single());
    }

    #[test]
    fn a_single_stores_errors_are_config_loads() {
        let layout = Layout::new("[ecwid]\nstore_id = \"1003\"\n");
        let direct = Config::load(&layout.main(), &SecretEnv::default()).unwrap_err();
        assert_eq!(layout.error(), direct.to_string());
        assert!(layout.error().starts_with("ecwid.store_id: "));
    }

    #[test]
    fn each_file_in_stores_d_is_a_store_named_after_it_with_its_own_mirror() {
        let layout = Layout::new(SHARED);
        layout
            .add("shop-b.toml", &store(2, "b.db"))
            .add("shop_a.toml", &store(1, "a.db"))
            .add("notes.txt", "not a store")
            .add("shop_a.toml~", "an editor's backup");
        let stores = layout.load().unwrap();
        assert_eq!(stores.names(), ["shop-b", "shop_a"]);
        assert!(!stores.is_single());
        let a = stores.get("shop_a").unwrap();
        assert_eq!(a.file, layout.store_file("shop_a.toml"));
        assert_eq!(a.config.ecwid.store_id, 1);
        assert_eq!(a.config.ecwid.token.expose(), "secret_1");
        assert_eq!(a.config.mirror.path, layout.dir.path().join("a.db"));
        // The shared sections are the main file's.
        assert_eq!(a.config.webhooks.listen, "127.0.0.1:9911".parse().unwrap());
        assert_eq!(
            stores.select(Some("shop-b")).unwrap().config.ecwid.store_id,
            2
        );
    }

    #[test]
    fn a_main_file_with_a_store_keeps_it_as_the_default_store_beside_the_others() {
        let layout = Layout::new(&format!("{}{SHARED}", store(1, "main.db")));
        layout.add("b.toml", &store(2, "b.db"));
        let stores = layout.load().unwrap();
        assert_eq!(stores.names(), ["b", MAIN_STORE]);
        assert_eq!(stores.get(MAIN_STORE).unwrap().file, layout.main());

        layout.add("default.toml", &store(3, "c.db"));
        layout.assert_error_starts(&format!(
            "{}: the store named \"default\" is the one configured in {}",
            layout.store_file("default.toml").display(),
            layout.main().display()
        ));
    }

    #[test]
    fn a_store_inherits_the_main_files_sections_key_by_key_and_overrides_them() {
        let layout = Layout::new(&format!(
            "{SHARED}[push]\npoll_interval_ms = 1000\n[conflicts]\nprice = \"local_wins\"\n"
        ));
        layout
            .add(
                "a.toml",
                &format!(
                    "{}[sync]\nincremental_cron = \"0 * * * * *\"\n[conflicts]\nname = \"newest_wins\"\n",
                    store(1, "a.db")
                ),
            )
            .add("b.toml", &store(2, "b.db"));
        let stores = layout.load().unwrap();
        let a = &stores.get("a").unwrap().config;
        assert_eq!(a.sync.incremental_cron, "0 * * * * *");
        assert_eq!(a.sync.full_cron, "0 0 4 * * *");
        assert_eq!(a.push.poll_interval.as_millis(), 1000);
        let b = &stores.get("b").unwrap().config;
        assert_eq!(b.sync.incremental_cron, "0 */5 * * * *");
        assert_eq!(
            format!("{:?}", (a.conflicts.price, a.conflicts.name)),
            "(LocalWins, NewestWins)"
        );
        assert_eq!(format!("{:?}", b.conflicts.price), "LocalWins");
        assert_ne!(format!("{:?}", b.conflicts.name), "NewestWins");
    }

    #[test]
    fn the_listener_the_console_and_the_log_are_refused_in_a_stores_file() {
        for section in ["webhooks", "console", "log"] {
            let layout = Layout::new(SHARED);
            layout.add("a.toml", &format!("{}[{section}]\n", store(1, "a.db")));
            layout.assert_error_starts(&format!(
                "{}: [{section}] belongs in the main file {}",
                layout.store_file("a.toml").display(),
                layout.main().display()
            ));
        }
    }

    #[test]
    fn a_stores_file_needs_its_ecwid_and_mirror_sections() {
        let layout = Layout::new(SHARED);
        layout.add("a.toml", "[ecwid]\nstore_id = 1\ntoken = \"t\"\n");
        layout.assert_error_starts(&format!(
            "{}: [mirror] missing",
            layout.store_file("a.toml").display()
        ));
    }

    #[test]
    fn a_file_name_that_is_no_store_name_is_refused_naming_it() {
        let too_long = format!("{}.toml", "x".repeat(65));
        for name in [
            "has space.toml",
            "a.b.toml",
            ".toml",
            "ünï.toml",
            too_long.as_str(),
        ] {
            let layout = Layout::new(SHARED);
            layout.add(name, &store(1, "a.db"));
            layout.assert_error_starts(&format!(
                "{}: a store's file is named",
                layout.store_file(name).display()
            ));
        }
        let layout = Layout::new(SHARED);
        layout.add(&format!("{}.toml", "x".repeat(64)), &store(1, "a.db"));
        layout.load().unwrap();
    }

    #[test]
    fn two_stores_on_one_mirror_are_refused_naming_both_files() {
        let layout = Layout::new(&format!("{}{SHARED}", store(1, "m.db")));
        std::fs::create_dir(layout.dir.path().join("sub")).unwrap();
        // The same file written another way, not yet created.
        layout.add("b.toml", &store(2, "sub/../m.db"));
        layout.assert_error_starts(&format!(
            "{} and {} both use the mirror ",
            layout.main().display(),
            layout.store_file("b.toml").display()
        ));
    }

    #[test]
    fn one_store_id_twice_is_refused_naming_both_files() {
        let layout = Layout::new(SHARED);
        layout
            .add("a.toml", &store(7, "a.db"))
            .add("b.toml", &store(7, "b.db"));
        assert_eq!(
            layout.error(),
            format!(
                "{} and {} both set ecwid.store_id = 7: each store is configured once",
                layout.store_file("a.toml").display(),
                layout.store_file("b.toml").display()
            )
        );
    }

    #[test]
    fn a_main_file_without_a_store_needs_one_in_stores_d() {
        let layout = Layout::new(SHARED);
        std::fs::create_dir(layout.dir.path().join(STORES_DIR)).unwrap();
        layout.assert_error_starts(&format!(
            "{}: ecwid.store_id: missing",
            layout.main().display()
        ));
    }

    #[test]
    fn each_error_names_the_file_its_key_comes_from() {
        // A key of the store's own file.
        let layout = Layout::new(SHARED);
        layout.add(
            "a.toml",
            &store(1, "a.db").replace("[mirror]", "burst = 0\n[mirror]"),
        );
        layout.assert_error_starts(&format!(
            "{}: ecwid.burst: expected an integer from 1 to 1000",
            layout.store_file("a.toml").display()
        ));
        // A line of the store's file, with its line number there.
        layout.add("a.toml", &format!("{}colour = 1\n", store(1, "a.db")));
        layout.assert_error_starts(&format!(
            "config file {}: line 6, key `colour`",
            layout.store_file("a.toml").display()
        ));
        // An inherited key is the main file's; the same key overridden is the store's.
        let layout = Layout::new("[sync]\nfull_cron = \"0 0 0 31 2 *\"\n");
        layout.add("a.toml", &store(1, "a.db"));
        layout.assert_error_starts(&format!("{}: sync.full_cron: ", layout.main().display()));
        layout.add(
            "a.toml",
            &format!("{}[sync]\nfull_cron = \"0 0 0 30 2 *\"\n", store(1, "a.db")),
        );
        layout.assert_error_starts(&format!(
            "{}: sync.full_cron: ",
            layout.store_file("a.toml").display()
        ));
        // The main file's own store, and a store file that cannot be read.
        let layout = Layout::new(&store(1, "m.db").replace("store_id = 1", "store_id = \"x\""));
        layout.add("a.toml", &store(2, "a.db"));
        layout.assert_error_starts(&format!("{}: ecwid.store_id", layout.main().display()));
        let layout = Layout::new(SHARED);
        std::fs::create_dir_all(layout.store_file("a.toml")).unwrap();
        layout.assert_error_starts(&format!(
            "cannot read config file {}",
            layout.store_file("a.toml").display()
        ));
    }

    #[test]
    fn the_environments_secrets_are_the_main_stores_only() {
        let layout = Layout::new(&format!(
            "[ecwid]\nstore_id = 1\n[mirror]\npath = \"DIR/m.db\"\n{SHARED}"
        ));
        layout.add(
            "a.toml",
            "[ecwid]\nstore_id = 2\n[mirror]\npath = \"DIR/a.db\"\n",
        );
        let env = SecretEnv {
            token: Some("secret_env".into()),
            client_secret: Some("cs_env".into()),
            ..SecretEnv::default()
        };
        let err = Stores::load(&layout.main(), &env).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: ecwid.token: missing",
                layout.store_file("a.toml").display()
            )),
            "{err}"
        );
        let token = layout.dir.path().join("a.token");
        std::fs::write(&token, "secret_from_file\n").unwrap();
        layout.add(
            "a.toml",
            &format!(
                "[ecwid]\nstore_id = 2\ntoken_file = {:?}\n[mirror]\npath = \"DIR/a.db\"\n",
                token.display().to_string()
            ),
        );
        let stores = Stores::load(&layout.main(), &env).unwrap();
        let main = &stores.get(MAIN_STORE).unwrap().config.ecwid;
        assert_eq!(main.token.expose(), "secret_env");
        assert_eq!(main.client_secret.as_ref().unwrap().expose(), "cs_env");
        let a = &stores.get("a").unwrap().config.ecwid;
        assert_eq!(a.token.expose(), "secret_from_file");
        assert!(a.client_secret.is_none());
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let layout = Layout::new(SHARED);
        layout
            .add("a.toml", &store(1, "a.db"))
            .add("b.toml", &store(2, "b.db"));
        let stores = layout.load().unwrap();
        let shown = format!("{stores:?}");
        assert!(
            !shown.contains("secret_1") && !shown.contains("secret_2"),
            "{shown}"
        );
        // A token pasted where a number belongs, in a store's file.
        layout.add(
            "b.toml",
            &store(2, "b.db").replace("store_id = 2", "store_id = \"secret_pasted\""),
        );
        let err = layout.error();
        assert!(!err.contains("secret_pasted"), "{err}");
        layout.add(
            "b.toml",
            &store(2, "b.db").replace("token = ", "tokn = \"secret_typo\"\ntoken = "),
        );
        let err = layout.error();
        assert!(
            err.contains("`tokn`") && !err.contains("secret_typo"),
            "{err}"
        );
    }

    #[test]
    fn select_names_the_stores_when_the_choice_is_missing_or_unknown() {
        let layout = Layout::new(SHARED);
        layout
            .add("a.toml", &store(1, "a.db"))
            .add("b.toml", &store(2, "b.db"));
        let stores = layout.load().unwrap();
        assert_eq!(
            stores.select(None).unwrap_err().to_string(),
            "several stores are configured (a, b): pass --store NAME"
        );
        assert_eq!(
            stores.select(Some("nope")).unwrap_err().to_string(),
            "no store named \"nope\"; the stores are: a, b"
        );
        assert_eq!(stores.select(Some("b")).unwrap().name, "b");
    }

    #[test]
    fn diff_says_which_stores_appeared_went_away_and_stayed() {
        let layout = Layout::new(SHARED);
        layout
            .add("a.toml", &store(1, "a.db"))
            .add("b.toml", &store(2, "b.db"));
        let before = layout.load().unwrap();
        std::fs::remove_file(layout.store_file("a.toml")).unwrap();
        layout.add("c.toml", &store(3, "c.db"));
        let after = layout.load().unwrap();
        assert_eq!(
            before.diff(&after),
            StoresDiff {
                added: vec!["c".into()],
                removed: vec!["a".into()],
                kept: vec!["b".into()],
            }
        );
    }
}
