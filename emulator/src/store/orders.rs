//! Orders (finished and unfinished), their search, API writes and the storefront sale hook.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, Store, cents, page_of};
use crate::dates::format_date;
use crate::error::{ApiError, ApiResult};
use crate::json::{
    Doc, Kind, as_int, bool_of, check_types, f64_of, i64_of, merge_update, require, str_of,
};

pub const PAYMENT_STATUSES: &[&str] = &[
    "AWAITING_PAYMENT",
    "PAID",
    "CANCELLED",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "INCOMPLETE",
];
pub const FULFILLMENT_STATUSES: &[&str] = &[
    "AWAITING_PROCESSING",
    "PROCESSING",
    "SHIPPED",
    "DELIVERED",
    "WILL_NOT_DELIVER",
    "RETURNED",
    "READY_FOR_PICKUP",
];

/// One order, kept serialised (a parsed tree costs tens of KB per order) plus the fields
/// searches filter on.
#[derive(Debug)]
pub struct OrderRec {
    pub number: i64,
    /// The newer platform's string id (`"LN7U46"`).
    pub string_id: Option<String>,
    json: Bytes,
    pub created: i64,
    pub updated: i64,
    pub payment: String,
    pub fulfillment: String,
    total: f64,
    email: String,
    customer_id: Option<i64>,
    product_ids: Vec<i64>,
    /// Lower-case item names and SKUs, for `keywords`.
    item_text: Vec<(String, String)>,
}

impl OrderRec {
    fn from_doc(doc: Doc) -> OrderRec {
        OrderRec {
            number: i64_of(&doc, "orderNumber").unwrap_or(0),
            string_id: str_of(&doc, "id").map(str::to_string),
            created: i64_of(&doc, "createTimestamp").unwrap_or(0),
            updated: i64_of(&doc, "updateTimestamp").unwrap_or(0),
            payment: str_of(&doc, "paymentStatus").unwrap_or("").to_string(),
            fulfillment: str_of(&doc, "fulfillmentStatus").unwrap_or("").to_string(),
            total: f64_of(&doc, "total").unwrap_or(0.0),
            email: str_of(&doc, "email").unwrap_or("").to_lowercase(),
            customer_id: i64_of(&doc, "customerId"),
            product_ids: items(&doc).filter_map(|i| i64_of(i, "productId")).collect(),
            item_text: items(&doc)
                .map(|i| {
                    (
                        str_of(i, "name").unwrap_or("").to_lowercase(),
                        str_of(i, "sku").unwrap_or("").to_lowercase(),
                    )
                })
                .collect(),
            json: Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
        }
    }
    pub fn bytes(&self) -> Bytes {
        self.json.clone()
    }
    /// The document, parsed (for writes).
    pub fn doc(&self) -> Doc {
        serde_json::from_slice(&self.json).unwrap_or_default()
    }
    pub fn is_unfinished(&self) -> bool {
        self.payment == "INCOMPLETE"
    }
}

fn items(doc: &Doc) -> impl Iterator<Item = &Doc> {
    doc.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub numbers: Option<Vec<i64>>,
    pub product_ids: Option<Vec<i64>>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    pub payment: Option<Vec<String>>,
    pub fulfillment: Option<Vec<String>>,
    pub email: Option<String>,
    pub customer_id: Option<i64>,
    pub total_from: Option<f64>,
    pub total_to: Option<f64>,
    pub keywords: Option<String>,
}

