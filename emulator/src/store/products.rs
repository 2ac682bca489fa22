//! Products and their variations (`combinations`): documents, indexes, search and writes.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Cached, CategoryRec, Page, Store, money, page_of};
use crate::dates::format_date;
use crate::error::{ApiError, ApiResult};
use crate::json::{
    Doc, Kind, as_int, bool_of, check_types, f64_of, i64_of, ids_of, merge_update, require, str_of,
};

/// One product: its API document (variations embedded in `combinations`) plus the fields
/// searches filter on, copied out so a scan never walks JSON.
#[derive(Debug)]
pub struct ProductRec {
    pub id: i64,
    pub doc: Doc,
    pub created: i64,
    pub updated: i64,
    pub enabled: bool,
    pub in_stock: bool,
    pub price: f64,
    pub name_lower: String,
    search_text: String,
    pub category_ids: Vec<i64>,
    on_frontpage: bool,
    cache: Cached,
}

impl ProductRec {
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
            price: f64_of(&doc, "price").unwrap_or(0.0),
            name_lower: name.to_lowercase(),
            search_text: search_text.to_lowercase(),
            category_ids: ids_of(&doc, "categoryIds"),
            on_frontpage: doc.get("showOnFrontpage").is_some_and(Value::is_number),
            cache: Cached::default(),
            doc,
        }
    }

    pub fn bytes(&self) -> Bytes {
        self.cache.bytes(&self.doc)
    }

    pub fn combination(&self, cid: i64) -> Option<&Doc> {
        combos(&self.doc).find(|c| i64_of(c, "id") == Some(cid))
    }
}

