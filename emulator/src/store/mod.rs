//! The store: every entity as a JSON document shaped like the samples, with the indexes and
//! cached serialisations that keep a 100k-product page cheap. Mutations record the webhook
//! events they cause in `outbox`; the caller forwards them after releasing the lock, and
//! the entities they wrote in `touched`, which the lagging search index follows.

mod categories;
mod combinations;
mod customers;
mod index;
mod orders;
mod products;
mod snapshot;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use crate::dates::{format_date, now};
use crate::json::Doc;

pub(crate) use categories::finish_category;
pub use categories::{CategoryFilter, CategoryRec};
pub use customers::{CustomerFilter, CustomerRec, CustomerSort};
pub use index::SortedVec;
pub use orders::{FULFILLMENT_STATUSES, PAYMENT_STATUSES};
pub use orders::{OrderFilter, OrderIds, OrderRec, SaleRequest};
pub(crate) use orders::{finish_order, order_defaults, selected_option};
pub use products::{ProductFilter, ProductRec, ProductSort};
pub(crate) use products::{choice_modifier, prepare_generated_product, variation_price};
pub use snapshot::Snapshot;

/// A change the webhook sender will announce.
#[derive(Clone, Debug)]
pub struct Event {
    pub event_type: Cow<'static, str>,
    /// A number, except for `application.*` events, which send a string.
    pub entity_id: Value,
    pub data: Option<Value>,
    pub created: i64,
}

/// A lazily built serialisation of a document; replaced (not mutated) on every change, so
/// readers under the shared lock can fill it without a write lock.
#[derive(Default, Debug, Clone)]
pub struct Cached(OnceLock<Bytes>);

impl Cached {
    pub fn bytes(&self, doc: &Doc) -> Bytes {
        self.0
            .get_or_init(|| crate::json::stored_bytes(doc))
            .clone()
    }
}

/// `latest-stats` dates, kept as UNIX seconds.
#[derive(Clone, Debug)]
pub struct LatestStats {
    pub products: i64,
    pub categories: i64,
    pub orders: i64,
    pub customers: i64,
    pub profile: i64,
    pub coupons: i64,
    pub abandoned: i64,
}

/// One search result page before serialisation.
pub struct Page {
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<Bytes>,
    /// Pre-compressed pieces of `items`, when the search collected them.
    pub gz: Option<Vec<crate::gzip::Segment>>,
}

impl Page {
    /// The envelope gzip-compressed from the items' cached pieces, if they were collected.
    pub fn to_gzip(&self) -> Option<Bytes> {
        static COMMA: OnceLock<crate::gzip::Segment> = OnceLock::new();
        static END: OnceLock<crate::gzip::Segment> = OnceLock::new();
        let items = self.gz.as_ref()?;
        let head = crate::gzip::Segment::new(self.head().as_bytes());
        let comma = COMMA.get_or_init(|| crate::gzip::Segment::new(b","));
        let end = END.get_or_init(|| crate::gzip::Segment::new(b"]}"));
        let mut pieces = Vec::with_capacity(items.len() * 2 + 2);
        pieces.push(&head);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                pieces.push(comma);
            }
            pieces.push(item);
        }
        pieces.push(end);
        Some(crate::gzip::assemble(pieces))
    }

    fn head(&self) -> String {
        format!(
            r#"{{"total":{},"count":{},"offset":{},"limit":{},"items":["#,
            self.total,
            self.items.len(),
            self.offset,
            self.limit
        )
    }

    /// The documented envelope, built by concatenating cached item bytes.
    pub fn to_bytes(&self) -> Bytes {
        let size: usize = self.items.iter().map(|b| b.len() + 1).sum::<usize>() + 96;
        let mut out = BytesMut::with_capacity(size);
        out.put_slice(self.head().as_bytes());
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            out.put_slice(item);
        }
        out.put_slice(b"]}");
        out.freeze()
    }
}

/// Selects `[offset, offset+limit)` of an iterator while counting all of it.
pub fn page_of<T>(
    iter: impl Iterator<Item = T>,
    offset: usize,
    limit: usize,
    mut item: impl FnMut(T) -> Bytes,
) -> Page {
    let mut total = 0;
    let mut items = Vec::with_capacity(limit.min(100));
    for x in iter {
        if total >= offset && items.len() < limit {
            items.push(item(x));
        }
        total += 1;
    }
    Page {
        total,
        offset,
        limit,
        items,
        gz: None,
    }
}

