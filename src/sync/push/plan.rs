//! What a push pass sends, decided from the open changes alone (no I/O).

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use super::creates::CREATES_PER_BATCH;
use super::fields::{self, Update};
use crate::mirror::fields::FieldRow;
use crate::mirror::new_products::NewProduct;
use crate::mirror::outbox::OpenChange;

/// One product's or variation's open changes in one batch, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub product_id: i64,
    pub variation_id: Option<i64>,
    pub delta: i64,
    /// The outbox rows it sums.
    pub ids: Vec<i64>,
    /// What the mirror knew of the entity in Ecwid when the batch was made: its product's
    /// `updateTimestamp` and its own quantity.
    pub seen_updated: Option<i64>,
    pub seen_quantity: Option<i64>,
}

/// A batch made by an earlier pass: its key went (or may have gone) to Ecwid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentBefore {
    pub first_sent: i64,
    /// Ecwid's ticket, when an answer to the create came back.
    pub ticket: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlannedBatch {
    pub key: String,
    /// Stock adjustments.
    pub changes: Vec<Change>,
    /// Field values, one partial update per entity.
    pub updates: Vec<Update>,
    /// Products to create (`new_products`), in the same batch so that one key covers all.
    pub creates: Vec<NewProduct>,
    /// `None` for a batch made by this pass.
    pub sent: Option<SentBefore>,
}

impl PlannedBatch {
    /// The outbox rows it carries.
    pub fn ids(&self) -> Vec<i64> {
        let stock = self.changes.iter().flat_map(|c| c.ids.iter().copied());
        let fields = self.updates.iter().flat_map(|u| u.ids.iter().copied());
        stock.chain(fields).collect()
    }

    /// The `new_products` rows it carries.
    pub fn create_ids(&self) -> Vec<i64> {
        self.creates.iter().map(|r| r.id).collect()
    }
}

/// What is open in the mirror when a pass starts.
#[derive(Clone, Debug, Default)]
pub struct Open<'a> {
    /// Stock changes, pending or sent before.
    pub stock: &'a [OpenChange],
    /// Field changes of earlier batches.
    pub fields_sent: &'a [FieldRow],
    /// Field values decided to go now.
    pub updates: Vec<Update>,
    /// Requests of `new_products`, pending or sent before.
    pub creates: Vec<NewProduct>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Rows whose entity's changes sum to zero.
    pub cancelled: Vec<i64>,
    /// Batches to send: those made earlier whose key Ecwid still remembers, then new ones.
    pub batches: Vec<PlannedBatch>,
    /// Batches made earlier whose key Ecwid may have forgotten: sending them again could run
    /// them twice, so their outcome is decided otherwise (see `expired`).
    pub expired: Vec<PlannedBatch>,
}