impl OrderFilter {
    fn matches(&self, o: &OrderRec) -> bool {
        let win = |v: i64, f: Option<i64>, t: Option<i64>| {
            f.is_none_or(|f| v >= f) && t.is_none_or(|t| v <= t)
        };
        let payment_ok = match &self.payment {
            Some(list) => list.contains(&o.payment),
            // Unfinished checkouts only show up when asked for by status.
            None => !o.is_unfinished(),
        };
        payment_ok
            && self
                .fulfillment
                .as_ref()
                .is_none_or(|l| l.contains(&o.fulfillment))
            && win(o.created, self.created_from, self.created_to)
            && win(o.updated, self.updated_from, self.updated_to)
            && self.total_from.is_none_or(|t| o.total >= t)
            && self.total_to.is_none_or(|t| o.total <= t)
            && self
                .email
                .as_ref()
                .is_none_or(|e| o.email == e.to_lowercase())
            && self.customer_id.is_none_or(|c| o.customer_id == Some(c))
            && self
                .product_ids
                .as_ref()
                .is_none_or(|ids| o.product_ids.iter().any(|p| ids.contains(p)))
            && self.keywords.as_ref().is_none_or(|k| {
                let k = k.to_lowercase();
                o.number.to_string() == k
                    || o.email.contains(&k)
                    || o.item_text
                        .iter()
                        .any(|(name, sku)| name.contains(&k) || *sku == k)
            })
    }
}

/// The storefront checkout the control plane simulates.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaleRequest {
    pub items: Vec<SaleItem>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub fulfillment_status: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub customer_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaleItem {
    pub product_id: i64,
    #[serde(default)]
    pub combination_id: Option<i64>,
    pub quantity: i64,
}

const READ_ONLY: &[&str] = &[
    "orderNumber",
    "id",
    "vendorOrderNumber",
    "createTimestamp",
    "updateTimestamp",
    "updateDate",
    "usdTotal",
    "customerGroupId",
    "refundedAmount",
    "refunds",
    "predictedPackage",
    "predictedPackages",
    "orderExtraFields",
    "extraFields",
];

const TYPES: &[(&str, Kind)] = &[
    ("paymentStatus", Kind::Str),
    ("fulfillmentStatus", Kind::Str),
    ("items", Kind::Array),
    ("total", Kind::Num),
    ("subtotal", Kind::Num),
    ("tax", Kind::Num),
    ("email", Kind::Str),
    ("customerId", Kind::Int),
    ("hidden", Kind::Bool),
    ("billingPerson", Kind::Object),
    ("shippingPerson", Kind::Object),
    ("shippingOption", Kind::Object),
    ("trackingNumber", Kind::Str),
    ("privateAdminNotes", Kind::Str),
    ("orderComments", Kind::Str),
    ("createDate", Kind::Str),
    ("discount", Kind::Num),
    ("couponDiscount", Kind::Num),
    ("acceptMarketing", Kind::Bool),
    ("externalFulfillment", Kind::Bool),
];

const ITEM_TYPES: &[(&str, Kind)] = &[
    ("id", Kind::Int),
    ("productId", Kind::Int),
    ("name", Kind::Str),
    ("sku", Kind::Str),
    ("quantity", Kind::Int),
    ("price", Kind::Num),
    ("selectedOptions", Kind::Array),
];

fn check_status(body: &Doc, for_update: bool) -> ApiResult<()> {
    if let Some(p) = str_of(body, "paymentStatus") {
        if p == "QUEUED" {
            return Err(ApiError::bad_request(
                "Status QUEUED is deprecated, use AWAITING_PAYMENT instead",
            ));
        }
        if !PAYMENT_STATUSES.contains(&p) || (for_update && p == "INCOMPLETE") {
            return Err(ApiError::bad_request(format!(
                "Field Order.paymentStatus: unknown or not allowed value '{p}'"
            )));
        }
    }
    if let Some(f) = str_of(body, "fulfillmentStatus")
        && !FULFILLMENT_STATUSES.contains(&f)
    {
        return Err(ApiError::bad_request(format!(
            "Field Order.fulfillmentStatus: unknown value '{f}'"
        )));
    }
    Ok(())
}

