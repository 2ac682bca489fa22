//! The API router: maps `(method, path under /api/v3/{storeId})` to a handler. It is a plain
//! function so the batch executor runs sub-requests through exactly the same code.

mod catalog;
mod orders;
mod tracking;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::Value;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::fields::FieldSpec;
use crate::query::Query;

/// Which kind of token made the call: public tokens read the catalogue only and see
/// disabled products and categories as `{"id", "enabled": false}` stubs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Private,
    Public,
}

/// Who is calling and what the connection accepts.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub access: Access,
    /// `Accept-Encoding` includes gzip: product pages may answer pre-compressed.
    pub gzip: bool,
}

/// A successful (or documented non-error) answer: status plus JSON bytes.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    /// `body` is already gzip-compressed (send `Content-Encoding: gzip`).
    pub gzipped: bool,
}

impl Reply {
    pub fn json(v: &Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            gzipped: false,
        }
    }
    pub fn bytes(body: Bytes) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            gzipped: false,
        }
    }

    /// A search page, pre-compressed when the caller accepts gzip and the pieces exist.
    pub fn page(page: &crate::store::Page) -> Reply {
        match page.to_gzip() {
            Some(body) => Reply {
                status: StatusCode::OK,
                body,
                gzipped: true,
            },
            None => Reply::bytes(page.to_bytes()),
        }
    }
}

/// The route template of a path, as counted in `/_emulator/stats` (`/products/{id}`).
pub fn template(segs: &[&str]) -> &'static str {
    match segs {
        ["products"] => "/products",
        ["products", "deleted"] => "/products/deleted",
        ["products", _] => "/products/{id}",
        ["products", _, "inventory"] => "/products/{id}/inventory",
        ["products", _, "combinations"] => "/products/{id}/combinations",
        ["products", _, "combinations", _] => "/products/{id}/combinations/{combinationId}",
        ["products", _, "combinations", _, "inventory"] => {
            "/products/{id}/combinations/{combinationId}/inventory"
        }
        ["categories"] => "/categories",
        ["categories", _] => "/categories/{id}",
        ["orders"] => "/orders",
        ["orders", "deleted"] => "/orders/deleted",
        ["orders", _] => "/orders/{orderId}",
        ["customers"] => "/customers",
        ["customers", "deleted"] => "/customers/deleted",
        ["customers", _] => "/customers/{id}",
        ["discount_coupons", "deleted"] => "/discount_coupons/deleted",
        ["coupons", "deleted"] => "/coupons/deleted",
        ["reviews", "deleted"] => "/reviews/deleted",
        ["latest-stats"] => "/latest-stats",
        ["profile"] => "/profile",
        ["batch"] => "/batch",
        ["batch", "cancel-group"] => "/batch/cancel-group",
        _ => "(unknown)",
    }
}

pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Parses an integer path segment; the message names the parameter.
pub fn path_id(raw: &str, name: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Wrong path parameter '{name}': expected an integer, got '{raw}'"
        ))
    })
}

pub fn dispatch(
    app: &Arc<App>,
    caller: Caller,
    method: &Method,
    path: &str,
    query: &Query,
    body: &[u8],
) -> ApiResult<Reply> {
    // Every read takes `responseFields`; the selection needs the plain JSON to cut from.
    let fields = match *method == Method::GET {
        true => query
            .str("responseFields")
            .map(FieldSpec::parse)
            .transpose()?,
        false => None,
    };
    let Some(fields) = fields else {
        return route(app, caller, method, path, query, body);
    };
    let caller = Caller {
        gzip: false,
        ..caller
    };
    let mut reply = route(app, caller, method, path, query, body)?;
    reply.body = Bytes::from(crate::fields::project(&reply.body, &fields));
    Ok(reply)
}

