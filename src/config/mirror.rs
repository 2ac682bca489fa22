//! `[mirror]`: the SQLite file, how long its refused writes are retried and how long the
//! daemon waits for another ecwid-sync that holds it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, as_secs, invalid, within};

#[derive(Clone, Debug, Serialize)]
pub struct MirrorConfig {
    pub path: PathBuf,
    /// How long writes the mirror refuses (another process's write lock, read-only file
    /// system, full disk) are retried before the pass fails or, when the mirror cannot be
    /// written at all, the process exits with code 4.
    #[serde(rename = "write_retry_secs", serialize_with = "as_secs")]
    pub write_retry: Duration,
    /// How long `run` waits at start for another ecwid-sync that holds the mirror (a
    /// hand-run `sync`, say) before it exits with code 6 for the service manager to retry.
    #[serde(rename = "lock_wait_secs", serialize_with = "as_secs")]
    pub lock_wait: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMirror {
    path: Option<PathBuf>,
    write_retry_secs: Option<u64>,
    lock_wait_secs: Option<u64>,
}

impl RawMirror {
    pub(super) fn validate(self) -> Result<MirrorConfig, ConfigError> {
        let path = self.path.ok_or_else(|| {
            invalid(
                "mirror.path",
                "missing; set it to the SQLite file to write, e.g. /var/lib/ecwid-sync/mirror.db",
            )
        })?;
        if path.as_os_str().is_empty() {
            return Err(invalid("mirror.path", "must not be empty"));
        }
        let write_retry = within(
            "mirror.write_retry_secs",
            self.write_retry_secs.unwrap_or(300),
            1..=86_400,
            "an integer",
            " (one day)",
        )?;
        let lock_wait = within(
            "mirror.lock_wait_secs",
            self.lock_wait_secs.unwrap_or(120),
            0..=86_400,
            "an integer",
            " (one day)",
        )?;
        Ok(MirrorConfig {
            path,
            write_retry: Duration::from_secs(write_retry),
            lock_wait: Duration::from_secs(lock_wait),
        })
    }
}
