//! Log output: human text (no colours unless stderr is a terminal, so journald stays
//! clean) or one JSON object per line, at a level a reload may change.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::LogFormat;

/// The filter of the installed subscriber; unset while `RUST_LOG` chooses it.
static LEVEL: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// The scheduler narrates its own start-up at info; operators only need its warnings.
fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(format!("tokio_cron_scheduler=warn,{level}"))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(format: LogFormat, level: &str) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let env_chose = from_env.is_some();
    let (filter, handle) = reload::Layer::new(from_env.unwrap_or_else(|| filter(level)));
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let output = match format {
        LogFormat::Text => output.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => output.json().boxed(),
    };
    // A second init (tests, demo after config) keeps the first subscriber.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok();
    if installed && !env_chose {
        let _ = LEVEL.set(handle);
    }
}

/// Whether `RUST_LOG` chose the level, which then no configuration changes.
pub fn level_from_env() -> bool {
    EnvFilter::try_from_default_env().is_ok()
}

/// Logs at `level` from now on (a checked `log.level`). Under `RUST_LOG` nothing changes:
/// `run` never asks then (see `commands::reload_loader`).
pub fn set_level(level: &str) {
    if let Some(Err(e)) = LEVEL.get().map(|handle| handle.reload(filter(level))) {
        tracing::warn!(error = %e, "cannot change the log level");
    }
}
