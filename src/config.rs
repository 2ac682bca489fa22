//! Configuration: the TOML file, secrets from the environment or files, and validation.
//!
//! The file is parsed into `Raw*` structs that reject unknown keys, then validated into
//! [`Config`], the only type the rest of the program sees. Every error names the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

mod conflicts;
mod push;

pub use conflicts::ConflictsConfig;
pub use push::PushConfig;

use crate::sync::Kind;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
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
    pub log: LogConfig,
}

#[derive(Clone, Debug, Serialize)]
pub struct EcwidConfig {
    pub store_id: u64,
    /// Never printed: `check-config` says where it came from (`secret_origins`) and repeats
    /// only a `token_file` it was read from, so its output stays a valid configuration.
    #[serde(skip)]
    pub token: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(skip)]
    pub client_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Each secret's key and where its value came from, for `check-config`; never a value.
    #[serde(skip)]
    pub secret_origins: Vec<(&'static str, String)>,
    pub api_base: String,
    pub requests_per_minute: u32,
    pub burst: u32,
    #[serde(rename = "connect_timeout_secs", serialize_with = "as_secs")]
    pub connect_timeout: Duration,
    #[serde(rename = "request_timeout_secs", serialize_with = "as_secs")]
    pub request_timeout: Duration,
    pub max_retries: usize,
    /// The longest single wait while throttled: a longer `Retry-After` fails the pass at
    /// once, and the growing wait between 429s stops growing here.
    #[serde(rename = "max_retry_after_secs", serialize_with = "as_secs")]
    pub max_retry_after: Duration,
    /// How long a request waits out a store that keeps answering 429 before it fails.
    #[serde(rename = "max_throttled_secs", serialize_with = "as_secs")]
    pub max_throttled: Duration,
}

#[derive(Clone, Debug, Serialize)]
pub struct MirrorConfig {
    pub path: PathBuf,
    /// How long writes the mirror refuses (another process's write lock, read-only file
    /// system, full disk) are retried before the pass fails or, when the mirror cannot be
    /// written at all, the process exits with code 4.
    #[serde(rename = "write_retry_secs", serialize_with = "as_secs")]
    pub write_retry: Duration,
}

