//! One webhook address for several stores: each store's emulator sends its signed webhooks to
//! the one receiver, served over real HTTP, which routes them by `storeId` to that store's
//! mirror; forgeries, unknown stores and a reload of the routes are sent directly.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ecwid_emulator::EmulatorConfig;
use ecwid_sync::config::{Config, Live, SecretEnv};
use ecwid_sync::health::PassHealth;
use ecwid_sync::listener::Limits;
use ecwid_sync::metrics::{Metrics, ReasonLabel, RejectReason};
use ecwid_sync::mirror::MirrorWriter;
use ecwid_sync::server::{self, Endpoints, StoreEndpoint};
use ecwid_sync::webhooks::{Inbox, Receiver, Routes, StoreRoute};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);
const PATH: &str = "/webhooks/ecwid";

/// A store: its emulator, and its mirror with the handles a route to it holds.
struct Store {
    name: &'static str,
    emulator: TestStore,
    db: PathBuf,
    config: Config,
    writer: MirrorWriter,
    inbox: Inbox,
    metrics: Arc<Metrics>,
}

impl Store {
    async fn open(scratch: &Scratch, name: &'static str, store: EmulatorConfig) -> Store {
        let emulator = TestStore::start(EmulatorConfig {
            products: 5,
            orders: 2,
            customers: 2,
            categories: 2,
            rate_limit: None,
            ..store
        })
        .await;
        let db = scratch.path(&format!("{name}.db"));
        let unused = "127.0.0.1:0".parse().unwrap();
        let text = webhook_config_text(&emulator, &db, unused, "");
        let config = Config::parse(&text, &SecretEnv::default()).expect("a valid configuration");
        let writer =
            MirrorWriter::open(&config.mirror, CancellationToken::new()).expect("the mirror opens");
        let metrics = Metrics::for_store(name, Default::default());
        let inbox = Inbox::start(writer.clone(), metrics.clone(), Arc::new(Notify::new()));
        Store {
            name,
            emulator,
            db,
            config,
            writer,
            inbox,
            metrics,
        }
    }

    fn store_id(&self) -> u64 {
        self.emulator.config.store_id
    }

    fn secret(&self) -> &str {
        &self.emulator.config.client_secret
    }

    fn route(&self) -> StoreRoute {
        StoreRoute {
            name: self.name.into(),
            store_id: self.store_id(),
            client_secret: self.config.ecwid.client_secret.clone().unwrap(),
            kinds: self.config.sync.kinds.clone(),
            live: Live::fixed(self.config.clone()),
            inbox: self.inbox.clone(),
            metrics: self.metrics.clone(),
        }
    }

    fn events(&self, filter: &str) -> i64 {
        count(
            &self.db,
            &format!("SELECT count(*) FROM webhook_events WHERE {filter}"),
        )
    }

    /// A `product.updated` event of this store for product `product_id`.
    fn product_event(&self, event_id: &str, product_id: i64) -> Value {
        let mut event = product_event(event_id, product_id);
        event["storeId"] = json!(self.store_id());
        event
    }

    /// Whether the store's emulator delivered everything it sent, with a 200 each time.
    async fn all_delivered(&self) -> bool {
        let webhooks = &self.emulator.stats().await["webhooks"];
        webhooks["sent"].as_u64() > Some(0)
            && webhooks["delivered"] == webhooks["sent"]
            && webhooks["failed"] == 0
    }
}

fn store_config(store_id: u64, client_secret: &str) -> EmulatorConfig {
    EmulatorConfig {
        store_id,
        token: format!("secret_token_of_{store_id}"),
        client_secret: client_secret.into(),
        ..EmulatorConfig::default()
    }
}

/// `event` without `field`.
fn without(mut event: Value, field: &str) -> Value {
    event.as_object_mut().unwrap().remove(field);
    event
}

fn rejected(metrics: &Metrics, reason: RejectReason) -> u64 {
    metrics
        .webhooks
        .rejected
        .get_or_create(&ReasonLabel { reason })
        .get()
}

/// One receiver on its own listener, as `ecwid-sync run` serves it.
struct Listener {
    url: String,
    receiver: Arc<Receiver>,
    /// Where refusals no store can be blamed for are counted.
    unrouted: Arc<Metrics>,
    stop: CancellationToken,
    http: reqwest::Client,
}

