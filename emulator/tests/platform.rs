//! The current platform (CONTRACT.md section 17) over real HTTP: authentication, order
//! identity, the search index lag, reads with `responseFields`, deleted-items retention and
//! variation prices.

mod common;

use std::collections::HashSet;

use common::*;
use ecwid_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

async fn status_of(resp: reqwest::RequestBuilder) -> u16 {
    resp.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_token_query_parameter_is_refused_unless_switched_on() {
    let h = start(small_config()).await;
    let by_query = format!("{}/products?limit=1&token={TOKEN}", h.base);
    let resp = h.client.get(&by_query).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errorMessage"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    // Even next to a valid header: the parameter itself is what the platform refuses.
    assert_eq!(
        status_of(h.client.get(&by_query).bearer_auth(TOKEN)).await,
        403
    );
    assert_eq!(
        status_of(h.request(Method::GET, "/products?limit=1", TOKEN)).await,
        200
    );

    let open = start(EmulatorConfig {
        accept_query_token: true,
        ..small_config()
    })
    .await;
    let by_query = format!("{}/products?limit=1&token={TOKEN}", open.base);
    assert_eq!(status_of(open.client.get(&by_query)).await, 200);
    assert_eq!(
        status_of(open.request(Method::GET, "/products?limit=1", TOKEN)).await,
        200
    );
    let wrong = format!("{}/products?limit=1&token=wrong", open.base);
    assert_eq!(status_of(open.client.get(&wrong)).await, 403);
}

fn orders_of(state: &Value) -> Vec<Value> {
    state["orders"].as_array().unwrap().clone()
}

#[tokio::test]
async fn orders_carry_a_public_id_and_a_large_internal_id() {
    let h = start(EmulatorConfig {
        orders: 60,
        order_id_prefix: "SHOP-".into(),
        order_id_suffix: "-X".into(),
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let orders = orders_of(&state);
    let (mut internals, mut publics) = (HashSet::new(), HashSet::new());
    for o in &orders {
        let id = o["id"].as_str().unwrap();
        assert!(id.starts_with("SHOP-") && id.ends_with("-X"), "{id}");
        assert_eq!(o["vendorOrderNumber"], o["id"]);
        let internal = o["internalId"].as_i64().unwrap();
        assert!(
            (100_000_000..1_000_000_000).contains(&internal),
            "{internal}"
        );
        assert_eq!(o["orderNumber"], o["internalId"]);
        assert!(
            internals.insert(internal) && publics.insert(id),
            "unique ids"
        );
    }
    // Items bought as a variation name it.
    let products = state["products"].as_array().unwrap();
    let variation_items: Vec<&Value> = orders
        .iter()
        .flat_map(|o| o["items"].as_array().unwrap())
        .filter(|i| i.get("combinationId").is_some())
        .collect();
    assert!(!variation_items.is_empty());
    for item in variation_items {
        let p = products
            .iter()
            .find(|p| p["id"] == item["productId"])
            .unwrap();
        assert!(
            p["combinations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == item["combinationId"]),
            "{item}"
        );
    }

    // Paths take the public id or the internal id.
    let o = orders
        .iter()
        .find(|o| o["paymentStatus"] != json!("INCOMPLETE"))
        .unwrap();
    let (public, internal) = (o["id"].as_str().unwrap(), o["internalId"].as_i64().unwrap());
    assert_eq!(
        h.ok(Method::GET, &format!("/orders/{public}"), None).await,
        *o
    );
    assert_eq!(
        h.ok(Method::GET, &format!("/orders/{internal}"), None)
            .await,
        *o
    );
    for status in ["OUT_FOR_DELIVERY", "CUSTOM_FULFILLMENT_STATUS_2"] {
        h.ok(
            Method::PUT,
            &format!("/orders/{public}"),
            Some(&json!({"fulfillmentStatus": status, "paymentStatus": "CUSTOM_PAYMENT_STATUS_3"})),
        )
        .await;
        let found = h
            .ok(
                Method::GET,
                &format!(
                    "/orders?fulfillmentStatus={status}&paymentStatus=CUSTOM_PAYMENT_STATUS_3"
                ),
                None,
            )
            .await;
        assert_eq!(ids_of(&found, "internalId"), vec![internal]);
    }
    h.ok(Method::DELETE, &format!("/orders/{public}"), None)
        .await;
    assert_eq!(h.get(&format!("/orders/{internal}")).await.0, 404);
    let deleted = h.ok(Method::GET, "/orders/deleted", None).await;
    assert_eq!(deleted["items"][0]["id"], json!(internal));
    assert_eq!(deleted["items"][0]["orderId"], json!(public));
    assert!(deleted["items"][0]["date"].is_string());

    // API and storefront creations answer with both ids.
    let created = h
        .ok(
            Method::POST,
            "/orders",
            Some(&json!({"paymentStatus": "PAID", "fulfillmentStatus": "AWAITING_PROCESSING",
                "items": [{"name": "Gift", "quantity": 1, "price": 5, "productId": 2, "combinationId": 7}]})),
        )
        .await;
    let one = h
        .ok(
            Method::GET,
            &format!("/orders/{}", created["orderId"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(one["internalId"], created["id"]);
    assert_eq!(one["items"][0]["combinationId"], json!(7));
    let pid = products
        .iter()
        .find(|p| p["unlimited"] == json!(true))
        .unwrap()["id"]
        .clone();
    let (status, sale) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": [{"productId": pid, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, 200, "{sale}");
    assert_eq!(sale["orderNumber"], sale["id"]);
    let sold = h
        .ok(Method::GET, &format!("/orders/{}", sale["id"]), None)
        .await;
    assert_eq!(sold["id"], sale["orderId"]);
}

fn ids_of(page: &Value, key: &str) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn order_number_lists_are_ignored_unless_honoured() {
    for honour in [false, true] {
        let h = start(EmulatorConfig {
            honor_order_number_filter: honour,
            ..small_config()
        })
        .await;
        let all = h.ok(Method::GET, "/orders", None).await;
        let first = all["items"][0]["orderNumber"].as_i64().unwrap();
        let page = h
            .ok(Method::GET, &format!("/orders?orderNumber={first}"), None)
            .await;
        if honour {
            assert_eq!(ids_of(&page, "orderNumber"), vec![first]);
        } else {
            assert_eq!(page, all, "the unfiltered listing, as live");
        }
    }
}

#[tokio::test]
async fn unchecked_order_edits_can_drop_or_retype_fields() {
    let h = start(small_config()).await;
    let o = orders_of(&h.state().await)[0].clone();
    let (public, internal) = (o["id"].as_str().unwrap(), o["internalId"].as_i64().unwrap());
    let (status, v) = h
        .control(
            Method::PATCH,
            &format!("/_emulator/orders/{public}?unchecked=true"),
            Some(&json!({"orderNumber": null, "internalId": "not a number", "total": "12"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let edited = h
        .ok(Method::GET, &format!("/orders/{internal}"), None)
        .await;
    assert!(edited.get("orderNumber").is_none(), "{edited}");
    assert_eq!(edited["internalId"], json!("not a number"));
    assert_eq!(edited["total"], json!("12"));
    assert_eq!(edited["id"], json!(public), "still found by both ids");
    // The API's own checks still refuse such a body.
    let (status, _) = h
        .call(
            Method::PUT,
            &format!("/orders/{public}"),
            Some(&json!({"total": "12"})),
        )
        .await;
    assert_eq!(status, 400);
}

/// The price a variation without its own sells at, computed from the product document.
fn expected_price(product: &Value, combo: &Value) -> f64 {
    let base = product["price"].as_f64().unwrap();
    let mut price = base;
    for o in combo["options"].as_array().unwrap() {
        let option = product["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == o["name"])
            .unwrap();
        let choice = option["choices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["text"] == o["value"])
            .unwrap();
        let m = choice["priceModifier"].as_f64().unwrap();
        price += match choice["priceModifierType"].as_str().unwrap() {
            "PERCENT" => base * m / 100.0,
            _ => m,
        };
    }
    (price * 100.0).round() / 100.0
}

#[tokio::test]
async fn variations_without_a_price_sell_at_the_price_plus_the_modifiers() {
    let h = start(small_config()).await;
    let state = h.state().await;
    let products = state["products"].as_array().unwrap();
    let inheriting: Vec<&Value> = products
        .iter()
        .filter(|p| p["combinations"][0].get("price").is_none())
        .collect();
    assert_eq!(inheriting.len(), products.len() / 5, "one product in five");
    let kinds: HashSet<&str> = inheriting
        .iter()
        .flat_map(|p| p["options"].as_array().unwrap())
        .flat_map(|o| o["choices"].as_array().unwrap())
        .map(|c| c["priceModifierType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, HashSet::from(["ABSOLUTE", "PERCENT"]));
    for p in products {
        for c in p["combinations"].as_array().unwrap() {
            let shown = c["defaultDisplayedPrice"].as_f64().unwrap();
            match c.get("price") {
                Some(own) => assert_eq!(shown, own.as_f64().unwrap()),
                None => {
                    assert_eq!(shown, expected_price(p, c), "{c}");
                    assert!(c.get("sku").is_none(), "inherits the product's SKU");
                }
            }
            assert_eq!(
                c["defaultDisplayedPriceFormatted"],
                json!(format!("${shown:.2}"))
            );
            if c["unlimited"] == json!(true) {
                assert!(c.get("quantity").is_none(), "{c}");
            } else if c.get("sku").is_none() {
                assert_eq!(c["quantity"], p["quantity"], "shares the product's stock");
            }
        }
    }

    // A new product price moves the inherited variation prices.
    let p = inheriting
        .iter()
        .find(|p| p["unlimited"] == json!(false) && p["quantity"].as_i64().unwrap() > 0)
        .unwrap();
    let pid = p["id"].as_i64().unwrap();
    h.ok(
        Method::PUT,
        &format!("/products/{pid}"),
        Some(&json!({"price": 40})),
    )
    .await;
    let now = h.ok(Method::GET, &format!("/products/{pid}"), None).await;
    let combo = now["combinations"][1].clone();
    let price = expected_price(&now, &combo);
    assert_ne!(price, 40.0, "the second variation carries a modifier");
    assert_eq!(combo["defaultDisplayedPrice"].as_f64().unwrap(), price);

    // A sale of such a variation charges that price, names the variation and takes the
    // product's stock.
    let (status, sale) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": [{"productId": pid, "combinationId": combo["id"], "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, 200, "{sale}");
    let order = h
        .ok(
            Method::GET,
            &format!("/orders/{}", sale["orderId"].as_str().unwrap()),
            None,
        )
        .await;
    let item = &order["items"][0];
    assert_eq!(item["price"].as_f64().unwrap(), price);
    assert_eq!(item["sku"], now["sku"]);
    assert_eq!(item["combinationId"], combo["id"]);
    let after = h.ok(Method::GET, &format!("/products/{pid}"), None).await;
    assert_eq!(
        after["quantity"].as_i64().unwrap(),
        now["quantity"].as_i64().unwrap() - 1
    );
}
