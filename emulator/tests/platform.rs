//! The current platform (CONTRACT.md section 17) over real HTTP: authentication, order
//! identity, the search index lag, reads with `responseFields`, deleted-items retention and
//! variation prices.

mod common;

use common::*;
use ecwid_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::Value;

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
