//! What each signal an operator or a service manager sends does. None ends a process
//! without a log line:
//!
//! - SIGTERM, SIGINT, SIGQUIT: stop cleanly: the page in flight is committed and the
//!   write-ahead log checkpointed.
//! - SIGHUP: `run` reads its configuration again ([`crate::reload`]); a one-off command
//!   stops as on SIGINT, since its terminal hung up.
//! - SIGUSR1, SIGUSR2: logged and ignored.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What SIGHUP does.
pub enum Hangup {
    /// Asks the daemon for a reload; a full channel means one is already waiting.
    Reload(mpsc::Sender<()>),
    Stop,
}

/// What a signal asks for; what SIGHUP does depends on the command ([`Hangup`]).
#[derive(Clone, Copy)]
enum Action {
    Stop,
    Hangup,
    Ignore,
}

/// Handles the signals from now on (the handlers are in place when this returns), cancelling
/// `shutdown` for those that stop.
pub fn listen(shutdown: CancellationToken, hangup: Hangup) {
    let hangup = Arc::new(hangup);
    for (kind, name, action) in [
        (SignalKind::terminate(), "SIGTERM", Action::Stop),
        (SignalKind::interrupt(), "SIGINT", Action::Stop),
        (SignalKind::quit(), "SIGQUIT", Action::Stop),
        (SignalKind::hangup(), "SIGHUP", Action::Hangup),
        (SignalKind::user_defined1(), "SIGUSR1", Action::Ignore),
        (SignalKind::user_defined2(), "SIGUSR2", Action::Ignore),
    ] {
        match signal(kind) {
            Ok(stream) => {
                tokio::spawn(handle(
                    stream,
                    name,
                    action,
                    shutdown.clone(),
                    hangup.clone(),
                ));
            }
            Err(e) => tracing::warn!(signal = name, error = %e, "cannot handle the signal"),
        }
    }
}

async fn handle(
    mut stream: Signal,
    name: &'static str,
    action: Action,
    shutdown: CancellationToken,
    hangup: Arc<Hangup>,
) {
    while stream.recv().await.is_some() {
        match (action, hangup.as_ref()) {
            // The reload logs its own line, saying what changed.
            (Action::Hangup, Hangup::Reload(reload_tx)) => {
                let _ = reload_tx.try_send(());
            }
            (Action::Ignore, _) => {
                tracing::info!(
                    signal = name,
                    "signal ignored: ecwid-sync gives it no meaning"
                )
            }
            (Action::Stop | Action::Hangup, _) => {
                tracing::info!(
                    signal = name,
                    "shutdown requested; finishing the current page"
                );
                shutdown.cancel();
            }
        }
    }
}
