//! SIGHUP in the daemon: the configuration file is read again and what may change while
//! running changes ([`crate::config::reload`] decides what), one log line per reload.

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::reload::plan;
use crate::config::{Config, ConfigError};
use crate::errors::error_chain;

/// Reads the configuration as at start: the same file, the same secrets' sources.
pub type Load = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// Where the daemon's reloads come from.
pub struct Reloads {
    /// One message per reload asked for (SIGHUP).
    pub asked: mpsc::Receiver<()>,
    pub load: Load,
}

/// Reloads on each request until `stop`, publishing the result to the daemon's tasks.
pub async fn follow(mut reloads: Reloads, publish: watch::Sender<Config>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            asked = reloads.asked.recv() => if asked.is_none() { return },
        }
        // systemd shows the unit as reloading until READY=1; version 253 and later refuse
        // RELOADING=1 without the time beside it.
        let mut reloading = vec![sd_notify::NotifyState::Reloading];
        reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
        let _ = sd_notify::notify(&reloading);
        reload(&reloads.load, &publish);
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    }
}

/// One reload. A file that does not validate changes nothing.
pub fn reload(load: &Load, publish: &watch::Sender<Config>) {
    let file = match load() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(
                error = %error_chain(&e),
                "configuration not reloaded: the file is not valid; the running configuration is kept"
            );
            return;
        }
    };
    let plan = plan(&publish.borrow(), &file);
    if plan.applied.contains(&"log.level") {
        crate::logging::set_level(&plan.config.log.level);
    }
    let changed = if plan.applied.is_empty() {
        "nothing".to_string()
    } else {
        plan.applied.join(", ")
    };
    let kept = plan.kept.join(", ");
    publish.send_replace(plan.config);
    tracing::info!(changed, "configuration reloaded");
    if !kept.is_empty() {
        tracing::warn!(
            keys = kept,
            "changed in the configuration file but applied only by a restart (systemctl restart ecwid-sync); the running values are kept"
        );
    }
}