/// One entry of a `/deleted` list.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// Product id, order internal id or customer id.
    pub id: i64,
    /// The order's public string id (orders only).
    pub order_id: Option<String>,
    pub ts: i64,
}

/// An entity a mutation wrote; the lagging search index follows these (`crate::lag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Touch {
    Product(i64),
    Category(i64),
    /// By `seq`.
    Order(i64),
    Customer(i64),
}

/// Ids are never reused, so the deleted lists and the webhooks stay unambiguous.
#[derive(Clone, Debug)]
pub struct IdCounters {
    pub product: i64,
    pub combination: i64,
    pub category: i64,
    /// The next order's place in creation order; its ids derive from it (`OrderIds`).
    pub order_seq: i64,
    pub order_item: i64,
    pub customer: i64,
}

pub struct Store {
    pub store_id: i64,
    pub(crate) products: BTreeMap<i64, ProductRec>,
    /// Product ids ascending, and (timestamp, id) pairs: the orders pages are cut from.
    pub(crate) product_ids: SortedVec<products::Hot>,
    pub(crate) products_by_created: SortedVec<(i64, i64)>,
    pub(crate) products_by_updated: SortedVec<(i64, i64)>,
    /// SKU -> (product id, variation id when the SKU is a variation's own).
    pub(crate) skus: HashMap<String, (i64, Option<i64>)>,
    pub(crate) categories: BTreeMap<i64, CategoryRec>,
    /// Orders by `seq` (creation order, the listing order).
    pub(crate) orders: BTreeMap<i64, OrderRec>,
    /// Public string id and internal id (as text) -> `seq`.
    pub(crate) order_keys: HashMap<String, i64>,
    pub(crate) order_ids: OrderIds,
    /// `--webhook-events all`: also send the side events a real store sends.
    pub(crate) all_events: bool,
    pub(crate) customers: BTreeMap<i64, CustomerRec>,
    pub(crate) deleted_products: Vec<Deleted>,
    pub(crate) deleted_orders: Vec<Deleted>,
    pub(crate) deleted_customers: Vec<Deleted>,
    pub latest: LatestStats,
    pub(crate) next: IdCounters,
    pub(crate) outbox: Vec<Event>,
    /// Entities written since the last `take_touched`.
    touched: Vec<Touch>,
    /// The last timestamp handed out, so deletion lists stay ascending even if the clock steps back.
    last_ts: i64,
}

impl Store {
    pub fn empty(store_id: i64, base_time: i64) -> Store {
        Store {
            store_id,
            products: BTreeMap::new(),
            product_ids: SortedVec::default(),
            products_by_created: SortedVec::default(),
            products_by_updated: SortedVec::default(),
            skus: HashMap::new(),
            categories: BTreeMap::new(),
            orders: BTreeMap::new(),
            order_keys: HashMap::new(),
            order_ids: OrderIds::default(),
            all_events: false,
            customers: BTreeMap::new(),
            deleted_products: Vec::new(),
            deleted_orders: Vec::new(),
            deleted_customers: Vec::new(),
            latest: LatestStats {
                products: base_time,
                categories: base_time,
                orders: base_time,
                customers: base_time,
                profile: base_time,
                coupons: base_time,
                abandoned: base_time,
            },
            next: IdCounters {
                product: 1,
                combination: 500_001,
                category: 9_001,
                order_seq: 1,
                order_item: 800_001,
                customer: 70_001,
            },
            outbox: Vec::new(),
            touched: Vec::new(),
            last_ts: 0,
        }
    }

    /// The timestamp for a change happening now.
    pub(crate) fn tick(&mut self) -> i64 {
        self.last_ts = now().max(self.last_ts);
        self.last_ts
    }

    pub(crate) fn emit(&mut self, event_type: &'static str, entity_id: i64, data: Option<Value>) {
        let created = self.tick();
        self.outbox.push(Event {
            event_type: Cow::Borrowed(event_type),
            entity_id: json!(entity_id),
            data,
            created,
        });
    }

