//! Privacy requests (contract 17.8): a customer's removal request erases their personal
//! data from the mirror and keeps it erased; an export request is recorded, and
//! [`super::customer_export`] gathers what the mirror holds about a customer.
//!
//! Erasure keeps what accounting must keep. The customer's row goes; their orders stay,
//! with the order document's fields of `privacy_policy` (`privacy.order_fields`) removed
//! and every column rebuilt from what is left, so the columns and `raw_json` never
//! disagree. Every later document of an erased customer, or of an order redacted for them,
//! is redacted on its way in ([`redact_erased`]): whatever Ecwid still holds, no pull or
//! webhook brings the data back.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::value::RawValue;

use super::apply;
use super::rows::Rows;
use super::{MirrorError, MirrorWriter};
use crate::kind::Kind;

/// Who a privacy request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A shopper; the request's entity is the customer id.
    Customer,
    /// The store owner; the request's entity is the store id. The mirror holds none of the
    /// owner's personal data, so such requests are recorded and shown only.
    Profile,
}

/// What a privacy request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Removal,
    Export,
}

/// A privacy request's event type read, or `None` for any other type.
pub fn request_of(event_type: &str) -> Option<(Subject, Request)> {
    let (family, name) = event_type.split_once('.')?;
    let subject = match family {
        "customer" => Subject::Customer,
        "profile" => Subject::Profile,
        _ => return None,
    };
    let request = match name {
        "personalDataRemovalRequest" => Request::Removal,
        "personalDataExportRequest" => Request::Export,
        _ => return None,
    };
    Some((subject, request))
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Customer => "customer",
            Subject::Profile => "profile",
        }
    }
}

impl Request {
    pub fn as_str(self) -> &'static str {
        match self {
            Request::Removal => "removal",
            Request::Export => "export",
        }
    }
}

/// A privacy request taken from the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivacyEvent {
    pub event_id: String,
    pub event_type: String,
    pub subject_id: Option<i64>,
    pub requested_at: i64,
}

/// What handling one privacy request did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handled {
    /// A customer's data was erased now (false for a repeated removal request).
    pub erased: bool,
    /// Orders whose personal fields were blanked.
    pub orders_redacted: usize,
}

use super::redaction::{policy, set_policy};

/// Records a privacy request; for a customer's removal, erases them (see the module doc), in
/// the caller's transaction. A repeated request (the same eventId, or a second removal of
/// one customer) changes nothing more.
pub fn handle(tx: &Transaction, event: &PrivacyEvent, now: i64) -> Result<Handled, MirrorError> {
    // Another type is no privacy request: nothing to record, and the delta worker reads it.
    let Some((subject, request)) = request_of(&event.event_type) else {
        return Ok(Handled::default());
    };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO privacy_requests
             (event_id, event_type, subject, request, subject_id, requested_at, handled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        event.event_id,
        event.event_type,
        subject.as_str(),
        request.as_str(),
        event.subject_id,
        event.requested_at,
        now
    ])?;
    let handled = match (subject, request, event.subject_id) {
        (Subject::Customer, Request::Removal, Some(id)) => {
            erase_customer(tx, id, event.requested_at, now)?
        }
        _ => Handled::default(),
    };
    tx.prepare_cached(
        "UPDATE webhook_events SET state = 'applied', attempts = attempts + 1, processed_at = ?2
          WHERE event_id = ?1 AND state = 'pending'",
    )?
    .execute(params![event.event_id, now])?;
    Ok(handled)
}

