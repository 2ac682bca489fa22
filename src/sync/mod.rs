//! The sync engine: pulls from Ecwid into the mirror, the delta worker that applies
//! webhook events, and the pusher that sends local stock changes to Ecwid. No HTTP server and no SQL in here.

pub mod deltas;
pub mod fetch;
pub mod progress;
pub mod pull;
pub mod pull_metrics;
pub mod push;
pub mod quarantine;

pub use crate::kind::Kind;
pub use pull::{Mode, Puller, RunSummary};

use crate::ecwid::ApiError;
use crate::mirror::MirrorError;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("cannot parse a {kind} page from Ecwid: {source}")]
    Document {
        kind: Kind,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{count} {kind} could not be read and kept their previous copy in the mirror; the first, {key}: {error}"
    )]
    Unreadable {
        kind: Kind,
        count: usize,
        key: String,
        error: String,
    },
    #[error(
        "{kind}: {count} in quarantine (documents from Ecwid that do not fit the model; their mirror rows keep the last copy that did, and every pass reads them again); the first, {key}: {error}"
    )]
    Quarantined {
        kind: Kind,
        count: i64,
        key: i64,
        error: String,
    },
    #[error("stopped by shutdown")]
    Interrupted,
}

impl PullError {
    /// Errors that end the daemon: no retry on the next schedule will fix a refused token
    /// without the operator; a mirror that stayed unwritable for the whole retry bound, and
    /// a mirror file deleted or replaced under the daemon, are left to the service manager's
    /// restart policy (exit codes 4 and 5).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            PullError::Api(ApiError::Auth { .. })
                | PullError::Mirror(MirrorError::Unwritable { .. })
                | PullError::Mirror(MirrorError::Replaced { .. })
        )
    }
}
