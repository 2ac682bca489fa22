//! Copies of what searches read, for the lagging search index (`crate::lag`): the
//! searchable part of a store, the resulting record of each entity a write touched, and
//! the replay of such records into the copy.

use super::{CategoryRec, CustomerRec, OrderRec, ProductRec, Store, Touch};

/// An entity as one write left it (`None`: deleted).
#[derive(Debug, Clone)]
pub enum Snapshot {
    Product(i64, Option<ProductRec>),
    Category(i64, Option<CategoryRec>),
    /// By `seq`.
    Order(i64, Option<OrderRec>),
    Customer(i64, Option<CustomerRec>),
}

impl Store {
    /// The entities and indexes searches read; documents are shared, not copied.
    pub fn search_copy(&self) -> Store {
        Store {
            products: self.products.clone(),
            product_ids: self.product_ids.clone(),
            products_by_created: self.products_by_created.clone(),
            products_by_updated: self.products_by_updated.clone(),
            skus: self.skus.clone(),
            categories: self.categories.clone(),
            orders: self.orders.clone(),
            order_keys: self.order_keys.clone(),
            customers: self.customers.clone(),
            ..Store::empty(self.store_id, 0)
        }
    }

    pub fn snapshot(&self, t: Touch) -> Snapshot {
        match t {
            Touch::Product(id) => Snapshot::Product(id, self.products.get(&id).cloned()),
            Touch::Category(id) => Snapshot::Category(id, self.categories.get(&id).cloned()),
            Touch::Order(seq) => Snapshot::Order(seq, self.orders.get(&seq).cloned()),
            Touch::Customer(id) => Snapshot::Customer(id, self.customers.get(&id).cloned()),
        }
    }

    /// Replays one entity's state into a search copy.
    pub fn apply(&mut self, s: Snapshot) {
        match s {
            Snapshot::Product(id, rec) => {
                self.take_product_rec(id);
                if let Some(rec) = rec {
                    self.put_product_rec(rec);
                }
            }
            Snapshot::Category(id, rec) => match rec {
                Some(rec) => {
                    self.categories.insert(id, rec);
                }
                None => {
                    self.categories.remove(&id);
                }
            },
            Snapshot::Order(seq, rec) => {
                if let Some(old) = self.orders.remove(&seq) {
                    self.order_keys.remove(&old.ident.public);
                    self.order_keys.remove(&old.ident.internal.to_string());
                }
                if let Some(rec) = rec {
                    self.insert_order_rec(rec);
                }
            }
            Snapshot::Customer(id, rec) => match rec {
                Some(rec) => {
                    self.customers.insert(id, rec);
                }
                None => {
                    self.customers.remove(&id);
                }
            },
        }
        // A copy has no one to report its own writes to.
        self.touched.clear();
    }
}
