//! Every route and verb fed with malformed or hostile bodies and parameters answers a 4xx
//! (or 200 where the input happens to be valid), never a 5xx or a dropped connection.

mod common;

use common::*;
use reqwest::Method;

#[tokio::test]
async fn hostile_input_never_gets_a_5xx() {
    let h = start(small_config()).await;
    let client = reqwest::Client::new();
    let order = h.state().await["orders"][0]["orderNumber"]
        .as_i64()
        .unwrap();
    let cid = h.state().await["products"][0]["combinations"][0]["id"]
        .as_i64()
        .unwrap();
    let paths = [
        "/products".to_string(),
        "/products/1".to_string(),
        "/products/1/inventory".to_string(),
        "/products/1/combinations".to_string(),
        format!("/products/1/combinations/{cid}"),
        format!("/products/1/combinations/{cid}/inventory"),
        "/products/deleted".to_string(),
        "/categories".to_string(),
        "/categories/9001".to_string(),
        "/orders".to_string(),
        format!("/orders/{order}"),
        "/orders/deleted".to_string(),
        "/reviews/deleted".to_string(),
        "/coupons/deleted".to_string(),
        "/customers".to_string(),
        "/customers/70001".to_string(),
        "/batch".to_string(),
        "/batch/cancel-group".to_string(),
        "/latest-stats".to_string(),
        "/profile".to_string(),
        "/products/99999999999999999999".to_string(),
        "/products/-1/combinations/x".to_string(),
        "/%FF%FE".to_string(),
    ];
    let bodies = [
        "",
        "null",
        "42",
        "\"text\"",
        "[]",
        "{",
        "{}",
        r#"{"name": null, "price": {}, "quantity": 1e400}"#,
        r#"{"quantityDelta": 9223372036854775807}"#,
        r#"{"quantityDelta": -9223372036854775808}"#,
        r#"{"name": "x", "sku": 5, "categoryIds": "all", "options": {"a": 1}}"#,
        r#"{"items": [null, 1, {"name": 1}], "paymentStatus": 7}"#,
        r#"{"options": [{"name": "Size"}]}"#,
        r#"{"productIds": [1, "two"], "parentId": "root"}"#,
        r#"[{"path": "products", "method": "GET"}]"#,
        r#"[{"path": "/batch", "method": "POST", "body": "[]"}]"#,
        r#"{"email": ["a"], "shippingAddresses": {}}"#,
    ];
    let queries = [
        "",
        "offset=99999999999999999999",
        "limit=-5",
        "productId=,,,",
        "updatedFrom=2020-02-30",
        "from_date=%00",
        "sortBy=",
        "orderNumber=1,a",
        "ticket=%ZZ",
        "inStock=TRUE&enabled=Off",
        "responseFields=items((id)",
        "responseFields=a(b(c(d(e))))&ids=,x,",
        "categoryIds=1,%22&productCountRequired=maybe",
    ];
    let mut checked = 0;
    for path in &paths {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            for (i, body) in bodies.iter().enumerate() {
                let query = queries[(i + checked) % queries.len()];
                let url = format!("{}{path}?{query}", h.base);
                let resp = client
                    .request(method.clone(), &url)
                    .bearer_auth(TOKEN)
                    .header("Content-Type", "application/json")
                    .body(*body)
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{method} {path}?{query} {body}: connection failed: {e}")
                    });
                let status = resp.status().as_u16();
                assert!(status < 500, "{method} {path}?{query} {body}: {status}");
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
    assert_eq!(h.get("/products?limit=1").await.0, 200, "still serving");
}
