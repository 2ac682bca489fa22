//! The control plane under `/_emulator/`: inspect the store, act as the merchant or a
//! shopper, tune faults and webhooks, read counters. Never rate limited or faulted.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::faults::FaultSettings;
use crate::json::parse_object;
use crate::server::{error_response, json_response};
use crate::store::SaleRequest;
use crate::webhooks::WebhookSettings;

type AppState = State<Arc<App>>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_emulator/state", get(state))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/stats/reset", post(stats_reset))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/webhooks", get(get_webhooks).put(put_webhooks))
        .route("/_emulator/webhooks/send", post(send_webhook))
        .route("/_emulator/orders", post(sale))
        .route(
            "/_emulator/orders/{key}",
            patch(patch_order).delete(delete_order),
        )
        .route(
            "/_emulator/products/{id}",
            patch(patch_product).delete(delete_product),
        )
        .route(
            "/_emulator/combinations/{id}/{cid}",
            patch(patch_combination),
        )
        .route("/_emulator/categories/{id}", patch(patch_category))
        .route("/_emulator/reset", post(reset))
        .route(
            "/_emulator/health",
            get(|| async { json_response(StatusCode::OK, r#"{"ok":true}"#) }),
        )
}

fn reply(result: ApiResult<Value>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default()),
        Err(e) => error_response(&e),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

fn id(raw: &str) -> ApiResult<i64> {
    crate::routes::path_id(raw, "id")
}

async fn state(State(app): AppState) -> Response {
    let bytes = app.read().state_bytes();
    json_response(StatusCode::OK, bytes)
}

async fn stats(State(app): AppState) -> Response {
    reply(Ok(app.stats.to_json()))
}

async fn stats_reset(State(app): AppState) -> Response {
    app.stats.reset();
    reply(Ok(app.stats.to_json()))
}

async fn get_faults(State(app): AppState) -> Response {
    reply(
        serde_json::to_value(app.faults.settings())
            .map_err(|e| ApiError::bad_request(e.to_string())),
    )
}

async fn put_faults(State(app): AppState, body: Bytes) -> Response {
    reply(parse::<FaultSettings>(&body).and_then(|s| {
        app.set_faults(s.clone())?;
        serde_json::to_value(s).map_err(|e| ApiError::bad_request(e.to_string()))
    }))
}

async fn get_webhooks(State(app): AppState) -> Response {
    reply(
        serde_json::to_value(app.webhooks.settings())
            .map_err(|e| ApiError::bad_request(e.to_string())),
    )
}

async fn put_webhooks(State(app): AppState, body: Bytes) -> Response {
    reply(parse::<WebhookSettings>(&body).and_then(|s| {
        app.webhooks.set(s.clone())?;
        serde_json::to_value(s).map_err(|e| ApiError::bad_request(e.to_string()))
    }))
}

/// `POST /_emulator/webhooks/send`: one event of any type, as the store would send it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendRequest {
    event_type: String,
    #[serde(default)]
    entity_id: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
}

async fn send_webhook(State(app): AppState, body: Bytes) -> Response {
    reply(parse::<SendRequest>(&body).and_then(|r| {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        if r.event_type.is_empty() || !r.event_type.chars().all(valid) {
            return Err(ApiError::bad_request(
                "Field eventType must be a non-empty name such as 'review.created'",
            ));
        }
        let store = app.config.store_id;
        let entity_id = match r.entity_id {
            Some(v @ (Value::Number(_) | Value::String(_))) => v,
            // The platform sends application events' entityId as a string.
            None | Some(Value::Null) if r.event_type.starts_with("application.") => {
                json!(store.to_string())
            }
            None | Some(Value::Null) => json!(store),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "Field entityId must be a number or a string",
                ));
            }
        };
        if r.data
            .as_ref()
            .is_some_and(|d| !d.is_object() && !d.is_null())
        {
            return Err(ApiError::bad_request("Field data must be an object"));
        }
        if app.webhooks.settings().url.is_none() {
            return Err(ApiError::conflict(
                "No webhook URL is set: PUT /_emulator/webhooks first",
                None,
            ));
        }
        app.webhooks.enqueue(vec![crate::store::Event {
            event_type: r.event_type.clone().into(),
            entity_id,
            data: r.data.filter(|d| !d.is_null()),
            created: crate::dates::now(),
        }]);
        Ok(json!({ "queued": true, "eventType": r.event_type }))
    }))
}