/// Every documented order field with a neutral value, so orders created through the API
/// have the same shape as generated ones.
pub(crate) fn order_defaults(number: i64, id: &str) -> Doc {
    let v = json!({
        "orderNumber": number, "id": id, "vendorOrderNumber": number.to_string(),
        "subtotal": 0, "total": 0, "usdTotal": 0, "tax": 0,
        "paymentMethod": "", "paymentModule": "", "refererUrl": "", "globalReferer": "",
        "hidden": false, "orderComments": "", "privateAdminNotes": "", "email": "", "ipAddress": "",
        "customerGroupId": 0, "customerGroup": "General", "customerTaxExempt": false,
        "customerTaxId": "", "customerTaxIdValid": false, "reversedTaxApplied": false,
        "discount": 0, "couponDiscount": 0, "volumeDiscount": 0, "membershipBasedDiscount": 0,
        "totalAndMembershipBasedDiscount": 0, "customDiscount": [], "discountInfo": [],
        "items": [], "refundedAmount": 0, "refunds": [],
        "shippingPerson": {"name": "", "companyName": "", "street": "", "city": "", "countryCode": "",
            "countryName": "", "postalCode": "", "stateOrProvinceCode": "", "stateOrProvinceName": "", "phone": ""},
        "shippingOption": {"shippingCarrierName": "", "shippingMethodName": "", "shippingRate": 0,
            "estimatedTransitTime": "", "isPickup": false},
        "handlingFee": {"name": "Handling Fee", "value": 0, "description": ""},
        "predictedPackage": [], "taxesOnShipping": [], "additionalInfo": {}, "paymentParams": {},
        "orderExtraFields": [], "acceptMarketing": false, "refererId": "",
        "disableAllCustomerNotifications": false, "externalFulfillment": false,
    });
    match v {
        Value::Object(m) => m,
        _ => Doc::new(),
    }
}

fn item_defaults(id: i64) -> Doc {
    let v = json!({
        "id": id, "productId": 0, "categoryId": 0, "price": 0, "productPrice": 0, "sku": "",
        "quantity": 1, "shortDescription": "", "tax": 0, "shipping": 0, "quantityInStock": 0,
        "name": "", "isShippingRequired": true, "weight": 0, "trackQuantity": false,
        "fixedShippingRateOnly": false, "imageUrl": "", "smallThumbnailUrl": "", "hdThumbnailUrl": "",
        "fixedShippingRate": 0, "digital": false, "couponApplied": false, "selectedOptions": [],
        "taxes": [], "dimensions": {"length": 0, "width": 0, "height": 0}, "couponAmount": 0, "discounts": [],
    });
    match v {
        Value::Object(m) => m,
        _ => Doc::new(),
    }
}

/// Derived fields of an order document (dates, `usdTotal`, output-only person names) and
/// its record; pure, so generation can run it on several threads.
pub(crate) fn finish_order(mut doc: Doc) -> OrderRec {
    let created = i64_of(&doc, "createTimestamp").unwrap_or(0);
    let updated = i64_of(&doc, "updateTimestamp").unwrap_or(created);
    doc.insert("createDate".into(), json!(format_date(created)));
    doc.insert("updateDate".into(), json!(format_date(updated)));
    if let Some(t) = doc.get("total").cloned() {
        doc.insert("usdTotal".into(), t);
    }
    for key in ["billingPerson", "shippingPerson"] {
        if let Some(p) = doc.get_mut(key) {
            super::complete_person(p);
        }
    }
    OrderRec::from_doc(doc)
}

