//! Small helpers over `serde_json` documents: typed reads, request-body checks and the
//! contract's partial-update merge (arrays replace, translation maps merge).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

pub type Doc = Map<String, Value>;

pub fn i64_of(doc: &Doc, key: &str) -> Option<i64> {
    doc.get(key).and_then(Value::as_i64)
}
pub fn f64_of(doc: &Doc, key: &str) -> Option<f64> {
    doc.get(key).and_then(Value::as_f64)
}
pub fn str_of<'a>(doc: &'a Doc, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}
pub fn bool_of(doc: &Doc, key: &str) -> Option<bool> {
    doc.get(key).and_then(Value::as_bool)
}
pub fn ids_of(doc: &Doc, key: &str) -> Vec<i64> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// A document serialised for keeping. Serialising grows a buffer by doubling, and `Bytes`
/// keeps the whole buffer: a 4.1 KB product would hold 8 KB for as long as it is stored.
pub fn stored_bytes(doc: &Doc) -> bytes::Bytes {
    let mut v = serde_json::to_vec(doc).unwrap_or_default();
    v.shrink_to_fit();
    bytes::Bytes::from(v)
}

/// Parses a request body that must be one JSON object.
pub fn parse_object(body: &[u8]) -> ApiResult<Doc> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Request body is empty: a JSON object is expected",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "Malformed JSON in request body: {e}"
        ))),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Num,
    Bool,
    Array,
    Object,
}

impl Kind {
    fn matches(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.is_string(),
            Kind::Int => v.is_i64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            Kind::Num => v.is_number(),
            Kind::Bool => v.is_boolean(),
            Kind::Array => v.is_array(),
            Kind::Object => v.is_object(),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Int => "an integer",
            Kind::Num => "a number",
            Kind::Bool => "a boolean",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// Checks the JSON type of every listed field that is present (null is accepted as "unset").
pub fn check_types(doc: &Doc, entity: &str, fields: &[(&str, Kind)]) -> ApiResult<()> {
    for (name, kind) in fields {
        if let Some(v) = doc.get(*name)
            && !v.is_null()
            && !kind.matches(v)
        {
            return Err(ApiError::bad_request(format!(
                "Field {entity}.{name} has a wrong type: expected {}",
                kind.name()
            )));
        }
    }
    Ok(())
}

/// A field that must be present and non-empty.
pub fn require<'a>(doc: &'a Doc, entity: &str, name: &str) -> ApiResult<&'a Value> {
    match doc.get(name) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "Field {entity}.{name} is absent"
        ))),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::bad_request(format!(
            "Field {entity}.{name} is empty"
        ))),
        Some(v) => Ok(v),
    }
}

/// Ints given as `3.0` are normalised to `3`, so stored documents keep integer types.
pub fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// Applies a partial update: omitted fields stay, `null` removes, arrays replace, maps whose
/// name ends in `Translated` merge per language, other objects merge one level deep.
/// Fields in `read_only` are ignored.
pub fn merge_update(target: &mut Doc, patch: &Doc, read_only: &[&str]) {
    for (key, value) in patch {
        if read_only.contains(&key.as_str()) {
            continue;
        }
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                for (k, v) in incoming {
                    existing.insert(k.clone(), v.clone());
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Random bits formatted as a version-4 UUID, the form of Ecwid's batch tickets and webhook
/// event ids.
pub fn uuid_v4(a: u128) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 96) as u32,
        (a >> 80) as u16,
        (a >> 68) as u16 & 0xfff,
        ((a >> 52) as u16 & 0x3fff) | 0x8000,
        a as u64 & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_replaces_arrays_and_merges_translations() {
        let mut t = json!({"a":[1,2],"nameTranslated":{"en":"x","fr":"y"},"id":5})
            .as_object()
            .cloned()
            .unwrap();
        let p = json!({"a":[3],"nameTranslated":{"es":"z"},"id":9})
            .as_object()
            .cloned()
            .unwrap();
        merge_update(&mut t, &p, &["id"]);
        assert_eq!(
            Value::Object(t),
            json!({"a":[3],"nameTranslated":{"en":"x","fr":"y","es":"z"},"id":5})
        );
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert!(parse_object(b"{").is_err());
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"").is_err());
        assert!(parse_object(br#"{"a":1}"#).is_ok());
    }
}
