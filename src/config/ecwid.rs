//! `[ecwid]`: the store, its secrets, the request budget and how long to wait for it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secrets::{SecretKeys, resolve_secret};
use super::{
    CLIENT_SECRET_ENV, ConfigError, DEFAULT_API_BASE, Secret, SecretEnv, TOKEN_ENV, as_secs,
    invalid, positive_secs, within,
};

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
    /// The secrets whose value is written in the configuration file itself (even when the
    /// environment overrides it): the file is then as secret as they are.
    #[serde(skip)]
    pub secrets_in_file: Vec<&'static str>,
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
    /// How long a one-off command (`sync`, `push`) keeps trying a store it cannot reach
    /// before it fails; the daemon keeps trying.
    #[serde(rename = "unreachable_give_up_secs", serialize_with = "as_secs")]
    pub unreachable_give_up: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEcwid {
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
    unreachable_give_up_secs: Option<u64>,
}

impl RawEcwid {
    pub(super) fn validate(self, env: &SecretEnv) -> Result<EcwidConfig, ConfigError> {
        let store_id = self.store_id.ok_or_else(|| {
            invalid(
                "ecwid.store_id",
                "missing; set it to the numeric id of the store",
            )
        })?;
        if store_id == 0 {
            return Err(ConfigError::StoreIdPlaceholder {
                path: PathBuf::new(),
            });
        }
        let written =
            |s: &Option<Secret>| s.as_ref().is_some_and(|s| !s.expose().trim().is_empty());
        let secrets_in_file = [
            ("ecwid.token", written(&self.token)),
            ("ecwid.client_secret", written(&self.client_secret)),
        ]
        .into_iter()
        .filter_map(|(key, written)| written.then_some(key))
        .collect();
        let token = resolve_secret(
            &SecretKeys {
                key: "ecwid.token",
                file_key: "ecwid.token_file",
                env_name: TOKEN_ENV,
            },
            self.token,
            self.token_file,
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
        let client_secret = resolve_secret(
            &SecretKeys {
                key: "ecwid.client_secret",
                file_key: "ecwid.client_secret_file",
                env_name: CLIENT_SECRET_ENV,
            },
            self.client_secret,
            self.client_secret_file,
            env.client_secret.clone(),
            &env.unit_dirs,
        )?;
        let mut secret_origins = vec![("ecwid.token", token.origin)];
        if let Some(cs) = &client_secret {
            secret_origins.push(("ecwid.client_secret", cs.origin.clone()));
        }
        let api_base = self
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
        let max_retry_after =
            positive_secs("ecwid.max_retry_after_secs", self.max_retry_after_secs, 60)?;
        let max_throttled = Duration::from_secs(within(
            "ecwid.max_throttled_secs",
            self.max_throttled_secs.unwrap_or(900),
            1..=86_400,
            "seconds",
            " (one day)",
        )?);
        // Otherwise a single pause the client is willing to wait could already pass the bound.
        if max_throttled < max_retry_after {
            return Err(invalid(
                "ecwid.max_throttled_secs",
                format!(
                    "expected at least ecwid.max_retry_after_secs ({} s), the longest single wait, got {}",
                    max_retry_after.as_secs(),
                    max_throttled.as_secs()
                ),
            ));
        }
        Ok(EcwidConfig {
            store_id,
            token: token.value,
            token_file: token.file,
            client_secret_file: client_secret.as_ref().and_then(|s| s.file.clone()),
            client_secret: client_secret.map(|s| s.value),
            secret_origins,
            secrets_in_file,
            api_base,
            requests_per_minute: within(
                "ecwid.requests_per_minute",
                self.requests_per_minute.unwrap_or(500),
                1..=6000,
                "an integer",
                "",
            )?,
            burst: within(
                "ecwid.burst",
                self.burst.unwrap_or(10),
                1..=1000,
                "an integer",
                "",
            )?,
            connect_timeout: positive_secs(
                "ecwid.connect_timeout_secs",
                self.connect_timeout_secs,
                10,
            )?,
            request_timeout: positive_secs(
                "ecwid.request_timeout_secs",
                self.request_timeout_secs,
                60,
            )?,
            max_retries: within(
                "ecwid.max_retries",
                self.max_retries.unwrap_or(8),
                0..=100,
                "an integer",
                "",
            )?,
            max_retry_after,
            max_throttled,
            unreachable_give_up: Duration::from_secs(within(
                "ecwid.unreachable_give_up_secs",
                self.unreachable_give_up_secs.unwrap_or(60),
                1..=86_400,
                "seconds",
                " (one day)",
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use super::super::{Config, SecretEnv};
    use std::time::Duration;

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
        assert_eq!(c.ecwid.unreachable_give_up, Duration::from_secs(60));
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
    fn each_bounded_ecwid_key_names_itself_its_bounds_and_the_value() {
        for (keys, expected) in [
            (
                "requests_per_minute = 0",
                "ecwid.requests_per_minute: expected an integer from 1 to 6000, got 0",
            ),
            (
                "burst = 1001",
                "ecwid.burst: expected an integer from 1 to 1000, got 1001",
            ),
            (
                "max_retries = 101",
                "ecwid.max_retries: expected an integer from 0 to 100, got 101",
            ),
            (
                "request_timeout_secs = 0",
                "ecwid.request_timeout_secs: expected seconds from 1 to 3600, got 0",
            ),
            (
                "unreachable_give_up_secs = 0",
                "ecwid.unreachable_give_up_secs: expected seconds from 1 to 86400 (one day), got 0",
            ),
            (
                "api_base = \"app.ecwid.com\"",
                "ecwid.api_base: expected an http:// or https:// URL, got \"app.ecwid.com\"",
            ),
        ] {
            let text = MINIMAL.replace("[mirror]", &format!("{keys}\n[mirror]"));
            let err = Config::parse(&text, &SecretEnv::default()).unwrap_err();
            assert_eq!(err.to_string(), expected, "{keys}");
        }
        let text = MINIMAL.replace("store_id = 1003", "store_id = 0");
        let err = Config::parse(&text, &SecretEnv::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "set [ecwid] store_id in the configuration: 0 is the example's placeholder; the store's id is in Ecwid's admin under Settings > General > Store ID"
        );
    }
}
