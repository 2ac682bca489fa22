//! Paging through a search: pages fetched ahead and parsed in parallel, each committed in
//! one transaction as it arrives, and an exact check of whether the listing missed anything.

use std::collections::{HashSet, VecDeque};

use tokio::task::JoinHandle;

use super::Puller;
use crate::kind::Kind;
use crate::mirror::apply::Unreadable;
use crate::mirror::full_progress::FullStep;
use crate::mirror::repair::Repair;
use crate::mirror::state::StateUpdate;
use crate::sync::PullError;
use crate::sync::fetch::{self, FetchedPage, PAGE_SIZE};
use crate::sync::progress::Progress;

/// What one or more passes over a listing returned.
#[derive(Default)]
pub struct Listing {
    /// Every key returned.
    pub seen: HashSet<i64>,
    /// The newest update time returned.
    pub newest: Option<i64>,
    /// `total` as the first and the last page reported it.
    pub first_total: Option<u64>,
    pub last_total: u64,
    pub items: u64,
    pub written: u64,
    /// Unfinished orders removed (their documents say they are no orders any more).
    pub removed: u64,
    pub pages: u64,
    /// Documents that did not fit the model; their keys, where readable, are in `seen`.
    pub unreadable: Vec<Unreadable>,
    /// Id-list requests Ecwid answered unfiltered.
    pub ignored_filters: u64,
    /// Entities whose rows disagreed with their documents and were written again (see
    /// [`crate::mirror::repair`]), and the first [`REPAIRS_SHOWN`] of them, for the log.
    pub repaired: u64,
    pub repaired_first: Vec<String>,
}

/// How many repaired entities a pull's log line names.
pub const REPAIRS_SHOWN: usize = 5;

impl Listing {
    /// Adds what another listing of the same run read and did, but not what it saw: its
    /// keys and totals belong to another search.
    pub fn absorb_counts(&mut self, other: Listing) {
        self.items += other.items;
        self.written += other.written;
        self.removed += other.removed;
        self.pages += other.pages;
        self.unreadable.extend(other.unreadable);
        self.ignored_filters += other.ignored_filters;
        let unnamed = other.repaired - other.repaired_first.len() as u64;
        self.add_repaired(other.repaired_first);
        self.repaired += unnamed;
    }

    /// Counts `repaired` entities, naming the first few.
    pub fn add_repaired(&mut self, repaired: Vec<String>) {
        self.repaired += repaired.len() as u64;
        let room = REPAIRS_SHOWN.saturating_sub(self.repaired_first.len());
        self.repaired_first.extend(repaired.into_iter().take(room));
    }

    /// How many entities existed when the listing ended yet were never returned. Offset
    /// paging over live data shifts when an entity before the current offset is deleted (or,
    /// with pages fetched ahead, when one enters the listing between two pages), and one
    /// entity at a page boundary is then never returned.
    ///
    /// Entities present at the end = `last_total`; of those, seen = `seen` minus the ones
    /// deleted since. `deleted` is the store's deletion list since the listing began; kinds
    /// without one count as missed whenever `total` moved during the listing.
    pub fn missed(&self, deleted: Option<&HashSet<i64>>) -> u64 {
        let seen = self.seen.len() as u64;
        match deleted {
            Some(deleted) => {
                let seen_then_deleted =
                    self.seen.iter().filter(|k| deleted.contains(k)).count() as u64;
                (self.last_total + seen_then_deleted).saturating_sub(seen)
            }
            None if self.first_total != Some(self.last_total) => {
                self.last_total.saturating_sub(seen).max(1)
            }
            None => self.last_total.saturating_sub(seen),
        }
    }
}

/// Where a scan starts, whether it records each page as a full pull's progress, and
/// whether its pages repair the rows that disagree with their documents.
#[derive(Clone, Copy, Default)]
pub(super) struct ScanFrom {
    pub offset: u64,
    pub record: bool,
    pub repair: Repair,
}

