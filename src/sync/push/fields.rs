//! Field changes (prices, names, order status ...): what to send, and how a conflict with a
//! change made in Ecwid meanwhile is settled. Pure: no I/O.
//!
//! A field conflicts when Ecwid's current value differs from the change's base (the value
//! from Ecwid it replaced) and from the value the tool wrote. Stock never conflicts: it
//! travels as a delta.

use std::collections::BTreeMap;

use rusqlite::types::Value;

pub use crate::config::Policy;
use crate::mirror::fields::{Entity, FieldRow, FieldSpec, Shape};

/// What becomes of a field change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Sent to Ecwid.
    Push,
    /// Ecwid already holds the local value: nothing to send.
    AlreadyThere,
    /// The tool wrote the base back: nothing to send, and Ecwid's value stays.
    Cancelled,
    /// A conflict the policy settles for Ecwid's value.
    KeepRemote,
    /// A conflict held for the operator.
    Hold,
}

/// Whether two values are the same value: numbers by value (12 and 12.0), NULL equal to NULL.
pub fn same(a: &Value, b: &Value) -> bool {
    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Integer(i) => Some(*i as f64),
            Value::Real(r) => Some(*r),
            _ => None,
        }
    }
    match (number(a), number(b)) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// The rule: compare the change's base and local value with Ecwid's value now (`remote`),
/// and settle a conflict by `policy`. Times are unix seconds: the tool's write, and Ecwid's
/// update time of the entity (unknown counts as older).
pub fn decide(
    base: &Value,
    local: &Value,
    remote: &Value,
    policy: Policy,
    local_at: i64,
    remote_at: Option<i64>,
) -> Decision {
    if same(local, remote) {
        return Decision::AlreadyThere;
    }
    if same(local, base) {
        return Decision::Cancelled;
    }
    if same(remote, base) {
        return Decision::Push;
    }
    match policy {
        Policy::LocalWins => Decision::Push,
        Policy::RemoteWins => Decision::KeepRemote,
        Policy::Manual => Decision::Hold,
        Policy::NewestWins if local_at > remote_at.unwrap_or(i64::MIN) => Decision::Push,
        Policy::NewestWins => Decision::KeepRemote,
    }
}

/// One field's open changes, summed up: the first one's base, the last one's value.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub entity: Entity,
    pub field: &'static FieldSpec,
    pub base: Value,
    pub local: Value,
    pub local_at: i64,
    pub ids: Vec<i64>,
    /// Batches its rows were sent in, at most.
    pub attempts: i64,
}

/// Coalesces rows per entity and field: several changes of one field make one, the last
/// value, against the value the first one replaced.
pub fn coalesce(rows: &[&FieldRow]) -> Vec<FieldChange> {
    let mut changes: BTreeMap<(Entity, &str), FieldChange> = BTreeMap::new();
    for r in rows {
        changes
            .entry((r.entity, r.field.column))
            .and_modify(|c| {
                c.local = r.value.clone();
                c.local_at = r.created_at;
                c.ids.push(r.id);
                c.attempts = c.attempts.max(r.attempts);
            })
            .or_insert_with(|| FieldChange {
                entity: r.entity,
                field: r.field,
                base: r.base.clone(),
                local: r.value.clone(),
                local_at: r.created_at,
                ids: vec![r.id],
                attempts: r.attempts,
            });
    }
    changes.into_values().collect()
}

/// One entity's field values to send, in one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub entity: Entity,
    pub fields: Vec<(&'static FieldSpec, Value)>,
    /// The outbox rows it carries.
    pub ids: Vec<i64>,
    /// Batches its rows were sent in, at most (a new batch gets a new key).
    pub attempts: i64,
    /// An order's string id, which its path takes (set from the mirror before sending).
    pub order_id: Option<String>,
}

impl Update {
    /// The body of the partial update: only the fields that change, as Ecwid writes them.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        for (field, value) in &self.fields {
            body.insert(field.json.to_string(), json_value(field, value));
        }
        serde_json::Value::Object(body)
    }
}

