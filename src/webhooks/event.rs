//! A webhook body (contract 13.2, 17.3): read in two steps, what the signature covers first,
//! then the rest, and turned into the inbox row the delta worker reads. Pure: no I/O.

use serde_json::{Map, Value};

use crate::kind::Kind;
use crate::mirror::inbox::{EventState, InboxRow};
use crate::mirror::privacy;

/// Why a body is refused with 400: which field, never its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(message: impl Into<String>) -> Malformed {
    Malformed(message.into())
}

/// The longest eventId accepted; Ecwid's are UUIDs.
const MAX_EVENT_ID: usize = 200;
/// The longest eventType accepted; Ecwid's are names like `unfinished_order.updated`.
const MAX_EVENT_TYPE: usize = 100;

/// The parsed body, of which only eventId and eventCreated are known to be there.
#[derive(Debug)]
pub struct Signed {
    /// As in the body: a string's text, or a number's digits.
    pub event_id: String,
    pub event_created: i64,
    fields: Map<String, Value>,
}

impl Signed {
    /// Reads what the signature covers. Anything that is not a JSON object with them is
    /// malformed.
    pub fn parse(body: &[u8]) -> Result<Signed, Malformed> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("the body is not JSON ({e})")))?;
        let Value::Object(fields) = value else {
            return Err(malformed("the body is not a JSON object"));
        };
        let event_id = match fields.get("eventId") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_EVENT_ID => s.clone(),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            None | Some(Value::Null) => return Err(malformed("field eventId is missing")),
            Some(_) => {
                return Err(malformed(format!(
                    "field eventId: expected a string of 1 to {MAX_EVENT_ID} characters or an integer"
                )));
            }
        };
        let event_created = match fields.get("eventCreated") {
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| malformed("field eventCreated: expected an integer"))?,
            None | Some(Value::Null) => return Err(malformed("field eventCreated is missing")),
            Some(_) => return Err(malformed("field eventCreated: expected an integer")),
        };
        Ok(Signed {
            event_id,
            event_created,
            fields,
        })
    }

    /// The event type, if the body has a usable one (for log lines about refused events).
    pub fn event_type(&self) -> Option<&str> {
        self.fields.get("eventType").and_then(Value::as_str)
    }

    /// The store the body says it is for. Not covered by the signature: it only picks the
    /// store whose secret must have signed the event.
    pub fn store_id(&self) -> Result<u64, Malformed> {
        match self.fields.get("storeId") {
            None | Some(Value::Null) => Err(malformed("field storeId is missing")),
            Some(v) => integer(v)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| malformed("field storeId: expected a positive integer")),
        }
    }

    /// Reads the rest, once the signature has been checked.
    pub fn into_event(self) -> Result<Event, Malformed> {
        let event_type = match self.fields.get("eventType") {
            Some(Value::String(t)) if valid_type(t) => t.clone(),
            None | Some(Value::Null) => return Err(malformed("field eventType is missing")),
            Some(_) => {
                return Err(malformed(format!(
                    "field eventType: expected a name such as product.updated (letters, digits, _ and ., at most {MAX_EVENT_TYPE})"
                )));
            }
        };
        let store_id = self.store_id()?;
        let data = self.fields.get("data");
        let data_order_id = match data.and_then(|d| d.get("orderId")) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(Event {
            event_id: self.event_id,
            event_type,
            event_created: self.event_created,
            store_id,
            entity_id: self.fields.get("entityId").and_then(integer),
            data_order_id,
        })
    }
}

fn valid_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_EVENT_TYPE
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// A number, or a string of digits (`application.*` events send entityId as a string).
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A correctly signed event, every field the receiver needs read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_id: String,
    pub event_type: String,
    pub event_created: i64,
    pub store_id: u64,
    /// entityId when it is a number or a numeric string.
    pub entity_id: Option<i64>,
    /// `data.orderId`: an order's string id (order and unfinished-order events).
    pub data_order_id: Option<String>,
}

/// What the receiver is configured with that decides an event's row.
pub struct Rules<'a> {
    pub kinds: &'a [Kind],
    /// The replay window, in seconds.
    pub max_event_age: i64,
}

