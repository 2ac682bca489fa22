//! Two-way stock, the store's side: `ecwid-sync push` sends the outbox to Ecwid in keyed
//! batches, never losing or doubling a change, whatever happens to Ecwid's answers.

mod common;

use common::stock::*;
use common::*;
use ecwid_sync::commands::push_once;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn local_stock_changes_reach_the_store_exactly_once_although_batch_answers_are_lost() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let before = store_stock(&store.state().await);
    let entities: Vec<_> = before.keys().copied().step_by(7).take(40).collect();
    let mut expected = before.clone();
    for (i, &entity) in entities.iter().enumerate() {
        let delta = (i as i64 % 5) - 2;
        tool_change(&db, entity, delta);
        tool_change(&db, entity, 1);
        *expected.get_mut(&entity).unwrap() += delta + 1;
    }
    // The storefront sells while the changes wait: variations, since a storefront sells a
    // product with options as one of them.
    for &entity in entities
        .iter()
        .filter(|e| before[e] > 1 && e.1.is_some())
        .take(6)
    {
        store.sale(entity.0, entity.1, 1).await;
        *expected.get_mut(&entity).unwrap() -= 1;
    }
    // The batch is created and runs, and every answer to its create is lost.
    store
        .set_faults(json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}))
        .await;
    let mut impatient = config.clone();
    impatient.ecwid.max_retries = 1;
    let lost = push_once(&impatient, CancellationToken::new()).await;
    assert!(lost.is_err(), "no outcome: {lost:?}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE state = 'sending' AND batch_key IS NOT NULL"
        ),
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'"),
        "the changes keep their key"
    );
    store.set_faults(json!({})).await;
    // The next pass sends the same key again: Ecwid answers the first batch's ticket.
    push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(
        store_stock(&store.state().await),
        expected,
        "never lost, never doubled"
    );
    // Entities whose changes cancelled out were not sent, so not read back: their sales
    // reach the mirror by the next pull or webhook.
    for &entity in entities
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as i64 % 5 != 1)
        .map(|(_, e)| e)
    {
        assert_eq!(
            mirror_stock(&db, entity),
            expected.get(&entity).copied(),
            "the mirror holds Ecwid's resulting quantity for {entity:?}"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'"),
        0
    );
    assert_eq!(
        store.request_count("POST /batch").await,
        3,
        "two creates whose answers were lost, then the same key again"
    );
}

#[tokio::test]
async fn a_stock_change_and_its_undo_cancel_out_without_any_request() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let before = store_stock(&store.state().await);
    let entity = *before.keys().next().unwrap();
    tool_change(&db, entity, -1);
    tool_change(&db, entity, 1);
    store.reset_stats().await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(summary.cancelled, 2);
    assert_eq!(summary.batches, 0);
    assert_eq!(store.request_count("POST /batch").await, 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state = 'applied'"),
        2
    );
    assert_eq!(store_stock(&store.state().await), before);
}

#[tokio::test]
async fn a_change_ecwid_refuses_fails_with_its_message_and_does_not_block_the_others() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let before = store_stock(&store.state().await);
    let mut entities = before.keys().copied().filter(|e| e.1.is_none());
    let (gone, kept) = (entities.next().unwrap(), entities.next().unwrap());
    tool_change(&db, gone, 3);
    tool_change(&db, kept, 2);
    store.admin_delete_product(gone.0).await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!((summary.applied, summary.failed), (1, 1));
    let failed = query(
        &open(&db),
        "SELECT product_id, last_error FROM outbox WHERE state = 'failed'",
    );
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0][0], gone.0);
    assert!(failed[0][1].as_str().unwrap().contains("404"), "{failed:?}");
    assert_eq!(
        store_stock(&store.state().await).get(&kept).copied(),
        Some(before[&kept] + 2)
    );
}

#[tokio::test]
async fn ten_thousand_changes_over_two_thousand_products_reach_the_store_in_at_most_20_requests() {
    let (store, _scratch, db, config) = mirrored(ecwid_emulator::EmulatorConfig {
        products: 2500,
        variations_per_product: 0,
        orders: 5,
        customers: 5,
        ..TestStore::small()
    })
    .await;
    let before = store_stock(&store.state().await);
    let products: Vec<_> = before.keys().copied().take(2000).collect();
    assert_eq!(products.len(), 2000);
    let mut expected = before.clone();
    let mut conn = open(&db);
    let tx = conn.transaction().unwrap();
    for i in 0..10_000 {
        let (id, _) = products[i % products.len()];
        let delta = [-2, -1, 1, 2, 3][i % 5];
        tx.execute(
            "UPDATE products SET quantity = quantity + ?2 WHERE id = ?1",
            [id, delta],
        )
        .unwrap();
        *expected.get_mut(&(id, None)).unwrap() += delta;
    }
    tx.commit().unwrap();
    store.reset_stats().await;

    let summary = push_once(&config, CancellationToken::new()).await.unwrap();

    assert_eq!(summary.applied, 2000);
    assert_eq!(store_stock(&store.state().await), expected);
    let stats = store.stats().await;
    let requests = stats["requests_total"].as_u64().unwrap();
    assert!(requests <= 20, "{requests} requests: {stats}");
    assert_eq!(stats["requests"]["POST /batch"], 5, "{stats}");
}
