//! The running configuration, which a reload (`SIGHUP`) may replace while the daemon runs.
//!
//! Tasks read only the keys a reload may change through it (see [`super::reload`]); what
//! needs a restart they take once, at start.

use tokio::sync::watch;

use super::Config;

/// A task's view of the running configuration.
#[derive(Clone)]
pub struct Live(watch::Receiver<Config>);

impl Live {
    /// The view, and the sender a reload publishes through.
    pub fn new(config: Config) -> (watch::Sender<Config>, Live) {
        let (tx, rx) = watch::channel(config);
        (tx, Live(rx))
    }

    /// A configuration nothing will ever replace (one-off commands, tests).
    pub fn fixed(config: Config) -> Live {
        Live::new(config).1
    }

    /// Reads from the configuration now. Never held across an await: a reload waits for it.
    pub fn read<T>(&self, f: impl FnOnce(&Config) -> T) -> T {
        f(&self.0.borrow())
    }

    /// Returns once the configuration has been replaced since this view last looked.
    /// Never returns for a fixed configuration.
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
