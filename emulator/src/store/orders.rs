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
    "CUSTOM_PAYMENT_STATUS_1",
    "CUSTOM_PAYMENT_STATUS_2",
    "CUSTOM_PAYMENT_STATUS_3",
];
pub const FULFILLMENT_STATUSES: &[&str] = &[
    "AWAITING_PROCESSING",
    "PROCESSING",
    "SHIPPED",
    "DELIVERED",
    "WILL_NOT_DELIVER",
    "RETURNED",
    "READY_FOR_PICKUP",
    "OUT_FOR_DELIVERY",
    "CUSTOM_FULFILLMENT_STATUS_1",
    "CUSTOM_FULFILLMENT_STATUS_2",
    "CUSTOM_FULFILLMENT_STATUS_3",
];

/// How the store names its orders (CONTRACT.md 17.1): the n-th order gets a large,
/// non-sequential internal id (also its `orderNumber`) and a short public string id with
/// the store's prefix and suffix. Both are bijections of `n`, so they never collide.
#[derive(Clone, Debug, Default)]
pub struct OrderIds {
    pub prefix: String,
    pub suffix: String,
    /// Derived from the seed, so another seed names its orders differently.
    pub salt: u64,
}

/// The names of one order; `seq` is its place in creation order (the listing order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderIdent {
    pub seq: i64,
    pub internal: i64,
    pub public: String,
}

impl OrderIds {
    pub fn of(&self, seq: i64) -> OrderIdent {
        // Multipliers coprime with the moduli keep the maps one-to-one.
        const SPAN: i64 = 900_000_000;
        let offset = (self.salt % SPAN as u64) as i64;
        let internal = 100_000_000 + (seq.rem_euclid(SPAN) * 123_456_791 + offset).rem_euclid(SPAN);
        const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        // A leading letter keeps a public id from ever reading as an internal id.
        let modulus: i64 = 26 * 36_i64.pow(4);
        let offset = ((self.salt >> 32) % modulus as u64) as i64;
        let mut v = (seq.rem_euclid(modulus) * 7_777_777 + offset).rem_euclid(modulus);
        let mut code = [b'0'; 5];
        for slot in code[1..].iter_mut().rev() {
            *slot = ALPHABET[(v % 36) as usize];
            v /= 36;
        }
        code[0] = LETTERS[v as usize];
        OrderIdent {
            seq,
            internal,
            public: format!(
                "{}{}{}",
                self.prefix,
                String::from_utf8_lossy(&code),
                self.suffix
            ),
        }
    }
}

impl OrderIdent {
    /// The id of the tax invoice a paid order gets (one per order here).
    pub fn invoice_id(&self) -> i64 {
        7_000_000 + self.seq
    }

