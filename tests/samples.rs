//! Every response sample from the official docs parses with the client's model.

use std::path::PathBuf;

use ecwid_sync::ecwid::model::{
    BatchStatus, BatchTicket, DeletedItem, ErrorBody, LatestStats, OAuthToken, Page, Variation,
    WriteResult, parse_date,
};
use ecwid_sync::mirror::apply::Rows;
use ecwid_sync::sync::Kind;
use serde_json::value::RawValue;

fn sample(name: &str) -> String {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/ecwid-api/samples"
    ));
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the sample {}: {e}", path.display()))
}

fn page_rows(name: &str, kind: Kind) -> Rows {
    let text = sample(name);
    let page: Page = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (rows, unreadable) = Rows::parse(kind, &page.items);
    assert!(unreadable.is_empty(), "{name}: {unreadable:?}");
    rows
}

fn single_rows(name: &str, kind: Kind) -> Rows {
    let text = sample(name);
    let raw: &RawValue = serde_json::from_str(&text).unwrap();
    let (rows, unreadable) = Rows::parse(kind, &[raw]);
    assert!(unreadable.is_empty(), "{name}: {unreadable:?}");
    rows
}

#[test]
fn product_samples_parse_with_their_variations() {
    let Rows::Products(products) = page_rows("product-search-response.json", Kind::Products) else {
        unreachable!()
    };
    assert_eq!(products.len(), 2);
    assert_eq!(products[1].variations.len(), 4);
    assert!(products.iter().all(|p| p.updated_at.is_some()));
    assert_eq!(
        page_rows("product-search-public-token-response.json", Kind::Products).len(),
        2
    );
    assert_eq!(
        single_rows(
            "product-get-disabled-public-token-response.json",
            Kind::Products
        )
        .len(),
        1
    );
}

#[test]
fn variation_samples_parse() {
    let text = sample("combination-list-response.json");
    let list: Vec<Variation> = serde_json::from_str(&text).unwrap();
    assert!(!list.is_empty());
    let text = sample("combination-get-response.json");
    let one: Variation = serde_json::from_str(&text).unwrap();
    assert!(one.id > 0);
}

#[test]
fn category_order_and_customer_samples_parse() {
    assert!(!page_rows("category-search-response.json", Kind::Categories).is_empty());
    assert!(
        !page_rows(
            "category-search-public-token-response.json",
            Kind::Categories
        )
        .is_empty()
    );
    assert_eq!(
        single_rows("category-get-response.json", Kind::Categories).len(),
        1
    );
    assert_eq!(
        single_rows(
            "category-get-disabled-public-token-response.json",
            Kind::Categories
        )
        .len(),
        1
    );
    let Rows::Orders(orders) = page_rows("order-search-response.json", Kind::Orders) else {
        unreachable!()
    };
    assert_eq!(orders[0].items.len(), 2);
    // The sample's customers envelope says 3 but carries 4: the items are what counts.
    assert_eq!(
        page_rows("customer-search-response.json", Kind::Customers).len(),
        4
    );
}

#[test]
fn change_tracking_samples_parse_including_their_offsets() {
    let stats: LatestStats = serde_json::from_str(&sample("latest-stats-response.json")).unwrap();
    let products_updated = stats.products_updated.expect("productsUpdated");
    assert!(
        parse_date(&products_updated).is_some(),
        "{products_updated}"
    );
    for name in [
        "deleted-orders-response.json",
        "deleted-coupons-response.json",
    ] {
        let text = sample(name);
        let page: Page = serde_json::from_str(&text).unwrap();
        for raw in page.items {
            let item: DeletedItem = serde_json::from_str(raw.get()).unwrap();
            assert!(parse_date(&item.date).is_some(), "{name}: {}", item.date);
        }
    }
}

#[test]
fn write_answers_and_error_bodies_parse() {
    for name in [
        "category-create-response.json",
        "category-delete-response.json",
        "category-update-response.json",
        "combination-create-response.json",
        "combination-delete-all-response.json",
        "combination-delete-response.json",
        "combination-inventory-adjust-response.json",
        "combination-update-response.json",
        "customer-create-response.json",
        "customer-delete-response.json",
        "customer-update-response.json",
        "inventory-adjust-response.json",
        "order-create-response.json",
        "order-delete-response.json",
        "order-update-response.json",
        "product-create-response.json",
        "product-delete-response.json",
        "product-update-response.json",
    ] {
        let answer: WriteResult =
            serde_json::from_str(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            answer
                .update_count
                .or(answer.delete_count)
                .or(answer.id)
                .is_some(),
            "{name} carries no count or id"
        );
    }
    for name in [
        "product-create-error-response.json",
        "batch-create-error-response.json",
    ] {
        let body: ErrorBody = serde_json::from_str(&sample(name)).unwrap();
        assert!(body.error_message.is_some(), "{name}");
    }
}

#[test]
fn batch_and_oauth_samples_parse() {
    let text = sample("batch-create-response.json");
    let ticket: BatchTicket = serde_json::from_str(&text).unwrap();
    assert!(!ticket.ticket.is_empty());
    let text = sample("batch-status-response.json");
    let status: BatchStatus = serde_json::from_str(&text).unwrap();
    assert_eq!(status.status, "COMPLETED");
    assert_eq!(status.responses.len(), 2);
    assert!(
        status
            .responses
            .iter()
            .all(|r| r.http_status_code == Some(200) && r.http_body.is_some())
    );
    let text = sample("oauth-token-response.json");
    let token: OAuthToken = serde_json::from_str(&text).unwrap();
    assert!(token.store_id > 0);
    assert!(!format!("{token:?}").contains(token.access_token.expose()));
}

#[test]
fn every_response_sample_is_parsed_by_a_test_here() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/ecwid-api/samples"
    ));
    let this_file = include_str!("samples.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the samples directory") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with("-response.json") && !this_file.contains(&format!("\"{name}\"")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "samples no test parses: {missing:?}");
}
