//! Products, variations and categories over HTTP: parameter parsing and reply shapes.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Reply, count_reply, path_id};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::json::{Doc, as_int, parse_object};
use crate::query::Query;
use crate::store::{CategoryFilter, ProductFilter, ProductSort};

pub fn search_products(app: &Arc<App>, q: &Query, public: bool, gzip: bool) -> ApiResult<Reply> {
    let (offset, limit) = q.paging(100)?;
    let keyword = q.str("keyword").map(str::to_string);
    let f = ProductFilter {
        ids: q.int_list("productId")?,
        sku: q.str("sku").map(str::to_string),
        enabled: q.bool("enabled")?,
        in_stock: q.bool("inStock")?,
        created_from: q.date("createdFrom")?,
        created_to: q.date("createdTo")?,
        updated_from: q.date("updatedFrom")?,
        updated_to: q.date("updatedTo")?,
        category: q.int("category")?,
        with_subcategories: q.bool("withSubcategories")?.unwrap_or(false),
        price_from: q.num("priceFrom")?,
        price_to: q.num("priceTo")?,
        sort: ProductSort::parse(q.str("sortBy"))?,
        keyword,
        public_view: public,
        gzip,
    };
    q.bool("cleanUrls")?;
    let page = |s: &crate::store::Store| Reply::page(&s.search_products(&f, offset, limit));
    // An id list reads the store; every other listing goes through the search index.
    Ok(match f.ids {
        Some(_) => page(&app.read()),
        None => app.search(page),
    })
}

pub fn get_product(app: &Arc<App>, id: &str, public: bool) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let store = app.read();
    let rec = store
        .product(id)
        .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
    if public && !rec.enabled {
        return Ok(Reply::json(&json!({ "id": id, "enabled": false })));
    }
    Ok(Reply::bytes(rec.bytes()))
}

pub fn create_product(app: &Arc<App>, body: &[u8]) -> ApiResult<Reply> {
    let body = parse_object(body)?;
    let id = app.write(|s| s.create_product(&body))?;
    Ok(Reply::json(&json!({ "id": id })))
}

pub fn update_product(app: &Arc<App>, id: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let body = parse_object(body)?;
    app.write(|s| s.update_product(id, &body))?;
    Ok(count_reply("updateCount", 1))
}

pub fn delete_product(app: &Arc<App>, id: &str) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    app.write(|s| s.delete_product(id))?;
    Ok(count_reply("deleteCount", 1))
}

fn quantity_delta(body: &[u8]) -> ApiResult<i64> {
    let body: Doc = parse_object(body)?;
    match body.get("quantityDelta") {
        None | Some(Value::Null) => Err(ApiError::bad_request("Field quantityDelta is absent")),
        Some(v) => as_int(v).ok_or_else(|| {
            ApiError::bad_request("Field quantityDelta has a wrong type: expected an integer")
        }),
    }
}

fn inventory_reply(warning: Option<String>) -> Reply {
    match warning {
        Some(w) => Reply::json(&json!({ "updateCount": 1, "warning": w })),
        None => count_reply("updateCount", 1),
    }
}

pub fn adjust_product(app: &Arc<App>, id: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let delta = quantity_delta(body)?;
    let warning = app.write(|s| s.adjust_product_inventory(id, delta))?;
    Ok(inventory_reply(warning))
}

pub fn list_combinations(app: &Arc<App>, id: &str) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    Ok(Reply::bytes(app.read().combinations_bytes(id)?))
}

pub fn get_combination(app: &Arc<App>, id: &str, cid: &str) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let cid = path_id(cid, "combinationId")?;
    let store = app.read();
    Ok(Reply::json(&Value::Object(store.combination(id, cid)?)))
}

pub fn create_combination(app: &Arc<App>, id: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let body = parse_object(body)?;
    let cid = app.write(|s| s.create_combination(id, &body))?;
    Ok(Reply::json(&json!({ "id": cid })))
}

pub fn update_combination(app: &Arc<App>, id: &str, cid: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let cid = path_id(cid, "combinationId")?;
    let body = parse_object(body)?;
    app.write(|s| s.update_combination(id, cid, &body))?;
    Ok(count_reply("updateCount", 1))
}

pub fn delete_combination(app: &Arc<App>, id: &str, cid: &str) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let cid = path_id(cid, "combinationId")?;
    app.write(|s| s.delete_combination(id, cid))?;
    Ok(count_reply("deleteCount", 1))
}

pub fn delete_all_combinations(app: &Arc<App>, id: &str) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let n = app.write(|s| s.delete_all_combinations(id))?;
    Ok(count_reply("deleteCount", n))
}

pub fn adjust_combination(app: &Arc<App>, id: &str, cid: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "productId")?;
    let cid = path_id(cid, "combinationId")?;
    let delta = quantity_delta(body)?;
    let warning = app.write(|s| s.adjust_combination_inventory(id, cid, delta))?;
    Ok(inventory_reply(warning))
}

pub fn search_categories(app: &Arc<App>, q: &Query, public: bool) -> ApiResult<Reply> {
    let (offset, limit) = q.paging(100)?;
    let f = CategoryFilter {
        ids: q.int_list("categoryIds")?,
        parent: q.int("parent")?,
        hidden: q.bool("hidden_categories")?.unwrap_or(false),
        product_ids: q.bool("productIds")?.unwrap_or(false),
        public_view: public,
    };
    q.bool("cleanUrls")?;
    let page =
        |s: &crate::store::Store| Reply::bytes(s.search_categories(&f, offset, limit).to_bytes());
    Ok(match f.ids {
        Some(_) => page(&app.read()),
        None => app.search(page),
    })
}

pub fn get_category(app: &Arc<App>, id: &str, public: bool) -> ApiResult<Reply> {
    let id = path_id(id, "categoryId")?;
    let store = app.read();
    let c = store.category(id)?;
    if public && !c.enabled() {
        return Ok(Reply::json(&json!({ "id": id, "enabled": false })));
    }
    Ok(Reply::bytes(store.category_bytes(c, true)))
}

pub fn create_category(app: &Arc<App>, body: &[u8]) -> ApiResult<Reply> {
    let body = parse_object(body)?;
    let id = app.write(|s| s.create_category(&body))?;
    Ok(Reply::json(&json!({ "id": id })))
}

pub fn update_category(app: &Arc<App>, id: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "categoryId")?;
    let body = parse_object(body)?;
    app.write(|s| s.update_category(id, &body))?;
    Ok(count_reply("updateCount", 1))
}

pub fn delete_category(app: &Arc<App>, id: &str) -> ApiResult<Reply> {
    let id = path_id(id, "categoryId")?;
    app.write(|s| s.delete_category(id))?;
    Ok(count_reply("deleteCount", 1))
}
