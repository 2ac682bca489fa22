//! Orders and customers over HTTP.

use std::sync::Arc;

use serde_json::json;

use super::{Reply, count_reply, path_id};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::json::parse_object;
use crate::query::Query;
use crate::store::{CustomerFilter, CustomerSort, OrderFilter};

pub fn search_orders(app: &Arc<App>, q: &Query) -> ApiResult<Reply> {
    let (offset, limit) = q.paging(100)?;
    // The platform ignores `orderNumber` (unknown parameters are ignored) unless told otherwise.
    let numbers = if app.config.honor_order_number_filter {
        q.int_list("orderNumber")?
    } else {
        None
    };
    let f = OrderFilter {
        ids: q.str_list("ids"),
        numbers,
        product_ids: q.int_list("productId")?,
        created_from: q.date("createdFrom")?,
        created_to: q.date("createdTo")?,
        updated_from: q.date("updatedFrom")?,
        updated_to: q.date("updatedTo")?,
        payment: q.str_list("paymentStatus"),
        fulfillment: q.str_list("fulfillmentStatus"),
        email: q.str("email").map(str::to_string),
        customer_id: q.int("customerId")?,
        total_from: q.num("totalFrom")?,
        total_to: q.num("totalTo")?,
        keywords: q.str("keywords").map(str::to_string),
    };
    for (name, list, allowed) in [
        ("paymentStatus", &f.payment, crate::store::PAYMENT_STATUSES),
        (
            "fulfillmentStatus",
            &f.fulfillment,
            crate::store::FULFILLMENT_STATUSES,
        ),
    ] {
        if let Some(bad) = list
            .iter()
            .flatten()
            .find(|v| !allowed.contains(&v.as_str()))
        {
            return Err(ApiError::bad_request(format!(
                "Wrong parameter '{name}' value: unknown status '{bad}'"
            )));
        }
    }
    let page =
        |s: &crate::store::Store| Reply::bytes(s.search_orders(&f, offset, limit).to_bytes());
    Ok(match (&f.ids, &f.numbers) {
        (None, None) => app.search(page),
        _ => page(&app.read()),
    })
}

pub fn get_order(app: &Arc<App>, key: &str) -> ApiResult<Reply> {
    let store = app.read();
    Ok(Reply::bytes(store.order(key)?.bytes()))
}

pub fn create_order(app: &Arc<App>, body: &[u8]) -> ApiResult<Reply> {
    let body = parse_object(body)?;
    let ident = app.write(|s| s.create_order(&body))?;
    Ok(Reply::json(
        &json!({ "id": ident.internal, "orderId": ident.public }),
    ))
}

pub fn update_order(app: &Arc<App>, key: &str, body: &[u8]) -> ApiResult<Reply> {
    let body = parse_object(body)?;
    app.write(|s| s.update_order(key, &body, false))?;
    Ok(count_reply("updateCount", 1))
}

pub fn delete_order(app: &Arc<App>, key: &str) -> ApiResult<Reply> {
    app.write(|s| s.delete_order(key))?;
    Ok(count_reply("deleteCount", 1))
}

pub fn search_customers(app: &Arc<App>, q: &Query) -> ApiResult<Reply> {
    let (offset, limit) = q.paging(100)?;
    let group = match q.int("groupId")? {
        Some(g) => Some(g),
        None => q.int("customerGroup")?,
    };
    let f = CustomerFilter {
        keyword: q.str("keyword").map(str::to_string),
        name: q.str("name").map(str::to_string),
        email: q.str("email").map(str::to_string),
        min_orders: q.int("minOrderCount")?,
        max_orders: q.int("maxOrderCount")?,
        accept_marketing: q.bool("acceptMarketing")?,
        created_from: q.date("createdFrom")?,
        created_to: q.date("createdTo")?,
        updated_from: q.date("updatedFrom")?,
        updated_to: q.date("updatedTo")?,
        group_id: group,
        sort: CustomerSort::parse(q.str("sortBy"))?,
    };
    Ok(Reply::bytes(app.search(|s| {
        s.search_customers(&f, offset, limit).to_bytes()
    })))
}

pub fn get_customer(app: &Arc<App>, id: &str) -> ApiResult<Reply> {
    let id = path_id(id, "customerId")?;
    let store = app.read();
    Ok(Reply::bytes(store.customer(id)?.bytes()))
}

pub fn create_customer(app: &Arc<App>, body: &[u8]) -> ApiResult<Reply> {
    let body = parse_object(body)?;
    let id = app.write(|s| s.create_customer(&body))?;
    Ok(Reply::json(&json!({ "id": id })))
}

pub fn update_customer(app: &Arc<App>, id: &str, body: &[u8]) -> ApiResult<Reply> {
    let id = path_id(id, "customerId")?;
    let body = parse_object(body)?;
    app.write(|s| s.update_customer(id, &body))?;
    Ok(count_reply("updateCount", 1))
}

pub fn delete_customer(app: &Arc<App>, id: &str) -> ApiResult<Reply> {
    let id = path_id(id, "customerId")?;
    app.write(|s| s.delete_customer(id))?;
    Ok(count_reply("deleteCount", 1))
}
