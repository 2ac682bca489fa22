//! `[console]`: the operator console's own listener, who may sign in, and what counts as
//! waiting too long.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secrets::{SecretKeys, resolve_secret};
use super::{ConfigError, Secret, as_secs, invalid, within};

pub const CONSOLE_TOKEN_ENV: &str = "ECWID_SYNC_CONSOLE_TOKEN";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConsoleConfig {
    /// Off: `run` serves no console.
    pub enabled: bool,
    /// Never the webhook listener, which a reverse proxy exposes to Ecwid.
    pub listen: SocketAddr,
    /// The sign-in token's file (a systemd credential, too). Without one (loopback only) the
    /// daemon makes a token in a file beside the mirror, readable by its user alone.
    pub token_file: Option<PathBuf>,
    #[serde(skip)]
    pub token: Option<Secret>,
    /// A local change still pending after this long is listed as needing attention.
    #[serde(rename = "pending_attention_secs", serialize_with = "as_secs")]
    pub pending_attention: Duration,
    /// How long a sign-in lasts.
    #[serde(rename = "session_hours")]
    pub session_hours: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        RawConsole::default()
            .validate(None, &[])
            .expect("the defaults are valid")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    enabled: Option<bool>,
    listen: Option<String>,
    token_file: Option<PathBuf>,
    pending_attention_secs: Option<u64>,
    session_hours: Option<u32>,
}

impl RawConsole {
    pub(super) fn validate(
        self,
        token_env: Option<String>,
        unit_dirs: &[PathBuf],
    ) -> Result<ConsoleConfig, ConfigError> {
        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:8090".to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "console.listen",
                format!("expected an address like 127.0.0.1:8090, got {listen_text:?}"),
            )
        })?;
        let enabled = self.enabled.unwrap_or(true);
        let token = resolve_secret(
            &SecretKeys {
                key: "console.token_file",
                file_key: "console.token_file",
                env_name: CONSOLE_TOKEN_ENV,
            },
            None,
            self.token_file.clone(),
            token_env,
            unit_dirs,
        )?
        .map(|resolved| resolved.value);
        if enabled && token.is_none() && !listen.ip().is_loopback() {
            return Err(invalid(
                "console.listen",
                format!(
                    "{listen} is not a loopback address, and the console has no token: anyone who reaches this machine could sign in. Set console.token_file (or {CONSOLE_TOKEN_ENV}), listen on 127.0.0.1, or set console.enabled = false"
                ),
            ));
        }
        if let Some(token) = &token
            && token.expose().len() < 16
        {
            return Err(invalid(
                "console.token_file",
                "the token is shorter than 16 characters; make one with `head -c 24 /dev/urandom | base64`",
            ));
        }
        Ok(ConsoleConfig {
            enabled,
            listen,
            token_file: self.token_file,
            token,
            pending_attention: Duration::from_secs(within(
                "console.pending_attention_secs",
                self.pending_attention_secs.unwrap_or(600),
                10..=604_800,
                "seconds",
                " (7 days)",
            )?),
            session_hours: within(
                "console.session_hours",
                self.session_hours.unwrap_or(12),
                1..=720,
                "hours",
                " (30 days)",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use crate::config::{Config, SecretEnv};

    #[test]
    fn a_console_open_to_the_network_needs_a_token() {
        let text = format!("{MINIMAL}[console]\nlisten = \"0.0.0.0:8090\"\n");
        let err = Config::parse(&text, &SecretEnv::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("console.listen: 0.0.0.0:8090 is not a loopback address")
                && err.contains("console.token_file"),
            "{err}"
        );
        let off = format!("{text}enabled = false\n");
        assert!(Config::parse(&off, &SecretEnv::default()).is_ok());
    }

    #[test]
    fn a_short_or_missing_token_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let text = format!("{MINIMAL}[console]\ntoken_file = {:?}\n", short);
        let err = Config::parse(&text, &SecretEnv::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("shorter than 16"), "{err}");
        assert!(!err.contains("abc"), "{err}");
        let missing = format!("{MINIMAL}[console]\ntoken_file = \"/nonexistent/token\"\n");
        let err = Config::parse(&missing, &SecretEnv::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("console.token_file: cannot read /nonexistent/token"),
            "{err}"
        );
    }

    #[test]
    fn the_token_never_shows_in_debug_or_the_printed_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "console-token-0123456789\n").unwrap();
        let text = format!("{MINIMAL}[console]\ntoken_file = {:?}\n", file);
        let c = Config::parse(&text, &SecretEnv::default()).unwrap();
        assert_eq!(
            c.console.token.as_ref().unwrap().expose(),
            "console-token-0123456789"
        );
        let shown = format!("{c:?}{}", c.to_masked_toml());
        assert!(!shown.contains("console-token-0123456789"), "{shown}");
    }
}