/// The app-install code exchange: any `code` is accepted with the right `client_secret`.
pub async fn oauth_token(State(app): AppState, uri: axum::http::Uri) -> Response {
    let result = crate::query::Query::parse(uri.query()).and_then(|q| {
        if q.str("client_secret") != Some(app.config.client_secret.as_str()) {
            return Err(ApiError::bad_request("Parameter 'client_secret' is missing or wrong"));
        }
        if q.str("code").is_none() {
            return Err(ApiError::bad_request("Parameter 'code' is absent"));
        }
        Ok(json!({
            "access_token": app.config.token,
            "token_type": "bearer",
            "scope": "read_store_profile read_catalog update_catalog create_catalog read_orders update_orders create_orders read_customers update_customers create_customers",
            "store_id": app.config.store_id,
            "public_token": crate::server::public_token(&app.config.token),
        }))
    });
    reply(result)
}

/// A storefront checkout.
async fn sale(State(app): AppState, body: Bytes) -> Response {
    reply(parse::<SaleRequest>(&body).and_then(|sale| {
        let ident = app.write(|s| s.storefront_sale(&sale))?;
        Ok(json!({ "id": ident.internal, "orderNumber": ident.internal, "orderId": ident.public }))
    }))
}

/// An order edit "in the Ecwid admin": same rules as `PUT /orders/{n}`, but statuses may
/// also move out of (or into) INCOMPLETE.
async fn patch_order(
    State(app): AppState,
    Path(key): Path<String>,
    Query(options): Query<PatchOptions>,
    body: Bytes,
) -> Response {
    reply(parse_object(&body).and_then(|patch| {
        if options.unchecked {
            app.write(|s| s.update_order_unchecked(&key, &patch))?;
        } else {
            app.write(|s| s.update_order(&key, &patch, true))?;
        }
        Ok(json!({ "updateCount": 1 }))
    }))
}

async fn delete_order(State(app): AppState, Path(key): Path<String>) -> Response {
    reply(
        app.write(|s| s.delete_order(&key))
            .map(|_| json!({ "deleteCount": 1 })),
    )
}

#[derive(serde::Deserialize)]
struct PatchOptions {
    /// Skip the API's type checks, to stand for a store whose documents changed shape under
    /// a client (a field Ecwid starts sending with another type).
    #[serde(default)]
    unchecked: bool,
}

/// A product edit "in the Ecwid admin": any writable product field, partial.
async fn patch_product(
    State(app): AppState,
    Path(raw): Path<String>,
    Query(options): Query<PatchOptions>,
    body: Bytes,
) -> Response {
    reply(id(&raw).and_then(|pid| {
        let patch = parse_object(&body)?;
        if options.unchecked {
            app.write(|s| s.update_product_unchecked(pid, &patch))?;
        } else {
            app.write(|s| s.update_product(pid, &patch))?;
        }
        Ok(json!({ "updateCount": 1 }))
    }))
}

async fn delete_product(State(app): AppState, Path(raw): Path<String>) -> Response {
    reply(id(&raw).and_then(|pid| {
        app.write(|s| s.delete_product(pid))
            .map(|_| json!({ "deleteCount": 1 }))
    }))
}

async fn patch_combination(
    State(app): AppState,
    Path((raw, raw_cid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply(id(&raw).and_then(|pid| {
        let cid = crate::routes::path_id(&raw_cid, "combinationId")?;
        let patch = parse_object(&body)?;
        app.write(|s| s.update_combination(pid, cid, &patch))?;
        Ok(json!({ "updateCount": 1 }))
    }))
}

/// The merchant renames, hides or shows a category in the admin (the API's own rules).
async fn patch_category(State(app): AppState, Path(raw): Path<String>, body: Bytes) -> Response {
    reply(crate::routes::path_id(&raw, "categoryId").and_then(|cid| {
        let patch = parse_object(&body)?;
        app.write(|s| s.update_category(cid, &patch))?;
        Ok(json!({ "updateCount": 1 }))
    }))
}

/// Back to the seeded store (faults, webhook settings and counters are kept).
async fn reset(State(app): AppState) -> Response {
    let config = app.config.clone();
    match tokio::task::spawn_blocking(move || crate::generate::generate(&config)).await {
        Ok(fresh) => {
            app.replace_store(fresh);
            reply(Ok(json!({ "reset": true })))
        }
        Err(e) => error_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reset failed: {e}"),
        )),
    }
}
