//! What each signal an operator or a service manager sends does. None ends a process
//! without a log line:
//!
//! - SIGTERM, SIGINT, SIGQUIT: stop cleanly: the page in flight is committed and the
//!   write-ahead log checkpointed.
//! - SIGHUP: `run` reads its configuration again ([`crate::reload`]); a one-off command
//!   stops as on SIGINT, since its terminal hung up.
//! - SIGUSR1, SIGUSR2: logged and ignored.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What SIGHUP does.
pub enum Hangup {
    /// Asks the daemon for a reload; a full channel means one is already waiting.
    Reload(mpsc::Sender<()>),
    Stop,
}

/// Handles the signals from now on (the handlers are in place when this returns), cancelling
/// `shutdown` for those that stop.
pub fn listen(shutdown: CancellationToken, hangup: Hangup) {
    let hangup = std::sync::Arc::new(hangup);
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ] {
        match signal(kind) {
            Ok(stream) => {
                tokio::spawn(handle(stream, name, shutdown.clone(), hangup.clone()));
            }
            Err(e) => tracing::warn!(signal = name, error = %e, "cannot handle the signal"),
        }
    }
}

async fn handle(
    mut stream: Signal,
    name: &'static str,
    shutdown: CancellationToken,
    hangup: std::sync::Arc<Hangup>,
) {
    while stream.recv().await.is_some() {
        match (name, hangup.as_ref()) {
            // The reload logs its own line, saying what changed.
            ("SIGHUP", Hangup::Reload(reload_tx)) => {
                let _ = reload_tx.try_send(());
            }
            ("SIGUSR1" | "SIGUSR2", _) => {
                tracing::info!(
                    signal = name,
                    "signal ignored: ecwid-sync gives it no meaning"
                )
            }
            _ => {
                tracing::info!(
                    signal = name,
                    "shutdown requested; finishing the current page"
                );
                shutdown.cancel();
            }
        }
    }
}
