//! Remote documents turned into rows: what each kind of document puts into the mirror's
//! columns, read once per document, before anything is written.

use serde_json::value::RawValue;

use super::MirrorError;
use crate::ecwid::model::{self, Category, Customer, Order, Product, SelectedOption, Variation};
use crate::kind::{Kind, UNFINISHED_PAYMENT_STATUS};

/// A page of documents of one kind, turned into rows.
#[derive(Debug)]
pub enum Rows {
    Products(Vec<ProductRow>),
    Categories(Vec<CategoryRow>),
    Orders(Vec<OrderRow>),
    Customers(Vec<CustomerRow>),
}

#[derive(Debug)]
pub struct ProductRow {
    pub id: i64,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub price: Option<f64>,
    pub compare_to_price: Option<f64>,
    pub quantity: Option<i64>,
    pub unlimited: bool,
    pub in_stock: bool,
    pub enabled: bool,
    pub weight: Option<f64>,
    pub default_category_id: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub raw_json: String,
    pub category_ids: Vec<i64>,
    pub variations: Vec<VariationRow>,
}

#[derive(Debug)]
pub struct VariationRow {
    pub id: i64,
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub unlimited: bool,
    pub price: Option<f64>,
    pub options_json: Option<String>,
    pub raw_json: String,
}

#[derive(Debug)]
pub struct CategoryRow {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: Option<String>,
    pub enabled: bool,
    pub order_by: Option<i64>,
    pub raw_json: String,
}

#[derive(Clone, Debug)]
pub struct OrderRow {
    pub order_number: i64,
    pub id: Option<String>,
    pub email: Option<String>,
    pub customer_id: Option<i64>,
    pub payment_status: Option<String>,
    pub fulfillment_status: Option<String>,
    pub total: Option<f64>,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub tracking_number: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub hidden: bool,
    pub raw_json: String,
    pub items: Vec<OrderItemRow>,
}

impl OrderRow {
    /// An unfinished checkout (see [`UNFINISHED_PAYMENT_STATUS`]), which the mirror does not
    /// hold: its document removes the order instead.
    pub fn is_unfinished(&self) -> bool {
        self.payment_status.as_deref() == Some(UNFINISHED_PAYMENT_STATUS)
    }
}

#[derive(Clone, Debug)]
pub struct OrderItemRow {
    pub item_id: Option<i64>,
    pub product_id: Option<i64>,
    pub combination_id: Option<i64>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub quantity: Option<i64>,
    pub price: Option<f64>,
    pub options_json: Option<String>,
}

#[derive(Debug)]
pub struct CustomerRow {
    pub id: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub updated_at: Option<i64>,
    pub raw_json: String,
}

impl Rows {
    /// Parses the `items` of a search page (or any list of documents) of `kind`. A document
    /// that does not fit the model, even one whose key cannot be read, is set aside as
    /// [`Unreadable`]: one bad document never takes the rest of its page down with it.
    pub fn parse(kind: Kind, items: &[&RawValue]) -> (Rows, Vec<Unreadable>) {
        let mut unreadable = Vec::new();
        let rows = match kind {
            Kind::Products => Rows::Products(collect(kind, items, product_row, &mut unreadable)),
            Kind::Categories => {
                Rows::Categories(collect(kind, items, category_row, &mut unreadable))
            }
            Kind::Orders => Rows::Orders(collect(kind, items, order_row, &mut unreadable)),
            Kind::Customers => Rows::Customers(collect(kind, items, customer_row, &mut unreadable)),
        };
        (rows, unreadable)
    }

