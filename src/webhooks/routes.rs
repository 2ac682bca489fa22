//! Which store a delivery is for: one webhook address serves every store of the daemon, and
//! each body's `storeId` picks the store's route, with the secret that must have signed it
//! and the inbox it goes to.
//!
//! Several stores may share one Ecwid app, and so one client secret: the route is chosen by
//! the store id, never by the secret, so an event signed with the shared secret still lands
//! only in the mirror of the store it names.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::committer::Inbox;
use crate::config::{Live, Secret};
use crate::kind::Kind;
use crate::metrics::Metrics;

/// One store behind the webhook address.
#[derive(Clone)]
pub struct StoreRoute {
    /// The store's name in logs and metrics.
    pub name: String,
    /// `ecwid.store_id`: the `storeId` of the events this route takes.
    pub store_id: u64,
    /// The client secret of the store's app, which signs its events.
    pub client_secret: Secret,
    /// What the store's mirror holds (`sync.kinds`); events of other kinds are `ignored`.
    pub kinds: Vec<Kind>,
    /// The store's configuration, for `webhooks.max_event_age_secs`, which a reload may
    /// change.
    pub live: Live,
    /// The store's mirror's inbox.
    pub inbox: Inbox,
    /// Where the store's deliveries are counted.
    pub metrics: Arc<Metrics>,
}

impl fmt::Debug for StoreRoute {
    // By hand: the handles have no useful Debug, and the secret must never show, whatever
    // `Secret`'s own Debug does in the future.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRoute")
            .field("name", &self.name)
            .field("store_id", &self.store_id)
            .field("client_secret", &"***")
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

/// Two routes for one store id: the receiver could not tell which mirror an event is for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "stores {first} and {second} both have ecwid.store_id {store_id}; a store id can be served by one store only"
)]
pub struct SameStoreTwice {
    pub store_id: u64,
    pub first: String,
    pub second: String,
}

/// The stores the receiver serves, by store id.
#[derive(Debug, Default)]
pub struct Routes {
    by_store_id: HashMap<u64, StoreRoute>,
}

impl Routes {
    /// Routes to `routes`, each store id once.
    pub fn new(routes: impl IntoIterator<Item = StoreRoute>) -> Result<Routes, SameStoreTwice> {
        let mut by_store_id: HashMap<u64, StoreRoute> = HashMap::new();
        for route in routes {
            if let Some(first) = by_store_id.get(&route.store_id) {
                return Err(SameStoreTwice {
                    store_id: route.store_id,
                    first: first.name.clone(),
                    second: route.name,
                });
            }
            by_store_id.insert(route.store_id, route);
        }
        Ok(Routes { by_store_id })
    }

    /// Routes to one store (the daemon of one store).
    pub fn one(route: StoreRoute) -> Routes {
        Routes {
            by_store_id: HashMap::from([(route.store_id, route)]),
        }
    }

    /// The route of `store_id`, if the daemon serves that store.
    pub fn get(&self, store_id: u64) -> Option<&StoreRoute> {
        self.by_store_id.get(&store_id)
    }

    /// How many stores are served.
    pub fn len(&self) -> usize {
        self.by_store_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_store_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SecretEnv};
    use crate::mirror::MirrorWriter;
    use tokio::sync::Notify;
    use tokio_util::sync::CancellationToken;

    fn route(name: &str, store_id: u64, inbox: &Inbox, live: &Live) -> StoreRoute {
        StoreRoute {
            name: name.into(),
            store_id,
            client_secret: Secret::new("the-apps-client-secret"),
            kinds: vec![Kind::Products],
            live: live.clone(),
            inbox: inbox.clone(),
            metrics: Metrics::new(),
        }
    }

    #[tokio::test]
    async fn routes_find_each_store_by_its_id_refuse_an_id_twice_and_never_show_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[ecwid]\nstore_id = 1003\ntoken = \"secret_abc\"\n[mirror]\npath = {:?}\n",
            dir.path().join("m.db")
        );
        let config = Config::parse(&text, &SecretEnv::default()).unwrap();
        let writer = MirrorWriter::open(&config.mirror, CancellationToken::new()).unwrap();
        let inbox = Inbox::start(writer, Metrics::new(), Arc::new(Notify::new()));
        let live = Live::fixed(config);

        let routes = Routes::new([
            route("north", 1003, &inbox, &live),
            route("south", 2004, &inbox, &live),
        ])
        .unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes.get(2004).map(|r| r.name.as_str()), Some("south"));
        assert!(routes.get(3005).is_none());

        let twice = Routes::new([
            route("north", 1003, &inbox, &live),
            route("copy", 1003, &inbox, &live),
        ])
        .unwrap_err();
        assert_eq!(
            twice.to_string(),
            "stores north and copy both have ecwid.store_id 1003; a store id can be served by one store only"
        );

        let shown = format!("{routes:?}");
        assert!(shown.contains("north") && shown.contains("***"), "{shown}");
        assert!(!shown.contains("the-apps-client-secret"), "{shown}");
    }
}
