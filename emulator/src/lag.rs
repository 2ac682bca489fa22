//! The search index lag (CONTRACT.md 17.2): Ecwid serves searches from an index that follows
//! writes late, while reads by id see a write at once.
//!
//! Model: while the lag is above 0, searches read a copy of the store's searchable part.
//! Every write hands over the resulting record of each entity it touched (or its absence,
//! for a deletion), stamped with the time of the write; a record is replayed into the copy
//! once it is older than the lag, in write order, just before the next search. So a search
//! sees exactly the store as it was `lag` seconds ago, with its totals and date windows. At a
//! lag of 0 there is no copy and nothing is recorded: searches read the store itself.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{Snapshot, Store, Touch};

#[derive(Default)]
pub struct SearchIndex {
    state: Mutex<Option<Lagged>>,
}

struct Lagged {
    copy: Store,
    pending: VecDeque<(Instant, Snapshot)>,
}

impl SearchIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Lagged>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the copy: searches read the store again (lag 0, or a reset store).
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Called under the store's write lock, before and after a write: starts the copy from
    /// the state before the write, then records what the write touched.
    pub fn before_write(&self, store: &Store, lag: f64) {
        if lag > 0.0 {
            let mut state = self.lock();
            if state.is_none() {
                *state = Some(Lagged {
                    copy: store.search_copy(),
                    pending: VecDeque::new(),
                });
            }
        }
    }

    pub fn after_write(&self, store: &Store, mut touched: Vec<Touch>, lag: f64) {
        if lag <= 0.0 {
            return;
        }
        let mut state = self.lock();
        let Some(lagged) = state.as_mut() else { return };
        touched.sort_unstable_by_key(|t| match t {
            Touch::Product(id) => (0, *id),
            Touch::Category(id) => (1, *id),
            Touch::Order(seq) => (2, *seq),
            Touch::Customer(id) => (3, *id),
        });
        touched.dedup();
        let now = Instant::now();
        lagged
            .pending
            .extend(touched.into_iter().map(|t| (now, store.snapshot(t))));
        // Keeps the queue to one lag's worth of writes even when nothing searches.
        lagged.catch_up(lag);
    }

    /// Runs a search on the store as it was `lag` seconds ago. `live` gives the store, for
    /// the copy's first state when no write has made it yet.
    pub fn search<'a, G, R>(
        &self,
        lag: f64,
        live: impl FnOnce() -> G,
        f: impl FnOnce(&Store) -> R,
    ) -> R
    where
        G: std::ops::Deref<Target = Store> + 'a,
    {
        let mut state = self.lock();
        if state.is_none() {
            // Lock order as for writes: the store first, then the copy.
            drop(state);
            let store = live();
            state = self.lock();
            if state.is_none() {
                *state = Some(Lagged {
                    copy: store.search_copy(),
                    pending: VecDeque::new(),
                });
            }
        }
        let Some(lagged) = state.as_mut() else {
            unreachable!("the copy was just made");
        };
        lagged.catch_up(lag);
        f(&lagged.copy)
    }
}

impl Lagged {
    /// Replays, in write order, the records older than `lag` seconds.
    fn catch_up(&mut self, lag: f64) {
        let lag = Duration::try_from_secs_f64(lag).unwrap_or(Duration::MAX);
        while self
            .pending
            .front()
            .is_some_and(|(at, _)| at.elapsed() >= lag)
        {
            if let Some((_, snapshot)) = self.pending.pop_front() {
                self.copy.apply(snapshot);
            }
        }
    }
}
