//! Whether the store accepts the token, asked before anything is written, and what a
//! refusal means for the configuration.

use reqwest::Method;
use tokio_util::sync::CancellationToken;

use super::{ApiError, Client};

/// How hard [`Client::check_token`] tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patience {
    /// As any read: throttling waited out, failures retried; every failure is returned
    /// (a one-off `sync`, whose pass would meet the same failure).
    Retry,
    /// One attempt; only a refusal is returned. The daemon must start while the store is
    /// unreachable, and its passes retry the rest.
    Once,
}

impl Client {
    /// Reads the store's profile, which every token of the store may read
    /// (`read_store_profile` is always granted): a refusal says the token or the store id
    /// is wrong, never that a scope is missing. Asked before the mirror is created or
    /// migrated, so a wrong token leaves nothing behind.
    ///
    /// `Ok(false)` when `shutdown` came first: the caller stops cleanly, having written
    /// nothing.
    pub async fn check_token(
        &self,
        patience: Patience,
        shutdown: &CancellationToken,
    ) -> Result<bool, ApiError> {
        tokio::select! {
            checked = self.ask_for_profile(patience) => checked.map(|()| true),
            _ = shutdown.cancelled() => Ok(false),
        }
    }

    async fn ask_for_profile(&self, patience: Patience) -> Result<(), ApiError> {
        let outcome = match patience {
            Patience::Retry => self.get_bytes("/profile", &[]).await.map(drop),
            Patience::Once => self
                .send_once(Method::GET, "/profile", &[], None)
                .await
                .map(drop),
        };
        match outcome {
            Err(e) if patience == Patience::Once && !matches!(e, ApiError::Auth { .. }) => {
                tracing::info!(error = %crate::errors::error_chain(&e), "cannot check the token now; the first pass will try the store again");
                Ok(())
            }
            other => other,
        }
    }
}

/// What to check after Ecwid refused the token, from what it said. A refusal that speaks of
/// the store (as for a store id the token does not belong to) points at `ecwid.store_id`;
/// one that speaks of a scope, at the app's scopes. Any other names the token and the store
/// id both, since a token for another store may be refused as simply invalid.
pub fn refusal_advice(message: &str) -> &'static str {
    let said = message.to_ascii_lowercase();
    if said.contains("store") {
        "check ecwid.store_id: the token belongs to another store (the Store ID is in the Ecwid admin under Settings > General)"
    } else if said.contains("scope") {
        "the app lacks an access scope: it needs read_catalog and read_orders, and read_customers when customers are mirrored"
    } else {
        "check ecwid.token, that ecwid.store_id is the store the token was made for, and that the app has the scopes it needs"
    }
}

#[cfg(test)]
mod tests {
    use super::refusal_advice;

    #[test]
    fn a_refusal_points_at_the_setting_it_names() {
        for (said, key) in [
            (
                "The access token does not grant access to store '1004'",
                "check ecwid.store_id:",
            ),
            (
                "Application doesn't have a required scope for the request",
                "lacks an access scope",
            ),
            (
                "Invalid or missing access token",
                "check ecwid.token, that ecwid.store_id",
            ),
        ] {
            assert!(refusal_advice(said).contains(key), "{said}");
        }
    }
}
