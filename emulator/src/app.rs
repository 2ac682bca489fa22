//! Shared state of a running emulator: the store behind one lock, plus the services around it.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde_json::{Value, json};

use crate::EmulatorConfig;
use crate::batch::Batches;
use crate::error::ApiResult;
use crate::faults::Faults;
use crate::lag::SearchIndex;
use crate::ratelimit::{Cooldown, RateLimiter};
use crate::stats::Stats;
use crate::store::Store;
use crate::webhooks::Webhooks;

pub struct App {
    pub config: EmulatorConfig,
    store: RwLock<Store>,
    pub stats: Arc<Stats>,
    pub faults: Faults,
    pub limiter: Option<RateLimiter>,
    pub cooldown: Cooldown,
    pub webhooks: Webhooks,
    pub batches: Batches,
    pub profile: Value,
    search: SearchIndex,
}

impl App {
    pub fn new(config: EmulatorConfig, store: Store, webhooks: Webhooks, stats: Arc<Stats>) -> App {
        let mut profile: Value =
            serde_json::from_str(include_str!("profile.json")).unwrap_or_else(|_| json!({}));
        if let Some(info) = profile
            .get_mut("generalInfo")
            .and_then(Value::as_object_mut)
        {
            info.insert("storeId".into(), json!(config.store_id));
        }
        App {
            limiter: config.rate_limit.map(RateLimiter::new),
            faults: Faults::new(config.index_lag_secs),
            cooldown: Cooldown::default(),
            batches: Batches::default(),
            search: SearchIndex::default(),
            store: RwLock::new(store),
            stats,
            webhooks,
            profile,
            config,
        }
    }

    /// Shared access for reads. The lock is never poisoned in practice (nothing panics
    /// under it); if it were, the data is still consistent per mutation, so keep serving.
    pub fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one mutation under the write lock and hands the webhook events it caused to the
    /// sender after the lock is released (even when the mutation failed half-way).
    pub fn write<R>(&self, f: impl FnOnce(&mut Store) -> ApiResult<R>) -> ApiResult<R> {
        let lag = self.faults.index_lag();
        let (result, events) = {
            let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
            self.search.before_write(&store, lag);
            let result = f(&mut store);
            let touched = store.take_touched();
            self.search.after_write(&store, touched, lag);
            (result, store.take_events())
        };
        self.webhooks.enqueue(events);
        result
    }

    /// Runs a search (a listing that is not an id list) on what the search index sees: the
    /// store itself, or with `index_lag_secs` above 0 the store as it was that long ago.
    pub fn search<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        let lag = self.faults.index_lag();
        if lag <= 0.0 {
            return f(&self.read());
        }
        self.search.search(lag, || self.read(), f)
    }

    /// Applies new fault settings; a lag of 0 drops the search copy.
    pub fn set_faults(&self, settings: crate::FaultSettings) -> ApiResult<()> {
        self.faults.set(settings)?;
        if self.faults.index_lag() <= 0.0 {
            self.search.clear();
        }
        Ok(())
    }

    pub fn replace_store(&self, fresh: Store) {
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        *store = fresh;
        self.search.clear();
    }
}