fn route(
    app: &Arc<App>,
    caller: Caller,
    method: &Method,
    path: &str,
    query: &Query,
    body: &[u8],
) -> ApiResult<Reply> {
    let segs = segments(path);
    let m = method.as_str();
    let public = caller.access == Access::Public;
    if public {
        let allowed = matches!(
            (m, segs.as_slice()),
            (
                "GET",
                ["products" | "categories" | "profile" | "latest-stats", ..]
            ) | ("POST", ["orders"])
        );
        if !allowed {
            return Err(ApiError::forbidden(format!(
                "The public token does not grant access to {m} {}",
                template(&segs)
            )));
        }
    }
    match (m, segs.as_slice()) {
        ("GET", ["products"]) => catalog::search_products(app, query, public, caller.gzip),
        ("POST", ["products"]) => catalog::create_product(app, body),
        ("GET", ["products", "deleted"]) => {
            tracking::deleted(app, query, crate::store::DeletedKind::Products)
        }
        ("GET", ["products", id]) => catalog::get_product(app, id, public),
        ("PUT", ["products", id]) => catalog::update_product(app, id, body),
        ("DELETE", ["products", id]) => catalog::delete_product(app, id),
        ("PUT", ["products", id, "inventory"]) => catalog::adjust_product(app, id, body),
        ("GET", ["products", id, "combinations"]) => catalog::list_combinations(app, id),
        ("POST", ["products", id, "combinations"]) => catalog::create_combination(app, id, body),
        ("DELETE", ["products", id, "combinations"]) => catalog::delete_all_combinations(app, id),
        ("GET", ["products", id, "combinations", cid]) => catalog::get_combination(app, id, cid),
        ("PUT", ["products", id, "combinations", cid]) => {
            catalog::update_combination(app, id, cid, body)
        }
        ("DELETE", ["products", id, "combinations", cid]) => {
            catalog::delete_combination(app, id, cid)
        }
        ("PUT", ["products", id, "combinations", cid, "inventory"]) => {
            catalog::adjust_combination(app, id, cid, body)
        }
        ("GET", ["categories"]) => catalog::search_categories(app, query, public),
        ("POST", ["categories"]) => catalog::create_category(app, body),
        ("GET", ["categories", id]) => catalog::get_category(app, id, public),
        ("PUT", ["categories", id]) => catalog::update_category(app, id, body),
        ("DELETE", ["categories", id]) => catalog::delete_category(app, id),
        ("GET", ["orders"]) => orders::search_orders(app, query),
        ("POST", ["orders"]) => orders::create_order(app, body),
        ("GET", ["orders", "deleted"]) => {
            tracking::deleted(app, query, crate::store::DeletedKind::Orders)
        }
        ("GET", ["orders", key]) => orders::get_order(app, key),
        ("PUT", ["orders", key]) => orders::update_order(app, key, body),
        ("DELETE", ["orders", key]) => orders::delete_order(app, key),
        ("GET", ["customers"]) => orders::search_customers(app, query),
        ("POST", ["customers"]) => orders::create_customer(app, body),
        ("GET", ["customers", "deleted"]) => {
            tracking::deleted(app, query, crate::store::DeletedKind::Customers)
        }
        ("GET", ["customers", id]) => orders::get_customer(app, id),
        ("PUT", ["customers", id]) => orders::update_customer(app, id, body),
        ("DELETE", ["customers", id]) => orders::delete_customer(app, id),
        ("GET", ["discount_coupons" | "coupons", "deleted"]) => {
            tracking::deleted(app, query, crate::store::DeletedKind::Coupons)
        }
        ("GET", ["reviews", "deleted"]) => {
            tracking::deleted(app, query, crate::store::DeletedKind::Reviews)
        }
        ("GET", ["latest-stats"]) => tracking::latest_stats(app, query),
        ("GET", ["profile"]) => Ok(Reply::json(&app.profile)),
        ("POST", ["batch"]) => crate::batch::create(app, query, body),
        ("GET", ["batch"]) => crate::batch::status(app, query),
        ("POST", ["batch", "cancel-group"]) => crate::batch::cancel_group(app, query),
        _ if template(&segs) != "(unknown)" => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method {m} is not allowed for {path}"),
        )),
        _ => Err(ApiError::not_found(format!("Resource not found: {path}"))),
    }
}

pub fn count_reply(n: &str, count: usize) -> Reply {
    Reply::json(&serde_json::json!({ n: count }))
}