/// The string `id` newer Ecwid gives orders: a bijection of the number, so it is unique.
pub fn order_string_id(number: i64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let modulus: i64 = 36_i64.pow(6);
    let mut v = (number.rem_euclid(modulus) * 1_299_709 + 7_777_777).rem_euclid(modulus);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Store {
    pub fn order(&self, key: &str) -> ApiResult<&OrderRec> {
        let number = match key.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => self.order_ids.get(key).copied(),
        };
        number
            .and_then(|n| self.orders.get(&n))
            .ok_or_else(|| ApiError::not_found(format!("Order #{key} not found")))
    }

    pub fn search_orders(&self, f: &OrderFilter, offset: usize, limit: usize) -> Page {
        if let Some(numbers) = &f.numbers {
            let mut seen = std::collections::HashSet::new();
            let iter = numbers
                .iter()
                .filter(|n| seen.insert(**n))
                .filter_map(|n| self.orders.get(n));
            return page_of(iter, offset, limit, OrderRec::bytes);
        }
        page_of(
            self.orders.values().filter(|o| f.matches(o)),
            offset,
            limit,
            OrderRec::bytes,
        )
    }

    /// Item defaults, ids for new items, and the types the contract fixes.
    fn normalize_items(&mut self, list: &[Value]) -> ApiResult<Vec<Value>> {
        let mut out = Vec::with_capacity(list.len());
        for item in list {
            let Value::Object(item) = item else {
                return Err(ApiError::bad_request(
                    "Field Order.items: every item must be an object",
                ));
            };
            check_types(item, "OrderItem", ITEM_TYPES)?;
            require(item, "OrderItem", "name")?;
            require(item, "OrderItem", "quantity")?;
            let id = match item.get("id").and_then(as_int) {
                Some(id) => id,
                None => {
                    self.next.order_item += 1;
                    self.next.order_item
                }
            };
            let mut doc = item_defaults(id);
            merge_update(&mut doc, item, &[]);
            doc.insert("id".into(), json!(id));
            if !item.contains_key("productPrice") {
                doc.insert(
                    "productPrice".into(),
                    doc.get("price").cloned().unwrap_or(json!(0)),
                );
            }
            out.push(Value::Object(doc));
        }
        Ok(out)
    }

    pub(crate) fn commit_order(&mut self, doc: Doc) {
        self.insert_order_rec(finish_order(doc));
    }

    pub(crate) fn insert_order_rec(&mut self, rec: OrderRec) {
        if let Some(id) = &rec.string_id {
            self.order_ids.insert(id.clone(), rec.number);
        }
        self.orders.insert(rec.number, rec);
    }

    /// Inserts a new order document and fires the matching created event.
    pub(crate) fn insert_order(&mut self, body: &Doc, created: Option<i64>) -> ApiResult<i64> {
        let number = self.next.order_number;
        let ts = self.tick();
        let mut doc = order_defaults(number, &order_string_id(number));
        let item_list = body
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let item_list = self.normalize_items(&item_list)?;
        merge_update(&mut doc, body, READ_ONLY);
        let subtotal = cents(
            item_list
                .iter()
                .map(|i| {
                    i.get("price").and_then(Value::as_f64).unwrap_or(0.0)
                        * i.get("quantity").and_then(Value::as_f64).unwrap_or(0.0)
                })
                .sum(),
        );
        if !body.contains_key("subtotal") {
            doc.insert("subtotal".into(), json!(subtotal));
        }
        if !body.contains_key("total") {
            doc.insert("total".into(), json!(subtotal));
        }
        doc.insert("items".into(), Value::Array(item_list));
        let created = created
            .or_else(|| str_of(body, "createDate").and_then(crate::dates::parse_date))
            .unwrap_or(ts);
        doc.insert("createTimestamp".into(), json!(created));
        doc.insert("updateTimestamp".into(), json!(ts));
        self.next.order_number += 1;
        self.commit_order(doc);
        self.latest.orders = ts;
        let payment = str_of(body, "paymentStatus").unwrap_or("").to_string();
        let fulfillment = str_of(body, "fulfillmentStatus").unwrap_or("").to_string();
        if payment == "INCOMPLETE" {
            self.latest.abandoned = ts;
            self.emit("unfinished_order.created", number, None);
        } else {
            let data = json!({"newPaymentStatus": payment, "newFulfillmentStatus": fulfillment});
            self.emit("order.created", number, Some(data));
        }
        Ok(number)
    }

    pub fn create_order(&mut self, body: &Doc) -> ApiResult<i64> {
        check_types(body, "Order", TYPES)?;
        require(body, "Order", "paymentStatus")?;
        require(body, "Order", "fulfillmentStatus")?;
        check_status(body, false)?;
        self.insert_order(body, None)
    }

    /// `admin` edits (control plane) may also set `INCOMPLETE`, which the API refuses.
    pub fn update_order(&mut self, key: &str, patch: &Doc, admin: bool) -> ApiResult<()> {
        check_types(patch, "Order", TYPES)?;
        check_status(patch, !admin)?;
        let old = self.order(key)?;
        let number = old.number;
        let (old_payment, old_fulfillment) = (old.payment.clone(), old.fulfillment.clone());
        let mut doc = old.doc();
        let new_items = match patch.get("items").and_then(Value::as_array) {
            Some(list) => Some(self.normalize_items(list)?),
            None => None,
        };
        merge_update(&mut doc, patch, READ_ONLY);
        if let Some(list) = new_items {
            // `items` is replaced as a whole: items left out are removed.
            doc.insert("items".into(), Value::Array(list));
        }
        let ts = self.tick();
        doc.insert("updateTimestamp".into(), json!(ts));
        let payment = str_of(&doc, "paymentStatus").unwrap_or("").to_string();
        let fulfillment = str_of(&doc, "fulfillmentStatus").unwrap_or("").to_string();
        self.commit_order(doc);
        self.latest.orders = ts;
        let data = json!({
            "oldPaymentStatus": old_payment, "newPaymentStatus": payment,
            "oldFulfillmentStatus": old_fulfillment, "newFulfillmentStatus": fulfillment,
        });
        match (old_payment == "INCOMPLETE", payment == "INCOMPLETE") {
            (true, true) => self.emit("unfinished_order.updated", number, None),
            (true, false) => self.emit("order.created", number, Some(data)),
            _ => self.emit("order.updated", number, Some(data)),
        }
        Ok(())
    }

    pub fn delete_order(&mut self, key: &str) -> ApiResult<()> {
        let number = self.order(key)?.number;
        let Some(rec) = self.orders.remove(&number) else {
            return Err(ApiError::not_found(format!("Order #{key} not found")));
        };
        if let Some(id) = &rec.string_id {
            self.order_ids.remove(id);
        }
        let ts = self.tick();
        self.deleted_orders.push((number, ts));
        self.latest.orders = ts;
        if rec.is_unfinished() {
            self.emit("unfinished_order.deleted", number, None);
        } else {
            self.emit("order.deleted", number, None);
        }
        Ok(())
    }

    /// A storefront checkout: builds the order from the catalogue, decrements tracked stock
    /// (the variation's own stock when it has its own SKU, else the product's) and fires
    /// `order.created` plus `product.updated` per product touched. Unfinished checkouts
    /// reserve no stock.
    pub fn storefront_sale(&mut self, sale: &SaleRequest) -> ApiResult<i64> {
        if sale.items.is_empty() {
            return Err(ApiError::bad_request("Field items is empty"));
        }
        let payment = sale.payment_status.clone().unwrap_or_else(|| "PAID".into());
        let fulfillment = sale
            .fulfillment_status
            .clone()
            .unwrap_or_else(|| "AWAITING_PROCESSING".into());
        let status_doc = json!({"paymentStatus": payment, "fulfillmentStatus": fulfillment});
        if let Value::Object(m) = &status_doc {
            check_status(m, false)?;
        }
        let mut item_docs = Vec::new();
        // (product id, variation id owning the stock, quantity)
        let mut decrements: Vec<(i64, Option<i64>, i64)> = Vec::new();
        for it in &sale.items {
            if it.quantity <= 0 {
                return Err(ApiError::bad_request(
                    "Field items.quantity must be positive",
                ));
            }
            let rec = self.product(it.product_id).ok_or_else(|| {
                ApiError::not_found(format!("Product #{} not found", it.product_id))
            })?;
            let p = &rec.doc();
            let mut price = f64_of(p, "price").unwrap_or(0.0);
            let mut sku = str_of(p, "sku").unwrap_or("").to_string();
            let mut options = Vec::new();
            let mut tracked = !bool_of(p, "unlimited").unwrap_or(false);
            let mut stock = i64_of(p, "quantity").unwrap_or(0);
            let mut owner = None;
            if let Some(cid) = it.combination_id {
                let c = &rec.combination(cid).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Variation #{cid} of product #{} not found",
                        it.product_id
                    ))
                })?;
                price = f64_of(c, "price").unwrap_or(price);
                if let Some(s) = str_of(c, "sku") {
                    sku = s.to_string();
                    owner = Some(cid);
                    tracked = !bool_of(c, "unlimited").unwrap_or(false);
                    stock = i64_of(c, "quantity").unwrap_or(0);
                }
                for o in c
                    .get("options")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = o.get("name").and_then(Value::as_str).unwrap_or("");
                    let value = o.get("value").and_then(Value::as_str).unwrap_or("");
                    options.push(json!({
                        "name": name, "type": "CHOICE", "value": value, "valuesArray": [value],
                        "selections": [{"selectionTitle": value, "selectionModifier": 0, "selectionModifierType": "ABSOLUTE"}],
                    }));
                }
            }
            if tracked && payment != "INCOMPLETE" {
                let already = decrements
                    .iter()
                    .filter(|d| d.0 == it.product_id && d.1 == owner)
                    .fold(0i64, |acc, d| acc.saturating_add(d.2));
                let left = stock.saturating_sub(already);
                if left < it.quantity {
                    return Err(ApiError::conflict(
                        format!(
                            "Not enough stock for product #{}: {} left, {} requested",
                            it.product_id, left, it.quantity
                        ),
                        None,
                    ));
                }
                decrements.push((it.product_id, owner, it.quantity));
            }
            item_docs.push(json!({
                "productId": it.product_id, "name": str_of(p, "name").unwrap_or(""), "sku": sku,
                "quantity": it.quantity, "price": price, "productPrice": f64_of(p, "price").unwrap_or(0.0),
                "categoryId": i64_of(p, "defaultCategoryId").unwrap_or(0), "trackQuantity": tracked,
                "quantityInStock": stock.saturating_sub(it.quantity), "weight": f64_of(p, "weight").unwrap_or(0.0),
                "selectedOptions": options,
            }));
        }
        let mut body = json!({
            "paymentStatus": payment, "fulfillmentStatus": fulfillment, "items": item_docs,
            "paymentMethod": "Credit card", "email": sale.email.clone().unwrap_or_else(|| "shopper@example.com".into()),
        });
        if let (Some(c), Value::Object(m)) = (sale.customer_id, &mut body) {
            m.insert("customerId".into(), json!(c));
        }
        let Value::Object(body) = body else {
            return Err(ApiError::bad_request("bad sale"));
        };
        let number = self.insert_order(&body, None)?;
        if let Some(cid) = sale.customer_id
            && payment != "INCOMPLETE"
            && self.customers.contains_key(&cid)
        {
            let patch = {
                let count = self
                    .customers
                    .get(&cid)
                    .map_or(0, |c| i64_of(&c.doc, "totalOrderCount").unwrap_or(0));
                let mut m = Doc::new();
                m.insert("totalOrderCount".into(), json!(count + 1));
                m
            };
            self.set_customer_fields(cid, &patch);
        }
        for (pid, owner, qty) in decrements {
            self.modify_product(pid, |doc, _| {
                match owner {
                    None => {
                        let q = i64_of(doc, "quantity").unwrap_or(0).saturating_sub(qty);
                        doc.insert("quantity".into(), json!(q));
                    }
                    Some(cid) => {
                        if let Some(Value::Array(list)) = doc.get_mut("combinations") {
                            for c in list.iter_mut().filter_map(Value::as_object_mut) {
                                if i64_of(c, "id") == Some(cid) {
                                    let q = i64_of(c, "quantity").unwrap_or(0).saturating_sub(qty);
                                    c.insert("quantity".into(), json!(q));
                                }
                            }
                        }
                    }
                }
                Ok(())
            })?;
        }
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_string_ids_are_unique_and_short() {
        let ids: std::collections::HashSet<String> = (1..20_000).map(order_string_id).collect();
        assert_eq!(ids.len(), 19_999);
        assert!(ids.iter().all(|i| i.len() == 6));
    }
}