    /// The abandoned-cart id unfinished-order webhooks carry: a UUID derived from the order.
    pub fn cart_id(&self) -> String {
        let a = (self.internal as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = (self.seq as u64).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ a.rotate_left(17);
        format!(
            "{:08X}-{:04X}-4{:03X}-A{:03X}-{:012X}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// One order, kept serialised (a parsed tree costs tens of KB per order) plus the fields
/// searches filter on.
#[derive(Debug, Clone)]
pub struct OrderRec {
    /// Kept beside the document, so an order whose document lost its ids (an unchecked
    /// admin edit) is still found by them.
    pub ident: OrderIdent,
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
    fn from_doc(doc: Doc, ident: OrderIdent) -> OrderRec {
        OrderRec {
            ident,
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
            json: crate::json::stored_bytes(&doc),
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
    /// `ids=`: public or internal ids; every other filter is then ignored.
    pub ids: Option<Vec<String>>,
    /// `orderNumber=` when the emulator honours it (the platform ignores it).
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
                o.ident.internal.to_string() == k
                    || o.ident.public.to_lowercase() == k
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
    ("combinationId", Kind::Int),
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
pub(crate) fn order_defaults(ident: &OrderIdent) -> Doc {
    let v = json!({
        "id": ident.public, "internalId": ident.internal, "orderNumber": ident.internal,
        "vendorOrderNumber": ident.public,
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
pub(crate) fn finish_order(mut doc: Doc, ident: OrderIdent) -> OrderRec {
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
    OrderRec::from_doc(doc, ident)
}

/// The `data` of an order webhook: the public id plus, for unfinished orders, the cart.
fn event_data(ident: &OrderIdent, unfinished: bool, statuses: Option<Value>) -> Value {
    let mut data = match statuses {
        Some(Value::Object(m)) => m,
        _ => Doc::new(),
    };
    data.insert("orderId".into(), json!(ident.public));
    if unfinished {
        data.insert("cartId".into(), json!(ident.cart_id()));
    }
    Value::Object(data)
}

impl Store {
    /// An order by its public string id or its internal id.
    pub fn order(&self, key: &str) -> ApiResult<&OrderRec> {
        self.order_keys
            .get(key.trim())
            .and_then(|seq| self.orders.get(seq))
            .ok_or_else(|| ApiError::not_found(format!("Order #{key} not found")))
    }

    pub fn search_orders(&self, f: &OrderFilter, offset: usize, limit: usize) -> Page {
        let keys = f.ids.clone().or_else(|| {
            f.numbers
                .as_ref()
                .map(|n| n.iter().map(i64::to_string).collect())
        });
        if let Some(keys) = keys {
            let mut seen = std::collections::HashSet::new();
            let iter = keys
                .iter()
                .filter_map(|k| self.order_keys.get(k.trim()))
                .filter(|seq| seen.insert(**seq))
                .filter_map(|seq| self.orders.get(seq));
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

    pub(crate) fn commit_order(&mut self, doc: Doc, ident: OrderIdent) {
        self.insert_order_rec(finish_order(doc, ident));
    }

    pub(crate) fn insert_order_rec(&mut self, rec: OrderRec) {
        let ident = &rec.ident;
        self.order_keys.insert(ident.public.clone(), ident.seq);
        self.order_keys
            .insert(ident.internal.to_string(), ident.seq);
        self.touch(super::Touch::Order(ident.seq));
        self.orders.insert(ident.seq, rec);
    }

    /// Inserts a new order document and fires the matching created event.
    pub(crate) fn insert_order(
        &mut self,
        body: &Doc,
        created: Option<i64>,
    ) -> ApiResult<OrderIdent> {
        let ident = self.order_ids.of(self.next.order_seq);
        let ts = self.tick();
        let mut doc = order_defaults(&ident);
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
        self.next.order_seq += 1;
        self.commit_order(doc, ident.clone());
        self.latest.orders = ts;
        let payment = str_of(body, "paymentStatus").unwrap_or("").to_string();
        let fulfillment = str_of(body, "fulfillmentStatus").unwrap_or("").to_string();
        if payment == "INCOMPLETE" {
            self.latest.abandoned = ts;
            let data = event_data(&ident, true, None);
            self.emit("unfinished_order.created", ident.internal, Some(data));
        } else {
            let statuses =
                json!({"newPaymentStatus": payment, "newFulfillmentStatus": fulfillment});
            let data = event_data(&ident, false, Some(statuses));
            self.emit("order.created", ident.internal, Some(data));
            if payment == "PAID" {
                self.emit_invoice("invoice.created", &ident);
            }
            let coupon = body
                .get("discountCoupon")
                .and_then(|c| c.get("id"))
                .and_then(as_int);
            if let Some(coupon) = coupon {
                // The coupon's use count changed.
                self.emit_extra("discount_coupon.updated", coupon, json!({}));
            }
        }
        Ok(ident)
    }

    /// `invoice.*` (all-events mode only): a paid order gets a tax invoice.
    fn emit_invoice(&mut self, kind: &'static str, ident: &OrderIdent) {
        let data = json!({ "orderId": ident.public });
        self.emit_extra(kind, ident.invoice_id(), data);
    }

    pub fn create_order(&mut self, body: &Doc) -> ApiResult<OrderIdent> {
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
        let ident = old.ident.clone();
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
        self.store_order_edit(finish_order(doc, ident), &old_payment, &old_fulfillment, ts);
        Ok(())
    }

    /// Stores an edited order and announces the change.
    fn store_order_edit(
        &mut self,
        rec: OrderRec,
        old_payment: &str,
        old_fulfillment: &str,
        ts: i64,
    ) {
        let ident = rec.ident.clone();
        let (payment, fulfillment) = (rec.payment.clone(), rec.fulfillment.clone());
        self.insert_order_rec(rec);
        self.latest.orders = ts;
        self.emit_order_change(&ident, old_payment, old_fulfillment, &payment, &fulfillment);
    }

    /// The webhook of an order edit; an unfinished order that gets a real status is new.
    fn emit_order_change(
        &mut self,
        ident: &OrderIdent,
        old_payment: &str,
        old_fulfillment: &str,
        payment: &str,
        fulfillment: &str,
    ) {
        let statuses = json!({
            "oldPaymentStatus": old_payment, "newPaymentStatus": payment,
            "oldFulfillmentStatus": old_fulfillment, "newFulfillmentStatus": fulfillment,
        });
        let id = ident.internal;
        match (old_payment == "INCOMPLETE", payment == "INCOMPLETE") {
            (true, true) => {
                let data = event_data(ident, true, None);
                self.emit("unfinished_order.updated", id, Some(data))
            }
            (true, false) => {
                let statuses =
                    json!({"newPaymentStatus": payment, "newFulfillmentStatus": fulfillment});
                let data = event_data(ident, false, Some(statuses));
                self.emit("order.created", id, Some(data))
            }
            _ => {
                let data = event_data(ident, false, Some(statuses));
                self.emit("order.updated", id, Some(data))
            }
        }
        if payment == "PAID" && old_payment != "PAID" {
            self.emit_invoice("invoice.created", ident);
        }
    }

    /// An admin edit merged as sent, read-only fields included and without type checks, so
    /// a test can stand for a store whose orders changed shape (`null` removes a field).
    pub fn update_order_unchecked(&mut self, key: &str, patch: &Doc) -> ApiResult<()> {
        let old = self.order(key)?;
        let ident = old.ident.clone();
        let (old_payment, old_fulfillment) = (old.payment.clone(), old.fulfillment.clone());
        let mut doc = old.doc();
        let ts = self.tick();
        doc.insert("updateTimestamp".into(), json!(ts));
        merge_update(&mut doc, patch, &[]);
        self.store_order_edit(
            OrderRec::from_doc(doc, ident),
            &old_payment,
            &old_fulfillment,
            ts,
        );
        Ok(())
    }

    pub fn delete_order(&mut self, key: &str) -> ApiResult<()> {
        let seq = self.order(key)?.ident.seq;
        let Some(rec) = self.orders.remove(&seq) else {
            return Err(ApiError::not_found(format!("Order #{key} not found")));
        };
        let ident = rec.ident;
        self.order_keys.remove(&ident.public);
        self.order_keys.remove(&ident.internal.to_string());
        self.touch(super::Touch::Order(seq));
        let ts = self.tick();
        self.deleted_orders.push(super::Deleted {
            id: ident.internal,
            order_id: Some(ident.public.clone()),
            ts,
        });
        self.latest.orders = ts;
        let unfinished = rec.payment == "INCOMPLETE";
        let data = event_data(&ident, unfinished, None);
        let kind = if unfinished {
            "unfinished_order.deleted"
        } else {
            "order.deleted"
        };
        self.emit(kind, ident.internal, Some(data));
        if rec.payment == "PAID" {
            self.emit_invoice("invoice.deleted", &ident);
        }
        Ok(())
    }

    /// A storefront checkout: builds the order from the catalogue (a product with variations
    /// sells one of them, see [`storefront_choice`]), decrements tracked stock (the
    /// variation's own stock when it has its own SKU, else the product's) and fires
    /// `order.created` plus `product.updated` per product touched. Unfinished checkouts
    /// reserve no stock.
    pub fn storefront_sale(&mut self, sale: &SaleRequest) -> ApiResult<OrderIdent> {
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
            let combination_id = it
                .combination_id
                .or_else(|| storefront_choice(p, it.quantity));
            if let Some(cid) = combination_id {
                let c = &rec.combination(cid).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Variation #{cid} of product #{} not found",
                        it.product_id
                    ))
                })?;
                price = f64_of(c, "defaultDisplayedPrice").unwrap_or(price);
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
                    let modifier = super::products::choice_modifier(p, name, value);
                    options.push(selected_option(name, value, modifier));
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
            let mut item = json!({
                "productId": it.product_id, "name": str_of(p, "name").unwrap_or(""), "sku": sku,
                "quantity": it.quantity, "price": price, "productPrice": f64_of(p, "price").unwrap_or(0.0),
                "categoryId": i64_of(p, "defaultCategoryId").unwrap_or(0), "trackQuantity": tracked,
                "quantityInStock": stock.saturating_sub(it.quantity), "weight": f64_of(p, "weight").unwrap_or(0.0),
                "selectedOptions": options,
            });
            if let Some(cid) = combination_id {
                item["combinationId"] = json!(cid);
            }
            item_docs.push(item);
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
        let ident = self.insert_order(&body, None)?;
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
        Ok(ident)
    }
}

/// The variation a storefront sells when the sale names none: a product with options is
/// bought as one of its variations, never as its base product. The first variation that
/// has `quantity` in stock (its own, or the product's when it has no SKU of its own), else
/// the first one, whose stock check then refuses the sale.
fn storefront_choice(product: &Doc, quantity: i64) -> Option<i64> {
    let variations: Vec<&Doc> = product
        .get("combinations")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .collect();
    let sells = |c: &&Doc| {
        let stock_owner = if str_of(c, "sku").is_some() {
            *c
        } else {
            product
        };
        bool_of(stock_owner, "unlimited").unwrap_or(false)
            || i64_of(stock_owner, "quantity").unwrap_or(0) >= quantity
    };
    let chosen = variations
        .iter()
        .copied()
        .find(sells)
        .or(variations.first().copied())?;
    i64_of(chosen, "id")
}

/// An order item's `selectedOptions` entry for a variation's option choice.
pub(crate) fn selected_option(name: &str, value: &str, modifier: (f64, &str)) -> Value {
    json!({
        "name": name, "type": "CHOICE", "value": value, "valuesArray": [value],
        "selections": [{"selectionTitle": value, "selectionModifier": modifier.0,
            "selectionModifierType": modifier.1}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_unique_large_and_never_numeric() {
        let scheme = OrderIds {
            prefix: "A-".into(),
            suffix: String::new(),
            salt: 0x1234_5678_9abc_def0,
        };
        let idents: Vec<OrderIdent> = (1..50_000).map(|n| scheme.of(n)).collect();
        let internal: std::collections::HashSet<i64> = idents.iter().map(|i| i.internal).collect();
        let public: std::collections::HashSet<&str> =
            idents.iter().map(|i| i.public.as_str()).collect();
        assert_eq!((internal.len(), public.len()), (49_999, 49_999));
        assert!(
            internal
                .iter()
                .all(|i| (100_000_000..1_000_000_000).contains(i))
        );
        assert!(
            idents[1].internal != idents[0].internal + 1,
            "not sequential"
        );
        assert!(idents.iter().all(|i| i.public.len() == 7
            && i.public.starts_with("A-")
            && i.public.as_bytes()[2].is_ascii_uppercase()));
    }
}
