//! Entities whose document does not fit the model. Their mirror rows keep the last copy
//! that did; the mirror remembers them (the `quarantine` table), every pass of their kind
//! reads them again by id, and every pass fails until they read again, so a listing that no
//! longer returns them (the store went quiet) cannot make them silently stale.

use std::collections::HashSet;

use super::pull::scan::Listing;
use super::pull::{Puller, RunSummary, log_summary};
use super::{Kind, PullError};
use crate::mirror::apply::Unreadable;
use crate::mirror::repair::Repair;
use crate::mirror::unix_now;

impl Puller {
    /// Reads every quarantined entity of `kind` again, all in one [`super::fetch::by_keys`]
    /// call: those that fit now are written and leave the quarantine, those Ecwid no longer
    /// has leave the mirror and the quarantine, and the rest stay, with their latest error.
    pub(super) async fn recheck_quarantine(&self, kind: Kind) -> Result<(), PullError> {
        let keys = self.writer.quarantined_keys(kind).await?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut read = Listing::default();
        let mut removed = 0;
        self.remove_missing(kind, keys.clone(), &mut read, &mut removed, Repair::Off)
            .await?;
        let unfit = with_keys(&read.unreadable);
        let still: HashSet<i64> = unfit.iter().map(|(key, _)| *key).collect();
        let fit: Vec<i64> = keys.into_iter().filter(|k| !still.contains(k)).collect();
        self.writer
            .settle_quarantine(kind, unfit, fit.clone(), unix_now())
            .await?;
        if !fit.is_empty() {
            tracing::info!(
                kind = kind.name(),
                left = fit.len(),
                removed_from_mirror = removed,
                still_quarantined = still.len(),
                "quarantined entities left the quarantine"
            );
        }
        Ok(())
    }

    /// Quarantines the documents of a run that did not fit, where their key could be read,
    /// and returns those whose key could not: without a key there is nothing to read
    /// again, and only the run's error can tell of them.
    pub(super) async fn quarantine_unreadable(
        &self,
        kind: Kind,
        unreadable: Vec<Unreadable>,
    ) -> Result<Vec<Unreadable>, PullError> {
        let unfit = with_keys(&unreadable);
        if !unfit.is_empty() {
            self.writer
                .settle_quarantine(kind, unfit, Vec::new(), unix_now())
                .await?;
        }
        Ok(unreadable.into_iter().filter(|u| u.key.is_none()).collect())
    }

    /// A run of `kind` that went well fails all the same while any entity of `kind` is
    /// quarantined: its error names the count, the first entity and its field. Logged once
    /// per pass, whatever the number of entities.
    pub(super) async fn report_quarantine(
        &self,
        summary: RunSummary,
    ) -> Result<RunSummary, PullError> {
        let kind = summary.kind;
        let held = self.writer.quarantine_summary(kind, 1).await?;
        let Some(first) = held.first.into_iter().next() else {
            return Ok(summary);
        };
        log_summary(&summary);
        tracing::warn!(
            kind = kind.name(),
            quarantined = held.count,
            first = first.key,
            error = %first.error,
            "documents that do not fit the model keep their last good copy; each pass reads them again"
        );
        Err(PullError::Quarantined {
            kind,
            count: held.count,
            key: first.key,
            error: first.error,
        })
    }
}

/// The (key, error) of each document whose key could be read.
fn with_keys(unreadable: &[Unreadable]) -> Vec<(i64, String)> {
    unreadable
        .iter()
        .filter_map(|u| Some((u.key?, u.error.clone())))
        .collect()
}