#[derive(Clone, Debug, Serialize)]
pub struct SyncConfig {
    pub kinds: Vec<Kind>,
    pub incremental_cron: String,
    pub full_cron: String,
    #[serde(rename = "overlap_secs", serialize_with = "as_secs")]
    pub overlap: Duration,
    /// How long Ecwid's search may take to show a write (contract 17.2): a cursor or a
    /// latest-stats value counts as pulled only once it is older than this.
    #[serde(rename = "search_lag_secs", serialize_with = "as_secs")]
    pub search_lag: Duration,
    /// How many pages a full pull fetches ahead of the one being written.
    pub fetch_ahead: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct WebhooksConfig {
    /// Where the receiver, `/healthz`, `/readyz` and `/metrics` listen (behind a reverse
    /// proxy that terminates TLS). Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub path: String,
    /// The replay window: an event created longer ago than this is acknowledged and
    /// recorded as `too_old`, never applied (the scheduled pull covers what it announced).
    #[serde(rename = "max_event_age_secs", serialize_with = "as_secs")]
    pub max_event_age: Duration,
    /// `/readyz` fails once passes have kept failing for longer than this.
    #[serde(rename = "ready_max_failing_secs", serialize_with = "as_secs")]
    pub ready_max_failing: Duration,
    /// How long the delta worker gathers events before it re-fetches what they name.
    #[serde(rename = "debounce_ms", serialize_with = "as_millis")]
    pub debounce: Duration,
    /// The shortest time between two reads of one kind that are not full (100 entities):
    /// under load, what arrives meanwhile is gathered.
    #[serde(rename = "read_interval_ms", serialize_with = "as_millis")]
    pub read_interval: Duration,
    /// How long processed events stay in `webhook_events` before they are pruned.
    pub retention_days: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
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
    log: Option<RawLog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcwid {
    store_id: Option<u64>,
    token: Option<Secret>,
    token_file: Option<PathBuf>,
    client_secret: Option<Secret>,
    client_secret_file: Option<PathBuf>,
    api_base: Option<String>,
    requests_per_minute: Option<u32>,
    burst: Option<u32>,
    connect_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    max_retries: Option<usize>,
    max_retry_after_secs: Option<u64>,
    max_throttled_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMirror {
    path: Option<PathBuf>,
    write_retry_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    kinds: Option<Vec<String>>,
    incremental_cron: Option<String>,
    full_cron: Option<String>,
    overlap_secs: Option<u64>,
    search_lag_secs: Option<u64>,
    fetch_ahead: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    listen: Option<String>,
    path: Option<String>,
    max_event_age_secs: Option<u64>,
    ready_max_failing_secs: Option<u64>,
    debounce_ms: Option<u64>,
    read_interval_ms: Option<u64>,
    retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

/// Where secrets may come from besides the file. Passed in so tests need not touch the
/// process environment.
#[derive(Default)]
pub struct SecretEnv {
    pub token: Option<String>,
    pub client_secret: Option<String>,
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
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, env).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str, env: &SecretEnv) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: describe_toml_error(text, &e),
        })?;
        let _ = (&raw.push, &raw.conflicts);
        validate(raw, env)
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

/// toml's messages span several lines (a source excerpt with a caret). One line with the
/// line number, the key (never the value: it may be a secret) and the reason is what a
/// one-line error needs.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let reason = err.message().trim().replace('\n', " ");
    let Some(span) = err.span() else {
        return reason;
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default();
    match line.split_once('=') {
        Some((key, _)) => format!("line {line_no}, key `{}`: {reason}", key.trim()),
        None => format!("line {line_no}: {reason}"),
    }
}

fn validate(raw: RawConfig, env: &SecretEnv) -> Result<Config, ConfigError> {
    let e = raw.ecwid.unwrap_or_default();
    let store_id = e.store_id.ok_or_else(|| {
        invalid(
            "ecwid.store_id",
            "missing; set it to the numeric id of the store",
        )
    })?;
    if store_id == 0 {
        return Err(invalid("ecwid.store_id", "must be a positive integer"));
    }
    let token = resolve_secret(
        "ecwid.token",
        "ecwid.token_file",
        TOKEN_ENV,
        e.token,
        e.token_file,
        env.token.clone(),
        &env.unit_dirs,
    )?
    .ok_or_else(|| {
        invalid(
            "ecwid.token",
            format!(
                "missing; set ecwid.token, ecwid.token_file or the {TOKEN_ENV} environment variable"
            ),
        )
    })?;
    let mut secret_origins = vec![("ecwid.token", token.origin)];
    let client_secret = resolve_secret(
        "ecwid.client_secret",
        "ecwid.client_secret_file",
        CLIENT_SECRET_ENV,
        e.client_secret,
        e.client_secret_file,
        env.client_secret.clone(),
        &env.unit_dirs,
    )?;
    if let Some(cs) = &client_secret {
        secret_origins.push(("ecwid.client_secret", cs.origin.clone()));
    }
    let api_base = e
        .api_base
        .unwrap_or_else(|| DEFAULT_API_BASE.to_string())
        .trim_end_matches('/')
        .to_string();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        return Err(invalid(
            "ecwid.api_base",
            format!("expected an http:// or https:// URL, got {api_base:?}"),
        ));
    }
    let requests_per_minute = e.requests_per_minute.unwrap_or(500);
    if !(1..=6000).contains(&requests_per_minute) {
        return Err(invalid(
            "ecwid.requests_per_minute",
            format!("expected an integer from 1 to 6000, got {requests_per_minute}"),
        ));
    }
    let burst = e.burst.unwrap_or(10);
    if !(1..=1000).contains(&burst) {
        return Err(invalid(
            "ecwid.burst",
            format!("expected an integer from 1 to 1000, got {burst}"),
        ));
    }
    let connect_timeout = positive_secs("ecwid.connect_timeout_secs", e.connect_timeout_secs, 10)?;
    let request_timeout = positive_secs("ecwid.request_timeout_secs", e.request_timeout_secs, 60)?;
    let max_retries = e.max_retries.unwrap_or(8);
    if max_retries > 100 {
        return Err(invalid(
            "ecwid.max_retries",
            format!("expected an integer from 0 to 100, got {max_retries}"),
        ));
    }
    let max_retry_after = positive_secs("ecwid.max_retry_after_secs", e.max_retry_after_secs, 60)?;
    let max_throttled_secs = e.max_throttled_secs.unwrap_or(900);
    if !(1..=86_400).contains(&max_throttled_secs) {
        return Err(invalid(
            "ecwid.max_throttled_secs",
            format!("expected seconds from 1 to 86400 (one day), got {max_throttled_secs}"),
        ));
    }
    let max_throttled = Duration::from_secs(max_throttled_secs);
    // Otherwise a single pause the client is willing to wait could already pass the bound.
    if max_throttled < max_retry_after {
        return Err(invalid(
            "ecwid.max_throttled_secs",
            format!(
                "expected at least ecwid.max_retry_after_secs ({} s), the longest single wait, got {max_throttled_secs}",
                max_retry_after.as_secs()
            ),
        ));
    }