impl Puller {
    /// Pages through `kind`'s search with `filter` into `listing`, committing each page as
    /// it arrives. Up to `fetch_ahead` later pages are fetched and parsed while one is
    /// written. With `progress`, a progress bar or progress lines follow the listing.
    pub(super) async fn scan(
        &self,
        kind: Kind,
        filter: &[(&'static str, String)],
        listing: &mut Listing,
        mut progress: Option<Progress>,
        from: ScanFrom,
    ) -> Result<(), PullError> {
        let mut inflight = Inflight::default();
        let mut next_offset = from.offset;
        // Until the first page tells the real total, ask for that page only.
        let mut known_total = from.offset + PAGE_SIZE;
        let mut first = true;
        loop {
            while inflight.0.len() < self.fetch_ahead && next_offset < known_total {
                let (client, filter) = (self.client.clone(), filter.to_vec());
                let offset = next_offset;
                let task = tokio::spawn(async move {
                    fetch::search_page(&client, kind, offset, &filter).await
                });
                inflight.0.push_back((offset, task));
                next_offset += PAGE_SIZE;
            }
            let Some((offset, next)) = inflight.0.pop_front() else {
                break;
            };
            let page: FetchedPage = self.until_shutdown(next).await?.map_err(join_error)??;
            if first {
                listing.first_total.get_or_insert(page.total);
                first = false;
            }
            known_total = page.total;
            listing.last_total = page.total;
            let items = page.rows.len() as u64;
            if let Some(p) = progress.as_mut() {
                p.set_total(page.total);
            }
            let newest = page.rows.max_updated();
            let mut keys = page.rows.keys();
            keys.extend(page.unreadable.iter().filter_map(|u| u.key));
            listing.newest = listing.newest.max(newest);
            listing.seen.extend(keys.iter().copied());
            listing.unreadable.extend(page.unreadable);
            listing.items += items;
            listing.pages += 1;
            let update = StateUpdate {
                full: from.record.then(|| FullStep::Page {
                    offset,
                    next_offset: offset + PAGE_SIZE,
                    total: page.total,
                    newest,
                    keys,
                }),
                ..Default::default()
            };
            if !page.rows.is_empty() {
                self.apply(page.rows, update, from.repair, listing).await?;
            } else if update.full.is_some() {
                self.writer.update_state(kind, update).await?;
            }
            if let Some(p) = progress.as_mut() {
                p.advance(items);
            }
            if page.count < PAGE_SIZE && next_offset >= known_total {
                break;
            }
        }
        if let Some(p) = &progress {
            p.finish();
        }
        Ok(())
    }
}

/// Fetch tasks still running when a scan ends early are of no use: abort them.
#[derive(Default)]
struct Inflight(VecDeque<(u64, JoinHandle<Result<FetchedPage, PullError>>)>);

impl Drop for Inflight {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> PullError {
    if e.is_panic() {
        std::panic::resume_unwind(e.into_panic());
    }
    PullError::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(seen: &[i64], first_total: u64, last_total: u64) -> Listing {
        Listing {
            seen: seen.iter().copied().collect(),
            first_total: Some(first_total),
            last_total,
            ..Default::default()
        }
    }

    #[test]
    fn a_listing_that_returned_everything_missed_nothing() {
        let deleted = HashSet::new();
        assert_eq!(listing(&[1, 2, 3], 3, 3).missed(Some(&deleted)), 0);
        assert_eq!(listing(&[1, 2, 3], 3, 3).missed(None), 0);
    }

    #[test]
    fn a_deletion_behind_the_offset_that_hid_an_entity_is_detected() {
        // 1..=4 existed; 1 was read, then deleted, which shifted 3 out of its page.
        let deleted = HashSet::from([1]);
        assert_eq!(listing(&[1, 2, 4], 4, 3).missed(Some(&deleted)), 1);
    }

    #[test]
    fn a_deletion_ahead_of_the_offset_hides_nothing() {
        // 4 was deleted before the listing reached it.
        let deleted = HashSet::from([4]);
        assert_eq!(listing(&[1, 2, 3], 4, 3).missed(Some(&deleted)), 0);
    }

    #[test]
    fn without_a_deletion_list_a_moving_total_counts_as_a_miss() {
        assert_eq!(listing(&[1, 2, 4], 4, 3).missed(None), 1);
    }
}