/// Decides what a pass sends at `now`. Batches made earlier go again under their keys,
/// unchanged, while Ecwid remembers the key (`key_lifetime` seconds from the first send,
/// less a margin for the request on its way); pending creates and stock changes (summed per
/// entity) and the field updates decided to go are put into new batches of at most
/// `per_batch` entities (of which at most [`CREATES_PER_BATCH`] creates), keyed by
/// [`batch_key`].
pub fn plan(open: Open, mirror_uid: &str, per_batch: usize, now: i64, key_lifetime: i64) -> Plan {
    let usable = key_lifetime - (key_lifetime / 12).max(1);
    let mut keyed: BTreeMap<&str, Keyed> = BTreeMap::new();
    let mut pending = Vec::new();
    for c in open.stock {
        match &c.batch_key {
            Some(key) => keyed.entry(key.as_str()).or_default().0.push(c),
            None => pending.push(c),
        }
    }
    for r in open.fields_sent {
        if let Some(key) = &r.batch_key {
            keyed.entry(key.as_str()).or_default().1.push(r);
        }
    }
    let (creates_sent, creates_pending): (Vec<_>, Vec<_>) =
        open.creates.iter().partition(|r| r.batch_key.is_some());
    for r in creates_sent {
        if let Some(key) = &r.batch_key {
            keyed.entry(key.as_str()).or_default().2.push(r);
        }
    }
    let mut plan = Plan::default();
    for (key, (rows, field_rows, creates)) in keyed {
        let first_sent = rows
            .iter()
            .filter_map(|r| r.first_sent)
            .chain(field_rows.iter().filter_map(|r| r.first_sent))
            .chain(creates.iter().filter_map(|r| r.first_sent))
            .min()
            .unwrap_or(now);
        let ticket = rows
            .iter()
            .find_map(|r| r.ticket.clone())
            .or_else(|| field_rows.iter().find_map(|r| r.ticket.clone()))
            .or_else(|| creates.iter().find_map(|r| r.ticket.clone()));
        let batch = PlannedBatch {
            key: key.to_string(),
            changes: coalesce(&rows),
            updates: fields::resent_updates(&field_rows),
            creates: creates.into_iter().cloned().collect(),
            sent: Some(SentBefore { first_sent, ticket }),
        };
        if now - first_sent < usable {
            plan.batches.push(batch);
        } else {
            plan.expired.push(batch);
        }
    }
    let (zero, changes): (Vec<Change>, Vec<Change>) =
        coalesce(&pending).into_iter().partition(|c| c.delta == 0);
    plan.cancelled = zero.into_iter().flat_map(|c| c.ids).collect();
    plan.cancelled.sort_unstable();
    let attempts: HashMap<i64, i64> = pending.iter().map(|c| (c.id, c.attempts)).collect();
    let per_batch = per_batch.max(1);
    let mut creates = creates_pending.into_iter().cloned().peekable();
    let mut changes = changes.into_iter().peekable();
    let mut updates = open.updates.into_iter().peekable();
    while creates.peek().is_some() || changes.peek().is_some() || updates.peek().is_some() {
        // Creates first: a tool that creates a product and then changes it finds it in
        // `products` sooner.
        let batch_creates: Vec<NewProduct> = creates
            .by_ref()
            .take(CREATES_PER_BATCH.min(per_batch))
            .collect();
        let batch_changes: Vec<Change> = changes
            .by_ref()
            .take(per_batch - batch_creates.len())
            .collect();
        let batch_updates: Vec<Update> = updates
            .by_ref()
            .take(per_batch - batch_creates.len() - batch_changes.len())
            .collect();
        let mut batch = PlannedBatch {
            key: String::new(),
            changes: batch_changes,
            updates: batch_updates,
            creates: batch_creates,
            sent: None,
        };
        let ids = batch.ids();
        let stock_round = ids.iter().filter_map(|id| attempts.get(id)).max();
        let fields_round = batch.updates.iter().map(|u| u.attempts).max();
        let creates_round = batch.creates.iter().map(|r| r.attempts).max();
        let round = stock_round
            .copied()
            .max(fields_round)
            .max(creates_round)
            .unwrap_or(0)
            + 1;
        batch.key = batch_key(mirror_uid, round, &ids, &batch.create_ids());
        plan.batches.push(batch);
    }
    plan
}

/// Rows of one batch sent before: stock changes, field changes, creates.
type Keyed<'a> = (Vec<&'a OpenChange>, Vec<&'a FieldRow>, Vec<&'a NewProduct>);

/// Sums rows per entity, in the order each entity first appears.
fn coalesce(rows: &[&OpenChange]) -> Vec<Change> {
    let mut order: Vec<(i64, Option<i64>)> = Vec::new();
    let mut sums: HashMap<(i64, Option<i64>), Change> = HashMap::new();
    for r in rows {
        let entity = (r.product_id, r.variation_id);
        let change = sums.entry(entity).or_insert_with(|| {
            order.push(entity);
            Change {
                product_id: r.product_id,
                variation_id: r.variation_id,
                delta: 0,
                ids: Vec::new(),
                seen_updated: r.seen_updated,
                seen_quantity: r.seen_quantity,
            }
        });
        change.delta += r.delta;
        change.ids.push(r.id);
    }
    order.into_iter().filter_map(|e| sums.remove(&e)).collect()
}

