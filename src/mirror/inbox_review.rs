//! The webhook inbox as the operator sees it: recent events with what became of each, and
//! counts per event type. Read-only; the receiver and the delta worker own the rows
//! (`inbox`).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::kind::Kind;

/// The states `webhook_events.state` holds, in the order a listing shows them.
pub const STATES: [&str; 5] = ["pending", "applied", "echo", "ignored", "too_old"];

/// The state named `name`, or an error that lists those there are.
pub fn state_named(name: &str) -> Result<&'static str, String> {
    let name = name.trim();
    STATES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown webhook event state {name:?}; expected one of {}",
                STATES.join(", ")
            )
        })
}

/// Which events to list; every field left `None` lets all through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// One of [`STATES`]; [`state_named`] reads one from what a person typed.
    pub state: Option<&'static str>,
    /// Ecwid's type, e.g. `product.updated`.
    pub event_type: Option<String>,
    pub entity: Option<EventEntity>,
}

/// The entity events are about, as the inbox keys it: a variation's events are its
/// product's (Ecwid announces a variation's change as `product.updated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventEntity {
    pub kind: Kind,
    /// The mirror's key: product, category or customer id, an order's internal id.
    pub key: i64,
    /// An order's public id: an unfinished order's events name it by that alone.
    pub order_id: Option<String>,
}

/// One row of `webhook_events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecentEvent {
    pub event_id: String,
    pub event_type: String,
    /// `products`, `categories`, `orders`, `customers`; `None` for an event not mirrored.
    pub kind: Option<String>,
    pub entity_key: Option<i64>,
    pub order_id: Option<String>,
    /// Ecwid's time of the event.
    pub created: i64,
    pub received: i64,
    pub state: String,
    pub attempts: i64,
    /// The last failure to read its entity, kept after it is applied.
    pub last_error: Option<String>,
    pub processed_at: Option<i64>,
}

/// The newest events that pass `filter`, newest first, at most `limit`.
pub fn recent(
    conn: &Connection,
    filter: &EventFilter,
    limit: usize,
) -> rusqlite::Result<Vec<RecentEvent>> {
    let (kind, key, order_id) = match &filter.entity {
        Some(e) => (Some(e.kind.name()), Some(e.key), e.order_id.as_deref()),
        None => (None, None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, event_type, kind, entity_key, order_id, event_created, received_at,
                state, attempts, last_error, processed_at
           FROM webhook_events
          WHERE (?1 IS NULL OR state = ?1)
            AND (?2 IS NULL OR event_type = ?2)
            AND (?3 IS NULL OR (kind = ?3 AND entity_key = ?4)
                 OR (?5 IS NOT NULL AND order_id = ?5))
          ORDER BY received_at DESC, rowid DESC
          LIMIT ?6",
    )?;
    stmt.query_map(
        params![
            filter.state,
            filter.event_type,
            kind,
            key,
            order_id,
            limit as i64
        ],
        |r| {
            Ok(RecentEvent {
                event_id: r.get(0)?,
                event_type: r.get(1)?,
                kind: r.get(2)?,
                entity_key: r.get(3)?,
                order_id: r.get(4)?,
                created: r.get(5)?,
                received: r.get(6)?,
                state: r.get(7)?,
                attempts: r.get(8)?,
                last_error: r.get(9)?,
                processed_at: r.get(10)?,
            })
        },
    )?
    .collect()
}

/// Events of one type received since a time, by state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TypeCount {
    pub event_type: String,
    pub total: i64,
    /// Per state of [`STATES`] that occurs; a state without events is left out.
    pub by_state: BTreeMap<String, i64>,
}

