//! Configuration: the TOML file, secrets from the environment or files, validation, and the
//! warnings a valid configuration may still earn (a listener open to the network, a token in
//! a file others can read).
//!
//! The file is parsed into `Raw*` structs that reject unknown keys, then each section
//! validates itself into its part of [`Config`], the only type the rest of the program
//! sees. Every error names the key.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

mod conflicts;
mod console;
mod ecwid;
mod file_errors;
mod live;
mod log;
mod mirror;
mod privacy;
mod push;
pub mod reload;
mod secrets;
mod stores;
mod sync;
mod warnings;
mod webhooks;

pub use conflicts::{ConflictsConfig, Group, Policy};
pub use console::{CONSOLE_TOKEN_ENV, ConsoleConfig};
pub use ecwid::EcwidConfig;
pub use live::Live;
pub use log::{LogConfig, LogFormat, check_level};
pub use mirror::MirrorConfig;
pub use privacy::PrivacyConfig;
pub use push::PushConfig;
pub use stores::{MAIN_STORE, STORES_DIR, StoreConfig, Stores, StoresDiff};
pub use sync::{SyncConfig, parse_cron, parse_kinds};
pub use warnings::Warning;
pub use webhooks::WebhooksConfig;

use ecwid::RawEcwid;
use log::RawLog;
use mirror::RawMirror;
use sync::RawSync;
use webhooks::RawWebhooks;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/ecwid-sync/config.toml";
pub const DEFAULT_API_BASE: &str = "https://app.ecwid.com/api/v3";
pub const TOKEN_ENV: &str = "ECWID_SYNC_TOKEN";
pub const CLIENT_SECRET_ENV: &str = "ECWID_SYNC_CLIENT_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// `store_id = 0`, the placeholder config.toml.example ships with, so that an installed
    /// but unconfigured service refuses to start instead of pulling some other store.
    #[error(
        "set [ecwid] store_id in {}: 0 is the example's placeholder; the store's id is in Ecwid's admin under Settings > General > Store ID",
        if path.as_os_str().is_empty() { "the configuration".into() } else { path.display().to_string() }
    )]
    StoreIdPlaceholder { path: PathBuf },
    /// A value of the wrong type; `key` is its path in the file (`ecwid.store_id`).
    #[error("{key}: {message}")]
    Type { key: String, message: String },
    /// An error of one file among several (the main file and the stores' files), so that
    /// the operator knows which file to open.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        source: Box<ConfigError>,
    },
    #[error(
        "{}: a store's file is named after the store, NAME.toml, with a NAME of 1 to 64 letters, digits, '-' or '_'",
        path.display()
    )]
    StoreName { path: PathBuf },
    /// `[webhooks]`, `[console]` or `[log]` in a store's file: one listener, one console
    /// and one log serve every store.
    #[error(
        "{}: [{section}] belongs in the main file {}, which sets it for every store; a store's file holds [ecwid], [mirror], [sync], [push], [conflicts] and [privacy]",
        path.display(),
        main.display()
    )]
    MainFileOnly {
        path: PathBuf,
        section: String,
        main: PathBuf,
    },
    #[error(
        "{}: [{section}] missing; a store's file holds its store's own [ecwid] (store_id, token) and [mirror] (path)",
        path.display()
    )]
    StoreSectionMissing {
        path: PathBuf,
        section: &'static str,
    },
    #[error(
        "{}: the store named {MAIN_STORE:?} is the one configured in {} itself; name this file otherwise",
        path.display(),
        main.display()
    )]
    MainStoreClash { path: PathBuf, main: PathBuf },
    #[error(
        "{} and {} both use the mirror {}: each store needs a mirror file of its own",
        first.display(),
        second.display(),
        mirror.display()
    )]
    SameMirror {
        first: PathBuf,
        second: PathBuf,
        mirror: PathBuf,
    },
    #[error(
        "{} and {} both set ecwid.store_id = {store_id}: each store is configured once",
        first.display(),
        second.display()
    )]
    SameStoreId {
        first: PathBuf,
        second: PathBuf,
        store_id: u64,
    },
    #[error("no store named {name:?}; the stores are: {}", names.join(", "))]
    UnknownStore { name: String, names: Vec<String> },
    #[error("several stores are configured ({}): pass --store NAME", names.join(", "))]
    StoreNotChosen { names: Vec<String> },
}

impl ConfigError {
    /// The error as read from the file at `path`: the errors that say their file are given
    /// it, the others are wrapped in [`ConfigError::InFile`].
    fn in_file(self, path: &Path) -> ConfigError {
        match self.with_path(path) {
            unnamed @ (ConfigError::Invalid { .. } | ConfigError::Type { .. }) => {
                ConfigError::InFile {
                    path: path.to_owned(),
                    source: Box::new(unnamed),
                }
            }
            named => named,
        }
    }

