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

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

#[tokio::test]
async fn every_read_answers_only_the_response_fields_asked_for() {
    let h = start(EmulatorConfig {
        products: 120,
        variations_per_product: 3,
        ..small_config()
    })
    .await;
    let sweep =
        "/products?limit=100&responseFields=total,count,offset,limit,items(id,updateTimestamp)";
    let page = h.ok(Method::GET, sweep, None).await;
    assert_eq!(
        keys(&page),
        vec!["count", "items", "limit", "offset", "total"]
    );
    assert_eq!(page["total"], json!(120));
    let full = h.ok(Method::GET, "/products?limit=100", None).await;
    for (slim, whole) in page["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(full["items"].as_array().unwrap())
    {
        assert_eq!(
            *slim,
            json!({"id": whole["id"], "updateTimestamp": whole["updateTimestamp"]})
        );
    }
    // Much smaller on the wire, gzip included.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let wire = |path: &str, gzip: bool| {
        let mut req = raw.get(format!("{}{path}", h.base)).bearer_auth(TOKEN);
        if gzip {
            req = req.header("Accept-Encoding", "gzip");
        }
        async move {
            let resp = req.send().await.unwrap();
            let encoding = resp.headers().get("content-encoding").cloned();
            (resp.bytes().await.unwrap().len(), encoding)
        }
    };
    let (slim_len, enc) = wire(sweep, true).await;
    assert_eq!(enc.unwrap(), "gzip");
    let (full_len, _) = wire("/products?limit=100", true).await;
    assert!(slim_len * 20 < full_len, "{slim_len} vs {full_len}");
    assert!(wire(sweep, false).await.0 * 20 < wire("/products?limit=100", false).await.0);

    // Nested selections at any depth; the envelope goes unless named.
    let nested = h
        .ok(
            Method::GET,
            "/products?limit=2&responseFields=items(id,combinations(id,defaultDisplayedPrice),media(images(id)))",
            None,
        )
        .await;
    assert_eq!(keys(&nested), vec!["items"]);
    let first = &nested["items"][0];
    assert_eq!(keys(first), vec!["combinations", "id", "media"]);
    assert_eq!(
        keys(&first["combinations"][0]),
        vec!["defaultDisplayedPrice", "id"]
    );
    assert_eq!(keys(&first["media"]["images"][0]), vec!["id"]);

    // Reads by id, bare arrays, latest-stats, deleted lists, other listings.
    let one = h
        .ok(Method::GET, "/products/1?responseFields=id,sku", None)
        .await;
    assert_eq!(keys(&one), vec!["id", "sku"]);
    let combos = h
        .ok(
            Method::GET,
            "/products/1/combinations?responseFields=id",
            None,
        )
        .await;
    assert_eq!(combos.as_array().unwrap().len(), 3);
    assert!(
        combos
            .as_array()
            .unwrap()
            .iter()
            .all(|c| keys(c) == vec!["id"])
    );
    let stats = h
        .ok(
            Method::GET,
            "/latest-stats?responseFields=productsUpdated",
            None,
        )
        .await;
    assert_eq!(keys(&stats), vec!["productsUpdated"]);
    h.ok(Method::DELETE, "/products/3", None).await;
    let gone = h
        .ok(
            Method::GET,
            "/products/deleted?responseFields=items(id)",
            None,
        )
        .await;
    assert_eq!(gone, json!({"items": [{"id": 3}]}));
    for path in ["/orders", "/customers", "/categories"] {
        let page = h
            .ok(
                Method::GET,
                &format!("{path}?responseFields=total,items(id)"),
                None,
            )
            .await;
        assert_eq!(keys(&page), vec!["items", "total"], "{path}");
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| keys(i) == vec!["id"])
        );
    }

    for bad in ["items(id", "items()", "total,,count", "items)"] {
        let (status, err) = h.get(&format!("/products?responseFields={bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            err["errorMessage"]
                .as_str()
                .unwrap()
                .contains("responseFields")
        );
    }
    // Writes ignore it.
    let (status, _) = h
        .call(
            Method::PUT,
            "/products/1?responseFields=items(",
            Some(&json!({"price": 3})),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn categories_by_id_list_counts_in_latest_stats_and_empty_deleted_lists() {
    let h = start(small_config()).await;
    let state = h.state().await;
    let cats = state["categories"].as_array().unwrap();
    let disabled = cats.iter().find(|c| c["enabled"] == json!(false)).unwrap()["id"].clone();
    let first = cats[0]["id"].clone();
    let page = h
        .ok(
            Method::GET,
            &format!(
                "/categories?categoryIds={disabled},{first},{disabled},424242&parent=1&limit=1"
            ),
            None,
        )
        .await;
    assert_eq!(
        page["total"],
        json!(2),
        "unknown ids skipped, duplicates once"
    );
    assert_eq!(ids_of(&page, "id"), vec![disabled.as_i64().unwrap()]);
    let (status, _) = h.get("/categories?categoryIds=1,x").await;
    assert_eq!(status, 400);

    let stats = h
        .ok(
            Method::GET,
            "/latest-stats?productCountRequired=true&categoryCountRequired=true",
            None,
        )
        .await;
    assert_eq!(stats["productCount"], json!(50));
    assert_eq!(stats["categoryCount"], json!(cats.len()));
    let plain = h.ok(Method::GET, "/latest-stats", None).await;
    assert!(plain.get("productCount").is_none() && plain.get("categoryCount").is_none());
    h.ok(Method::DELETE, "/products/2", None).await;
    let stats = h
        .ok(Method::GET, "/latest-stats?productCountRequired=true", None)
        .await;
    assert_eq!(stats["productCount"], json!(49));

    for path in [
        "/coupons/deleted",
        "/reviews/deleted",
        "/discount_coupons/deleted",
    ] {
        let page = h.ok(Method::GET, path, None).await;
        assert_eq!(
            page,
            json!({"total": 0, "count": 0, "offset": 0, "limit": 100, "items": []}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn deleted_items_drop_out_after_the_retention() {
    let h = start(EmulatorConfig {
        deleted_retention_secs: 2,
        ..small_config()
    })
    .await;
    h.ok(Method::DELETE, "/products/4", None).await;
    let listed = h.ok(Method::GET, "/products/deleted", None).await;
    assert_eq!(ids_of(&listed, "id"), vec![4]);
    wait_for(
        "the deletion to pass the retention",
        std::time::Duration::from_secs(10),
        || async {
            let page = h.ok(Method::GET, "/products/deleted", None).await;
            (page["total"] == json!(0)).then_some(())
        },
    )
    .await;
    // The default keeps six months.
    let kept = start(small_config()).await;
    kept.ok(Method::DELETE, "/products/4", None).await;
    let page = kept
        .ok(Method::GET, "/products/deleted?from_date=2000-01-01", None)
        .await;
    assert_eq!(ids_of(&page, "id"), vec![4]);
}

fn find<'a>(page: &'a Value, key: &str, want: &Value) -> Option<&'a Value> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| &i[key] == want)
}

#[tokio::test]
async fn searches_see_writes_only_after_the_index_lag() {
    const LAG: f64 = 3.0;
    let h = start(EmulatorConfig {
        products: 30,
        index_lag_secs: LAG,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let before = h.ok(Method::GET, "/products?limit=100", None).await;
    let stats_before = h.ok(Method::GET, "/latest-stats", None).await;
    let cid = state["products"][6]["combinations"][0]["id"]
        .as_i64()
        .unwrap();
    let order = orders_of(&state)
        .into_iter()
        .find(|o| o["paymentStatus"] == json!("PAID"))
        .unwrap();
    let public = order["id"].as_str().unwrap().to_string();

    // The writes.
    h.ok(Method::PUT, "/products/7", Some(&json!({"price": 99})))
        .await;
    h.ok(
        Method::PUT,
        &format!("/products/7/combinations/{cid}"),
        Some(&json!({"price": 98})),
    )
    .await;
    let new_product = h
        .ok(Method::POST, "/products", Some(&json!({"name": "Lagging"})))
        .await["id"]
        .clone();
    h.ok(Method::DELETE, "/products/3", None).await;
    h.ok(
        Method::PUT,
        &format!("/orders/{public}"),
        Some(&json!({"paymentStatus": "CUSTOM_PAYMENT_STATUS_1"})),
    )
    .await;
    let customer = h
        .ok(
            Method::POST,
            "/customers",
            Some(&json!({"email": "lag@example.com"})),
        )
        .await["id"]
        .clone();
    let category = h
        .ok(
            Method::POST,
            "/categories",
            Some(&json!({"name": "Lagging"})),
        )
        .await["id"]
        .clone();

    // Reads by id and id lists see them at once.
    let p7 = h.ok(Method::GET, "/products/7", None).await;
    assert_eq!(p7["price"], json!(99));
    assert_eq!(p7["combinations"][0]["price"], json!(98));
    let listed = h.ok(Method::GET, "/products?productId=7,3", None).await;
    assert_eq!(listed["items"][0]["price"], json!(99));
    assert_eq!(
        listed["total"],
        json!(1),
        "the deleted product is gone from id lists"
    );
    assert_eq!(h.get("/products/3").await.0, 404);
    assert_eq!(h.get(&format!("/products/{new_product}")).await.0, 200);
    let by_id = h
        .ok(Method::GET, &format!("/orders?ids={public}"), None)
        .await;
    assert_eq!(
        by_id["items"][0]["paymentStatus"],
        json!("CUSTOM_PAYMENT_STATUS_1")
    );
    let cats = h
        .ok(
            Method::GET,
            &format!("/categories?categoryIds={category}"),
            None,
        )
        .await;
    assert_eq!(cats["total"], json!(1));
    // So do latest-stats and the deleted list.
    let stats = h.ok(Method::GET, "/latest-stats", None).await;
    assert_ne!(stats["productsUpdated"], stats_before["productsUpdated"]);
    let deleted = h.ok(Method::GET, "/products/deleted", None).await;
    assert_eq!(ids_of(&deleted, "id"), vec![3]);

    // Searches do not, yet: their totals, documents and date windows are as before.
    let search = h.ok(Method::GET, "/products?limit=100", None).await;
    assert_eq!(
        search, before,
        "the search index still shows the old catalogue"
    );
    let since = p7["updateTimestamp"].as_i64().unwrap();
    let window = format!("/products?updatedFrom={since}");
    let recent = h.ok(Method::GET, &window, None).await;
    assert!(find(&recent, "id", &json!(7)).is_none());
    let status = "/orders?paymentStatus=CUSTOM_PAYMENT_STATUS_1";
    assert_eq!(h.ok(Method::GET, status, None).await["total"], json!(0));
    let email = "/customers?email=lag@example.com";
    assert_eq!(h.ok(Method::GET, email, None).await["total"], json!(0));
    let all_cats = "/categories?hidden_categories=true";
    assert!(find(&h.ok(Method::GET, all_cats, None).await, "id", &category).is_none());

    // After the lag, all of it.
    wait_for(
        "the search index to catch up",
        std::time::Duration::from_secs(15),
        || async {
            // The last write: the others are older, so visible by then.
            let cats = h.ok(Method::GET, all_cats, None).await;
            find(&cats, "id", &category).map(|_| ())
        },
    )
    .await;
    let search = h.ok(Method::GET, "/products?limit=100", None).await;
    assert_eq!(search["total"], json!(30));
    assert_eq!(find(&search, "id", &json!(7)).unwrap()["price"], json!(99));
    assert_eq!(
        find(&search, "id", &json!(7)).unwrap()["combinations"][0]["price"],
        json!(98)
    );
    assert!(find(&search, "id", &json!(3)).is_none());
    assert!(find(&search, "id", &new_product).is_some());
    assert!(find(&h.ok(Method::GET, &window, None).await, "id", &json!(7)).is_some());
    assert_eq!(h.ok(Method::GET, status, None).await["total"], json!(1));
    let found = h.ok(Method::GET, email, None).await;
    assert_eq!(found["items"][0]["id"], customer);
}

#[tokio::test]
async fn the_index_lag_is_set_at_run_time() {
    let h = start(small_config()).await;
    let (_, faults) = h.control(Method::GET, "/_emulator/faults", None).await;
    assert_eq!(faults["index_lag_secs"], json!(0.0));
    let (status, _) = h
        .control(
            Method::PUT,
            "/_emulator/faults",
            Some(&json!({"index_lag_secs": 30})),
        )
        .await;
    assert_eq!(status, 200);
    h.ok(Method::DELETE, "/products/5", None).await;
    let search = h.ok(Method::GET, "/products?limit=100", None).await;
    assert_eq!(
        search["total"],
        json!(50),
        "hidden from searches by the lag"
    );
    // Back to 0: searches read the store itself again.
    h.control(Method::PUT, "/_emulator/faults", Some(&json!({})))
        .await;
    let search = h.ok(Method::GET, "/products?limit=100", None).await;
    assert_eq!(search["total"], json!(49));
    for bad in [
        json!({"index_lag_secs": -1}),
        json!({"index_lag_secs": 1e9}),
    ] {
        let (status, _) = h
            .control(Method::PUT, "/_emulator/faults", Some(&bad))
            .await;
        assert_eq!(status, 400, "{bad}");
    }
    // The flag's value is the starting setting.
    let lagging = start(EmulatorConfig {
        index_lag_secs: 12.5,
        ..small_config()
    })
    .await;
    let (_, faults) = lagging
        .control(Method::GET, "/_emulator/faults", None)
        .await;
    assert_eq!(faults["index_lag_secs"], json!(12.5));
}