    let m = raw.mirror.unwrap_or_default();
    let path = m.path.ok_or_else(|| {
        invalid(
            "mirror.path",
            "missing; set it to the SQLite file to write, e.g. /var/lib/ecwid-sync/mirror.db",
        )
    })?;
    if path.as_os_str().is_empty() {
        return Err(invalid("mirror.path", "must not be empty"));
    }
    let write_retry = m.write_retry_secs.unwrap_or(300);
    if !(1..=86_400).contains(&write_retry) {
        return Err(invalid(
            "mirror.write_retry_secs",
            format!("expected an integer from 1 to 86400 (one day), got {write_retry}"),
        ));
    }

    let s = raw.sync.unwrap_or_default();
    let kinds = match s.kinds {
        None => vec![Kind::Products, Kind::Categories, Kind::Orders],
        Some(names) => parse_kinds("sync.kinds", &names)?,
    };
    let incremental_cron = s
        .incremental_cron
        .unwrap_or_else(|| "0 * * * * *".to_string());
    check_cron("sync.incremental_cron", &incremental_cron)?;
    let full_cron = s.full_cron.unwrap_or_else(|| "0 30 3 * * *".to_string());
    check_cron("sync.full_cron", &full_cron)?;
    let overlap = Duration::from_secs(s.overlap_secs.unwrap_or(60));
    if overlap > Duration::from_secs(86_400) {
        return Err(invalid(
            "sync.overlap_secs",
            "expected at most 86400 (one day)",
        ));
    }
    let search_lag = Duration::from_secs(s.search_lag_secs.unwrap_or(120));
    if search_lag > Duration::from_secs(86_400) {
        return Err(invalid(
            "sync.search_lag_secs",
            "expected at most 86400 (one day)",
        ));
    }
    let fetch_ahead = s.fetch_ahead.unwrap_or(4);
    if !(1..=16).contains(&fetch_ahead) {
        return Err(invalid(
            "sync.fetch_ahead",
            format!("expected an integer from 1 to 16, got {fetch_ahead}"),
        ));
    }