    /// Fills in the file of the errors that name it, which text alone cannot know.
    fn with_path(self, path: &Path) -> ConfigError {
        match self {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            ConfigError::StoreIdPlaceholder { .. } => ConfigError::StoreIdPlaceholder {
                path: path.to_owned(),
            },
            other => other,
        }
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// A secret value. `Debug`, `Display` and serialization print `***`, so a secret cannot leak
/// through a log line, an error or `check-config`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// The validated configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub ecwid: EcwidConfig,
    pub mirror: MirrorConfig,
    pub sync: SyncConfig,
    pub webhooks: WebhooksConfig,
    pub push: PushConfig,
    pub conflicts: ConflictsConfig,
    pub privacy: PrivacyConfig,
    pub console: ConsoleConfig,
    pub log: LogConfig,
}

fn as_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

// ---- the file as written ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ecwid: Option<RawEcwid>,
    mirror: Option<RawMirror>,
    sync: Option<RawSync>,
    webhooks: Option<RawWebhooks>,
    push: Option<push::RawPush>,
    conflicts: Option<conflicts::RawConflicts>,
    privacy: Option<privacy::RawPrivacy>,
    console: Option<console::RawConsole>,
    log: Option<RawLog>,
}

/// Where secrets may come from besides the file. Passed in so tests need not touch the
/// process environment.
#[derive(Default)]
pub struct SecretEnv {
    pub token: Option<String>,
    pub client_secret: Option<String>,
    /// The console's sign-in token ([`CONSOLE_TOKEN_ENV`]).
    pub console_token: Option<String>,
    /// Where to find the unit that loads a systemd credential named as a secret file, when
    /// read outside the service (see [`crate::credentials`]). Empty: look nowhere.
    pub unit_dirs: Vec<PathBuf>,
}

