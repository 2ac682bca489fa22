//! `responseFields=`: the field selection every read accepts, with nested parentheses
//! (`total,items(id,updateTimestamp)`). It is applied to the answer's JSON bytes by a
//! scanner that copies the selected values and skips the rest, without building a tree, so
//! a sweep of 100k products costs little more than the pages it replaces.

use crate::error::{ApiError, ApiResult};

/// The selected names of one object level; `Some` selects within the field's value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec(Vec<(String, Option<FieldSpec>)>);

impl FieldSpec {
    pub fn parse(raw: &str) -> ApiResult<FieldSpec> {
        let bad = |why: &str| {
            ApiError::bad_request(format!(
                "Wrong parameter 'responseFields' value: {why}, got '{raw}' (expected e.g. \
                 'total,items(id,updateTimestamp)')"
            ))
        };
        let mut p = Parser {
            s: raw.as_bytes(),
            i: 0,
        };
        let spec = p.list().map_err(bad)?;
        p.ws();
        if p.i < p.s.len() {
            return Err(bad("unexpected ')' or character"));
        }
        Ok(spec)
    }

    fn get(&self, name: &[u8]) -> Option<&Option<FieldSpec>> {
        self.0
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, sub)| sub)
    }

    /// A name listed twice selects the union of both selections.
    fn add(&mut self, name: String, sub: Option<FieldSpec>) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            None => self.0.push((name, sub)),
            Some((_, existing)) => {
                *existing = match (existing.take(), sub) {
                    (Some(mut a), Some(b)) => {
                        for (n, s) in b.0 {
                            a.add(n, s);
                        }
                        Some(a)
                    }
                    _ => None,
                }
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn list(&mut self) -> Result<FieldSpec, &'static str> {
        let mut spec = FieldSpec(Vec::new());
        loop {
            self.ws();
            let start = self.i;
            while self
                .s
                .get(self.i)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                self.i += 1;
            }
            if start == self.i {
                return Err("a field name is missing");
            }
            let name = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.ws();
            let sub = if self.s.get(self.i) == Some(&b'(') {
                self.i += 1;
                let inner = self.list()?;
                self.ws();
                if self.s.get(self.i) != Some(&b')') {
                    return Err("a '(' is not closed");
                }
                self.i += 1;
                self.ws();
                Some(inner)
            } else {
                None
            };
            spec.add(name, sub);
            if self.s.get(self.i) == Some(&b',') {
                self.i += 1;
            } else {
                return Ok(spec);
            }
        }
    }
}

/// The selected part of a JSON document: objects keep the selected fields (in document
/// order), arrays apply the selection to each element, other values pass unchanged.
pub fn project(json: &[u8], spec: &FieldSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len().min(64 * 1024));
    let i = skip_ws(json, 0);
    project_value(json, i, spec, &mut out);
    out
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index just after the string starting at `i` (a `"`).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index just after the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(c) = b.get(j) {
                match c {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            j
        }
    }
}

fn project_value(b: &[u8], i: usize, spec: &FieldSpec, out: &mut Vec<u8>) -> usize {
    match b.get(i) {
        Some(b'{') => project_object(b, i, spec, out),
        Some(b'[') => {
            out.push(b'[');
            let mut j = skip_ws(b, i + 1);
            let mut first = true;
            while let Some(c) = b.get(j) {
                if *c == b']' {
                    j += 1;
                    break;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                j = project_value(b, j, spec, out);
                j = skip_ws(b, j);
                if b.get(j) == Some(&b',') {
                    j = skip_ws(b, j + 1);
                }
            }
            out.push(b']');
            j
        }
        _ => {
            let end = skip_value(b, i);
            out.extend_from_slice(&b[i..end]);
            end
        }
    }
}

fn project_object(b: &[u8], i: usize, spec: &FieldSpec, out: &mut Vec<u8>) -> usize {
    out.push(b'{');
    let mut j = skip_ws(b, i + 1);
    let mut first = true;
    while let Some(c) = b.get(j) {
        if *c != b'"' {
            // `}` or (in a malformed document) anything else ends the object.
            j += 1;
            break;
        }
        let key_end = skip_string(b, j);
        let key = &b[j..key_end];
        let name = &key[1..key.len().saturating_sub(1).max(1)];
        j = skip_ws(b, key_end);
        if b.get(j) == Some(&b':') {
            j = skip_ws(b, j + 1);
        }
        match spec.get(name) {
            Some(sub) => {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(key);
                out.push(b':');
                j = match sub {
                    Some(sub) => project_value(b, j, sub, out),
                    None => {
                        let end = skip_value(b, j);
                        out.extend_from_slice(&b[j..end]);
                        end
                    }
                };
            }
            None => j = skip_value(b, j),
        }
        j = skip_ws(b, j);
        if b.get(j) == Some(&b',') {
            j = skip_ws(b, j + 1);
        }
    }
    out.push(b'}');
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn apply(doc: &Value, spec: &str) -> Value {
        let bytes = serde_json::to_vec_pretty(doc).unwrap();
        let out = project(&bytes, &FieldSpec::parse(spec).unwrap());
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out));
        })
    }

    #[test]
    fn selects_nested_fields_at_any_depth() {
        let doc = json!({
            "total": 2, "count": 2, "items": [
                {"id": 1, "name": "a, \"b\" }", "media": {"images": [{"id": "x", "url": "u"}]},
                 "tags": [1, [2, 3]], "updateTimestamp": 5},
                {"id": 2, "updateTimestamp": 6, "media": null}
            ]
        });
        assert_eq!(
            apply(&doc, "total,items(id,updateTimestamp)"),
            json!({"total": 2, "items": [{"id": 1, "updateTimestamp": 5}, {"id": 2, "updateTimestamp": 6}]})
        );
        assert_eq!(
            apply(&doc, " items ( media ( images ( id ) ) , name ), count"),
            json!({"count": 2, "items": [
                {"name": "a, \"b\" }", "media": {"images": [{"id": "x"}]}},
                {"media": null}
            ]})
        );
        assert_eq!(
            apply(&doc, "items(id),items(tags)"),
            json!({"items": [{"id": 1, "tags": [1, [2, 3]]}, {"id": 2}]})
        );
        assert_eq!(apply(&json!([{"a": 1, "b": 2}]), "b"), json!([{"b": 2}]));
        assert_eq!(apply(&doc, "nothing"), json!({}));
    }

    #[test]
    fn cut_or_odd_documents_never_panic() {
        let doc = br#"{"items":[{"id":1,"s":"a\"b","n":[1,{"x":null}]},{"id":2}],"t":true}"#;
        let spec = FieldSpec::parse("items(id,n(x)),t").unwrap();
        for cut in 0..=doc.len() {
            project(&doc[..cut], &spec);
        }
        project(b"  [1, \"x\", {} ] ", &spec);
    }

    #[test]
    fn malformed_selections_name_the_parameter() {
        for bad in [
            "items(id", "items()", ",id", "a b", "items)(", "a,,b", "a(b))", "é",
        ] {
            let err = FieldSpec::parse(bad).unwrap_err();
            assert!(
                err.message.contains("responseFields"),
                "{bad}: {}",
                err.message
            );
        }
    }
}
