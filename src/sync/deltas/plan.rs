//! Deciding what a batch of pending events costs: the events are grouped per entity (one
//! read however many events name it), the entities per kind into reads of 100, oldest
//! first. Pure: no database, no network.

use std::collections::{HashMap, HashSet};

use super::super::fetch::{EntityRef, PAGE_SIZE};
use crate::kind::Kind;
use crate::mirror::inbox::{DeltaTarget, PendingEvent};
use crate::mirror::privacy::{self, PrivacyEvent};

/// The order reads go in: stock first, since that is what goes stale by the second.
pub const READ_ORDER: [Kind; 4] = [
    Kind::Products,
    Kind::Orders,
    Kind::Categories,
    Kind::Customers,
];

/// Why an event needs no read.
pub const NOT_MIRRORED: &str = "its kind is not in sync.kinds";
pub const NO_ENTITY: &str = "it names no entity to read";

/// One entity to read, and the events that named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub entity: EntityRef,
    pub event_ids: Vec<String>,
}

impl Target {
    pub fn into_delta(self) -> DeltaTarget {
        let (key, order_id) = match self.entity {
            EntityRef::Key(key) => (Some(key), None),
            EntityRef::OrderId(id) => (None, Some(id)),
        };
        DeltaTarget {
            key,
            order_id,
            event_ids: self.event_ids,
        }
    }
}

/// One read: up to 100 entities of one kind (customers: one request each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub kind: Kind,
    pub targets: Vec<Target>,
}

/// What one batch does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// In [`READ_ORDER`], each kind's oldest entities first.
    pub reads: Vec<Read>,
    /// Events to settle as `ignored`, with the reason.
    pub ignored: Vec<(String, &'static str)>,
    /// Events left pending because their kind waits to retry a failed read.
    pub waiting: usize,
    /// Privacy requests, handled without any read (whatever `kinds` holds: a customer's
    /// orders are erased even where customers are not mirrored).
    pub privacy: Vec<PrivacyEvent>,
}

impl Read {
    /// Whether the read holds as many entities as one request can: waiting longer could
    /// not make it cheaper.
    pub fn is_full(&self) -> bool {
        self.targets.len() >= PAGE_SIZE as usize
    }
}

/// Plans a batch over `events` (oldest first). `kinds` are the mirrored kinds; `waiting`
/// are kinds whose reads failed lately and wait for their retry (their events stay
/// pending).
pub fn plan(events: &[PendingEvent], kinds: &[Kind], waiting: &HashSet<Kind>) -> Plan {
    let mut plan = Plan::default();
    let mut per_kind: HashMap<Kind, Vec<Target>> = HashMap::new();
    let mut index: HashMap<(Kind, EntityRef), usize> = HashMap::new();
    for event in events {
        if privacy::request_of(&event.event_type).is_some() {
            plan.privacy.push(PrivacyEvent {
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                subject_id: event.entity_key,
                requested_at: event.event_created,
            });
            continue;
        }
        let kind = match event.kind.as_deref().map(str::parse::<Kind>) {
            Some(Ok(kind)) if kinds.contains(&kind) => kind,
            _ => {
                plan.ignored.push((event.event_id.clone(), NOT_MIRRORED));
                continue;
            }
        };
        let entity = match (event.entity_key, &event.order_id) {
            (Some(key), _) => EntityRef::Key(key),
            (None, Some(id)) if kind == Kind::Orders => EntityRef::OrderId(id.clone()),
            _ => {
                plan.ignored.push((event.event_id.clone(), NO_ENTITY));
                continue;
            }
        };
        if waiting.contains(&kind) {
            plan.waiting += 1;
            continue;
        }
        let targets = per_kind.entry(kind).or_default();
        match index.get(&(kind, entity.clone())) {
            Some(&at) => targets[at].event_ids.push(event.event_id.clone()),
            None => {
                index.insert((kind, entity.clone()), targets.len());
                targets.push(Target {
                    entity,
                    event_ids: vec![event.event_id.clone()],
                });
            }
        }
    }
    for kind in READ_ORDER {
        let Some(targets) = per_kind.remove(&kind) else {
            continue;
        };
        plan.reads
            .extend(targets.chunks(PAGE_SIZE as usize).map(|chunk| Read {
                kind,
                targets: chunk.to_vec(),
            }));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        id: &str,
        kind: Option<&str>,
        key: Option<i64>,
        order_id: Option<&str>,
    ) -> PendingEvent {
        PendingEvent {
            event_id: id.to_string(),
            event_type: "x.updated".to_string(),
            kind: kind.map(str::to_string),
            entity_key: key,
            order_id: order_id.map(str::to_string),
            event_created: 1_700_000_000,
        }
    }

    fn products(ids: impl IntoIterator<Item = i64>) -> Vec<PendingEvent> {
        ids.into_iter()
            .map(|i| event(&format!("e{i}"), Some("products"), Some(i), None))
            .collect()
    }

    const MIRRORED: [Kind; 3] = [Kind::Products, Kind::Categories, Kind::Orders];

    #[test]
    fn many_events_for_one_entity_are_one_target_of_one_read() {
        let events: Vec<_> = (0..50)
            .map(|i| event(&format!("e{i}"), Some("products"), Some(7), None))
            .collect();
        let plan = plan(&events, &MIRRORED, &HashSet::new());
        assert_eq!(plan.reads.len(), 1);
        assert_eq!(plan.reads[0].targets.len(), 1);
        assert_eq!(plan.reads[0].targets[0].event_ids.len(), 50);
        assert!(!plan.reads[0].is_full());
    }

    #[test]
    fn products_are_read_first_and_each_kind_in_reads_of_a_hundred() {
        let mut events = vec![event("o", Some("orders"), Some(9), Some("A-9"))];
        events.extend(products(1..=200));
        let plan = plan(&events, &MIRRORED, &HashSet::new());
        let shape: Vec<(Kind, usize)> = plan
            .reads
            .iter()
            .map(|r| (r.kind, r.targets.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (Kind::Products, 100),
                (Kind::Products, 100),
                (Kind::Orders, 1)
            ]
        );
        assert_eq!(plan.reads[0].targets[0].entity, EntityRef::Key(1));
        assert!(plan.reads[0].is_full() && !plan.reads[2].is_full());
    }

    #[test]
    fn an_order_without_an_internal_id_is_read_by_its_public_id() {
        let events = [event("u", Some("orders"), None, Some("AB-12"))];
        let plan = plan(&events, &MIRRORED, &HashSet::new());
        assert_eq!(
            plan.reads[0].targets[0].entity,
            EntityRef::OrderId("AB-12".into())
        );
    }

    #[test]
    fn events_of_kinds_not_mirrored_or_without_entity_are_ignored_and_waiting_kinds_stay() {
        let events = [
            event("c", Some("customers"), Some(5), None),
            event("n", None, None, None),
            event("p", Some("products"), None, None),
            event("k", Some("categories"), Some(3), None),
        ];
        let waiting = HashSet::from([Kind::Categories]);
        let plan = plan(&events, &MIRRORED, &waiting);
        assert_eq!(
            plan.ignored,
            vec![
                ("c".to_string(), NOT_MIRRORED),
                ("n".to_string(), NOT_MIRRORED),
                ("p".to_string(), NO_ENTITY)
            ]
        );
        assert!(plan.reads.is_empty());
        assert_eq!(plan.waiting, 1, "the category event waits for its retry");
    }
}
