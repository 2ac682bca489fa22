//! Product variations (`combinations`): they live inside their product's document; every
//! change goes through `modify_product`, so it bumps the parent and fires `product.updated`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::Store;
use super::products::{combos, combos_mut};
use crate::error::{ApiError, ApiResult};
use crate::json::{Doc, Kind, bool_of, check_types, i64_of, merge_update, require, str_of};

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

/// An empty variation SKU means "no own SKU" (the variation then shares the product's stock).
fn drop_empty_sku(combo: &mut Doc) {
    if combo
        .get("sku")
        .and_then(Value::as_str)
        .is_some_and(|s| s.trim().is_empty())
    {
        combo.remove("sku");
    }
}

impl Store {
    /// `GET /products/{id}/combinations`: a bare array.
    pub fn combinations_bytes(&self, id: i64) -> ApiResult<Bytes> {
        let rec = self
            .products
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("Product #{id} not found")))?;
        let list = rec.doc().remove("combinations").unwrap_or(json!([]));
        Ok(Bytes::from(serde_json::to_vec(&list).unwrap_or_default()))
    }

    pub fn combination(&self, id: i64, cid: i64) -> ApiResult<Doc> {
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
            drop_empty_sku(&mut combo);
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
            drop_empty_sku(combo);
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
        if str_of(&combo, "sku").is_none() {
            return Err(ApiError::bad_request(
                "Variation has no own SKU: its stock is the product's, adjust the product instead",
            ));
        }
        if bool_of(&combo, "unlimited").unwrap_or(false) {
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