fn json_value(field: &FieldSpec, value: &Value) -> serde_json::Value {
    match (field.shape, value) {
        (_, Value::Null) => serde_json::Value::Null,
        (Shape::Flag, Value::Integer(i)) => serde_json::Value::Bool(*i != 0),
        // The capture trigger writes the array; should it ever not parse, it goes as the
        // text it is, which Ecwid refuses with its message, rather than as an empty set that
        // would take the product out of every category.
        (Shape::Ids, Value::Text(t)) => {
            serde_json::from_str(t).unwrap_or_else(|_| t.clone().into())
        }
        (_, Value::Integer(i)) => (*i).into(),
        (_, Value::Real(r)) => serde_json::Number::from_f64(*r)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        (_, Value::Text(t)) => t.clone().into(),
        (_, Value::Blob(_)) => serde_json::Value::Null,
    }
}

/// Groups changes to send per entity, in entity order.
pub fn updates(changes: Vec<FieldChange>) -> Vec<Update> {
    let mut by_entity: BTreeMap<Entity, Update> = BTreeMap::new();
    for c in changes {
        let update = by_entity.entry(c.entity).or_insert_with(|| Update {
            entity: c.entity,
            fields: Vec::new(),
            ids: Vec::new(),
            attempts: 0,
            order_id: None,
        });
        update.fields.push((c.field, c.local));
        update.ids.extend(c.ids);
        update.attempts = update.attempts.max(c.attempts);
    }
    by_entity.into_values().collect()
}

/// The updates of a batch made earlier, from its rows (each already decided).
pub fn resent_updates(rows: &[&FieldRow]) -> Vec<Update> {
    let changes = coalesce(rows);
    updates(changes)
}

