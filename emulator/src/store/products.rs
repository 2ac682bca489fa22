//! Products and their variations (`combinations`): documents, indexes, search and writes.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{CategoryRec, Page, SortedVec, Store, money, page_of};
use crate::dates::format_date;
use crate::error::{ApiError, ApiResult};
use crate::gzip::Segment;
use crate::json::{
    Doc, Kind, as_int, bool_of, check_types, f64_of, i64_of, ids_of, merge_update, require, str_of,
};

/// One product, kept as its serialised API document (variations embedded in
/// `combinations`) plus the fields searches filter on. A parsed `serde_json` tree costs
/// about 50 KB per product; the bytes cost about 4 KB, which is what lets 100k products x 3
/// variations fit comfortably. Writes parse, edit and re-serialise one product.
#[derive(Debug, Clone)]
pub struct ProductRec {
    pub id: i64,
    json: Bytes,
    /// The deflated JSON, built on the first gzip request that includes this product.
    gz: OnceLock<Segment>,
    pub created: i64,
    pub updated: i64,
    pub enabled: bool,
    pub in_stock: bool,
    pub unlimited: bool,
    pub price: f64,
    pub name_lower: String,
    search_text: Box<str>,
    pub category_ids: Vec<i64>,
    on_frontpage: bool,
    skus: Vec<(String, Option<i64>)>,
}

/// The filterable scalars of one product, packed so a filtered scan over 100k products
/// reads 4 MB of contiguous memory instead of chasing 100k records. Ordered by `id` only.
#[derive(Clone, Copy, Debug)]
pub struct Hot {
    pub id: i64,
    pub created: i64,
    pub updated: i64,
    pub price: f64,
    pub enabled: bool,
    pub in_stock: bool,
    pub on_frontpage: bool,
}

impl Hot {
    /// A search key for `SortedVec::get` / `remove`.
    pub fn key(id: i64) -> Hot {
        Hot {
            id,
            created: 0,
            updated: 0,
            price: 0.0,
            enabled: false,
            in_stock: false,
            on_frontpage: false,
        }
    }
}

impl PartialEq for Hot {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Hot {}
impl PartialOrd for Hot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Hot {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

impl ProductRec {
    pub fn hot(&self) -> Hot {
        Hot {
            id: self.id,
            created: self.created,
            updated: self.updated,
            price: self.price,
            enabled: self.enabled,
            in_stock: self.in_stock,
            on_frontpage: self.on_frontpage,
        }
    }

    fn from_doc(doc: Doc) -> ProductRec {
        let name = str_of(&doc, "name").unwrap_or("").to_string();
        let mut search_text = format!(
            "{} {} {}",
            name,
            str_of(&doc, "sku").unwrap_or(""),
            str_of(&doc, "description").unwrap_or("")
        );
        for c in combos(&doc) {
            if let Some(s) = c.get("sku").and_then(Value::as_str) {
                search_text.push(' ');
                search_text.push_str(s);
            }
        }
        ProductRec {
            id: i64_of(&doc, "id").unwrap_or(0),
            created: i64_of(&doc, "createTimestamp").unwrap_or(0),
            updated: i64_of(&doc, "updateTimestamp").unwrap_or(0),
            enabled: bool_of(&doc, "enabled").unwrap_or(true),
            in_stock: bool_of(&doc, "inStock").unwrap_or(false),
            unlimited: bool_of(&doc, "unlimited").unwrap_or(false),
            price: f64_of(&doc, "price").unwrap_or(0.0),
            name_lower: name.to_lowercase(),
            search_text: search_text.to_lowercase().into_boxed_str(),
            category_ids: ids_of(&doc, "categoryIds"),
            on_frontpage: doc.get("showOnFrontpage").is_some_and(Value::is_number),
            skus: product_skus(&doc),
            json: crate::json::stored_bytes(&doc),
            gz: OnceLock::new(),
        }
    }

    pub fn bytes(&self) -> Bytes {
        self.json.clone()
    }

    pub fn gz_segment(&self) -> Segment {
        self.gz.get_or_init(|| Segment::new(&self.json)).clone()
    }

    /// The document, parsed (for writes and the few reads that need fields).
    pub fn doc(&self) -> Doc {
        serde_json::from_slice(&self.json).unwrap_or_default()
    }

