//! Webhook delivery over real HTTP to a local receiver: bodies, signatures, retries,
//! duplicates.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use ecwid_emulator::{EmulatorConfig, signature};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct Delivery {
    query: String,
    signature: String,
    body: Value,
}

#[derive(Default)]
struct Receiver {
    deliveries: Mutex<Vec<Delivery>>,
    /// Attempts to refuse (with 500) before accepting.
    fail_first: AtomicUsize,
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let delivery = Delivery {
        query: q.unwrap_or_default(),
        signature: headers
            .get("x-ecwid-webhook-signature")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    };
    r.deliveries.lock().unwrap().push(delivery);
    let refuse = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

fn deliveries(r: &Receiver) -> Vec<Delivery> {
    r.deliveries.lock().unwrap().clone()
}

async fn wait_for_event(r: &Receiver, event_type: &str, entity: i64) -> Delivery {
    wait_for(
        &format!("{event_type} {entity}"),
        Duration::from_secs(10),
        || async {
            deliveries(r).into_iter().find(|d| {
                d.body["eventType"] == json!(event_type) && d.body["entityId"] == json!(entity)
            })
        },
    )
    .await
}

/// Webhook samples of events no change raises (no app install flow, no profile edits):
/// `POST /_emulator/webhooks/send` sends them, see `any_event_type_is_sent_on_demand`.
const SENT_ON_DEMAND: &[&str] = &[
    "webhook-application-installed.json",
    "webhook-application-uninstalled.json",
    "webhook-profile-subscription-status-changed.json",
    "webhook-profile-updated.json",
];

#[tokio::test]
async fn every_change_sends_a_signed_webhook_shaped_like_the_samples() {
    let (r, url) = receiver().await;
    let h = start(EmulatorConfig {
        webhook_url: Some(url),
        orders: 40,
        ..small_config()
    })
    .await;
    let state = h.state().await;
    let mut expected: Vec<(&str, &str, i64)> = Vec::new();

    let pid = h
        .ok(
            Method::POST,
            "/products",
            Some(&json!({"name": "Hooked", "sku": "HOOK-1"})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    expected.push(("webhook-product-created.json", "product.created", pid));
    h.ok(
        Method::PUT,
        &format!("/products/{pid}"),
        Some(&json!({"price": 3})),
    )
    .await;
    expected.push(("webhook-product-updated.json", "product.updated", pid));
    h.ok(Method::DELETE, &format!("/products/{pid}"), None)
        .await;
    expected.push(("webhook-product-deleted.json", "product.deleted", pid));

    let cid = h
        .ok(Method::POST, "/categories", Some(&json!({"name": "Hooks"})))
        .await["id"]
        .as_i64()
        .unwrap();
    expected.push(("webhook-category-created.json", "category.created", cid));
    h.ok(
        Method::PUT,
        &format!("/categories/{cid}"),
        Some(&json!({"name": "Hooks 2"})),
    )
    .await;
    expected.push(("webhook-category-updated.json", "category.updated", cid));
    h.ok(Method::DELETE, &format!("/categories/{cid}"), None)
        .await;
    expected.push(("webhook-category-deleted.json", "category.deleted", cid));

    let finished = state["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["paymentStatus"] != json!("INCOMPLETE"))
        .unwrap();
    let number = finished["orderNumber"].as_i64().unwrap();
    h.ok(
        Method::PUT,
        &format!("/orders/{number}"),
        Some(&json!({"fulfillmentStatus": "SHIPPED"})),
    )
    .await;
    expected.push(("webhook-order-updated.json", "order.updated", number));
    h.ok(Method::DELETE, &format!("/orders/{number}"), None)
        .await;
    expected.push(("webhook-order-deleted.json", "order.deleted", number));

    let created = h
        .ok(
            Method::POST,
            "/orders",
            Some(
                &json!({"paymentStatus": "INCOMPLETE", "fulfillmentStatus": "AWAITING_PROCESSING"}),
            ),
        )
        .await;
    let unfinished = created["id"].as_i64().unwrap();
    let unfinished_id = created["orderId"].clone();
    expected.push((
        "webhook-unfinished-order-created.json",
        "unfinished_order.created",
        unfinished,
    ));
    h.control(
        Method::PATCH,
        &format!("/_emulator/orders/{unfinished}"),
        Some(&json!({"hidden": true})),
    )
    .await;
    expected.push((
        "webhook-unfinished-order-updated.json",
        "unfinished_order.updated",
        unfinished,
    ));
    h.ok(Method::DELETE, &format!("/orders/{unfinished}"), None)
        .await;
    expected.push((
        "webhook-unfinished-order-deleted.json",
        "unfinished_order.deleted",
        unfinished,
    ));

    let cust = h
        .ok(
            Method::POST,
            "/customers",
            Some(&json!({"email": "hook@example.com"})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    expected.push(("webhook-customer-created.json", "customer.created", cust));
    h.ok(
        Method::PUT,
        &format!("/customers/{cust}"),
        Some(&json!({"name": "Hook"})),
    )
    .await;
    expected.push(("webhook-customer-updated.json", "customer.updated", cust));
    h.ok(Method::DELETE, &format!("/customers/{cust}"), None)
        .await;
    expected.push(("webhook-customer-deleted.json", "customer.deleted", cust));

    for (sample_name, event_type, entity) in &expected {
        let d = wait_for_event(&r, event_type, *entity).await;
        assert_shape(sample_name, &d.body, &[]);
        assert_eq!(d.query, format!("eventtype={event_type}"));
        assert_eq!(d.body["storeId"], json!(1003));
        let created = d.body["eventCreated"].as_i64().unwrap();
        let id = d.body["eventId"].as_str().unwrap();
        assert_eq!(
            d.signature,
            signature("test_client_secret", created, id),
            "signature of {event_type}"
        );
    }
    let updated = wait_for_event(&r, "order.updated", number).await;
    assert_eq!(
        updated.body["data"]["newFulfillmentStatus"],
        json!("SHIPPED")
    );
    // Order events name the internal id and carry the public one; unfinished ones the cart.
    for (event_type, entity) in [
        ("order.updated", number),
        ("order.deleted", number),
        ("unfinished_order.created", unfinished),
        ("unfinished_order.updated", unfinished),
        ("unfinished_order.deleted", unfinished),
    ] {
        let d = wait_for_event(&r, event_type, entity).await;
        let public = if entity == number {
            finished["id"].clone()
        } else {
            unfinished_id.clone()
        };
        assert_eq!(d.body["data"]["orderId"], public, "{event_type}");
        let cart = d.body["data"].get("cartId");
        assert_eq!(
            cart.is_some(),
            event_type.starts_with("unfinished"),
            "{event_type}"
        );
        if let Some(cart) = cart {
            assert_eq!(cart.as_str().unwrap().len(), 36, "a UUID");
        }
    }
    assert_eq!(
        updated.body["data"]["oldPaymentStatus"],
        finished["paymentStatus"]
    );

    // every webhook sample is either compared above or deliberately not emulated
    for entry in std::fs::read_dir(samples_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.starts_with("webhook-") {
            assert!(
                expected.iter().any(|(s, _, _)| *s == name)
                    || SENT_ON_DEMAND.contains(&name.as_str()),
                "webhook sample {name} is not covered"
            );
        }
    }
}

#[tokio::test]
async fn a_storefront_sale_announces_the_order_and_the_stock_change() {
    let (r, url) = receiver().await;
    let h = start(small_config()).await;
    let (status, _) = h
        .control(
            Method::PUT,
            "/_emulator/webhooks",
            Some(&json!({"url": url})),
        )
        .await;
    assert_eq!(status, 200, "webhook target set at run time");
    let p = h.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["quantity"].as_i64().unwrap_or(0) > 0)
        .unwrap()
        .clone();
    let pid = p["id"].as_i64().unwrap();
    let (_, sale) = h
        .control(
            Method::POST,
            "/_emulator/orders",
            Some(&json!({"items": [{"productId": pid, "quantity": 1}]})),
        )
        .await;
    let number = sale["orderNumber"].as_i64().unwrap();
    let created = wait_for_event(&r, "order.created", number).await;
    assert_eq!(created.body["data"]["newPaymentStatus"], json!("PAID"));
    wait_for_event(&r, "product.updated", pid).await;
    // an admin edit of a variation announces the parent product
    let cid = p["combinations"][0]["id"].as_i64().unwrap();
    let before = deliveries(&r).len();
    h.control(
        Method::PATCH,
        &format!("/_emulator/combinations/{pid}/{cid}"),
        Some(&json!({"price": 1})),
    )
    .await;
    wait_for("variation webhook", Duration::from_secs(10), || async {
        (deliveries(&r).len() > before).then_some(())
    })
    .await;
    assert_eq!(
        deliveries(&r).last().unwrap().body["eventType"],
        json!("product.updated")
    );
}

#[tokio::test]
async fn undelivered_webhooks_are_retried_on_the_compressed_schedule() {
    let (r, url) = receiver().await;
    r.fail_first.store(3, Ordering::SeqCst);
    // 15 minutes / 9000 = 0.1 s between the first retries.
    let h = start(EmulatorConfig {
        webhook_url: Some(url),
        time_scale: 9000.0,
        ..small_config()
    })
    .await;
    h.ok(Method::PUT, "/products/1", Some(&json!({"price": 2})))
        .await;
    wait_for(
        "delivery after 3 refusals",
        Duration::from_secs(10),
        || async { (deliveries(&r).len() >= 4).then_some(()) },
    )
    .await;
    let all = deliveries(&r);
    let ids: Vec<&Value> = all.iter().map(|d| &d.body["eventId"]).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every attempt carries the same event"
    );
    let stats = wait_for("stats", Duration::from_secs(5), || async {
        let (_, s) = h.control(Method::GET, "/_emulator/stats", None).await;
        (s["webhooks"]["delivered"] == json!(1)).then_some(s)
    })
    .await;
    assert_eq!(stats["webhooks"]["sent"], json!(4));
    assert_eq!(stats["webhooks"]["failed"], json!(3));
}

#[tokio::test]
async fn retries_stop_at_the_retry_horizon() {
    let (r, url) = receiver().await;
    r.fail_first.store(usize::MAX, Ordering::SeqCst);
    let h = start(EmulatorConfig {
        time_scale: 9000.0,
        ..small_config()
    })
    .await;
    // Half an hour: the first attempt and two 15-minute retries.
    let settings = json!({"url": url, "retry_hours": 0.5});
    assert_eq!(
        h.control(Method::PUT, "/_emulator/webhooks", Some(&settings))
            .await
            .0,
        200
    );
    h.ok(Method::PUT, "/products/1", Some(&json!({"price": 2})))
        .await;
    let stats = wait_for("three failed attempts", Duration::from_secs(10), || async {
        let (_, s) = h.control(Method::GET, "/_emulator/stats", None).await;
        (s["webhooks"]["failed"] == json!(3)).then_some(s)
    })
    .await;
    assert_eq!(stats["webhooks"]["delivered"], json!(0));
    let (status, _) = h
        .control(
            Method::PUT,
            "/_emulator/webhooks",
            Some(&json!({"retry_hours": -1})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn duplicates_and_reordering_can_be_switched_on() {
    let (r, url) = receiver().await;
    let h = start(small_config()).await;
    h.control(
        Method::PUT,
        "/_emulator/webhooks",
        Some(&json!({"url": url, "duplicate_rate": 1.0, "reorder": true})),
    )
    .await;
    for pid in 1..=5 {
        h.ok(
            Method::PUT,
            &format!("/products/{pid}"),
            Some(&json!({"price": 5})),
        )
        .await;
    }
    wait_for("10 deliveries", Duration::from_secs(10), || async {
        (deliveries(&r).len() >= 10).then_some(())
    })
    .await;
    let all = deliveries(&r);
    for pid in 1..=5 {
        let copies: Vec<&Delivery> = all
            .iter()
            .filter(|d| d.body["entityId"] == json!(pid))
            .collect();
        assert_eq!(copies.len(), 2, "product {pid} announced twice");
        assert_eq!(
            copies[0].body["eventId"], copies[1].body["eventId"],
            "a duplicate is the same event"
        );
    }
    let (status, _) = h
        .control(
            Method::PUT,
            "/_emulator/webhooks",
            Some(&json!({"url": "not a url"})),
        )
        .await;
    assert_eq!(status, 400);
}

#[test]
fn contract_signature_test_vector() {
    assert_eq!(
        signature(
            "abcde123456789",
            1469429912,
            "08a78904-0aa0-4c1a-953a-2e33c56236f0"
        ),
        "AT6vx56ZwtETOr5EEUtgZC3aJqzCZ1Ccl++RUFVEjP4="
    );
}

#[tokio::test]
async fn any_event_type_is_sent_on_demand() {
    let (r, url) = receiver().await;
    let h = start(small_config()).await;
    let send = |body: Value| {
        let h = &h;
        async move {
            h.control(Method::POST, "/_emulator/webhooks/send", Some(&body))
                .await
        }
    };
    let (status, _) = send(json!({"eventType": "review.created"})).await;
    assert_eq!(status, 409, "no webhook URL yet");
    h.control(
        Method::PUT,
        "/_emulator/webhooks",
        Some(&json!({"url": url})),
    )
    .await;

    for (sample_name, request) in [
        (
            "webhook-application-installed.json",
            json!({"eventType": "application.installed"}),
        ),
        (
            "webhook-application-uninstalled.json",
            json!({"eventType": "application.uninstalled"}),
        ),
        (
            "webhook-profile-updated.json",
            json!({"eventType": "profile.updated"}),
        ),
        (
            "webhook-profile-subscription-status-changed.json",
            json!({"eventType": "profile.subscriptionStatusChanged",
                "data": {"oldSubscriptionName": "ECWID_BUSINESS", "newSubscriptionName": "ECWID_UNLIMITED"}}),
        ),
    ] {
        let (status, v) = send(request.clone()).await;
        assert_eq!(status, 200, "{v}");
        let event_type = request["eventType"].as_str().unwrap();
        let d = wait_for("the sent event", Duration::from_secs(10), || async {
            deliveries(&r)
                .into_iter()
                .find(|d| d.body["eventType"] == json!(event_type))
        })
        .await;
        assert_shape(sample_name, &d.body, &[]);
        assert_eq!(d.query, format!("eventtype={event_type}"));
        let expected_entity = if event_type.starts_with("application.") {
            json!("1003")
        } else {
            json!(1003)
        };
        assert_eq!(d.body["entityId"], expected_entity, "{event_type}");
        let created = d.body["eventCreated"].as_i64().unwrap();
        let id = d.body["eventId"].as_str().unwrap();
        assert_eq!(d.signature, signature("test_client_secret", created, id));
    }

    let review = json!({"eventType": "review.updated", "entityId": 42,
        "data": {"productId": 1, "orderId": 5, "status": "PUBLISHED"}});
    send(review.clone()).await;
    send(review.clone()).await;
    let copies = wait_for("two review events", Duration::from_secs(10), || async {
        let found: Vec<Delivery> = deliveries(&r)
            .into_iter()
            .filter(|d| d.body["eventType"] == json!("review.updated"))
            .collect();
        (found.len() == 2).then_some(found)
    })
    .await;
    assert_eq!(copies[0].body["entityId"], json!(42));
    assert_eq!(copies[0].body["data"], review["data"]);
    assert_ne!(
        copies[0].body["eventId"], copies[1].body["eventId"],
        "each send is a new event"
    );

    for bad in [
        json!({"eventType": ""}),
        json!({"eventType": "a b"}),
        json!({"eventType": "x.y", "entityId": [1]}),
        json!({"eventType": "x.y", "data": 3}),
        json!({"eventType": "x.y", "extra": 1}),
        json!({"entityId": 1}),
    ] {
        assert_eq!(send(bad.clone()).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn all_events_mode_also_sends_invoices_and_coupon_changes() {
    for all in [true, false] {
        let (r, url) = receiver().await;
        let h = start(EmulatorConfig {
            webhook_url: Some(url),
            webhook_events: if all {
                ecwid_emulator::WebhookEvents::All
            } else {
                ecwid_emulator::WebhookEvents::Mirrored
            },
            ..small_config()
        })
        .await;
        let paid = h
            .ok(
                Method::POST,
                "/orders",
                Some(
                    &json!({"paymentStatus": "PAID", "fulfillmentStatus": "AWAITING_PROCESSING",
                    "discountCoupon": {"id": 555, "code": "SAVE"}}),
                ),
            )
            .await;
        let waiting = h
            .ok(
                Method::POST,
                "/orders",
                Some(&json!({"paymentStatus": "AWAITING_PAYMENT", "fulfillmentStatus": "AWAITING_PROCESSING"})),
            )
            .await;
        h.ok(
            Method::PUT,
            &format!("/orders/{}", waiting["orderId"].as_str().unwrap()),
            Some(&json!({"paymentStatus": "PAID"})),
        )
        .await;
        h.ok(Method::DELETE, &format!("/orders/{}", paid["id"]), None)
            .await;
        // A last change to wait for: everything before it has been handed to the sender.
        h.ok(Method::PUT, "/products/1", Some(&json!({"price": 1})))
            .await;
        wait_for_event(&r, "product.updated", 1).await;
        let of = |event_type: &str| -> Vec<Delivery> {
            deliveries(&r)
                .into_iter()
                .filter(|d| d.body["eventType"] == json!(event_type))
                .collect()
        };
        if !all {
            wait_for_event(&r, "order.deleted", paid["id"].as_i64().unwrap()).await;
            assert!(of("invoice.created").is_empty() && of("invoice.deleted").is_empty());
            assert!(of("discount_coupon.updated").is_empty());
            continue;
        }
        let coupon = wait_for_event(&r, "discount_coupon.updated", 555).await;
        assert!(coupon.body["data"].is_object());
        let invoices = wait_for("two invoices", Duration::from_secs(10), || async {
            let found = of("invoice.created");
            (found.len() == 2).then_some(found)
        })
        .await;
        let order_ids: Vec<&Value> = invoices
            .iter()
            .map(|d| &d.body["data"]["orderId"])
            .collect();
        assert!(order_ids.contains(&&paid["orderId"]) && order_ids.contains(&&waiting["orderId"]));
        let deleted = wait_for("invoice.deleted", Duration::from_secs(10), || async {
            of("invoice.deleted").pop()
        })
        .await;
        assert_eq!(deleted.body["data"]["orderId"], paid["orderId"]);
        assert!(deleted.body["entityId"].is_number());
    }
}

/// Waits for batch `ticket` to complete and answers its `responses`.
async fn batch_responses(h: &Harness, ticket: &str) -> Vec<Value> {
    wait_for("the batch to complete", Duration::from_secs(10), || async {
        let s = h
            .ok(Method::GET, &format!("/batch?ticket={ticket}"), None)
            .await;
        (s["status"] == json!("COMPLETED")).then(|| s["responses"].as_array().unwrap().clone())
    })
    .await
}

async fn keyed_batch(h: &Harness, key: &str, requests: Value) -> Vec<Value> {
    let ticket = h
        .ok(
            Method::POST,
            &format!("/batch?stopOnFirstFailure=false&deduplicationKey={key}"),
            Some(&requests),
        )
        .await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    batch_responses(h, &ticket).await
}

#[tokio::test]
async fn products_created_and_deleted_in_a_keyed_batch_fire_their_webhooks_once() {
    let (r, url) = receiver().await;
    let h = start(EmulatorConfig {
        webhook_url: Some(url),
        ..small_config()
    })
    .await;
    let create = json!([{
        "id": "create-1", "path": "/products", "method": "POST",
        "body": {"name": "Batched", "sku": "BATCH-NEW-1", "price": 4.5, "quantity": 7},
    }]);
    let key = "6f1c2a9e-0d4b-4c1e-8a7f-2b3c4d5e6f70";
    let responses = keyed_batch(&h, key, create.clone()).await;
    assert_eq!(responses[0]["status"], json!("COMPLETED"), "{responses:?}");
    let pid = responses[0]["httpBody"]["id"].as_i64().expect("the new id");
    // The same key again (a lost answer re-sent) answers the first ticket: no second product.
    let again = keyed_batch(&h, key, create).await;
    assert_eq!(again[0]["httpBody"]["id"], json!(pid));
    let skus = h.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["sku"] == json!("BATCH-NEW-1"))
        .count();
    assert_eq!(skus, 1, "created once");
    wait_for_event(&r, "product.created", pid).await;

    let delete = json!([{
        "id": "delete-1", "path": format!("/products/{pid}"), "method": "DELETE",
    }]);
    let key = "6f1c2a9e-0d4b-4c1e-8a7f-2b3c4d5e6f71";
    let responses = keyed_batch(&h, key, delete.clone()).await;
    assert_eq!(responses[0]["status"], json!("COMPLETED"), "{responses:?}");
    assert_eq!(keyed_batch(&h, key, delete).await, responses);
    wait_for_event(&r, "product.deleted", pid).await;
    let (code, _) = h.get(&format!("/products/{pid}")).await;
    assert_eq!(code, 404);
    let count = |t: &str| {
        deliveries(&r)
            .iter()
            .filter(|d| d.body["eventType"] == json!(t) && d.body["entityId"] == json!(pid))
            .count()
    };
    assert_eq!((count("product.created"), count("product.deleted")), (1, 1));
}

#[tokio::test]
async fn a_batched_create_of_a_taken_sku_fails_with_ecwids_message_and_creates_nothing() {
    let h = start(small_config()).await;
    let before = h.state().await["products"].as_array().unwrap().len();
    let taken = h.state().await["products"][0]["sku"]
        .as_str()
        .unwrap()
        .to_string();
    let responses = keyed_batch(
        &h,
        "6f1c2a9e-0d4b-4c1e-8a7f-2b3c4d5e6f72",
        json!([{
            "id": "dup", "path": "/products", "method": "POST",
            "body": {"name": "Twin", "sku": taken},
        }]),
    )
    .await;
    assert_eq!(responses[0]["status"], json!("FAILED"));
    assert_eq!(responses[0]["httpStatusCode"], json!(409));
    assert_eq!(
        responses[0]["httpBody"],
        json!({"errorMessage": format!("SKU '{taken}' already exists"), "errorCode": "SKU_ALREADY_EXISTS"})
    );
    assert_eq!(
        h.state().await["products"].as_array().unwrap().len(),
        before
    );
}
