//! One console for several stores, over HTTP with real mirrors: the home lists every store
//! by name and id, each store's pages show its own mirror, configuration and figures, a
//! store the daemon does not keep is a 404 naming those it keeps, and a reload that adds or
//! removes stores changes both while the console keeps serving.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use common::console::*;
use common::*;
use ecwid_emulator::EmulatorConfig;
use ecwid_sync::config::{Config, Live, Secret};
use ecwid_sync::console::{Console, StoreSite, router};
use ecwid_sync::metrics::Metrics;
use ecwid_sync::mirror::MirrorWriter;
use tokio_util::sync::CancellationToken;

/// A store the console may show: its emulator, its mirror after a first pass, the writer
/// the daemon would hold and its own metrics.
struct Kept {
    _store: TestStore,
    _scratch: Scratch,
    db: PathBuf,
    config: Config,
    writer: MirrorWriter,
    metrics: Arc<Metrics>,
}

impl Kept {
    /// Store `store_id`, whose configuration allows `requests_per_minute`.
    async fn start(store_id: u64, requests_per_minute: u32) -> Kept {
        let (store, scratch, db, mut config) = mirrored(EmulatorConfig {
            store_id,
            ..TestStore::small()
        })
        .await;
        config.ecwid.requests_per_minute = requests_per_minute;
        let writer = MirrorWriter::open(&config.mirror, CancellationToken::new()).unwrap();
        Kept {
            _store: store,
            _scratch: scratch,
            db,
            config,
            writer,
            metrics: Metrics::new(),
        }
    }

    fn id(&self) -> u64 {
        self.config.ecwid.store_id
    }

    fn site(&self, name: &str) -> StoreSite {
        StoreSite {
            name: name.to_string(),
            store_id: self.id(),
            mirror: self.db.clone(),
            writer: self.writer.clone(),
            live: Live::fixed(self.config.clone()),
            metrics: self.metrics.clone(),
        }
    }
}

/// `stores` served by one console on a free port, as the daemon serves it.
async fn serve(stores: Vec<StoreSite>, main: &Config) -> (Arc<Console>, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let console = Console::new(
        stores,
        Live::fixed(main.clone()),
        &Secret::new(TOKEN),
        PathBuf::from("console-token"),
        address,
    );
    let served = router(console.clone());
    tokio::spawn(async move { axum::serve(listener, served).await });
    (console, address)
}

