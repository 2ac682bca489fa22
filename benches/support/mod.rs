//! What the benchmarks share: their knobs and the daemon they measure.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;

/// A numeric knob from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `ecwid-sync run` on `config`, quiet, killed when dropped.
pub fn spawn_daemon(config: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run ecwid-sync")
}
