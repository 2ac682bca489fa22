//! Row 12: creating products from the mirror (`new_products`), with the default push
//! settings, against Ecwid's rate limit (600 requests a minute, burst 100).

use std::time::Duration;

use crate::Knobs;
use crate::common::{count, open, wait_until};
use crate::report::{Row, median, number, runs};

const PRODUCTS: usize = 1000;

fn import(db: &std::path::Path, round: usize) {
    let mut conn = open(db);
    let tx = conn.transaction().unwrap();
    for i in 0..PRODUCTS {
        tx.execute(
            "INSERT INTO new_products (name, sku, price, quantity) VALUES (?1, ?2, 4.5, 3)",
            rusqlite::params![
                format!("Supplier item {round}-{i}"),
                format!("SUP-{round}-{i:04}")
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

pub async fn run(knobs: Knobs) -> Vec<Row> {
    let (store, daemon) = crate::push::store_and_daemon(200).await;
    let db = daemon.setup.db.clone();
    let (mut requests, mut seconds) = (Vec::new(), Vec::new());
    for round in 0..knobs.runs() {
        let started = crate::push::next_run(&store, round).await;
        // A supplier's catalogue, imported by a tool in one transaction.
        import(&db, round);
        let created = wait_until(Duration::from_secs(300), || async {
            count(
                &db,
                "SELECT count(*) FROM new_products WHERE state <> 'created'",
            ) == 0
        })
        .await;
        assert!(created, "every product created");
        let secs = started.elapsed().as_secs_f64();
        let stats = store.stats().await;
        let total = stats["requests_total"].as_u64().unwrap_or(0);
        let in_store = store.state().await["products"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["sku"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&format!("SUP-{round}-")))
            })
            .count();
        assert_eq!(in_store, PRODUCTS, "each created exactly once");
        let mirrored = count(
            &db,
            &format!("SELECT count(*) FROM products WHERE sku LIKE 'SUP-{round}-%'"),
        );
        assert_eq!(mirrored as usize, PRODUCTS, "each in the mirror");
        eprintln!(
            "   {PRODUCTS} products created: {total} requests ({} batch creates, {} polls), {secs:.2} s, 429 answers: {}",
            stats["requests"]["POST /batch"],
            stats["requests"]["GET /batch"],
            stats["status"]["429"].as_u64().unwrap_or(0)
        );
        requests.push(total as f64);
        seconds.push(secs);
    }
    daemon.stop().await;

    let what = "creating 1,000 products from the mirror";
    let ours = median(requests.clone());
    let secs = median(seconds.clone());
    vec![
        Row::new("12a", format!("{what}: requests incl. polls and reads"), ours, number(ours))
            .detail(format!(
                "median of {} imports of 1,000 rows into new_products in one transaction, each product in the store exactly once and in products; one request per product would take 1,000, {:.0} x ours; {}",
                requests.len(),
                PRODUCTS as f64 / ours,
                runs(&requests)
            )),
        Row::new("12b", format!("{what}: seconds until all exist"), secs, format!("{secs:.2} s"))
            .detail(format!("from the tool's commit until every row is created, read back into the mirror; {}", runs(&seconds))),
    ]
}