/// The inbox row for `event`, received at `received_at` (unix seconds): the mapping of
/// event types to the mirror's kinds and keys that the delta worker relies on. An event of
/// a mirrored kind that names no entity is malformed.
pub fn classify(event: &Event, rules: &Rules, received_at: i64) -> Result<InboxRow, Malformed> {
    let family = event.event_type.split('.').next().unwrap_or_default();
    let positive = || {
        event
            .entity_id
            .filter(|&id| id > 0)
            .ok_or_else(|| malformed("field entityId: expected a positive id"))
    };
    // A privacy request binds the shop whatever it mirrors and however late it comes: the
    // delta worker handles it without reading any entity (see `mirror::privacy`).
    if privacy::request_of(&event.event_type).is_some() {
        return Ok(InboxRow {
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            kind: None,
            entity_key: event.entity_id,
            order_id: None,
            event_created: event.event_created,
            received_at,
            state: EventState::Pending,
        });
    }
    let (kind, entity_key, order_id) = match family {
        "product" => (Some(Kind::Products), Some(positive()?), None),
        "category" => (Some(Kind::Categories), Some(positive()?), None),
        "customer" => (Some(Kind::Customers), Some(positive()?), None),
        // entityId is the order's internal id.
        "order" => (
            Some(Kind::Orders),
            Some(positive()?),
            event.data_order_id.clone(),
        ),
        // Newer stores send entityId -1; data.orderId then names the order.
        "unfinished_order" => {
            let key = event.entity_id.filter(|&id| id > 0);
            if key.is_none() && event.data_order_id.is_none() {
                return Err(malformed(
                    "an unfinished_order event needs a positive entityId or data.orderId",
                ));
            }
            (Some(Kind::Orders), key, event.data_order_id.clone())
        }
        _ => (None, None, None),
    };
    let row = |kind, entity_key, order_id, state| InboxRow {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        kind,
        entity_key,
        order_id,
        event_created: event.event_created,
        received_at,
        state,
    };
    let Some(kind) = kind.filter(|k| rules.kinds.contains(k)) else {
        return Ok(row(None, None, None, EventState::Ignored));
    };
    let state = if received_at - event.event_created > rules.max_event_age {
        EventState::TooOld
    } else {
        EventState::Pending
    };
    Ok(row(Some(kind), entity_key, order_id, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ALL: [Kind; 4] = Kind::ALL;

    fn event(body: Value) -> Result<Event, Malformed> {
        Signed::parse(body.to_string().as_bytes())?.into_event()
    }

    fn body(event_type: &str, entity_id: Value, data: Option<Value>) -> Value {
        let mut b = json!({
            "eventId": "e-1", "eventType": event_type, "eventCreated": NOW - 5,
            "storeId": 1003, "entityId": entity_id,
        });
        if let Some(d) = data {
            b["data"] = d;
        }
        b
    }

    fn row_of(b: Value, kinds: &[Kind]) -> Result<InboxRow, Malformed> {
        let rules = Rules {
            kinds,
            max_event_age: 172_800,
        };
        classify(&event(b)?, &rules, NOW)
    }

    #[test]
    fn event_id_and_entity_id_are_read_as_string_or_number() {
        let b = json!({"eventId": 1234567, "eventType": "product.updated",
                       "eventCreated": NOW, "storeId": "1003", "entityId": "77"});
        let e = event(b).unwrap();
        assert_eq!(e.event_id, "1234567");
        assert_eq!(e.store_id, 1003);
        assert_eq!(e.entity_id, Some(77));
    }

    #[test]
    fn missing_or_mistyped_fields_are_malformed_and_named() {
        let cases = [
            (json!([1, 2]), "not a JSON object"),
            (
                json!({"eventCreated": NOW, "eventType": "product.updated"}),
                "eventId is missing",
            ),
            (json!({"eventId": "", "eventCreated": NOW}), "eventId"),
            (json!({"eventId": 1.5, "eventCreated": NOW}), "eventId"),
            (json!({"eventId": "x"}), "eventCreated is missing"),
            (json!({"eventId": "x", "eventCreated": "1"}), "eventCreated"),
            (
                json!({"eventId": "x", "eventCreated": NOW, "storeId": 1}),
                "eventType is missing",
            ),
            (
                json!({"eventId": "x", "eventCreated": NOW, "eventType": "a b", "storeId": 1}),
                "eventType",
            ),
            (
                json!({"eventId": "x", "eventCreated": NOW, "eventType": "a.b"}),
                "storeId is missing",
            ),
        ];
        for (b, needle) in cases {
            let err = event(b.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{b}: {err}");
        }
        let err = Signed::parse(b"{not json").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn each_event_family_maps_to_its_kind_and_key() {
        let cases = [
            (
                body("product.updated", json!(5), None),
                Some(Kind::Products),
                Some(5),
                None,
            ),
            (
                body("category.deleted", json!("6"), None),
                Some(Kind::Categories),
                Some(6),
                None,
            ),
            (
                body(
                    "customer.created",
                    json!(7),
                    Some(json!({"customerEmail": "a@b"})),
                ),
                Some(Kind::Customers),
                Some(7),
                None,
            ),
            (
                body(
                    "order.updated",
                    json!(900123),
                    Some(json!({"orderId": "K8XTQ"})),
                ),
                Some(Kind::Orders),
                Some(900123),
                Some("K8XTQ"),
            ),
            (
                body(
                    "unfinished_order.created",
                    json!(-1),
                    Some(json!({"orderId": "Q1", "cartId": "c"})),
                ),
                Some(Kind::Orders),
                None,
                Some("Q1"),
            ),
            (
                body("unfinished_order.updated", json!(4321), None),
                Some(Kind::Orders),
                Some(4321),
                None,
            ),
        ];
        for (b, kind, key, order_id) in cases {
            let row = row_of(b.clone(), &ALL).unwrap();
            assert_eq!(
                (row.kind, row.entity_key, row.order_id.as_deref(), row.state),
                (kind, key, order_id, EventState::Pending),
                "{b}"
            );
        }
    }

    #[test]
    fn types_and_kinds_not_mirrored_are_ignored_whatever_their_entity() {
        for b in [
            body("review.created", json!(null), None),
            body("application.installed", json!("1003"), None),
            body("customer_group.updated", json!("x"), None),
            body("invoice.created", json!(7000001), None),
        ] {
            let row = row_of(b.clone(), &ALL).unwrap();
            assert_eq!(row.state, EventState::Ignored, "{b}");
            assert_eq!((row.kind, row.entity_key), (None, None), "{b}");
        }
        let kinds = [Kind::Products, Kind::Orders];
        let row = row_of(body("customer.updated", json!(7), None), &kinds).unwrap();
        assert_eq!((row.kind, row.state), (None, EventState::Ignored));
    }

    #[test]
    fn a_mirrored_event_without_its_entity_is_malformed() {
        for b in [
            body("product.updated", json!(null), None),
            body("order.created", json!("K8XTQ"), None),
            body("category.updated", json!(0), None),
            body("unfinished_order.created", json!(-1), None),
        ] {
            assert!(row_of(b.clone(), &ALL).is_err(), "{b}");
        }
    }

    #[test]
    fn privacy_requests_are_pending_whatever_is_mirrored_and_however_old() {
        for t in [
            "customer.personalDataRemovalRequest",
            "customer.personalDataExportRequest",
            "profile.personalDataRemovalRequest",
            "profile.personalDataExportRequest",
        ] {
            let mut b = body(t, json!(7), None);
            b["eventCreated"] = json!(NOW - 400_000);
            let row = row_of(b, &[Kind::Products]).unwrap();
            assert_eq!(
                (row.kind, row.entity_key, row.state),
                (None, Some(7), EventState::Pending),
                "{t}"
            );
        }
    }

    #[test]
    fn events_older_than_the_replay_window_are_too_old() {
        let mut b = body("product.updated", json!(5), None);
        b["eventCreated"] = json!(NOW - 172_800);
        assert_eq!(row_of(b.clone(), &ALL).unwrap().state, EventState::Pending);
        b["eventCreated"] = json!(NOW - 172_801);
        assert_eq!(row_of(b, &ALL).unwrap().state, EventState::TooOld);
    }
}