    let w = raw.webhooks.unwrap_or_default();
    let listen_text = w.listen.unwrap_or_else(|| "127.0.0.1:8088".to_string());
    let listen = listen_text.parse().map_err(|_| {
        invalid(
            "webhooks.listen",
            format!("expected an address like 127.0.0.1:8088, got {listen_text:?}"),
        )
    })?;
    let hook_path = w.path.unwrap_or_else(|| "/webhooks/ecwid".to_string());
    check_hook_path("webhooks.path", &hook_path)?;
    let max_event_age = w.max_event_age_secs.unwrap_or(172_800);
    if !(60..=2_592_000).contains(&max_event_age) {
        return Err(invalid(
            "webhooks.max_event_age_secs",
            format!("expected seconds from 60 to 2592000 (30 days), got {max_event_age}"),
        ));
    }
    let ready_max_failing = w.ready_max_failing_secs.unwrap_or(1800);
    if !(60..=604_800).contains(&ready_max_failing) {
        return Err(invalid(
            "webhooks.ready_max_failing_secs",
            format!("expected seconds from 60 to 604800 (7 days), got {ready_max_failing}"),
        ));
    }
    let debounce_ms = w.debounce_ms.unwrap_or(200);
    if debounce_ms > 5000 {
        return Err(invalid(
            "webhooks.debounce_ms",
            format!("expected milliseconds from 0 to 5000, got {debounce_ms}"),
        ));
    }
    let read_interval_ms = w.read_interval_ms.unwrap_or(1000);
    if read_interval_ms > 60_000 {
        return Err(invalid(
            "webhooks.read_interval_ms",
            format!("expected milliseconds from 0 to 60000, got {read_interval_ms}"),
        ));
    }
    let retention_days = w.retention_days.unwrap_or(7);
    if !(1..=3650).contains(&retention_days) {
        return Err(invalid(
            "webhooks.retention_days",
            format!("expected days from 1 to 3650, got {retention_days}"),
        ));
    }

    let push = raw.push.unwrap_or_default().validate()?;
    let conflicts = raw.conflicts.unwrap_or_default().validate()?;

    let l = raw.log.unwrap_or_default();
    let level = l.level.unwrap_or_else(|| "info".to_string());
    check_level("log.level", &level)?;

    Ok(Config {
        ecwid: EcwidConfig {
            store_id,
            token: token.value,
            token_file: token.file,
            client_secret_file: client_secret.as_ref().and_then(|s| s.file.clone()),
            client_secret: client_secret.map(|s| s.value),
            secret_origins,
            api_base,
            requests_per_minute,
            burst,
            connect_timeout,
            request_timeout,
            max_retries,
            max_retry_after,
            max_throttled,
        },
        mirror: MirrorConfig {
            path,
            write_retry: Duration::from_secs(write_retry),
        },
        sync: SyncConfig {
            kinds,
            incremental_cron,
            full_cron,
            overlap,
            search_lag,
            fetch_ahead,
        },
        webhooks: WebhooksConfig {
            listen,
            path: hook_path,
            max_event_age: Duration::from_secs(max_event_age),
            ready_max_failing: Duration::from_secs(ready_max_failing),
            debounce: Duration::from_millis(debounce_ms),
            read_interval: Duration::from_millis(read_interval_ms),
            retention_days,
        },
        push,
        conflicts,
        log: LogConfig {
            format: l.format.unwrap_or(LogFormat::Text),
            level,
        },
    })
}

