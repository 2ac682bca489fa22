//! Categories, and the product <-> category relation kept consistent from both sides.

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Page, Store, page_of};
use crate::error::{ApiError, ApiResult};
use crate::json::{
    Doc, Kind, as_int, bool_of, check_types, i64_of, ids_of, merge_update, require, str_of,
};

/// One category. Its `productIds` is the authoritative copy of the relation's category
/// side; counts are derived when serialised (categories are few, so no cache).
#[derive(Debug, Clone)]
pub struct CategoryRec {
    pub doc: Doc,
}

impl CategoryRec {
    pub fn enabled(&self) -> bool {
        bool_of(&self.doc, "enabled").unwrap_or(true)
    }
    pub fn product_ids(&self) -> Vec<i64> {
        ids_of(&self.doc, "productIds")
    }
    fn parent(&self) -> Option<i64> {
        i64_of(&self.doc, "parentId").filter(|p| *p != 0)
    }
}

const READ_ONLY: &[&str] = &[
    "id",
    "productCount",
    "enabledProductCount",
    "url",
    "hdThumbnailUrl",
    "thumbnailUrl",
    "imageUrl",
    "originalImageUrl",
    "originalImage",
    "thumbnail",
    "productIds",
];

const TYPES: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("parentId", Kind::Int),
    ("orderBy", Kind::Int),
    ("description", Kind::Str),
    ("enabled", Kind::Bool),
    ("productIds", Kind::Array),
    ("nameTranslated", Kind::Object),
    ("descriptionTranslated", Kind::Object),
];

#[derive(Debug, Clone, Default)]
pub struct CategoryFilter {
    /// `categoryIds=`: these categories (disabled ones too); other filters are ignored.
    pub ids: Option<Vec<i64>>,
    pub parent: Option<i64>,
    pub hidden: bool,
    pub product_ids: bool,
    /// Public-token view: disabled categories become `{id, enabled: false}` stubs.
    pub public_view: bool,
}

fn int_list(body: &Doc, field: &str) -> ApiResult<Option<Vec<i64>>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                as_int(v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Field Category.{field} has a wrong type: expected integers"
                    ))
                })
            })
            .collect::<ApiResult<Vec<i64>>>()
            .map(Some),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field Category.{field} has a wrong type: expected an array"
        ))),
    }
}