    /// Like `emit`, for the side events only `--webhook-events all` sends.
    pub(crate) fn emit_extra(&mut self, event_type: &'static str, entity_id: i64, data: Value) {
        if self.all_events {
            self.emit(event_type, entity_id, Some(data));
        }
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.outbox)
    }

    pub(crate) fn touch(&mut self, t: Touch) {
        self.touched.push(t);
    }

    pub fn take_touched(&mut self) -> Vec<Touch> {
        std::mem::take(&mut self.touched)
    }

    pub fn latest_stats_json(&self) -> Value {
        let l = &self.latest;
        json!({
            "productsUpdated": format_date(l.products.max(l.categories)),
            "ordersUpdated": format_date(l.orders),
            "profileUpdated": format_date(l.profile),
            "categoriesUpdated": format_date(l.categories),
            "discountCouponsUpdated": format_date(l.coupons),
            "abandonedSalesUpdated": format_date(l.abandoned),
            "customersUpdated": format_date(l.customers),
        })
    }

    /// `/{kind}/deleted`: ascending by date, inclusive bounds; entries older than `kept_from`
    /// are past the retention and left out.
    pub fn deleted_page(
        &self,
        kind: DeletedKind,
        from: Option<i64>,
        to: Option<i64>,
        kept_from: i64,
        offset: usize,
        limit: usize,
    ) -> Page {
        let list: &[Deleted] = match kind {
            DeletedKind::Products => &self.deleted_products,
            DeletedKind::Orders => &self.deleted_orders,
            DeletedKind::Customers => &self.deleted_customers,
            DeletedKind::Coupons | DeletedKind::Reviews => &[],
        };
        let from = from.unwrap_or(i64::MIN).max(kept_from);
        // Entries are appended in time order: the window is a slice.
        let start = list.partition_point(|d| d.ts < from);
        let iter = list[start..]
            .iter()
            .take_while(|d| to.is_none_or(|t| d.ts <= t));
        page_of(iter, offset, limit, |d| {
            let date = format_date(d.ts);
            Bytes::from(match &d.order_id {
                Some(oid) => {
                    serde_json::to_string(&json!({"id": d.id, "orderId": oid, "date": date}))
                        .unwrap_or_default()
                }
                None => format!(r#"{{"id":{},"date":"{date}"}}"#, d.id),
            })
        })
    }

    /// The whole store as the control plane's `GET /_emulator/state` shows it.
    pub fn state_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_slice(b"{\"products\":[");
        join_into(&mut out, self.products.values().map(ProductRec::bytes));
        out.put_slice(b"],\"categories\":[");
        join_into(
            &mut out,
            self.categories
                .values()
                .map(|c| self.category_bytes(c, true)),
        );
        out.put_slice(b"],\"orders\":[");
        join_into(&mut out, self.orders.values().map(OrderRec::bytes));
        out.put_slice(b"],\"customers\":[");
        join_into(&mut out, self.customers.values().map(CustomerRec::bytes));
        out.put_slice(b"]}");
        out.freeze()
    }
}

fn join_into(out: &mut BytesMut, items: impl Iterator<Item = Bytes>) {
    for (i, b) in items.enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&b);
    }
}

#[derive(Clone, Copy, Debug)]
pub enum DeletedKind {
    Products,
    Orders,
    Customers,
    /// Coupons and reviews are not emulated: their lists are always empty.
    Coupons,
    Reviews,
}

/// `$12.50`: the store formats prices in USD.
pub fn money(v: f64) -> String {
    format!("${v:.2}")
}

/// Rounds to cents, so derived sums do not print binary noise.
pub fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Fills the output-only `countryName` / `stateOrProvinceName` of a PersonInfo from its codes.
pub(crate) fn complete_person(person: &mut Value) {
    let Some(p) = person.as_object_mut() else {
        return;
    };
    let country = p
        .get("countryCode")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let state = p
        .get("stateOrProvinceCode")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !p.contains_key("countryName") {
        let name = match country.as_str() {
            "US" => "United States",
            "CA" => "Canada",
            "GB" => "United Kingdom",
            "DE" => "Germany",
            "FR" => "France",
            "RU" => "Russia",
            "AU" => "Australia",
            other => other,
        };
        p.insert("countryName".into(), json!(name));
    }
    if !p.contains_key("stateOrProvinceName") {
        let name = match (country.as_str(), state.as_str()) {
            ("US", "CA") => "California",
            ("US", "NY") => "New York",
            ("US", "PA") => "Pennsylvania",
            ("US", "TX") => "Texas",
            ("US", "MO") => "Missouri",
            ("CA", "ON") => "Ontario",
            (_, other) => other,
        };
        p.insert("stateOrProvinceName".into(), json!(name));
    }
}