/// A value as the operator reads it.
pub fn shown(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(t) => format!("{t:?}"),
        Value::Blob(_) => "(blob)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use Policy::*;

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn every_policy_and_edge_case_decides_as_stated() {
        let (n, r, i) = (Value::Null, Value::Real, Value::Integer);
        // (base, local, remote, policy, local_at, remote_at) -> decision
        type Case = (Value, Value, Value, Policy, i64, Option<i64>, Decision);
        let table: Vec<Case> = vec![
            // No conflict: Ecwid still holds the base, the local value goes.
            (r(10.0), r(12.0), r(10.0), Manual, 5, Some(9), Push),
            (r(10.0), r(12.0), i(10), RemoteWins, 5, Some(9), Push),
            (n.clone(), r(3.0), n.clone(), Manual, 5, None, Push),
            (t("a"), n.clone(), t("a"), Manual, 5, None, Push),
            // Ecwid already holds the local value: nothing to send, whatever the policy.
            (r(10.0), r(12.0), r(12.0), Manual, 5, Some(9), AlreadyThere),
            (
                r(10.0),
                r(12.0),
                i(12),
                RemoteWins,
                5,
                Some(9),
                AlreadyThere,
            ),
            (
                n.clone(),
                n.clone(),
                n.clone(),
                LocalWins,
                5,
                None,
                AlreadyThere,
            ),
            // The tool wrote the base back: cancelled, even when Ecwid moved on.
            (r(10.0), r(10.0), r(11.0), LocalWins, 5, Some(9), Cancelled),
            (n.clone(), n.clone(), t("x"), Manual, 5, None, Cancelled),
            // Conflicts: base, local and remote all differ.
            (r(10.0), r(12.0), r(11.0), LocalWins, 5, Some(9), Push),
            (
                r(10.0),
                r(12.0),
                r(11.0),
                RemoteWins,
                5,
                Some(9),
                KeepRemote,
            ),
            (r(10.0), r(12.0), r(11.0), Manual, 5, Some(9), Hold),
            (r(10.0), r(12.0), r(11.0), NewestWins, 10, Some(9), Push),
            (
                r(10.0),
                r(12.0),
                r(11.0),
                NewestWins,
                9,
                Some(10),
                KeepRemote,
            ),
            (
                r(10.0),
                r(12.0),
                r(11.0),
                NewestWins,
                9,
                Some(9),
                KeepRemote,
            ),
            (r(10.0), r(12.0), r(11.0), NewestWins, 9, None, Push),
            (
                t("PROCESSING"),
                t("SHIPPED"),
                n.clone(),
                Manual,
                5,
                Some(1),
                Hold,
            ),
            (
                n.clone(),
                t("TRACK-1"),
                t("TRACK-2"),
                NewestWins,
                5,
                Some(6),
                KeepRemote,
            ),
        ];
        for (base, local, remote, policy, local_at, remote_at, expected) in table {
            assert_eq!(
                decide(&base, &local, &remote, policy, local_at, remote_at),
                expected,
                "base {base:?}, local {local:?}, remote {remote:?}, {policy:?}, {local_at} vs {remote_at:?}"
            );
        }
    }

    #[test]
    fn numbers_are_compared_by_value_and_text_exactly() {
        assert!(same(&Value::Integer(12), &Value::Real(12.0)));
        assert!(!same(&Value::Integer(12), &Value::Text("12".into())));
        assert!(!same(&Value::Text("a".into()), &Value::Text("A".into())));
        assert!(same(&Value::Null, &Value::Null));
        assert!(!same(&Value::Null, &Value::Integer(0)));
    }

    #[test]
    fn several_changes_of_a_field_make_one_against_the_first_base() {
        use crate::mirror::fields::{EntityType, find};
        let entity = Entity {
            kind: EntityType::Product,
            product_id: Some(7),
            variation_id: None,
            order_number: None,
            category_id: None,
        };
        let row = |id, value: f64, base: f64, at| FieldRow {
            id,
            entity,
            field: find(EntityType::Product, "price").unwrap(),
            value: Value::Real(value),
            base: Value::Real(base),
            created_at: at,
            attempts: 0,
            batch_key: None,
            first_sent: None,
            ticket: None,
        };
        let rows = [row(1, 12.0, 10.0, 100), row(2, 13.0, 12.0, 105)];
        let changes = coalesce(&rows.iter().collect::<Vec<_>>());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].base, Value::Real(10.0));
        assert_eq!(changes[0].local, Value::Real(13.0));
        assert_eq!(changes[0].local_at, 105);
        assert_eq!(changes[0].ids, vec![1, 2]);
        let update = &updates(changes)[0];
        assert_eq!(update.body(), serde_json::json!({"price": 13.0}));
    }

    #[test]
    fn a_flag_is_sent_as_a_boolean() {
        use crate::mirror::fields::{EntityType, find};
        let update = Update {
            entity: Entity {
                kind: EntityType::Product,
                product_id: Some(7),
                variation_id: None,
                order_number: None,
                category_id: None,
            },
            fields: vec![(
                find(EntityType::Product, "enabled").unwrap(),
                Value::Integer(0),
            )],
            ids: vec![1],
            attempts: 0,
            order_id: None,
        };
        assert_eq!(update.body(), serde_json::json!({"enabled": false}));
    }

    #[test]
    fn a_set_of_categories_is_sent_as_an_array_and_text_that_is_no_array_as_text() {
        use crate::mirror::fields::{EntityType, find};
        let field = find(EntityType::Product, "category_ids").unwrap();
        let body = |value: &str| {
            Update {
                entity: Entity {
                    kind: EntityType::Product,
                    product_id: Some(7),
                    variation_id: None,
                    order_number: None,
                    category_id: None,
                },
                fields: vec![(field, Value::Text(value.into()))],
                ids: vec![1],
                attempts: 0,
                order_id: None,
            }
            .body()
        };
        assert_eq!(body("[3,12]"), serde_json::json!({"categoryIds": [3, 12]}));
        assert_eq!(body("[]"), serde_json::json!({"categoryIds": []}));
        // Never an empty set, which would take the product out of every category.
        assert_eq!(body("3,12"), serde_json::json!({"categoryIds": "3,12"}));
    }
}