/// One secret from exactly one of: the file's value, a file it names, or the environment.
/// The environment wins over the file so a systemd `Environment=` can override a packaged
/// config; naming both the value and a file is an error, since one would silently lose.
fn resolve_secret(
    key: &'static str,
    file_key: &'static str,
    env_name: &str,
    inline: Option<Secret>,
    file: Option<PathBuf>,
    from_env: Option<String>,
    unit_dirs: &[PathBuf],
) -> Result<Option<ResolvedSecret>, ConfigError> {
    if inline.is_some() && file.is_some() {
        return Err(invalid(
            key,
            format!("set either {key} or {file_key}, not both"),
        ));
    }
    if let Some(value) = from_env {
        return Ok(Some(ResolvedSecret {
            value: Secret::new(value.trim()),
            file: None,
            origin: format!("from the environment variable {env_name}"),
        }));
    }
    if let Some(path) = file {
        let read_from = secret_file_source(file_key, env_name, &path, unit_dirs)?;
        let text = std::fs::read_to_string(&read_from).map_err(|e| {
            invalid(
                file_key,
                format!("cannot read {}: {e}", read_from.display()),
            )
        })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(invalid(
                file_key,
                format!("{} is empty", read_from.display()),
            ));
        }
        let origin = if read_from == path {
            format!("from {file_key} {}", path.display())
        } else {
            format!(
                "from {file_key} {}, read here from {} (the unit's LoadCredential=)",
                path.display(),
                read_from.display()
            )
        };
        return Ok(Some(ResolvedSecret {
            value: Secret::new(value),
            file: Some(path),
            origin,
        }));
    }
    match inline {
        Some(v) if v.expose().trim().is_empty() => Err(invalid(
            key,
            format!("is empty; set it, or use {file_key} or {env_name}"),
        )),
        Some(v) => Ok(Some(ResolvedSecret {
            value: Secret::new(v.expose().trim()),
            file: None,
            origin: format!("set in the configuration file ({key}; not repeated here)"),
        })),
        None => Ok(None),
    }
}

/// A secret's value and where it came from (never the value).
struct ResolvedSecret {
    value: Secret,
    file: Option<PathBuf>,
    origin: String,
}

/// The file to read for `path`: itself, or, for a systemd credential read outside its
/// service (where it does not exist), the file the unit loads it from.
fn secret_file_source(
    file_key: &'static str,
    env_name: &str,
    path: &Path,
    unit_dirs: &[PathBuf],
) -> Result<PathBuf, ConfigError> {
    let Some(cred) = crate::credentials::CredentialPath::parse(path) else {
        return Ok(path.to_owned());
    };
    if path.exists() {
        return Ok(path.to_owned());
    }
    crate::credentials::source_of(&cred, unit_dirs).map_err(|why| {
        invalid(
            file_key,
            format!(
                "{} is a systemd credential, present only while {} runs, and its source is unknown: {why}; install the unit first, or give the secret in {env_name}",
                path.display(),
                cred.unit
            ),
        )
    })
}

