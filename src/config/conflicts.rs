//! `[conflicts]`: how a field changed both in the mirror and in Ecwid is settled.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Which fields a conflict policy covers (`[conflicts]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// Product and variation prices, compare-to prices, and the purchase (cost) price.
    Price,
    /// Product and category names, and product descriptions: what buyers read.
    Name,
    /// Product and category visibility, SKUs and weights (also variations'), a product's
    /// categories.
    Catalog,
    /// An order's fulfillment and payment status.
    OrderStatus,
    /// An order's tracking number and private admin note: the staff's notes on it.
    Tracking,
}

/// How a conflict of a field group is settled (`[conflicts]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Ecwid's value stays; the local change is dropped.
    RemoteWins,
    /// The local value is sent, over Ecwid's.
    LocalWins,
    /// The later of the two changes wins: the tool's write against Ecwid's update time
    /// (none for a category: the tool's write then counts as the later).
    NewestWins,
    /// Held for the operator in `conflicts`; the mirror shows Ecwid's value meanwhile.
    Manual,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::RemoteWins => "remote_wins",
            Policy::LocalWins => "local_wins",
            Policy::NewestWins => "newest_wins",
            Policy::Manual => "manual",
        }
    }
}

/// A policy per field group. Prices and names default to `manual`: a wrong price sells at a
/// loss and a wrong name misleads buyers, so a person decides. The rest default to
/// `newest_wins`: a later status, tracking number, SKU or visibility is almost always the
/// one meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictsConfig {
    pub price: Policy,
    pub name: Policy,
    pub catalog: Policy,
    pub order_status: Policy,
    pub tracking: Policy,
}

impl ConflictsConfig {
    pub fn policy(&self, group: Group) -> Policy {
        match group {
            Group::Price => self.price,
            Group::Name => self.name,
            Group::Catalog => self.catalog,
            Group::OrderStatus => self.order_status,
            Group::Tracking => self.tracking,
        }
    }
}

impl Default for ConflictsConfig {
    fn default() -> Self {
        RawConflicts::default()
            .validate()
            .expect("the defaults are valid")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConflicts {
    price: Option<String>,
    name: Option<String>,
    catalog: Option<String>,
    order_status: Option<String>,
    tracking: Option<String>,
}

fn policy(
    key: &'static str,
    value: Option<String>,
    default: Policy,
) -> Result<Policy, ConfigError> {
    match value.as_deref() {
        None => Ok(default),
        Some("remote_wins") => Ok(Policy::RemoteWins),
        Some("local_wins") => Ok(Policy::LocalWins),
        Some("newest_wins") => Ok(Policy::NewestWins),
        Some("manual") => Ok(Policy::Manual),
        Some(other) => Err(invalid(
            key,
            format!(
                "expected one of \"remote_wins\", \"local_wins\", \"newest_wins\", \"manual\", got {other:?}"
            ),
        )),
    }
}

impl RawConflicts {
    pub(super) fn validate(self) -> Result<ConflictsConfig, ConfigError> {
        Ok(ConflictsConfig {
            price: policy("conflicts.price", self.price, Policy::Manual)?,
            name: policy("conflicts.name", self.name, Policy::Manual)?,
            catalog: policy("conflicts.catalog", self.catalog, Policy::NewestWins)?,
            order_status: policy(
                "conflicts.order_status",
                self.order_status,
                Policy::NewestWins,
            )?,
            tracking: policy("conflicts.tracking", self.tracking, Policy::NewestWins)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_names_wait_for_a_person_and_the_rest_take_the_newest() {
        let c = ConflictsConfig::default();
        assert_eq!(c.policy(Group::Price), Policy::Manual);
        assert_eq!(c.policy(Group::Name), Policy::Manual);
        assert_eq!(c.policy(Group::Catalog), Policy::NewestWins);
        assert_eq!(c.policy(Group::OrderStatus), Policy::NewestWins);
        assert_eq!(c.policy(Group::Tracking), Policy::NewestWins);
        let err = RawConflicts {
            price: Some("ours".into()),
            ..RawConflicts::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("conflicts.price: expected one of \"remote_wins\", \"local_wins\", \"newest_wins\", \"manual\", got \"ours\""),
            "{err}"
        );
    }
}
