//! Batches whose outcome is still unknown when Ecwid may have forgotten their key.
//!
//! Ecwid remembers a `deduplicationKey` for an hour; after that, a create with the same key
//! runs the batch again, so re-sending is no longer safe. The pusher then asks Ecwid for the
//! batch by its ticket, if a create was ever answered. Without one, it reads the products:
//! an entity whose product still shows the very update time and quantity the mirror knew
//! when the batch was made cannot have been changed by it, so its changes go in a new batch.
//! Anything else is `uncertain`, for the operator to settle.

use super::plan::Change;
use crate::mirror::apply::Rows;
use crate::mirror::outbox::Outcome;

/// An entity as Ecwid shows it now: its product's update time and its own quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current {
    pub updated: Option<i64>,
    pub quantity: Option<i64>,
}

/// The change's entity in `products` (read from Ecwid just now); `None` when Ecwid no
/// longer has it.
pub fn current_of(products: &Rows, change: &Change) -> Option<Current> {
    let Rows::Products(products) = products else {
        return None;
    };
    let product = products.iter().find(|p| p.id == change.product_id)?;
    let quantity = match change.variation_id {
        None => product.quantity,
        Some(v) => product.variations.iter().find(|x| x.id == v)?.quantity,
    };
    Some(Current {
        updated: product.updated_at,
        quantity,
    })
}

/// What became of a change of an unanswered batch, from its entity as Ecwid shows it now.
pub fn decide(change: &Change, current: Option<Current>) -> Outcome {
    let Some(now) = current else {
        return Outcome::Failed(match change.variation_id {
            None => "the product was deleted in Ecwid".into(),
            Some(_) => "the variation was deleted in Ecwid".into(),
        });
    };
    let untouched = change.seen_updated.is_some()
        && now.updated == change.seen_updated
        && now.quantity == change.seen_quantity;
    if untouched {
        Outcome::NotRun(
            "Ecwid did not answer the batch within the hour it remembers its key, and the product has not changed since: sent in a new batch".into(),
        )
    } else {
        Outcome::Uncertain(format!(
            "Ecwid did not answer the batch within the hour it remembers its key, and the product changed since it was sent (quantity {} then, {} now), so whether this change ran cannot be told; check the store and settle it with `ecwid-sync outbox resolve ID --applied` or `--resend`",
            shown(change.seen_quantity),
            shown(now.quantity)
        ))
    }
}

fn shown(quantity: Option<i64>) -> String {
    quantity.map_or_else(|| "unknown".into(), |q| q.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seen_updated: Option<i64>, seen_quantity: Option<i64>) -> Change {
        Change {
            product_id: 7,
            variation_id: None,
            delta: 3,
            ids: vec![1],
            seen_updated,
            seen_quantity,
        }
    }

    fn now(updated: i64, quantity: i64) -> Option<Current> {
        Some(Current {
            updated: Some(updated),
            quantity: Some(quantity),
        })
    }

    #[test]
    fn an_untouched_product_proves_the_batch_did_not_run() {
        let outcome = decide(&change(Some(100), Some(5)), now(100, 5));
        assert!(matches!(outcome, Outcome::NotRun(_)), "{outcome:?}");
    }

    #[test]
    fn any_change_since_leaves_the_outcome_to_the_operator() {
        for current in [now(101, 8), now(101, 5), now(100, 8)] {
            let outcome = decide(&change(Some(100), Some(5)), current);
            assert!(matches!(outcome, Outcome::Uncertain(_)), "{current:?}");
        }
    }

    #[test]
    fn an_unknown_update_time_proves_nothing() {
        let current = Some(Current {
            updated: None,
            quantity: Some(5),
        });
        let outcome = decide(&change(None, Some(5)), current);
        assert!(matches!(outcome, Outcome::Uncertain(_)), "{outcome:?}");
    }

    #[test]
    fn a_deleted_entity_fails_the_change() {
        let outcome = decide(&change(Some(100), Some(5)), None);
        assert_eq!(
            outcome,
            Outcome::Failed("the product was deleted in Ecwid".into())
        );
    }
}