/// A UUID-shaped key derived from the mirror's name, the rows a batch carries (`outbox` and
/// `new_products` ids) and how many times they were put in a batch: the same batch always
/// gets the same key, and rows sent again in a new batch (after Ecwid did not run them) get
/// a new one.
pub fn batch_key(mirror_uid: &str, round: i64, ids: &[i64], create_ids: &[i64]) -> String {
    let seed = if create_ids.is_empty() {
        format!("ecwid-sync outbox {mirror_uid} {round}:")
    } else {
        format!("ecwid-sync outbox {mirror_uid} {round} new {create_ids:?}:")
    };
    uuid_key(&seed, ids)
}

/// A key in the UUID form Ecwid's SDK sends, derived from `seed` and `ids`.
pub(super) fn uuid_key(seed: &str, ids: &[i64]) -> String {
    let mut hash = Sha256::new();
    hash.update(seed.as_bytes());
    for id in ids {
        hash.update(format!("{id},").as_bytes());
    }
    let d = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const HOUR: i64 = 3600;

    fn row(id: i64, product_id: i64, variation_id: Option<i64>, delta: i64) -> OpenChange {
        OpenChange {
            id,
            product_id,
            variation_id,
            delta,
            attempts: 0,
            batch_key: None,
            first_sent: None,
            ticket: None,
            seen_updated: None,
            seen_quantity: None,
        }
    }

    fn stock(rows: &[OpenChange]) -> Open<'_> {
        Open {
            stock: rows,
            ..Open::default()
        }
    }

    fn sent(mut r: OpenChange, key: &str, first_sent: i64) -> OpenChange {
        r.batch_key = Some(key.into());
        r.attempts = 1;
        r.first_sent = Some(first_sent);
        r
    }

    #[test]
    fn changes_are_summed_per_entity_and_a_change_and_its_undo_cancel_out() {
        let open = [
            row(1, 7, None, -1),
            row(2, 7, Some(70), 4),
            row(3, 7, None, -1),
            row(4, 8, None, 5),
            row(5, 8, None, -5),
        ];
        let plan = plan(stock(&open), "uid", 10, NOW, HOUR);
        assert_eq!(plan.cancelled, vec![4, 5]);
        assert_eq!(plan.batches.len(), 1);
        let deltas: Vec<_> = plan.batches[0]
            .changes
            .iter()
            .map(|c| (c.product_id, c.variation_id, c.delta, c.ids.clone()))
            .collect();
        assert_eq!(
            deltas,
            vec![(7, None, -2, vec![1, 3]), (7, Some(70), 4, vec![2])]
        );
    }

    #[test]
    fn keyed_changes_go_again_under_their_key_and_new_ones_get_new_batches() {
        let open = [
            sent(row(1, 7, None, 3), "k1", NOW - 10),
            row(2, 7, None, 2),
            row(3, 9, None, 1),
        ];
        let plan = plan(stock(&open), "uid", 1, NOW, HOUR);
        assert_eq!(plan.batches.len(), 3);
        assert_eq!(plan.batches[0].key, "k1");
        assert!(plan.batches[0].sent.is_some());
        assert_eq!(plan.batches[0].changes[0].delta, 3);
        assert_eq!(plan.batches[1].changes[0].ids, vec![2]);
        assert_eq!(plan.batches[2].changes[0].ids, vec![3]);
        assert_ne!(plan.batches[1].key, plan.batches[2].key);
        assert!(plan.expired.is_empty());
    }

    #[test]
    fn a_key_ecwid_may_have_forgotten_is_never_sent_again() {
        let open = [
            sent(row(1, 7, None, 3), "fresh", NOW - 54 * 60),
            sent(row(2, 8, None, 3), "old", NOW - 56 * 60),
            sent(row(3, 9, None, 3), "older", NOW - 2 * HOUR),
        ];
        let plan = plan(stock(&open), "uid", 10, NOW, HOUR);
        let keys = |b: &[PlannedBatch]| b.iter().map(|b| b.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&plan.batches), vec!["fresh"]);
        assert_eq!(keys(&plan.expired), vec!["old", "older"]);
    }

    #[test]
    fn rows_sent_again_in_a_new_batch_get_a_new_key() {
        let mut again = row(1, 7, None, 3);
        again.attempts = 1;
        let first = plan(stock(&[row(1, 7, None, 3)]), "uid", 10, NOW, HOUR);
        let second = plan(stock(&[again]), "uid", 10, NOW, HOUR);
        assert_ne!(first.batches[0].key, second.batches[0].key);
    }

    #[test]
    fn a_batch_key_is_a_uuid_that_changes_with_the_mirror_the_rows_and_the_round() {
        let key = batch_key("uid", 1, &[1, 2], &[]);
        assert_eq!(key, batch_key("uid", 1, &[1, 2], &[]));
        assert_eq!(key.len(), 36);
        assert_eq!(&key[14..15], "4");
        assert_ne!(key, batch_key("other", 1, &[1, 2], &[]));
        assert_ne!(key, batch_key("uid", 2, &[1, 2], &[]));
        assert_ne!(key, batch_key("uid", 1, &[1, 3], &[]));
        assert_ne!(key, batch_key("uid", 1, &[1, 2], &[1]));
        assert_ne!(
            batch_key("uid", 1, &[], &[1]),
            batch_key("uid", 1, &[1], &[])
        );
    }

    fn create(id: i64) -> NewProduct {
        NewProduct {
            id,
            name: format!("New {id}"),
            sku: format!("NEW-{id}"),
            price: 1.0,
            compare_to_price: None,
            quantity: Some(1),
            enabled: true,
            description: None,
            weight: None,
            category_ids: None,
            batch_key: None,
            ticket: None,
            first_sent: None,
            attempts: 0,
        }
    }

    #[test]
    fn creates_ride_with_stock_changes_and_go_again_under_their_key() {
        let stock_rows = [row(1, 7, None, 3)];
        let mut sent_before = create(2);
        sent_before.batch_key = Some("k1".into());
        sent_before.first_sent = Some(NOW - 10);
        let open = Open {
            stock: &stock_rows,
            creates: vec![create(1), sent_before],
            ..Open::default()
        };
        let plan = plan(open, "uid", 10, NOW, HOUR);
        assert_eq!(plan.batches.len(), 2);
        assert_eq!(plan.batches[0].key, "k1");
        assert_eq!(plan.batches[0].create_ids(), vec![2]);
        assert!(plan.batches[0].changes.is_empty());
        assert_eq!(plan.batches[1].create_ids(), vec![1]);
        assert_eq!(plan.batches[1].ids(), vec![1]);
    }

    #[test]
    fn a_create_put_in_a_batch_again_gets_a_new_key() {
        let first = plan(
            Open {
                creates: vec![create(1)],
                ..Open::default()
            },
            "uid",
            10,
            NOW,
            HOUR,
        );
        let mut again = create(1);
        again.attempts = 1;
        let second = plan(
            Open {
                creates: vec![again],
                ..Open::default()
            },
            "uid",
            10,
            NOW,
            HOUR,
        );
        assert_ne!(first.batches[0].key, second.batches[0].key);
    }

    #[test]
    fn a_batch_holds_at_most_its_share_of_creates_and_fills_up_with_stock() {
        let stock_rows: Vec<_> = (1..=3).map(|i| row(i, i, None, 1)).collect();
        let open = Open {
            stock: &stock_rows,
            creates: (1..=(CREATES_PER_BATCH as i64 + 1)).map(create).collect(),
            ..Open::default()
        };
        let plan = plan(open, "uid", CREATES_PER_BATCH + 2, NOW, HOUR);
        let shape: Vec<_> = plan
            .batches
            .iter()
            .map(|b| (b.creates.len(), b.changes.len()))
            .collect();
        assert_eq!(shape, vec![(CREATES_PER_BATCH, 2), (1, 1)]);
    }
}