fn combos(doc: &Doc) -> impl Iterator<Item = &Doc> {
    doc.get("combinations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

fn combos_mut(doc: &mut Doc) -> &mut Vec<Value> {
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

    fn matches(&self, r: &ProductRec, cats: Option<&HashSet<i64>>) -> bool {
        let in_window = |v: i64, from: Option<i64>, to: Option<i64>| {
            from.is_none_or(|f| v >= f) && to.is_none_or(|t| v <= t)
        };
        self.enabled.is_none_or(|e| r.enabled == e)
            && self.in_stock.is_none_or(|s| r.in_stock == s)
            && in_window(r.created, self.created_from, self.created_to)
            && in_window(r.updated, self.updated_from, self.updated_to)
            && self.price_from.is_none_or(|p| r.price >= p)
            && self.price_to.is_none_or(|p| r.price <= p)
            && self.keyword.as_ref().is_none_or(|k| {
                let k = k.trim_matches('"').to_lowercase();
                r.search_text.contains(&k)
            })
            && match (self.category, cats) {
                (Some(0), _) => r.on_frontpage,
                (Some(_), Some(set)) => r.category_ids.iter().any(|c| set.contains(c)),
                _ => true,
            }
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

const COMBINATION_TYPES: &[(&str, Kind)] = &[
    ("options", Kind::Array),
    ("sku", Kind::Str),
    ("quantity", Kind::Int),
    ("unlimited", Kind::Bool),
    ("price", Kind::Num),
    ("compareToPrice", Kind::Num),
    ("weight", Kind::Num),
    ("warningLimit", Kind::Int),
    ("wholesalePrices", Kind::Array),
    ("attributes", Kind::Array),
    ("isShippingRequired", Kind::Bool),
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
    let combos_list = combos_mut(doc);
    for c in combos_list.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(q) = c.get("quantity").and_then(as_int) {
            c.insert("quantity".into(), json!(q));
        }
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

fn option_set(c: &Doc) -> Vec<(String, String)> {
    let mut set: Vec<(String, String)> = c
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o.get("name")?.as_str()?.to_string(),
                o.get("value")?.as_str()?.to_string(),
            ))
        })
        .collect();
    set.sort();
    set
}

/// Variation options as documented: `name`, `value` and their translation maps.
fn normalize_combination_options(body: &Doc) -> ApiResult<Value> {
    let list = body
        .get("options")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for o in list {
        let name = o.get("name").and_then(Value::as_str);
        let value = o.get("value").and_then(Value::as_str);
        let (Some(name), Some(value)) = (name, value) else {
            return Err(ApiError::bad_request(
                "Field ProductVariation.options: every option needs a string 'name' and 'value'",
            ));
        };
        out.push(json!({
            "name": name, "nameTranslated": {"en": name},
            "value": value, "valueTranslated": {"en": value},
        }));
    }
    Ok(Value::Array(out))
}

/// Option names/values a variation names that the product lacks become `SELECT` options.
fn ensure_product_options(doc: &mut Doc, options: &Value) {
    let list = match doc.entry("options").or_insert_with(|| json!([])) {
        Value::Array(a) => a,
        other => {
            *other = json!([]);
            let Value::Array(a) = other else { return };
            a
        }
    };
    for o in options.as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (
            o.get("name").and_then(Value::as_str),
            o.get("value").and_then(Value::as_str),
        ) else {
            continue;
        };
        let pos = list
            .iter()
            .position(|p| p.get("name").and_then(Value::as_str) == Some(name));
        let idx = match pos {
            Some(i) => i,
            None => {
                list.push(json!({
                    "type": "SELECT", "name": name, "nameTranslated": {"en": name},
                    "choices": [], "defaultChoice": 0, "required": false,
                }));
                list.len() - 1
            }
        };
        if let Some(Value::Array(choices)) = list[idx].get_mut("choices")
            && !choices
                .iter()
                .any(|c| c.get("text").and_then(Value::as_str) == Some(value))
        {
            choices.push(json!({
                "text": value, "textTranslated": {"en": value},
                "priceModifier": 0, "priceModifierType": "ABSOLUTE",
            }));
        }
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
        let bytes = |r: &ProductRec| {
            if f.public_view && !r.enabled {
                Bytes::from(format!(r#"{{"id":{},"enabled":false}}"#, r.id))
            } else {
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
        let lookup = |(_, id): &(i64, i64)| self.products.get(id);
        let range = |from: Option<i64>, to: Option<i64>| {
            (from.unwrap_or(i64::MIN), i64::MIN)..=(to.unwrap_or(i64::MAX), i64::MAX)
        };
        let fast = f.only_window_of(f.sort);
        match f.sort {
            ProductSort::Id if fast => Page {
                total: self.products.len(),
                offset,
                limit,
                items: self
                    .products
                    .values()
                    .skip(offset)
                    .take(limit)
                    .map(bytes)
                    .collect(),
            },
            ProductSort::Id => page_of(self.products.values().filter(pred), offset, limit, bytes),
            ProductSort::AddedAsc
            | ProductSort::AddedDesc
            | ProductSort::UpdatedAsc
            | ProductSort::UpdatedDesc => {
                let (set, r) = match f.sort {
                    ProductSort::AddedAsc | ProductSort::AddedDesc => (
                        &self.products_by_created,
                        range(f.created_from, f.created_to),
                    ),
                    _ => (
                        &self.products_by_updated,
                        range(f.updated_from, f.updated_to),
                    ),
                };
                let desc = matches!(f.sort, ProductSort::AddedDesc | ProductSort::UpdatedDesc);
                let keys: Box<dyn Iterator<Item = &(i64, i64)>> = if desc {
                    Box::new(set.range(r).rev())
                } else {
                    Box::new(set.range(r))
                };
                if fast {
                    page_of(keys, offset, limit, |k| {
                        lookup(k).map(bytes).unwrap_or_default()
                    })
                } else {
                    page_of(keys.filter_map(lookup).filter(pred), offset, limit, bytes)
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
        let old_cats = match self.products.remove(&id) {
            Some(old) => {
                for (sku, _) in product_skus(&old.doc) {
                    self.skus.remove(&sku);
                }
                self.products_by_created.remove(&(old.created, id));
                self.products_by_updated.remove(&(old.updated, id));
                old.category_ids
            }
            None => Vec::new(),
        };
        for (sku, owner) in new_skus {
            self.skus.insert(sku, (id, owner));
        }
        self.products_by_created.insert((rec.created, id));
        self.products_by_updated.insert((rec.updated, id));
        let new_cats = rec.category_ids.clone();
        self.products.insert(id, rec);
        self.link_product_categories(id, &old_cats, &new_cats);
        Ok(())
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
        let mut doc = rec.doc.clone();
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
        if rec
            .doc
            .get("unlimited")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
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
            .products
            .remove(&id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        for (sku, _) in product_skus(&rec.doc) {
            self.skus.remove(&sku);
        }
        self.products_by_created.remove(&(rec.created, id));
        self.products_by_updated.remove(&(rec.updated, id));
        self.link_product_categories(id, &rec.category_ids, &[]);
        let ts = self.tick();
        self.deleted_products.push((id, ts));
        self.latest.products = ts;
        self.emit("product.deleted", id, None);
        Ok(())
    }

    /// `GET /products/{id}/combinations`: a bare array.
    pub fn combinations_bytes(&self, id: i64) -> ApiResult<Bytes> {
        let rec = self
            .products
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        let list = rec.doc.get("combinations").cloned().unwrap_or(json!([]));
        Ok(Bytes::from(serde_json::to_vec(&list).unwrap_or_default()))
    }

    pub fn combination(&self, id: i64, cid: i64) -> ApiResult<&Doc> {
        let rec = self
            .products
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        rec.combination(cid).ok_or_else(|| {
            ApiError::not_found(format!("Variation #{cid} of product #{id} not found"))
        })
    }

    pub fn create_combination(&mut self, id: i64, body: &Doc) -> ApiResult<i64> {
        check_types(body, "ProductVariation", COMBINATION_TYPES)?;
        require(body, "ProductVariation", "options")?;
        let options = normalize_combination_options(body)?;
        self.modify_product(id, |doc, next| {
            let mut combo = Doc::new();
            merge_update(&mut combo, body, &["id", "combinationNumber"]);
            combo.insert("options".into(), options.clone());
            let set = option_set(&combo);
            if combos(doc).any(|c| option_set(c) == set) {
                return Err(ApiError::conflict(
                    "A variation with the same options already exists",
                    None,
                ));
            }
            let cid = next.combination;
            next.combination += 1;
            let number = combos(doc)
                .filter_map(|c| i64_of(c, "combinationNumber"))
                .max()
                .unwrap_or(0)
                + 1;
            combo.insert("id".into(), json!(cid));
            combo.insert("combinationNumber".into(), json!(number));
            combo.entry("quantity").or_insert(json!(0));
            combo.entry("unlimited").or_insert(json!(false));
            combo.entry("warningLimit").or_insert(json!(0));
            ensure_product_options(doc, &options);
            combos_mut(doc).push(Value::Object(combo));
            Ok(cid)
        })
    }

    pub fn update_combination(&mut self, id: i64, cid: i64, patch: &Doc) -> ApiResult<()> {
        check_types(patch, "ProductVariation", COMBINATION_TYPES)?;
        self.combination(id, cid)?;
        let options = if patch.contains_key("options") {
            Some(normalize_combination_options(patch)?)
        } else {
            None
        };
        self.modify_product(id, |doc, _| {
            let list = combos_mut(doc);
            let idx = list
                .iter()
                .position(|c| c.get("id").and_then(Value::as_i64) == Some(cid))
                .ok_or_else(|| ApiError::not_found(format!("Variation #{cid} not found")))?;
            let Some(combo) = list[idx].as_object_mut() else {
                return Err(ApiError::not_found(format!("Variation #{cid} not found")));
            };
            merge_update(combo, patch, &["id", "combinationNumber", "options"]);
            if let Some(opts) = &options {
                combo.insert("options".into(), opts.clone());
                let set = option_set(combo);
                let clash = list
                    .iter()
                    .enumerate()
                    .any(|(i, c)| i != idx && c.as_object().is_some_and(|c| option_set(c) == set));
                if clash {
                    return Err(ApiError::conflict(
                        "A variation with the same options already exists",
                        None,
                    ));
                }
                ensure_product_options(doc, opts);
            }
            Ok(())
        })
    }

    pub fn adjust_combination_inventory(
        &mut self,
        id: i64,
        cid: i64,
        delta: i64,
    ) -> ApiResult<Option<String>> {
        let combo = self.combination(id, cid)?;
        if str_of(combo, "sku").is_none() {
            return Err(ApiError::bad_request(
                "Variation has no own SKU: its stock is the product's, adjust the product instead",
            ));
        }
        if bool_of(combo, "unlimited").unwrap_or(false) {
            return Ok(None);
        }
        self.modify_product(id, |doc, _| {
            let mut warning = None;
            for c in combos_mut(doc).iter_mut().filter_map(Value::as_object_mut) {
                if i64_of(c, "id") == Some(cid) {
                    let q = i64_of(c, "quantity").unwrap_or(0).saturating_add(delta);
                    c.insert("quantity".into(), json!(q));
                    warning = (q < 0).then(|| format!("Variation quantity is negative: {q}"));
                }
            }
            Ok(warning)
        })
    }

    pub fn delete_combination(&mut self, id: i64, cid: i64) -> ApiResult<()> {
        self.combination(id, cid)?;
        self.modify_product(id, |doc, _| {
            combos_mut(doc).retain(|c| c.get("id").and_then(Value::as_i64) != Some(cid));
            Ok(())
        })
    }

    pub fn delete_all_combinations(&mut self, id: i64) -> ApiResult<usize> {
        self.modify_product(id, |doc, _| {
            let list = combos_mut(doc);
            let n = list.len();
            list.clear();
            Ok(n)
        })
    }
}

impl Store {
    /// Generation path: no SKU checks, no category linking (done once at the end), no events.
    pub(crate) fn insert_generated_product(&mut self, mut doc: Doc) {
        normalize_product(&mut doc, &self.categories, self.store_id);
        let id = i64_of(&doc, "id").unwrap_or(0);
        for (sku, owner) in product_skus(&doc) {
            self.skus.insert(sku, (id, owner));
        }
        let rec = ProductRec::from_doc(doc);
        self.products_by_created.insert((rec.created, id));
        self.products_by_updated.insert((rec.updated, id));
        self.products.insert(id, rec);
    }
}