impl Listener {
    /// Serves `stores` at one address, with their health and metrics.
    async fn serve(stores: &[&Store]) -> Listener {
        let unrouted = Metrics::unrouted();
        let routes = Routes::new(stores.iter().map(|s| s.route())).expect("one route per store");
        let receiver = Arc::new(Receiver::new(routes, unrouted.clone()));
        let first = stores[0];
        let endpoints = Endpoints::new(
            stores
                .iter()
                .map(|s| {
                    Arc::new(StoreEndpoint {
                        name: s.name.into(),
                        writer: Some(s.writer.clone()),
                        metrics: s.metrics.clone(),
                        passes: Arc::new(PassHealth::default()),
                        config: Live::fixed(s.config.clone()),
                    })
                })
                .collect(),
            Some(unrouted.clone()),
        );
        let router = server::router(endpoints, Some((PATH, receiver.clone())));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(
            listener,
            router,
            Limits::of(&first.config.webhooks),
            stop.clone(),
        ));
        Listener {
            url,
            receiver,
            unrouted,
            stop,
            http: reqwest::Client::new(),
        }
    }

    /// Posts `event` with `signature` (none when `None`); the status.
    async fn deliver(&self, event: &Value, signature: Option<&str>) -> u16 {
        post_webhook(&self.http, &self.url, event.to_string(), signature).await
    }

    /// Posts `event` signed with `secret`, as Ecwid would.
    async fn deliver_signed(&self, event: &Value, secret: &str) -> u16 {
        self.deliver(event, Some(&signature_of(event, secret)))
            .await
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[tokio::test]
async fn each_stores_signed_webhooks_land_in_its_own_mirror_only_and_count_on_its_own_metrics() {
    let scratch = Scratch::new();
    let north = Store::open(&scratch, "north", store_config(1003, "north_secret")).await;
    let south = Store::open(&scratch, "south", store_config(2004, "south_secret")).await;
    let listener = Listener::serve(&[&north, &south]).await;

    // Both stores' apps post to the one address.
    for store in [&north, &south] {
        store
            .emulator
            .set_webhooks(json!({"url": listener.url}))
            .await;
    }
    north
        .emulator
        .send_webhook(json!({"eventType": "product.updated", "entityId": 11}))
        .await;
    south
        .emulator
        .send_webhook(json!({"eventType": "product.updated", "entityId": 22}))
        .await;
    south
        .emulator
        .send_webhook(json!({"eventType": "review.created"}))
        .await;
    let landed = wait_until(WAIT, || async {
        north.all_delivered().await && south.all_delivered().await
    })
    .await;
    assert!(
        landed,
        "{} {}",
        north.emulator.stats().await["webhooks"],
        south.emulator.stats().await["webhooks"]
    );
    assert_eq!(north.events("entity_key = 11 AND state = 'pending'"), 1);
    assert_eq!(
        north.events("1 = 1"),
        1,
        "only north's event is in north's mirror"
    );
    assert_eq!(south.events("entity_key = 22 AND state = 'pending'"), 1);
    assert_eq!(south.events("state = 'ignored' AND kind IS NULL"), 1);
    assert_eq!(
        south.events("1 = 1"),
        2,
        "only south's events are in south's mirror"
    );
    assert_eq!(north.metrics.webhooks.received.get(), 1);
    assert_eq!(south.metrics.webhooks.received.get(), 2);
    assert_eq!(south.metrics.webhooks.ignored.get(), 1);
    assert_eq!(listener.unrouted.webhooks.received.get(), 0);

    // North's event signed with south's secret: refused, and blamed on north, whose event it
    // claims to be.
    let forged = north.product_event("e-forged", 33);
    assert_eq!(listener.deliver_signed(&forged, south.secret()).await, 401);
    assert_eq!(rejected(&north.metrics, RejectReason::BadSignature), 1);
    assert_eq!(rejected(&south.metrics, RejectReason::BadSignature), 0);
    // A store this daemon does not serve, signed with a secret it knows.
    let mut unknown = north.product_event("e-unknown", 44);
    unknown["storeId"] = json!(3005);
    assert_eq!(listener.deliver_signed(&unknown, north.secret()).await, 401);
    assert_eq!(rejected(&listener.unrouted, RejectReason::WrongStore), 1);
    // Refusals before the store is known are nobody's.
    assert_eq!(listener.deliver(&forged, None).await, 401);
    assert_eq!(
        rejected(&listener.unrouted, RejectReason::MissingSignature),
        1
    );
    let without_store = without(north.product_event("e-nostore", 55), "storeId");
    assert_eq!(
        listener
            .deliver_signed(&without_store, north.secret())
            .await,
        400
    );
    assert_eq!(rejected(&listener.unrouted, RejectReason::Malformed), 1);
    // Malformed once the store is known: the store's.
    let without_entity = without(south.product_event("e-noentity", 66), "entityId");
    assert_eq!(
        listener
            .deliver_signed(&without_entity, south.secret())
            .await,
        400
    );
    assert_eq!(rejected(&south.metrics, RejectReason::Malformed), 1);
    assert_eq!(rejected(&north.metrics, RejectReason::Malformed), 0);
    assert_eq!(rejected(&listener.unrouted, RejectReason::Malformed), 1);

    assert_eq!(
        (north.events("1 = 1"), south.events("1 = 1")),
        (1, 2),
        "a refused delivery was stored"
    );
    for reason in [RejectReason::WrongStore, RejectReason::MissingSignature] {
        assert_eq!(rejected(&north.metrics, reason), 0);
        assert_eq!(rejected(&south.metrics, reason), 0);
    }
}

#[tokio::test]
async fn stores_sharing_one_apps_client_secret_each_receive_their_own_events() {
    let scratch = Scratch::new();
    let east = Store::open(&scratch, "east", store_config(1003, "one_apps_secret")).await;
    let west = Store::open(&scratch, "west", store_config(2004, "one_apps_secret")).await;
    let listener = Listener::serve(&[&east, &west]).await;
    for (store, product) in [(&east, 7), (&west, 8)] {
        store
            .emulator
            .set_webhooks(json!({"url": listener.url}))
            .await;
        store
            .emulator
            .send_webhook(json!({"eventType": "product.updated", "entityId": product}))
            .await;
    }
    let landed = wait_until(WAIT, || async {
        east.all_delivered().await && west.all_delivered().await
    })
    .await;
    assert!(landed);
    assert_eq!(
        (east.events("entity_key = 7"), east.events("1 = 1")),
        (1, 1)
    );
    assert_eq!(
        (west.events("entity_key = 8"), west.events("1 = 1")),
        (1, 1)
    );
    assert_eq!(east.metrics.webhooks.received.get(), 1);
    assert_eq!(west.metrics.webhooks.received.get(), 1);
}

#[tokio::test]
async fn replacing_the_routes_while_serving_receives_an_added_store_and_refuses_a_removed_one() {
    let scratch = Scratch::new();
    let north = Store::open(&scratch, "north", store_config(1003, "north_secret")).await;
    let south = Store::open(&scratch, "south", store_config(2004, "south_secret")).await;
    let listener = Listener::serve(&[&north]).await;

    let early = south.product_event("s-early", 1);
    assert_eq!(listener.deliver_signed(&early, south.secret()).await, 401);
    assert_eq!(rejected(&listener.unrouted, RejectReason::WrongStore), 1);

    // South's file appeared: its events land from the next request on.
    listener
        .receiver
        .replace_routes(Routes::new([north.route(), south.route()]).unwrap());
    assert_eq!(listener.deliver_signed(&early, south.secret()).await, 200);
    assert_eq!(south.events("event_id = 's-early' AND entity_key = 1"), 1);
    let kept = north.product_event("n-kept", 2);
    assert_eq!(listener.deliver_signed(&kept, north.secret()).await, 200);
    assert_eq!(north.events("event_id = 'n-kept'"), 1);

    // North's file went away: its events are refused as a stranger's, and nothing is stored.
    listener.receiver.replace_routes(Routes::one(south.route()));
    let late = north.product_event("n-late", 3);
    assert_eq!(listener.deliver_signed(&late, north.secret()).await, 401);
    assert_eq!(rejected(&listener.unrouted, RejectReason::WrongStore), 2);
    assert_eq!(north.events("1 = 1"), 1);
    let still = south.product_event("s-still", 4);
    assert_eq!(listener.deliver_signed(&still, south.secret()).await, 200);
    assert_eq!(south.events("1 = 1"), 2);

    assert_eq!(north.metrics.webhooks.received.get(), 1);
    assert_eq!(south.metrics.webhooks.received.get(), 2);
    assert_eq!(listener.unrouted.webhooks.received.get(), 0);
}