pub fn parse_kinds(key: &'static str, names: &[impl AsRef<str>]) -> Result<Vec<Kind>, ConfigError> {
    let mut kinds = Vec::new();
    for name in names {
        let name = name.as_ref().trim();
        let kind: Kind = name.parse().map_err(|_| {
            invalid(
                key,
                format!(
                    "unknown kind {name:?}; expected some of products, categories, orders, customers"
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(invalid(key, "must name at least one kind"));
    }
    Ok(kinds)
}

fn positive_secs(
    key: &'static str,
    value: Option<u64>,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs = value.unwrap_or(default);
    if secs == 0 || secs > 3600 {
        return Err(invalid(
            key,
            format!("expected seconds from 1 to 3600, got {secs}"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

fn check_cron(key: &'static str, expr: &str) -> Result<(), ConfigError> {
    crate::daemon::parse_cron(expr).map(|_| ()).map_err(|e| {
        invalid(
            key,
            format!("invalid cron expression {expr:?} ({e}); expected six fields: sec min hour day month weekday, e.g. \"0 * * * * *\""),
        )
    })
}

/// The webhook path becomes an axum route beside the health and metrics endpoints: plain
/// URL characters only (no `{capture}` syntax), and none of theirs.
fn check_hook_path(key: &'static str, path: &str) -> Result<(), ConfigError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if !path.starts_with('/') || path.len() < 2 || !path.chars().all(plain) {
        return Err(invalid(
            key,
            format!(
                "expected a path such as \"/webhooks/ecwid\" (letters, digits and - . _ ~ /), got {path:?}"
            ),
        ));
    }
    if crate::server::RESERVED_PATHS.contains(&path) {
        return Err(invalid(
            key,
            format!("{path:?} is taken by the health and metrics endpoints; choose another path"),
        ));
    }
    Ok(())
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A level, or a filter of `target=level` directives. `EnvFilter` alone would take an
/// unknown word such as `verbose` for a target name and log nothing of ecwid-sync.
pub fn check_level(key: &'static str, filter: &str) -> Result<(), ConfigError> {
    let is_level = |word: &str| LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    let expected = "expected a level (off, error, warn, info, debug, trace) or a filter such as \"info,ecwid_sync=debug\"";
    for directive in filter.split(',').map(str::trim) {
        let ok = match directive.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(directive),
        };
        if !ok {
            return Err(invalid(key, format!("{expected}, got {directive:?}")));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| invalid(key, format!("{expected} ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
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
    fn the_environment_overrides_the_file_token() {
        let env = SecretEnv {
            token: Some("from_env".into()),
            ..SecretEnv::default()
        };
        let c = Config::parse(MINIMAL, &env).unwrap();
        assert_eq!(c.ecwid.token.expose(), "from_env");
    }

    #[test]
    fn a_token_and_a_token_file_together_are_refused() {
        let text = MINIMAL.replace("token = ", "token_file = \"/x\"\ntoken = ");
        let err = Config::parse(&text, &SecretEnv::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("ecwid.token: set either"),
            "{err}"
        );
    }

    #[test]
    fn the_example_config_is_valid_and_shows_the_defaults() {
        let example = include_str!("../config.toml.example");
        let env = SecretEnv {
            token: Some("from_env".into()),
            ..SecretEnv::default()
        };
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
    fn throttling_is_waited_out_for_fifteen_minutes_unless_configured() {
        let c = Config::parse(MINIMAL, &SecretEnv::default()).unwrap();
        assert_eq!(c.ecwid.max_throttled, Duration::from_secs(900));
        assert!(c.to_masked_toml().contains("max_throttled_secs = 900"));
        let with = |keys: &str| {
            Config::parse(
                &MINIMAL.replace("[mirror]", &format!("{keys}\n[mirror]")),
                &SecretEnv::default(),
            )
        };
        let c = with("max_retry_after_secs = 5\nmax_throttled_secs = 30").unwrap();
        assert_eq!(c.ecwid.max_throttled, Duration::from_secs(30));
        for (keys, needle) in [
            ("max_throttled_secs = 0", "from 1 to 86400"),
            ("max_throttled_secs = 86401", "from 1 to 86400"),
            (
                "max_throttled_secs = 30",
                "at least ecwid.max_retry_after_secs (60 s)",
            ),
            ("max_retry_after_secs = 0", "from 1 to 3600"),
        ] {
            let err = with(keys).unwrap_err().to_string();
            assert!(err.contains(needle), "{keys}: {err}");
        }
    }

    #[test]
    fn webhook_settings_have_defaults_and_each_bad_value_names_its_key() {
        let c = Config::parse(MINIMAL, &SecretEnv::default()).unwrap();
        assert_eq!(c.webhooks.path, "/webhooks/ecwid");
        assert_eq!(c.webhooks.max_event_age, Duration::from_secs(172_800));
        assert_eq!(c.webhooks.ready_max_failing, Duration::from_secs(1800));
        assert_eq!(c.webhooks.debounce, Duration::from_millis(200));
        assert_eq!(c.webhooks.read_interval, Duration::from_secs(1));
        assert_eq!(c.webhooks.retention_days, 7);
        let with = |keys: &str| {
            Config::parse(
                &format!("{MINIMAL}[webhooks]\n{keys}\n"),
                &SecretEnv::default(),
            )
        };
        let c = with("listen = \"0.0.0.0:9000\"\nmax_event_age_secs = 86400").unwrap();
        assert_eq!(c.webhooks.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.webhooks.max_event_age, Duration::from_secs(86_400));
        let c = with("debounce_ms = 0\nretention_days = 30").unwrap();
        assert_eq!(c.webhooks.debounce, Duration::ZERO);
        assert_eq!(c.webhooks.retention_days, 30);
        for (keys, needle) in [
            (
                "listen = \"localhost\"",
                "webhooks.listen: expected an address",
            ),
            ("path = \"hooks\"", "webhooks.path: expected a path"),
            ("path = \"/hooks/{id}\"", "webhooks.path: expected a path"),
            (
                "path = \"/metrics\"",
                "taken by the health and metrics endpoints",
            ),
            (
                "max_event_age_secs = 59",
                "webhooks.max_event_age_secs: expected seconds from 60",
            ),
            (
                "ready_max_failing_secs = 0",
                "webhooks.ready_max_failing_secs: expected seconds from 60",
            ),
            (
                "debounce_ms = 5001",
                "webhooks.debounce_ms: expected milliseconds from 0 to 5000, got 5001",
            ),
            (
                "read_interval_ms = 60001",
                "webhooks.read_interval_ms: expected milliseconds from 0 to 60000, got 60001",
            ),
            (
                "retention_days = 0",
                "webhooks.retention_days: expected days from 1 to 3650, got 0",
            ),
            ("debounce_ms = -1", "key `debounce_ms`"),
        ] {
            let err = with(keys).unwrap_err().to_string();
            assert!(err.contains(needle), "{keys}: {err}");
        }
    }

    #[test]
    fn a_credential_path_read_outside_the_service_reads_the_units_source_file() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("units");
        std::fs::create_dir_all(units.join("ecwid-sync-test.service.d")).unwrap();
        let source = dir.path().join("token");
        std::fs::write(&source, "secret_from_source\n").unwrap();
        let text = "[ecwid]\nstore_id = 1003\ntoken_file = \"/run/credentials/ecwid-sync-test.service/token\"\n[mirror]\npath = \"m.db\"\n";
        let env = SecretEnv {
            unit_dirs: vec![dir.path().join("elsewhere"), units.clone()],
            ..SecretEnv::default()
        };

        let err = Config::parse(text, &env).unwrap_err().to_string();
        assert!(
            err.starts_with("ecwid.token_file: /run/credentials/ecwid-sync-test.service/token is a systemd credential")
                && err.contains("no unit file ecwid-sync-test.service was found in")
                && err.contains("ECWID_SYNC_TOKEN"),
            "{err}"
        );

        let unit = units.join("ecwid-sync-test.service");
        std::fs::write(&unit, "[Service]\nExecStart=/bin/true\n").unwrap();
        let err = Config::parse(text, &env).unwrap_err().to_string();
        assert!(err.contains("has no LoadCredential=token:..."), "{err}");

        std::fs::write(
            &unit,
            format!("[Service]\nLoadCredential=token:{}\n", source.display()),
        )
        .unwrap();
        let c = Config::parse(text, &env).unwrap();
        assert_eq!(c.ecwid.token.expose(), "secret_from_source");

        // A drop-in (systemctl edit) overrides the unit, as systemd reads them.
        let moved = dir.path().join("moved");
        std::fs::write(&moved, "secret_moved").unwrap();
        std::fs::write(
            units.join("ecwid-sync-test.service.d/override.conf"),
            format!("[Service]\nLoadCredential=token:{}\n", moved.display()),
        )
        .unwrap();
        let c = Config::parse(text, &env).unwrap();
        assert_eq!(c.ecwid.token.expose(), "secret_moved");
    }

    #[test]
    fn a_log_level_that_is_not_a_level_names_the_valid_ones() {
        for good in [
            "info",
            "DEBUG",
            "warn,ecwid_sync=trace",
            "ecwid_sync::sync=debug",
        ] {
            check_level("log.level", good).unwrap();
        }
        for (bad, shown) in [
            ("verbose", "\"verbose\""),
            ("info,ecwid_sync=loud", "\"ecwid_sync=loud\""),
            ("", "\"\""),
        ] {
            let err = check_level("log.level", bad).unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "log.level: expected a level (off, error, warn, info, debug, trace)"
                ) && err.ends_with(&format!("got {shown}")),
                "{bad}: {err}"
            );
        }
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