impl Store {
    /// The category as the API returns it; `productIds` only on request.
    pub fn category_bytes(&self, c: &CategoryRec, with_product_ids: bool) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&self.category_view(c, with_product_ids)).unwrap_or_default(),
        )
    }

    fn category_view(&self, c: &CategoryRec, with_product_ids: bool) -> Value {
        let mut doc = c.doc.clone();
        let ids = c.product_ids();
        // productCount includes subcategories (a product in two of them counts twice: the
        // real figure is documented as approximate and lagging anyway).
        let scope = self.category_scope(i64_of(&doc, "id").unwrap_or(0), true);
        let all: usize = scope
            .iter()
            .filter_map(|cid| self.categories.get(cid))
            .map(|cat| cat.product_ids().len())
            .sum();
        let enabled = ids
            .iter()
            .filter(|p| self.products.get(p).is_some_and(|r| r.enabled))
            .count();
        doc.insert("productCount".into(), json!(all));
        doc.insert("enabledProductCount".into(), json!(enabled));
        if !with_product_ids {
            doc.remove("productIds");
        }
        Value::Object(doc)
    }

    pub fn category(&self, id: i64) -> ApiResult<&CategoryRec> {
        self.categories
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Category #{id} not found")))
    }

    pub fn search_categories(&self, f: &CategoryFilter, offset: usize, limit: usize) -> Page {
        let bytes = |c: &CategoryRec| {
            if f.public_view && !c.enabled() {
                Bytes::from(format!(
                    r#"{{"id":{},"enabled":false}}"#,
                    i64_of(&c.doc, "id").unwrap_or(0)
                ))
            } else {
                self.category_bytes(c, f.product_ids)
            }
        };
        if let Some(ids) = &f.ids {
            let mut seen = HashSet::new();
            let iter = ids
                .iter()
                .filter(|id| seen.insert(**id))
                .filter_map(|id| self.categories.get(id));
            return page_of(iter, offset, limit, bytes);
        }
        let iter = self.categories.values().filter(|c| {
            (f.hidden || f.public_view || c.enabled())
                && match f.parent {
                    None => true,
                    Some(0) => c.parent().is_none(),
                    Some(p) => c.parent() == Some(p),
                }
        });
        page_of(iter, offset, limit, bytes)
    }

    /// A category and, when asked, all its descendants.
    pub(crate) fn category_scope(&self, id: i64, with_children: bool) -> HashSet<i64> {
        let mut scope = HashSet::from([id]);
        if with_children {
            loop {
                let before = scope.len();
                for c in self.categories.values() {
                    if c.parent().is_some_and(|p| scope.contains(&p))
                        && let Some(cid) = i64_of(&c.doc, "id")
                    {
                        scope.insert(cid);
                    }
                }
                if scope.len() == before {
                    break;
                }
            }
        }
        scope
    }

    pub(crate) fn check_categories_exist(&self, ids: &[i64]) -> ApiResult<()> {
        match ids.iter().find(|c| !self.categories.contains_key(c)) {
            Some(c) => Err(ApiError::not_found(format!("Category #{c} not found"))),
            None => Ok(()),
        }
    }

    /// Mirrors a change of a product's `categoryIds` onto the categories' `productIds`.
    pub(crate) fn link_product_categories(&mut self, pid: i64, old: &[i64], new: &[i64]) {
        let mut changed = Vec::new();
        for cid in old.iter().filter(|c| !new.contains(c)) {
            if let Some(c) = self.categories.get_mut(cid) {
                let ids: Vec<i64> = c.product_ids().into_iter().filter(|p| *p != pid).collect();
                c.doc.insert("productIds".into(), json!(ids));
                changed.push(*cid);
            }
        }
        for cid in new.iter().filter(|c| !old.contains(c)) {
            if let Some(c) = self.categories.get_mut(cid) {
                let mut ids = c.product_ids();
                if !ids.contains(&pid) {
                    ids.push(pid);
                }
                c.doc.insert("productIds".into(), json!(ids));
                changed.push(*cid);
            }
        }
        if !changed.is_empty() {
            self.latest.categories = self.tick();
            for cid in changed {
                self.touch(super::Touch::Category(cid));
                self.emit("category.updated", cid, None);
            }
        }
    }

    /// Mirrors a change of a category's `productIds` onto the products' `categoryIds`.
    fn link_category_products(&mut self, cid: i64, old: &[i64], new: &[i64]) -> ApiResult<()> {
        for pid in old.iter().filter(|p| !new.contains(p)) {
            if self.products.contains_key(pid) {
                self.modify_product(*pid, |doc, _| {
                    let ids: Vec<i64> = ids_of(doc, "categoryIds")
                        .into_iter()
                        .filter(|c| *c != cid)
                        .collect();
                    doc.insert("categoryIds".into(), json!(ids));
                    Ok(())
                })?;
            }
        }
        for pid in new.iter().filter(|p| !old.contains(p)) {
            self.modify_product(*pid, |doc, _| {
                let mut ids = ids_of(doc, "categoryIds");
                if !ids.contains(&cid) {
                    ids.push(cid);
                }
                doc.insert("categoryIds".into(), json!(ids));
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Refreshes the `categories[].enabled` flags of the products of a category.
    fn refresh_category_products(&mut self, cid: i64) {
        let ids = self
            .categories
            .get(&cid)
            .map(CategoryRec::product_ids)
            .unwrap_or_default();
        for pid in ids {
            if let Some(rec) = self.products.get(&pid) {
                let doc = rec.doc();
                let _ = self.commit_product(doc);
            }
        }
    }

    fn check_category_body(&self, body: &Doc, own_id: Option<i64>) -> ApiResult<Option<Vec<i64>>> {
        check_types(body, "Category", TYPES)?;
        if let Some(p) = body.get("parentId").and_then(as_int).filter(|p| *p != 0) {
            if Some(p) == own_id {
                return Err(ApiError::bad_request(
                    "Field Category.parentId: a category cannot be its own parent",
                ));
            }
            self.category(p)?;
            if let Some(own) = own_id
                && self.category_scope(own, true).contains(&p)
            {
                return Err(ApiError::bad_request(
                    "Field Category.parentId: a category cannot move below its own child",
                ));
            }
        }
        let ids = int_list(body, "productIds")?;
        if let Some(ids) = &ids
            && let Some(p) = ids.iter().find(|p| !self.products.contains_key(p))
        {
            return Err(ApiError::not_found(format!("Product #{p} not found")));
        }
        Ok(ids)
    }

    pub fn create_category(&mut self, body: &Doc) -> ApiResult<i64> {
        let product_ids = self.check_category_body(body, None)?;
        require(body, "Category", "name")?;
        let id = self.next.category;
        self.next.category += 1;
        let mut doc = Doc::new();
        merge_update(&mut doc, body, READ_ONLY);
        doc.insert("id".into(), json!(id));
        doc.entry("enabled").or_insert(json!(true));
        doc.entry("orderBy")
            .or_insert(json!((self.categories.len() as i64 + 1) * 10));
        doc.insert("productIds".into(), json!([]));
        finish_category(&mut doc, self.store_id);
        self.categories.insert(id, CategoryRec { doc });
        self.touch(super::Touch::Category(id));
        self.latest.categories = self.tick();
        self.emit("category.created", id, None);
        if let Some(ids) = product_ids {
            self.link_category_products(id, &[], &ids)?;
            if let Some(c) = self.categories.get_mut(&id) {
                c.doc.insert("productIds".into(), json!(ids));
            }
        }
        Ok(id)
    }

    pub fn update_category(&mut self, id: i64, patch: &Doc) -> ApiResult<()> {
        let old = self.category(id)?.clone();
        let product_ids = self.check_category_body(patch, Some(id))?;
        if let Some(Value::String(s)) = patch.get("name")
            && s.trim().is_empty()
        {
            return Err(ApiError::bad_request("Field Category.name is empty"));
        }
        let mut doc = old.doc.clone();
        merge_update(&mut doc, patch, READ_ONLY);
        if doc.get("parentId").and_then(Value::as_i64) == Some(0) {
            doc.remove("parentId");
        }
        finish_category(&mut doc, self.store_id);
        self.categories.insert(id, CategoryRec { doc });
        self.touch(super::Touch::Category(id));
        if let Some(ids) = product_ids {
            let old_ids = old.product_ids();
            self.link_category_products(id, &old_ids, &ids)?;
            if let Some(c) = self.categories.get_mut(&id) {
                c.doc.insert("productIds".into(), json!(ids));
            }
        }
        if old.enabled() != self.category(id)?.enabled() {
            self.refresh_category_products(id);
        }
        self.latest.categories = self.tick();
        self.emit("category.updated", id, None);
        Ok(())
    }

    /// Deletes a category and its descendants (the contract's cascade pick).
    pub fn delete_category(&mut self, id: i64) -> ApiResult<usize> {
        self.category(id)?;
        let mut scope: Vec<i64> = self.category_scope(id, true).into_iter().collect();
        scope.sort();
        for cid in &scope {
            let pids = self
                .categories
                .get(cid)
                .map(CategoryRec::product_ids)
                .unwrap_or_default();
            self.categories.remove(cid);
            self.touch(super::Touch::Category(*cid));
            for pid in pids {
                if self.products.contains_key(&pid) {
                    self.modify_product(pid, |doc, _| {
                        let ids: Vec<i64> = ids_of(doc, "categoryIds")
                            .into_iter()
                            .filter(|c| c != cid)
                            .collect();
                        doc.insert("categoryIds".into(), json!(ids));
                        Ok(())
                    })?;
                }
            }
            self.emit("category.deleted", *cid, None);
        }
        self.latest.categories = self.tick();
        Ok(scope.len())
    }
}

/// Derived URL and translation fields of a category document.
pub(crate) fn finish_category(doc: &mut Doc, store_id: i64) {
    let id = i64_of(doc, "id").unwrap_or(0);
    let name = str_of(doc, "name").unwrap_or("").to_string();
    let tr = doc.entry("nameTranslated").or_insert_with(|| json!({}));
    if let Value::Object(m) = tr {
        m.insert("en".into(), json!(name));
    }
    if let Some(d) = str_of(doc, "description").map(str::to_string) {
        let tr = doc
            .entry("descriptionTranslated")
            .or_insert_with(|| json!({}));
        if let Value::Object(m) = tr {
            m.insert("en".into(), json!(d));
        }
    }
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    doc.insert(
        "url".into(),
        json!(format!("https://store{store_id}.example.com/{slug}-c{id}")),
    );
}
