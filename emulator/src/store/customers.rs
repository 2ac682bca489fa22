//! Customers: documents with date strings only (no integer timestamps), search and writes.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Cached, Page, Store, page_of};
use crate::dates::format_date;
use crate::error::{ApiError, ApiResult};
use crate::json::{Doc, Kind, bool_of, check_types, i64_of, merge_update, require, str_of};

#[derive(Debug, Clone)]
pub struct CustomerRec {
    pub id: i64,
    pub doc: Doc,
    pub registered: i64,
    pub updated: i64,
    /// Lower-case name and email, for searches and sorting without allocating per request.
    name_lower: String,
    email_lower: String,
    cache: Cached,
}

impl CustomerRec {
    pub(crate) fn new(doc: Doc, registered: i64, updated: i64) -> CustomerRec {
        let mut doc = doc;
        if let Some(p) = doc.get_mut("billingPerson") {
            super::complete_person(p);
        }
        if let Some(Value::Array(list)) = doc.get_mut("shippingAddresses") {
            list.iter_mut().for_each(super::complete_person);
        }
        doc.insert("registered".into(), json!(format_date(registered)));
        doc.insert("updated".into(), json!(format_date(updated)));
        CustomerRec {
            id: i64_of(&doc, "id").unwrap_or(0),
            name_lower: str_of(&doc, "name").unwrap_or("").to_lowercase(),
            email_lower: str_of(&doc, "email").unwrap_or("").to_lowercase(),
            doc,
            registered,
            updated,
            cache: Cached::default(),
        }
    }
    pub fn bytes(&self) -> Bytes {
        self.cache.bytes(&self.doc)
    }
    fn name(&self) -> &str {
        &self.name_lower
    }
    fn email(&self) -> &str {
        &self.email_lower
    }
    fn orders(&self) -> i64 {
        i64_of(&self.doc, "totalOrderCount").unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CustomerSort {
    #[default]
    NameAsc,
    NameDesc,
    EmailAsc,
    EmailDesc,
    OrderCountAsc,
    OrderCountDesc,
    RegisteredAsc,
    RegisteredDesc,
    UpdatedAsc,
    UpdatedDesc,
}

impl CustomerSort {
    pub fn parse(raw: Option<&str>) -> ApiResult<CustomerSort> {
        Ok(match raw {
            None | Some("NAME_ASC") => CustomerSort::NameAsc,
            Some("NAME_DESC") => CustomerSort::NameDesc,
            Some("EMAIL_ASC") => CustomerSort::EmailAsc,
            Some("EMAIL_DESC") => CustomerSort::EmailDesc,
            Some("ORDER_COUNT_ASC") => CustomerSort::OrderCountAsc,
            Some("ORDER_COUNT_DESC") => CustomerSort::OrderCountDesc,
            Some("REGISTERED_DATE_ASC") => CustomerSort::RegisteredAsc,
            Some("REGISTERED_DATE_DESC") => CustomerSort::RegisteredDesc,
            Some("UPDATED_DATE_ASC") => CustomerSort::UpdatedAsc,
            Some("UPDATED_DATE_DESC") => CustomerSort::UpdatedDesc,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Wrong parameter 'sortBy' value: '{other}'"
                )));
            }
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct CustomerFilter {
    pub keyword: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub min_orders: Option<i64>,
    pub max_orders: Option<i64>,
    pub accept_marketing: Option<bool>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    pub group_id: Option<i64>,
    pub sort: CustomerSort,
}

impl CustomerFilter {
    fn matches(&self, c: &CustomerRec) -> bool {
        let win = |v: i64, f: Option<i64>, t: Option<i64>| {
            f.is_none_or(|f| v >= f) && t.is_none_or(|t| v <= t)
        };
        win(c.registered, self.created_from, self.created_to)
            && win(c.updated, self.updated_from, self.updated_to)
            && self.keyword.as_ref().is_none_or(|k| {
                let k = k.to_lowercase();
                c.name().contains(&k) || c.email().contains(&k)
            })
            && self
                .name
                .as_ref()
                .is_none_or(|n| c.name() == n.to_lowercase())
            && self
                .email
                .as_ref()
                .is_none_or(|e| c.email() == e.to_lowercase())
            && self.min_orders.is_none_or(|m| c.orders() >= m)
            && self.max_orders.is_none_or(|m| c.orders() <= m)
            && self
                .accept_marketing
                .is_none_or(|a| bool_of(&c.doc, "acceptMarketing").unwrap_or(true) == a)
            && self
                .group_id
                .is_none_or(|g| i64_of(&c.doc, "customerGroupId") == Some(g))
    }
}

const READ_ONLY: &[&str] = &[
    "id",
    "registered",
    "updated",
    "totalOrderCount",
    "customerGroupName",
];

const TYPES: &[(&str, Kind)] = &[
    ("email", Kind::Str),
    ("name", Kind::Str),
    ("password", Kind::Str),
    ("customerGroupId", Kind::Int),
    ("billingPerson", Kind::Object),
    ("shippingAddresses", Kind::Array),
    ("taxId", Kind::Str),
    ("taxIdValid", Kind::Bool),
    ("taxExempt", Kind::Bool),
    ("acceptMarketing", Kind::Bool),
];

impl Store {
    pub fn customer(&self, id: i64) -> ApiResult<&CustomerRec> {
        self.customers
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Customer #{id} not found")))
    }

    pub fn search_customers(&self, f: &CustomerFilter, offset: usize, limit: usize) -> Page {
        let mut list: Vec<&CustomerRec> =
            self.customers.values().filter(|c| f.matches(c)).collect();
        match f.sort {
            CustomerSort::NameAsc => list.sort_by(|a, b| (a.name(), a.id).cmp(&(b.name(), b.id))),
            CustomerSort::NameDesc => list.sort_by(|a, b| (b.name(), b.id).cmp(&(a.name(), a.id))),
            CustomerSort::EmailAsc => {
                list.sort_by(|a, b| (a.email(), a.id).cmp(&(b.email(), b.id)))
            }
            CustomerSort::EmailDesc => {
                list.sort_by(|a, b| (b.email(), b.id).cmp(&(a.email(), a.id)))
            }
            CustomerSort::OrderCountAsc => list.sort_by_key(|c| (c.orders(), c.id)),
            CustomerSort::OrderCountDesc => list.sort_by_key(|c| (-c.orders(), -c.id)),
            CustomerSort::RegisteredAsc => list.sort_by_key(|c| (c.registered, c.id)),
            CustomerSort::RegisteredDesc => list.sort_by_key(|c| (-c.registered, -c.id)),
            CustomerSort::UpdatedAsc => list.sort_by_key(|c| (c.updated, c.id)),
            CustomerSort::UpdatedDesc => list.sort_by_key(|c| (-c.updated, -c.id)),
        }
        page_of(list.into_iter(), offset, limit, CustomerRec::bytes)
    }

    fn email_taken(&self, email: &str, except: Option<i64>) -> bool {
        let wanted = email.to_lowercase();
        self.customers
            .values()
            .any(|c| Some(c.id) != except && c.email() == wanted)
    }

    pub fn create_customer(&mut self, body: &Doc) -> ApiResult<i64> {
        check_types(body, "Customer", TYPES)?;
        let email = require(body, "Customer", "email")?
            .as_str()
            .unwrap_or("")
            .to_string();
        if self.email_taken(&email, None) {
            return Err(ApiError::conflict(
                format!("Customer with email '{email}' already exists"),
                None,
            ));
        }
        let id = self.next.customer;
        self.next.customer += 1;
        let ts = self.tick();
        let mut doc = match json!({
            "id": id, "name": "", "email": email, "totalOrderCount": 0, "customerGroupId": 0,
            "customerGroupName": "General", "billingPerson": {"name": ""}, "shippingAddresses": [],
            "taxExempt": false, "taxIdValid": true, "acceptMarketing": false,
        }) {
            Value::Object(m) => m,
            _ => Doc::new(),
        };
        merge_update(&mut doc, body, READ_ONLY);
        doc.remove("password");
        self.customers.insert(id, CustomerRec::new(doc, ts, ts));
        self.touch(super::Touch::Customer(id));
        self.latest.customers = ts;
        self.emit(
            "customer.created",
            id,
            Some(json!({"customerEmail": email})),
        );
        Ok(id)
    }

    pub fn update_customer(&mut self, id: i64, patch: &Doc) -> ApiResult<()> {
        check_types(patch, "Customer", TYPES)?;
        let old = self.customer(id)?;
        if let Some(e) = str_of(patch, "email")
            && self.email_taken(e, Some(id))
        {
            return Err(ApiError::conflict(
                format!("Customer with email '{e}' already exists"),
                None,
            ));
        }
        let registered = old.registered;
        let mut doc = old.doc.clone();
        merge_update(&mut doc, patch, READ_ONLY);
        doc.remove("password");
        self.store_updated_customer(id, doc, registered);
        Ok(())
    }

    /// Keeps an edited customer document: bumps `updated` and the latest-stats date, and
    /// fires `customer.updated`.
    fn store_updated_customer(&mut self, id: i64, doc: Doc, registered: i64) {
        let ts = self.tick();
        let email = str_of(&doc, "email").unwrap_or("").to_string();
        self.customers
            .insert(id, CustomerRec::new(doc, registered, ts));
        self.touch(super::Touch::Customer(id));
        self.latest.customers = ts;
        self.emit(
            "customer.updated",
            id,
            Some(json!({"customerEmail": email})),
        );
    }

    /// Server-side changes (order counts): bumps `updated` and fires `customer.updated`.
    pub(crate) fn set_customer_fields(&mut self, id: i64, fields: &Doc) {
        let Some(old) = self.customers.get(&id) else {
            return;
        };
        let registered = old.registered;
        let mut doc = old.doc.clone();
        for (k, v) in fields {
            doc.insert(k.clone(), v.clone());
        }
        self.store_updated_customer(id, doc, registered);
    }

    pub fn delete_customer(&mut self, id: i64) -> ApiResult<()> {
        let old = self
            .customers
            .remove(&id)
            .ok_or_else(|| ApiError::not_found(format!("Customer #{id} not found")))?;
        self.touch(super::Touch::Customer(id));
        let ts = self.tick();
        self.deleted_customers.push(super::Deleted {
            id,
            order_id: None,
            ts,
        });
        self.latest.customers = ts;
        self.emit(
            "customer.deleted",
            id,
            Some(json!({"customerEmail": old.email()})),
        );
        Ok(())
    }
}
