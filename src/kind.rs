//! The kinds of entity the mirror holds, and where each lives in the API and in SQLite.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Products,
    Categories,
    Orders,
    Customers,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Products,
        Kind::Categories,
        Kind::Orders,
        Kind::Customers,
    ];

    /// The position in [`Kind::ALL`], for arrays with an entry per kind.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Products => "products",
            Kind::Categories => "categories",
            Kind::Orders => "orders",
            Kind::Customers => "customers",
        }
    }

    pub fn table(self) -> &'static str {
        self.name()
    }

    pub fn key_column(self) -> &'static str {
        match self {
            Kind::Orders => "order_number",
            _ => "id",
        }
    }

    /// The table of rows that belong to one entity of this kind.
    pub fn child_table(self) -> Option<&'static str> {
        match self {
            Kind::Products => Some("product_variations"),
            Kind::Orders => Some("order_items"),
            _ => None,
        }
    }

    /// The search endpoint, relative to the store.
    pub fn search_path(self) -> &'static str {
        match self {
            Kind::Products => "/products",
            Kind::Categories => "/categories",
            Kind::Orders => "/orders",
            Kind::Customers => "/customers",
        }
    }

    /// Ecwid keeps no deletion list for categories (nor for variations).
    pub fn deleted_path(self) -> Option<&'static str> {
        match self {
            Kind::Products => Some("/products/deleted"),
            Kind::Orders => Some("/orders/deleted"),
            Kind::Customers => Some("/customers/deleted"),
            Kind::Categories => None,
        }
    }

    /// The search parameter that takes a comma list of keys, where the API has one. Id
    /// lists are answered from the store itself, not the lagging search index (contract
    /// 17.2). Orders go by `ids=` (internal or string ids): `orderNumber=` is no longer a
    /// documented filter, and Ecwid ignores filters it does not know (17.1).
    pub fn id_list_param(self) -> Option<&'static str> {
        match self {
            Kind::Products => Some("productId"),
            Kind::Categories => Some("categoryIds"),
            Kind::Orders => Some("ids"),
            Kind::Customers => None,
        }
    }

    /// Extra search parameters for a complete, stably ordered listing. In creation order an
    /// edit mid-scan does not move an entity (in update-time order it would jump to the
    /// end and shift the rest); deletions still shift it, which `pull::scan::Listing::missed`
    /// detects.
    pub fn listing_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Products => &[("sortBy", "ADDED_TIME_ASC")],
            // Disabled categories are left out unless asked for.
            Kind::Categories => &[("hidden_categories", "true")],
            // Orders have no sortBy; they come in order-number order.
            Kind::Orders => &[],
            Kind::Customers => &[("sortBy", "REGISTERED_DATE_ASC")],
        }
    }

    /// The `responseFields` of a sweep: the envelope's paging fields and each entity's key
    /// and update time, nothing else.
    pub fn sweep_fields(self) -> &'static str {
        match self {
            Kind::Products => "total,count,items(id,updateTimestamp)",
            Kind::Categories => "total,count,items(id)",
            Kind::Orders => "total,count,items(internalId,orderNumber,updateTimestamp)",
            Kind::Customers => "total,count,items(id,updated)",
        }
    }

    /// The search filter that lists the entities of this kind the mirror leaves out and
    /// that a default search does not show: unfinished orders. An incremental pull asks for
    /// them over its window too, since an order that became unfinished disappears from the
    /// default search without a deletion record.
    pub fn left_out_filter(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::Orders => Some(("paymentStatus", UNFINISHED_PAYMENT_STATUS)),
            _ => None,
        }
    }

    /// Whether the search endpoint filters by `updatedFrom`; categories carry no times at
    /// all, so they are always listed whole (there are few of them).
    pub fn has_update_filter(self) -> bool {
        self != Kind::Categories
    }
}

/// The payment status of an unfinished checkout: not an order yet, and not in the mirror.
/// Order searches leave such orders out unless asked for them by this status.
pub const UNFINISHED_PAYMENT_STATUS: &str = "INCOMPLETE";

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown kind {s:?}; expected products, categories, orders or customers")
            })
    }
}
