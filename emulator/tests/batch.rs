//! The Batch API over real HTTP: deduplication keys and their memory, first-in-first-out
//! batches, cancel-group, 5xx retries inside a batch, parallel mode, `escapedJson`, and a
//! create whose answer is lost re-sent with its key.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, TOKEN, small_config, start, wait_for};
use ecwid_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// A product whose stock is tracked (not `unlimited`).
async fn tracked_product(h: &Harness) -> i64 {
    h.state().await["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["unlimited"] == json!(false) && p["quantity"].is_i64())
        .expect("a product with tracked stock")["id"]
        .as_i64()
        .unwrap()
}

async fn quantity(h: &Harness, product: i64) -> i64 {
    h.ok(Method::GET, &format!("/products/{product}"), None)
        .await["quantity"]
        .as_i64()
        .unwrap()
}

fn adjust(product: i64, delta: i64) -> Value {
    json!({
        "id": format!("adjust-{product}"),
        "path": format!("/products/{product}/inventory"),
        "method": "PUT",
        "body": {"quantityDelta": delta},
    })
}

fn profile(id: &str) -> Value {
    json!({"id": id, "path": "/profile", "method": "GET", "body": ""})
}

async fn create(h: &Harness, query: &str, requests: &Value) -> String {
    h.ok(Method::POST, &format!("/batch{query}"), Some(requests))
        .await["ticket"]
        .as_str()
        .expect("a ticket")
        .to_string()
}

async fn status(h: &Harness, ticket: &str) -> Value {
    h.ok(Method::GET, &format!("/batch?ticket={ticket}"), None)
        .await
}

async fn completed(h: &Harness, ticket: &str) -> Value {
    wait_for("the batch to complete", WAIT, || async {
        let s = status(h, ticket).await;
        (s["status"] == json!("COMPLETED")).then_some(s)
    })
    .await
}

fn statuses(s: &Value) -> Vec<&str> {
    s["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

async fn set_faults(h: &Harness, faults: Value) {
    let (code, body) = h
        .control(Method::PUT, "/_emulator/faults", Some(&faults))
        .await;
    assert_eq!(code, 200, "{body}");
}

/// Sub-requests to `/profile` take `ms` each; nothing else is slowed.
async fn slow_profile(h: &Harness, ms: u64) {
    set_faults(h, json!({"latency_ms": ms, "path_contains": "/profile"})).await;
}

#[tokio::test]
async fn a_repeated_key_returns_the_first_ticket_and_runs_once() {
    let h = start(small_config()).await;
    let p = tracked_product(&h).await;
    let before = quantity(&h, p).await;
    let body = json!([adjust(p, -3)]);
    let key = "?deduplicationKey=6f1c2c47-55a4-4d0e-9a43-0a3a0fd1d0b1";
    let first = create(&h, key, &body).await;
    assert_eq!(create(&h, key, &body).await, first, "while it runs");
    completed(&h, &first).await;
    assert_eq!(create(&h, key, &body).await, first, "after it ran");
    assert_eq!(quantity(&h, p).await, before - 3, "applied exactly once");

    let other = create(&h, "?deduplicationKey=another-key", &body).await;
    assert_ne!(other, first);
    completed(&h, &other).await;
    let unkeyed = create(&h, "", &body).await;
    completed(&h, &unkeyed).await;
    assert_eq!(quantity(&h, p).await, before - 9);

    for (query, name) in [
        (
            format!("?deduplicationKey={}", "k".repeat(65)),
            "deduplicationKey",
        ),
        ("?allowParallelMode=maybe".to_string(), "allowParallelMode"),
        ("?stopOnFirstFailure=2".to_string(), "stopOnFirstFailure"),
    ] {
        let (code, err) = h
            .call(Method::POST, &format!("/batch{query}"), Some(&body))
            .await;
        assert_eq!(code, 400, "{query}");
        assert!(
            err["errorMessage"].as_str().unwrap().contains(name),
            "{err}"
        );
    }
    assert_eq!(
        quantity(&h, p).await,
        before - 9,
        "refused creates run nothing"
    );
}

#[tokio::test]
async fn a_key_is_forgotten_after_the_dedup_memory() {
    let h = start(EmulatorConfig {
        batch_dedup_secs: 2,
        ..small_config()
    })
    .await;
    let p = tracked_product(&h).await;
    let before = quantity(&h, p).await;
    let body = json!([adjust(p, -1)]);
    let key = "?deduplicationKey=expiring";
    let first = create(&h, key, &body).await;
    assert_eq!(create(&h, key, &body).await, first);
    completed(&h, &first).await;
    let second = wait_for("the key to be forgotten", WAIT, || async {
        let t = create(&h, key, &body).await;
        (t != first).then_some(t)
    })
    .await;
    completed(&h, &second).await;
    assert_eq!(
        quantity(&h, p).await,
        before - 2,
        "ran once per remembered period"
    );
    assert_eq!(
        create(&h, key, &body).await,
        second,
        "the new ticket is kept"
    );
}

#[tokio::test]
async fn a_batch_waits_for_the_earlier_ones_of_the_store() {
    let h = start(small_config()).await;
    let p = tracked_product(&h).await;
    let before = quantity(&h, p).await;
    slow_profile(&h, 400).await;
    let first = create(&h, "", &json!([profile("p1"), profile("p2")])).await;
    let second = create(&h, "", &json!([adjust(p, -1)])).await;
    let mut observed_waiting = 0;
    loop {
        // Read in reverse order of the run: if the first is still running at the end, the
        // second cannot have started at the earlier reads.
        let stock = quantity(&h, p).await;
        let s2 = status(&h, &second).await;
        let s1 = status(&h, &first).await;
        if s1["status"] == json!("COMPLETED") {
            break;
        }
        assert_eq!(s2["status"], json!("QUEUED"), "first: {s1}");
        assert_eq!(s2["completedRequests"], json!(0));
        assert_eq!(s2["responses"], json!([]));
        assert_eq!(stock, before, "second ran early");
        observed_waiting += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(observed_waiting > 0);
    let s2 = completed(&h, &second).await;
    assert_eq!(statuses(&s2), vec!["COMPLETED"]);
    assert_eq!(quantity(&h, p).await, before - 1);
}

#[tokio::test]
async fn status_moves_from_queued_to_in_progress_to_completed() {
    let h = start(small_config()).await;
    slow_profile(&h, 300).await;
    let head = create(&h, "", &json!([profile("h")])).await;
    let t = create(&h, "", &json!([profile("a"), profile("b")])).await;
    assert_eq!(status(&h, &t).await["status"], json!("QUEUED"));
    completed(&h, &head).await;
    let running = wait_for("the batch to start", WAIT, || async {
        let s = status(&h, &t).await;
        (s["status"] != json!("QUEUED")).then_some(s)
    })
    .await;
    assert_eq!(running["status"], json!("IN_PROGRESS"), "{running}");
    assert_eq!(running["totalRequests"], json!(2));
    let done = completed(&h, &t).await;
    assert_eq!(done["completedRequests"], json!(2));
    assert_eq!(statuses(&done), vec!["COMPLETED", "COMPLETED"]);
}

#[tokio::test]
async fn cancel_group_stops_requests_that_have_not_run() {
    let h = start(small_config()).await;
    let p = tracked_product(&h).await;
    let before = quantity(&h, p).await;
    slow_profile(&h, 500).await;
    let head = create(&h, "", &json!([profile("h1"), profile("h2")])).await;
    let a = create(&h, "?groupId=a", &json!([adjust(p, -1), adjust(p, -1)])).await;
    let b1 = create(&h, "?groupId=b", &json!([adjust(p, -1)])).await;
    let b2 = create(&h, "?groupId=b", &json!([adjust(p, -1)])).await;
    let kept = create(&h, "?groupId=kept", &json!([adjust(p, -1)])).await;
    assert_eq!(
        status(&h, &a).await["status"],
        json!("QUEUED"),
        "the head batch holds the queue"
    );
    let cancel = |query: String| {
        let h = &h;
        async move {
            h.call(Method::POST, &format!("/batch/cancel-group{query}"), None)
                .await
        }
    };
    assert_eq!(
        cancel(format!("?ticketId={a}&groupId=b")).await,
        (200, json!({"updateCount": 0})),
        "the ticket is not in that group"
    );
    assert_eq!(
        cancel(format!("?ticketId={a}&groupId=a")).await,
        (200, json!({"updateCount": 1}))
    );
    let sa = status(&h, &a).await;
    assert_eq!(sa["status"], json!("COMPLETED"), "{sa}");
    assert_eq!(sa["completedRequests"], json!(2));
    assert_eq!(
        sa["responses"],
        json!([
            {"id": format!("adjust-{p}"), "status": "NOT_EXECUTED"},
            {"id": format!("adjust-{p}"), "status": "NOT_EXECUTED"}
        ])
    );
    // groupId alone: every batch of the group (the older form of the call)
    assert_eq!(
        cancel("?groupId=b".into()).await,
        (200, json!({"updateCount": 1}))
    );
    assert_eq!(
        cancel("?groupId=b".into()).await,
        (200, json!({"updateCount": 0})),
        "nothing left to stop"
    );
    assert_eq!(
        cancel(format!("?ticketId={a}&groupId=a")).await.1,
        json!({"updateCount": 0})
    );
    assert_eq!(cancel("?ticketId=nope&groupId=a".into()).await.0, 404);
    assert_eq!(cancel(format!("?ticketId={a}")).await.0, 400);

    completed(&h, &head).await;
    completed(&h, &kept).await;
    for t in [&b1, &b2] {
        assert_eq!(statuses(&status(&h, t).await), vec!["NOT_EXECUTED"]);
    }
    assert_eq!(
        quantity(&h, p).await,
        before - 1,
        "only the batch outside the cancelled groups changed stock"
    );

    // A running batch: what already ran stays, the rest is not executed.
    let running = create(&h, "?groupId=r", &json!([profile("slow"), adjust(p, -1)])).await;
    wait_for("the batch to start", WAIT, || async {
        (status(&h, &running).await["status"] == json!("IN_PROGRESS")).then_some(())
    })
    .await;
    assert_eq!(
        cancel(format!("?ticketId={running}&groupId=r")).await.1,
        json!({"updateCount": 1})
    );
    let s = completed(&h, &running).await;
    assert_eq!(statuses(&s), vec!["COMPLETED", "NOT_EXECUTED"]);
    assert_eq!(s["responses"][0]["httpStatusCode"], json!(200));
    assert_eq!(quantity(&h, p).await, before - 1);
}

#[tokio::test]
async fn a_server_error_is_retried_before_the_batch_moves_on() {
    // Retries 3 s apart, compressed 20 times: 150 ms.
    let h = start(EmulatorConfig {
        time_scale: 20.0,
        ..small_config()
    })
    .await;
    let p = tracked_product(&h).await;
    let before = quantity(&h, p).await;

    // Every other attempt fails: without retries about half of the adjustments would be
    // FAILED; with them each one goes through exactly once.
    set_faults(
        &h,
        json!({"seed": 3, "error_500_rate": 0.25, "error_503_rate": 0.25, "path_contains": "/inventory"}),
    )
    .await;
    let adjustments: Vec<Value> = (0..12).map(|_| adjust(p, -1)).collect();
    let t = create(&h, "?stopOnFirstFailure=false", &Value::Array(adjustments)).await;
    let s = completed(&h, &t).await;
    assert_eq!(statuses(&s), vec!["COMPLETED"; 12], "{s}");
    assert_eq!(quantity(&h, p).await, before - 12);

    // A request that keeps failing: 5 retries 150 ms apart, then FAILED with the last answer.
    set_faults(
        &h,
        json!({"error_503_rate": 1.0, "path_contains": "/inventory"}),
    )
    .await;
    let requests = json!([
        adjust(p, -1),
        {"id": "missing", "path": "/products/999999", "method": "GET"},
        {"id": "price", "path": format!("/products/{p}"), "method": "PUT", "body": {"price": 7.5}},
    ]);
    let started = Instant::now();
    let t = create(&h, "?stopOnFirstFailure=false", &requests).await;
    let s = completed(&h, &t).await;
    assert!(
        started.elapsed() >= Duration::from_millis(5 * 150),
        "retried 5 times 150 ms apart, took {:?}",
        started.elapsed()
    );
    assert_eq!(statuses(&s), vec!["FAILED", "FAILED", "COMPLETED"], "{s}");
    assert_eq!(s["responses"][0]["httpStatusCode"], json!(503));
    assert_eq!(s["responses"][1]["httpStatusCode"], json!(404));
    assert_eq!(quantity(&h, p).await, before - 12, "a 503 applies nothing");
    assert_eq!(
        h.ok(Method::GET, &format!("/products/{p}"), None).await["price"],
        json!(7.5),
        "a 4xx moves on to the next request"
    );

    // stopOnFirstFailure (the default): after the retries, the rest is not executed.
    let t = create(&h, "", &requests).await;
    assert_eq!(
        statuses(&completed(&h, &t).await),
        vec!["FAILED", "NOT_EXECUTED", "NOT_EXECUTED"]
    );
}

#[tokio::test]
async fn parallel_mode_runs_sub_requests_at_once() {
    let h = start(small_config()).await;
    slow_profile(&h, 200).await;
    let requests: Vec<Value> = (0..20).map(|i| profile(&format!("p{i}"))).collect();
    let started = Instant::now();
    let t = create(&h, "?allowParallelMode=true", &Value::Array(requests)).await;
    let s = completed(&h, &t).await;
    assert!(
        started.elapsed() < Duration::from_millis(20 * 200),
        "20 sub-requests of 200 ms ran one after another: {:?}",
        started.elapsed()
    );
    assert_eq!(statuses(&s), vec!["COMPLETED"; 20]);
    let ids: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let got: Vec<&str> = s["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids, "responses are listed in request order");
}

#[tokio::test]
async fn escaped_json_gives_each_body_as_a_string() {
    let h = start(small_config()).await;
    let t = create(
        &h,
        "?stopOnFirstFailure=false",
        &json!([
            {"id": "found", "path": "/products/1", "method": "GET"},
            {"id": "missing", "path": "/products/999999", "method": "GET"},
        ]),
    )
    .await;
    let plain = completed(&h, &t).await;
    let escaped = h
        .ok(
            Method::GET,
            &format!("/batch?ticket={t}&escapedJson=true"),
            None,
        )
        .await;
    assert_eq!(escaped["status"], json!("COMPLETED"));
    for (p, e) in plain["responses"]
        .as_array()
        .unwrap()
        .iter()
        .zip(escaped["responses"].as_array().unwrap())
    {
        assert!(e.get("httpBody").is_none(), "{e}");
        let text = e["escapedHttpBody"].as_str().expect("a string body");
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parsed, p["httpBody"]);
        for k in ["id", "status", "httpStatusCode", "httpStatusLine"] {
            assert_eq!(e[k], p[k], "{k}");
        }
    }
    assert_eq!(
        serde_json::from_str::<Value>(escaped["responses"][0]["escapedHttpBody"].as_str().unwrap())
            .unwrap()["id"],
        json!(1)
    );
    let (code, err) = h.get(&format!("/batch?ticket={t}&escapedJson=maybe")).await;
    assert_eq!(code, 400);
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("escapedJson")
    );
}

#[tokio::test]
async fn a_lost_create_answer_resent_with_its_key_runs_once() {
    let h = start(small_config()).await;
    let p = tracked_product(&h).await;
    let before = quantity(&h, p).await;
    let body = json!([adjust(p, -2)]);
    let path = "/batch?deduplicationKey=3d8a8f1e-6b7c-4a8e-9f00-5a4c1f2e7d10";
    let send = || {
        // A fresh client each time, so no pooled connection hides the drop.
        let url = format!("{}{path}", h.base);
        let body = body.to_string();
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
        }
    };
    set_faults(
        &h,
        json!({"drop_after_apply_rate": 1.0, "path_contains": "/batch"}),
    )
    .await;
    send()
        .await
        .expect_err("the create is applied, its answer lost");
    wait_for("the batch to run", WAIT, || async {
        (quantity(&h, p).await == before - 2).then_some(())
    })
    .await;
    send().await.expect_err("the re-send is dropped too");
    set_faults(&h, json!({})).await;
    let resp = send().await.expect("an answer this time");
    assert_eq!(resp.status().as_u16(), 200);
    let ticket = resp.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let s = completed(&h, &ticket).await;
    assert_eq!(statuses(&s), vec!["COMPLETED"], "the first create's ticket");
    assert_eq!(quantity(&h, p).await, before - 2, "applied exactly once");
    let (_, stats) = h.control(Method::GET, "/_emulator/stats", None).await;
    assert_eq!(stats["requests"]["POST /batch"], json!(3));
}

#[tokio::test]
async fn a_keyed_batch_renames_and_hides_a_category_once_and_refuses_an_empty_name() {
    let h = start(small_config()).await;
    let category = h.state().await["categories"][0]["id"].as_i64().unwrap();
    let put = |id: &str, body: Value| json!({"id": id, "path": format!("/categories/{category}"), "method": "PUT", "body": body});
    let body = json!([
        put("rename", json!({"name": "Winter sale", "enabled": false})),
        put("empty", json!({"name": " "})),
        {"id": "read", "path": format!("/categories?hidden_categories=true&categoryIds={category}"), "method": "GET", "body": ""},
    ]);
    let key = "?deduplicationKey=0b7d3c1e-2f0a-4c4e-8d6b-7a1f9e0c5d21&stopOnFirstFailure=false";
    let ticket = create(&h, key, &body).await;
    let done = completed(&h, &ticket).await;
    assert_eq!(statuses(&done), vec!["COMPLETED", "FAILED", "COMPLETED"]);
    assert_eq!(done["responses"][1]["httpStatusCode"], 400);
    let read: Value =
        serde_json::from_str(done["responses"][2]["httpBody"].to_string().as_str()).unwrap();
    assert_eq!(read["items"][0]["name"], "Winter sale", "{read}");
    assert_eq!(read["items"][0]["enabled"], false);
    // The same key again runs nothing: a rename made since stays.
    let (code, _) = h
        .call(
            Method::PUT,
            &format!("/categories/{category}"),
            Some(&json!({"name": "Spring"})),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(create(&h, key, &body).await, ticket);
    let now = h
        .ok(Method::GET, &format!("/categories/{category}"), None)
        .await;
    assert_eq!(now["name"], "Spring");
}