#[tokio::test]
async fn one_console_lists_every_store_shows_each_its_own_mirror_and_follows_a_reload() {
    let (a, b) = tokio::join!(Kept::start(4101, 300), Kept::start(4102, 6000));
    // Something for a person in store A only, and figures of A's requests only.
    let contested = count(&a.db, "SELECT min(id) FROM products");
    stage_weight_conflict(&a.db, contested);
    a.metrics.api.throttled.inc();
    a.metrics.api.throttled.inc();
    let (console, address) = serve(vec![a.site("shop-a"), b.site("shop-b")], &a.config).await;
    let url = |path: &str| format!("http://{address}{path}");

    // The list is for a signed-in operator, like every store's page.
    let answer = http().get(url("/")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    assert_eq!(answer.headers()["location"], "/login?next=%2F");
    let cookie = sign_in_at(address, TOKEN).await.unwrap();

    let (status, home) = get_page(&url("/"), &cookie).await;
    assert_eq!(status, 200, "{home}");
    for shown in [
        "shop-a".to_string(),
        "shop-b".to_string(),
        format!("href=\"/stores/{}/\"", a.id()),
        format!("href=\"/stores/{}/\"", b.id()),
        format!("<td class=\"num\">{}</td>", a.id()),
        format!("<td class=\"num\">{}</td>", b.id()),
        // A's one conflict leads to its page; B has nothing waiting.
        format!("<a href=\"/stores/{}/attention\">1</a>", a.id()),
    ] {
        assert!(home.contains(&shown), "{shown}: {home}");
    }
    assert_eq!(home.matches(">nothing<").count(), 1, "{home}");
    assert_eq!(
        home.matches(">ok<").count(),
        2,
        "both mirrors take writes: {home}"
    );

    let page = |kept: &Kept, path: &str| url(&format!("/stores/{}{path}", kept.id()));
    let (status, overview_a) = get_page(&page(&a, "/"), &cookie).await;
    assert_eq!(status, 200, "{overview_a}");
    let (_, overview_b) = get_page(&page(&b, "/"), &cookie).await;
    for (overview, own, other, budget, throttled) in [
        (&overview_a, &a, &b, "Budget: 300 per minute", 2),
        (&overview_b, &b, &a, "Budget: 6000 per minute", 0),
    ] {
        assert!(
            overview.contains(&own.db.display().to_string())
                && !overview.contains(&other.db.display().to_string()),
            "its own mirror: {overview}"
        );
        assert!(overview.contains(budget), "{budget}: {overview}");
        let throttled = format!("Answered 429 (throttled) since start: {throttled}");
        assert!(overview.contains(&throttled), "{throttled}: {overview}");
    }
    // The header names the store and leads back to the list.
    assert!(
        overview_a.contains(&format!("shop-a · store {}", a.id()))
            && overview_a.contains("<a href=\"/\">All stores</a>"),
        "{overview_a}"
    );
    let (_, attention_a) = get_page(&page(&a, "/attention"), &cookie).await;
    assert!(attention_a.contains("Conflicts (1)"), "{attention_a}");
    let (_, attention_b) = get_page(&page(&b, "/attention"), &cookie).await;
    assert!(
        attention_b.contains("Nothing needs a person"),
        "{attention_b}"
    );

    let (status, missing) = get_page(&url("/stores/4199/"), &cookie).await;
    assert_eq!(status, 404);
    let kept_ab = format!(
        "keeps no store 4199; it keeps store {} (shop-a), store {} (shop-b)",
        a.id(),
        b.id()
    );
    assert!(missing.contains(&kept_ab), "{missing}");

    // A reload adds store C and removes B, while the console keeps serving.
    let c = Kept::start(4103, 6000).await;
    console.replace_stores(vec![a.site("shop-a"), c.site("shop-c")]);
    let (_, home) = get_page(&url("/"), &cookie).await;
    assert!(
        home.contains("shop-a")
            && home.contains("shop-c")
            && !home.contains("shop-b")
            && home.contains(&format!("href=\"/stores/{}/\"", c.id())),
        "{home}"
    );
    let (status, overview_c) = get_page(&page(&c, "/"), &cookie).await;
    assert_eq!(status, 200);
    assert!(
        overview_c.contains(&c.db.display().to_string()),
        "{overview_c}"
    );
    let (status, removed) = get_page(&page(&b, "/"), &cookie).await;
    assert_eq!(status, 404);
    let kept_ac = format!(
        "keeps no store {}; it keeps store {} (shop-a), store {} (shop-c)",
        b.id(),
        a.id(),
        c.id()
    );
    assert!(removed.contains(&kept_ac), "{removed}");

    // Down to one store: the home is its overview again, with the header of one store.
    console.replace_stores(vec![a.site("shop-a")]);
    let answer = http()
        .get(url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    assert_eq!(
        answer.headers()["location"],
        format!("/stores/{}/", a.id()).as_str()
    );
    let (_, overview_a) = get_page(&page(&a, "/"), &cookie).await;
    assert!(
        overview_a.contains(&format!("ecwid-sync · store {}", a.id()))
            && !overview_a.contains("All stores"),
        "{overview_a}"
    );
    let (status, removed) = get_page(&page(&c, "/"), &cookie).await;
    assert_eq!(status, 404);
    assert!(
        removed.contains(&format!(
            "keeps no store {}; it keeps store {} (shop-a)",
            c.id(),
            a.id()
        )),
        "{removed}"
    );
}
