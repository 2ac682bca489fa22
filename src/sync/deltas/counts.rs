//! What the delta worker has done since the process started, for `/metrics`. Counters only
//! grow; the two pending figures are gauges, refreshed after every batch and every second
//! while the worker is idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::kind::Kind;
use crate::mirror::gaps::GapCounts;
use crate::mirror::inbox::DeltaOutcome;
use crate::mirror::privacy::{Request, Subject};

/// The privacy request types in the order of [`DeltaCounts::privacy_requests`], with the
/// names `/metrics` gives them.
pub const PRIVACY_TYPES: [(Subject, Request, &str); 4] = [
    (Subject::Customer, Request::Removal, "customer_removal"),
    (Subject::Customer, Request::Export, "customer_export"),
    (Subject::Profile, Request::Removal, "profile_removal"),
    (Subject::Profile, Request::Export, "profile_export"),
];

/// Where a request type counts in [`DeltaCounts::privacy_requests`].
pub fn privacy_index(subject: Subject, request: Request) -> usize {
    PRIVACY_TYPES
        .iter()
        .position(|(s, r, _)| *s == subject && *r == request)
        .expect("every request type is listed")
}

#[derive(Debug, Default)]
pub struct DeltaCounts {
    /// Events settled as `applied`: reading their entity changed the mirror (a row written
    /// or removed, or the entity put into quarantine).
    pub events_applied: AtomicU64,
    /// Events settled as `echo`: the mirror already held what their entity read as, e.g.
    /// the webhook of a change a pull or an earlier event had already brought, or of the
    /// daemon's own write.
    pub events_echoed: AtomicU64,
    /// Events settled as `ignored` by the worker (kind not in `sync.kinds`, no entity).
    pub events_ignored: AtomicU64,
    /// Requests sent to Ecwid to read entities named by events (id lists of up to 100,
    /// customers one each; a failed request's retries not counted).
    pub fetch_requests: AtomicU64,
    /// Reads (a request or, for customers, a group of them, with its mirror write) that
    /// failed and will be retried; their events stay pending.
    pub fetch_failures: AtomicU64,
    /// Rows written or removed by the worker, per kind in [`Kind::ALL`] order.
    pub entities_applied: [AtomicU64; 4],
    /// Entities pulls found changed that no webhook had announced, per kind (counted only
    /// while webhooks are configured). Shared with the mirror writer, which counts them.
    pub gaps: Arc<GapCounts>,
    /// Privacy requests handled, by [`privacy_index`] (customer removal, customer export,
    /// profile removal, profile export).
    pub privacy_requests: [AtomicU64; 4],
    /// Customers erased at their request (a repeated request not counted again).
    pub customers_erased: AtomicU64,
    /// Events pending at the last look.
    pub pending: AtomicU64,
    /// When the oldest pending event was received (unix seconds), 0 when none is pending.
    pub oldest_pending_at: AtomicI64,
}

impl DeltaCounts {
    /// Rows the worker wrote or removed for `kind`.
    pub fn entities_applied(&self, kind: Kind) -> u64 {
        self.entities_applied[kind.index()].load(Ordering::Relaxed)
    }

    /// Seconds since the oldest pending event was received, at `now`; 0 when none is.
    pub fn oldest_pending_age_secs(&self, now: i64) -> i64 {
        match self.oldest_pending_at.load(Ordering::Relaxed) {
            0 => 0,
            at => (now - at).max(0),
        }
    }

    pub(super) fn add_outcome(&self, kind: Kind, outcome: &DeltaOutcome) {
        self.events_applied
            .fetch_add(outcome.applied, Ordering::Relaxed);
        self.events_echoed
            .fetch_add(outcome.echoes, Ordering::Relaxed);
        self.entities_applied[kind.index()]
            .fetch_add(outcome.written + outcome.removed, Ordering::Relaxed);
    }

    pub(super) fn add_privacy(&self, subject: Subject, request: Request, erased: bool) {
        self.privacy_requests[privacy_index(subject, request)].fetch_add(1, Ordering::Relaxed);
        if erased {
            self.customers_erased.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn set_pending(&self, pending: u64, oldest: Option<i64>) {
        self.pending.store(pending, Ordering::Relaxed);
        self.oldest_pending_at
            .store(oldest.unwrap_or(0), Ordering::Relaxed);
    }
}