    pub fn combination(&self, cid: i64) -> Option<Doc> {
        combos(&self.doc())
            .find(|c| i64_of(c, "id") == Some(cid))
            .cloned()
    }
}

pub(super) fn combos(doc: &Doc) -> impl Iterator<Item = &Doc> {
    doc.get("combinations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

pub(super) fn combos_mut(doc: &mut Doc) -> &mut Vec<Value> {
    if !doc.get("combinations").is_some_and(Value::is_array) {
        doc.insert("combinations".into(), Value::Array(Vec::new()));
    }
    match doc.get_mut("combinations") {
        Some(Value::Array(a)) => a,
        _ => unreachable!("combinations was just made an array"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProductSort {
    #[default]
    Id,
    AddedAsc,
    AddedDesc,
    UpdatedAsc,
    UpdatedDesc,
    NameAsc,
    NameDesc,
    PriceAsc,
    PriceDesc,
}

impl ProductSort {
    pub fn parse(raw: Option<&str>) -> ApiResult<ProductSort> {
        Ok(match raw {
            None | Some("RELEVANCE") | Some("DEFINED_BY_STORE_OWNER") => ProductSort::Id,
            Some("ADDED_TIME_ASC") => ProductSort::AddedAsc,
            Some("ADDED_TIME_DESC") => ProductSort::AddedDesc,
            Some("UPDATED_TIME_ASC") => ProductSort::UpdatedAsc,
            Some("UPDATED_TIME_DESC") => ProductSort::UpdatedDesc,
            Some("NAME_ASC") => ProductSort::NameAsc,
            Some("NAME_DESC") => ProductSort::NameDesc,
            Some("PRICE_ASC") => ProductSort::PriceAsc,
            Some("PRICE_DESC") => ProductSort::PriceDesc,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Wrong parameter 'sortBy' value: '{other}' is not one of RELEVANCE, \
                     DEFINED_BY_STORE_OWNER, ADDED_TIME_DESC, ADDED_TIME_ASC, NAME_ASC, NAME_DESC, \
                     PRICE_ASC, PRICE_DESC, UPDATED_TIME_ASC, UPDATED_TIME_DESC"
                )));
            }
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProductFilter {
    pub ids: Option<Vec<i64>>,
    pub sku: Option<String>,
    pub keyword: Option<String>,
    pub enabled: Option<bool>,
    pub in_stock: Option<bool>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    pub category: Option<i64>,
    pub with_subcategories: bool,
    pub price_from: Option<f64>,
    pub price_to: Option<f64>,
    pub sort: ProductSort,
    /// Public-token view: disabled products become `{id, enabled: false}` stubs.
    pub public_view: bool,
    /// The caller accepts gzip: also collect the items' pre-compressed pieces.
    pub gzip: bool,
}

impl ProductFilter {
    /// True when nothing but the window of the index being walked restricts the result, so
    /// the total is the index range's length and no record needs to be looked at.
    fn only_window_of(&self, sort: ProductSort) -> bool {
        let rest_empty = self.keyword.is_none()
            && self.enabled.is_none()
            && self.in_stock.is_none()
            && self.category.is_none()
            && self.price_from.is_none()
            && self.price_to.is_none();
        let created = self.created_from.is_some() || self.created_to.is_some();
        let updated = self.updated_from.is_some() || self.updated_to.is_some();
        rest_empty
            && match sort {
                ProductSort::AddedAsc | ProductSort::AddedDesc => !updated,
                ProductSort::UpdatedAsc | ProductSort::UpdatedDesc => !created,
                ProductSort::Id => !created && !updated,
                _ => false,
            }
    }

    /// The filters decidable from the packed scalars alone.
    fn matches_hot(&self, h: &Hot) -> bool {
        let in_window = |v: i64, from: Option<i64>, to: Option<i64>| {
            from.is_none_or(|f| v >= f) && to.is_none_or(|t| v <= t)
        };
        self.enabled.is_none_or(|e| h.enabled == e)
            && self.in_stock.is_none_or(|s| h.in_stock == s)
            && in_window(h.created, self.created_from, self.created_to)
            && in_window(h.updated, self.updated_from, self.updated_to)
            && self.price_from.is_none_or(|p| h.price >= p)
            && self.price_to.is_none_or(|p| h.price <= p)
            && (self.category != Some(0) || h.on_frontpage)
    }

    /// Whether `matches_record` has anything to check (keyword or a real category).
    fn needs_record(&self) -> bool {
        self.keyword.is_some() || self.category.is_some_and(|c| c != 0)
    }

    fn matches_record(&self, r: &ProductRec, cats: Option<&HashSet<i64>>) -> bool {
        self.keyword.as_ref().is_none_or(|k| {
            let k = k.trim_matches('"').to_lowercase();
            r.search_text.contains(&k)
        }) && match (self.category, cats) {
            (Some(c), Some(set)) if c != 0 => r.category_ids.iter().any(|c| set.contains(c)),
            _ => true,
        }
    }

    fn matches(&self, r: &ProductRec, cats: Option<&HashSet<i64>>) -> bool {
        self.matches_hot(&r.hot()) && self.matches_record(r, cats)
    }
}

/// Fields a client may not set: server-owned or derived.
const READ_ONLY: &[&str] = &[
    "id",
    "inStock",
    "created",
    "updated",
    "createTimestamp",
    "updateTimestamp",
    "combinations",
    "categories",
    "defaultCombinationId",
    "url",
    "favorites",
    "files",
    "isSampleProduct",
    "defaultDisplayedPrice",
    "defaultDisplayedPriceFormatted",
    "compareToPriceFormatted",
    "compareToPriceDiscount",
    "compareToPriceDiscountFormatted",
    "compareToPriceDiscountPercent",
    "compareToPriceDiscountPercentFormatted",
    "thumbnailUrl",
    "media",
    "galleryImages",
];

const TYPES: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("sku", Kind::Str),
    ("quantity", Kind::Int),
    ("unlimited", Kind::Bool),
    ("price", Kind::Num),
    ("compareToPrice", Kind::Num),
    // The purchase price: the reference lists it (`costPrice`), the contract's table predates it.
    ("costPrice", Kind::Num),
    ("enabled", Kind::Bool),
    ("weight", Kind::Num),
    ("warningLimit", Kind::Int),
    ("categoryIds", Kind::Array),
    ("defaultCategoryId", Kind::Int),
    ("options", Kind::Array),
    ("attributes", Kind::Array),
    ("wholesalePrices", Kind::Array),
    ("description", Kind::Str),
    ("nameTranslated", Kind::Object),
    ("descriptionTranslated", Kind::Object),
    ("showOnFrontpage", Kind::Int),
    ("isShippingRequired", Kind::Bool),
    ("tax", Kind::Object),
    ("shipping", Kind::Object),
    ("dimensions", Kind::Object),
    ("relatedProducts", Kind::Object),
    ("seoTitle", Kind::Str),
    ("seoDescription", Kind::Str),
    ("productClassId", Kind::Int),
    ("fixedShippingRateOnly", Kind::Bool),
    ("fixedShippingRate", Kind::Num),
];

fn check_product_body(body: &Doc) -> ApiResult<Vec<i64>> {
    check_types(body, "Product", TYPES)?;
    let mut ids = Vec::new();
    if let Some(Value::Array(a)) = body.get("categoryIds") {
        for v in a {
            ids.push(as_int(v).ok_or_else(|| {
                ApiError::bad_request(
                    "Field Product.categoryIds has a wrong type: expected integers",
                )
            })?);
        }
    }
    Ok(ids)
}

/// Recomputes every derived field of a product document after a change.
pub(crate) fn normalize_product(
    doc: &mut Doc,
    categories: &BTreeMap<i64, CategoryRec>,
    store_id: i64,
) {
    let id = i64_of(doc, "id").unwrap_or(0);
    let name = str_of(doc, "name").unwrap_or("").to_string();
    let unlimited = bool_of(doc, "unlimited").unwrap_or(false);
    doc.insert("unlimited".into(), json!(unlimited));
    let qty = doc.get("quantity").and_then(as_int).unwrap_or(0);
    if unlimited {
        doc.remove("quantity");
    } else {
        doc.insert("quantity".into(), json!(qty));
    }
    let prices: Vec<Value> = combos(doc)
        .map(|c| match c.get("price").filter(|p| p.is_number()) {
            Some(own) => own.clone(),
            None => json!(variation_price(doc, c)),
        })
        .collect();
    let combos_list = combos_mut(doc);
    for (c, price) in combos_list
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .zip(prices)
    {
        if c.get("sku").is_some_and(Value::is_string) {
            if let Some(q) = c.get("quantity").and_then(as_int) {
                c.insert("quantity".into(), json!(q));
            }
        } else {
            // Without its own SKU a variation shares the product's stock.
            c.insert("quantity".into(), json!(qty));
            c.insert("unlimited".into(), json!(unlimited));
        }
        if bool_of(c, "unlimited").unwrap_or(false) {
            c.remove("quantity");
        }
        let shown = money(price.as_f64().unwrap_or(0.0));
        c.insert("defaultDisplayedPrice".into(), price);
        c.insert("defaultDisplayedPriceFormatted".into(), json!(shown));
    }
    let combo_ids: Vec<i64> = combos(doc).filter_map(|c| i64_of(c, "id")).collect();
    let combos_in_stock = combos(doc).any(|c| {
        bool_of(c, "unlimited").unwrap_or(false) || i64_of(c, "quantity").unwrap_or(0) > 0
    });
    doc.insert(
        "inStock".into(),
        json!(unlimited || qty > 0 || combos_in_stock),
    );

    // Keep the number as sent (an integer price stays `10`, not `10.0`).
    let price_value = doc
        .get("price")
        .filter(|v| v.is_number())
        .cloned()
        .unwrap_or(json!(0));
    let price = price_value.as_f64().unwrap_or(0.0);
    doc.insert("price".into(), price_value.clone());
    doc.insert("defaultDisplayedPrice".into(), price_value);
    doc.insert("defaultDisplayedPriceFormatted".into(), json!(money(price)));
    const COMPARE: [&str; 5] = [
        "compareToPriceFormatted",
        "compareToPriceDiscount",
        "compareToPriceDiscountFormatted",
        "compareToPriceDiscountPercent",
        "compareToPriceDiscountPercentFormatted",
    ];
    match f64_of(doc, "compareToPrice") {
        Some(cmp) if cmp > price => {
            let discount = super::cents(cmp - price);
            let percent = ((discount / cmp) * 100.0).round() as i64;
            doc.insert("compareToPriceFormatted".into(), json!(money(cmp)));
            doc.insert("compareToPriceDiscount".into(), json!(discount));
            doc.insert(
                "compareToPriceDiscountFormatted".into(),
                json!(money(discount)),
            );
            doc.insert("compareToPriceDiscountPercent".into(), json!(percent));
            doc.insert(
                "compareToPriceDiscountPercentFormatted".into(),
                json!(format!("{percent}%")),
            );
        }
        _ => {
            doc.remove("compareToPrice");
            for k in COMPARE {
                doc.remove(k);
            }
        }
    }

    translate(doc, "name", "nameTranslated");
    if !doc.contains_key("description") {
        doc.insert("description".into(), json!(""));
    }
    translate(doc, "description", "descriptionTranslated");
    if !doc.get("options").is_some_and(Value::is_array) {
        doc.insert("options".into(), json!([]));
    }
    if !doc.contains_key("enabled") {
        doc.insert("enabled".into(), json!(true));
    }

    let mut seen = HashSet::new();
    let cat_ids: Vec<i64> = ids_of(doc, "categoryIds")
        .into_iter()
        .filter(|c| seen.insert(*c))
        .collect();
    let cats: Vec<Value> = cat_ids
        .iter()
        .map(|c| json!({"id": c, "enabled": categories.get(c).is_none_or(CategoryRec::enabled)}))
        .collect();
    let default_cat = i64_of(doc, "defaultCategoryId").unwrap_or(0);
    if !cat_ids.contains(&default_cat) {
        doc.insert(
            "defaultCategoryId".into(),
            json!(cat_ids.first().copied().unwrap_or(0)),
        );
    }
    doc.insert("categoryIds".into(), json!(cat_ids));
    doc.insert("categories".into(), Value::Array(cats));

    let default_combo = i64_of(doc, "defaultCombinationId").unwrap_or(0);
    if !combo_ids.contains(&default_combo) {
        doc.insert(
            "defaultCombinationId".into(),
            json!(combo_ids.first().copied().unwrap_or(0)),
        );
    }
    if doc
        .get("showOnFrontpage")
        .and_then(Value::as_i64)
        .is_some_and(|v| v < 0)
    {
        doc.remove("showOnFrontpage");
    }
    let created = i64_of(doc, "createTimestamp").unwrap_or(0);
    let updated = i64_of(doc, "updateTimestamp").unwrap_or(created);
    doc.insert("created".into(), json!(format_date(created)));
    doc.insert("updated".into(), json!(format_date(updated)));
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    doc.insert(
        "url".into(),
        json!(format!("https://store{store_id}.example.com/{slug}-p{id}")),
    );
}

/// The price modifier of one option choice of a product: (amount, `ABSOLUTE` or `PERCENT`).
pub(crate) fn choice_modifier(product: &Doc, option: &str, choice: &str) -> (f64, &'static str) {
    let found = product
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| o.get("name").and_then(Value::as_str) == Some(option))
        .flat_map(|o| {
            o.get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|c| c.get("text").and_then(Value::as_str) == Some(choice));
    match found {
        Some(c) => {
            let amount = c
                .get("priceModifier")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            match c.get("priceModifierType").and_then(Value::as_str) {
                Some("PERCENT") => (amount, "PERCENT"),
                _ => (amount, "ABSOLUTE"),
            }
        }
        None => (0.0, "ABSOLUTE"),
    }
}

/// What a variation sells at: its own `price`, else the product's price plus the modifiers
/// of its option choices (`PERCENT` ones taken of the product's price), to the cent.
pub(crate) fn variation_price(product: &Doc, combo: &Doc) -> f64 {
    if let Some(own) = f64_of(combo, "price") {
        return own;
    }
    let base = f64_of(product, "price").unwrap_or(0.0);
    let added: f64 = combo
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            let name = o.get("name").and_then(Value::as_str).unwrap_or("");
            let value = o.get("value").and_then(Value::as_str).unwrap_or("");
            match choice_modifier(product, name, value) {
                (m, "PERCENT") => base * m / 100.0,
                (m, _) => m,
            }
        })
        .sum();
    super::cents(base + added)
}

/// Keeps `<field>Translated.en` equal to `<field>`, leaving the other languages alone.
fn translate(doc: &mut Doc, field: &str, translated: &str) {
    let value = doc.get(field).cloned().unwrap_or(json!(""));
    let entry = doc
        .entry(translated.to_string())
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    if let Value::Object(m) = entry {
        m.insert("en".into(), value);
    }
}

fn product_skus(doc: &Doc) -> Vec<(String, Option<i64>)> {
    let pid_sku = str_of(doc, "sku").map(|s| (s.to_string(), None));
    pid_sku
        .into_iter()
        .chain(
            combos(doc).filter_map(|c| {
                Some((c.get("sku")?.as_str()?.to_string(), Some(i64_of(c, "id")?)))
            }),
        )
        .collect()
}

fn sku_conflict(sku: &str) -> ApiError {
    ApiError::conflict(
        format!("SKU '{sku}' already exists"),
        Some("SKU_ALREADY_EXISTS"),
    )
}

impl Store {
    pub fn product(&self, id: i64) -> Option<&ProductRec> {
        self.products.get(&id)
    }

    pub fn search_products(&self, f: &ProductFilter, offset: usize, limit: usize) -> Page {
        let gz = RefCell::new(Vec::new());
        let mut page = self.search_products_into(f, offset, limit, &gz);
        if f.gzip {
            page.gz = Some(gz.into_inner());
        }
        page
    }

    /// The page; with `f.gzip`, each item's deflated piece is also pushed to `gz`, in order.
    fn search_products_into(
        &self,
        f: &ProductFilter,
        offset: usize,
        limit: usize,
        gz: &RefCell<Vec<Segment>>,
    ) -> Page {
        let bytes = |r: &ProductRec| {
            if f.public_view && !r.enabled {
                let stub = Bytes::from(format!(r#"{{"id":{},"enabled":false}}"#, r.id));
                if f.gzip {
                    gz.borrow_mut().push(Segment::new(&stub));
                }
                stub
            } else {
                if f.gzip {
                    gz.borrow_mut().push(r.gz_segment());
                }
                r.bytes()
            }
        };
        if let Some(ids) = &f.ids {
            let mut seen = HashSet::new();
            let iter = ids
                .iter()
                .filter(|id| seen.insert(**id))
                .filter_map(|id| self.products.get(id));
            return page_of(iter, offset, limit, bytes);
        }
        if let Some(sku) = &f.sku {
            let iter = self
                .skus
                .get(sku)
                .and_then(|(pid, _)| self.products.get(pid))
                .into_iter();
            return page_of(iter, offset, limit, bytes);
        }
        let cats = f
            .category
            .filter(|c| *c != 0)
            .map(|c| self.category_scope(c, f.with_subcategories));
        let pred = |r: &&ProductRec| f.matches(r, cats.as_ref());
        let fast = f.only_window_of(f.sort);
        let rec_of = |id: i64| self.products.get(&id);
        // Scans check the packed scalars first and touch a record only for the page items
        // (or for every candidate when a keyword or category needs it).
        let scan = |hots: &mut dyn Iterator<Item = &Hot>| -> Page {
            let hits = hots.filter(|h| f.matches_hot(h));
            if f.needs_record() {
                let recs = hits
                    .filter_map(|h| rec_of(h.id))
                    .filter(|r| f.matches_record(r, cats.as_ref()));
                page_of(recs, offset, limit, bytes)
            } else {
                page_of(hits, offset, limit, |h| {
                    rec_of(h.id).map(bytes).unwrap_or_default()
                })
            }
        };
        match f.sort {
            ProductSort::Id if fast => {
                let hots = self.product_ids.as_slice();
                let items = hots
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .filter_map(|h| rec_of(h.id))
                    .map(bytes)
                    .collect();
                Page {
                    total: hots.len(),
                    offset,
                    limit,
                    items,
                    gz: None,
                }
            }
            ProductSort::Id => scan(&mut self.product_ids.as_slice().iter()),
            ProductSort::AddedAsc
            | ProductSort::AddedDesc
            | ProductSort::UpdatedAsc
            | ProductSort::UpdatedDesc => {
                let (index, from, to) = match f.sort {
                    ProductSort::AddedAsc | ProductSort::AddedDesc => {
                        (&self.products_by_created, f.created_from, f.created_to)
                    }
                    _ => (&self.products_by_updated, f.updated_from, f.updated_to),
                };
                let keys = index.range(
                    &(from.unwrap_or(i64::MIN), i64::MIN),
                    &(to.unwrap_or(i64::MAX), i64::MAX),
                );
                let desc = matches!(f.sort, ProductSort::AddedDesc | ProductSort::UpdatedDesc);
                let lookup = |(_, id): &(i64, i64)| self.products.get(id);
                if fast {
                    // Only the index's own window applies: cut the page by position.
                    let take = |k: &(i64, i64)| lookup(k).map(bytes);
                    let items: Vec<Bytes> = if desc {
                        keys.iter()
                            .rev()
                            .skip(offset)
                            .take(limit)
                            .filter_map(take)
                            .collect()
                    } else {
                        keys.iter()
                            .skip(offset)
                            .take(limit)
                            .filter_map(take)
                            .collect()
                    };
                    Page {
                        total: keys.len(),
                        offset,
                        limit,
                        items,
                        gz: None,
                    }
                } else {
                    let hot = |(_, id): &(i64, i64)| self.product_ids.get(&Hot::key(*id));
                    if desc {
                        scan(&mut keys.iter().rev().filter_map(hot))
                    } else {
                        scan(&mut keys.iter().filter_map(hot))
                    }
                }
            }
            ProductSort::NameAsc
            | ProductSort::NameDesc
            | ProductSort::PriceAsc
            | ProductSort::PriceDesc => {
                let mut list: Vec<&ProductRec> = self.products.values().filter(pred).collect();
                match f.sort {
                    ProductSort::NameAsc => {
                        list.sort_by(|a, b| (&a.name_lower, a.id).cmp(&(&b.name_lower, b.id)))
                    }
                    ProductSort::NameDesc => {
                        list.sort_by(|a, b| (&b.name_lower, b.id).cmp(&(&a.name_lower, a.id)))
                    }
                    ProductSort::PriceAsc => {
                        list.sort_by(|a, b| a.price.total_cmp(&b.price).then(a.id.cmp(&b.id)))
                    }
                    _ => list.sort_by(|a, b| b.price.total_cmp(&a.price).then(b.id.cmp(&a.id))),
                }
                page_of(list.into_iter(), offset, limit, bytes)
            }
        }
    }

    /// Stores a finished product document: validates SKUs, keeps indexes and the
    /// category side of the relation in step. Emits nothing itself except category updates.
    pub(crate) fn commit_product(&mut self, mut doc: Doc) -> ApiResult<()> {
        normalize_product(&mut doc, &self.categories, self.store_id);
        let id = i64_of(&doc, "id").unwrap_or(0);
        let new_skus = product_skus(&doc);
        let mut local = HashSet::new();
        for (sku, _) in &new_skus {
            if !local.insert(sku.as_str()) {
                return Err(sku_conflict(sku));
            }
            if let Some((owner, _)) = self.skus.get(sku)
                && *owner != id
            {
                return Err(sku_conflict(sku));
            }
        }
        let rec = ProductRec::from_doc(doc);
        let new_cats = rec.category_ids.clone();
        let old_cats = self
            .put_product_rec(rec)
            .map(|old| old.category_ids)
            .unwrap_or_default();
        self.touch(super::Touch::Product(id));
        self.link_product_categories(id, &old_cats, &new_cats);
        Ok(())
    }

    /// Stores a record with its index entries (no checks); answers the one it replaced.
    pub(crate) fn put_product_rec(&mut self, rec: ProductRec) -> Option<ProductRec> {
        let id = rec.id;
        let old = self.take_product_rec(id);
        self.product_ids.upsert(rec.hot());
        for (sku, owner) in &rec.skus {
            self.skus.insert(sku.clone(), (id, *owner));
        }
        self.products_by_created.insert((rec.created, id));
        self.products_by_updated.insert((rec.updated, id));
        self.products.insert(id, rec);
        old
    }

    /// Removes a record with its index entries.
    pub(crate) fn take_product_rec(&mut self, id: i64) -> Option<ProductRec> {
        let old = self.products.remove(&id)?;
        for (sku, _) in &old.skus {
            self.skus.remove(sku);
        }
        self.products_by_created.remove(&(old.created, id));
        self.products_by_updated.remove(&(old.updated, id));
        self.product_ids.remove(&Hot::key(id));
        Some(old)
    }

    /// Edits a copy of a product, bumps its timestamps and fires `product.updated`.
    pub(crate) fn modify_product<R>(
        &mut self,
        id: i64,
        edit: impl FnOnce(&mut Doc, &mut super::IdCounters) -> ApiResult<R>,
    ) -> ApiResult<R> {
        let rec = self
            .products
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        let mut doc = rec.doc();
        let out = edit(&mut doc, &mut self.next)?;
        let ts = self.tick();
        doc.insert("updateTimestamp".into(), json!(ts));
        self.commit_product(doc)?;
        self.latest.products = ts;
        self.emit("product.updated", id, None);
        Ok(out)
    }

    pub fn create_product(&mut self, body: &Doc) -> ApiResult<i64> {
        let cat_ids = check_product_body(body)?;
        require(body, "Product", "name")?;
        self.check_categories_exist(&cat_ids)?;
        let id = self.next.product;
        let ts = self.tick();
        let mut doc = Doc::new();
        merge_update(&mut doc, body, READ_ONLY);
        let created = body
            .get("created")
            .and_then(Value::as_str)
            .and_then(crate::dates::parse_date)
            .unwrap_or(ts);
        doc.insert("id".into(), json!(id));
        doc.insert("createTimestamp".into(), json!(created));
        doc.insert("updateTimestamp".into(), json!(ts));
        if str_of(&doc, "sku").is_none_or(|s| s.trim().is_empty()) {
            doc.insert("sku".into(), json!(format!("{:05}", id)));
        }
        if !doc.contains_key("unlimited") {
            doc.insert("unlimited".into(), json!(!doc.contains_key("quantity")));
        }
        for (k, v) in [
            ("isShippingRequired", json!(true)),
            ("productClassId", json!(0)),
            ("warningLimit", json!(0)),
            ("fixedShippingRateOnly", json!(false)),
            ("fixedShippingRate", json!(0)),
            ("attributes", json!([])),
            ("files", json!([])),
            ("media", json!({"images": []})),
            ("favorites", json!({"count": 0, "displayedCount": "0"})),
            ("isSampleProduct", json!(false)),
            ("combinations", json!([])),
            (
                "tax",
                json!({"defaultLocationIncludedTaxRate": 0, "enabledManualTaxes": []}),
            ),
        ] {
            doc.entry(k.to_string()).or_insert(v);
        }
        self.commit_product(doc)?;
        self.next.product += 1;
        self.latest.products = ts;
        self.emit("product.created", id, None);
        Ok(id)
    }

    pub fn update_product(&mut self, id: i64, patch: &Doc) -> ApiResult<()> {
        let cat_ids = check_product_body(patch)?;
        if let Some(Value::String(s)) = patch.get("name")
            && s.trim().is_empty()
        {
            return Err(ApiError::bad_request("Field Product.name is empty"));
        }
        self.check_categories_exist(&cat_ids)?;
        self.modify_product(id, |doc, _| {
            merge_update(doc, patch, READ_ONLY);
            // As on create, an emptied SKU is replaced by a generated one.
            if str_of(doc, "sku").is_none_or(|s| s.trim().is_empty()) {
                doc.insert("sku".into(), json!(format!("{id:05}")));
            }
            Ok(())
        })
    }

    /// An edit merged as sent, without the type checks of [`Store::update_product`]: only the
    /// control plane offers it, for clients' tests of documents they cannot read.
    pub fn update_product_unchecked(&mut self, id: i64, patch: &Doc) -> ApiResult<()> {
        self.modify_product(id, |doc, _| {
            merge_update(doc, patch, READ_ONLY);
            Ok(())
        })
    }

    /// `quantityDelta`: stock may go negative (the call still succeeds, with a warning);
    /// unlimited stock is left alone.
    pub fn adjust_product_inventory(&mut self, id: i64, delta: i64) -> ApiResult<Option<String>> {
        let rec = self
            .products
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        if rec.unlimited {
            return Ok(None);
        }
        self.modify_product(id, |doc, _| {
            let q = i64_of(doc, "quantity").unwrap_or(0).saturating_add(delta);
            doc.insert("quantity".into(), json!(q));
            Ok((q < 0).then(|| format!("Product quantity is negative: {q}")))
        })
    }

    pub fn delete_product(&mut self, id: i64) -> ApiResult<()> {
        let rec = self
            .take_product_rec(id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        self.touch(super::Touch::Product(id));
        self.link_product_categories(id, &rec.category_ids, &[]);
        let ts = self.tick();
        self.deleted_products.push(super::Deleted {
            id,
            order_id: None,
            ts,
        });
        self.latest.products = ts;
        self.emit("product.deleted", id, None);
        Ok(())
    }
}

/// Generation path, pure so it can run on several threads: a finished record.
pub(crate) fn prepare_generated_product(
    mut doc: Doc,
    categories: &BTreeMap<i64, CategoryRec>,
    store_id: i64,
) -> ProductRec {
    normalize_product(&mut doc, categories, store_id);
    ProductRec::from_doc(doc)
}

impl Store {
    /// Generation path: no SKU checks, no category linking, no events; indexes are built
    /// once by `rebuild_product_indexes`.
    pub(crate) fn insert_generated_product(&mut self, rec: ProductRec) {
        for (sku, owner) in &rec.skus {
            self.skus.insert(sku.clone(), (rec.id, *owner));
        }
        self.products.insert(rec.id, rec);
    }

    pub(crate) fn rebuild_product_indexes(&mut self) {
        self.product_ids =
            SortedVec::from_unsorted(self.products.values().map(ProductRec::hot).collect());
        self.products_by_created =
            SortedVec::from_unsorted(self.products.values().map(|r| (r.created, r.id)).collect());
        self.products_by_updated =
            SortedVec::from_unsorted(self.products.values().map(|r| (r.updated, r.id)).collect());
    }
}