fn erase_customer(
    tx: &Transaction,
    customer_id: i64,
    requested_at: i64,
    now: i64,
) -> Result<Handled, MirrorError> {
    let email: Option<String> = tx
        .query_row(
            "SELECT email FROM customers WHERE id = ?1",
            [customer_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten()
        .filter(|e: &String| !e.trim().is_empty());
    // Guest orders placed under the customer's email are theirs too; the email is looked up
    // now, while the mirror still holds it, and only the order numbers are kept.
    let orders: Vec<i64> = tx
        .prepare_cached(
            "SELECT order_number FROM orders
              WHERE customer_id = ?1 OR (?2 IS NOT NULL AND lower(email) = lower(?2))",
        )?
        .query_map(params![customer_id, email], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let first = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO erasures (customer_id, requested_at, erased_at, orders_redacted)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![customer_id, requested_at, now, orders.len() as i64])?
        == 1;
    let mut remember = tx.prepare_cached(
        "INSERT OR IGNORE INTO erased_orders (order_number, customer_id) VALUES (?1, ?2)",
    )?;
    for order in &orders {
        remember.execute(params![order, customer_id])?;
    }
    // A private note a tool wrote for these orders and the pusher has not sent yet would be
    // written back over the blanked column by the apply path, and then sent to Ecwid: it is
    // dropped, with its value, when the policy blanks the note.
    if policy(tx)?.iter().any(|f| f == "privateAdminNotes") {
        let mut drop_note = tx.prepare_cached(
            "UPDATE outbox SET state = 'dropped', value = NULL, base = NULL, settled_at = ?2,
                    last_error = 'the customer''s personal data was erased'
              WHERE order_number = ?1 AND field = 'private_admin_note' AND state = 'pending'",
        )?;
        for order in &orders {
            drop_note.execute(params![order, now])?;
        }
    }
    // The stored documents go through the apply path again, which now redacts them.
    let docs: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT raw_json FROM orders WHERE order_number = ?1")?;
        let mut docs = Vec::with_capacity(orders.len());
        for order in &orders {
            docs.push(stmt.query_row([order], |r| r.get(0))?);
        }
        docs
    };
    let raws: Vec<&RawValue> = docs
        .iter()
        .map(|d| serde_json::from_str(d).map_err(MirrorError::Document))
        .collect::<Result<_, _>>()?;
    let (rows, unfit) = Rows::parse(Kind::Orders, &raws);
    apply::apply_rows(tx, &rows, now)?;
    // A stored document this binary's model no longer reads cannot go through the apply
    // path; it is redacted all the same, with the two columns that can identify the person.
    let fields = policy(tx)?;
    for bad in unfit {
        let Some(key) = bad.key else { continue };
        let Some(at) = orders.iter().position(|o| *o == key) else {
            continue;
        };
        tx.prepare_cached(
            "UPDATE orders SET raw_json = ?2,
                    email = CASE WHEN ?3 THEN NULL ELSE email END,
                    customer_id = CASE WHEN ?4 THEN NULL ELSE customer_id END,
                    private_admin_note = CASE WHEN ?6 THEN NULL ELSE private_admin_note END,
                    synced_at = ?5
              WHERE order_number = ?1",
        )?
        .execute(params![
            key,
            super::redaction::redact_document(&docs[at], &fields)?,
            fields.iter().any(|f| f == "email"),
            fields.iter().any(|f| f == "customerId"),
            now,
            fields.iter().any(|f| f == "privateAdminNotes"),
        ])?;
    }
    apply::delete_ids(tx, Kind::Customers, &[customer_id])?;
    // A quarantine entry's error can quote a value of the document.
    tx.execute(
        "DELETE FROM quarantine WHERE kind = 'customers' AND key = ?1",
        [customer_id],
    )?;
    tx.execute(
        "DELETE FROM quarantine WHERE kind = 'orders'
            AND key IN (SELECT order_number FROM erased_orders WHERE customer_id = ?1)",
        [customer_id],
    )?;
    Ok(Handled {
        erased: first,
        orders_redacted: orders.len(),
    })
}

/// The privacy figures `ecwid-sync status` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrivacyStatus {
    /// Customers erased at their request.
    pub customers_erased: u64,
    /// Requests received, by type: `customer_removal`, `customer_export`, `profile_removal`,
    /// `profile_export`.
    pub requests: std::collections::BTreeMap<String, u64>,
    /// When the last request was received (unix seconds).
    pub last_request_at: Option<i64>,
}

/// The privacy figures, or `None` for a mirror without the privacy tables yet.
pub fn status(conn: &Connection) -> rusqlite::Result<Option<PrivacyStatus>> {
    let has: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'erasures')",
        [],
        |r| r.get(0),
    )?;
    if !has {
        return Ok(None);
    }
    let mut requests = std::collections::BTreeMap::new();
    for subject in ["customer", "profile"] {
        for request in ["removal", "export"] {
            requests.insert(format!("{subject}_{request}"), 0);
        }
    }
    let mut stmt = conn
        .prepare("SELECT subject || '_' || request, count(*) FROM privacy_requests GROUP BY 1")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (name, n) = row?;
        requests.insert(name, n as u64);
    }
    Ok(Some(PrivacyStatus {
        customers_erased: conn
            .query_row("SELECT count(*) FROM erasures", [], |r| r.get::<_, i64>(0))?
            as u64,
        requests,
        last_request_at: conn.query_row(
            "SELECT max(requested_at) FROM privacy_requests",
            [],
            |r| r.get(0),
        )?,
    }))
}

impl MirrorWriter {
    /// Makes `fields` the order fields blanked for erased customers (see [`set_policy`]).
    pub async fn set_privacy_policy(&self, fields: Vec<String>) -> Result<(), MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            set_policy(&tx, &fields)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Handles a privacy request in one transaction (see [`handle`]).
    pub async fn handle_privacy_request(
        &self,
        event: PrivacyEvent,
        now: i64,
    ) -> Result<Handled, MirrorError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let handled = handle(&tx, &event, now)?;
            tx.commit()?;
            Ok(handled)
        })
        .await
    }
}
