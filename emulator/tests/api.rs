//! API behaviour over real HTTP: paging, filters, writes, stock, the storefront sale, batch,
//! change tracking and bad input.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use ecwid_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

fn ids(items: &[Value], key: &str) -> Vec<i64> {
    items.iter().map(|i| i[key].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn walking_offset_returns_every_product_exactly_once() {
    let h = start(EmulatorConfig {
        products: 237,
        ..small_config()
    })
    .await;
    for sort in [
        "",
        "?sortBy=ADDED_TIME_ASC",
        "?sortBy=UPDATED_TIME_ASC",
        "?sortBy=NAME_DESC",
        "?sortBy=UPDATED_TIME_DESC",
    ] {
        let items = h.walk(&format!("/products{sort}"), 50).await;
        let got = ids(&items, "id");
        assert_eq!(got.len(), 237, "sort {sort}");
        assert_eq!(
            got.iter().collect::<HashSet<_>>().len(),
            237,
            "no duplicates with sort {sort}"
        );
    }
    let default = ids(&h.walk("/products", 100).await, "id");
    assert!(
        default.windows(2).all(|w| w[0] < w[1]),
        "no sortBy = ascending id"
    );
    let by_update = h.walk("/products?sortBy=UPDATED_TIME_ASC", 100).await;
    let keys: Vec<(i64, i64)> = by_update
        .iter()
        .map(|p| {
            (
                p["updateTimestamp"].as_i64().unwrap(),
                p["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "UPDATED_TIME_ASC orders by (updateTimestamp, id)"
    );

    let page = h
        .ok(Method::GET, "/products?limit=500&offset=230", None)
        .await;
    assert_eq!(
        (
            page["limit"].as_i64(),
            page["count"].as_i64(),
            page["total"].as_i64()
        ),
        (Some(100), Some(7), Some(237))
    );
    let past = h.ok(Method::GET, "/products?offset=1000", None).await;
    assert_eq!(
        (past["count"].as_i64(), past["total"].as_i64()),
        (Some(0), Some(237))
    );

    let orders = h.walk("/orders", 7).await;
    let created = ids(&orders, "createTimestamp");
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "orders are listed in creation order"
    );
    let numbers = ids(&orders, "orderNumber");
    assert!(
        numbers.windows(2).any(|w| w[0] > w[1]),
        "internal ids are not sequential"
    );
    let customers = h.walk("/customers", 3).await;
    assert_eq!(customers.len(), 10, "paging covers every customer");
    let page = h.ok(Method::GET, "/customers", None).await;
    assert_eq!(page["limit"], json!(100), "customers default to limit 100");
}

#[tokio::test]
async fn same_seed_gives_the_same_store() {
    let a = start(small_config()).await;
    let b = start(small_config()).await;
    let c = start(EmulatorConfig {
        seed: 2,
        ..small_config()
    })
    .await;
    assert_eq!(a.state().await, b.state().await);
    assert_ne!(a.state().await, c.state().await);
}

#[tokio::test]
async fn product_filters() {
    let h = start(EmulatorConfig {
        products: 120,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let products = state["products"].as_array().unwrap().clone();

    // productId list ignores other filters; paging still applies
    let page = h
        .ok(
            Method::GET,
            "/products?productId=5,3,9&enabled=false&limit=2",
            None,
        )
        .await;
    assert_eq!(page["total"], json!(3));
    assert_eq!(ids(page["items"].as_array().unwrap(), "id"), vec![5, 3]);

    // sku matches a variation's SKU and returns the parent
    let var_sku = products[10]["combinations"][1]["sku"]
        .as_str()
        .unwrap()
        .to_string();
    let page = h
        .ok(Method::GET, &format!("/products?sku={var_sku}"), None)
        .await;
    assert_eq!(
        ids(page["items"].as_array().unwrap(), "id"),
        vec![products[10]["id"].as_i64().unwrap()]
    );

    // inclusive updatedFrom/updatedTo, all four date formats
    let ts = products[20]["updateTimestamp"].as_i64().unwrap();
    let expected: HashSet<i64> = products
        .iter()
        .filter(|p| p["updateTimestamp"].as_i64().unwrap() == ts)
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    let date = ecwid_emulator::format_date(ts);
    for (from, to) in [
        (ts.to_string(), ts.to_string()),
        (date.replace('+', "%2B"), date.replace('+', "%2B")),
        (
            date[..19].replace(' ', "%20"),
            date[..19].replace(' ', "%20"),
        ),
    ] {
        let items = h
            .walk(&format!("/products?updatedFrom={from}&updatedTo={to}"), 100)
            .await;
        assert_eq!(
            ids(&items, "id").into_iter().collect::<HashSet<_>>(),
            expected,
            "{from}"
        );
    }
    let day = &date[..10];
    let items = h.walk(&format!("/products?createdFrom={day}"), 100).await;
    assert!(
        items
            .iter()
            .all(|p| p["created"].as_str().unwrap()[..10] >= *day)
    );

    // enabled / inStock agree with the documents
    for (q, key, want) in [
        ("enabled=false", "enabled", false),
        ("inStock=true", "inStock", true),
        ("inStock=no", "inStock", false),
    ] {
        let items = h.walk(&format!("/products?{q}"), 100).await;
        let n = products.iter().filter(|p| p[key] == json!(want)).count();
        assert_eq!(items.len(), n, "{q}");
    }

    // unlimited products carry no quantity
    for p in &products {
        if p["unlimited"] == json!(true) {
            assert!(
                p.get("quantity").is_none(),
                "product {} is unlimited but has a quantity",
                p["id"]
            );
        }
    }

    // categories: hidden ones only on request; productIds only on request; both sides agree
    let visible = h.ok(Method::GET, "/categories", None).await;
    let all = h
        .ok(
            Method::GET,
            "/categories?hidden_categories=true&productIds=true",
            None,
        )
        .await;
    assert!(visible["total"].as_i64() < all["total"].as_i64());
    assert!(visible["items"][0].get("productIds").is_none());
    for c in all["items"].as_array().unwrap() {
        for pid in c["productIds"].as_array().unwrap() {
            let p = products.iter().find(|p| &p["id"] == pid).unwrap();
            assert!(p["categoryIds"].as_array().unwrap().contains(&c["id"]));
        }
    }
    let cat = all["items"][0]["id"].as_i64().unwrap();
    let in_cat = h.walk(&format!("/products?category={cat}"), 100).await;
    assert_eq!(
        in_cat.len(),
        all["items"][0]["productIds"].as_array().unwrap().len()
    );
}

#[tokio::test]
async fn writes_bump_timestamps_and_latest_stats() {
    let h = start(small_config()).await;
    let before = h.ok(Method::GET, "/latest-stats", None).await;
    let old = h.ok(Method::GET, "/products/7", None).await;
    h.ok(
        Method::PUT,
        "/products/7",
        Some(&json!({"price": 12.5, "nameTranslated": {"fr": "Sept"}})),
    )
    .await;
    let new = h.ok(Method::GET, "/products/7", None).await;
    assert_eq!(new["price"], json!(12.5));
    assert_eq!(new["nameTranslated"]["fr"], json!("Sept"));
    assert_eq!(
        new["nameTranslated"]["en"], old["name"],
        "translations merge"
    );
    assert!(new["updateTimestamp"].as_i64() > old["updateTimestamp"].as_i64());
    assert_eq!(new["createTimestamp"], old["createTimestamp"]);
    let after = h.ok(Method::GET, "/latest-stats", None).await;
    assert_ne!(after["productsUpdated"], before["productsUpdated"]);
    assert_eq!(after["ordersUpdated"], before["ordersUpdated"]);

    // a variation change bumps its parent
    let cid = new["combinations"][0]["id"].as_i64().unwrap();
    h.control(Method::PATCH, "/_emulator/stats/reset", None)
        .await;
    let ts_before = new["updateTimestamp"].as_i64().unwrap();
    h.ok(
        Method::PUT,
        &format!("/products/7/combinations/{cid}"),
        Some(&json!({"price": 99})),
    )
    .await;
    let p = h.ok(Method::GET, "/products/7", None).await;
    assert!(p["updateTimestamp"].as_i64().unwrap() >= ts_before);
    assert_eq!(p["combinations"][0]["price"], json!(99));

    // the updatedFrom window finds the edited product
    let now = p["updateTimestamp"].as_i64().unwrap();
    let items = h.walk(&format!("/products?updatedFrom={now}"), 100).await;
    assert!(ids(&items, "id").contains(&7));

    // orders: update by number and by string id, items replaced whole
    let order = h.state().await["orders"][0].clone();
    let (number, sid) = (
        order["orderNumber"].as_i64().unwrap(),
        order["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        h.ok(Method::GET, &format!("/orders/{sid}"), None).await["orderNumber"],
        json!(number)
    );
    h.ok(
        Method::PUT,
        &format!("/orders/{number}"),
        Some(&json!({"fulfillmentStatus": "SHIPPED", "items": [{"name": "Only", "quantity": 1, "price": 3}]})),
    )
    .await;
    let o = h.ok(Method::GET, &format!("/orders/{number}"), None).await;
    assert_eq!(o["items"].as_array().unwrap().len(), 1);
    assert_eq!(o["fulfillmentStatus"], json!("SHIPPED"));
    assert!(o["updateTimestamp"].as_i64() > order["updateTimestamp"].as_i64());
    let (status, err) = h
        .call(
            Method::PUT,
            &format!("/orders/{number}"),
            Some(&json!({"paymentStatus": "QUEUED"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(err["errorMessage"].as_str().unwrap().contains("QUEUED"));
}

#[tokio::test]
async fn inventory_deltas_may_go_negative_with_a_warning() {
    let h = start(EmulatorConfig {
        products: 30,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let p = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["unlimited"] == json!(false) && p["combinations"][0]["sku"].is_string())
        .unwrap()
        .clone();
    let id = p["id"].as_i64().unwrap();
    let q = p["quantity"].as_i64().unwrap();
    let r = h
        .ok(
            Method::PUT,
            &format!("/products/{id}/inventory"),
            Some(&json!({"quantityDelta": -(q + 5)})),
        )
        .await;
    assert_eq!(r["updateCount"], json!(1));
    assert!(r["warning"].is_string());
    let now = h.ok(Method::GET, &format!("/products/{id}"), None).await;
    assert_eq!(now["quantity"], json!(-5));
    let r = h
        .ok(
            Method::PUT,
            &format!("/products/{id}/inventory"),
            Some(&json!({"quantityDelta": 8})),
        )
        .await;
    assert!(r.get("warning").is_none());
    assert_eq!(
        h.ok(Method::GET, &format!("/products/{id}"), None).await["quantity"],
        json!(3)
    );

    // a variation with its own SKU has its own stock
    let c = &p["combinations"][0];
    let cid = c["id"].as_i64().unwrap();
    let cq = c["quantity"].as_i64().unwrap();
    h.ok(
        Method::PUT,
        &format!("/products/{id}/combinations/{cid}/inventory"),
        Some(&json!({"quantityDelta": -1})),
    )
    .await;
    let c2 = h
        .ok(
            Method::GET,
            &format!("/products/{id}/combinations/{cid}"),
            None,
        )
        .await;
    assert_eq!(c2["quantity"], json!(cq - 1));

    // a variation without its own SKU shares the product's stock and cannot be adjusted
    let shared = h
        .ok(
            Method::POST,
            &format!("/products/{id}/combinations"),
            Some(&json!({"options": [{"name": "Size", "value": "Tiny"}, {"name": "Color", "value": "Red"}]})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let c3 = h
        .ok(
            Method::GET,
            &format!("/products/{id}/combinations/{shared}"),
            None,
        )
        .await;
    assert_eq!(c3["quantity"], json!(3));
    let (status, v) = h
        .call(
            Method::PUT,
            &format!("/products/{id}/combinations/{shared}/inventory"),
            Some(&json!({"quantityDelta": 1})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = h
        .call(
            Method::POST,
            &format!("/products/{id}/combinations"),
            Some(&json!({"options": [{"name": "Size", "value": "Tiny"}, {"name": "Color", "value": "Red"}]})),
        )
        .await;
    assert_eq!(status, 409, "same option set twice");
}

#[tokio::test]
async fn storefront_sale_decrements_the_right_stock() {
    let h = start(EmulatorConfig {
        products: 30,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let tracked: Vec<Value> = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["unlimited"] == json!(false) && p["quantity"].as_i64().unwrap() >= 2)
        // variations with their own SKU and stock
        .filter(|p| p["combinations"][0]["sku"].is_string())
        .cloned()
        .collect();
    let (a, b) = (&tracked[0], &tracked[1]);
    let (aid, bid) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let combo = b["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["quantity"].as_i64().unwrap() >= 1)
        .unwrap()
        .clone();
    let cid = combo["id"].as_i64().unwrap();
    let sale = json!({"items": [
        {"productId": aid, "quantity": 2},
        {"productId": bid, "combinationId": cid, "quantity": 1},
    ], "paymentStatus": "PAID"});
    let (status, r) = h
        .control(Method::POST, "/_emulator/orders", Some(&sale))
        .await;
    assert_eq!(status, 200, "{r}");
    let number = r["orderNumber"].as_i64().unwrap();

    let a2 = h.ok(Method::GET, &format!("/products/{aid}"), None).await;
    let order = h.ok(Method::GET, &format!("/orders/{number}"), None).await;
    let chosen = order["items"][0]["combinationId"].as_i64().unwrap();
    let before = |p: &Value| {
        p["combinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == chosen)
            .unwrap()["quantity"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        before(&a2),
        before(a) - 2,
        "sold as a variation, from its own stock"
    );
    assert_eq!(a2["quantity"], a["quantity"], "not the base product's");
    let b2 = h.ok(Method::GET, &format!("/products/{bid}"), None).await;
    assert_eq!(
        b2["quantity"], b["quantity"],
        "the variation's own stock moved, not the product's"
    );
    let c2 = h
        .ok(
            Method::GET,
            &format!("/products/{bid}/combinations/{cid}"),
            None,
        )
        .await;
    assert_eq!(
        c2["quantity"].as_i64().unwrap(),
        combo["quantity"].as_i64().unwrap() - 1
    );

    assert_eq!(
        order["items"][1]["sku"], combo["sku"],
        "the item carries the variation SKU"
    );
    assert_eq!(
        order["items"][1]["selectedOptions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(order["paymentStatus"], json!("PAID"));

    // a registered customer's order count follows storefront sales
    let customer = state["customers"][0].clone();
    let cust_id = customer["id"].as_i64().unwrap();
    let (status, _) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": [{"productId": aid, "quantity": 1}], "customerId": cust_id})),
        )
        .await;
    assert_eq!(status, 200);
    let c = h
        .ok(Method::GET, &format!("/customers/{cust_id}"), None)
        .await;
    assert_eq!(
        c["totalOrderCount"].as_i64().unwrap(),
        customer["totalOrderCount"].as_i64().unwrap() + 1
    );
    assert_ne!(c["updated"], customer["updated"]);

    // overselling is refused by the storefront
    let (status, _) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": [{"productId": aid, "quantity": 100000}]})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": [{"productId": 999999, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_storefront_sale_naming_no_variation_sells_one_when_the_product_has_them() {
    let h = start(EmulatorConfig {
        products: 30,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let products = state["products"].as_array().unwrap();
    let stock = |c: &Value| c["quantity"].as_i64().unwrap_or(0);
    // Variations with their own stock: the first one in stock is sold, from its stock.
    let own = products
        .iter()
        .find(|p| p["unlimited"] == false && p["combinations"][0]["sku"].is_string())
        .unwrap();
    let first_in_stock = own["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| stock(c) >= 1)
        .unwrap();
    let (item, after) = sell_one(&h, own["id"].as_i64().unwrap()).await;
    assert_eq!(item["combinationId"], first_in_stock["id"]);
    assert_eq!(item["sku"], first_in_stock["sku"]);
    assert_eq!(item["selectedOptions"].as_array().unwrap().len(), 2);
    let sold = after["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == first_in_stock["id"])
        .unwrap();
    assert_eq!(stock(sold), stock(first_in_stock) - 1);
    assert_eq!(after["quantity"], own["quantity"]);

    // Variations without a SKU of their own sell from the product's stock.
    let sharing = products
        .iter()
        .find(|p| {
            p["unlimited"] == false && stock(p) >= 1 && p["combinations"][0].get("sku").is_none()
        })
        .unwrap();
    let (item, after) = sell_one(&h, sharing["id"].as_i64().unwrap()).await;
    assert_eq!(item["combinationId"], sharing["combinations"][0]["id"]);
    assert_eq!(stock(&after), stock(sharing) - 1);

    // A product without variations sells itself.
    let h = start(EmulatorConfig {
        products: 5,
        variations_per_product: 0,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let plain = state["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["unlimited"] == false && stock(p) >= 1)
        .unwrap();
    let (item, after) = sell_one(&h, plain["id"].as_i64().unwrap()).await;
    assert!(item.get("combinationId").is_none(), "{item}");
    assert_eq!(stock(&after), stock(plain) - 1);
}

/// A storefront sale of one `product`, naming no variation: the order's item and the
/// product after the sale.
async fn sell_one(h: &Harness, product: i64) -> (Value, Value) {
    let sale = json!({"items": [{"productId": product, "quantity": 1}]});
    let (status, r) = h
        .control(Method::POST, "/_emulator/orders", Some(&sale))
        .await;
    assert_eq!(status, 200, "{r}");
    let number = r["orderNumber"].as_i64().unwrap();
    let order = h.ok(Method::GET, &format!("/orders/{number}"), None).await;
    let after = h
        .ok(Method::GET, &format!("/products/{product}"), None)
        .await;
    (order["items"][0].clone(), after)
}

#[tokio::test]
async fn unfinished_orders_are_hidden_unless_asked_for() {
    let h = start(EmulatorConfig {
        orders: 60,
        ..small_config()
    })
    .await;
    let all = h.state().await["orders"].as_array().unwrap().clone();
    let incomplete = all
        .iter()
        .filter(|o| o["paymentStatus"] == json!("INCOMPLETE"))
        .count();
    assert!(incomplete > 0, "the generator makes some unfinished orders");
    assert_eq!(h.walk("/orders", 100).await.len(), all.len() - incomplete);
    assert_eq!(
        h.walk("/orders?paymentStatus=INCOMPLETE", 100).await.len(),
        incomplete
    );
    let paid = h.walk("/orders?paymentStatus=PAID,INCOMPLETE", 100).await;
    assert!(
        paid.iter()
            .all(|o| o["paymentStatus"] == json!("PAID")
                || o["paymentStatus"] == json!("INCOMPLETE"))
    );

    // ids= takes public and internal ids, mixed, and ignores other filters
    let wanted: Vec<i64> = vec![
        all[3]["internalId"].as_i64().unwrap(),
        all[1]["internalId"].as_i64().unwrap(),
    ];
    let page = h
        .ok(
            Method::GET,
            &format!(
                "/orders?ids={},{}&paymentStatus=REFUNDED",
                all[3]["id"].as_str().unwrap(),
                wanted[1]
            ),
            None,
        )
        .await;
    assert_eq!(
        ids(page["items"].as_array().unwrap(), "internalId"),
        wanted,
        "ids ignores other filters"
    );
}

#[tokio::test]
async fn deletions_are_listed_with_inclusive_date_bounds() {
    let h = start(small_config()).await;
    h.ok(Method::DELETE, "/products/4", None).await;
    h.ok(Method::DELETE, "/products/2", None).await;
    let (status, _) = h
        .control(Method::DELETE, "/_emulator/products/9", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = h.call(Method::DELETE, "/products/4", None).await;
    assert_eq!(status, 404, "unknown id on delete");
    let page = h.ok(Method::GET, "/products/deleted", None).await;
    assert_eq!(ids(page["items"].as_array().unwrap(), "id"), vec![4, 2, 9]);
    let date = page["items"][0]["date"].as_str().unwrap().to_string();
    let ts = ecwid_emulator::parse_date(&date).unwrap();
    let page = h
        .ok(
            Method::GET,
            &format!("/products/deleted?from_date={ts}&to_date={ts}"),
            None,
        )
        .await;
    assert!(page["total"].as_i64().unwrap() >= 1);
    let page = h
        .ok(
            Method::GET,
            &format!("/products/deleted?to_date={}", ts - 1),
            None,
        )
        .await;
    assert_eq!(page["total"], json!(0));
    let (status, _) = h.get("/products/4").await;
    assert_eq!(status, 404);

    let order = h.state().await["orders"][0]["orderNumber"]
        .as_i64()
        .unwrap();
    h.ok(Method::DELETE, &format!("/orders/{order}"), None)
        .await;
    let page = h.ok(Method::GET, "/orders/deleted", None).await;
    assert_eq!(ids(page["items"].as_array().unwrap(), "id"), vec![order]);
    let customer = h.state().await["customers"][0]["id"].as_i64().unwrap();
    h.ok(Method::DELETE, &format!("/customers/{customer}"), None)
        .await;
    let page = h.ok(Method::GET, "/customers/deleted", None).await;
    assert_eq!(ids(page["items"].as_array().unwrap(), "id"), vec![customer]);
}

#[tokio::test]
async fn batch_runs_in_order_and_stops_on_first_failure() {
    let h = start(small_config()).await;
    let requests = json!([
        {"id": "a", "path": "/products/1", "method": "PUT", "body": {"price": 1.5}},
        {"id": "b", "path": "/products/1", "method": "PUT", "body": "{\"price\": 2.5}"},
        {"id": "c", "path": "/products/999999", "method": "GET", "body": ""},
        {"id": "d", "path": "/products/1", "method": "PUT", "body": {"price": 9}},
    ]);
    let wait = |ticket: String| {
        let h = &h;
        async move {
            wait_for("batch", Duration::from_secs(10), || {
                let t = ticket.clone();
                async move {
                    let s = h.ok(Method::GET, &format!("/batch?ticket={t}"), None).await;
                    (s["status"] == json!("COMPLETED")).then_some(s)
                }
            })
            .await
        }
    };
    let t = h.ok(Method::POST, "/batch", Some(&requests)).await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let s = wait(t).await;
    let statuses: Vec<&str> = s["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["COMPLETED", "COMPLETED", "FAILED", "NOT_EXECUTED"]
    );
    assert_eq!(s["responses"][2]["httpStatusCode"], json!(404));
    assert_eq!(
        h.ok(Method::GET, "/products/1", None).await["price"],
        json!(2.5)
    );

    let t = h
        .ok(
            Method::POST,
            "/batch?stopOnFirstFailure=false",
            Some(&requests),
        )
        .await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let s = wait(t.clone()).await;
    assert_eq!(s["responses"][3]["status"], json!("COMPLETED"));
    assert_eq!(
        h.ok(Method::GET, "/products/1", None).await["price"],
        json!(9)
    );
    let escaped = h
        .ok(
            Method::GET,
            &format!("/batch?ticket={t}&escapedJson=true"),
            None,
        )
        .await;
    assert!(escaped["responses"][0]["escapedHttpBody"].is_string());

    let too_many: Vec<Value> = (0..501)
        .map(|_| json!({"path": "/profile", "method": "GET"}))
        .collect();
    let (status, err) = h
        .call(Method::POST, "/batch", Some(&Value::Array(too_many)))
        .await;
    assert_eq!(status, 400);
    assert!(err["errorMessage"].is_string());
    let (status, _) = h.get("/batch?ticket=nope").await;
    assert_eq!(status, 404);
    let (status, _) = h.get("/batch").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn bad_input_gets_documented_4xx_never_a_crash() {
    let h = start(small_config()).await;
    let raw = |method: Method, path: &str, body: &'static str| {
        let req = h
            .request(method, path, &h.token)
            .header("Content-Type", "application/json")
            .body(body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (method, path, body, want) in [
        (Method::PUT, "/products/1", "{not json", 400),
        (Method::PUT, "/products/1", "[1,2]", 400),
        (Method::POST, "/products", "{}", 400),
        (Method::POST, "/products", r#"{"name": 5}"#, 400),
        (Method::PUT, "/products/1", r#"{"price": "cheap"}"#, 400),
        (
            Method::PUT,
            "/products/1",
            r#"{"categoryIds": [123456]}"#,
            404,
        ),
        (
            Method::PUT,
            "/products/1/inventory",
            r#"{"quantityDelta": "x"}"#,
            400,
        ),
        (Method::PUT, "/products/1/inventory", r#"{}"#, 400),
        (Method::PUT, "/products/424242", r#"{"price": 1}"#, 404),
        (Method::GET, "/products/abc", "", 400),
        (Method::GET, "/orders/NOPE", "", 404),
        (Method::POST, "/orders", r#"{"paymentStatus": "PAID"}"#, 400),
        (
            Method::POST,
            "/orders",
            r#"{"paymentStatus": "PAID", "fulfillmentStatus": "SHIPPED", "items": [{"quantity": 1}]}"#,
            400,
        ),
        (Method::PUT, "/categories/9001", r#"{"name": ""}"#, 400),
        (Method::POST, "/customers", r#"{"name": "no email"}"#, 400),
        (Method::GET, "/nothing/here", "", 404),
        (Method::PATCH, "/products", "", 405),
        (Method::POST, "/batch", "{}", 400),
    ] {
        let (status, v) = raw(method.clone(), path, body).await;
        assert_eq!(status, want, "{method} {path} {body}: {v}");
        assert!(
            v["errorMessage"].is_string(),
            "{method} {path}: error body {v}"
        );
    }
    for q in [
        "offset=-1",
        "limit=abc",
        "inStock=maybe",
        "enabled=2",
        "updatedFrom=yesterday",
        "createdTo=2020-13-45",
        "productId=1,x",
        "sortBy=SIDEWAYS",
        "priceFrom=cheap",
    ] {
        let (status, v) = h.get(&format!("/products?{q}")).await;
        assert_eq!(status, 400, "{q}");
        let param = q.split('=').next().unwrap();
        assert!(
            v["errorMessage"].as_str().unwrap().contains(param),
            "{q}: message names the parameter: {v}"
        );
    }
    let (status, _) = h.get("/orders?paymentStatus=SOMETIMES").await;
    assert_eq!(status, 400);
    let (status, _) = h.get("/products/deleted?from_date=soon").await;
    assert_eq!(status, 400);

    // auth: wrong or missing token, other store, both token transports
    let (status, v) = h.call_as("wrong", Method::GET, "/products", None).await;
    assert_eq!(status, 403);
    assert!(v["errorMessage"].is_string());
    let resp = h
        .client
        .get(format!("{}/products", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let resp = h
        .client
        .get(format!("{}/products", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let other = format!("{}/9999/products", h.emu.api_base());
    assert_eq!(
        h.client
            .get(other)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let (status, _) = h
        .call_as(
            "public_test",
            Method::PUT,
            "/products/1",
            Some(&json!({"price": 1})),
        )
        .await;
    assert_eq!(status, 403, "public tokens are read-only");

    // 415 for a body that is not JSON
    let resp = h
        .request(Method::PUT, "/products/1", TOKEN)
        .header("Content-Type", "text/plain")
        .body("price=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);

    // control plane bad input
    let (status, v) = h
        .control(
            Method::PUT,
            "/_emulator/faults",
            Some(&json!({"error_500_rate": 3})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = h
        .control(
            Method::PUT,
            "/_emulator/faults",
            Some(&json!({"typo_rate": 0.1})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .control(
            Method::PATCH,
            "/_emulator/products/999999",
            Some(&json!({"price": 1})),
        )
        .await;
    assert_eq!(status, 404);

    // still alive and consistent
    assert_eq!(h.get("/products?limit=1").await.0, 200);
}

#[tokio::test]
async fn control_plane_state_stats_reset_and_gzip() {
    let h = start(small_config()).await;
    let state = h.state().await;
    assert_eq!(state["products"].as_array().unwrap().len(), 50);
    assert!(state["products"][0]["combinations"].is_array());
    assert!(state["categories"][0]["productIds"].is_array());
    assert_eq!(state["customers"].as_array().unwrap().len(), 10);
    assert_eq!(
        state["orders"].as_array().unwrap().len(),
        20,
        "unfinished orders included"
    );

    h.control(Method::POST, "/_emulator/stats/reset", None)
        .await;
    h.get("/products").await;
    h.get("/products/1").await;
    h.get("/products/2").await;
    h.call(
        Method::PUT,
        "/products/1/inventory",
        Some(&json!({"quantityDelta": 1})),
    )
    .await;
    h.call_as("bad", Method::GET, "/orders", None).await;
    let (_, stats) = h.control(Method::GET, "/_emulator/stats", None).await;
    assert_eq!(stats["requests_total"], json!(5));
    assert_eq!(stats["requests"]["GET /products/{id}"], json!(2));
    assert_eq!(stats["requests"]["PUT /products/{id}/inventory"], json!(1));
    assert_eq!(stats["status"]["200"], json!(4));
    assert_eq!(stats["status"]["403"], json!(1));
    assert!(stats["webhooks"]["sent"].is_number());

    h.ok(Method::DELETE, "/products/1", None).await;
    h.control(
        Method::PATCH,
        "/_emulator/products/2",
        Some(&json!({"name": "Renamed"})),
    )
    .await;
    assert_ne!(h.state().await, state);
    let (status, _) = h.control(Method::POST, "/_emulator/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(h.state().await, state);

    // no_gzip: another crate of the workspace may switch reqwest's transparent decoding on.
    let raw_client = reqwest::Client::builder().no_gzip().build().unwrap();
    let v = gzipped_json(&raw_client, &format!("{}/products", h.base), TOKEN).await;
    assert_eq!(v["total"], json!(50));

    // Pre-compressed product pages and layer-compressed other pages decode to exactly the
    // plain answer, public-token stubs included.
    h.control(
        Method::PATCH,
        "/_emulator/products/2",
        Some(&json!({"enabled": false})),
    )
    .await;
    for (token, path) in [
        (TOKEN, "/products?limit=7&offset=3&sortBy=UPDATED_TIME_DESC"),
        (TOKEN, "/products?productId=999999"),
        ("public_test", "/products?limit=5"),
        (TOKEN, "/orders?limit=3"),
        (TOKEN, "/categories"),
    ] {
        let url = format!("{}{path}", h.base);
        let plain: Value = raw_client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            gzipped_json(&raw_client, &url, token).await,
            plain,
            "{path}"
        );
    }
}

/// GETs `url` asking for gzip, checks the answer is gzip-encoded and decodes it.
async fn gzipped_json(raw_client: &reqwest::Client, url: &str, token: &str) -> Value {
    let resp = raw_client
        .get(url)
        .bearer_auth(token)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip"),
        "{url}"
    );
    let bytes = resp.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_slow_request_counts_as_arrived_at_once_and_as_a_request_once_answered() {
    let h = start(small_config()).await;
    h.control(
        Method::PUT,
        "/_emulator/faults",
        Some(&json!({"latency_ms": 3000, "path_contains": "/products"})),
    )
    .await;
    let slow = {
        let (client, url, token) = (
            h.client.clone(),
            format!("{}/products", h.base),
            h.token.clone(),
        );
        tokio::spawn(async move { client.get(url).bearer_auth(token).send().await })
    };
    let stats = || async { h.control(Method::GET, "/_emulator/stats", None).await.1 };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while stats().await["arrived"]["GET /products"] != json!(1) {
        assert!(tokio::time::Instant::now() < deadline, "{}", stats().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        stats().await["requests"]["GET /products"],
        Value::Null,
        "not answered yet"
    );
    slow.await.unwrap().unwrap();
    assert_eq!(stats().await["requests"]["GET /products"], json!(1));
}

#[tokio::test]
async fn a_products_purchase_price_and_description_are_written_and_read_back_and_a_wrong_type_is_refused()
 {
    let h = start(small_config()).await;
    let id = h.ok(Method::GET, "/products?limit=1", None).await["items"][0]["id"]
        .as_i64()
        .unwrap();
    h.ok(
        Method::PUT,
        &format!("/products/{id}"),
        Some(&json!({"costPrice": 4.25, "description": "<p>Kept dry</p>"})),
    )
    .await;
    let p = h.ok(Method::GET, &format!("/products/{id}"), None).await;
    assert_eq!(
        (&p["costPrice"], &p["description"]),
        (&json!(4.25), &json!("<p>Kept dry</p>"))
    );
    let (status, err) = h
        .call(
            Method::PUT,
            &format!("/products/{id}"),
            Some(&json!({"costPrice": "cheap"})),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Product.costPrice has a wrong type"),
        "{err}"
    );
}