impl SecretEnv {
    pub fn from_process() -> Self {
        SecretEnv {
            token: std::env::var(TOKEN_ENV).ok().filter(|v| !v.is_empty()),
            client_secret: std::env::var(CLIENT_SECRET_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
            console_token: std::env::var(CONSOLE_TOKEN_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
            unit_dirs: crate::credentials::SYSTEM_UNIT_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path, env: &SecretEnv) -> Result<Config, ConfigError> {
        let text = read(path)?;
        Self::parse(&text, env).map_err(|e| e.with_path(path))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str, env: &SecretEnv) -> Result<Config, ConfigError> {
        validate(raw_from_text(text)?, env)
    }

    /// What this configuration, read from `file`, may get wrong although it is valid (see
    /// [`Warning`]): said by `check-config` and logged by `run`, never refused.
    pub fn warnings(&self, file: &Path) -> Vec<Warning> {
        warnings::warnings(self, file)
    }

    /// The configuration as TOML that parses back to the same configuration, with the
    /// real key names; secrets never appear, a comment says where each came from.
    pub fn to_masked_toml(&self) -> String {
        let origins: String = self
            .ecwid
            .secret_origins
            .iter()
            .map(|(key, origin)| format!("# {key}: {origin}\n"))
            .collect();
        match toml::to_string(self) {
            Ok(text) => format!("{origins}{text}"),
            Err(e) => format!("# cannot render config: {e}\n"),
        }
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The file as written, every key known and of its type; errors say the line and the key.
fn raw_from_text(text: &str) -> Result<RawConfig, ConfigError> {
    let document = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
        path: PathBuf::new(),
        message: file_errors::describe_syntax(text, &e),
    })?;
    serde_path_to_error::deserialize(document).map_err(|e| file_errors::describe(text, e))
}

fn validate(raw: RawConfig, env: &SecretEnv) -> Result<Config, ConfigError> {
    Ok(Config {
        ecwid: raw.ecwid.unwrap_or_default().validate(env)?,
        mirror: raw.mirror.unwrap_or_default().validate()?,
        sync: raw.sync.unwrap_or_default().validate()?,
        webhooks: raw.webhooks.unwrap_or_default().validate()?,
        push: raw.push.unwrap_or_default().validate()?,
        conflicts: raw.conflicts.unwrap_or_default().validate()?,
        privacy: raw.privacy.unwrap_or_default().validate()?,
        console: raw
            .console
            .unwrap_or_default()
            .validate(env.console_token.clone(), &env.unit_dirs)?,
        log: raw.log.unwrap_or_default().validate()?,
    })
}

/// `value` if it lies in `range`; otherwise the error every bounded key gives, with the
/// bounds in `unit` and a `note` after the upper one, such as " (one day)".
fn within<T>(
    key: &'static str,
    value: T,
    range: RangeInclusive<T>,
    unit: &str,
    note: &str,
) -> Result<T, ConfigError>
where
    T: PartialOrd + fmt::Display,
{
    if range.contains(&value) {
        return Ok(value);
    }
    Err(invalid(
        key,
        format!(
            "expected {unit} from {} to {}{note}, got {value}",
            range.start(),
            range.end()
        ),
    ))
}

/// A timeout or wait: from one second to an hour.
fn positive_secs(
    key: &'static str,
    value: Option<u64>,
    default: u64,
) -> Result<Duration, ConfigError> {
    within(key, value.unwrap_or(default), 1..=3600, "seconds", "").map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;

    pub(super) const MINIMAL: &str =
        "[ecwid]\nstore_id = 1003\ntoken = \"secret_abc\"\n[mirror]\npath = \"m.db\"\n";

    #[test]
    fn defaults_fill_everything_but_store_token_and_path() {
        let c = Config::parse(MINIMAL, &SecretEnv::default()).unwrap();
        assert_eq!(c.ecwid.api_base, DEFAULT_API_BASE);
        assert_eq!(c.ecwid.requests_per_minute, 500);
        assert_eq!(
            c.sync.kinds,
            vec![Kind::Products, Kind::Categories, Kind::Orders]
        );
        assert_eq!(c.webhooks.listen, "127.0.0.1:8088".parse().unwrap());
        assert_eq!(c.log.format, LogFormat::Text);
    }

    #[test]
    fn secrets_never_show_in_debug_or_the_printed_config() {
        let env = SecretEnv {
            token: None,
            client_secret: Some("cs_hidden".into()),
            ..SecretEnv::default()
        };
        let c = Config::parse(MINIMAL, &env).unwrap();
        let shown = format!("{c:?}{}", c.to_masked_toml());
        assert!(
            !shown.contains("secret_abc") && !shown.contains("cs_hidden"),
            "{shown}"
        );
        assert!(shown.contains("***"));
        assert!(
            shown.contains("# ecwid.token: set in the configuration file")
                && shown.contains(
                    "# ecwid.client_secret: from the environment variable ECWID_SYNC_CLIENT_SECRET"
                ),
            "{shown}"
        );
    }

    #[test]
    fn the_printed_config_parses_back_to_the_same_config_with_the_real_key_names() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "secret_in_file").unwrap();
        let text = format!(
            "[ecwid]\nstore_id = 1003\ntoken_file = {:?}\nconnect_timeout_secs = 5\n\
             request_timeout_secs = 30\nmax_retry_after_secs = 20\nmax_throttled_secs = 40\n\
             [mirror]\npath = \"m.db\"\nwrite_retry_secs = 9\n\
             [sync]\nkinds = [\"orders\", \"customers\"]\noverlap_secs = 90\nsearch_lag_secs = 30\n\
             [webhooks]\ndebounce_ms = 10\nread_interval_ms = 20\n[log]\nlevel = \"debug\"\n",
            token.display().to_string()
        );
        let first = Config::parse(&text, &SecretEnv::default()).unwrap();
        let printed = first.to_masked_toml();
        assert!(
            printed.contains(&format!(
                "# ecwid.token: from ecwid.token_file {}",
                token.display()
            )),
            "{printed}"
        );
        assert!(!printed.contains("secret_in_file"), "{printed}");
        for key in [
            "overlap_secs = 90",
            "connect_timeout_secs = 5",
            "max_throttled_secs = 40",
        ] {
            assert!(printed.contains(key), "{key} not in {printed}");
        }

        let again = Config::parse(&printed, &SecretEnv::default()).unwrap();
        assert_eq!(again.to_masked_toml(), printed);
        assert_eq!(again.ecwid.token.expose(), "secret_in_file");
    }

    #[test]
    fn the_example_config_is_valid_once_the_store_id_is_set_and_shows_the_defaults() {
        let shipped = include_str!("../config.toml.example");
        let env = SecretEnv {
            token: Some("from_env".into()),
            ..SecretEnv::default()
        };
        let err = Config::parse(shipped, &env).unwrap_err().to_string();
        assert!(err.starts_with("set [ecwid] store_id in "), "{err}");
        let example = &shipped.replace("\nstore_id = 0\n", "\nstore_id = 1003\n");
        let from_example = Config::parse(example, &env).unwrap();
        let minimal = Config::parse(MINIMAL, &env).unwrap();
        // Every commented-out default in the example is the real default.
        let uncommented: String = example
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = ") && !r.starts_with([' ', '[']))
                    .unwrap_or(l)
            })
            .filter(|l| {
                !l.trim_start().starts_with("client_secret") && !l.starts_with("token_file")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let explicit = Config::parse(&uncommented, &env).unwrap();
        assert_eq!(explicit.to_masked_toml(), from_example.to_masked_toml());
        assert_eq!(
            from_example
                .to_masked_toml()
                .replace("/var/lib/ecwid-sync/mirror.db", "m.db"),
            minimal.to_masked_toml()
        );
    }

    #[test]
    fn a_mistyped_secret_line_names_the_key_but_never_shows_the_value() {
        let text = MINIMAL.replace("token = ", "tokn = \"secret_typo\"\ntoken = ");
        let err = Config::parse(&text, &SecretEnv::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`tokn`"), "{err}");
        assert!(!err.contains("secret_typo"), "{err}");
        let text = MINIMAL.replace("token = \"secret_abc\"", "token = \"secret_abc");
        let err = Config::parse(&text, &SecretEnv::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret_abc"), "{err}");
    }

    #[test]
    fn unknown_sections_and_keys_are_named() {
        let err = Config::parse(&format!("{MINIMAL}[pull]\nx = 1\n"), &SecretEnv::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `pull`"), "{err}");
        let err = Config::parse(
            &format!("{MINIMAL}[push]\nmode = 1\n"),
            &SecretEnv::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `mode`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