/// Per event type, the events received at or after `since` (unix seconds), by state; the
/// busiest type first.
pub fn counts(conn: &Connection, since: i64) -> rusqlite::Result<Vec<TypeCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_type, state, count(*) FROM webhook_events
          WHERE received_at >= ?1 GROUP BY event_type, state",
    )?;
    let rows = stmt.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut by_type: BTreeMap<String, TypeCount> = BTreeMap::new();
    for row in rows {
        let (event_type, state, n) = row?;
        let count = by_type
            .entry(event_type.clone())
            .or_insert_with(|| TypeCount {
                event_type,
                ..TypeCount::default()
            });
        count.total += n;
        *count.by_state.entry(state).or_default() += n;
    }
    let mut counts: Vec<TypeCount> = by_type.into_values().collect();
    counts.sort_by(|a, b| b.total.cmp(&a.total).then(a.event_type.cmp(&b.event_type)));
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(conn: &Connection) {
        for (id, ty, kind, key, order_id, received, state, error) in [
            (
                "e1",
                "product.updated",
                Some("products"),
                Some(7),
                None,
                100,
                "applied",
                None,
            ),
            (
                "e2",
                "product.updated",
                Some("products"),
                Some(8),
                None,
                200,
                "echo",
                None,
            ),
            (
                "e3",
                "order.created",
                Some("orders"),
                Some(31),
                Some("BK1G6"),
                300,
                "pending",
                Some("Ecwid answered 503"),
            ),
            (
                "e4",
                "order.updated",
                Some("orders"),
                None,
                Some("BK1G6"),
                400,
                "pending",
                None,
            ),
            (
                "e5",
                "review.created",
                None,
                None,
                None,
                500,
                "ignored",
                None,
            ),
            (
                "e6",
                "product.updated",
                Some("products"),
                Some(7),
                None,
                600,
                "too_old",
                None,
            ),
        ] {
            conn.execute(
                "INSERT INTO webhook_events (event_id, event_type, kind, entity_key, order_id,
                     event_created, received_at, state, attempts, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6 - 1, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    ty,
                    kind,
                    key,
                    order_id,
                    received,
                    state,
                    i64::from(error.is_some()),
                    error
                ],
            )
            .unwrap();
        }
    }

    fn ids(events: &[RecentEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[test]
    fn recent_events_come_newest_first_and_filter_by_state_type_and_entity() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::mirror::open_and_migrate(&dir.path().join("m.db")).unwrap();
        stage(&conn);
        let all = recent(&conn, &EventFilter::default(), 50).unwrap();
        assert_eq!(ids(&all), ["e6", "e5", "e4", "e3", "e2", "e1"]);
        assert_eq!(
            ids(&recent(&conn, &EventFilter::default(), 2).unwrap()),
            ["e6", "e5"]
        );

        assert_eq!(
            state_named("Nope").unwrap_err(),
            "unknown webhook event state \"Nope\"; expected one of pending, applied, echo, ignored, too_old"
        );
        let pending = EventFilter {
            state: Some(state_named(" Pending ").unwrap()),
            ..EventFilter::default()
        };
        let pending = recent(&conn, &pending, 50).unwrap();
        assert_eq!(ids(&pending), ["e4", "e3"]);
        assert_eq!(pending[1].last_error.as_deref(), Some("Ecwid answered 503"));
        assert_eq!(pending[1].attempts, 1);

        let updated = EventFilter {
            event_type: Some("product.updated".into()),
            ..EventFilter::default()
        };
        assert_eq!(
            ids(&recent(&conn, &updated, 50).unwrap()),
            ["e6", "e2", "e1"]
        );

        let product = EventFilter {
            entity: Some(EventEntity {
                kind: Kind::Products,
                key: 7,
                order_id: None,
            }),
            ..EventFilter::default()
        };
        assert_eq!(ids(&recent(&conn, &product, 50).unwrap()), ["e6", "e1"]);

        // An unfinished order's event names it by its public id alone.
        let order = EventFilter {
            entity: Some(EventEntity {
                kind: Kind::Orders,
                key: 31,
                order_id: Some("BK1G6".into()),
            }),
            ..EventFilter::default()
        };
        assert_eq!(ids(&recent(&conn, &order, 50).unwrap()), ["e4", "e3"]);
    }

    #[test]
    fn counts_per_type_hold_each_state_since_the_given_time() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::mirror::open_and_migrate(&dir.path().join("m.db")).unwrap();
        stage(&conn);
        let counts = counts(&conn, 150).unwrap();
        let shown = serde_json::to_value(&counts).unwrap();
        assert_eq!(
            shown,
            serde_json::json!([
                {"event_type": "product.updated", "total": 2, "by_state": {"echo": 1, "too_old": 1}},
                {"event_type": "order.created", "total": 1, "by_state": {"pending": 1}},
                {"event_type": "order.updated", "total": 1, "by_state": {"pending": 1}},
                {"event_type": "review.created", "total": 1, "by_state": {"ignored": 1}},
            ])
        );
        assert!(super::counts(&conn, 1_000).unwrap().is_empty());
    }
}