    pub fn empty(kind: Kind) -> Rows {
        match kind {
            Kind::Products => Rows::Products(Vec::new()),
            Kind::Categories => Rows::Categories(Vec::new()),
            Kind::Orders => Rows::Orders(Vec::new()),
            Kind::Customers => Rows::Customers(Vec::new()),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Rows::Products(_) => Kind::Products,
            Rows::Categories(_) => Kind::Categories,
            Rows::Orders(_) => Kind::Orders,
            Rows::Customers(_) => Kind::Customers,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Rows::Products(r) => r.len(),
            Rows::Categories(r) => r.len(),
            Rows::Orders(r) => r.len(),
            Rows::Customers(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves `other`'s rows into `self`; both must be of the same kind.
    pub fn append(&mut self, other: Rows) {
        match (self, other) {
            (Rows::Products(a), Rows::Products(b)) => a.extend(b),
            (Rows::Categories(a), Rows::Categories(b)) => a.extend(b),
            (Rows::Orders(a), Rows::Orders(b)) => a.extend(b),
            (Rows::Customers(a), Rows::Customers(b)) => a.extend(b),
            (a, b) => unreachable!("appending {:?} rows to {:?} rows", b.kind(), a.kind()),
        }
    }

    /// The entity keys: product, category and customer ids, order numbers.
    pub fn keys(&self) -> Vec<i64> {
        match self {
            Rows::Products(r) => r.iter().map(|x| x.id).collect(),
            Rows::Categories(r) => r.iter().map(|x| x.id).collect(),
            Rows::Orders(r) => r.iter().map(|x| x.order_number).collect(),
            Rows::Customers(r) => r.iter().map(|x| x.id).collect(),
        }
    }

    /// Each order's key with its public string id, where the document has one (orders
    /// only).
    pub fn order_ids(&self) -> Vec<(i64, &str)> {
        match self {
            Rows::Orders(r) => r
                .iter()
                .filter_map(|o| Some((o.order_number, o.id.as_deref()?)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The newest Ecwid update time in the page, for the incremental cursor.
    pub fn max_updated(&self) -> Option<i64> {
        match self {
            Rows::Products(r) => r.iter().filter_map(|x| x.updated_at).max(),
            Rows::Categories(_) => None,
            Rows::Orders(r) => r.iter().filter_map(|x| x.updated_at).max(),
            Rows::Customers(r) => r.iter().filter_map(|x| x.updated_at).max(),
        }
    }
}

/// A document Ecwid sent that does not fit the model (a field of an unexpected type). Its
/// previous copy stays in the mirror, and the run reports it.
#[derive(Clone, Debug)]
pub struct Unreadable {
    /// `None` when not even the key could be read: such a document is skipped, and only the
    /// report tells of it.
    pub key: Option<i64>,
    pub error: String,
}

impl Unreadable {
    /// The key for messages: the number, or what the document looked like.
    pub fn shown_key(&self) -> String {
        self.key
            .map_or_else(|| "(no readable key)".to_string(), |k| k.to_string())
    }
}

fn collect<T>(
    kind: Kind,
    items: &[&RawValue],
    convert: fn(&RawValue) -> Result<T, MirrorError>,
    unreadable: &mut Vec<Unreadable>,
) -> Vec<T> {
    let mut rows = Vec::with_capacity(items.len());
    for raw in items {
        match convert(raw) {
            Ok(row) => rows.push(row),
            Err(err) => unreadable.push(Unreadable {
                key: key_of(kind, raw),
                error: err.to_string(),
            }),
        }
    }
    rows
}

/// Just the key of a document, read even when other fields do not fit the model.
/// Parses one document. The fast parser runs first; only when it fails is the document
/// parsed again, tracking the path, so the report names the field that does not fit.
fn parse_doc<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, MirrorError> {
    serde_json::from_str(text).map_err(|fast| {
        let mut de = serde_json::Deserializer::from_str(text);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) if !e.path().to_string().is_empty() && e.path().to_string() != "." => {
                // The column in the document says nothing the field's name does not, and
                // would make one problem read differently each time the document changes.
                let message = e.inner().to_string();
                let at = format!(
                    " at line {} column {}",
                    e.inner().line(),
                    e.inner().column()
                );
                MirrorError::Field {
                    path: e.path().to_string(),
                    message: message.strip_suffix(&at).unwrap_or(&message).to_string(),
                }
            }
            _ => MirrorError::Document(fast),
        }
    })
}

pub fn key_of(kind: Kind, raw: &RawValue) -> Option<i64> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Keys {
        id: Option<serde_json::Value>,
        order_number: Option<serde_json::Value>,
        internal_id: Option<serde_json::Value>,
    }
    let keys: Keys = serde_json::from_str(raw.get()).ok()?;
    let int = |v: Option<serde_json::Value>| v.and_then(|v| v.as_i64());
    match kind {
        Kind::Orders => int(keys.internal_id).or(int(keys.order_number)),
        _ => int(keys.id),
    }
}

fn product_row(raw: &RawValue) -> Result<ProductRow, MirrorError> {
    let p: Product = parse_doc(raw.get())?;
    let unlimited = p.unlimited.unwrap_or(false);
    let variations = p
        .combinations
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|raw| variation_row(raw, &p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| match e {
            MirrorError::Field { path, message } => MirrorError::Field {
                path: format!("combinations[].{path}"),
                message,
            },
            other => other,
        })?;
    Ok(ProductRow {
        id: p.id,
        quantity: if unlimited { None } else { p.quantity },
        unlimited,
        in_stock: p
            .in_stock
            .unwrap_or(unlimited || p.quantity.unwrap_or(0) > 0),
        enabled: p.enabled.unwrap_or(true),
        price: p.price,
        compare_to_price: p.compare_to_price,
        weight: p.weight,
        default_category_id: p.default_category_id,
        created_at: p.create_timestamp,
        updated_at: p.update_timestamp,
        category_ids: p.category_ids.clone().unwrap_or_default(),
        raw_json: raw.get().to_string(),
        sku: p.sku,
        name: p.name,
        variations,
    })
}

/// A variation without its own SKU, price or stock flag inherits the product's (its price
/// with the modifiers of the variation's options): the mirror stores the effective values,
/// since that is what a consumer asking "what does this SKU cost" wants.
fn variation_row(raw: &RawValue, product: &Product) -> Result<VariationRow, MirrorError> {
    let v: Variation = parse_doc(raw.get())?;
    let price = match v.price {
        Some(own) => Some(own),
        None => {
            let selected: Vec<SelectedOption> = match v.options {
                Some(options) => parse_doc(options.get())?,
                None => Vec::new(),
            };
            product
                .price_with_options(&selected)
                .map_err(|e| MirrorError::Field {
                    path: "options".into(),
                    message: e.to_string(),
                })?
        }
    };
    let unlimited = v
        .unlimited
        .unwrap_or_else(|| product.unlimited.unwrap_or(false));
    Ok(VariationRow {
        id: v.id,
        sku: v.sku.or_else(|| product.sku.clone()),
        quantity: if unlimited { None } else { v.quantity },
        unlimited,
        price,
        options_json: v.options.map(|o| o.get().to_string()),
        raw_json: raw.get().to_string(),
    })
}

fn category_row(raw: &RawValue) -> Result<CategoryRow, MirrorError> {
    let c: Category = parse_doc(raw.get())?;
    Ok(CategoryRow {
        id: c.id,
        parent_id: c.parent_id.filter(|&p| p != 0),
        name: c.name,
        enabled: c.enabled.unwrap_or(true),
        order_by: c.order_by,
        raw_json: raw.get().to_string(),
    })
}

pub(super) fn order_row(raw: &RawValue) -> Result<OrderRow, MirrorError> {
    let o: Order = parse_doc(raw.get())?;
    let order_number = o.key().ok_or_else(|| MirrorError::Field {
        path: "internalId".into(),
        message: "absent, and so is orderNumber: the order has no key".into(),
    })?;
    let id = match o
        .id
        .map(|r| serde_json::from_str::<serde_json::Value>(r.get()))
    {
        Some(Ok(serde_json::Value::String(s))) => Some(s),
        Some(Ok(serde_json::Value::Number(n))) => Some(n.to_string()),
        _ => None,
    };
    let items = o
        .items
        .iter()
        .map(|i| OrderItemRow {
            item_id: i.id,
            product_id: i.product_id,
            combination_id: i.combination_id,
            sku: i.sku.clone(),
            name: i.name.clone(),
            quantity: i.quantity,
            price: i.price,
            options_json: i.selected_options.map(|r| r.get().to_string()),
        })
        .collect();
    Ok(OrderRow {
        order_number,
        id,
        email: o.email,
        customer_id: o.customer_id,
        payment_status: o.payment_status,
        fulfillment_status: o.fulfillment_status,
        total: o.total,
        subtotal: o.subtotal,
        tax: o.tax,
        tracking_number: o.tracking_number,
        created_at: o.create_timestamp,
        updated_at: o.update_timestamp,
        hidden: o.hidden.unwrap_or(false),
        raw_json: raw.get().to_string(),
        items,
    })
}

fn customer_row(raw: &RawValue) -> Result<CustomerRow, MirrorError> {
    let c: Customer = parse_doc(raw.get())?;
    Ok(CustomerRow {
        id: c.id,
        email: c.email,
        name: c.name,
        updated_at: c.updated.as_deref().and_then(model::parse_date),
        raw_json: raw.get().to_string(),
    })
}
