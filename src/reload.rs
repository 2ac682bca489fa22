//! SIGHUP in the daemon: the configuration is read again, and what may change while running
//! changes ([`crate::config::reload`] decides what for each store), one log line per store.
//! Which stores to start or stop the daemon decides ([`crate::daemon`]).

use tokio::sync::{mpsc, watch};

use crate::config::reload::plan;
use crate::config::{Config, ConfigError, Stores};
use crate::errors::error_chain;

/// Reads the configuration as at start: the same files, the same secrets' sources.
pub type Load = Box<dyn Fn() -> Result<Stores, ConfigError> + Send + Sync>;

/// Where the daemon's reloads come from.
pub struct Reloads {
    /// One message per reload asked for (SIGHUP).
    pub asked: mpsc::Receiver<()>,
    pub load: Load,
}

/// Tells systemd a reload is in progress; [`reloaded`] tells it is over.
pub fn reloading() {
    // systemd shows the unit as reloading until READY=1; version 253 and later refuse
    // RELOADING=1 without the time beside it.
    let mut reloading = vec![sd_notify::NotifyState::Reloading];
    reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
    let _ = sd_notify::notify(&reloading);
}

pub fn reloaded() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// The configuration read again, or `None` (logged) when it does not validate: then
/// nothing changes.
pub fn read(load: &Load) -> Option<Stores> {
    match load() {
        Ok(stores) => Some(stores),
        Err(e) => {
            tracing::error!(
                error = %error_chain(&e),
                "configuration not reloaded: the file is not valid; the running configuration is kept"
            );
            None
        }
    }
}

/// Applies one store's newly read configuration `file` to its running one.
pub fn apply(file: &Config, publish: &watch::Sender<Config>) {
    let plan = plan(&publish.borrow(), file);
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
